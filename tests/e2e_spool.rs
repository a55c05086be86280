//! The agent's spool end to end: the real agent binary is killed with
//! SIGKILL at random points while the server is down and while it delivers;
//! every report still arrives exactly once and in order. Damaged spool files
//! are skipped, counted and reported, and the agent carries on.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, TestDb, bin, free_port, run_agent_once};
use rand::Rng;
use sqlx::PgPool;

const SITE: &str = "clinic-spool";

/// The long-running agent (`run`), reporting every 0.2 s.
fn spawn_agent(url: &str, state: &Path, log: &Path) -> Child {
    let config = state.parent().unwrap().join("agent.toml");
    std::fs::write(&config, "").unwrap();
    Command::new(bin("onshi-agent"))
        .args([
            "run",
            "--interval",
            "0.2",
            "--max-backoff",
            "1",
            "--site-id",
            SITE,
            "--server",
            url,
        ])
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(state)
        .env("ONSHI_LOG", "info")
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::options()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        )
        .spawn()
        .unwrap()
}

/// One last report and delivery of everything spooled; exits 0 when the
/// server acknowledged all of it.
fn flush(url: &str, state: &Path) {
    let config = state.parent().unwrap().join("agent.toml");
    let out = Command::new(bin("onshi-agent"))
        .args([
            "run",
            "--once",
            "--max-attempts",
            "30",
            "--max-backoff",
            "2",
            "--site-id",
            SITE,
            "--server",
            url,
        ])
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "final delivery failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn kill_9(mut child: Child) {
    child.kill().unwrap(); // SIGKILL on Unix: no chance to tidy up
    child.wait().unwrap();
}

fn random_pause(rng: &mut impl Rng, lo_ms: u64, hi_ms: u64) {
    std::thread::sleep(Duration::from_millis(rng.random_range(lo_ms..hi_ms)));
}

struct History {
    seqs: Vec<i64>,
    acked: i64,
    corrupt_reported: i64,
}

async fn history(pool: &PgPool, agent: &str) -> History {
    let rows: Vec<(i64, f64, f64, i64)> = common::history::stored_reports(pool, agent)
        .await
        .iter()
        .map(|r| {
            let corrupt = r.agent_health().spool_corrupt as i64;
            (r.seq, r.received_at, r.collected_at, corrupt)
        })
        .collect();
    for w in rows.windows(2) {
        assert!(w[0].0 < w[1].0, "seq {} stored twice", w[1].0);
        assert!(
            w[0].1 <= w[1].1,
            "seq {} was stored before seq {}: not in order",
            w[1].0,
            w[0].0
        );
        assert!(
            w[0].2 < w[1].2,
            "seq {} was collected before seq {}: a seq was reused",
            w[1].0,
            w[0].0
        );
    }
    let acked: i64 = sqlx::query_scalar("SELECT acked_seq FROM agents WHERE agent_id = $1")
        .bind(agent)
        .fetch_one(pool)
        .await
        .unwrap();
    History {
        seqs: rows.iter().map(|r| r.0).collect(),
        acked,
        corrupt_reported: rows.iter().map(|r| r.3).sum(),
    }
}

