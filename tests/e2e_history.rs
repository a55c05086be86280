//! History's background jobs against a real PostgreSQL: upgrading a database that holds
//! jsonb history (before migrations/0007) — the migration sets it aside as
//! `report_history_v1` and `ingest::legacy` converts it into lean rows, nothing lost, then
//! drops it — and partition maintenance and the conversion running on one replica at a time.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::TestDb;
use onshi_proto::v1 as pb;
use onshi_server::db::MIGRATOR;
use onshi_server::fleet::report::ReportDoc;
use onshi_server::ingest::legacy::{self, Step};
use sqlx::migrate::Migrate;

fn report(seq: u64, at: DateTime<Utc>) -> pb::Report {
    let mut r = common::report("agent-old", "site-old", seq);
    r.collected_at = Some(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    });
    r.reader = Some(pb::CardReader {
        maker: pb::ReaderMaker::Fujitsu as i32,
        power: pb::PowerState::Off as i32,
        ..Default::default()
    });
    r.network = vec![pb::NetworkTarget {
        name: "router".into(),
        reachable: true,
        latency: Some(prost_types::Duration {
            seconds: 0,
            nanos: 2_000_000,
        }),
        ..Default::default()
    }];
    r
}

#[tokio::test]
async fn jsonb_history_is_converted_to_lean_rows_and_the_old_table_dropped() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    // The schema as it was before the lean row.
    let mut conn = pool.acquire().await.unwrap();
    conn.ensure_migrations_table().await.unwrap();
    for m in MIGRATOR.iter().filter(|m| m.version < 7) {
        conn.apply(m).await.unwrap();
    }
    drop(conn);
    let now = Utc::now();
    let yesterday = now - Duration::days(1);
    let day = yesterday.date_naive();
    sqlx::raw_sql(&format!(
        "CREATE TABLE report_history_p{} PARTITION OF report_history
         FOR VALUES FROM ('{day} 00:00:00+00') TO ('{} 00:00:00+00')",
        day.format("%Y%m%d"),
        day + Duration::days(1)
    ))
    .execute(&pool)
    .await
    .unwrap();
    // Five reports of yesterday (in their day's partition), one from 40 days ago (past the
    // 30-day retention, in the default partition).
    let mut old = Vec::new();
    for seq in 1..=6u64 {
        let at = if seq == 6 {
            now - Duration::days(40)
        } else {
            yesterday
        };
        let r = report(seq, at);
        sqlx::query(
            "INSERT INTO report_history (received_at, agent_id, seq, site_id, collected_at, health, report)
             VALUES ($1::timestamptz, 'agent-old', $2, 'site-old', $1::timestamptz, 'critical', $3::jsonb)",
        )
        .bind(at.to_rfc3339())
        .bind(seq as i64)
        .bind(serde_json::to_string(&ReportDoc::from(&r)).unwrap())
        .execute(&pool)
        .await
        .unwrap();
        old.push(r);
    }

    MIGRATOR.run(&pool).await.unwrap();
    let legacy_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM report_history_v1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        legacy_rows, 6,
        "the migration keeps the jsonb history aside"
    );

    let mut steps = 0;
    let mut converted = 0;
    loop {
        match legacy::step(&pool, now, 30).await.unwrap() {
            Step::Done => break,
            Step::Converted(n) => converted += n,
            Step::Busy => panic!("nobody else converts in this database"),
        }
        steps += 1;
        assert!(steps < 20, "conversion does not end");
    }
    assert_eq!(
        converted, 5,
        "the row past retention is dropped, not converted"
    );
    let gone: bool = sqlx::query_scalar("SELECT to_regclass('report_history_v1') IS NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(gone, "the emptied table is dropped");

    let stored = common::history::stored_reports(&pool, "agent-old").await;
    assert_eq!(stored.len(), 5);
    for (s, r) in stored.iter().zip(&old) {
        assert_eq!(
            ReportDoc::from(&s.report),
            ReportDoc::from(r),
            "seq {}",
            s.seq
        );
    }
    let (power, latency, in_default): (Option<String>, Vec<Option<i32>>, i64) = sqlx::query_as(
        "SELECT reader_power, target_latency_ms,
                (SELECT count(*) FROM report_history_default)
         FROM report_history WHERE seq = 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(power.as_deref(), Some("off"));
    assert_eq!(latency, [Some(2)]);
    assert_eq!(in_default, 0, "converted rows go to their day's partition");
}

/// Replicas share these jobs through advisory locks: while one holds the lock, the others'
/// passes do nothing (and say so), then one runs.
#[tokio::test]
async fn history_jobs_run_on_one_replica_at_a_time() {
    use onshi_server::ingest::history;
    let db = TestDb::new().await;
    let pool = db.pool().await;
    MIGRATOR.run(&pool).await.unwrap();
    let now = Utc::now();
    for (lock, job) in [
        (history::MAINTENANCE_LOCK, "maintenance"),
        (legacy::CONVERSION_LOCK, "conversion"),
    ] {
        let mut other = pool.begin().await.unwrap();
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock)
            .execute(&mut *other)
            .await
            .unwrap();
        if job == "maintenance" {
            assert!(!history::maintain(&pool, now, 30).await.unwrap(), "{job}");
        } else {
            // A fresh database has an empty report_history_v1 (migration 0007 moved the
            // empty jsonb table aside).
            assert_eq!(legacy::step(&pool, now, 30).await.unwrap(), Step::Busy);
        }
        other.rollback().await.unwrap();
    }
    assert!(history::maintain(&pool, now, 30).await.unwrap());
    let partitions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
         WHERE p.relname = 'report_history'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(partitions, 5, "today, three days ahead, and the default");
    // The empty default partition, then the table, are dropped.
    for _ in 0..2 {
        assert_eq!(
            legacy::step(&pool, now, 30).await.unwrap(),
            Step::Converted(0)
        );
    }
    assert_eq!(legacy::step(&pool, now, 30).await.unwrap(), Step::Done);
}
