//! The load generator as a correctness check of group commit (issue 14):
//! a few agents send for a few seconds through the real server (mTLS,
//! group-committing writer, real PostgreSQL); every acknowledged report is
//! stored exactly once. Correctness only: no timing assertions.

mod common;

use std::process::Command;

use common::{TestDb, bin};

/// Runs `onshi-server loadgen` with `extra` and returns its stdout lines.
fn loadgen(db: &TestDb, extra: &[&str]) -> Vec<String> {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(bin("onshi-server"))
        .env("DATABASE_URL", &db.url)
        .env("ONSHI_LOG", "warn")
        .arg("loadgen")
        .args(["--data-dir", data.path().to_str().unwrap()])
        .args(["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "loadgen failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().map(str::to_owned).collect()
}

fn field(lines: &[String], key: &str) -> u64 {
    lines
        .iter()
        .flat_map(|l| l.split_whitespace())
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {lines:?}"))
        .trim_end_matches('s')
        .parse::<f64>()
        .unwrap() as u64
}

/// Every agent's rows are exactly its seqs 1..=acked_seq, once each, and
/// their total is what the load generator counted as acknowledged.
async fn assert_stored_once(db: &TestDb, acknowledged: u64) {
    let pool = db.pool().await;
    let per_agent: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT a.agent_id, a.acked_seq, count(h.seq), count(DISTINCT h.seq), coalesce(max(h.seq), 0)
         FROM agents a LEFT JOIN report_history h ON h.agent_id = a.agent_id
         WHERE a.agent_id LIKE 'load-%' GROUP BY a.agent_id, a.acked_seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!per_agent.is_empty());
    let mut total = 0;
    for (agent, acked, rows, distinct, max_seq) in &per_agent {
        assert_eq!(rows, distinct, "{agent}: a seq stored twice");
        assert_eq!(rows, acked, "{agent}: rows vs acked_seq");
        assert_eq!(max_seq, acked, "{agent}: a gap below acked_seq");
        total += *rows as u64;
    }
    assert_eq!(total, acknowledged, "rows stored vs reports acknowledged");
}

#[tokio::test(flavor = "multi_thread")]
async fn fixed_batches_are_stored_exactly_once() {
    let db = TestDb::new().await;
    let lines = loadgen(
        &db,
        &["--agents", "6", "--batches", "5", "--batch-size", "3"],
    );
    assert!(
        lines.last().unwrap().starts_with("reports_per_sec="),
        "{lines:?}"
    );
    assert_eq!(field(&lines, "reports"), 6 * 5 * 3);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("bare_copy_rows_per_sec=")),
        "{lines:?}"
    );
    assert_stored_once(&db, 6 * 5 * 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn paced_run_for_a_duration_is_stored_exactly_once() {
    let db = TestDb::new().await;
    let lines = loadgen(&db, &["--agents", "8", "--duration", "3", "--rate", "40"]);
    assert!(
        lines.last().unwrap().starts_with("reports_per_sec="),
        "{lines:?}"
    );
    let acknowledged = field(&lines, "reports");
    assert!(acknowledged > 0, "{lines:?}");
    assert_stored_once(&db, acknowledged).await;
}

/// SIGTERM stops a long run after the batches in flight, with the figures, and stops its
/// servers: every acknowledged report is stored once.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_after_the_batches_in_flight_and_prints_the_figures() {
    use std::time::{Duration, Instant};
    let db = TestDb::new().await;
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin("onshi-server"))
        .env("DATABASE_URL", &db.url)
        .env("ONSHI_LOG", "warn")
        .arg("loadgen")
        .args(["--data-dir", data.path().to_str().unwrap()])
        .args(["--agents", "4", "--duration", "3600", "--rate", "40"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pool = db.pool().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM report_history")
            .fetch_one(&pool)
            .await
            .unwrap_or(0);
        if stored >= 8 {
            break;
        }
        assert!(Instant::now() < deadline, "the load generator never sent");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "SIGTERM did not stop the load generator"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status:?}");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let lines: Vec<String> = out.lines().map(str::to_owned).collect();
    assert!(
        lines.last().unwrap().starts_with("reports_per_sec="),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("server_peak_rss_mb=")),
        "{lines:?}"
    );
    let acknowledged = field(&lines, "reports");
    assert!(acknowledged >= 8, "{lines:?}");
    assert_stored_once(&db, acknowledged).await;
    // Their sessions end (a backend leaves pg_stat_activity a moment after its client).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sessions: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'onshi-server'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if sessions == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "its servers did not stop");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
