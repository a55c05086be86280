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

/// What a raised reminder tells the operators' notification channels: a warning routed like a
/// fleet-wide event (`notify::SystemEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Stable code for receivers.
    pub kind: &'static str,
    /// One line (no newline: it becomes a mail subject).
    pub subject: String,
    pub body: String,
}

/// The notice for a reminder. Pure.
pub fn notice(owed: &query::Owed) -> Notice {
    let what = match owed.reminder {
        super::due::Reminder::NoAnswer { .. } => "回答なし",
        super::due::Reminder::VisitPassed { .. } => "訪問予定日超過",
    };
    Notice {
        kind: "escalation_reminder",
        subject: format!(
            "【催促】{} {what} — 障害 {}（{}）",
            owed.desk_name, owed.incident_id, owed.site_id
        ),
        body: format!(
            "{}\n\n依頼: /incidents/{}/escalations#esc-{}",
            owed.reminder.message_ja(&owed.desk_name),
            owed.incident_id,
            owed.escalation_id
        ),
    }
}

/// Offers the notice to the notification outbox (`notify::enqueue_event`) in the reminder's
/// transaction: the reminder and its message are committed together, or neither is.
async fn offer_to_outbox(conn: &mut sqlx::PgConnection, n: &Notice) -> Result<(), Error> {
    crate::notify::enqueue_event(
        conn,
        &crate::notify::SystemEvent {
            kind: n.kind.into(),
            subject: n.subject.clone(),
            body: n.body.clone(),
            severity: crate::sites::Health::Warning,
        },
    )
    .await?;
    Ok(())
}

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
            offer_to_outbox(&mut tx, &notice(&owed)).await?;
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

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};

    use super::*;
    use crate::escalation::due::Reminder;

    #[test]
    fn the_notice_is_one_line_with_a_link_to_the_case() {
        let owed = query::Owed {
            incident_id: 12,
            escalation_id: 3,
            site_id: "clinic-1".into(),
            desk_name: "レノボPC 故障受付（日本コムシス）".into(),
            reminder: Reminder::NoAnswer {
                due_at: Utc.with_ymd_and_hms(2026, 3, 9, 8, 0, 0).unwrap(),
            },
        };
        let n = notice(&owed);
        assert_eq!(n.kind, "escalation_reminder");
        assert!(
            !n.subject.contains('\n') && n.subject.contains("回答なし"),
            "{}",
            n.subject
        );
        assert!(
            n.body.contains("2026-03-09 17:00")
                && n.body.ends_with("/incidents/12/escalations#esc-3")
        );
        let visit = query::Owed {
            reminder: Reminder::VisitPassed {
                visit_on: NaiveDate::from_ymd_opt(2026, 3, 10).unwrap(),
            },
            ..owed
        };
        assert!(notice(&visit).subject.contains("訪問予定日超過"));
    }
}
