//! The read side of incidents for the API and the CLI: filtered lists with keyset pagination
//! (sorted by severity, then age) and one incident with its timeline. Each incident carries
//! whether an active silence matches it and the desk answer for its part at the site.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::lifecycle::State;
use super::rules::Rule;
use super::silence::{self, Scope, Silence, Target};
use crate::error::Error;
use crate::sites::profile::SITE_COLUMNS;
use crate::sites::{Health, Site, SiteKind};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// Which states a list shows: the active ones (open and acknowledged) unless asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateFilter {
    #[default]
    Active,
    All,
    Open,
    Acknowledged,
    Resolved,
}

impl From<State> for StateFilter {
    fn from(s: State) -> Self {
        match s {
            State::Open => StateFilter::Open,
            State::Acknowledged => StateFilter::Acknowledged,
            State::Resolved => StateFilter::Resolved,
        }
    }
}

/// `GET /api/v1/incidents` query parameters (also what the CLI fills in).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filter {
    #[serde(default)]
    pub state: StateFilter,
    pub severity: Option<Health>,
    pub rule: Option<Rule>,
    /// A site id.
    pub site: Option<String>,
    pub prefecture: Option<String>,
    /// Seen at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Assigned to this operator (username).
    pub assignee: Option<String>,
    /// Only silenced (`true`) or only not silenced (`false`) incidents, as of now.
    pub silenced: Option<bool>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Position in the default order: severity rank (critical first), first seen, id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub rank: i32,
    pub first_seen_micros: i64,
    pub id: i64,
}

impl Cursor {
    /// Opaque to clients: hex of `rank.micros.id`.
    pub fn encode(&self) -> String {
        hex::encode(format!(
            "{}.{}.{}",
            self.rank, self.first_seen_micros, self.id
        ))
    }

    pub fn decode(text: &str) -> Result<Cursor, Error> {
        let bad = || {
            Error::InvalidArgument(
                "cursor が正しくありません。前の応答の next_cursor をそのまま渡してください".into(),
            )
        };
        let raw = String::from_utf8(hex::decode(text).map_err(|_| bad())?).map_err(|_| bad())?;
        let mut parts = raw.split('.');
        let mut next = || {
            parts
                .next()
                .and_then(|p| p.parse::<i64>().ok())
                .ok_or_else(bad)
        };
        let (rank, micros, id) = (next()?, next()?, next()?);
        Ok(Cursor {
            rank: i32::try_from(rank).map_err(|_| bad())?,
            first_seen_micros: micros,
            id,
        })
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    incident_id: i64,
    site_id: String,
    site_name: String,
    prefecture: String,
    kind: SiteKind,
    rule: Rule,
    subject: String,
    severity: Health,
    state: State,
    title: String,
    detail: String,
    evidence: serde_json::Value,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    count: i64,
    flapping: bool,
    assignee: Option<String>,
    acknowledged_at: Option<DateTime<Utc>>,
    acknowledged_by: Option<String>,
    resolved_at: Option<DateTime<Utc>>,
    resolved_by: Option<String>,
    resolve_reason: Option<String>,
    reopen_count: i32,
    version: i64,
    rank: i32,
}

/// One incident as the API and the CLI show it.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub id: i64,
    pub site_id: String,
    pub site_name: String,
    pub prefecture: String,
    pub rule: Rule,
    pub rule_label: &'static str,
    pub subject: String,
    pub severity: Health,
    pub state: State,
    pub state_label: &'static str,
    pub title: String,
    pub detail: String,
    pub evidence: serde_json::Value,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub count: i64,
    pub silenced: bool,
    /// Ids of the silences that match now.
    pub silenced_by: Vec<i64>,
    pub flapping: bool,
    pub assignee: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolve_reason: Option<String>,
    pub reopen_count: i32,
    /// Latest timeline row id: send it back as `version` with an action to refuse a stale one.
    pub version: i64,
    pub desk: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub incidents: Vec<Incident>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub actor: String,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    #[serde(flatten)]
    pub incident: Incident,
    pub timeline: Vec<Event>,
}

const SELECT: &str = "SELECT i.incident_id, i.site_id, s.name AS site_name, s.prefecture, s.kind,
        i.rule, i.subject, i.severity, i.state, i.title, i.detail, i.evidence, i.first_seen,
        i.last_seen, i.count, i.flapping, i.assignee, i.acknowledged_at, i.acknowledged_by,
        i.resolved_at, i.resolved_by, i.resolve_reason, i.reopen_count,
        COALESCE((SELECT max(event_id) FROM incident_events e WHERE e.incident_id = i.incident_id), 0) AS version,
        (CASE i.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END) AS rank
     FROM incidents i JOIN sites s USING (site_id)";
const RANK: &str = "(CASE i.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END)";

