use super::*;

#[test]
fn the_query_string_becomes_a_filter_or_a_japanese_error() {
    let q = ListQuery {
        state: "all".into(),
        severity: "critical".into(),
        rule: "reader_off".into(),
        prefecture: "東京都".into(),
        assignee: " sato ".into(),
        silenced: "no".into(),
        ..Default::default()
    };
    let f = q.filter().unwrap();
    assert_eq!(f.state, StateFilter::All);
    assert_eq!(f.severity, Some(Health::Critical));
    assert_eq!(f.rule, Some(Rule::ReaderOff));
    assert_eq!(f.assignee.as_deref(), Some("sato"));
    assert_eq!(f.silenced, Some(false));
    assert_eq!(
        ListQuery::default().filter().unwrap().state,
        StateFilter::Active
    );
    for bad in [
        ListQuery {
            state: "closed".into(),
            ..Default::default()
        },
        ListQuery {
            severity: "ok".into(),
            ..Default::default()
        },
        ListQuery {
            rule: "nope".into(),
            ..Default::default()
        },
        ListQuery {
            prefecture: "Tokyo".into(),
            ..Default::default()
        },
        ListQuery {
            silenced: "maybe".into(),
            ..Default::default()
        },
    ] {
        let e = bad.filter().unwrap_err().to_string();
        assert!(e.contains("指定できません"), "{e}");
    }
    let next = q.with_cursor(Some("abc"));
    assert!(
        next.starts_with("/incidents?state=all&severity=critical"),
        "{next}"
    );
    assert!(next.ends_with("&cursor=abc") && next.contains("assignee=sato"));
}

#[test]
fn ages_are_in_words() {
    let now: DateTime<Utc> = "2026-03-02T12:00:00Z".parse().unwrap();
    let ago = |d: chrono::Duration| age_ja(&(now - d), &now);
    assert_eq!(ago(chrono::Duration::zero()), "1分以内");
    assert_eq!(ago(chrono::Duration::minutes(5)), "5分前");
    assert_eq!(ago(chrono::Duration::hours(3)), "3時間前");
    assert_eq!(ago(chrono::Duration::days(4)), "4日前");
}
