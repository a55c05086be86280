//! gRPC ingest: validate, group-commit (`writer`), then acknowledge.

pub mod columns;
pub mod conn;
pub mod history;
pub mod legacy;
pub mod listener;
pub mod metrics;
pub mod plan;
pub mod prepare;
pub mod service;
pub mod store;
pub mod validate;
pub mod writer;
