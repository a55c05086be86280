use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::*;
use crate::fleet::report::{
    AccountDoc, CertificateDoc, IpConfigDoc, ReaderDoc, ScreenLockDoc, ShareDoc, TargetDoc,
};

/// Tuesday 2026-12-01 10:00 JST: a clinic is open.
fn open_now() -> DateTime<Utc> {
    "2026-12-01T01:00:00Z".parse().unwrap()
}

fn healthy() -> ReportDoc {
    let now = open_now();
    let mut doc = ReportDoc {
        reader: Some(ReaderDoc {
            maker: "fujitsu".into(),
            power: "on".into(),
            ..Default::default()
        }),
        certificate: Some(CertificateDoc {
            present: true,
            backup_seen: true,
            desktop_file_present: true,
            serial: "0A1B".into(),
            not_after: Some(now + Duration::days(365)),
            ..Default::default()
        }),
        shares: ["face", "req", "res"]
            .iter()
            .map(|n| ShareDoc {
                name: (*n).into(),
                exists: true,
                shared: true,
            })
            .collect(),
        ..Default::default()
    };
    doc.host.boot_time = Some(now - Duration::hours(2));
    doc.host.apps_updated_at = Some(now - Duration::days(1));
    doc.host.screen_lock = Some(ScreenLockDoc {
        enabled: true,
        secure: true,
        timeout_seconds: 900,
        clear_screen_installed: false,
    });
    doc
}

fn clinic_hours() -> BusinessHours {
    BusinessHours::default_for(SiteKind::Clinic)
}

fn ctx_at<'a>(hours: &'a BusinessHours, now: DateTime<Utc>) -> SiteContext<'a> {
    SiteContext {
        kind: Some(SiteKind::Clinic),
        reader_maker: None,
        hours: Some(hours),
        now,
    }
}

fn rules(doc: &ReportDoc, ctx: &SiteContext<'_>) -> Vec<Rule> {
    evaluate(doc, ctx).into_iter().map(|c| c.rule).collect()
}

#[test]
fn a_healthy_report_raises_nothing() {
    let h = clinic_hours();
    assert!(rules(&healthy(), &ctx_at(&h, open_now())).is_empty());
    assert!(rules(&healthy(), &SiteContext::unknown(open_now())).is_empty());
}

#[test]
fn reader_off_is_critical_while_open_and_normal_at_night() {
    let h = clinic_hours();
    let mut doc = healthy();
    doc.reader.as_mut().unwrap().power = "off".into();
    let c = evaluate(&doc, &ctx_at(&h, open_now()));
    assert_eq!(c[0].rule, Rule::ReaderOff);
    assert_eq!(c[0].severity, Health::Critical);
    assert!(
        c[0].detail.contains("再起動"),
        "auto-power reader: restart the PC"
    );
    let night: DateTime<Utc> = "2026-12-01T13:00:00Z".parse().unwrap(); // 22:00 JST
    assert!(rules(&doc, &ctx_at(&h, night)).is_empty());
    doc.reader.as_mut().unwrap().power = "absent".into();
    assert_eq!(rules(&doc, &ctx_at(&h, open_now())), [Rule::ReaderAbsent]);
    // Hours unknown: treated as open, nothing hidden.
    assert_eq!(
        rules(&doc, &SiteContext::unknown(night)),
        [Rule::ReaderAbsent]
    );
}

#[test]
fn manual_reader_on_thirty_minutes_after_closing_is_a_warning() {
    let h = clinic_hours(); // Tuesday closes 18:00 JST = 09:00Z
    let mut doc = healthy();
    doc.reader = Some(ReaderDoc {
        maker: "almex".into(),
        power: "on".into(),
        manual_power: true,
        ..Default::default()
    });
    let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
    assert!(rules(&doc, &ctx_at(&h, at("2026-12-01T09:29:00Z"))).is_empty());
    let c = evaluate(&doc, &ctx_at(&h, at("2026-12-01T09:30:00Z")));
    assert_eq!(
        c.iter().map(|c| c.rule).collect::<Vec<_>>(),
        [Rule::ReaderOnAfterClose]
    );
    assert!(c[0].title.contains("18:00"));
    // An automatic reader (Fujitsu) follows the PC: no finding.
    doc.reader.as_mut().unwrap().manual_power = false;
    doc.reader.as_mut().unwrap().maker = "fujitsu".into();
    assert!(rules(&doc, &ctx_at(&h, at("2026-12-01T10:00:00Z"))).is_empty());
    // ...unless the site's profile says the maker is manual (Canon).
    let mut ctx = ctx_at(&h, at("2026-12-01T10:00:00Z"));
    ctx.reader_maker = Some(ReaderMaker::Canon);
    assert_eq!(rules(&doc, &ctx), [Rule::ReaderOnAfterClose]);
    // Manual reader switched off by hand at night: normal.
    doc.reader.as_mut().unwrap().power = "off".into();
    assert!(rules(&doc, &ctx).is_empty());
}

