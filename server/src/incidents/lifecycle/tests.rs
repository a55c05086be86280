use super::*;

fn t(min: i64) -> DateTime<Utc> {
    "2026-12-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(min)
}

fn cond(rule: Rule, subject: &str, severity: Health) -> Condition {
    Condition {
        rule,
        subject: subject.into(),
        severity,
        title: "t".into(),
        detail: "d".into(),
        evidence: serde_json::Value::Null,
    }
}

fn active(id: i64, rule: Rule, severity: Health, last_seq: i64) -> Active {
    Active {
        id,
        rule,
        subject: String::new(),
        severity,
        last_seq,
        clear_since: None,
        clear_reports: 0,
        clear_seq: 0,
    }
}

fn obs(seq: i64, conditions: Vec<Condition>) -> Observation {
    Observation { seq, conditions }
}

#[test]
fn a_new_condition_opens_and_a_repeated_one_is_counted_not_duplicated() {
    let p = Policy::default();
    let c = cond(Rule::ReaderOff, "", Health::Critical);
    assert_eq!(
        reconcile(&[], &[], &obs(1, vec![c.clone()]), t(0), &p),
        [Change::Open(c.clone())]
    );
    let a = active(7, Rule::ReaderOff, Health::Critical, 1);
    // Three reports arrived between two evaluations (seq 1 → 4): counted as three.
    assert_eq!(
        reconcile(
            std::slice::from_ref(&a),
            &[],
            &obs(4, vec![c.clone()]),
            t(3),
            &p
        ),
        [Change::Seen {
            id: 7,
            condition: c,
            reports: 3,
            raised_from: None
        }]
    );
}

#[test]
fn severity_rises_and_is_remembered() {
    let p = Policy::default();
    let a = active(1, Rule::CertExpiring, Health::Warning, 5);
    let c = cond(Rule::CertExpiring, "", Health::Critical);
    let changes = reconcile(&[a], &[], &obs(6, vec![c]), t(0), &p);
    assert!(matches!(
        changes[0],
        Change::Seen {
            raised_from: Some(Health::Warning),
            ..
        }
    ));
}

#[test]
fn hold_down_needs_two_clean_reports_or_ten_minutes() {
    let p = Policy::default();
    let mut a = active(1, Rule::ReaderOff, Health::Critical, 5);
    let first = reconcile(std::slice::from_ref(&a), &[], &obs(6, vec![]), t(0), &p);
    assert_eq!(
        first,
        [Change::Clearing {
            id: 1,
            since: t(0),
            reports: 1,
            seq: 6
        }]
    );
    a.clear_since = Some(t(0));
    a.clear_reports = 1;
    a.clear_seq = 6;
    assert_eq!(
        reconcile(std::slice::from_ref(&a), &[], &obs(7, vec![]), t(1), &p),
        [Change::Resolve { id: 1 }]
    );
    // The condition returns before the hold-down ends: back to Seen (clear state reset by the store).
    let back = reconcile(
        std::slice::from_ref(&a),
        &[],
        &obs(7, vec![cond(Rule::ReaderOff, "", Health::Critical)]),
        t(1),
        &p,
    );
    assert!(matches!(back[0], Change::Seen { .. }));
    // Ten minutes without a second report: the sweep resolves it.
    assert!(!hold_down_over(t(0), t(9), &p));
    assert!(hold_down_over(t(0), t(10), &p));
}

#[test]
fn offline_is_answered_by_any_report_and_sticky_rules_wait_for_an_operator() {
    let p = Policy::default();
    let offline = active(1, Rule::Offline, Health::Critical, 0);
    let loss = active(2, Rule::AgentSpoolLoss, Health::Warning, 3);
    let changes = reconcile(&[offline, loss], &[], &obs(9, vec![]), t(0), &p);
    assert_eq!(changes, [Change::Resolve { id: 1 }]);
}

#[test]
fn a_return_within_a_day_reopens_and_too_many_reopens_flap() {
    let p = Policy::default();
    let c = cond(Rule::ReaderOff, "", Health::Critical);
    let r = Resolved {
        id: 3,
        rule: Rule::ReaderOff,
        subject: String::new(),
        resolved_at: t(0),
        transitions: vec![t(-200)],
    };
    let changes = reconcile(
        &[],
        std::slice::from_ref(&r),
        &obs(10, vec![c.clone()]),
        t(30),
        &p,
    );
    assert_eq!(
        changes,
        [Change::Reopen {
            id: 3,
            condition: c.clone(),
            transitions: vec![t(30)],
            flapping: false
        }]
    );
    let busy = Resolved {
        transitions: vec![t(5), t(10), t(20)],
        ..r.clone()
    };
    assert!(matches!(
        reconcile(&[], &[busy], &obs(10, vec![c.clone()]), t(30), &p)[0],
        Change::Reopen { flapping: true, .. }
    ));
    // Resolved more than 24 h ago: a new incident.
    assert_eq!(
        reconcile(&[], &[r], &obs(10, vec![c.clone()]), t(24 * 60 + 1), &p),
        [Change::Open(c)]
    );
}

#[test]
fn fingerprints_keep_subjects_apart() {
    let p = Policy::default();
    let mut a = active(1, Rule::ShareMissing, Health::Critical, 1);
    a.subject = "req".into();
    let c = cond(Rule::ShareMissing, "res", Health::Critical);
    let changes = reconcile(&[a], &[], &obs(2, vec![c.clone()]), t(0), &p);
    assert_eq!(changes[0], Change::Open(c));
    assert!(matches!(changes[1], Change::Clearing { id: 1, .. }));
}
