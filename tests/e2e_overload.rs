//! Overload and failure isolation in the group-committing writer (issue 14), with the real
//! server and agent: a full queue answers `UNAVAILABLE` with `retry-after-seconds` and the
//! agent waits that long; a batch whose value the database refuses is split out of its group
//! and answered `INVALID_ARGUMENT` alone while the rest commit. The writer is held by a row
//! lock the test takes, so what queues behind it is known, not timed.

mod common;
mod faults;

use std::time::{Duration, Instant};

use common::{Server, TestDb, batch, report};
use onshi_proto::v1 as pb;
use sqlx::PgPool;

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metric(server: &Server, name: &str) -> f64 {
    let text = reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Backends of this database waiting for a lock (the held writer).
async fn lock_waits(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Holds `agent`'s row: the writer that takes its batch waits until the returned
/// transaction ends, and everything after it queues.
async fn hold_writer(
    pool: &PgPool,
    agent: &str,
    client: &mut onshi_proto::v1::agent_service_client::AgentServiceClient<
        tonic::transport::Channel,
    >,
) -> (
    sqlx::Transaction<'static, sqlx::Postgres>,
    tokio::task::JoinHandle<Result<tonic::Response<pb::SubmitReportsResponse>, tonic::Status>>,
) {
    let mut hold = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM agents WHERE agent_id = $1 FOR UPDATE")
        .bind(agent)
        .execute(&mut *hold)
        .await
        .unwrap();
    let mut c = client.clone();
    let request = batch(agent, vec![report(agent, "held", 1)]);
    let held = tokio::spawn(async move { c.submit_reports(request).await });
    wait_until("the writer to wait on the held row", || async move {
        lock_waits(pool).await >= 1
    })
    .await;
    (hold, held)
}

/// "retry_in=2.3s" from the agent's log, in seconds (None below a second or absent).
fn retry_in_seconds(log: &str) -> Option<f64> {
    let line = log
        .lines()
        .find(|l| l.contains("delivery failed; reports stay in the spool"))?;
    let value = line.split("retry_in=").nth(1)?.split_whitespace().next()?;
    value.strip_suffix('s')?.parse().ok()
}

#[tokio::test]
async fn a_full_queue_answers_unavailable_with_retry_after_and_the_agent_waits_that_long() {
    let db = TestDb::new().await;
    let server = Server::start_with_args(
        &db.url,
        &[
            "--ingest-writers",
            "1",
            "--ingest-queue-batches",
            "1",
            "--overload-retry-after",
            "3",
        ],
    );
    let pool = db.pool().await;
    let (held_agent, mut held_client, _d1) = server.enrolled_client("held").await;
    let (queued_agent, mut queued_client, _d2) = server.enrolled_client("queued").await;
    let (refused_agent, mut refused_client, _d3) = server.enrolled_client("refused").await;
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    let agent_id = server.enroll(faults::SITE, &state);

    let (hold, held) = hold_writer(&pool, &held_agent, &mut held_client).await;
    let request = batch(&queued_agent, vec![report(&queued_agent, "queued", 1)]);
    let queued = tokio::spawn(async move { queued_client.submit_reports(request).await });
    let s = &server;
    wait_until("the second batch to queue", || async move {
        metric(s, "onshi_ingest_queued_batches").await >= 2.0
    })
    .await;

    // The queue (one batch) is full: refused at once, with the wait in the trailer.
    let status = refused_client
        .submit_reports(batch(
            &refused_agent,
            vec![report(&refused_agent, "refused", 1)],
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let retry_after = status.metadata().get("retry-after-seconds").unwrap();
    assert_eq!(retry_after.to_str().unwrap(), "3");
    assert!(
        metric(
            &server,
            r#"onshi_reports_rejected_total{reason="overloaded"}"#
        )
        .await
            >= 1.0
    );

    // The real agent is refused the same way and waits what the server said (3 s, plus
    // up to a quarter of jitter), not its own backoff (capped at 1 s here).
    let log = root.path().join("agent.log");
    let mut agent = faults::spawn_agent(
        &server.grpc_url(),
        &state,
        &log,
        "0.2",
        &["--max-backoff", "1"],
    );
    assert!(
        agent.wait_for_log(
            "delivery failed; reports stay in the spool",
            Duration::from_secs(60)
        ),
        "{}",
        agent.log_text()
    );
    let waited = retry_in_seconds(&agent.log_text()).expect("retry_in in seconds");
    assert!(
        (3.0..=3.75).contains(&waited),
        "the agent waits the server's retry-after: {waited}"
    );

    // Released: the held and queued batches commit, the agent delivers everything.
    hold.rollback().await.unwrap();
    assert_eq!(held.await.unwrap().unwrap().into_inner().acked_seq, 1);
    assert_eq!(queued.await.unwrap().unwrap().into_inner().acked_seq, 1);
    let (p, a) = (&pool, &agent_id);
    wait_until("the agent to deliver", || async move {
        let acked: i64 = sqlx::query_scalar("SELECT acked_seq FROM agents WHERE agent_id = $1")
            .bind(a)
            .fetch_one(p)
            .await
            .unwrap();
        acked >= 3
    })
    .await;
    assert!(agent.terminate(), "SIGTERM ignored");
    faults::flush(&server.grpc_url(), &state);
    let t = faults::Tally::of(&pool, &agent_id, &state).await;
    t.check("overloaded server");
    assert_eq!(t.counted, 0, "an overload loses nothing");
}

#[tokio::test]
async fn a_batch_the_database_refuses_is_split_out_of_its_group_and_the_rest_commit() {
    let db = TestDb::new().await;
    let server = Server::start_with_args(&db.url, &["--ingest-writers", "1"]);
    let pool = db.pool().await;
    // A data exception validation does not foresee: SQLSTATE 22023 for hostnames "bad…".
    sqlx::raw_sql(
        r#"CREATE FUNCTION onshi_test_refuse() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN
                IF NEW.report->'host'->>'hostname' LIKE 'bad%' THEN
                  RAISE EXCEPTION 'hostname not acceptable' USING ERRCODE = '22023';
                END IF;
                RETURN NEW;
              END $$;
           CREATE TRIGGER onshi_test_refuse BEFORE INSERT OR UPDATE ON site_state
             FOR EACH ROW EXECUTE FUNCTION onshi_test_refuse();"#,
    )
    .execute(&pool)
    .await
    .unwrap();
    let (held_agent, mut held_client, _d0) = server.enrolled_client("held").await;
    let mut agents = Vec::new();
    for site in ["g-1", "g-bad", "g-3", "g-4"] {
        let (agent, client, dir) = server.enrolled_client(site).await;
        agents.push((site, agent, client, dir));
    }

    let (hold, held) = hold_writer(&pool, &held_agent, &mut held_client).await;
    let mut calls = Vec::new();
    for (site, agent, client, _) in &agents {
        let mut r = report(agent, site, 1);
        if *site == "g-bad" {
            r.host.as_mut().unwrap().hostname = "bad-pc".into();
        }
        let request = batch(agent, vec![r]);
        let mut client = client.clone();
        calls.push(tokio::spawn(
            async move { client.submit_reports(request).await },
        ));
    }
    let s = &server;
    wait_until("four batches to queue behind the held one", || async move {
        metric(s, "onshi_ingest_queued_batches").await >= 5.0
    })
    .await;
    hold.rollback().await.unwrap();
    held.await.unwrap().unwrap();

    for ((site, agent, _, _), call) in agents.iter().zip(calls) {
        let answer = call.await.unwrap();
        let stored: i64 =
            sqlx::query_scalar("SELECT count(*) FROM report_history WHERE agent_id = $1")
                .bind(agent)
                .fetch_one(&pool)
                .await
                .unwrap();
        if *site == "g-bad" {
            let status = answer.unwrap_err();
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
            assert!(
                status
                    .message()
                    .contains("SQLSTATE 22023: hostname not acceptable"),
                "{}",
                status.message()
            );
            assert_eq!(stored, 0, "the refused batch stores nothing");
        } else {
            assert_eq!(answer.unwrap().into_inner().acked_seq, 1, "{site}");
            assert_eq!(
                stored, 1,
                "{site} committed despite the bad batch in its group"
            );
        }
    }
    assert!(
        metric(&server, "onshi_ingest_group_splits_total").await >= 1.0,
        "the four were one group, split to find the bad batch"
    );
}
