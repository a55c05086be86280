//! End to end: the real agent and server binaries, real TLS, real Postgres.

mod common;

use common::{Server, TestDb, batch, report, run_agent_once};
use onshi_proto::v1 as pb;

async fn history_count(pool: &sqlx::PgPool, agent: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM report_history WHERE agent_id = $1")
        .bind(agent)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn agent_report_reaches_site_state_and_portal() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let state = tempfile::tempdir().unwrap();
    let cert = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/agent/tests/fixtures/client-cert.pem"
    );
    let router = format!("router={}", server.http_addr);
    let out = run_agent_once(
        &server,
        state.path(),
        "clinic-0001",
        &[
            "--target",
            &router,
            "--target",
            "dead=127.0.0.1:9",
            "--cert-file",
            cert,
        ],
    );
    assert!(
        out.status.success(),
        "agent failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let pool = db.pool().await;
    let (health, report): (String, serde_json::Value) =
        sqlx::query_as("SELECT health, report FROM site_state WHERE site_id = 'clinic-0001'")
            .fetch_one(&pool)
            .await
            .unwrap();
    // The dead target makes the site red; the reachable router is measured.
    assert_eq!(health, "critical");
    let network = report["network"].as_array().unwrap();
    assert_eq!(network[0]["name"], "router");
    assert_eq!(network[0]["reachable"], true);
    assert_eq!(network[1]["reachable"], false);
    assert!(
        report["certificate"]["not_after"]
            .as_str()
            .unwrap()
            .starts_with("2027-12-30")
    );
    assert!(!report["host"]["hostname"].as_str().unwrap().is_empty());

    // The site's state follows its incidents: red once the incident worker has opened
    // `network_unreachable` for the dead target (polled, bounded; no timing asserted).
    let viewer = server.session("viewer1", "viewer").await;
    let mut page = String::new();
    for _ in 0..600 {
        page = viewer
            .get(server.http("/sites"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.contains(r#"data-site-id="clinic-0001" data-state="critical""#) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        page.contains(r#"data-site-id="clinic-0001" data-state="critical""#),
        "{page}"
    );
    assert!(page.contains("サイト一覧"));

    let metrics = reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("onshi_reports_ingested_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("onshi_connected_agents 1"), "{metrics}");
    assert!(
        metrics.contains("onshi_ingest_batch_duration_seconds_count 1"),
        "{metrics}"
    );

    let ready = reqwest::get(server.http("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        reqwest::get(server.http("/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn replays_are_stored_once_and_out_of_order_seqs_are_acked_contiguously() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let pool = db.pool().await;
    let (a, mut client, _identity) = server.enrolled_client("s1").await;
    let a = a.as_str();

    let first = batch(a, vec![report(a, "s1", 1), report(a, "s1", 2)]);
    let ack = client
        .submit_reports(first.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ack.acked_seq, ack.stored, ack.duplicates), (2, 2, 0));
    let ack = client.submit_reports(first).await.unwrap().into_inner();
    assert_eq!((ack.acked_seq, ack.stored, ack.duplicates), (2, 0, 2));
    assert_eq!(history_count(&pool, a).await, 2);

    // 4 before 3: stored, but the ack waits for the gap to close.
    let ack = client
        .submit_reports(batch(a, vec![report(a, "s1", 4)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ack.acked_seq, ack.stored), (2, 1));
    let ack = client
        .submit_reports(batch(a, vec![report(a, "s1", 4)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ack.acked_seq, ack.stored, ack.duplicates), (2, 0, 1));
    let ack = client
        .submit_reports(batch(a, vec![report(a, "s1", 3)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ack.acked_seq, ack.stored), (4, 1));
    assert_eq!(history_count(&pool, a).await, 4);

    // A late, older report does not move the site's state backwards.
    let seq: i64 = sqlx::query_scalar("SELECT seq FROM site_state WHERE site_id = 's1'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(seq, 4);

    // Abandoned seqs (dropped by the agent) let the ack pass the gap.
    let mut skip = batch(a, vec![report(a, "s1", 7)]);
    skip.abandoned_through = 6;
    let ack = client.submit_reports(skip).await.unwrap().into_inner();
    assert_eq!((ack.acked_seq, ack.stored), (7, 1));
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM agent_pending_seqs WHERE agent_id = $1")
            .bind(a)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(pending, 0, "pending seqs are forgotten once acked");
}

#[tokio::test]
async fn no_ack_when_the_transaction_fails() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let pool = db.pool().await;
    // Make every history insert fail, as a full disk or a broken table would.
    sqlx::raw_sql(
        "CREATE FUNCTION onshi_test_fail() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'simulated storage failure'; END $$;
         CREATE TRIGGER onshi_test_fail BEFORE INSERT ON report_history_default
           FOR EACH ROW EXECUTE FUNCTION onshi_test_fail();
         CREATE TRIGGER onshi_test_fail_p BEFORE INSERT ON site_state
           FOR EACH ROW EXECUTE FUNCTION onshi_test_fail();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let partitions: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'report_history'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for p in &partitions {
        sqlx::raw_sql(&format!(
            "CREATE OR REPLACE TRIGGER onshi_test_fail BEFORE INSERT ON {p} FOR EACH ROW EXECUTE FUNCTION onshi_test_fail()"
        ))
        .execute(&pool)
        .await
        .unwrap();
    }

    // The real agent gets an error and exits non-zero: no ack.
    let state = tempfile::tempdir().unwrap();
    let out = run_agent_once(&server, state.path(), "site-fail", &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did not acknowledge"), "{stderr}");

    // Over the wire: UNAVAILABLE, nothing stored, ack not advanced.
    let (a, mut client, _identity) = server.enrolled_client("site-fail").await;
    let a = a.as_str();
    let request = batch(a, vec![report(a, "site-fail", 1)]);
    let status = client.submit_reports(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(history_count(&pool, a).await, 0);
    let acked: i64 = sqlx::query_scalar("SELECT max(acked_seq) FROM agents")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(acked, 0, "the whole transaction rolled back");
    assert!(server.wait_for_log("report batch not committed"));

    // Once storage recovers, the same batch is accepted and acknowledged.
    sqlx::raw_sql("DROP FUNCTION onshi_test_fail() CASCADE")
        .execute(&pool)
        .await
        .unwrap();
    let ack = client.submit_reports(request).await.unwrap().into_inner();
    assert_eq!((ack.acked_seq, ack.stored), (1, 1));
}

#[tokio::test]
async fn bad_input_is_rejected_clearly_and_the_server_keeps_serving() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let pool = db.pool().await;
    let (a, mut client, _identity) = server.enrolled_client("s-bad").await;
    let a = a.as_str();

    let mut negative = report(a, "s-bad", 1);
    negative.network.push(pb::NetworkTarget {
        name: "router".into(),
        address: "10.51.1.1:443".into(),
        reachable: true,
        latency: Some(prost_types::Duration {
            seconds: -3,
            nanos: 0,
        }),
        error: String::new(),
    });
    let mut year_10000 = report(a, "s-bad", 1);
    year_10000.certificate = Some(pb::ClientCertificate {
        present: true,
        not_after: Some(prost_types::Timestamp {
            seconds: 253_402_300_800,
            nanos: 0,
        }),
        ..Default::default()
    });
    let mut oversized = report(a, "s-bad", 1);
    oversized.host.as_mut().unwrap().os = "x".repeat(10_000);
    let mut missing = report(a, "s-bad", 1);
    missing.collected_at = None;
    let forged = report("someone-else", "s-bad", 1);

    let cases = [
        (negative, "network[0].latency is negative"),
        (year_10000, "certificate.not_after is out of range"),
        (oversized, "host.os is 10000 bytes"),
        (missing, "collected_at is missing"),
        (forged, "differs from the batch"),
    ];
    for (bad, expected) in cases {
        let status = client
            .submit_reports(batch(a, vec![bad]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains(expected),
            "{} vs {expected}",
            status.message()
        );
    }
    assert!(server.wait_for_log("rejected report batch; nothing stored"));

    // A 10 MB message is refused before it is decoded.
    let mut huge = report(a, "s-bad", 1);
    huge.host.as_mut().unwrap().os = "x".repeat(10 * 1024 * 1024);
    let status = client
        .submit_reports(batch(a, vec![huge]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("too large") || status.message().contains("limit"),
        "{}",
        status.message()
    );
    assert!(server.wait_for_log("gRPC call failed"));

    assert_eq!(
        history_count(&pool, a).await,
        0,
        "nothing from rejected batches is stored"
    );

    // Still serving: a good report goes through on the same connection.
    let ack = client
        .submit_reports(batch(a, vec![report(a, "s-bad", 1)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.acked_seq, 1);
}

#[tokio::test]
async fn plaintext_client_is_refused_and_sigterm_stops_gracefully() {
    let db = TestDb::new().await;
    let mut server = Server::start(&db.url);
    let plain = tonic::transport::Channel::from_shared(format!("http://{}", server.grpc_addr))
        .unwrap()
        .connect()
        .await;
    let refused = match plain {
        Err(_) => true,
        Ok(channel) => pb::agent_service_client::AgentServiceClient::new(channel)
            .submit_reports(batch("a", vec![report("a", "s", 1)]))
            .await
            .is_err(),
    };
    assert!(refused, "plaintext gRPC must not be served");
    let status = server.terminate();
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );
}

async fn metrics_text(server: &Server) -> String {
    reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn nul_in_a_report_string_is_refused_naming_the_field_and_later_reports_pass() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let pool = db.pool().await;
    let (a, mut client, _identity) = server.enrolled_client("s-nul").await;
    let a = a.as_str();

    let mut hostname = report(a, "s-nul", 1);
    hostname.host.as_mut().unwrap().hostname = "pc\u{0}x".into();
    let mut share = report(a, "s-nul", 1);
    share.shares.push(pb::Share {
        name: "fa\u{0}ce".into(),
        exists: true,
        shared: true,
    });
    let mut network = report(a, "s-nul", 2);
    network.network.push(pb::NetworkTarget {
        name: "router".into(),
        error: "refused\u{0}".into(),
        ..Default::default()
    });
    let cases = [
        (
            vec![hostname],
            "report seq 1: host.hostname contains a NUL character",
        ),
        (
            vec![share],
            "report seq 1: shares[0].name contains a NUL character",
        ),
        // One bad report refuses the whole batch: nothing of it is stored.
        (
            vec![report(a, "s-nul", 1), network],
            "report seq 2: network[0].error contains a NUL character",
        ),
    ];
    for (reports, expected) in cases {
        let status = client.submit_reports(batch(a, reports)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert_eq!(status.message(), expected);
    }
    assert_eq!(history_count(&pool, a).await, 0);
    assert!(server.wait_for_log("contains a NUL character"));
    let metrics = metrics_text(&server).await;
    assert!(
        metrics.contains(r#"onshi_reports_rejected_total{reason="invalid"} 3"#),
        "{metrics}"
    );

    // The PC is not blocked: its next reports are stored.
    let ack = client
        .submit_reports(batch(a, vec![report(a, "s-nul", 1), report(a, "s-nul", 2)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ack.acked_seq, ack.stored), (2, 2));
}

#[tokio::test]
async fn abandoned_through_is_bounded_and_same_batch_reports_are_stored() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let pool = db.pool().await;
    let (a, mut client, _identity) = server.enrolled_client("s-ab").await;
    let a = a.as_str();

    // Seqs 3 and 4 were lost; 1, 2 and 5 arrive in the batch that says so.
    let mut lost = batch(
        a,
        vec![
            report(a, "s-ab", 1),
            report(a, "s-ab", 2),
            report(a, "s-ab", 5),
        ],
    );
    lost.abandoned_through = 4;
    let ack = client.submit_reports(lost).await.unwrap().into_inner();
    assert_eq!((ack.acked_seq, ack.stored, ack.duplicates), (5, 3, 0));
    assert_eq!(history_count(&pool, a).await, 3);

    // 9 pending (gap at 6..8). Abandoning through 9 is allowed; through 10
    // (nothing seen above 9 and the batch's highest is 6) or 2^63-1 is not.
    let ack = client
        .submit_reports(batch(a, vec![report(a, "s-ab", 9)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.acked_seq, 5);
    for abandoned in [10, i64::MAX as u64] {
        let mut far = batch(a, vec![report(a, "s-ab", 6)]);
        far.abandoned_through = abandoned;
        let status = client.submit_reports(far).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains(&format!(
                "abandoned_through {abandoned} is above 9, the highest seq received"
            )),
            "{}",
            status.message()
        );
    }
    assert_eq!(
        history_count(&pool, a).await,
        4,
        "a refused batch stores nothing"
    );
    let metrics = metrics_text(&server).await;
    assert!(
        metrics.contains(r#"onshi_reports_rejected_total{reason="abandoned_through"} 2"#),
        "{metrics}"
    );

    // Later reports are stored, not swallowed as "duplicates".
    let mut ok = batch(a, vec![report(a, "s-ab", 6)]);
    ok.abandoned_through = 8;
    let ack = client.submit_reports(ok).await.unwrap().into_inner();
    assert_eq!((ack.acked_seq, ack.stored, ack.duplicates), (9, 1, 0));
    let ack = client
        .submit_reports(batch(a, vec![report(a, "s-ab", 10)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ack.acked_seq, ack.stored, ack.duplicates), (10, 1, 0));
    assert_eq!(history_count(&pool, a).await, 6);
}

#[tokio::test]
async fn probe_errors_are_stored_with_the_report() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let pool = db.pool().await;
    let (a, mut client, _identity) = server.enrolled_client("s-probe").await;
    let a = a.as_str();

    let mut r = report(a, "s-probe", 1);
    r.agent = Some(pb::AgentHealth {
        spool_bytes: 8192,
        probe_errors: vec!["reader: timed out after 5 s".into()],
        ..Default::default()
    });
    let mut too_many = r.clone();
    too_many.agent.as_mut().unwrap().probe_errors = vec!["x: y".into(); 17];
    let status = client
        .submit_reports(batch(a, vec![too_many]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status
            .message()
            .contains("agent.probe_errors has 17 entries")
    );

    client.submit_reports(batch(a, vec![r])).await.unwrap();
    let state: serde_json::Value =
        sqlx::query_scalar("SELECT report FROM site_state WHERE site_id = 's-probe'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        state["agent"]["probe_errors"][0],
        "reader: timed out after 5 s"
    );
    assert_eq!(state["agent"]["spool_bytes"], 8192);
    let stored = common::history::stored_reports(&pool, a).await;
    let history = stored.last().unwrap().agent_health();
    assert_eq!(history.probe_errors, ["reader: timed out after 5 s"]);
    assert_eq!(history.spool_bytes, 8192);
    let count: i16 =
        sqlx::query_scalar("SELECT probe_errors FROM report_history WHERE agent_id = $1")
            .bind(a)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(count, 1, "the typed column counts them");
}

#[tokio::test]
async fn a_value_the_database_refuses_is_invalid_argument_not_retry_later() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let pool = db.pool().await;
    let (a, mut client, _identity) = server.enrolled_client("s-data").await;
    let a = a.as_str();
    // A data exception that validation does not foresee (as jsonb's refusal of
    // \u0000 was): SQLSTATE 22023 for hostnames starting "bad".
    sqlx::raw_sql(
        r#"CREATE FUNCTION onshi_test_refuse() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN
                IF NEW.report->'host'->>'hostname' LIKE 'bad%' THEN
                  RAISE EXCEPTION 'hostname not acceptable' USING ERRCODE = '22023';
                END IF;
                RETURN NEW;
              END $$;
           CREATE TRIGGER onshi_test_refuse BEFORE INSERT ON site_state
             FOR EACH ROW EXECUTE FUNCTION onshi_test_refuse();"#,
    )
    .execute(&pool)
    .await
    .unwrap();

    let mut bad = report(a, "s-data", 1);
    bad.host.as_mut().unwrap().hostname = "bad-pc".into();
    let status = client
        .submit_reports(batch(a, vec![bad]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .contains("SQLSTATE 22023: hostname not acceptable"),
        "{}",
        status.message()
    );
    assert_eq!(
        history_count(&pool, a).await,
        0,
        "the transaction rolled back"
    );
    assert!(server.wait_for_log("database refused a value"));
    let metrics = metrics_text(&server).await;
    assert!(
        metrics.contains(r#"onshi_reports_rejected_total{reason="database_data"} 1"#),
        "{metrics}"
    );
    let ack = client
        .submit_reports(batch(a, vec![report(a, "s-data", 1)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ack.acked_seq, ack.stored), (1, 1));
}

/// The lean history row (migrations/0007, contract in docs/SCALING.md): the protobuf report
/// and the typed columns the console's charts read, as the agent said them.
#[tokio::test]
async fn history_rows_carry_the_contract_columns() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let pool = db.pool().await;
    let (a, mut client, _identity) = server.enrolled_client("s-lean").await;
    let a = a.as_str();

    let mut r = report(a, "s-lean", 1);
    r.host.as_mut().unwrap().boot_time = Some(prost_types::Timestamp {
        seconds: 1_764_633_600,
        nanos: 0,
    });
    r.reader = Some(pb::CardReader {
        maker: pb::ReaderMaker::Almex as i32,
        power: pb::PowerState::Off as i32,
        ..Default::default()
    });
    let target = |name: &str, reachable: bool, nanos: i32| pb::NetworkTarget {
        name: name.into(),
        address: "10.0.0.1:443".into(),
        reachable,
        latency: Some(prost_types::Duration { seconds: 0, nanos }),
        ..Default::default()
    };
    r.network = vec![
        target("router", true, 3_200_000),
        target("onshi-endpoint", false, 0),
        target("say \"NULL\", {x}", true, 40_000_000),
    ];
    r.agent = Some(pb::AgentHealth {
        probe_errors: vec!["a: b".into(), "c: d".into()],
        ..Default::default()
    });
    let mut no_reader = report(a, "s-lean", 2);
    no_reader.reader = Some(pb::CardReader {
        maker: pb::ReaderMaker::None as i32,
        power: pb::PowerState::Absent as i32,
        ..Default::default()
    });
    let ack = client
        .submit_reports(batch(a, vec![r.clone(), no_reader]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.acked_seq, 2);

    type Row = (
        String,
        Option<String>,
        Option<f64>,
        Vec<String>,
        Vec<bool>,
        Vec<Option<i32>>,
        i16,
        String,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT site_id, reader_power, extract(epoch FROM boot_time)::float8, target_names,
                target_reachable, target_latency_ms, probe_errors, health
         FROM report_history WHERE agent_id = $1 ORDER BY seq",
    )
    .bind(a)
    .fetch_all(&pool)
    .await
    .unwrap();
    let (site, power, boot, names, reachable, latency, probe_errors, health) = &rows[0];
    assert_eq!(site, "s-lean");
    assert_eq!(power.as_deref(), Some("off"));
    assert_eq!(*boot, Some(1_764_633_600.0));
    assert_eq!(names, &["router", "onshi-endpoint", "say \"NULL\", {x}"]);
    assert_eq!(reachable, &[true, false, true]);
    assert_eq!(latency, &[Some(3), None, Some(40)]);
    assert_eq!(*probe_errors, 2);
    assert_eq!(health, "critical", "a reader switched off");
    assert_eq!(rows[1].1, None, "no reader: NULL");
    assert!(rows[1].3.is_empty() && rows[1].5.is_empty());

    let stored = common::history::stored_reports(&pool, a).await;
    assert_eq!(
        stored[0].report, r,
        "the report as validated, protobuf-encoded"
    );
}
