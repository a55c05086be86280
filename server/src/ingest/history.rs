//! Daily partitions of `report_history`: created ahead of time, dropped whole
//! after the retention period (no bulk DELETE, no vacuum storm).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::{Connection, PgConnection, PgPool};

use crate::error::Error;

/// Days of partitions created ahead of today.
const DAYS_AHEAD: i64 = 3;

pub fn partition_name(day: NaiveDate) -> String {
    format!("report_history_p{}", day.format("%Y%m%d"))
}

/// Partitions to drop: those whose whole day ended before `now - retention`.
pub fn expired(existing: &[NaiveDate], now: DateTime<Utc>, retention_days: u32) -> Vec<NaiveDate> {
    existing
        .iter()
        .copied()
        .filter(|d| is_expired(*d, now, retention_days))
        .collect()
}

/// Whether the day's history is past retention.
pub fn is_expired(day: NaiveDate, now: DateTime<Utc>, retention_days: u32) -> bool {
    day < (now - Duration::days(i64::from(retention_days))).date_naive()
}

/// One replica at a time: two creating the same partition at once fail with "already exists".
pub const MAINTENANCE_LOCK: i64 = 0x6f6e_7368_6968_6973; // "onshihis"

/// Creates missing partitions for today and the next days and drops expired
/// ones, one replica at a time (`false`: another replica is at it).
pub async fn maintain(
    pool: &PgPool,
    now: DateTime<Utc>,
    retention_days: u32,
) -> Result<bool, Error> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(MAINTENANCE_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(false);
    }
    let today = now.date_naive();
    for offset in 0..=DAYS_AHEAD {
        create_partition(&mut tx, today + Duration::days(offset)).await?;
    }
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
         WHERE p.relname = 'report_history' AND c.relname LIKE 'report\\_history\\_p%'",
    )
    .fetch_all(&mut *tx)
    .await?;
    let days: Vec<NaiveDate> = names
        .iter()
        .filter_map(|n| {
            NaiveDate::parse_from_str(n.trim_start_matches("report_history_p"), "%Y%m%d").ok()
        })
        .collect();
    for day in expired(&days, now, retention_days) {
        tracing::info!(partition = %partition_name(day), "dropping expired history partition");
        sqlx::query(&format!("DROP TABLE IF EXISTS {}", partition_name(day)))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Creates the day's partition unless it exists, in a savepoint: a failure is logged and the
/// caller's transaction goes on.
pub async fn create_partition(conn: &mut PgConnection, day: NaiveDate) -> Result<(), Error> {
    let next = day + Duration::days(1);
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {} PARTITION OF report_history
         FOR VALUES FROM ('{day} 00:00:00+00') TO ('{next} 00:00:00+00')",
        partition_name(day)
    );
    let mut savepoint = conn.begin().await?;
    match sqlx::query(&sql).execute(&mut *savepoint).await {
        Ok(_) => savepoint.commit().await?,
        Err(e) => {
            savepoint.rollback().await?;
            // Typically: rows for that day already sit in the default
            // partition. Inserts still succeed there; tell the operator.
            tracing::warn!(partition = %partition_name(day), error = %e, "could not create history partition");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_keeps_the_retention_window() {
        let now: DateTime<Utc> = "2026-11-25T10:00:00Z".parse().unwrap();
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let existing = [d("2026-10-25"), d("2026-10-26"), d("2026-11-25")];
        assert_eq!(expired(&existing, now, 30), vec![d("2026-10-25")]);
        assert!(is_expired(d("2026-10-25"), now, 30) && !is_expired(d("2026-10-26"), now, 30));
        assert_eq!(partition_name(d("2026-01-02")), "report_history_p20260102");
    }
}
