//! Drains `incident_eval_queue`: for each site, evaluate its latest report with the site's
//! profile and hours, and apply the lifecycle's changes. The queue is append-only
//! (migrations/0012): a pass claims entries with `FOR UPDATE SKIP LOCKED`, then every other
//! committed entry of the same sites, evaluates each site once — one evaluation answers every
//! report it owed — and deletes the claimed entries in the same transaction as the incident
//! changes. A crash re-runs the evaluation; two replicas never take the same entry; ingest never
//! waits for a claim (the trigger skips claimed entries instead of waiting for them).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use super::lifecycle::{self, Observation, Policy};
use super::rules::{self, SiteContext};
use super::store::{self, Applied};
use crate::desk::JST;
use crate::error::Error;
use crate::fleet::report::ReportDoc;
use crate::sites::hours_store;
use crate::sites::{ReaderMaker, SiteKind};

/// Entries claimed first per transaction (their sites' other entries come with them).
pub const BATCH: i64 = 200;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Drained {
    pub sites: usize,
    /// Queue entries answered (several per site when reports queued while it waited).
    pub entries: usize,
    pub applied: Applied,
    /// Seconds the oldest claimed entry waited (evaluation lag).
    pub lag_seconds: f64,
}

/// The entries a pass took, by site: (entry ids, oldest queued_at).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Claim {
    pub sites: BTreeMap<String, (Vec<i64>, DateTime<Utc>)>,
}

impl Claim {
    pub fn entries(&self) -> usize {
        self.sites.values().map(|(ids, _)| ids.len()).sum()
    }
}

/// Claims up to `limit` entries, oldest first, then every other unclaimed committed entry of
/// their sites. Never waits: entries another pass holds, or a report's transaction still
/// shares, are skipped (they are evaluated by a later pass).
pub async fn claim(conn: &mut PgConnection, limit: i64) -> Result<Claim, Error> {
    let first: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT site_id FROM (
             SELECT site_id FROM incident_eval_queue ORDER BY entry_id
             LIMIT $1 FOR UPDATE SKIP LOCKED) picked",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut claim = Claim::default();
    if first.is_empty() {
        return Ok(claim);
    }
    let rows: Vec<(i64, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT entry_id, site_id, queued_at FROM incident_eval_queue
         WHERE site_id = ANY($1) FOR UPDATE SKIP LOCKED",
    )
    .bind(&first)
    .fetch_all(&mut *conn)
    .await?;
    for (id, site, queued_at) in rows {
        let entry = claim.sites.entry(site).or_insert((Vec::new(), queued_at));
        entry.0.push(id);
        entry.1 = entry.1.min(queued_at);
    }
    Ok(claim)
}

/// One pass: claims up to `BATCH` entries (and their sites' others) and evaluates each site
/// once. `Ok` with `sites == 0` when the queue is empty.
pub async fn drain_once(
    pool: &PgPool,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Drained, Error> {
    let mut tx = pool.begin().await?;
    let claimed = claim(&mut tx, BATCH).await?;
    let mut drained = Drained {
        sites: claimed.sites.len(),
        entries: claimed.entries(),
        lag_seconds: claimed
            .sites
            .values()
            .map(|(_, q)| (now - *q).num_milliseconds() as f64 / 1000.0)
            .fold(0.0, f64::max),
        ..Default::default()
    };
    let mut done: Vec<i64> = Vec::with_capacity(drained.entries);
    for (site_id, (ids, _)) in &claimed.sites {
        // A savepoint per site: one site that fails (bad stored data) neither blocks the rest
        // nor is lost — it goes back to the end of the queue.
        let mut site_tx = sqlx::Connection::begin(&mut *tx).await?;
        match evaluate_site(&mut site_tx, site_id, policy, now).await {
            Ok(applied) => {
                site_tx.commit().await?;
                drained.applied.opened.extend(applied.opened);
                drained.applied.reopened.extend(applied.reopened);
                drained.applied.resolved.extend(applied.resolved);
            }
            Err(e) => {
                site_tx.rollback().await?;
                tracing::error!(site_id, error = %e, "incident evaluation failed; site requeued");
                sqlx::query("INSERT INTO incident_eval_queue (site_id) VALUES ($1)")
                    .bind(site_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        done.extend(ids);
    }
    sqlx::query("DELETE FROM incident_eval_queue WHERE entry_id = ANY($1)")
        .bind(&done)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(drained)
}

#[derive(sqlx::FromRow)]
struct Latest {
    seq: i64,
    report: Json<ReportDoc>,
    kind: SiteKind,
    reader_maker: Option<ReaderMaker>,
}

/// Evaluates the site's latest report now and applies the changes.
pub async fn evaluate_site(
    conn: &mut PgConnection,
    site_id: &str,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Applied, Error> {
    store::lock_site(conn, site_id).await?;
    let latest: Option<Latest> = sqlx::query_as(
        "SELECT st.seq, st.report, s.kind, s.reader_maker
         FROM site_state st JOIN sites s USING (site_id) WHERE st.site_id = $1",
    )
    .bind(site_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(latest) = latest else {
        return Ok(Applied::default());
    };
    let today = now.with_timezone(&JST).date_naive();
    let hours = hours_store::load(conn, site_id, today).await?;
    let ctx = SiteContext {
        kind: Some(latest.kind),
        reader_maker: latest.reader_maker,
        hours: hours.as_ref().map(|h| &h.hours),
        now,
    };
    let observation = Observation {
        seq: latest.seq,
        conditions: rules::evaluate(&latest.report.0, &ctx),
    };
    let active = store::active(conn, site_id).await?;
    let resolved = store::recently_resolved(conn, site_id, now, policy).await?;
    let changes = lifecycle::reconcile(&active, &resolved, &observation, now, policy);
    store::apply(conn, site_id, &changes, latest.seq, now).await
}
