//! The jsonb history of earlier versions (`report_history_v1`, set aside by
//! migrations/0007_lean_history.sql) converted into lean rows, so an upgrade loses no
//! history: in chunks of `CHUNK` rows, newest day first (the console's 7-day charts fill
//! first), each chunk moved (deleted there, inserted here) in one transaction, one replica at a
//! time (advisory lock). Emptied partitions are dropped, then the table. Rows already past
//! retention are dropped, not converted.

use std::time::Duration;

use chrono::{DateTime, Utc};
use onshi_proto::v1 as pb;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;

use super::columns::HistoryColumns;
use super::history;
use super::prepare::{self, HistoryRow};
use crate::error::Error;
use crate::fleet::report::ReportDoc;
use crate::sites::Health;

pub const CONVERSION_LOCK: i64 = 0x6f6e_7368_6968_7631; // "onshihv1"
/// Rows per transaction: short enough not to hold back ingest, big enough to finish.
pub const CHUNK: i64 = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Rows moved (0 when an emptied partition was dropped).
    Converted(u64),
    /// Another replica is converting.
    Busy,
    /// Nothing left: `report_history_v1` does not exist (any more).
    Done,
}

/// Converts until done (or stopped), pausing between chunks so ingest keeps the database.
pub async fn run(
    pool: PgPool,
    retention_days: u32,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut total = 0u64;
    loop {
        let pause = match step(&pool, Utc::now(), retention_days).await {
            Ok(Step::Done) => {
                if total > 0 {
                    tracing::info!(rows = total, "history of earlier versions converted");
                }
                return Ok(());
            }
            Ok(Step::Converted(n)) => {
                total += n;
                Duration::from_millis(200)
            }
            Ok(Step::Busy) => Duration::from_secs(60),
            Err(e) => {
                tracing::error!(error = %e, "converting report_history_v1 failed; retrying in a minute");
                Duration::from_secs(60)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
}

#[derive(sqlx::FromRow)]
struct LegacyRow {
    received_at: DateTime<Utc>,
    agent_id: String,
    seq: i64,
    site_id: String,
    collected_at: DateTime<Utc>,
    health: Health,
    report: Json<serde_json::Value>,
}

/// One chunk (or one dropped partition) in one transaction.
pub async fn step(pool: &PgPool, now: DateTime<Utc>, retention_days: u32) -> Result<Step, Error> {
    let mut tx = pool.begin().await?;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('report_history_v1') IS NOT NULL")
        .fetch_one(&mut *tx)
        .await?;
    if !exists {
        return Ok(Step::Done);
    }
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(CONVERSION_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(Step::Busy);
    }
    // Day partitions sort before `…_default` in descending order: newest day first.
    let leaves: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
         WHERE p.relname = 'report_history_v1' ORDER BY c.relname DESC",
    )
    .fetch_all(&mut *tx)
    .await?;
    let Some(leaf) = leaves.first() else {
        sqlx::query("DROP TABLE report_history_v1")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(Step::Converted(0));
    };
    let leaf = quote_ident(leaf);
    let rows: Vec<LegacyRow> = sqlx::query_as(&format!(
        "DELETE FROM {leaf} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {leaf} LIMIT $1))
         RETURNING received_at, agent_id, seq, site_id, collected_at, health, report"
    ))
    .bind(CHUNK)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        sqlx::query(&format!("DROP TABLE {leaf}"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(Step::Converted(0));
    }
    let moved = insert_converted(&mut tx, &rows, now, retention_days).await?;
    tx.commit().await?;
    Ok(Step::Converted(moved))
}

async fn insert_converted(
    tx: &mut PgConnection,
    rows: &[LegacyRow],
    now: DateTime<Utc>,
    retention_days: u32,
) -> Result<u64, Error> {
    let keep: Vec<&LegacyRow> = rows
        .iter()
        .filter(|r| !history::is_expired(r.received_at.date_naive(), now, retention_days))
        .collect();
    let mut days: Vec<_> = keep.iter().map(|r| r.received_at.date_naive()).collect();
    days.sort();
    days.dedup();
    for day in days {
        // A past day has no partition in the new table; without one the rows would sit in
        // the default partition, which retention never drops.
        history::create_partition(&mut *tx, day).await?;
    }
    let converted: Vec<HistoryRow> = keep.iter().map(|r| lean_row(r)).collect();
    let mut columns = HistoryColumns::default();
    for (row, legacy) in converted.iter().zip(&keep) {
        columns.push(row, legacy.received_at, &legacy.agent_id);
    }
    columns.insert(&mut *tx).await?;
    Ok(keep.len() as u64)
}

fn lean_row(r: &LegacyRow) -> HistoryRow {
    let doc = match serde_json::from_value::<ReportDoc>(r.report.0.clone()) {
        Ok(doc) => doc,
        Err(e) => {
            // Every stored document was written by ReportDoc's serializer; should one not
            // read back, its ids and times are kept and the loss is said in the log.
            tracing::error!(agent_id = %r.agent_id, seq = r.seq, error = %e,
                "a report of the jsonb history does not read back; kept without its sections");
            ReportDoc {
                seq: r.seq as u64,
                collected_at: Some(r.collected_at),
                ..Default::default()
            }
        }
    };
    let report = wire(&doc, &r.agent_id, &r.site_id);
    let mut row = prepare::history_row(&report, &doc, r.health, r.collected_at);
    row.collected_at = r.collected_at;
    row
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn ts(t: Option<DateTime<Utc>>) -> Option<prost_types::Timestamp> {
    t.map(|t| prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    })
}

/// The wire form of a stored document (the inverse of `From<&pb::Report> for ReportDoc`).
pub fn wire(doc: &ReportDoc, agent_id: &str, site_id: &str) -> pb::Report {
    let h = &doc.host;
    pb::Report {
        seq: doc.seq,
        agent_id: agent_id.to_owned(),
        site_id: site_id.to_owned(),
        collected_at: ts(doc.collected_at),
        schema_version: 1,
        host: Some(pb::Host {
            hostname: h.hostname.clone(),
            os: h.os.clone(),
            boot_time: ts(h.boot_time),
            agent_version: h.agent_version.clone(),
            screen_lock: h.screen_lock.as_ref().map(|s| pb::ScreenLock {
                known: true,
                enabled: s.enabled,
                secure: s.secure,
                timeout_seconds: s.timeout_seconds,
                clear_screen_installed: s.clear_screen_installed,
            }),
            disk_free_bytes: h.disk_free_bytes,
            apps_updated_at: ts(h.apps_updated_at),
        }),
        reader: doc.reader.as_ref().map(|r| pb::CardReader {
            maker: maker(&r.maker) as i32,
            power: match r.power.as_str() {
                "on" => pb::PowerState::On,
                "off" => pb::PowerState::Off,
                "absent" => pb::PowerState::Absent,
                _ => pb::PowerState::Unspecified,
            } as i32,
            manual_power: r.manual_power,
            software_running: r.software_running,
            device_name: r.device_name.clone(),
        }),
        certificate: doc.certificate.as_ref().map(|c| pb::ClientCertificate {
            present: c.present,
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            serial: c.serial.clone(),
            not_after: ts(c.not_after),
            desktop_file_present: c.desktop_file_present,
            backup_seen: c.backup_seen,
        }),
        accounts: doc.accounts.iter().map(account).collect(),
        network: doc.network.iter().map(target).collect(),
        shares: doc
            .shares
            .iter()
            .map(|s| pb::Share {
                name: s.name.clone(),
                exists: s.exists,
                shared: s.shared,
            })
            .collect(),
        agent: Some(pb::AgentHealth {
            spool_dropped: doc.agent.spool_dropped,
            spool_corrupt: doc.agent.spool_corrupt,
            spool_backlog: doc.agent.spool_backlog,
            spool_bytes: doc.agent.spool_bytes,
            probe_errors: doc.agent.probe_errors.clone(),
            spool_rejected: doc.agent.spool_rejected,
        }),
        ip_config: doc.ip_config.as_ref().map(|c| pb::IpConfig {
            addresses: c.addresses.clone(),
            gateway: c.gateway.clone(),
            dns: c.dns.clone(),
            drifted: c.drifted,
        }),
    }
}

fn maker(name: &str) -> pb::ReaderMaker {
    [
        pb::ReaderMaker::Fujitsu,
        pb::ReaderMaker::Panasonic,
        pb::ReaderMaker::Atlus,
        pb::ReaderMaker::Almex,
        pb::ReaderMaker::Canon,
        pb::ReaderMaker::None,
    ]
    .into_iter()
    .find(|m| crate::fleet::report::maker_name(*m) == name)
    .unwrap_or(pb::ReaderMaker::Unspecified)
}

fn account(a: &crate::fleet::report::AccountDoc) -> pb::Account {
    pb::Account {
        kind: match a.kind.as_str() {
            "windows" => pb::AccountKind::Windows,
            "face_auth" => pb::AccountKind::FaceAuth,
            "linkage" => pb::AccountKind::Linkage,
            _ => pb::AccountKind::Unspecified,
        } as i32,
        baseline_known: a.baseline_known,
        password_changed: a.password_changed,
        renamed: a.renamed,
        disabled: a.disabled,
        removed: a.removed,
        config_changed: a.config_changed,
    }
}

fn target(t: &crate::fleet::report::TargetDoc) -> pb::NetworkTarget {
    pb::NetworkTarget {
        name: t.name.clone(),
        address: t.address.clone(),
        reachable: t.reachable,
        latency: t.latency_ms.map(|ms| {
            let nanos = (ms * 1e6).round() as i64;
            prost_types::Duration {
                seconds: nanos / 1_000_000_000,
                nanos: (nanos % 1_000_000_000) as i32,
            }
        }),
        error: t.error.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every section survives doc → wire → doc.
    #[test]
    fn a_stored_document_round_trips_through_the_wire_form() {
        let at: DateTime<Utc> = "2026-11-30T00:15:00.25Z".parse().unwrap();
        let report = pb::Report {
            seq: 42,
            agent_id: "a1".into(),
            site_id: "s1".into(),
            collected_at: ts(Some(at)),
            schema_version: 1,
            host: Some(pb::Host {
                hostname: "PC".into(),
                os: "Windows 11".into(),
                boot_time: ts(Some(at)),
                agent_version: "1.2".into(),
                screen_lock: Some(pb::ScreenLock {
                    known: true,
                    enabled: true,
                    secure: true,
                    timeout_seconds: 900,
                    clear_screen_installed: false,
                }),
                disk_free_bytes: 5,
                apps_updated_at: ts(Some(at)),
            }),
            reader: Some(pb::CardReader {
                maker: pb::ReaderMaker::Canon as i32,
                power: pb::PowerState::Off as i32,
                manual_power: true,
                software_running: true,
                device_name: "CR".into(),
            }),
            certificate: Some(pb::ClientCertificate {
                present: true,
                serial: "01".into(),
                not_after: ts(Some(at)),
                ..Default::default()
            }),
            accounts: vec![pb::Account {
                kind: pb::AccountKind::Linkage as i32,
                renamed: true,
                ..Default::default()
            }],
            network: vec![
                pb::NetworkTarget {
                    name: "router".into(),
                    reachable: true,
                    latency: Some(prost_types::Duration {
                        seconds: 1,
                        nanos: 250_000_000,
                    }),
                    ..Default::default()
                },
                pb::NetworkTarget {
                    name: "vpn".into(),
                    error: "timed out".into(),
                    ..Default::default()
                },
            ],
            shares: vec![pb::Share {
                name: "face".into(),
                exists: true,
                shared: true,
            }],
            agent: Some(pb::AgentHealth {
                spool_dropped: 3,
                probe_errors: vec!["x: y".into()],
                spool_rejected: 1,
                ..Default::default()
            }),
            ip_config: Some(pb::IpConfig {
                addresses: vec!["10.51.1.2".into()],
                gateway: "10.51.1.1".into(),
                dns: vec![],
                drifted: true,
            }),
        };
        let doc = ReportDoc::from(&report);
        let back = wire(&doc, "a1", "s1");
        assert_eq!(back, report);
        assert_eq!(ReportDoc::from(&back), doc);
    }
}
