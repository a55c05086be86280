//! Incidents (issue 11): the few things an operator must act on. Rules (pure) turn the latest
//! report, the site's profile and `now` into conditions; the lifecycle (pure) turns conditions
//! into incident changes; the worker drains the evaluation outbox that ingest fills in its own
//! transaction; the sweep finds sites silent while open. See ARCHITECTURE.md for the invariants.

pub mod actions;
pub mod cli;
pub mod desk;
pub mod engine;
pub mod lifecycle;
pub mod metrics;
pub mod query;
pub mod rules;
pub mod silence;
pub mod store;
pub mod sweep;
pub mod worker;
