use chrono::{Duration, TimeZone};

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 3, 0, 0).unwrap()
}

fn silence() -> Silence {
    Silence {
        id: 1,
        site_id: None,
        rule: None,
        prefecture: None,
        kind: None,
        starts_at: now() - Duration::hours(1),
        ends_at: now() + Duration::hours(1),
        reason: "工事".into(),
        created_by: "user:sato".into(),
        created_at: now(),
    }
}

const TARGET: Target<'static> = Target {
    site_id: "s1",
    rule: Rule::ReaderOff,
    prefecture: "東京都",
    kind: SiteKind::Clinic,
};

#[test]
fn every_given_matcher_must_match() {
    let by_site = Silence {
        site_id: Some("s1".into()),
        ..silence()
    };
    assert!(matches(&by_site, &TARGET, now()));
    let other_site = Silence {
        site_id: Some("s2".into()),
        ..silence()
    };
    assert!(!matches(&other_site, &TARGET, now()));
    let site_and_rule = Silence {
        site_id: Some("s1".into()),
        rule: Some(Rule::Offline),
        ..silence()
    };
    assert!(!matches(&site_and_rule, &TARGET, now()));
    let prefecture = Silence {
        prefecture: Some("東京都".into()),
        ..silence()
    };
    assert!(matches(&prefecture, &TARGET, now()));
    let osaka = Silence {
        prefecture: Some("大阪府".into()),
        ..silence()
    };
    assert!(!matches(&osaka, &TARGET, now()));
    let pharmacies = Silence {
        kind: Some(SiteKind::Pharmacy),
        ..silence()
    };
    assert!(!matches(&pharmacies, &TARGET, now()));
    let clinics_reader = Silence {
        kind: Some(SiteKind::Clinic),
        rule: Some(Rule::ReaderOff),
        ..silence()
    };
    assert!(matches(&clinics_reader, &TARGET, now()));
}

#[test]
fn the_window_is_half_open_so_an_expired_silence_stops_by_itself() {
    let s = Silence {
        site_id: Some("s1".into()),
        ..silence()
    };
    assert!(matches(&s, &TARGET, s.starts_at));
    assert!(!matches(&s, &TARGET, s.starts_at - Duration::seconds(1)));
    assert!(matches(&s, &TARGET, s.ends_at - Duration::seconds(1)));
    assert!(!matches(&s, &TARGET, s.ends_at));
}

fn input() -> NewSilence {
    NewSilence {
        site_id: Some("s1".into()),
        ends_at: Some(now() + Duration::hours(2)),
        reason: "院内工事".into(),
        ..Default::default()
    }
}

#[test]
fn validation_refuses_bad_silences_in_japanese() {
    let ok = input().validate(now()).unwrap();
    assert_eq!(ok.starts_at, now(), "starts now by default");
    let no_matcher = NewSilence {
        site_id: None,
        ..input()
    };
    assert!(
        no_matcher
            .validate(now())
            .unwrap_err()
            .get("site_id")
            .unwrap()
            .contains("一つ以上")
    );
    let bad_rule = NewSilence {
        rule: Some("reader_of".into()),
        ..input()
    };
    assert!(
        bad_rule
            .validate(now())
            .unwrap_err()
            .get("rule")
            .unwrap()
            .contains("reader_off")
    );
    let backwards = NewSilence {
        starts_at: Some(now() + Duration::hours(3)),
        ..input()
    };
    assert!(
        backwards
            .validate(now())
            .unwrap_err()
            .get("ends_at")
            .unwrap()
            .contains("開始日時より後")
    );
    let no_reason = NewSilence {
        reason: " ".into(),
        ..input()
    };
    assert!(
        no_reason
            .validate(now())
            .unwrap_err()
            .get("reason")
            .is_some()
    );
    let control = NewSilence {
        reason: "a\u{7}".into(),
        ..input()
    };
    assert!(control.validate(now()).is_err());
    let bad_kind = NewSilence {
        kind: Some("hospital".into()),
        ..input()
    };
    assert!(bad_kind.validate(now()).unwrap_err().get("kind").is_some());
    let bad_pref = NewSilence {
        site_id: None,
        prefecture: Some("東京".into()),
        ..input()
    };
    assert!(
        bad_pref
            .validate(now())
            .unwrap_err()
            .get("prefecture")
            .is_some()
    );
    let rule_only = NewSilence {
        site_id: None,
        rule: Some("offline".into()),
        ..input()
    };
    assert_eq!(rule_only.validate(now()).unwrap().rule, Some(Rule::Offline));
}
