//! The automatic halt, pure: agents on the new version against agents on the
//! old ones, observed at the same moment (so during the same hours: a clinic
//! closed at night silences both alike), plus the rollbacks on the PCs.
//!
//! Signals per agent (figures from `monitor`):
//! - silent: the site has an open `offline` incident (silent while open by
//!   its business hours: the incidents engine decides, not a second rule);
//! - probe errors: an open `agent_probe_errors` incident;
//! - crash restarts: the agent said its process died and was restarted on
//!   this version since the rollout started (or was last resumed).
//!
//! A signal halts when the new version's rate exceeds the old version's by
//! more than the margin (percentage points) and at least one new-version
//! agent shows it. Rollbacks halt at `max_rollback_percent` of the agents
//! that tried, and always at the first one when that is 0 % — or when fewer
//! than 100 have tried (one in a small canary is already a signal).

use serde::Serialize;

/// One side of the comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Cohort {
    pub agents: u64,
    pub silent: u64,
    pub probe_errors: u64,
    pub crashed: u64,
}

/// What the monitor measured for one rollout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Agents reporting the rollout's version.
    pub new: Cohort,
    /// Every other agent (the control group).
    pub old: Cohort,
    /// Agents that tried the release since `health_since` (applied or rolled back).
    pub tried: u64,
    pub rolled_back: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub margin_points: u32,
    pub max_rollback_percent: u32,
}

/// Why a rollout halted: Japanese for the admin page and the notification,
/// the figures as JSON for the record.
#[derive(Debug, Clone, PartialEq)]
pub struct HaltReason {
    pub text_ja: String,
    pub detail: serde_json::Value,
}

