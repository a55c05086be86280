use chrono::TimeZone;

use super::*;

fn current(state: State) -> Current {
    let at = Utc.with_ymd_and_hms(2026, 3, 2, 1, 30, 0).unwrap();
    Current {
        incident_id: 1,
        site_id: "s1".into(),
        state,
        assignee: None,
        acknowledged_at: (state == State::Acknowledged).then_some(at),
        acknowledged_by: (state == State::Acknowledged).then(|| "user:sato".into()),
        resolved_at: (state == State::Resolved).then_some(at),
        resolved_by: (state == State::Resolved).then(|| "user:tanaka".into()),
        version: 7,
        last_kind: Some("commented".into()),
        last_actor: Some("user:suzuki".into()),
        last_at: Some(at),
    }
}

fn conflict(r: Result<(), Error>) -> String {
    match r {
        Err(Error::Conflict(m)) => m,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn acknowledging_twice_or_after_resolution_says_who_and_when() {
    let none = Expect::default();
    assert!(check(&Action::Acknowledge, &current(State::Open), none).is_ok());
    let m = conflict(check(
        &Action::Acknowledge,
        &current(State::Acknowledged),
        none,
    ));
    assert!(
        m.contains("user:sato") && m.contains("2026-03-02 10:30"),
        "{m}"
    );
    let m = conflict(check(&Action::Acknowledge, &current(State::Resolved), none));
    assert!(m.contains("user:tanaka") && m.contains("再オープン"), "{m}");
    let reason = || "復旧確認".to_string();
    assert!(
        check(
            &Action::Resolve { reason: reason() },
            &current(State::Resolved),
            none
        )
        .is_err()
    );
    assert!(
        check(
            &Action::Resolve { reason: reason() },
            &current(State::Acknowledged),
            none
        )
        .is_ok()
    );
    assert!(
        check(
            &Action::Reopen { reason: reason() },
            &current(State::Open),
            none
        )
        .is_err()
    );
    assert!(
        check(
            &Action::Reopen { reason: reason() },
            &current(State::Resolved),
            none
        )
        .is_ok()
    );
}

#[test]
fn a_stale_version_is_a_conflict_naming_the_change() {
    let c = current(State::Open);
    assert!(check(&Action::Acknowledge, &c, Expect { version: Some(7) }).is_ok());
    let m = conflict(check(&Action::Acknowledge, &c, Expect { version: Some(6) }));
    assert!(m.contains("user:suzuki") && m.contains("コメント"), "{m}");
}

#[test]
fn comments_and_reasons_are_checked() {
    let comment = |t: &str| check_input(&Action::Comment { text: t.into() });
    assert!(comment("リーダーの電源を入れてもらった\n様子見").is_ok());
    assert!(matches!(comment(""), Err(Error::Fields(_))));
    assert!(matches!(comment("a\u{0}b"), Err(Error::Fields(_))));
    let long = "あ".repeat(MAX_COMMENT + 1);
    assert!(matches!(comment(&long), Err(Error::Fields(_))));
    assert!(check_input(&Action::Resolve { reason: " ".into() }).is_err());
    assert!(
        check_input(&Action::Assign {
            assignee: "".into()
        })
        .is_err()
    );
}
