//! Read side of `report_history` for the site page's 7-day charts (issue 13). Reads the lean
//! history row (reader power, boot time, target arrays, probe errors: the typed columns of
//! migration 0007) through the `(site_id, received_at DESC)` index, downsampled in SQL to one
//! row per hour (per target), so a week of reports every minute comes back as at most 168
//! entries per series. Buckets are whole hours (JST is a whole number of hours from UTC).

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::error::Error;
use crate::sites::ReaderPower;

/// Bucket width of the charts.
pub const BUCKET: Duration = Duration::hours(1);
/// Silence between two reports that counts as a gap (the `offline` limit).
pub const GAP: Duration = Duration::minutes(15);

/// One hour of reports.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct TargetHour {
    pub bucket: DateTime<Utc>,
    pub name: String,
    pub probes: i64,
    pub reachable: i64,
    pub latency_avg: Option<f64>,
    pub latency_max: Option<i32>,
}

/// Silence between two reports longer than [`GAP`].
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
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

/// The history rows of one site over `[$2, $3)`, read once (one index scan per daily
/// partition) and aggregated four ways; each series comes back as one JSON array, so a page
/// costs one round trip and one pass over the rows. `$4` is [`GAP`]; `$5`–`$7` the reader
/// powers.
const WEEK_SQL: &str = "WITH h AS MATERIALIZED (
         SELECT received_at, reader_power, boot_time, target_names, target_reachable,
                target_latency_ms, probe_errors
         FROM report_history WHERE site_id = $1 AND received_at >= $2 AND received_at < $3),
     hours AS (
         SELECT date_bin('1 hour', received_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
                count(*) AS reports,
                count(*) FILTER (WHERE reader_power = $5) AS reader_on,
                count(*) FILTER (WHERE reader_power = $6) AS reader_off,
                count(*) FILTER (WHERE reader_power = $7) AS reader_absent,
                COALESCE(max(probe_errors), 0) AS probe_errors
         FROM h GROUP BY 1),
     targets AS (
         -- unnest in the select list (one ProjectSet) costs half a LATERAL function scan per row.
         SELECT bucket, name, count(*) AS probes, count(*) FILTER (WHERE reachable) AS reachable,
                avg(latency_ms)::float8 AS latency_avg, max(latency_ms) AS latency_max
         FROM (SELECT date_bin('1 hour', received_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
                      unnest(target_names) AS name, unnest(target_reachable) AS reachable,
                      unnest(target_latency_ms) AS latency_ms
               FROM h) t
         GROUP BY 1, 2),
     boots AS (
         SELECT DISTINCT date_trunc('minute', boot_time) AS boot FROM h
         WHERE boot_time >= $2 AND boot_time < $3),
     gaps AS (
         SELECT prev AS \"from\", received_at AS \"to\" FROM (
             SELECT received_at, lag(received_at) OVER (ORDER BY received_at) AS prev FROM h) r
         WHERE received_at - prev > $4 ORDER BY received_at DESC LIMIT 50)
     SELECT (SELECT COALESCE(json_agg(hours ORDER BY bucket), '[]') FROM hours) AS hours,
            (SELECT COALESCE(json_agg(targets ORDER BY name, bucket), '[]') FROM targets) AS targets,
            (SELECT COALESCE(json_agg(boot ORDER BY boot), '[]') FROM boots) AS reboots,
            (SELECT COALESCE(json_agg(gaps ORDER BY \"to\" DESC), '[]') FROM gaps) AS gaps,
            (SELECT max(received_at) FROM h) AS last_report";

#[derive(sqlx::FromRow)]
struct WeekRow {
    hours: Json<Vec<Hour>>,
    targets: Json<Vec<TargetHour>>,
    reboots: Json<Vec<DateTime<Utc>>>,
    gaps: Json<Vec<Gap>>,
    last_report: Option<DateTime<Utc>>,
}

/// The last `days` days before `now`.
pub async fn recent(
    conn: &mut PgConnection,
    site_id: &str,
    now: DateTime<Utc>,
    days: i64,
) -> Result<History, Error> {
    let from = now - Duration::days(days);
    let row: WeekRow = sqlx::query_as(WEEK_SQL)
        .bind(site_id)
        .bind(from)
        .bind(now)
        .bind(GAP)
        .bind(ReaderPower::On)
        .bind(ReaderPower::Off)
        .bind(ReaderPower::Absent)
        .fetch_one(conn)
        .await?;
    let mut gaps = row.gaps.0;
    // The silence since the last report is a gap too (while it lasts).
    if let Some(last) = row.last_report
        && now - last > GAP
    {
        gaps.insert(
            0,
            Gap {
                from: last,
                to: now,
            },
        );
    }
    Ok(History {
        from,
        to: now,
        hours: row.hours.0,
        targets: row.targets.0,
        reboots: row.reboots.0,
        gaps,
    })
}
