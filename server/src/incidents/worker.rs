//! Drains `incident_eval_queue`: for each site, evaluate its latest report with the site's
//! profile and hours, and apply the lifecycle's changes. Rows are claimed with `FOR UPDATE SKIP
//! LOCKED` and deleted in the same transaction as the incident changes, so a crash re-runs the
//! evaluation and two replicas never take the same site.

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

/// Sites claimed per transaction.
pub const BATCH: i64 = 200;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Drained {
    pub sites: usize,
    pub applied: Applied,
    /// Seconds the oldest claimed entry waited (evaluation lag).
    pub lag_seconds: f64,
}

/// One pass: claims up to `BATCH` sites and evaluates them. `Ok` with `sites == 0` when the
/// queue is empty.
pub async fn drain_once(
    pool: &PgPool,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Drained, Error> {
    let mut tx = pool.begin().await?;
    let claimed: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "DELETE FROM incident_eval_queue WHERE site_id IN (
             SELECT site_id FROM incident_eval_queue ORDER BY queued_at
             LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING site_id, queued_at",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let mut drained = Drained {
        sites: claimed.len(),
        lag_seconds: claimed
            .iter()
            .map(|(_, q)| (now - *q).num_milliseconds() as f64 / 1000.0)
            .fold(0.0, f64::max),
        ..Default::default()
    };
    for (site_id, _) in &claimed {
        // A savepoint per site: one site that fails (bad stored data) neither blocks the rest
        // nor is lost — it goes back in the queue.
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
                sqlx::query(
                    "INSERT INTO incident_eval_queue (site_id) VALUES ($1) ON CONFLICT DO NOTHING",
                )
                .bind(site_id)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
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