#[test]
fn every_certificate_threshold_raises_the_stage() {
    let h = clinic_hours();
    let now = open_now();
    let at_days = |days: i64| {
        let mut doc = healthy();
        doc.certificate.as_mut().unwrap().not_after =
            Some(now + Duration::days(days) + Duration::hours(1));
        evaluate(&doc, &ctx_at(&h, now))
    };
    assert!(at_days(61).is_empty());
    let stages: Vec<(i64, Health)> = [60, 30, 14, 7, 1]
        .iter()
        .map(|d| {
            let c = &at_days(*d)[0];
            assert_eq!(c.rule, Rule::CertExpiring);
            assert_eq!(c.subject, "0A1B", "the certificate's serial is the subject");
            (c.evidence["threshold_days"].as_i64().unwrap(), c.severity)
        })
        .collect();
    assert_eq!(
        stages,
        [
            (60, Health::Info),
            (30, Health::Warning),
            (14, Health::Warning),
            (7, Health::Critical),
            (1, Health::Critical)
        ]
    );
    let mut doc = healthy();
    doc.certificate.as_mut().unwrap().not_after = Some(now);
    assert_eq!(rules(&doc, &ctx_at(&h, now)), [Rule::CertExpired]);
    doc.certificate.as_mut().unwrap().present = false;
    assert_eq!(rules(&doc, &ctx_at(&h, now)), [Rule::CertMissing]);
}

#[test]
fn certificate_file_and_backup_are_warnings() {
    let h = clinic_hours();
    let mut doc = healthy();
    doc.certificate.as_mut().unwrap().desktop_file_present = false;
    doc.certificate.as_mut().unwrap().backup_seen = false;
    let c = evaluate(&doc, &ctx_at(&h, open_now()));
    assert_eq!(
        c.iter().map(|c| (c.rule, c.severity)).collect::<Vec<_>>(),
        [
            (Rule::CertDesktopFileMissing, Health::Warning),
            (Rule::CertBackupMissing, Health::Warning)
        ]
    );
}

#[test]
fn account_change_is_critical_with_consequence_and_charge() {
    let h = clinic_hours();
    let mut doc = healthy();
    doc.accounts.push(AccountDoc {
        kind: "face_auth".into(),
        password_changed: true,
        ..Default::default()
    });
    doc.accounts.push(AccountDoc {
        kind: "windows".into(),
        baseline_known: true,
        ..Default::default()
    });
    let c = evaluate(&doc, &ctx_at(&h, open_now()));
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].rule, c[0].severity, c[0].subject.as_str()),
        (Rule::AccountChanged, Health::Critical, "face_auth")
    );
    assert!(c[0].title.contains("顔認証アカウント") && c[0].title.contains("パスワード変更"));
    assert!(c[0].detail.contains("カードリーダーがエラー") && c[0].detail.contains("有償"));
}

#[test]
fn network_targets_drift_and_shares() {
    let h = clinic_hours();
    let mut doc = healthy();
    doc.network.push(TargetDoc {
        name: "router".into(),
        address: "10.51.1.1:443".into(),
        reachable: false,
        ..Default::default()
    });
    doc.network.push(TargetDoc {
        name: "onshi-endpoint".into(),
        address: "x:443".into(),
        reachable: true,
        ..Default::default()
    });
    doc.ip_config = Some(IpConfigDoc {
        drifted: true,
        ..Default::default()
    });
    doc.shares.retain(|s| s.name != "req");
    let c = evaluate(&doc, &ctx_at(&h, open_now()));
    let got: Vec<(Rule, &str)> = c.iter().map(|c| (c.rule, c.subject.as_str())).collect();
    assert_eq!(
        got,
        [
            (Rule::NetworkUnreachable, "router"),
            (Rule::NetworkDrift, ""),
            (Rule::ShareMissing, "req")
        ]
    );
    assert_eq!(Rule::NetworkUnreachable.part("router"), Some(Part::Router));
    assert_eq!(
        Rule::NetworkUnreachable.part("onshi-endpoint"),
        Some(Part::Line)
    );
}

