use super::*;
use RolloutState::*;

fn rings(sites: &[&str], canary: f64, percents: &[u32]) -> Rings {
    Rings::new(
        sites.iter().map(|s| s.to_string()).collect(),
        canary,
        percents.to_vec(),
    )
    .unwrap()
}

#[test]
fn buckets_are_stable_and_spread_evenly() {
    // The same value in every process and release: fixed expectations.
    assert_eq!(bucket("clinic-0001"), bucket("clinic-0001"));
    assert_ne!(bucket("clinic-0001"), bucket("clinic-0002"));
    let sites: Vec<String> = (0..20_000).map(|i| format!("site-{i:05}")).collect();
    let in_1_percent = sites.iter().filter(|s| bucket(s) < 100).count();
    assert!(
        (120..=280).contains(&in_1_percent),
        "{in_1_percent} of 20,000 in 1 %"
    );
    let in_half = sites.iter().filter(|s| bucket(s) < 5_000).count();
    assert!((9_500..=10_500).contains(&in_half), "{in_half}");
    assert!(sites.iter().all(|s| bucket(s) < BUCKETS));
}

#[test]
fn rings_are_cumulative_and_chosen_canaries_are_in_every_ring() {
    let r = rings(&["chosen"], 1.0, &[10, 50]);
    assert_eq!(r.percents, [10, 50, 100], "the last ring is everyone");
    assert_eq!(r.count(), 4);
    let sites: Vec<String> = (0..5_000).map(|i| format!("s{i}")).collect();
    for ring in 0..r.count() - 1 {
        for s in &sites {
            if r.contains(ring, s) {
                assert!(r.contains(ring + 1, s), "{s} left ring {}", ring + 1);
            }
        }
    }
    for ring in 0..r.count() {
        assert!(r.contains(ring, "chosen"));
    }
    assert!(sites.iter().all(|s| r.contains(3, s)));
    let canaries = sites.iter().filter(|s| r.contains(0, s)).count();
    assert!((20..=90).contains(&canaries), "{canaries} of 5,000 at 1 %");
}

#[test]
fn ring_input_is_checked_in_japanese() {
    let err = |sites: &[&str], canary: f64, p: &[u32]| {
        Rings::new(
            sites.iter().map(|s| s.to_string()).collect(),
            canary,
            p.to_vec(),
        )
        .unwrap_err()
    };
    assert!(err(&[], 0.0, &[50]).contains("カナリアが空"));
    assert!(err(&["a"], 101.0, &[]).contains("0〜100"));
    assert!(err(&["a"], f64::NAN, &[]).contains("0〜100"));
    assert!(err(&["a"], 0.0, &[50, 10]).contains("小さい順"));
    assert!(err(&["a"], 0.0, &[0, 10]).contains("小さい順"));
    assert!(err(&["a"], 20.0, &[10]).contains("カナリアより大きい"));
    let r = rings(&[" b ", "a", "a", ""], 0.5, &[]);
    assert_eq!(r.canary_sites, ["a", "b"]);
    assert_eq!(r.canary_basis_points, 50);
    assert_eq!(r.percents, [100]);
}

#[test]
fn ring_labels_say_who_is_reached() {
    let r = rings(&["a", "b", "c"], 1.0, &[10, 50]);
    assert_eq!(r.label_ja(0), "カナリア（指定 3 サイト + 1%）");
    assert_eq!(r.label_ja(1), "リング 1（10%）");
    assert_eq!(r.label_ja(3), "全サイト（100%）");
    assert_eq!(
        rings(&["a"], 0.0, &[]).label_ja(0),
        "カナリア（指定 1 サイト）"
    );
    assert_eq!(rings(&[], 0.5, &[]).label_ja(0), "カナリア（0.5%）");
    assert_eq!(rings(&[], 0.25, &[]).label_ja(0), "カナリア（0.25%）");
}

#[test]
fn downloads_are_spread_stably_within_the_window() {
    let start = DateTime::parse_from_rfc3339("2025-04-01T08:30:00+09:00")
        .unwrap()
        .with_timezone(&Utc);
    let spread = Duration::minutes(60);
    let times: Vec<_> = (0..1_000)
        .map(|i| download_after(&format!("agent-{i}"), start, spread))
        .collect();
    assert!(times.iter().all(|t| *t >= start && *t < start + spread));
    assert_eq!(times[7], download_after("agent-7", start, spread), "stable");
    let first_minute = times
        .iter()
        .filter(|t| **t < start + Duration::minutes(1))
        .count();
    assert!(
        first_minute < 60,
        "{first_minute} of 1,000 in the first minute"
    );
    assert_eq!(download_after("a", start, Duration::zero()), start);
}

#[test]
fn actions_follow_the_state_machine() {
    let r = rings(&["a"], 0.0, &[50]);
    assert_eq!(transition(Running, 0, &r, Action::Pause), Ok((Paused, 0)));
    assert_eq!(transition(Paused, 0, &r, Action::Resume), Ok((Running, 0)));
    assert_eq!(transition(Halted, 1, &r, Action::Resume), Ok((Running, 1)));
    assert_eq!(transition(Running, 0, &r, Action::Widen), Ok((Running, 1)));
    assert_eq!(transition(Running, 1, &r, Action::Widen), Ok((Running, 2)));
    assert!(
        transition(Running, 2, &r, Action::Widen)
            .unwrap_err()
            .contains("全サイト")
    );
    for state in [Running, Paused, Halted] {
        assert_eq!(transition(state, 1, &r, Action::Abort), Ok((Aborted, 1)));
    }
    assert!(
        transition(Halted, 0, &r, Action::Widen)
            .unwrap_err()
            .contains("再開してから")
    );
    assert!(transition(Paused, 0, &r, Action::Widen).is_err());
    assert!(
        transition(Running, 0, &r, Action::Resume)
            .unwrap_err()
            .contains("配信中")
    );
    assert!(transition(Halted, 0, &r, Action::Pause).is_err());
    for action in [Action::Pause, Action::Resume, Action::Abort, Action::Widen] {
        assert!(
            transition(Aborted, 0, &r, action)
                .unwrap_err()
                .contains("中止")
        );
        assert!(transition(Completed, 0, &r, action).is_err());
    }
}
