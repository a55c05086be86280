//! The reminder loop: a case whose desk has not answered by its due time (or whose visit day
//! passed without 完了) gets one reminder — a timeline row and an audit row (actor `system`)
//! committed with the case's `reminder_key`, so each reminder is raised once across replicas.
//! The pages and the API show the reminder whenever it is due, raised or not.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::watch;

use super::query;
use super::store;
use crate::error::Error;
use crate::incidents::store as incident_store;

/// How often the loop looks for late vendors (due times are whole minutes at best).
pub const EVERY: Duration = Duration::from_secs(60);
const BATCH: i64 = 200;

/// Raises every reminder owed at `now`; returns how many were raised by this call.
pub async fn pass(pool: &PgPool, now: DateTime<Utc>) -> Result<usize, Error> {
    let candidates = {
        let mut conn = pool.acquire().await?;
        query::reminders_owed(&mut conn, now, None, BATCH).await?
    };
    let mut raised = 0;
    for c in candidates {
        // Same lock order as every operator write: the site's incident lock, then the row.
        let mut tx = pool.begin().await?;
        incident_store::lock_site(&mut tx, &c.site_id).await?;
        let owed = query::reminders_owed(&mut tx, now, Some(c.escalation_id), 1).await?;
        let Some(owed) = owed.into_iter().next() else {
            continue;
        };
        let message = owed.reminder.message_ja(&owed.desk_name);
        let key = owed.reminder.key();
        if store::raise_reminder(
            &mut tx,
            owed.incident_id,
            owed.escalation_id,
            &key,
            &message,
        )
        .await?
        {
            tx.commit().await?;
            raised += 1;
            tracing::info!(
                incident = owed.incident_id,
                escalation = owed.escalation_id,
                reminder = %key,
                "escalation reminder raised"
            );
        }
    }
    Ok(raised)
}

/// Runs [`pass`] every [`EVERY`] until shutdown; a failed pass is logged and retried.
pub async fn run(pool: PgPool, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    loop {
        if let Err(e) = pass(&pool, Utc::now()).await {
            tracing::warn!(error = %e, "escalation reminder pass failed; retrying at the next pass");
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.changed() => return Ok(()),
        }
        if *shutdown.borrow() {
            return Ok(());
        }
    }
}
