//! The Onshi Fleet agent as a library: `main.rs` is its command line; the
//! fuzz targets (`fuzz/`) reach the pure parsers and the spool's record
//! reader through here.

pub mod cli;
pub mod config;
pub mod delivery;
pub mod enroll;
pub mod fsutil;
pub mod logfile;
pub mod probe;
pub mod service;
pub mod spool;
pub mod state;
pub mod transport;
pub mod update;
pub mod version;
