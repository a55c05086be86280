//! Daily partitions of `report_history`: created ahead of time, dropped whole
//! after the retention period (no bulk DELETE, no vacuum storm).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::PgPool;

use crate::error::Error;

/// Days of partitions created ahead of today.
const DAYS_AHEAD: i64 = 3;

pub fn partition_name(day: NaiveDate) -> String {
    format!("report_history_p{}", day.format("%Y%m%d"))
}

/// Partitions to drop: those whose whole day ended before `now - retention`.
pub fn expired(existing: &[NaiveDate], now: DateTime<Utc>, retention_days: u32) -> Vec<NaiveDate> {
    let cutoff = (now - Duration::days(i64::from(retention_days))).date_naive();
    existing.iter().copied().filter(|d| *d < cutoff).collect()
}

/// Creates missing partitions for today and the next days and drops expired
/// ones. Safe to run concurrently and repeatedly.
pub async fn maintain(pool: &PgPool, now: DateTime<Utc>, retention_days: u32) -> Result<(), Error> {
    let today = now.date_naive();
    for offset in 0..=DAYS_AHEAD {
        let day = today + Duration::days(offset);
        let next = day + Duration::days(1);
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF report_history
             FOR VALUES FROM ('{day} 00:00:00+00') TO ('{next} 00:00:00+00')",
            partition_name(day)
        );
        if let Err(e) = sqlx::raw_sql(&sql).execute(pool).await {
            // Typically: rows for that day already sit in the default
            // partition. Inserts still succeed there; tell the operator.
            tracing::warn!(partition = %partition_name(day), error = %e, "could not create history partition");
        }
    }
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
         WHERE p.relname = 'report_history' AND c.relname LIKE 'report\\_history\\_p%'",
    )
    .fetch_all(pool)
    .await?;
    let days: Vec<NaiveDate> = names
        .iter()
        .filter_map(|n| {
            NaiveDate::parse_from_str(n.trim_start_matches("report_history_p"), "%Y%m%d").ok()
        })
        .collect();
    for day in expired(&days, now, retention_days) {
        tracing::info!(partition = %partition_name(day), "dropping expired history partition");
        sqlx::raw_sql(&format!("DROP TABLE IF EXISTS {}", partition_name(day)))
            .execute(pool)
            .await?;
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
        assert_eq!(partition_name(d("2026-01-02")), "report_history_p20260102");
    }
}
