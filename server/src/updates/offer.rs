//! The update offer in the `SubmitReports` answer. The ingest path answers
//! thousands of batches a second, so it reads the running rollouts from
//! memory (`Offers::refresh`, every `--rollout-check-seconds` by the
//! monitor) and asks the database only for a site's swap window, cached for
//! half an hour per site. An offer is made only to an agent that said it can
//! update (`UpdateCapability`), in its rollout's current ring, not already
//! on the release.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Duration, Utc};
use onshi_proto::v1 as pb;
use onshi_release::Target;
use sqlx::PgPool;

use super::rollout::{Rings, download_after};
use super::window::{SwapWindow, next_closed};
use crate::desk::hours::JST;
use crate::error::Error;

/// How long a site's computed swap window is reused.
const WINDOW_TTL_MINUTES: i64 = 30;
/// Cached windows at most (a national fleet is ~250,000 sites).
const WINDOW_CACHE_MAX: usize = 300_000;

/// A running rollout as the ingest path needs it.
#[derive(Debug)]
pub struct LiveOffer {
    pub rollout_id: i64,
    pub release_id: i64,
    pub version: semver::Version,
    pub rollback: bool,
    pub size: u64,
    pub manifest: Vec<u8>,
    pub signature: Vec<u8>,
    pub key_id: String,
    pub rings: Rings,
    pub ring: usize,
    pub ring_started_at: DateTime<Utc>,
    pub spread: Duration,
    pub force: bool,
}

impl LiveOffer {
    /// Whether an agent of `site_id` running `running` is to be offered this.
    pub fn is_for(&self, site_id: &str, running: &str) -> bool {
        if !self.rings.contains(self.ring, site_id) {
            return false;
        }
        let Ok(running) = semver::Version::parse(running) else {
            return false;
        };
        match self.version.cmp_precedence(&running) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => false,
            std::cmp::Ordering::Less => self.rollback,
        }
    }

    pub fn download_after(&self, agent_id: &str) -> DateTime<Utc> {
        download_after(agent_id, self.ring_started_at, self.spread)
    }
}

#[derive(Default)]
struct Snapshot {
    live: HashMap<Target, Arc<LiveOffer>>,
}

struct CachedWindow {
    window: Option<SwapWindow>,
    until: DateTime<Utc>,
}

pub struct Offers {
    pool: PgPool,
    snapshot: RwLock<Arc<Snapshot>>,
    windows: Mutex<HashMap<String, CachedWindow>>,
}

#[derive(sqlx::FromRow)]
struct LiveRow {
    rollout_id: i64,
    release_id: i64,
    version: String,
    rollback: bool,
    size_bytes: i64,
    manifest: Vec<u8>,
    signature: Vec<u8>,
    key_id: String,
    target: Target,
    ring: i16,
    canary_sites: Vec<String>,
    canary_basis_points: i32,
    ring_percents: Vec<i32>,
    ring_started_at: DateTime<Utc>,
    spread_minutes: i32,
    force_swap: bool,
}

