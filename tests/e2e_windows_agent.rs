//! The Windows build of the agent (x86_64-pc-windows-gnu), run under Wine
//! against the real server: real PostgreSQL, real gRPC over real mTLS. The
//! harness (tests/common/windows.rs) builds the .exe once per run; without
//! the Windows target, mingw-w64 or Wine the tests say what to install and
//! skip, except in CI. Scope and limits: docs/windows-testing.md.

mod common;

use common::windows::{WindowsAgent, windows_agent};
use common::{Server, TestDb, agent_id};
use serde_json::Value;

/// The snapshot `onshi-agent.exe probe --format json` prints under Wine,
/// answered by the native Win32 collectors (the default). Wine has no card
/// reader, no certificate in the store and no SMB server (`NetShareEnum`
/// answers ERROR_NOT_SUPPORTED), so those parts are checked elsewhere or
/// only for their shape; what Wine implements is checked for content.
fn windows_probe_snapshot(agent: &WindowsAgent) -> Value {
    agent.probe_json(&[])
}

/// Collectors Wine cannot answer; any other error is a failure.
const WINE_CANNOT: [&str; 1] = ["shares"];

/// The part only the `cfg(windows)` code produces (the Linux agent reports
/// no Windows account): proof the report came from the Windows build.
fn assert_has_windows_account(accounts: &Value) {
    let accounts = accounts.as_array().expect("accounts is a list");
    assert!(
        accounts.iter().any(|a| a["kind"] == "windows"),
        "no Windows account entry: {accounts:?}"
    );
}

#[test]
fn windows_agent_probe_prints_the_snapshot_under_wine() {
    let Some(agent) = windows_agent() else {
        return;
    };
    let snapshot = windows_probe_snapshot(agent);
    for section in [
        "host",
        "reader",
        "certificate",
        "accounts",
        "network",
        "errors",
    ] {
        assert!(
            snapshot.get(section).is_some(),
            "no {section} in the snapshot:\n{snapshot:#}"
        );
    }
    assert_eq!(snapshot["source"], "live", "{snapshot:#}");
    let version = snapshot["host"]["agent_version"].as_str().unwrap_or("");
    assert!(!version.is_empty(), "no agent_version:\n{snapshot:#}");
    assert!(snapshot["errors"].is_array(), "{snapshot:#}");
    assert_has_windows_account(&snapshot["accounts"]);

    // The native collectors answered, without PowerShell (a stub in Wine).
    let host = &snapshot["host"];
    assert!(
        !host["hostname"].as_str().unwrap_or("").is_empty(),
        "{host:#}"
    );
    assert!(
        host["os"]
            .as_str()
            .unwrap_or("")
            .starts_with("Microsoft Windows"),
        "{host:#}"
    );
    assert!(host["boot_time"].is_string(), "{host:#}");
    assert!(
        host["disk_free_bytes"].as_u64().unwrap_or(0) > 0,
        "{host:#}"
    );
    assert!(host["screen_lock"]["known"] == true, "{host:#}");
    assert!(snapshot["network"]["ip_config"].is_object(), "{snapshot:#}");
    let account = &snapshot["accounts"][0];
    assert!(
        !account["name"].as_str().unwrap_or("").is_empty(),
        "the Windows account was found by NetUserEnum: {account:#}"
    );
    for e in snapshot["errors"].as_array().unwrap() {
        let probe = e["probe"].as_str().unwrap_or("");
        assert!(
            WINE_CANNOT.contains(&probe),
            "native collector {probe} failed under Wine: {e}"
        );
    }
}

/// The reader probe end to end on the Windows API: device list
/// (SetupAPI + CM_Get_DevNode_Status), process list (Toolhelp) and the
/// matching table from the config file. Wine has no face-auth reader, so
/// the table names a device Wine always has (its virtual HID device) as a
/// Canon reader, and a process Wine always runs as its software.
#[test]
fn windows_reader_probe_finds_a_configured_device_under_wine() {
    let Some(agent) = windows_agent() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    let write = |rule: &str| {
        std::fs::write(&config, format!("[probes.reader]\nmakers = [{rule}]\n")).unwrap()
    };
    let config_arg = common::windows::win_path(&config);

    write(
        r#"{ maker = "canon", device_ids = ["VID_845E&PID_0001"], processes = ["services.exe"] }"#,
    );
    let snapshot = agent.probe_json(&["--config", &config_arg]);
    let reader = &snapshot["reader"];
    assert_eq!(reader["maker"], "canon", "{snapshot:#}");
    assert_eq!(
        reader["power"], "on",
        "a present device is powered: {reader:#}"
    );
    assert_eq!(reader["software_running"], true, "{reader:#}");
    assert_eq!(
        reader["manual_power"], true,
        "Canon is switched by hand: {reader:#}"
    );
    assert_eq!(reader["device_status"], "OK", "{reader:#}");

    // A maker whose device is not there at all.
    write(
        r#"{ maker = "fujitsu", device_ids = ["VID_04C5&PID_FFFF"], processes = ["CaoraManager.exe"] }"#,
    );
    let snapshot = agent.probe_json(&[
        "--config",
        &config_arg,
        "--state-dir",
        &common::windows::win_path(dir.path()),
    ]);
    let reader = &snapshot["reader"];
    assert_ne!(reader["power"], "on", "{reader:#}");
    assert_eq!(reader["software_running"], false, "{reader:#}");
}

