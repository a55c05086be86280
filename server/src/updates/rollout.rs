//! Rollouts, pure: which sites a ring reaches, when an agent may download,
//! and what each administrator action does to a rollout.
//!
//! Ring 0 is the canary: sites chosen by name and/or a share of all sites.
//! Ring k >= 1 reaches `percents[k-1]` % of sites; the rings are cumulative
//! (a site in ring 1 stays in ring 2), because a site's bucket is a stable
//! hash of its id (SHA-256), the same in every process and every release.
//! So the 1 % canary is always the same 1 % of clinics: predictable for the
//! desk, and a percentage ring never loses a site it reached.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::model::RolloutState;

/// Buckets per 100 %: a site's bucket is in 0..10_000 (basis points).
pub const BUCKETS: u32 = 10_000;

/// The rings of a rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rings {
    pub canary_sites: Vec<String>,
    /// Share of sites in the canary by hash, in basis points (100 = 1 %).
    pub canary_basis_points: u32,
    /// Cumulative percentages of the wider rings, ascending, the last 100.
    pub percents: Vec<u32>,
}

/// A site's stable bucket in 0..BUCKETS.
pub fn bucket(site_id: &str) -> u32 {
    let digest = Sha256::digest(site_id.as_bytes());
    let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (n % u64::from(BUCKETS)) as u32
}

impl Rings {
    /// Checks what an administrator entered; errors are Japanese and say
    /// what to enter. A missing final 100 % ring is added.
    pub fn new(
        canary_sites: Vec<String>,
        canary_percent: f64,
        mut percents: Vec<u32>,
    ) -> Result<Rings, String> {
        if !(0.0..=100.0).contains(&canary_percent) || !canary_percent.is_finite() {
            return Err(
                "カナリアの割合は 0〜100 (%) で指定してください（例: 1 または 0.5）".into(),
            );
        }
        let canary_basis_points = (canary_percent * 100.0).round() as u32;
        let mut sites: Vec<String> = canary_sites
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        sites.sort();
        sites.dedup();
        if sites.len() > 1000 {
            return Err("カナリアに指定できるサイトは 1000 件までです".into());
        }
        if sites.is_empty() && canary_basis_points == 0 {
            return Err(
                "カナリアが空です: サイトを指定するか、割合（例: 1%）を指定してください".into(),
            );
        }
        if percents.last() != Some(&100) {
            percents.push(100);
        }
        let ascending = percents.windows(2).all(|w| w[0] < w[1]);
        if !ascending || percents.iter().any(|p| *p == 0 || *p > 100) || percents.len() > 10 {
            return Err(
                "リングは 1〜100 (%) の数を小さい順に、10 個まで指定してください（例: 10,50,100）"
                    .into(),
            );
        }
        if percents[0] * 100 <= canary_basis_points && percents.len() > 1 {
            return Err("最初のリングはカナリアより大きい割合にしてください".into());
        }
        Ok(Rings {
            canary_sites: sites,
            canary_basis_points,
            percents,
        })
    }

    /// Rings in all, the canary included.
    pub fn count(&self) -> usize {
        1 + self.percents.len()
    }

    pub fn is_last(&self, ring: usize) -> bool {
        ring + 1 >= self.count()
    }

    /// The share of sites ring `ring` reaches by hash, in basis points.
    pub fn basis_points(&self, ring: usize) -> u32 {
        match ring {
            0 => self.canary_basis_points,
            k => self.percents.get(k - 1).map_or(BUCKETS, |p| p * 100),
        }
    }

    /// Whether ring `ring` reaches `site_id` (the chosen canaries are in every ring).
    pub fn contains(&self, ring: usize, site_id: &str) -> bool {
        self.canary_sites.iter().any(|s| s == site_id) || bucket(site_id) < self.basis_points(ring)
    }

    /// "カナリア（指定 3 サイト + 1%）" / "リング 2（50%）" / "全サイト（100%）".
    pub fn label_ja(&self, ring: usize) -> String {
        if ring == 0 {
            let percent = percent_text(self.canary_basis_points);
            return match (self.canary_sites.len(), self.canary_basis_points) {
                (0, _) => format!("カナリア（{percent}）"),
                (n, 0) => format!("カナリア（指定 {n} サイト）"),
                (n, _) => format!("カナリア（指定 {n} サイト + {percent}）"),
            };
        }
        let percent = percent_text(self.basis_points(ring));
        if self.basis_points(ring) >= BUCKETS {
            format!("全サイト（{percent}）")
        } else {
            format!("リング {ring}（{percent}）")
        }
    }
}

fn percent_text(basis_points: u32) -> String {
    if basis_points.is_multiple_of(100) {
        format!("{}%", basis_points / 100)
    } else {
        let fraction = format!("{:02}", basis_points % 100);
        format!("{}.{}%", basis_points / 100, fraction.trim_end_matches('0'))
    }
}

/// When an agent may start its download: its ring's start plus a stable
/// share of the spread, so that a ring's agents do not all download in the
/// same minute (100,000 PCs switched on at 8:30).
pub fn download_after(
    agent_id: &str,
    ring_started_at: DateTime<Utc>,
    spread: Duration,
) -> DateTime<Utc> {
    let spread_secs = spread.num_seconds().max(0) as u64;
    if spread_secs == 0 {
        return ring_started_at;
    }
    let digest = Sha256::digest(format!("download:{agent_id}").as_bytes());
    let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    ring_started_at + Duration::seconds((n % spread_secs) as i64)
}

/// What an administrator asks of a live rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pause,
    Resume,
    Abort,
    Widen,
}

impl Action {
    pub fn label_ja(self) -> &'static str {
        match self {
            Action::Pause => "一時停止",
            Action::Resume => "再開",
            Action::Abort => "中止",
            Action::Widen => "対象拡大",
        }
    }
}

/// The state and ring after `action`, or why it cannot be done (Japanese,
/// with what to do instead).
pub fn transition(
    state: RolloutState,
    ring: usize,
    rings: &Rings,
    action: Action,
) -> Result<(RolloutState, usize), String> {
    use RolloutState::*;
    let cannot = |what: &str| {
        Err(format!(
            "{}のロールアウトは{what}できません",
            state.label_ja()
        ))
    };
    match (action, state) {
        (_, Aborted | Completed) => cannot(action.label_ja()),
        (Action::Pause, Running) => Ok((Paused, ring)),
        (Action::Pause, _) => cannot("一時停止"),
        (Action::Resume, Paused | Halted) => Ok((Running, ring)),
        (Action::Resume, _) => cannot("再開"),
        (Action::Abort, _) => Ok((Aborted, ring)),
        (Action::Widen, Running) if rings.is_last(ring) => {
            Err("既に全サイトが対象です。これ以上広げられません".into())
        }
        (Action::Widen, Running) => Ok((Running, ring + 1)),
        (Action::Widen, _) => Err(format!(
            "{}のロールアウトは広げられません。原因を確認し、再開してから広げてください",
            state.label_ja()
        )),
    }
}

#[cfg(test)]
mod tests;
