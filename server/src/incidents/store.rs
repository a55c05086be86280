//! The only code that writes `incidents` and `incident_events`: loads what the lifecycle needs
//! and applies its changes, each with its timeline row, in the caller's transaction. A timeline
//! row that tells someone something (opened, re-opened, severity raised, resolved) owes its
//! notification in the same transaction (`notify::outbox`).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::lifecycle::{Active, Change, Policy, Resolved};
use super::rules::{Condition, Rule};
use crate::error::Error;
use crate::sites::Health;

/// Actor of automatic changes in the timeline.
pub const SYSTEM: &str = "system";

/// Serialises all incident writes of one site (worker, sweep and operators on any replica);
/// held until the transaction ends.
pub async fn lock_site(conn: &mut PgConnection, site_id: &str) -> Result<(), Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('incidents:' || $1))")
        .bind(site_id)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ActiveRow {
    incident_id: i64,
    rule: Rule,
    subject: String,
    severity: Health,
    last_seq: i64,
    clear_since: Option<DateTime<Utc>>,
    clear_reports: i32,
    clear_seq: i64,
}

pub async fn active(conn: &mut PgConnection, site_id: &str) -> Result<Vec<Active>, Error> {
    let rows: Vec<ActiveRow> = sqlx::query_as(
        "SELECT incident_id, rule, subject, severity, last_seq, clear_since, clear_reports, clear_seq
         FROM incidents WHERE site_id = $1 AND state <> 'resolved' ORDER BY incident_id",
    )
    .bind(site_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Active {
            id: r.incident_id,
            rule: r.rule,
            subject: r.subject,
            severity: r.severity,
            last_seq: r.last_seq,
            clear_since: r.clear_since,
            clear_reports: i64::from(r.clear_reports),
            clear_seq: r.clear_seq,
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct ResolvedRow {
    incident_id: i64,
    rule: Rule,
    subject: String,
    resolved_at: DateTime<Utc>,
    transitions: Vec<DateTime<Utc>>,
}

/// The latest resolution of each fingerprint of the site within the re-open window.
pub async fn recently_resolved(
    conn: &mut PgConnection,
    site_id: &str,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Result<Vec<Resolved>, Error> {
    let rows: Vec<ResolvedRow> = sqlx::query_as(
        "SELECT DISTINCT ON (rule, subject) incident_id, rule, subject, resolved_at, transitions
         FROM incidents WHERE site_id = $1 AND state = 'resolved' AND resolved_at >= $2
         ORDER BY rule, subject, resolved_at DESC",
    )
    .bind(site_id)
    .bind(now - policy.reopen_window)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Resolved {
            id: r.incident_id,
            rule: r.rule,
            subject: r.subject,
            resolved_at: r.resolved_at,
            transitions: r.transitions,
        })
        .collect())
}

/// What applying changes did, for metrics and notifications.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub opened: Vec<i64>,
    pub reopened: Vec<i64>,
    pub resolved: Vec<i64>,
}

pub async fn apply(
    conn: &mut PgConnection,
    site_id: &str,
    changes: &[Change],
    seq: i64,
    now: DateTime<Utc>,
) -> Result<Applied, Error> {
    let mut applied = Applied::default();
    for change in changes {
        match change {
            Change::Open(c) => {
                if let Some(id) = open(conn, site_id, c, seq, now).await? {
                    applied.opened.push(id);
                }
            }
            Change::Reopen {
                id,
                condition,
                transitions,
                flapping,
            } => {
                reopen(conn, *id, condition, transitions, *flapping, seq, now).await?;
                applied.reopened.push(*id);
            }
            Change::Seen {
                id,
                condition,
                reports,
                raised_from,
            } => {
                seen(conn, *id, condition, *reports, *raised_from, seq, now).await?;
            }
            Change::Clearing {
                id,
                since,
                reports,
                seq,
            } => {
                sqlx::query(
                    "UPDATE incidents SET clear_since = $2, clear_reports = $3, clear_seq = $4, updated_at = now()
                     WHERE incident_id = $1",
                )
                .bind(id)
                .bind(since)
                .bind(*reports as i32)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
            }
            Change::Resolve { id } => {
                if resolve(conn, *id, SYSTEM, "条件が解消しました", now).await? {
                    event(conn, *id, "auto_resolved", SYSTEM, serde_json::json!({})).await?;
                    applied.resolved.push(*id);
                }
            }
        }
    }
    Ok(applied)
}

async fn open(
    conn: &mut PgConnection,
    site_id: &str,
    c: &Condition,
    seq: i64,
    now: DateTime<Utc>,
) -> Result<Option<i64>, Error> {
    // The partial unique index is the guard against a second replica opening it too.
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO incidents (site_id, rule, subject, severity, state, title, detail, evidence,
             first_seen, last_seen, last_seq, transitions)
         VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8, $8, $9, ARRAY[$8]::timestamptz[])
         ON CONFLICT (site_id, rule, subject) WHERE state <> 'resolved' DO NOTHING
         RETURNING incident_id",
    )
    .bind(site_id)
    .bind(c.rule)
    .bind(&c.subject)
    .bind(c.severity)
    .bind(&c.title)
    .bind(&c.detail)
    .bind(evidence(c))
    .bind(now)
    .bind(seq)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = id {
        event(
            conn,
            id,
            "opened",
            SYSTEM,
            serde_json::json!({ "severity": c.severity, "title": c.title }),
        )
        .await?;
    }
    Ok(id)
}

