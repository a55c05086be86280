//! Agent updates (issue 17, docs/UPDATES.md): signed releases, rollouts in
//! rings, the offer in the `SubmitReports` answer, the download, what agents
//! say became of each update, and the monitor that halts a rollout by itself.
//!
//! Pure parts: `rollout` (rings, stable buckets, per-agent delay, the state
//! machine), `window` (the site's next closed period), `halt` (new-version
//! agents against old-version agents). The rest are thin adapters: `releases`
//! and `rollout_store` own their tables; `offer` keeps the running rollouts in
//! memory for the ingest path; `rpc` is the gRPC `UpdateService`; `monitor`
//! refreshes and checks; `cli` is `release …` and `rollout …`.

pub mod cli;
mod cli_sign;
mod cli_status;
pub mod events;
pub mod halt;
pub mod model;
pub mod monitor;
pub mod offer;
pub mod releases;
pub mod rollout;
pub mod rollout_store;
pub mod rpc;
pub mod window;

pub use model::{RolloutState, TimelineAction, UpdateEventKind};
pub use offer::Offers;

/// `serve` options of agent updates (docs/CONFIGURATION.md).
#[derive(Debug, Clone, clap::Args)]
pub struct UpdateArgs {
    /// Release downloads served at once; more agents are told to retry
    /// later (UNAVAILABLE with retry-after-seconds).
    #[arg(long, env = "ONSHI_UPDATE_MAX_DOWNLOADS", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub update_max_downloads: u32,
    /// Bytes per second all release downloads may use together (0: no limit).
    #[arg(long, env = "ONSHI_UPDATE_DOWNLOAD_BYTES_PER_SECOND", default_value_t = 25 * 1024 * 1024)]
    pub update_download_bytes_per_second: u32,
    /// Seconds between two refreshes of the running rollouts (the offers)
    /// and two health checks of them (the automatic halt).
    #[arg(long, env = "ONSHI_ROLLOUT_CHECK_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub rollout_check_seconds: u32,
}