fn segments(state: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(state.join("spool"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// Enrols an agent against a first server, then stops that server: the
/// agent has its identity, the data directory keeps the CA.
async fn enrolled_agent(db: &TestDb) -> (tempfile::TempDir, PathBuf, String, tempfile::TempDir) {
    let first = Server::start(&db.url);
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    let agent_id = first.enroll(SITE, &state);
    (root, state, agent_id, first.stop_keep_data())
}

#[tokio::test]
async fn kill_9_at_random_points_loses_and_duplicates_nothing() {
    let db = TestDb::new().await;
    let (root, state, agent_id, data_dir) = enrolled_agent(&db).await;
    let log = root.path().join("agent.log");
    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");
    let mut rng = rand::rng();
    let started = Instant::now();

    // The server is down: reports pile up in the spool; kill -9 anywhere.
    for _ in 0..5 {
        let agent = spawn_agent(&url, &state, &log);
        random_pause(&mut rng, 300, 1200);
        kill_9(agent);
    }
    assert!(!segments(&state).is_empty());

    // The server comes up on the address the agent knows; kill -9 again
    // while batches are in flight.
    let server = Server::start_with(&db.url, &format!("127.0.0.1:{port}"), data_dir);
    let pool = db.pool().await;
    for _ in 0..3 {
        let agent = spawn_agent(&url, &state, &log);
        random_pause(&mut rng, 200, 1500);
        kill_9(agent);
    }
    flush(&url, &state);

    let h = history(&pool, &agent_id).await;
    let n = *h.seqs.last().unwrap();
    assert!(n >= 10, "only {n} reports in {:?}", started.elapsed());
    assert_eq!(
        h.seqs,
        (1..=n).collect::<Vec<_>>(),
        "every seq exactly once\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_eq!(
        h.acked, n,
        "the server's contiguous ack reached the last report"
    );
    assert_eq!(h.corrupt_reported, 0, "kill -9 alone damages nothing");
    assert_eq!(segments(&state).len(), 1, "delivered segments were removed");
    drop(server);
    eprintln!("{n} reports, {:?}", started.elapsed());
}

#[tokio::test]
async fn damaged_spool_files_are_skipped_counted_and_reported() {
    let db = TestDb::new().await;
    let (root, state, agent_id, data_dir) = enrolled_agent(&db).await;
    let log = root.path().join("agent.log");
    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");

    let agent = spawn_agent(&url, &state, &log);
    std::thread::sleep(Duration::from_millis(2500));
    kill_9(agent);

    // Flip bytes in the middle of the spool and drop a garbage segment in.
    let seg = segments(&state).pop().unwrap();
    let mut data = std::fs::read(&seg).unwrap();
    let mid = data.len() / 2;
    for b in &mut data[mid..mid + 24] {
        *b ^= 0x5A;
    }
    std::fs::write(&seg, &data).unwrap();
    std::fs::write(
        state.join("spool").join("00000000000000000042.seg"),
        vec![0xC3; 5000],
    )
    .unwrap();

    let server = Server::start_with(&db.url, &format!("127.0.0.1:{port}"), data_dir);
    let mut agent = spawn_agent(&url, &state, &log);
    let pool = db.pool().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            agent.try_wait().unwrap().is_none(),
            "the agent must keep running after corruption"
        );
        let h = history(&pool, &agent_id).await;
        if h.corrupt_reported > 0 && h.acked > 0 && h.seqs.last() == Some(&h.acked) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "corruption never reported\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    kill_9(agent);
    flush(&url, &state);

    let h = history(&pool, &agent_id).await;
    let n = *h.seqs.last().unwrap();
    assert_eq!(
        h.acked, n,
        "abandoned seqs let the ack pass the damaged stretch"
    );
    let lost = n - h.seqs.len() as i64;
    assert!(lost >= 1, "the damaged record is really gone");
    assert!(
        h.corrupt_reported >= lost,
        "{lost} lost reports but only {} counted as corrupt",
        h.corrupt_reported
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("damaged record skipped"), "{text}");
    drop(server);
}

#[tokio::test]
async fn a_corrupt_state_file_is_rebuilt_without_reusing_a_seq() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    let agent_id = server.enroll(SITE, &state);
    for _ in 0..2 {
        let out = run_agent_once(&server, &state, SITE, &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::write(state.join("agent-state.json"), b"\x00\x00{\"agent_id\":").unwrap();

    let out = run_agent_once(&server, &state, SITE, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the agent must keep reporting: {stderr}"
    );
    assert!(stderr.contains("state file is corrupt"), "{stderr}");

    let pool = db.pool().await;
    let h = history(&pool, &agent_id).await;
    assert_eq!(
        h.seqs,
        vec![1, 2, 3],
        "same agent id, next seq, nothing reused"
    );
    let rebuilt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("agent-state.json")).unwrap()).unwrap();
    assert_eq!(rebuilt["agent_id"], agent_id.as_str());
    assert_eq!(rebuilt["next_seq"], 4);
    assert!(
        std::fs::read_dir(&state).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("agent-state.json.corrupt-")),
        "the damaged file is kept for inspection"
    );
}

/// `enroll` and `run` without `--state-dir` use the same directory (on
/// Linux the one systemd's `StateDirectory=` names in `$STATE_DIRECTORY`).
#[tokio::test]
async fn enroll_then_run_with_the_default_state_dir_find_each_other() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    let config = root.path().join("agent.toml");
    std::fs::write(&config, "").unwrap();
    let (token, fingerprint) = server.enrolment_token(SITE);
    let agent = |args: &[&str]| {
        Command::new(bin("onshi-agent"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .env_remove("ONSHI_STATE_DIR")
            .env("STATE_DIRECTORY", &state)
            .output()
            .unwrap()
    };
    let url = server.grpc_url();
    let out = agent(&[
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
    let out = agent(&[
        "run",
        "--once",
        "--max-attempts",
        "1",
        "--interval",
        "0.1",
        "--site-id",
        SITE,
        "--server",
        &url,
    ]);
    assert!(
        out.status.success(),
        "run did not find the enrolled identity: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pool = db.pool().await;
    let h = history(&pool, &common::agent_id(&state)).await;
    assert_eq!(h.seqs, vec![1]);
}

/// A report the server refuses as invalid (here a site id with characters
/// the contract does not allow) is set aside, not retried forever: the
/// next report goes through, carries the count, and the ack passes the gap.
#[tokio::test]
async fn a_report_the_server_refuses_is_set_aside_counted_and_reported() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    let agent_id = server.enroll(SITE, &state);
    let out = run_agent_once(&server, &state, "bad site!", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a refused report is not a success: {stderr}"
    );
    assert!(stderr.contains("set aside"), "{stderr}");
    assert!(state.join("spool/rejected").read_dir().unwrap().count() == 1);

    let out = run_agent_once(&server, &state, SITE, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pool = db.pool().await;
    let h = history(&pool, &agent_id).await;
    assert_eq!(h.seqs, vec![2], "seq 1 was refused, seq 2 stored");
    assert_eq!(h.acked, 2, "the ack passed the refused seq");
    let stored = common::history::stored_reports(&pool, &agent_id).await;
    let rejected = stored[0].agent_health().spool_rejected;
    assert_eq!(rejected, 1, "reported upstream");
}