fn push_filters(q: &mut QueryBuilder<'_, Postgres>, f: &Filter, now: DateTime<Utc>) {
    q.push(" WHERE true");
    match f.state {
        StateFilter::Active => {
            q.push(" AND i.state <> 'resolved'");
        }
        StateFilter::All => {}
        StateFilter::Open => {
            q.push(" AND i.state = 'open'");
        }
        StateFilter::Acknowledged => {
            q.push(" AND i.state = 'acknowledged'");
        }
        StateFilter::Resolved => {
            q.push(" AND i.state = 'resolved'");
        }
    }
    if let Some(s) = f.severity {
        q.push(" AND i.severity = ").push_bind(s);
    }
    if let Some(r) = f.rule {
        q.push(" AND i.rule = ").push_bind(r);
    }
    if let Some(site) = &f.site {
        q.push(" AND i.site_id = ").push_bind(site.clone());
    }
    if let Some(p) = &f.prefecture {
        q.push(" AND s.prefecture = ").push_bind(p.clone());
    }
    if let Some(since) = f.since {
        q.push(" AND i.last_seen >= ").push_bind(since);
    }
    if let Some(a) = &f.assignee {
        q.push(" AND i.assignee = ").push_bind(a.clone());
    }
    if let Some(silenced) = f.silenced {
        // `silence::matches` in SQL: the same window, the same matchers.
        q.push(if silenced { " AND " } else { " AND NOT " });
        q.push("EXISTS (SELECT 1 FROM silences sl WHERE sl.starts_at <= ")
            .push_bind(now)
            .push(" AND sl.ends_at > ")
            .push_bind(now)
            .push(" AND ")
            .push(silence::MATCHES_TARGET_SQL)
            .push(")");
    }
}

/// One page of incidents in the default order (critical first, then oldest first).
pub async fn list(conn: &mut PgConnection, f: &Filter, now: DateTime<Utc>) -> Result<Page, Error> {
    let limit = f.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::InvalidArgument(format!(
            "limit は 1〜{MAX_LIMIT} で指定してください"
        )));
    }
    let cursor = f.cursor.as_deref().map(Cursor::decode).transpose()?;
    let mut q = QueryBuilder::new(SELECT);
    push_filters(&mut q, f, now);
    if let Some(c) = cursor {
        let first_seen =
            DateTime::<Utc>::from_timestamp_micros(c.first_seen_micros).unwrap_or_default();
        q.push(format!(" AND ({RANK}, i.first_seen, i.incident_id) > ("))
            .push_bind(c.rank)
            .push(", ")
            .push_bind(first_seen)
            .push(", ")
            .push_bind(c.id)
            .push(")");
    }
    q.push(format!(
        " ORDER BY {RANK}, i.first_seen, i.incident_id LIMIT "
    ))
    .push_bind(limit + 1);
    let mut rows: Vec<Row> = q.build_query_as().fetch_all(&mut *conn).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more.then(|| rows.last()).flatten().map(|r| {
        Cursor {
            rank: r.rank,
            first_seen_micros: r.first_seen.timestamp_micros(),
            id: r.incident_id,
        }
        .encode()
    });
    let incidents = decorate(conn, rows, now).await?;
    Ok(Page {
        incidents,
        next_cursor,
    })
}

/// One incident with its timeline, oldest first.
pub async fn get(conn: &mut PgConnection, id: i64, now: DateTime<Utc>) -> Result<Detail, Error> {
    let row: Row = sqlx::query_as(&format!("{SELECT} WHERE i.incident_id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("障害 {id}")))?;
    let timeline: Vec<Event> = sqlx::query_as(
        "SELECT event_id AS id, at, kind, actor, detail FROM incident_events
         WHERE incident_id = $1 ORDER BY event_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let incident = decorate(conn, vec![row], now).await?.remove(0);
    Ok(Detail { incident, timeline })
}

/// Adds the silence verdict and the desk answer.
async fn decorate(
    conn: &mut PgConnection,
    rows: Vec<Row>,
    now: DateTime<Utc>,
) -> Result<Vec<Incident>, Error> {
    let silences: Vec<Silence> = silence::list(conn, Scope::Current, now).await?;
    let mut ids: Vec<String> = rows.iter().map(|r| r.site_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let sites: Vec<Site> = sqlx::query_as(&format!(
        "SELECT {SITE_COLUMNS} FROM sites WHERE site_id = ANY($1)"
    ))
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let target = Target {
                site_id: &r.site_id,
                rule: r.rule,
                prefecture: &r.prefecture,
                kind: r.kind,
            };
            let silenced_by: Vec<i64> = silences
                .iter()
                .filter(|s| silence::matches(s, &target, now))
                .map(|s| s.id)
                .collect();
            let site = sites.iter().find(|s| s.site_id == r.site_id);
            let desk = super::desk::answer(r.rule, &r.subject, site, now);
            Incident {
                id: r.incident_id,
                rule_label: r.rule.label_ja(),
                state_label: r.state.label_ja(),
                silenced: !silenced_by.is_empty(),
                silenced_by,
                desk,
                site_id: r.site_id,
                site_name: r.site_name,
                prefecture: r.prefecture,
                rule: r.rule,
                subject: r.subject,
                severity: r.severity,
                state: r.state,
                title: r.title,
                detail: r.detail,
                evidence: r.evidence,
                first_seen: r.first_seen,
                last_seen: r.last_seen,
                count: r.count,
                flapping: r.flapping,
                assignee: r.assignee,
                acknowledged_at: r.acknowledged_at,
                acknowledged_by: r.acknowledged_by,
                resolved_at: r.resolved_at,
                resolved_by: r.resolved_by,
                resolve_reason: r.resolve_reason,
                reopen_count: r.reopen_count,
                version: r.version,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor {
            rank: 1,
            first_seen_micros: 1_772_400_000_123_456,
            id: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(matches!(
            Cursor::decode("zz"),
            Err(Error::InvalidArgument(_))
        ));
        assert!(Cursor::decode(&hex::encode("1.2")).is_err());
    }
}
