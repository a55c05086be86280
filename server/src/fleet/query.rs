//! Read side of fleet state: the one definition of a site's state ([`STATUS_SQL`]) that the
//! dashboard's counts, the site list, its CSV and the JSON API all use, so they always agree.
//!
//! A site's colour follows its open incidents, not its raw findings: a PC left on at night with
//! its reader off raises no incident (the rule knows the business hours), so it is not 異常.
//!
//! [`STATUS_SQL`] reads `st` (the site's latest state) and `oi` (its open incidents: `offline`
//! and `worst`), which come in two shapes with the same columns: [`SITES_WITH_STATE_SQL`]
//! aggregates every open incident of the fleet once (counts over all sites), and
//! [`SITES_WITH_STATE_EACH_SQL`] reads one site's open incidents per row (lists, where only
//! a page of sites is judged). Both are built from the same pieces below.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::types::Json;
use sqlx::{Arguments, PgConnection, PgPool, Postgres, QueryBuilder, Transaction};

use crate::error::Error;
use crate::fleet::health::Finding;
use crate::sites::{Health, Maintenance, SiteKind, SiteStatus};

/// Whether an active silence matches open incident `i` now: the SQL twin of
/// `incidents::silence::matches` (same matchers, same half-open window), for queries that
/// judge many incidents at once; `portal::tests::console` checks that the two agree. The
/// active silences are read once per query (an uncorrelated sub-select, kept in memory) and
/// each incident is matched against that short list — no index or table access per
/// incident, whatever the planner knows of the small `silences` table; the site's prefecture
/// and kind are looked up only for a silence that names one. A macro so that the constants
/// below can be `concat!`ed.
macro_rules! silenced_sql {
    () => {
        concat!(
            "EXISTS (SELECT 1 FROM unnest((SELECT array_agg(a) FROM silences a
                                       WHERE a.starts_at <= now() AND now() < a.ends_at)) sl
            WHERE ",
            $crate::silence_matches_sql!(
                "(SELECT x.prefecture FROM sites x WHERE x.site_id = i.site_id)",
                "(SELECT x.kind FROM sites x WHERE x.site_id = i.site_id)"
            ),
            ")"
        )
    };
}

/// Severity of incident `i` as a number, worst highest (2 critical, 1 warning, 0 info).
macro_rules! severity_number_sql {
    () => {
        "(CASE i.severity WHEN 'critical' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END)"
    };
}

/// `oi`'s columns over a set of open incidents `i`: whether one is `offline`, and the worst
/// severity among those no silence matches.
macro_rules! open_incident_columns {
    () => {
        concat!(
            "bool_or(i.rule = 'offline') AS offline, max(",
            severity_number_sql!(),
            ") FILTER (WHERE NOT ",
            silenced_sql!(),
            ") AS worst"
        )
    };
}

/// See [`silenced_sql!`].
pub const SILENCED_SQL: &str = silenced_sql!();

/// See [`severity_number_sql!`].
pub const SEVERITY_NUMBER_SQL: &str = severity_number_sql!();

/// The sites (`s`) with their latest state (`st`) and their open incidents (`oi`, one row per
/// site that has any), aggregated once for the whole fleet: reads only the open incidents (a
/// partial index, migrations/0006), so it costs the problems of the fleet, not its size.
pub const SITES_WITH_STATE_SQL: &str = concat!(
    "sites s LEFT JOIN site_state st USING (site_id)
     LEFT JOIN (SELECT i.site_id, ",
    open_incident_columns!(),
    " FROM incidents i WHERE i.state <> 'resolved' GROUP BY i.site_id) oi USING (site_id)"
);

/// `st` and `oi` for each row of a set of sites `s`, `oi` read per row (an index probe): for
/// lists, which judge a page of sites, not the fleet. A site without open incidents has an
/// `oi` row of NULLs.
macro_rules! state_each_sql {
    () => {
        concat!(
            " LEFT JOIN site_state st USING (site_id) CROSS JOIN LATERAL (SELECT ",
            open_incident_columns!(),
            " FROM incidents i WHERE i.site_id = s.site_id AND i.state <> 'resolved') oi"
        )
    };
}

/// See [`state_each_sql!`]: to follow any relation aliased `s` with a `site_id`.
pub const STATE_EACH_SQL: &str = state_each_sql!();

/// The same as [`SITES_WITH_STATE_SQL`], but with `oi` read for each site (see
/// [`state_each_sql!`]).
pub const SITES_WITH_STATE_EACH_SQL: &str = concat!("sites s", state_each_sql!());

/// A site's [`SiteStatus`] over `st` and `oi` (see the module comment), with `$1` the instant
/// before which a last report counts as silence. In order:
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

/// List order of the states: problems first, then silence, then the quiet ones (the
/// dashboard's tiles, the list's state sort).
pub const LIST_ORDER: [SiteStatus; 6] = [
    SiteStatus::Critical,
    SiteStatus::Warning,
    SiteStatus::Silent,
    SiteStatus::Ok,
    SiteStatus::Closed,
    SiteStatus::NeverReported,
];

/// Position of `status` in [`LIST_ORDER`].
pub fn rank_of(status: SiteStatus) -> i32 {
    LIST_ORDER
        .iter()
        .position(|s| *s == status)
        .unwrap_or(LIST_ORDER.len()) as i32
}

/// [`rank_of`] in SQL, over a column named `status` holding [`STATUS_SQL`].
pub fn status_order_sql() -> String {
    let arms: Vec<String> = LIST_ORDER
        .iter()
        .map(|s| format!("WHEN '{}' THEN {}", s.as_str(), rank_of(*s)))
        .collect();
    format!("(CASE status {} END)", arms.join(" "))
}

/// A condition every site in `status` meets, implied by [`STATUS_SQL`] itself, that lets the
/// planner start from the few rows that can match (the sites with an open incident of that
/// kind, the silent or never-seen sites) instead of judging every site. `None` for 正常:
/// most sites are.
pub fn status_hint(status: SiteStatus) -> Option<&'static str> {
    match status {
        // worst = 2 needs an open critical incident.
        SiteStatus::Critical => Some(
            "s.site_id IN (SELECT site_id FROM incidents WHERE state <> 'resolved' AND severity = 'critical')",
        ),
        SiteStatus::Warning => Some(
            "s.site_id IN (SELECT site_id FROM incidents WHERE state <> 'resolved' AND severity = 'warning')",
        ),
        SiteStatus::Silent => Some(
            "s.site_id IN (SELECT site_id FROM incidents WHERE state <> 'resolved' AND rule = 'offline')",
        ),
        SiteStatus::Closed => Some("st.received_at < $1"),
        SiteStatus::NeverReported => Some("st.site_id IS NULL"),
        SiteStatus::Ok => None,
    }
}

