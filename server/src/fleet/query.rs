//! Read side of fleet state: the one definition of a site's state ([`STATUS_SQL`]) that the
//! dashboard's counts, the site list, its CSV and the JSON API all use, so they always agree.
//!
//! A site's colour follows its open incidents, not its raw findings: a PC left on at night with
//! its reader off raises no incident (the rule knows the business hours), so it is not 異常.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::types::Json;
use sqlx::{Arguments, PgPool, Postgres, QueryBuilder};

use crate::error::Error;
use crate::fleet::health::Finding;
use crate::sites::{Health, Maintenance, SiteKind, SiteStatus};

/// Whether an active silence matches incident `i` of site `si` now: the SQL twin of
/// `incidents::silence::matches` (same matchers, same half-open window), for the queries that
/// judge every open incident of the fleet at once. `portal::tests::console` checks that the
/// two agree. A macro so that [`SITES_WITH_STATE_SQL`] can be one `concat!`ed constant.
macro_rules! silenced_sql {
    () => {
        "EXISTS (SELECT 1 FROM silences sl
            WHERE sl.starts_at <= now() AND now() < sl.ends_at
              AND (sl.site_id IS NULL OR sl.site_id = i.site_id)
              AND (sl.rule IS NULL OR sl.rule = i.rule)
              AND (sl.prefecture IS NULL OR sl.prefecture = si.prefecture)
              AND (sl.kind IS NULL OR sl.kind = si.kind))"
    };
}

/// Severity of incident `i` as a number, worst highest (2 critical, 1 warning, 0 info).
macro_rules! severity_number_sql {
    () => {
        "(CASE i.severity WHEN 'critical' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END)"
    };
}

/// See [`silenced_sql!`].
pub const SILENCED_SQL: &str = silenced_sql!();

/// See [`severity_number_sql!`].
pub const SEVERITY_NUMBER_SQL: &str = severity_number_sql!();

/// The sites (`s`) with their latest state (`st`) and, from their incidents that are not
/// resolved (`oi`, one row per site that has any): whether one is `offline`, and the worst
/// severity among those no silence matches. The aggregate reads only the open incidents (a
/// partial index, migrations/0006), so it costs the problems of the fleet, not its size.
pub const SITES_WITH_STATE_SQL: &str = concat!(
    "sites s LEFT JOIN site_state st USING (site_id)
     LEFT JOIN (SELECT i.site_id, bool_or(i.rule = 'offline') AS offline,
                       max(",
    severity_number_sql!(),
    ") FILTER (WHERE NOT ",
    silenced_sql!(),
    ") AS worst
                FROM incidents i JOIN sites si USING (site_id)
                WHERE i.state <> 'resolved' GROUP BY i.site_id) oi USING (site_id)"
);

/// A site's [`SiteStatus`] from [`SITES_WITH_STATE_SQL`], with `$1` the instant before which a
/// last report counts as silence. In order:
/// - 未受信: never reported;
/// - 停止中: silent while open — the sweep, which knows the site's business hours, opened
///   `offline` (domain.md §2.1);
/// - 営業時間外: silent otherwise (a PC off at night is normal): an old report says nothing
///   about now;
/// - 異常 / 注意: an open incident no silence matches, critical / warning (acknowledged ones
///   count: the problem is still there). Information-level incidents (screen lock off, a
///   certificate 60 days from expiry) do not colour a site;
/// - 正常 otherwise.
pub const STATUS_SQL: &str = "(CASE
        WHEN st.received_at IS NULL THEN 'never_reported'
        WHEN oi.offline THEN 'silent'
        WHEN st.received_at < $1 THEN 'closed'
        WHEN oi.worst = 2 THEN 'critical'
        WHEN oi.worst = 1 THEN 'warning'
        ELSE 'ok' END)";

/// List order of the states: problems first, then silence, then the quiet ones; over a
/// column named `status` holding [`STATUS_SQL`].
pub const STATUS_ORDER_SQL: &str = "(CASE status WHEN 'critical' THEN 0 WHEN 'warning' THEN 1
        WHEN 'silent' THEN 2 WHEN 'ok' THEN 3 WHEN 'closed' THEN 4 ELSE 5 END)";

/// A condition every site in `status` meets, implied by [`STATUS_SQL`] itself, that lets the
/// planner start from the few rows that can match (the open incidents, the silent or
/// never-seen sites) instead of judging every site. `None` for 正常: most sites are.
pub fn status_hint(status: SiteStatus) -> Option<&'static str> {
    match status {
        SiteStatus::Critical | SiteStatus::Warning | SiteStatus::Silent => {
            Some("oi.site_id IS NOT NULL")
        }
        SiteStatus::Closed => Some("st.received_at < $1"),
        SiteStatus::NeverReported => Some("st.site_id IS NULL"),
        SiteStatus::Ok => None,
    }
}

/// The worst open incident of each site in `$1` (a text array) that no silence matches:
/// what a list shows as the site's main problem.
pub const MAIN_PROBLEM_SQL: &str = "SELECT DISTINCT ON (i.site_id) i.site_id, i.title, i.severity
     FROM incidents i JOIN sites si USING (site_id)
     WHERE i.site_id = ANY($1) AND i.state <> 'resolved'";

/// Order of [`MAIN_PROBLEM_SQL`]: per site, unsilenced first, worst first, oldest first.
fn main_problem_sql() -> String {
    format!(
        "{MAIN_PROBLEM_SQL} ORDER BY i.site_id, {SILENCED_SQL}, {SEVERITY_NUMBER_SQL} DESC, i.first_seen"
    )
}

/// A query builder that starts with `init` and has `silent_before` bound as `$1` (read by
/// [`STATUS_SQL`]); the binds pushed next are `$2`, `$3`, ...
pub fn builder(init: &str, silent_before: DateTime<Utc>) -> QueryBuilder<'static, Postgres> {
    let mut args = PgArguments::default();
    // Encoding a timestamp into the argument buffer cannot fail.
    let _ = args.add(silent_before);
    QueryBuilder::with_arguments(init.to_owned(), args)
}

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

impl Summary {
    /// The count of one state.
    pub fn of(&self, status: SiteStatus) -> i64 {
        match status {
            SiteStatus::Ok => self.ok,
            SiteStatus::Warning => self.warning,
            SiteStatus::Critical => self.critical,
            SiteStatus::Silent => self.silent,
            SiteStatus::Closed => self.closed,
            SiteStatus::NeverReported => self.never_reported,
        }
    }

    fn add(&mut self, status: SiteStatus, n: i64) {
        self.total += n;
        match status {
            SiteStatus::Ok => self.ok += n,
            SiteStatus::Warning => self.warning += n,
            SiteStatus::Critical => self.critical += n,
            SiteStatus::Silent => self.silent += n,
            SiteStatus::Closed => self.closed += n,
            SiteStatus::NeverReported => self.never_reported += n,
        }
    }
}

/// Sites with problems first, then by id; `limit` rows from `offset` (the JSON API's pages).
/// A report older than `silent_before` makes the site silent.
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
        s.add(status, n);
    }
    Ok(s)
}

/// A site's main problem (see [`MAIN_PROBLEM_SQL`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MainProblem {
    pub site_id: String,
    pub title: String,
    pub severity: Health,
}

/// The main problem of each of `site_ids` that has an open incident.
pub async fn main_problems(pool: &PgPool, site_ids: &[String]) -> Result<Vec<MainProblem>, Error> {
    if site_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as(&main_problem_sql())
        .bind(site_ids)
        .fetch_all(pool)
        .await?)
}
