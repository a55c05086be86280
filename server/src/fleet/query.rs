//! Read side of fleet state: what the portal's site list shows.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use sqlx::types::Json;

use crate::error::Error;
use crate::fleet::health::Finding;
use crate::sites::{Health, Maintenance, SiteKind};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct SiteRow {
    pub site_id: String,
    pub name: String,
    pub prefecture: String,
    pub kind: SiteKind,
    pub maintenance: Maintenance,
    pub health: Option<Health>,
    pub received_at: Option<DateTime<Utc>>,
    pub findings: Option<Json<Vec<Finding>>>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub total: i64,
    pub ok: i64,
    pub warning: i64,
    pub critical: i64,
    pub never_reported: i64,
}

/// Sites with problems first, then by id; `limit` rows from `offset`.
pub async fn list_sites(pool: &PgPool, limit: i64, offset: i64) -> Result<Vec<SiteRow>, Error> {
    Ok(sqlx::query_as::<_, SiteRow>(
        "SELECT s.site_id, s.name, s.prefecture, s.kind, s.maintenance,
                st.health, st.received_at, st.findings
         FROM sites s LEFT JOIN site_state st USING (site_id)
         ORDER BY CASE st.health WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 WHEN 'ok' THEN 2 ELSE 3 END,
                  s.site_id
         LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?)
}

pub async fn summary(pool: &PgPool) -> Result<Summary, Error> {
    let rows: Vec<(Option<Health>, i64)> = sqlx::query_as(
        "SELECT st.health, count(*) FROM sites s LEFT JOIN site_state st USING (site_id) GROUP BY st.health",
    )
    .fetch_all(pool)
    .await?;
    let mut s = Summary::default();
    for (health, n) in rows {
        s.total += n;
        match health {
            Some(Health::Ok | Health::Info) => s.ok += n,
            Some(Health::Warning) => s.warning += n,
            Some(Health::Critical) => s.critical += n,
            None => s.never_reported += n,
        }
    }
    Ok(s)
}