fn timestamp(t: DateTime<impl chrono::TimeZone>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

impl Offers {
    pub fn new(pool: PgPool) -> Arc<Offers> {
        Arc::new(Offers {
            pool,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            windows: Mutex::new(HashMap::new()),
        })
    }

    /// Reloads the running rollouts; drops expired windows.
    pub async fn refresh(&self, now: DateTime<Utc>) -> Result<(), Error> {
        let rows: Vec<LiveRow> = sqlx::query_as(
            "SELECT o.rollout_id, o.release_id, r.version, r.rollback, r.size_bytes, r.manifest, r.signature,
                    r.key_id, o.target, o.ring, o.canary_sites, o.canary_basis_points, o.ring_percents,
                    o.ring_started_at, o.spread_minutes, o.force_swap
             FROM rollouts o JOIN releases r USING (release_id) WHERE o.state = 'running'",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut live = HashMap::new();
        for row in rows {
            let Ok(version) = semver::Version::parse(&row.version) else {
                tracing::error!(rollout_id = row.rollout_id, version = %row.version, "release version unreadable; rollout not offered");
                continue;
            };
            live.insert(
                row.target,
                Arc::new(LiveOffer {
                    rollout_id: row.rollout_id,
                    release_id: row.release_id,
                    version,
                    rollback: row.rollback,
                    size: row.size_bytes.max(0) as u64,
                    manifest: row.manifest,
                    signature: row.signature,
                    key_id: row.key_id,
                    rings: Rings {
                        canary_sites: row.canary_sites,
                        canary_basis_points: row.canary_basis_points.max(0) as u32,
                        percents: row
                            .ring_percents
                            .iter()
                            .map(|p| (*p).max(0) as u32)
                            .collect(),
                    },
                    ring: row.ring.max(0) as usize,
                    ring_started_at: row.ring_started_at,
                    spread: Duration::minutes(i64::from(row.spread_minutes)),
                    force: row.force_swap,
                }),
            );
        }
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Snapshot { live });
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        windows.retain(|_, w| w.until > now);
        Ok(())
    }

    /// The running rollout of `target`, if any.
    pub fn live(&self, target: Target) -> Option<Arc<LiveOffer>> {
        let snapshot = self
            .snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        snapshot.live.get(&target).cloned()
    }

    /// The offer for one agent, or `None`. Never fails the batch: a problem
    /// is logged and the agent simply gets no offer this time.
    pub async fn offer(
        &self,
        agent_id: &str,
        site_id: &str,
        capability: &pb::UpdateCapability,
        now: DateTime<Utc>,
    ) -> Option<pb::UpdateOffer> {
        let target: Target = capability.target.parse().ok()?;
        let live = self.live(target)?;
        if !live.is_for(site_id, &capability.version) {
            return None;
        }
        let window = match self.window(site_id, now).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, site_id, "swap window unknown; offering without one (start-up only)");
                None
            }
        };
        Some(pb::UpdateOffer {
            rollout_id: live.rollout_id as u64,
            manifest: live.manifest.clone(),
            signature: live.signature.clone(),
            key_id: live.key_id.clone(),
            download_after: timestamp(live.download_after(agent_id)),
            swap_window_start: window.and_then(|w| timestamp(w.start)),
            swap_window_end: window.and_then(|w| timestamp(w.end)),
            force: live.force,
        })
    }

    /// The site's next closed period, from the cache or its business hours.
    async fn window(&self, site_id: &str, now: DateTime<Utc>) -> Result<Option<SwapWindow>, Error> {
        if let Some(cached) = self
            .windows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(site_id)
            .filter(|c| c.until > now)
        {
            return Ok(cached.window);
        }
        let at = now.with_timezone(&JST);
        let mut conn = self.pool.acquire().await?;
        let hours = crate::sites::hours_store::load(&mut conn, site_id, at.date_naive())
            .await?
            .ok_or_else(|| Error::NotFound(format!("site {site_id}")))?;
        let window = next_closed(&hours.hours, at);
        let mut until = now + Duration::minutes(WINDOW_TTL_MINUTES);
        if let Some(w) = window {
            until = until.min(w.end.with_timezone(&Utc));
        }
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= WINDOW_CACHE_MAX {
            windows.clear();
        }
        windows.insert(site_id.to_owned(), CachedWindow { window, until });
        Ok(window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(version: &str, rollback: bool, sites: &[&str]) -> LiveOffer {
        LiveOffer {
            rollout_id: 1,
            release_id: 1,
            version: semver::Version::parse(version).unwrap(),
            rollback,
            size: 1,
            manifest: Vec::new(),
            signature: Vec::new(),
            key_id: String::new(),
            rings: Rings::new(sites.iter().map(|s| s.to_string()).collect(), 0.0, vec![]).unwrap(),
            ring: 0,
            ring_started_at: Utc::now(),
            spread: Duration::zero(),
            force: false,
        }
    }

    #[test]
    fn offered_to_ring_sites_on_another_version_only() {
        let offer = live("0.2.0", false, &["canary"]);
        assert!(offer.is_for("canary", "0.1.0"));
        assert!(!offer.is_for("canary", "0.2.0"), "already there");
        assert!(
            !offer.is_for("canary", "0.3.0"),
            "newer agents are not pushed down"
        );
        assert!(!offer.is_for("elsewhere", "0.1.0"), "not in the ring");
        assert!(!offer.is_for("canary", "not-a-version"));
        let rollback = live("0.1.0", true, &["canary"]);
        assert!(rollback.is_for("canary", "0.2.0"));
        assert!(!rollback.is_for("canary", "0.1.0"));
    }
}
