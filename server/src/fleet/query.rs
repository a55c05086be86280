//! Read side of fleet state: what the portal's site list and its summary show. Both use the
//! one definition of a site's state, [`STATUS_SQL`], so the pills always agree with the list.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use sqlx::types::Json;

use crate::error::Error;
use crate::fleet::health::Finding;
use crate::sites::{Health, Maintenance, SiteKind, SiteStatus};

/// The sites with their latest state and whether an `offline` incident is open (few rows:
/// open incidents only), for [`STATUS_SQL`].
pub const SITES_WITH_STATE_SQL: &str = "sites s LEFT JOIN site_state st USING (site_id)
     LEFT JOIN (SELECT DISTINCT site_id, true AS offline FROM incidents
                WHERE rule = 'offline' AND state <> 'resolved') oi USING (site_id)";

/// A site's [`SiteStatus`] from [`SITES_WITH_STATE_SQL`], with `$1` the instant before which a
/// last report counts as silence. An old report says nothing about now (domain.md §2.1): a
/// silent site is 停止中 when the sweep found it silent while open (an open `offline`
/// incident, which knows the site's business hours), else 営業時間外 — a PC off at night.
pub const STATUS_SQL: &str = "(CASE
        WHEN st.received_at IS NULL THEN 'never_reported'
        WHEN oi.offline THEN 'silent'
        WHEN st.received_at < $1 THEN 'closed'
        WHEN st.health = 'critical' THEN 'critical'
        WHEN st.health IN ('warning', 'info') THEN 'warning'
        ELSE 'ok' END)";

/// List order of the states: problems first, then silence, then the quiet ones.
const STATUS_ORDER_SQL: &str = "CASE status WHEN 'critical' THEN 0 WHEN 'warning' THEN 1
        WHEN 'silent' THEN 2 WHEN 'ok' THEN 3 WHEN 'closed' THEN 4 ELSE 5 END";

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct SiteRow {
    pub site_id: String,
    pub name: String,
    pub prefecture: String,
    pub kind: SiteKind,
    pub maintenance: Maintenance,
    pub status: SiteStatus,
    pub health: Option<Health>,
    pub received_at: Option<DateTime<Utc>>,
    pub findings: Option<Json<Vec<Finding>>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub total: i64,
    pub ok: i64,
    pub warning: i64,
    pub critical: i64,
    /// 停止中: silent while open (an `offline` incident is open).
    pub silent: i64,
    /// 営業時間外: silent, and not while open.
    pub closed: i64,
    pub never_reported: i64,
}

/// Sites with problems first, then by id; `limit` rows from `offset`. A report older than
/// `silent_before` makes the site silent.
pub async fn list_sites(
    pool: &PgPool,
    silent_before: DateTime<Utc>,
    limit: i64,
    offset: i64,
) -> Result<Vec<SiteRow>, Error> {
    Ok(sqlx::query_as::<_, SiteRow>(&format!(
        "SELECT * FROM (
             SELECT s.site_id, s.name, s.prefecture, s.kind, s.maintenance,
                    {STATUS_SQL} AS status, st.health, st.received_at, st.findings
             FROM {SITES_WITH_STATE_SQL}) listed
         ORDER BY {STATUS_ORDER_SQL}, site_id
         LIMIT $2 OFFSET $3"
    ))
    .bind(silent_before)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?)
}

/// How many sites are in each state, by the same definition as [`list_sites`].
pub async fn summary(pool: &PgPool, silent_before: DateTime<Utc>) -> Result<Summary, Error> {
    let rows: Vec<(SiteStatus, i64)> = sqlx::query_as(&format!(
        "SELECT {STATUS_SQL} AS status, count(*)
         FROM {SITES_WITH_STATE_SQL} GROUP BY 1"
    ))
    .bind(silent_before)
    .fetch_all(pool)
    .await?;
    let mut s = Summary::default();
    for (status, n) in rows {
        s.total += n;
        match status {
            SiteStatus::Ok => s.ok += n,
            SiteStatus::Warning => s.warning += n,
            SiteStatus::Critical => s.critical += n,
            SiteStatus::Silent => s.silent += n,
            SiteStatus::Closed => s.closed += n,
            SiteStatus::NeverReported => s.never_reported += n,
        }
    }
    Ok(s)
}
