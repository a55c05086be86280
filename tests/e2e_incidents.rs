//! The incident engine across real server processes: an incident is never lost when the
//! server dies between a report's commit and its evaluation, and two servers sweeping the
//! same database open each incident once.

mod common;

use std::time::{Duration, Instant};

use common::{Server, TestDb, batch, report};
use onshi_proto::v1 as pb;
use sqlx::PgPool;

const ALWAYS_OPEN: &str = "{[0,10080)}";

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn open_incidents(pool: &PgPool, site: &str, rule: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM incidents WHERE site_id = $1 AND rule = $2 AND state <> 'resolved'",
    )
    .bind(site)
    .bind(rule)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_incident_survives_kill_9_between_the_report_and_its_evaluation() {
    let db = TestDb::new().await;
    // The first server commits reports but never evaluates them (worker off): the kill -9
    // falls exactly between the report's commit and the incident's creation.
    let first = Server::start_with_args(&db.url, &["--incident-worker", "off"]);
    let (agent, mut client, _dir) = first.enrolled_client("kill9").await;
    let pool = db.pool().await;
    sqlx::query("UPDATE sites SET week_hours = $1::int4multirange WHERE site_id = 'kill9'")
        .bind(ALWAYS_OPEN)
        .execute(&pool)
        .await
        .unwrap();
    let mut r = report(&agent, "kill9", 1);
    r.reader = Some(pb::CardReader {
        maker: pb::ReaderMaker::Fujitsu as i32,
        power: pb::PowerState::Off as i32,
        ..Default::default()
    });
    let ack = client
        .submit_reports(batch(&agent, vec![r]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.acked_seq, 1, "acknowledged, so committed");
    let owed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM incident_eval_queue WHERE site_id = 'kill9'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        owed, 1,
        "the evaluation is owed in the same transaction as the report"
    );
    assert_eq!(open_incidents(&pool, "kill9", "reader_off").await, 0);
    let data_dir = {
        let mut first = first;
        first.kill9();
        std::mem::replace(&mut first.data_dir, tempfile::tempdir().unwrap())
    };

    let second = Server::start_with(&db.url, "127.0.0.1:0", data_dir);
    wait_until("the reader_off incident after restart", || async {
        open_incidents(&pool, "kill9", "reader_off").await == 1
    })
    .await;
    drop(second);
}

#[tokio::test]
async fn two_servers_sweeping_one_database_open_each_offline_incident_once() {
    let db = TestDb::new().await;
    let pool = {
        // Migrate through a first server, then seed silent sites that are open around the clock.
        let boot = Server::start(&db.url);
        let pool = db.pool().await;
        for i in 0..30 {
            let site = format!("quiet-{i:02}");
            let out = boot.admin(&["site", "add", "--site-id", &site, "--name", &site]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            sqlx::query("UPDATE sites SET week_hours = $2::int4multirange WHERE site_id = $1;")
                .bind(&site)
                .bind(ALWAYS_OPEN)
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO site_state (site_id, agent_id, seq, collected_at, received_at, health, report)
                 VALUES ($1, 'a', 1, now() - interval '2 hours', now() - interval '2 hours', 'ok', '{}')",
            )
            .bind(&site)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool
    };
    sqlx::query("DELETE FROM incident_eval_queue")
        .execute(&pool)
        .await
        .unwrap();
    let args = ["--sweep-interval-seconds", "1"];
    let a = Server::start_with_args(&db.url, &args);
    let b = Server::start_with_args(&db.url, &args);
    wait_until("30 offline incidents", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM incidents WHERE rule = 'offline'")
            .fetch_one(&pool)
            .await
            .unwrap();
        n >= 30
    })
    .await;
    // Several more sweeps by both: still exactly one per site.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let per_site: Vec<i64> = sqlx::query_scalar(
        "SELECT count(*) FROM incidents WHERE rule = 'offline' GROUP BY site_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(per_site.len(), 30);
    assert!(per_site.iter().all(|n| *n == 1), "{per_site:?}");
    drop((a, b));
}
