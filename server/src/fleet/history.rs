//! Read side of `report_history` for the site page's 7-day charts (issue 13). Queries the
//! lean history row (reader power, boot time, target arrays, probe errors: the typed columns of
//! migration 0007), downsampled in SQL to one row per hour (per target), so a week of reports
//! every minute comes back as at most 168 rows per series. Each query uses the
//! `(site_id, received_at DESC)` index.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;

use crate::error::Error;
use crate::sites::ReaderPower;

/// Bucket width of the charts.
pub const BUCKET: Duration = Duration::hours(1);
/// Silence between two reports that counts as a gap (the `offline` limit).
pub const GAP: Duration = Duration::minutes(15);
/// Bucket boundaries: whole hours (JST is a whole number of hours from UTC).
const ORIGIN_SQL: &str = "TIMESTAMPTZ '2000-01-01 00:00:00+00'";

/// One hour of reports.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Hour {
    pub bucket: DateTime<Utc>,
    pub reports: i64,
    pub reader_on: i64,
    pub reader_off: i64,
    pub reader_absent: i64,
    /// Most probe errors in one report of the hour.
    pub probe_errors: i16,
}

/// One hour of one network target.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TargetHour {
    pub bucket: DateTime<Utc>,
    pub name: String,
    pub probes: i64,
    pub reachable: i64,
    pub latency_avg: Option<f64>,
    pub latency_max: Option<i32>,
}

/// Silence between two reports longer than [`GAP`].
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Gap {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A site's history over `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub hours: Vec<Hour>,
    pub targets: Vec<TargetHour>,
    /// Boot instants seen in the window (to the minute).
    pub reboots: Vec<DateTime<Utc>>,
    /// Gaps, newest first (at most 50), including the one since the last report.
    pub gaps: Vec<Gap>,
}

/// The last `days` days before `now`.
pub async fn recent(
    conn: &mut PgConnection,
    site_id: &str,
    now: DateTime<Utc>,
    days: i64,
) -> Result<History, Error> {
    let from = now - Duration::days(days);
    let hours: Vec<Hour> = sqlx::query_as(&format!(
        "SELECT date_bin('1 hour', received_at, {ORIGIN_SQL}) AS bucket,
                count(*) AS reports,
                count(*) FILTER (WHERE reader_power = $4) AS reader_on,
                count(*) FILTER (WHERE reader_power = $5) AS reader_off,
                count(*) FILTER (WHERE reader_power = $6) AS reader_absent,
                COALESCE(max(probe_errors), 0)::int2 AS probe_errors
         FROM report_history
         WHERE site_id = $1 AND received_at >= $2 AND received_at < $3
         GROUP BY 1 ORDER BY 1"
    ))
    .bind(site_id)
    .bind(from)
    .bind(now)
    .bind(ReaderPower::On)
    .bind(ReaderPower::Off)
    .bind(ReaderPower::Absent)
    .fetch_all(&mut *conn)
    .await?;
    let targets: Vec<TargetHour> = sqlx::query_as(&format!(
        "SELECT date_bin('1 hour', h.received_at, {ORIGIN_SQL}) AS bucket, t.name,
                count(*) AS probes,
                count(*) FILTER (WHERE t.reachable) AS reachable,
                avg(t.latency_ms)::float8 AS latency_avg,
                max(t.latency_ms) AS latency_max
         FROM report_history h
         CROSS JOIN LATERAL unnest(h.target_names, h.target_reachable, h.target_latency_ms)
              AS t(name, reachable, latency_ms)
         WHERE h.site_id = $1 AND h.received_at >= $2 AND h.received_at < $3
         GROUP BY 1, 2 ORDER BY 2, 1"
    ))
    .bind(site_id)
    .bind(from)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let reboots: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT DISTINCT date_trunc('minute', boot_time) AS boot FROM report_history
         WHERE site_id = $1 AND received_at >= $2 AND received_at < $3
           AND boot_time >= $2 AND boot_time < $3
         ORDER BY 1",
    )
    .bind(site_id)
    .bind(from)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let mut gaps: Vec<Gap> = sqlx::query_as(
        "SELECT prev AS from, received_at AS to FROM (
             SELECT received_at, lag(received_at) OVER (ORDER BY received_at) AS prev
             FROM report_history
             WHERE site_id = $1 AND received_at >= $2 AND received_at < $3) r
         WHERE received_at - prev > $4
         ORDER BY received_at DESC LIMIT 50",
    )
    .bind(site_id)
    .bind(from)
    .bind(now)
    .bind(GAP)
    .fetch_all(&mut *conn)
    .await?;
    let last = hours.last().map(|h| h.bucket);
    if let Some(last_report) = last_report(conn, site_id, from, now, last).await?
        && now - last_report > GAP
    {
        gaps.insert(
            0,
            Gap {
                from: last_report,
                to: now,
            },
        );
    }
    Ok(History {
        from,
        to: now,
        hours,
        targets,
        reboots,
        gaps,
    })
}

/// The last report in the window (only looked up when there was one).
async fn last_report(
    conn: &mut PgConnection,
    site_id: &str,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
    last_bucket: Option<DateTime<Utc>>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let Some(bucket) = last_bucket else {
        return Ok(None);
    };
    Ok(sqlx::query_scalar(
        "SELECT max(received_at) FROM report_history
         WHERE site_id = $1 AND received_at >= $2 AND received_at < $3",
    )
    .bind(site_id)
    .bind(bucket.max(from))
    .bind(now)
    .fetch_one(conn)
    .await?)
}