/// Opens one incident per (site, seq, condition) in one statement, with their timeline rows;
/// a fingerprint already open elsewhere is skipped by the unique index.
pub async fn open_many(
    conn: &mut PgConnection,
    items: &[(String, i64, Condition)],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, Error> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let col =
        |f: fn(&(String, i64, Condition)) -> String| items.iter().map(f).collect::<Vec<String>>();
    let sites = col(|i| i.0.clone());
    let rules = col(|i| i.2.rule.as_str().to_owned());
    let subjects = col(|i| i.2.subject.clone());
    let severities = col(|i| i.2.severity.as_str().to_owned());
    let titles = col(|i| i.2.title.clone());
    let details = col(|i| i.2.detail.clone());
    let seqs: Vec<i64> = items.iter().map(|i| i.1).collect();
    let evidence: Vec<serde_json::Value> = items.iter().map(|i| evidence(&i.2)).collect();
    let ids: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO incidents (site_id, rule, subject, severity, state, title, detail, evidence,
             first_seen, last_seen, last_seq, transitions)
         SELECT site, rule, subject, severity, 'open', title, detail, ev, $8, $8, seq, ARRAY[$8]::timestamptz[]
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $9::jsonb[])
              AS u(site, rule, subject, severity, title, detail, seq, ev)
         ON CONFLICT (site_id, rule, subject) WHERE state <> 'resolved' DO NOTHING
         RETURNING incident_id",
    )
    .bind(&sites)
    .bind(&rules)
    .bind(&subjects)
    .bind(&severities)
    .bind(&titles)
    .bind(&details)
    .bind(&seqs)
    .bind(now)
    .bind(&evidence)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO incident_events (incident_id, kind, actor, detail)
         SELECT i.incident_id, 'opened', $2, jsonb_build_object('severity', i.severity, 'title', i.title)
         FROM incidents i WHERE i.incident_id = ANY($1)",
    )
    .bind(&ids)
    .bind(SYSTEM)
    .execute(&mut *conn)
    .await?;
    crate::notify::outbox::incidents_opened(conn, &ids).await?;
    Ok(ids)
}

async fn reopen(
    conn: &mut PgConnection,
    id: i64,
    c: &Condition,
    transitions: &[DateTime<Utc>],
    flapping: bool,
    seq: i64,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let was_flapping: Option<bool> = sqlx::query_scalar(
        "UPDATE incidents i SET state = 'open', severity = $2, title = $3, detail = $4, evidence = $5,
             last_seen = $6, last_seq = $7, count = count + 1, reopen_count = reopen_count + 1,
             resolved_at = NULL, resolved_by = NULL, resolve_reason = NULL,
             acknowledged_at = NULL, acknowledged_by = NULL,
             clear_since = NULL, clear_reports = 0, transitions = $8, flapping = flapping OR $9,
             updated_at = now()
         FROM (SELECT flapping AS before FROM incidents WHERE incident_id = $1) old
         WHERE i.incident_id = $1 AND i.state = 'resolved'
         RETURNING old.before",
    )
    .bind(id)
    .bind(c.severity)
    .bind(&c.title)
    .bind(&c.detail)
    .bind(evidence(c))
    .bind(now)
    .bind(seq)
    .bind(transitions)
    .bind(flapping)
    .fetch_optional(&mut *conn)
    .await?;
    event(
        conn,
        id,
        "reopened",
        SYSTEM,
        serde_json::json!({ "severity": c.severity }),
    )
    .await?;
    if flapping && was_flapping == Some(false) {
        event(
            conn,
            id,
            "flapping",
            SYSTEM,
            serde_json::json!({ "reopens_in_window": transitions.len() }),
        )
        .await?;
    }
    Ok(())
}

async fn seen(
    conn: &mut PgConnection,
    id: i64,
    c: &Condition,
    reports: i64,
    raised_from: Option<Health>,
    seq: i64,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    // The title follows the latest report ("あと13日"); the severity only ever rises.
    sqlx::query(
        "UPDATE incidents SET count = count + $2, last_seen = $3, last_seq = GREATEST(last_seq, $4),
             title = $5, detail = $6, evidence = $7,
             severity = CASE WHEN $8 THEN $9 ELSE severity END,
             clear_since = NULL, clear_reports = 0, updated_at = now()
         WHERE incident_id = $1",
    )
    .bind(id)
    .bind(reports)
    .bind(now)
    .bind(seq)
    .bind(&c.title)
    .bind(&c.detail)
    .bind(evidence(c))
    .bind(raised_from.is_some())
    .bind(c.severity)
    .execute(&mut *conn)
    .await?;
    if let Some(from) = raised_from {
        event(
            conn,
            id,
            "severity_raised",
            SYSTEM,
            serde_json::json!({ "from": from, "to": c.severity }),
        )
        .await?;
    }
    Ok(())
}

/// Resolves an open or acknowledged incident; false when it already was resolved.
pub async fn resolve(
    conn: &mut PgConnection,
    id: i64,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE incidents SET state = 'resolved', resolved_at = $2, resolved_by = $3, resolve_reason = $4,
             clear_since = NULL, clear_reports = 0, updated_at = now()
         WHERE incident_id = $1 AND state <> 'resolved'",
    )
    .bind(id)
    .bind(now)
    .bind(by)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Appends one timeline row, and the notification it owes if any.
pub async fn event(
    conn: &mut PgConnection,
    incident_id: i64,
    kind: &'static str,
    actor: &str,
    detail: serde_json::Value,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO incident_events (incident_id, kind, actor, detail) VALUES ($1, $2, $3, $4)",
    )
    .bind(incident_id)
    .bind(kind)
    .bind(actor)
    .bind(&detail)
    .execute(&mut *conn)
    .await?;
    crate::notify::outbox::incident_changed(conn, incident_id, kind, &detail).await
}

fn evidence(c: &Condition) -> serde_json::Value {
    match &c.evidence {
        serde_json::Value::Null => serde_json::json!({}),
        v => v.clone(),
    }
}
