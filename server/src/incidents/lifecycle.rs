//! From conditions to incident changes (issue 11 "Incident lifecycle"). Pure: the store loads
//! the site's incidents, this decides, the store applies — so dedup, hold-down, re-open,
//! flapping and severity rise are unit-tested without a database.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::rules::{Condition, Rule};
use crate::sites::Health;

/// `open → acknowledged → resolved`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, sqlx::Type,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum State {
    Open,
    Acknowledged,
    Resolved,
}

impl State {
    pub const ALL: [State; 3] = [State::Open, State::Acknowledged, State::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Acknowledged => "acknowledged",
            State::Resolved => "resolved",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            State::Open => "未対応",
            State::Acknowledged => "対応中",
            State::Resolved => "解決済",
        }
    }
}

/// Tunables, with the defaults.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Resolve once the condition has been absent this long...
    pub hold_down: Duration,
    /// ...or in this many reports in a row, whichever comes first.
    pub clean_reports: i64,
    /// A condition that returns within this window re-opens the same incident.
    pub reopen_window: Duration,
    /// More than this many re-opens within `flap_window` marks the incident flapping.
    pub flap_limit: usize,
    pub flap_window: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            hold_down: Duration::minutes(10),
            clean_reports: 2,
            reopen_window: Duration::hours(24),
            flap_limit: 3,
            flap_window: Duration::hours(1),
        }
    }
}

/// An incident that is open or acknowledged, as the lifecycle needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Active {
    pub id: i64,
    pub rule: Rule,
    pub subject: String,
    pub severity: Health,
    pub last_seq: i64,
    pub clear_since: Option<DateTime<Utc>>,
    pub clear_reports: i64,
    pub clear_seq: i64,
}

/// The latest resolution of a fingerprint, for re-opening.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub id: i64,
    pub rule: Rule,
    pub subject: String,
    pub resolved_at: DateTime<Utc>,
    /// Open/re-open instants within the flap window.
    pub transitions: Vec<DateTime<Utc>>,
}

/// One evaluated report of the site.
#[derive(Debug, Clone)]
pub struct Observation {
    pub seq: i64,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Open(Condition),
    Reopen {
        id: i64,
        condition: Condition,
        transitions: Vec<DateTime<Utc>>,
        flapping: bool,
    },
    /// Still there: count, last seen, maybe a higher severity, hold-down reset.
    Seen {
        id: i64,
        condition: Condition,
        reports: i64,
        raised_from: Option<Health>,
    },
    /// Absent in this report, but not for long enough yet.
    Clearing {
        id: i64,
        since: DateTime<Utc>,
        reports: i64,
        seq: i64,
    },
    Resolve {
        id: i64,
    },
}

/// Reports between two evaluations of one agent (the queue keeps only the latest): at least one.
fn reports_since(last_seq: i64, seq: i64) -> i64 {
    (seq - last_seq).max(1)
}

/// What this observation does to the site's incidents. `offline` incidents are answered by any
/// report (the site is reporting again); other rules follow their conditions.
pub fn reconcile(
    active: &[Active],
    resolved: &[Resolved],
    obs: &Observation,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for c in &obs.conditions {
        let same = |rule: Rule, subject: &str| rule == c.rule && subject == c.subject;
        if let Some(a) = active.iter().find(|a| same(a.rule, &a.subject)) {
            changes.push(Change::Seen {
                id: a.id,
                condition: c.clone(),
                reports: reports_since(a.last_seq, obs.seq),
                raised_from: (c.severity > a.severity).then_some(a.severity),
            });
        } else if let Some(r) = resolved
            .iter()
            .find(|r| same(r.rule, &r.subject) && now - r.resolved_at <= policy.reopen_window)
        {
            let mut transitions: Vec<DateTime<Utc>> = r
                .transitions
                .iter()
                .copied()
                .filter(|t| now - *t <= policy.flap_window)
                .collect();
            transitions.push(now);
            changes.push(Change::Reopen {
                id: r.id,
                condition: c.clone(),
                flapping: transitions.len() > policy.flap_limit,
                transitions,
            });
        } else {
            changes.push(Change::Open(c.clone()));
        }
    }
    for a in active {
        let present = obs
            .conditions
            .iter()
            .any(|c| c.rule == a.rule && c.subject == a.subject);
        if present {
            continue;
        }
        if a.rule == Rule::Offline {
            changes.push(Change::Resolve { id: a.id });
            continue;
        }
        if !a.rule.auto_resolves() {
            continue;
        }
        let since = a.clear_since.unwrap_or(now);
        let reports = if a.clear_since.is_some() {
            a.clear_reports + reports_since(a.clear_seq, obs.seq)
        } else {
            1
        };
        if reports >= policy.clean_reports || now - since >= policy.hold_down {
            changes.push(Change::Resolve { id: a.id });
        } else {
            changes.push(Change::Clearing {
                id: a.id,
                since,
                reports,
                seq: obs.seq,
            });
        }
    }
    changes
}

/// The sweep's hold-down: an incident absent in its last report for `hold_down` resolves even
/// when no further report comes (the PC was switched off after the fix).
pub fn hold_down_over(clear_since: DateTime<Utc>, now: DateTime<Utc>, policy: &Policy) -> bool {
    now - clear_since >= policy.hold_down
}

#[cfg(test)]
mod tests;