/// A transaction for the console's reads: one snapshot for all its queries (the dashboard's
/// parts agree with each other), read only, a statement timeout so a slow read cannot pile
/// up, and no JIT: the per-incident silence check inflates the planner's cost estimates past
/// the JIT threshold, and compiling then costs more than these queries take to run.
pub async fn read(pool: &PgPool) -> Result<Transaction<'static, Postgres>, Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "SELECT set_config('jit', 'off', true), set_config('statement_timeout', '30s', true)",
    )
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

/// The worst open incident of each site in `$1` (a text array) that no silence matches:
/// what a list shows as the site's main problem.
fn main_problem_sql() -> String {
    format!(
        "SELECT DISTINCT ON (i.site_id) i.site_id, i.title, i.severity
         FROM incidents i WHERE i.site_id = ANY($1) AND i.state <> 'resolved'
         ORDER BY i.site_id, {SILENCED_SQL}, {SEVERITY_NUMBER_SQL} DESC, i.first_seen"
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
}

/// Sites with problems first, then by id; `limit` rows from `offset` (the JSON API's pages).
/// A report older than `silent_before` makes the site silent.
pub async fn list_sites(
    conn: &mut PgConnection,
    silent_before: DateTime<Utc>,
    limit: i64,
    offset: i64,
) -> Result<Vec<SiteRow>, Error> {
    let sql = format!(
        "SELECT * FROM (
             SELECT s.site_id, s.name, s.prefecture, s.kind, s.maintenance,
                    {STATUS_SQL} AS status, st.health, st.received_at, st.findings
             FROM {SITES_WITH_STATE_SQL}) listed
         ORDER BY {}, site_id
         LIMIT $2 OFFSET $3",
        status_order_sql()
    );
    Ok(sqlx::query_as::<_, SiteRow>(&sql)
        .bind(silent_before)
        .bind(limit)
        .bind(offset)
        .fetch_all(conn)
        .await?)
}

/// How many sites are in each state, by the same definition as [`list_sites`]. Only the sites
/// that can be in a state other than 正常 are judged one by one — those with an open incident
/// or a report older than `silent_before` ([`status_hint`]); 未受信 is the sites without a
/// report, and every other site is 正常 by [`STATUS_SQL`]. One statement: one snapshot.
pub async fn summary(
    conn: &mut PgConnection,
    silent_before: DateTime<Utc>,
) -> Result<Summary, Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT 'total', count(*) FROM sites
         UNION ALL SELECT 'reported', count(*) FROM site_state
         UNION ALL
         SELECT status, count(*) FROM (
             SELECT {STATUS_SQL} AS status FROM {SITES_WITH_STATE_SQL}
             WHERE s.site_id IN (SELECT site_id FROM incidents WHERE state <> 'resolved'
                                 UNION ALL
                                 SELECT site_id FROM site_state WHERE received_at < $1)) judged
         WHERE status NOT IN ('ok', 'never_reported')
         GROUP BY status"
    ))
    .bind(silent_before)
    .fetch_all(conn)
    .await?;
    let count = |key: &str| rows.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n);
    let mut s = Summary {
        total: count("total"),
        critical: count(SiteStatus::Critical.as_str()),
        warning: count(SiteStatus::Warning.as_str()),
        silent: count(SiteStatus::Silent.as_str()),
        closed: count(SiteStatus::Closed.as_str()),
        never_reported: count("total") - count("reported"),
        ok: 0,
    };
    s.ok = s.total - s.never_reported - s.critical - s.warning - s.silent - s.closed;
    Ok(s)
}

/// A site's main problem (the worst open incident no silence matches).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MainProblem {
    pub site_id: String,
    pub title: String,
    pub severity: Health,
}

/// The main problem of each of `site_ids` that has an open incident.
pub async fn main_problems(
    conn: &mut PgConnection,
    site_ids: &[String],
) -> Result<Vec<MainProblem>, Error> {
    if site_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as(&main_problem_sql())
        .bind(site_ids)
        .fetch_all(conn)
        .await?)
}
