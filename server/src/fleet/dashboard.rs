//! The dashboard's data (issue 13): the fleet by state (the one definition,
//! [`query::STATUS_SQL`]), open incidents by severity and by rule, and the short lists an
//! operator acts on — certificates expiring within 30 days, readers off while open, sites
//! silent while open, the newest incidents. One [`Snapshot`] is read per refresh and shared
//! by every browser (`portal::live`). Everything but the state counts reads only the open
//! incidents, so the cost follows the fleet's problems, not its size.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::query::{self, SILENCED_SQL, Summary};
use crate::error::Error;
use crate::incidents::lifecycle::State;
use crate::incidents::rules::{Rule, cert};
use crate::sites::Health;

/// Rows in each short list.
pub const LIST_ROWS: i64 = 5;
/// Rows in the newest incidents.
pub const NEWEST_ROWS: i64 = 8;
/// A certificate this close to expiry (or expired) is on the dashboard (issue 13).
pub const CERT_DAYS: i64 = 30;

/// Everything the dashboard shows, as of one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub as_of: DateTime<Utc>,
    pub summary: Summary,
    /// Open incidents no silence matches, by severity (critical first).
    pub severities: Vec<(Health, i64)>,
    /// Open incidents a silence matches (recorded, notifying no one).
    pub silenced: i64,
    /// Open incidents no silence matches, by rule, most frequent first.
    pub rules: Vec<(Rule, i64)>,
    pub certificates: Attention,
    pub readers_off: Attention,
    pub silent: Attention,
    pub newest: Vec<IncidentLine>,
}

/// A short list and how many rows it would have in full.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attention {
    pub total: i64,
    pub items: Vec<IncidentLine>,
}

/// One open incident, as a dashboard line.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct IncidentLine {
    pub id: i64,
    pub site_id: String,
    pub site_name: String,
    pub rule: Rule,
    pub severity: Health,
    pub state: State,
    pub title: String,
    pub first_seen: DateTime<Utc>,
    /// The site's last report (`None`: never).
    pub last_report: Option<DateTime<Utc>>,
    pub silenced: bool,
}

/// Reads the snapshot; a report older than `silent_before` makes a site silent.
pub async fn snapshot(
    pool: &sqlx::PgPool,
    now: DateTime<Utc>,
    silent_before: DateTime<Utc>,
) -> Result<Snapshot, Error> {
    // One snapshot of the database for every part: the counts and the lists agree.
    let mut tx = query::read(pool).await?;
    let conn = &mut *tx;
    let summary = query::summary(conn, silent_before).await?;
    let counts = incident_counts(conn).await?;
    let cert_stages: Vec<String> = cert::THRESHOLDS
        .iter()
        .filter(|t| **t <= CERT_DAYS)
        .map(i64::to_string)
        .collect();
    let certificates = attention(
        conn,
        "(i.rule = 'cert_expired' OR (i.rule = 'cert_expiring' AND i.evidence->>'threshold_days' = ANY($1)))",
        &cert_stages,
        "i.severity = 'critical' DESC, i.first_seen",
    )
    .await?;
    let readers = [Rule::ReaderOff, Rule::ReaderAbsent].map(|r| r.as_str().to_owned());
    let readers_off = attention(conn, "i.rule = ANY($1)", &readers, "i.first_seen").await?;
    let offline = [Rule::Offline.as_str().to_owned()];
    // Silent the longest first: the sweep opened `offline` when the site went quiet.
    let silent = attention(conn, "i.rule = ANY($1)", &offline, "i.first_seen").await?;
    let newest = newest(conn).await?;
    tx.commit().await?;
    Ok(Snapshot {
        as_of: now,
        summary,
        severities: counts.severities,
        silenced: counts.silenced,
        rules: counts.rules,
        certificates,
        readers_off,
        silent,
        newest,
    })
}

struct Counts {
    severities: Vec<(Health, i64)>,
    silenced: i64,
    rules: Vec<(Rule, i64)>,
}

async fn incident_counts(conn: &mut PgConnection) -> Result<Counts, Error> {
    let rows: Vec<(Health, Rule, bool, i64)> = sqlx::query_as(&format!(
        "SELECT severity, rule, silenced, count(*) FROM (
             SELECT i.severity, i.rule, {SILENCED_SQL} AS silenced
             FROM incidents i WHERE i.state <> 'resolved') open
         GROUP BY 1, 2, 3"
    ))
    .fetch_all(conn)
    .await?;
    let mut severities: Vec<(Health, i64)> = [Health::Critical, Health::Warning, Health::Info]
        .into_iter()
        .map(|h| (h, 0))
        .collect();
    let mut rules: Vec<(Rule, i64)> = Vec::new();
    let mut silenced = 0;
    for (severity, rule, is_silenced, n) in rows {
        if is_silenced {
            silenced += n;
            continue;
        }
        if let Some(s) = severities.iter_mut().find(|(h, _)| *h == severity) {
            s.1 += n;
        }
        match rules.iter_mut().find(|(r, _)| *r == rule) {
            Some(r) => r.1 += n,
            None => rules.push((rule, n)),
        }
    }
    rules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Counts {
        severities,
        silenced,
        rules,
    })
}

const LINE_SQL: &str = "SELECT i.incident_id AS id, i.site_id, si.name AS site_name, i.rule,
        i.severity, i.state, i.title, i.first_seen, st.received_at AS last_report";

/// Open, unsilenced incidents matching `filter` (which reads `$1`, a text array): how many,
/// and the first [`LIST_ROWS`] in `order` (over the incident's own columns). Counted apart,
/// so that only the rows shown are joined to their site and state.
async fn attention(
    conn: &mut PgConnection,
    filter: &str,
    arg: &[String],
    order: &str,
) -> Result<Attention, Error> {
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM incidents i
         WHERE i.state <> 'resolved' AND {filter} AND NOT {SILENCED_SQL}"
    ))
    .bind(arg)
    .fetch_one(&mut *conn)
    .await?;
    if total == 0 {
        return Ok(Attention::default());
    }
    let items: Vec<IncidentLine> = sqlx::query_as(&format!(
        "{LINE_SQL}, false AS silenced
         FROM (SELECT * FROM incidents i
               WHERE i.state <> 'resolved' AND {filter} AND NOT {SILENCED_SQL}
               ORDER BY {order}, i.incident_id LIMIT $2) i
         JOIN sites si USING (site_id) LEFT JOIN site_state st USING (site_id)
         ORDER BY {order}, i.incident_id"
    ))
    .bind(arg)
    .bind(LIST_ROWS)
    .fetch_all(conn)
    .await?;
    Ok(Attention { total, items })
}

/// The newest open incidents, silenced ones marked.
async fn newest(conn: &mut PgConnection) -> Result<Vec<IncidentLine>, Error> {
    Ok(sqlx::query_as(&format!(
        "{LINE_SQL}, {SILENCED_SQL} AS silenced
         FROM incidents i JOIN sites si USING (site_id) LEFT JOIN site_state st USING (site_id)
         WHERE i.state <> 'resolved'
         ORDER BY i.first_seen DESC, i.incident_id DESC LIMIT $1"
    ))
    .bind(NEWEST_ROWS)
    .fetch_all(conn)
    .await?)
}
