//! Onshi Fleet server: gRPC ingest for clinic agents, fleet state in Postgres,
//! desk routing, and the operator portal. See ARCHITECTURE.md for the map.

pub mod auth;
pub mod ca_backup;
pub mod cli;
pub mod commands;
pub mod config_check;
pub mod config_file;
pub mod db;
pub mod demo;
pub mod desk;
pub mod enrol;
pub mod error;
pub mod escalation;
pub mod fleet;
pub mod healthcheck;
pub mod incidents;
pub mod ingest;
pub mod loadgen;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod notify;
pub mod portal;
pub mod seed;
pub mod serve;
pub mod sites;
pub mod text;
pub mod tls;
pub mod updates;
