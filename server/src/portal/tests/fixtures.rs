//! Rows the console page tests start from, written through the owners where there is one
//! (`sites::store`), else as the ingest and the incident engine would leave them.

use chrono::{DateTime, Duration, Utc};

use super::Harness;
use crate::fleet::report::{CertificateDoc, ReaderDoc, ReportDoc, TargetDoc};
use crate::sites::{Actor, SiteInput};

pub async fn site(h: &Harness, input: SiteInput) {
    let mut tx = h.pool.begin().await.unwrap();
    let by = Actor {
        actor: "test",
        remote: "",
    };
    crate::sites::store::create(&mut tx, &input, by)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

pub async fn plain_site(h: &Harness, id: &str, prefecture: &str) {
    site(
        h,
        SiteInput {
            site_id: id.into(),
            name: format!("{id} 医院"),
            prefecture: prefecture.into(),
            ..SiteInput::default()
        },
    )
    .await;
}

/// A report with the reader off (and everything else healthy), as of `now`.
pub fn reader_off_report(now: DateTime<Utc>) -> ReportDoc {
    let mut doc = ReportDoc {
        seq: 7,
        collected_at: Some(now),
        reader: Some(ReaderDoc {
            maker: "fujitsu".into(),
            power: "off".into(),
            ..Default::default()
        }),
        certificate: Some(CertificateDoc {
            present: true,
            backup_seen: true,
            desktop_file_present: true,
            serial: "0A1B".into(),
            not_after: Some(now + Duration::days(300)),
            ..Default::default()
        }),
        network: vec![TargetDoc {
            name: "router".into(),
            address: "10.51.1.1".into(),
            reachable: true,
            latency_ms: Some(3.0),
            error: String::new(),
        }],
        ..Default::default()
    };
    doc.host.agent_version = "1.2.3".into();
    doc.host.boot_time = Some(now - Duration::hours(2));
    doc
}

/// The site's agent and latest state (`report` as stored JSON).
pub async fn state(h: &Harness, site_id: &str, report: serde_json::Value, health: &str) {
    let agent = format!("agent-{site_id}");
    sqlx::query(
        "INSERT INTO agents (agent_id, site_id, acked_seq, agent_version, enrolled_at, cert_not_after)
         VALUES ($1, $2, 7, '1.2.3', now(), now() + interval '10 days')",
    )
    .bind(&agent)
    .bind(site_id)
    .execute(&h.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO site_state (site_id, agent_id, seq, collected_at, received_at, health, report)
         VALUES ($1, $2, 7, now(), now(), $3, $4)",
    )
    .bind(site_id)
    .bind(&agent)
    .bind(health)
    .bind(report)
    .execute(&h.pool)
    .await
    .unwrap();
}

/// An incident as the engine would have opened it; its id.
pub async fn incident(h: &Harness, site_id: &str, rule: &str, severity: &str, state: &str) -> i64 {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO incidents (site_id, rule, severity, state, title, detail, first_seen, last_seen)
         VALUES ($1, $2, $3, $4, $2 || ' の表題', 'すること', now() - interval '1 hour', now())
         RETURNING incident_id",
    )
    .bind(site_id)
    .bind(rule)
    .bind(severity)
    .bind(state)
    .fetch_one(&h.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO incident_events (incident_id, kind, actor, detail) VALUES ($1, 'opened', 'system', '{}')",
    )
    .bind(id)
    .execute(&h.pool)
    .await
    .unwrap();
    id
}

/// A lean history row (migration 0007) `minutes_ago`.
pub async fn history(
    h: &Harness,
    site_id: &str,
    minutes_ago: i32,
    reader_power: Option<&str>,
    router_up: bool,
) {
    sqlx::query(
        "INSERT INTO report_history (received_at, agent_id, site_id, seq, collected_at, health, report,
             reader_power, boot_time, target_names, target_reachable, target_latency_ms, probe_errors)
         VALUES (now() - make_interval(mins => $2), 'agent-' || $1, $1, $2, now() - make_interval(mins => $2),
             'ok', '\\x', $3, now() - interval '2 hours', ARRAY['router'], ARRAY[$4],
             ARRAY[CASE WHEN $4 THEN 5 END]::int[], 0)",
    )
    .bind(site_id)
    .bind(minutes_ago)
    .bind(reader_power)
    .bind(router_up)
    .execute(&h.pool)
    .await
    .unwrap();
}

/// Audit rows with `action`.
pub async fn audit_count(h: &Harness, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(&h.pool)
        .await
        .unwrap()
}
