//! Onshi Fleet server: gRPC ingest for clinic agents, fleet state in Postgres,
//! desk routing, and the operator portal. See ARCHITECTURE.md for the map.

pub mod cli;
pub mod db;
pub mod demo;
#[path = "/tmp/desk_stub/mod.rs"]
pub mod desk;
pub mod error;
pub mod fleet;
pub mod ingest;
pub mod metrics;
pub mod portal;
pub mod serve;
pub mod tls;
