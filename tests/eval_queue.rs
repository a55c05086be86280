//! The incident evaluation queue (migrations/0012): ingest never waits for the worker's
//! claim, one evaluation answers every report a site owed, and the queue holds about one
//! waiting entry per site however many reports arrive. Real server, real PostgreSQL; the
//! server's own worker is off so the test drives the worker.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{Server, TestDb, batch, report};
use onshi_proto::v1 as pb;
use onshi_server::incidents::lifecycle::Policy;
use onshi_server::incidents::worker;
use sqlx::PgPool;

fn reader_off(agent: &str, site: &str, seq: u64) -> pb::Report {
    let mut r = report(agent, site, seq);
    r.reader = Some(pb::CardReader {
        maker: pb::ReaderMaker::Fujitsu as i32,
        power: pb::PowerState::Off as i32,
        ..Default::default()
    });
    r
}

/// Reader-off is a problem only while the site is open: open around the clock.
async fn always_open(pool: &PgPool, site: &str) {
    sqlx::query("UPDATE sites SET week_hours = '{[0,10080)}'::int4multirange WHERE site_id = $1")
        .bind(site)
        .execute(pool)
        .await
        .unwrap();
}

async fn queued(pool: &PgPool, site: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM incident_eval_queue WHERE site_id = $1")
        .bind(site)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_claim_never_blocks_ingest_and_one_evaluation_answers_both_entries() {
    let db = TestDb::new().await;
    let server = Server::start_with_args(&db.url, &["--incident-worker", "off"]);
    let pool = db.pool().await;
    let (a, mut client, _dir) = server.enrolled_client("q-claim").await;
    always_open(&pool, "q-claim").await;
    client
        .submit_reports(batch(&a, vec![reader_off(&a, "q-claim", 1)]))
        .await
        .unwrap();
    assert_eq!(queued(&pool, "q-claim").await, 1);

    // A worker pass has claimed the site and deleted its entry (as it does before it
    // commits), and holds that while the next report arrives.
    let mut pass = pool.begin().await.unwrap();
    let claim = worker::claim(&mut pass, worker::BATCH).await.unwrap();
    assert_eq!(claim.entries(), 1);
    let ids: Vec<i64> = claim
        .sites
        .values()
        .flat_map(|(ids, _)| ids.clone())
        .collect();
    sqlx::query("DELETE FROM incident_eval_queue WHERE entry_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *pass)
        .await
        .unwrap();
    // Before migration 0012 this call waited for `pass` to end: a 60 s deadline fails it.
    let ack = tokio::time::timeout(
        Duration::from_secs(60),
        client.submit_reports(batch(&a, vec![reader_off(&a, "q-claim", 2)])),
    )
    .await
    .expect("ingest waited for the worker's claim")
    .unwrap()
    .into_inner();
    assert_eq!(ack.acked_seq, 2, "committed while the claim is held");
    assert_eq!(
        queued(&pool, "q-claim").await,
        2,
        "the claimed entry was skipped and a new one appended"
    );
    // The pass fails (say its server died): its entry comes back, nothing is lost.
    pass.rollback().await.unwrap();

    let drained = worker::drain_once(&pool, &Policy::default(), Utc::now())
        .await
        .unwrap();
    assert_eq!((drained.sites, drained.entries), (1, 2), "{drained:?}");
    assert_eq!(queued(&pool, "q-claim").await, 0);
    let (count, last_seq): (i64, i64) = sqlx::query_as(
        "SELECT count, last_seq FROM incidents WHERE site_id = 'q-claim' AND rule = 'reader_off'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((count, last_seq), (1, 2), "opened from the latest report");
}

#[tokio::test]
async fn reports_waiting_for_evaluation_share_one_entry_and_are_all_counted() {
    let db = TestDb::new().await;
    let server = Server::start_with_args(&db.url, &["--incident-worker", "off"]);
    let pool = db.pool().await;
    let (a, mut client, _dir) = server.enrolled_client("q-many").await;
    always_open(&pool, "q-many").await;
    client
        .submit_reports(batch(&a, vec![reader_off(&a, "q-many", 1)]))
        .await
        .unwrap();
    let first = worker::drain_once(&pool, &Policy::default(), Utc::now())
        .await
        .unwrap();
    assert_eq!(first.applied.opened.len(), 1);

    // The worker falls behind: 20 reports while it does nothing.
    for seq in 2..=21 {
        client
            .submit_reports(batch(&a, vec![reader_off(&a, "q-many", seq)]))
            .await
            .unwrap();
    }
    assert_eq!(
        queued(&pool, "q-many").await,
        1,
        "one waiting entry per site, not one per report"
    );
    let drained = worker::drain_once(&pool, &Policy::default(), Utc::now())
        .await
        .unwrap();
    assert_eq!((drained.sites, drained.entries), (1, 1));
    let (count, last_seq): (i64, i64) = sqlx::query_as(
        "SELECT count, last_seq FROM incidents WHERE site_id = 'q-many' AND rule = 'reader_off'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (count, last_seq),
        (21, 21),
        "one evaluation counts every report since the last"
    );
    assert_eq!(queued(&pool, "q-many").await, 0);
}