/// A signal's words and how to count it in a cohort.
type Signal = (&'static str, fn(&Cohort) -> u64);

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// The halt, if any signal crosses its threshold. `version` names the release.
pub fn evaluate(version: &str, h: &Health, t: &Thresholds) -> Option<HaltReason> {
    let mut reasons = Vec::new();
    if h.rolled_back > 0
        && (h.tried < 100
            || h.rolled_back * 100 >= u64::from(t.max_rollback_percent) * h.tried.max(1))
    {
        reasons.push(format!(
            "{version} に切り替えた PC のうち {} 台が報告できず元のバージョンに戻りました（試行 {} 台、上限 {}%）",
            h.rolled_back,
            h.tried.max(h.rolled_back),
            t.max_rollback_percent
        ));
    }
    let signals: [Signal; 3] = [
        ("営業時間中に報告が止まっています", |c| {
            c.silent
        }),
        ("プローブエラーを報告しています", |c| {
            c.probe_errors
        }),
        ("異常終了して再起動しています", |c| c.crashed),
    ];
    for (what, count) in signals {
        let (new_n, old_n) = (count(&h.new), count(&h.old));
        if new_n == 0 {
            continue;
        }
        let (new_rate, old_rate) = (percent(new_n, h.new.agents), percent(old_n, h.old.agents));
        if new_rate - old_rate > f64::from(t.margin_points) {
            reasons.push(format!(
                "{version} の PC の {new_rate:.0}%（{} 台中 {new_n} 台）が{what}。旧バージョンでは {old_rate:.0}%（{} 台中 {old_n} 台）で、差が基準の {} ポイントを超えました",
                h.new.agents, h.old.agents, t.margin_points
            ));
        }
    }
    if reasons.is_empty() {
        return None;
    }
    Some(HaltReason {
        text_ja: reasons.join(" / "),
        detail: serde_json::json!({
            "version": version,
            "health": h,
            "margin_points": t.margin_points,
            "max_rollback_percent": t.max_rollback_percent,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        margin_points: 10,
        max_rollback_percent: 5,
    };

    fn cohort(agents: u64, silent: u64, probe_errors: u64, crashed: u64) -> Cohort {
        Cohort {
            agents,
            silent,
            probe_errors,
            crashed,
        }
    }

    #[test]
    fn healthy_or_as_bad_as_the_old_version_does_not_halt() {
        let h = Health {
            new: cohort(50, 1, 2, 0),
            old: cohort(5_000, 80, 150, 10),
            tried: 50,
            rolled_back: 0,
        };
        assert_eq!(evaluate("0.2.0", &h, &T), None);
        // At night every clinic is closed: silence says nothing for either.
        let night = Health {
            new: cohort(50, 0, 0, 0),
            old: cohort(5_000, 0, 0, 0),
            ..h
        };
        assert_eq!(evaluate("0.2.0", &night, &T), None);
        // Worse, but within the margin.
        let within = Health {
            new: cohort(100, 10, 0, 0),
            old: cohort(1_000, 20, 0, 0),
            ..h
        };
        assert_eq!(evaluate("0.2.0", &within, &T), None);
    }

    #[test]
    fn silence_probe_errors_and_crashes_beyond_the_margin_halt_and_say_why() {
        let h = Health {
            new: cohort(5, 2, 0, 0),
            old: cohort(1_000, 20, 0, 0),
            tried: 5,
            rolled_back: 0,
        };
        let r = evaluate("0.2.0", &h, &T).unwrap();
        assert!(
            r.text_ja
                .contains("0.2.0 の PC の 40%（5 台中 2 台）が営業時間中に報告が止まっています"),
            "{}",
            r.text_ja
        );
        assert!(r.text_ja.contains("旧バージョンでは 2%"), "{}", r.text_ja);
        assert_eq!(r.detail["health"]["new"]["silent"], 2);
        let probes = Health {
            new: cohort(10, 0, 3, 0),
            old: cohort(100, 0, 5, 0),
            ..h
        };
        assert!(
            evaluate("0.2.0", &probes, &T)
                .unwrap()
                .text_ja
                .contains("プローブエラー")
        );
        let crashes = Health {
            new: cohort(10, 0, 0, 2),
            old: cohort(100, 0, 0, 0),
            ..h
        };
        assert!(
            evaluate("0.2.0", &crashes, &T)
                .unwrap()
                .text_ja
                .contains("異常終了")
        );
        // With no old-version agents to compare, the new version's own rate counts.
        let alone = Health {
            new: cohort(3, 1, 0, 0),
            old: Cohort::default(),
            ..h
        };
        assert!(evaluate("0.2.0", &alone, &T).is_some());
        let both = Health {
            new: cohort(10, 5, 5, 0),
            old: cohort(100, 0, 0, 0),
            ..h
        };
        assert_eq!(
            evaluate("0.2.0", &both, &T)
                .unwrap()
                .text_ja
                .matches(" / ")
                .count(),
            1
        );
    }

    #[test]
    fn one_rollback_halts_a_small_canary_and_a_share_halts_a_large_ring() {
        let small = Health {
            tried: 3,
            rolled_back: 1,
            ..Health::default()
        };
        let r = evaluate("0.2.0", &small, &T).unwrap();
        assert!(
            r.text_ja
                .contains("1 台が報告できず元のバージョンに戻りました"),
            "{}",
            r.text_ja
        );
        let large_ok = Health {
            tried: 1_000,
            rolled_back: 40,
            ..Health::default()
        };
        assert_eq!(evaluate("0.2.0", &large_ok, &T), None);
        let large_bad = Health {
            tried: 1_000,
            rolled_back: 50,
            ..Health::default()
        };
        assert!(evaluate("0.2.0", &large_bad, &T).is_some());
        let strict = Thresholds {
            max_rollback_percent: 0,
            ..T
        };
        let one_in_many = Health {
            tried: 10_000,
            rolled_back: 1,
            ..Health::default()
        };
        assert!(evaluate("0.2.0", &one_in_many, &strict).is_some());
        assert_eq!(evaluate("0.2.0", &Health::default(), &T), None);
    }
}