/// `probe --record DIR` on "Windows" writes a replay folder; the Linux
/// agent replaying it (`--probe-source DIR`) sees the same PC. This is how
/// a new fixture is made on a real オン資PC.
#[test]
fn windows_probe_record_replays_on_linux() {
    let Some(agent) = windows_agent() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("fixture");
    let live = agent.probe_json(&["--record", &common::windows::win_path(&rec)]);
    for file in [
        "os.json",
        "disk.json",
        "pnp.json",
        "tasklist.csv",
        "services.json",
        "users.json",
        "ipconfig.json",
        "screensaver.txt",
    ] {
        assert!(rec.join(file).is_file(), "{file} not recorded");
    }
    let out = std::process::Command::new(common::bin("onshi-agent"))
        .args(["probe", "--format", "json", "--probe-source"])
        .arg(&rec)
        .arg("--state-dir")
        .arg(dir.path().join("linux-state"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replay: Value = serde_json::from_slice(&out.stdout).unwrap();
    for pointer in [
        "/host/hostname",
        "/host/os",
        "/host/boot_time",
        "/host/disk_free_bytes",
        "/host/screen_lock",
        "/reader/maker",
        "/accounts/0/name",
        "/network/ip_config/addresses",
        "/network/ip_config/gateway",
    ] {
        assert_eq!(
            live.pointer(pointer),
            replay.pointer(pointer),
            "{pointer} differs between the live Windows probe and its replay"
        );
    }
}

#[tokio::test]
async fn windows_agent_enrols_and_delivers_over_mtls_under_wine() {
    let Some(agent) = windows_agent() else {
        return;
    };
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let state = tempfile::tempdir().unwrap();
    let site = "clinic-windows";

    // Enrolment: the key is made by the Windows build, the server's CA is
    // pinned by the fingerprint the administrator was given.
    let agent_id = agent.enroll(&server, site, state.path());
    let read = |name: &str| {
        std::fs::read_to_string(state.path().join(name))
            .unwrap_or_else(|e| panic!("{name} not written in the state directory: {e}"))
    };
    let key = read("client.key");
    assert!(
        key.starts_with("-----BEGIN PRIVATE KEY-----"),
        "client.key: {key:.40}"
    );
    let der = |pem: &str| {
        x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .unwrap()
            .1
            .contents
    };
    let server_ca = std::fs::read_to_string(server.ca_pem_path()).unwrap();
    assert_eq!(
        der(&read("ca.pem")),
        der(&server_ca),
        "the pinned CA is the server's"
    );
    let cert_pem = x509_parser::pem::parse_x509_pem(read("client.pem").as_bytes())
        .unwrap()
        .1;
    let cert = cert_pem.parse_x509().unwrap();
    let cn = cert.subject().iter_common_name().next().unwrap();
    assert_eq!(cn.as_str().unwrap(), agent_id);
    let key_pair = rcgen::KeyPair::from_pem(&key).unwrap();
    assert_eq!(
        cert.public_key().subject_public_key.data.as_ref(),
        key_pair.public_key_raw(),
        "the certificate is for the key made on the PC"
    );
    assert_eq!(read("site_id"), site);

    // One report over mTLS, acknowledged (exit 0), committed by the server.
    let router = format!("portal={}", server.http_addr);
    let out = agent.run_once(
        &server,
        state.path(),
        site,
        &["--target", &router, "--target", "dead=127.0.0.1:9"],
    );
    assert!(
        out.status.success(),
        "onshi-agent.exe run --once under Wine failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "client.key",
        "client.pem",
        "ca.pem",
        "agent-state.json",
        "baseline.json",
        "fingerprint.key",
    ] {
        assert!(
            state.path().join(file).is_file(),
            "{file} missing in the state directory"
        );
    }
    assert!(state.path().join("spool").is_dir(), "no spool directory");
    let saved: Value = serde_json::from_str(&read("agent-state.json")).unwrap();
    assert_eq!(saved["agent_id"], agent_id.as_str());
    assert_eq!(saved["next_seq"], 2, "one seq used: {saved}");

    let pool = db.pool().await;
    let (agent_site, acked, version, serial): (String, i64, String, Option<String>) =
        sqlx::query_as(
            "SELECT site_id, acked_seq, agent_version, cert_serial FROM agents WHERE agent_id = $1",
        )
        .bind(&agent_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(agent_site, site);
    assert_eq!(acked, 1, "the report was acknowledged");
    assert!(!version.is_empty());
    // DER pads a serial with a leading zero byte; compare the number.
    let held = cert.raw_serial_as_string().replace(':', "");
    assert_eq!(
        serial.as_deref().map(|s| s.trim_start_matches('0')),
        Some(held.trim_start_matches('0')),
        "the server recorded the certificate the agent holds"
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM report_history WHERE agent_id = $1")
        .bind(&agent_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    let (seq, report): (i64, Value) =
        sqlx::query_as("SELECT seq, report FROM site_state WHERE site_id = $1")
            .bind(site)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(seq, 1);
    assert_has_windows_account(&report["accounts"]);
    // TCP probes from the Windows build: the portal answers, port 9 does not.
    let target = |name: &str| {
        report["network"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no network target {name}: {report:#}"))
    };
    assert_eq!(target("portal")["reachable"], true, "{report:#}");
    assert_eq!(target("dead")["reachable"], false, "{report:#}");
}

/// `enroll` and `run` without `--state-dir` use the same directory,
/// `%ProgramData%\OnshiAgent\state` (issue 10: a manual enrolment once
/// stored the identity where the service never looked).
#[tokio::test]
async fn windows_enroll_then_run_with_default_state_dir_find_each_other_under_wine() {
    let Some(agent) = windows_agent() else {
        return;
    };
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    // Wine sets %ProgramData% itself (C:\ProgramData of the prefix): this
    // test is the only one that uses the default there, and starts clean.
    let state = agent.prefix.join("drive_c/ProgramData/OnshiAgent/state");
    let _ = std::fs::remove_dir_all(&state);
    let site = "clinic-windows-defaults";
    let (token, fingerprint) = server.enrolment_token(site);
    let url = server.grpc_url();
    let out = agent.run(&[
        "enroll",
        "--token",
        &token,
        "--ca-fingerprint",
        &fingerprint,
        "--server",
        &url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        state.join("client.pem").is_file(),
        "enroll stored no identity in {state:?}"
    );
    let out = agent.run(&[
        "run",
        "--once",
        "--max-attempts",
        "1",
        "--interval",
        "0.1",
        "--site-id",
        site,
        "--server",
        &url,
    ]);
    assert!(
        out.status.success(),
        "run did not find the enrolled identity: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pool = db.pool().await;
    let acked: i64 = sqlx::query_scalar("SELECT acked_seq FROM agents WHERE agent_id = $1")
        .bind(agent_id(&state))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(acked, 1);
    let _ = std::fs::remove_dir_all(&state);
}

/// `install` reads back what Task Scheduler stored. Wine 8's Task Scheduler
/// accepts the definition but keeps neither the boot trigger, nor SYSTEM,
/// nor the command (docs/windows-testing.md): exactly the case where an
/// installer must not say "installed". The agent says what is missing and
/// what to do, and removes the half-made task.
#[test]
fn windows_install_refuses_a_task_that_would_never_start_under_wine() {
    let Some(agent) = windows_agent() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, "site_id = \"clinic-task\"\n").unwrap();
    let out = agent.run(&[
        "--config",
        &common::windows::win_path(&config),
        "install",
        "--no-start",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "install claimed success: {stderr}");
    assert!(
        stderr.contains("did not store the task OnshiAgent as asked")
            && stderr.contains("the boot trigger")
            && stderr.contains("schtasks /Create"),
        "{stderr}"
    );
    let task = agent
        .prefix
        .join("drive_c/windows/system32/tasks/OnshiAgent");
    assert!(!task.exists(), "the half-made task was left behind");
}

/// The agent's own tests (spool crash and corruption tests, state file,
/// parsers over the fixtures, the probe CLI) built for Windows and run
/// under Wine: the spool's fsync, rename-over and file locking semantics
/// are Windows' there.
#[test]
fn windows_agent_unit_tests_pass_under_wine() {
    let Some(agent) = windows_agent() else {
        return;
    };
    for program in &agent.unit_tests {
        let out = agent.run_program(program, &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("test result: ok"),
            "{} failed under Wine ({}):\n{stdout}\n{}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
