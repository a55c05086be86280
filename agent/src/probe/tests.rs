//! The whole probe pipeline over recorded Windows outputs
//! (agent/tests/fixtures/windows/<case>/): English and Japanese, Windows 10
//! and 11, each reader maker's typical trouble.

use std::path::{Path, PathBuf};

use super::accounts::AccountKind;
use super::reader::{Maker, Power};
use super::*;
use crate::config::ProbeFileConfig;

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/windows")
        .join(case)
}

fn settings(case: &str, state: &Path, config: ProbeFileConfig) -> Settings {
    Settings {
        targets: Vec::new(),
        cert_file: None,
        timeout: Duration::from_secs(2),
        command_timeout: Duration::from_secs(2),
        source: Source::Replay(fixture(case)),
        state_dir: Some(state.to_owned()),
        record: None,
        config,
    }
}

async fn snapshot(case: &str) -> Snapshot {
    let state = tempfile::tempdir().unwrap();
    Prober::new(
        settings(case, state.path(), ProbeFileConfig::default()),
        true,
    )
    .collect()
    .await
}

/// (name, exists, shared) of each expected share.
fn shares(s: &Snapshot) -> Vec<(&str, bool, bool)> {
    s.network
        .shares
        .iter()
        .map(|x| (x.name.as_str(), x.exists, x.shared))
        .collect()
}

fn ts(s: &str) -> Option<DateTime<Utc>> {
    Some(s.parse().unwrap())
}

#[tokio::test]
async fn windows_10_english_fujitsu_all_well() {
    let s = snapshot("win10-en-fujitsu").await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(s.host.hostname, "ONSHI-PC01");
    assert_eq!(s.host.os, "Microsoft Windows 10 Pro 10.0.19045");
    assert_eq!(s.host.boot_time, ts("2024-11-24T23:01:02.500Z"));
    assert_eq!(s.host.disk_free_bytes, Some(171_262_242_816));
    assert_eq!(s.host.apps_updated_at, ts("2024-11-24T18:02:11Z"));
    let lock = s.host.screen_lock.as_ref().unwrap();
    assert!(
        lock.known
            && lock.enabled
            && lock.secure
            && !lock.by_policy
            && !lock.clear_screen_installed
    );
    assert_eq!(lock.timeout_seconds, 900);

    let r = s.reader.as_ref().unwrap();
    assert_eq!(
        (r.maker, r.power, r.manual_power, r.software_running),
        (Maker::Fujitsu, Power::On, false, true)
    );
    assert_eq!(r.device_status, "OK");

    let c = s.certificate.as_ref().unwrap();
    assert!(c.present);
    assert_eq!(c.source, r"store:LocalMachine\My");
    assert!(c.issuer.contains("共通認証局"));
    assert_eq!(c.serial, "6A1F03B2C4D5E6F708192A3B4C5D6E7F");
    assert_eq!(c.not_after, ts("2026-03-30T23:59:59Z"));
    assert_eq!(
        (c.desktop_file_present, c.desktop_files.clone()),
        (Some(true), vec!["1312345678.p12".to_owned()])
    );

    let kinds: Vec<_> = s
        .accounts
        .iter()
        .map(|a| (a.kind, a.baseline_known))
        .collect();
    assert_eq!(
        kinds,
        [(AccountKind::Windows, true), (AccountKind::Linkage, true)],
        "first run takes the baseline"
    );
    assert_eq!(s.accounts[0].name, "onshi");
    assert!(
        s.accounts
            .iter()
            .all(|a| !a.password_changed && !a.renamed && !a.config_changed)
    );

    let ip = s.network.ip_config.as_ref().unwrap();
    assert_eq!(ip.current.addresses, ["10.51.1.2"]);
    assert_eq!(
        (ip.current.gateway.as_str(), ip.drifted),
        ("10.51.1.1", false)
    );
    assert_eq!(
        shares(&s),
        [
            ("face", true, true),
            ("req", true, true),
            ("res", true, true)
        ]
    );
    assert!(
        s.network.targets.is_empty(),
        "a replay never probes the recorded router"
    );
}

#[tokio::test]
async fn windows_11_japanese_panasonic_clear_screen_and_home_visit_share() {
    let state = tempfile::tempdir().unwrap();
    let mut config = ProbeFileConfig::default();
    config.network.home_visit_nursing = true;
    let s = Prober::new(settings("win11-ja-panasonic", state.path(), config), true)
        .collect()
        .await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(s.host.os, "Microsoft Windows 11 Pro 10.0.22631");
    let r = s.reader.as_ref().unwrap();
    assert_eq!(
        (
            r.maker,
            r.power,
            r.software_running,
            r.clear_screen_installed
        ),
        (Maker::Panasonic, Power::On, true, true)
    );
    assert!(
        !r.device_name.contains("KX-MB"),
        "the Panasonic printer is not the reader"
    );
    let lock = s.host.screen_lock.as_ref().unwrap();
    assert!(
        lock.known && !lock.enabled && lock.clear_screen_installed,
        "ClearScreen instead of the saver"
    );
    let c = s.certificate.as_ref().unwrap();
    assert_eq!(
        c.not_after,
        ts("2027-08-30T23:59:59Z"),
        "the renewed certificate, not the expired one"
    );
    assert!(c.subject.contains("訪問看護"));
    assert_eq!(
        s.accounts.len(),
        3,
        "windows, 顔認証 and 連携: {:?}",
        s.accounts
    );
    assert_eq!(
        s.accounts[0].name, "onshi",
        "users.json recorded as UTF-16 is read"
    );
    let names: Vec<_> = s.network.shares.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["face", "req", "res", "Onseikyu"]);
    assert!(s.network.shares.iter().all(|x| x.exists && x.shared));
}