#[test]
fn home_nursing_needs_onseikyu() {
    let h = BusinessHours::default_for(SiteKind::HomeNursing);
    let doc = healthy();
    let mut ctx = ctx_at(&h, open_now());
    ctx.kind = Some(SiteKind::HomeNursing);
    let c = evaluate(&doc, &ctx);
    assert_eq!(
        c.iter()
            .map(|c| (c.rule, c.subject.as_str()))
            .collect::<Vec<_>>(),
        [(Rule::ShareMissing, "Onseikyu")]
    );
    // No shares reported at all: the probe failed, not the shares.
    let mut blind = doc.clone();
    blind.shares.clear();
    assert!(rules(&blind, &ctx).is_empty());
}

#[test]
fn reboot_screen_lock_clear_screen_and_app_updates() {
    let h = clinic_hours();
    let now = open_now();
    let mut doc = healthy();
    doc.host.boot_time = Some(now - MAX_UPTIME);
    assert!(rules(&doc, &ctx_at(&h, now)).is_empty());
    doc.host.boot_time = Some(now - MAX_UPTIME - Duration::minutes(1));
    assert_eq!(rules(&doc, &ctx_at(&h, now)), [Rule::NoDailyReboot]);
    let mut doc = healthy();
    doc.host.screen_lock.as_mut().unwrap().enabled = false;
    let c = evaluate(&doc, &ctx_at(&h, now));
    assert_eq!(
        (c[0].rule, c[0].severity),
        (Rule::ScreenLockDisabled, Health::Info)
    );
    // Panasonic: ClearScreen instead of the screen saver.
    doc.reader.as_mut().unwrap().maker = "panasonic".into();
    assert_eq!(rules(&doc, &ctx_at(&h, now)), [Rule::ClearScreenMissing]);
    doc.host
        .screen_lock
        .as_mut()
        .unwrap()
        .clear_screen_installed = true;
    assert!(rules(&doc, &ctx_at(&h, now)).is_empty());
    let mut doc = healthy();
    doc.host.apps_updated_at = Some(now - APPS_STALE - Duration::hours(1));
    assert_eq!(rules(&doc, &ctx_at(&h, now)), [Rule::AppsNotUpdated]);
}

#[test]
fn agent_probe_errors_and_spool_loss() {
    let h = clinic_hours();
    let mut doc = healthy();
    doc.agent.probe_errors = vec!["reader: timed out".into()];
    doc.agent.spool_dropped = 3;
    let c = evaluate(&doc, &ctx_at(&h, open_now()));
    assert_eq!(
        c.iter().map(|c| c.rule).collect::<Vec<_>>(),
        [Rule::AgentProbeErrors, Rule::AgentSpoolLoss]
    );
    assert!(c[0].detail.contains("reader: timed out"));
    assert!(!Rule::AgentSpoolLoss.auto_resolves());
}

#[test]
fn rule_codes_round_trip_and_match_the_migration() {
    let migration = include_str!("../../../../migrations/0004_incidents.sql");
    for rule in Rule::ALL {
        assert_eq!(Rule::parse(rule.as_str()), Some(rule));
        assert_eq!(serde_json::to_value(rule).unwrap(), rule.as_str());
        assert!(
            migration.contains(&format!("'{}'", rule.as_str())),
            "{rule:?} missing from the CHECK"
        );
    }
}

proptest! {
    /// The stage never goes down as expiry approaches, and the severity never falls.
    #[test]
    fn certificate_severity_is_monotonic(a in 0i64..120, b in 0i64..120) {
        let (near, far) = if a <= b { (a, b) } else { (b, a) };
        let sev = |d: i64| cert::stage(d).map(cert::severity_at);
        prop_assert!(sev(near) >= sev(far));
        prop_assert_eq!(cert::stage(near).is_some(), near <= 60);
    }
}
