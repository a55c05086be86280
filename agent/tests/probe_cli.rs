//! `onshi-agent probe` / `baseline` / `install` as a support engineer uses
//! them: the real binary, recorded Windows outputs, the JSON it prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/windows")
        .join(case)
}

/// Runs the agent with an empty config file (so the machine's own
/// /etc/onshi-agent/agent.toml never leaks into a test).
fn agent(args: &[&str], config: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_onshi-agent"))
        .arg("--config")
        .arg(&path)
        .args(args)
        .env_remove("ONSHI_STATE_DIR")
        .env("ONSHI_LOG", "warn")
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "agent failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn probe_json_has_every_section_with_windows_data() {
    let state = tempfile::tempdir().unwrap();
    let src = fixture("win11-ja-panasonic");
    let out = agent(
        &[
            "probe",
            "--format",
            "json",
            "--probe-source",
            src.to_str().unwrap(),
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        "[probes.network]\nhome_visit_nursing = true\n",
    );
    let v = json(&out);
    for section in [
        "collected_at",
        "source",
        "host",
        "reader",
        "certificate",
        "accounts",
        "network",
        "errors",
    ] {
        assert!(
            v.get(section).is_some(),
            "missing {section}: {:?}",
            keys(&v)
        );
    }
    let host = &v["host"];
    for k in [
        "hostname",
        "os",
        "boot_time",
        "uptime_hours",
        "rebooted_within_24h",
        "screen_lock",
        "disk_free_bytes",
        "apps_updated_at",
        "agent_version",
    ] {
        assert!(host.get(k).is_some(), "host.{k} missing");
    }
    assert_eq!(host["hostname"], "ONSHI-PC02");
    assert_eq!(host["screen_lock"]["clear_screen_installed"], true);
    assert!(host["disk_free_bytes"].as_u64().unwrap() > 0);

    let reader = &v["reader"];
    assert_eq!(reader["maker"], "panasonic");
    assert_eq!(reader["power"], "on");
    assert_eq!(reader["manual_power"], false);
    assert_eq!(reader["software_running"], true);

    let cert = &v["certificate"];
    assert_eq!(cert["present"], true);
    assert!(
        cert["not_after"]
            .as_str()
            .unwrap()
            .starts_with("2027-08-30T23:59:59")
    );
    assert!(cert["days_left"].is_i64());
    assert_eq!(cert["desktop_file_present"], true);

    let accounts = v["accounts"].as_array().unwrap();
    let kinds: Vec<&str> = accounts
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["windows", "face_auth", "linkage"]);
    assert!(
        accounts.iter().all(|a| a["baseline_known"] == false),
        "probe never takes a baseline"
    );

    let net = &v["network"];
    assert!(net["targets"].as_array().unwrap().is_empty());
    assert_eq!(net["ip_config"]["gateway"], "10.51.1.1");
    assert_eq!(
        net["shares"].as_array().unwrap().len(),
        4,
        "face, req, res, Onseikyu"
    );
    assert_eq!(v["errors"].as_array().unwrap().len(), 0);
    assert!(
        !state.path().join("baseline.json").exists(),
        "probe is read-only"
    );

    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("FIXTURE-NOT-A-REAL-PASSWORD"),
        "an account file's content leaked"
    );
}

#[test]
fn probe_on_linux_answers_what_linux_can() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!("local={}", listener.local_addr().unwrap());
    let cert = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/client-cert.pem");
    let out = agent(
        &[
            "probe",
            "--state-dir",
            state.path().to_str().unwrap(),
            "--target",
            &target,
            "--cert-file",
            cert.to_str().unwrap(),
        ],
        "",
    );
    let v = json(&out);
    assert_eq!(v["source"], "live");
    assert!(!v["host"]["hostname"].as_str().unwrap().is_empty());
    assert!(v["host"]["boot_time"].is_string());
    assert!(v["host"]["disk_free_bytes"].as_u64().unwrap() > 0);
    assert!(v["reader"].is_null(), "no reader on Linux");
    assert_eq!(v["certificate"]["present"], true);
    assert_eq!(v["certificate"]["desktop_file_present"], true);
    assert!(
        v["certificate"]["not_after"]
            .as_str()
            .unwrap()
            .starts_with("2027-12-30")
    );
    let targets = v["network"]["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0]["reachable"], true);
    assert!(v["network"]["ip_config"]["addresses"].is_array());
}

#[test]
fn baseline_then_probe_shows_what_changed() {
    let state = tempfile::tempdir().unwrap();
    let s = state.path().to_str().unwrap();
    let before = fixture("win10-ja-canon");
    let after = fixture("win10-ja-canon-changed");
    let b = json(&agent(
        &[
            "baseline",
            "--probe-source",
            before.to_str().unwrap(),
            "--state-dir",
            s,
        ],
        "",
    ));
    assert_eq!(b["windows_account"]["name"], "onshi");
    assert_eq!(b["linkage_recorded"], true);
    assert_eq!(b["reader_maker"], "canon");
    let stored = std::fs::read_to_string(state.path().join("baseline.json")).unwrap();
    assert!(!stored.contains("FIXTURE-") && !b.to_string().contains("FIXTURE-"));

    let v = json(&agent(
        &[
            "probe",
            "--probe-source",
            after.to_str().unwrap(),
            "--state-dir",
            s,
        ],
        "",
    ));
    let windows = &v["accounts"][0];
    assert_eq!(
        (
            windows["kind"].as_str(),
            windows["password_changed"].as_bool(),
            windows["renamed"].as_bool()
        ),
        (Some("windows"), Some(true), Some(true))
    );
    let linkage = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "linkage")
        .unwrap();
    assert_eq!(linkage["config_changed"], true);
    assert_eq!(v["network"]["ip_config"]["drifted"], true);
    assert_eq!(v["reader"]["power"], "on");
}

#[test]
fn a_wrong_config_key_is_a_clear_error() {
    let out = agent(&["probe"], "intervall = 60\n");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("intervall") && err.contains("agent.toml"),
        "{err}"
    );
}

#[test]
fn run_without_server_says_where_to_set_it() {
    let state = tempfile::tempdir().unwrap();
    let out = agent(
        &[
            "run",
            "--once",
            "--site-id",
            "s1",
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        "",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--server"));
}

#[test]
fn install_outside_windows_points_to_systemd() {
    if cfg!(windows) {
        return;
    }
    let out = agent(&["install"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("deploy/systemd/onshi-agent.service"));
}