#[tokio::test]
async fn windows_11_english_almex_off_shares_broken_saver_off() {
    let s = snapshot("win11-en-almex").await;
    let r = s.reader.as_ref().unwrap();
    assert_eq!(
        (r.maker, r.power, r.manual_power, r.software_running),
        (Maker::Almex, Power::Off, true, false)
    );
    assert_eq!(s.host.rebooted_within_24h, Some(false));
    assert_eq!(s.host.disk_free_bytes, Some(3_221_225_472));
    let lock = s.host.screen_lock.as_ref().unwrap();
    assert!(lock.known && !lock.enabled);
    let c = s.certificate.as_ref().unwrap();
    assert_eq!(
        c.desktop_file_present,
        Some(false),
        "certificate file gone from the desktop"
    );
    assert_eq!(
        shares(&s),
        [
            ("face", true, true),
            ("req", true, false),
            ("res", false, false)
        ]
    );
}

#[tokio::test]
async fn changes_against_the_baseline_are_detected_without_reading_secrets() {
    let state = tempfile::tempdir().unwrap();
    let first = Prober::new(
        settings("win10-ja-canon", state.path(), ProbeFileConfig::default()),
        true,
    )
    .collect()
    .await;
    assert!(
        first
            .accounts
            .iter()
            .all(|a| a.baseline_known && !a.password_changed && !a.config_changed)
    );
    assert_eq!(first.reader.as_ref().unwrap().power, Power::On);

    let mut later = Prober::new(
        settings(
            "win10-ja-canon-changed",
            state.path(),
            ProbeFileConfig::default(),
        ),
        true,
    );
    let s = later.collect().await;
    let windows = &s.accounts[0];
    assert_eq!(windows.kind, AccountKind::Windows);
    assert!(windows.password_changed && windows.renamed && !windows.disabled && !windows.removed);
    assert_eq!(windows.name, "clinic");
    let linkage = s
        .accounts
        .iter()
        .find(|a| a.kind == AccountKind::Linkage)
        .unwrap();
    assert!(linkage.config_changed);
    let face = s
        .accounts
        .iter()
        .find(|a| a.kind == AccountKind::FaceAuth)
        .unwrap();
    assert!(!face.config_changed);
    let ip = s.network.ip_config.as_ref().unwrap();
    assert!(ip.drifted);
    assert!(
        ip.changes
            .iter()
            .any(|c| c == "gateway 10.51.1.1 → 192.168.1.1"),
        "{:?}",
        ip.changes
    );
    let r = s.reader.as_ref().unwrap();
    assert_eq!(
        (
            r.maker,
            r.power,
            r.device_status.as_str(),
            r.software_running
        ),
        (Maker::Canon, Power::On, "Error", false)
    );
    assert!(r.manual_power);

    // Nothing of the account files leaves the prober, and the baseline file
    // holds only keyed fingerprints.
    let json = serde_json::to_string(&s).unwrap();
    let stored = std::fs::read_to_string(state.path().join("baseline.json")).unwrap();
    for secret in ["FIXTURE-", "renkei0001", "kao0001"] {
        assert!(
            !json.contains(secret) && !stored.contains(secret),
            "{secret} leaked"
        );
    }

    // After a sanctioned change, a new baseline makes the site quiet again.
    later.reset_baseline();
    let s = later.collect().await;
    assert!(
        s.accounts
            .iter()
            .all(|a| !a.password_changed && !a.renamed && !a.config_changed)
    );
    assert!(!s.network.ip_config.unwrap().drifted);
}

#[tokio::test]
async fn probe_mode_reads_the_baseline_but_never_writes_it() {
    let state = tempfile::tempdir().unwrap();
    let s = Prober::new(
        settings("win10-en-fujitsu", state.path(), ProbeFileConfig::default()),
        false,
    )
    .collect()
    .await;
    assert!(s.accounts.iter().all(|a| !a.baseline_known));
    assert!(!state.path().join("baseline.json").exists());
    assert!(!state.path().join("fingerprint.key").exists());
}

#[tokio::test]
async fn a_broken_recording_is_a_probe_error_not_a_failed_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(fixture("win10-en-fujitsu")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        dir.path().join("pnp.json"),
        "Get-PnpDevice : The term is not recognized",
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("users.json")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut st = settings("x", state.path(), ProbeFileConfig::default());
    st.source = Source::Replay(dir.path().to_owned());
    let s = Prober::new(st, true).collect().await;
    assert!(s.reader.is_none());
    assert_eq!(s.errors.len(), 1, "{:?}", s.errors);
    assert_eq!(s.errors[0].probe, "pnp");
    assert!(
        s.accounts.iter().all(|a| a.kind != AccountKind::Windows),
        "no users recording: no Windows account entry"
    );
    assert!(s.certificate.is_some() && s.host.screen_lock.is_some());
}

#[tokio::test]
async fn the_wire_report_carries_every_section() {
    let s = snapshot("win11-ja-panasonic").await;
    let r = report::to_report(&s, "agent-1", "site-1", 7);
    let reader = r.reader.unwrap();
    assert_eq!(reader.maker, onshi_proto::v1::ReaderMaker::Panasonic as i32);
    assert_eq!(reader.power, onshi_proto::v1::PowerState::On as i32);
    assert!(r.certificate.unwrap().desktop_file_present);
    assert_eq!(r.accounts.len(), 3);
    assert_eq!(r.shares.len(), 3);
    assert_eq!(r.ip_config.unwrap().gateway, "10.51.1.1");
    let host = r.host.unwrap();
    assert!(host.screen_lock.unwrap().clear_screen_installed);
    assert!(host.apps_updated_at.is_some() && host.disk_free_bytes > 0);
}
