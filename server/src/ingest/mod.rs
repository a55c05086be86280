//! gRPC ingest: validate, commit, then acknowledge.

pub mod history;
pub mod service;
pub mod store;
pub mod validate;
