//! Routing rules: which incidents go to which channels. [`channels_for`] is pure; the rest
//! stores routes (the only writer of `notify_routes` and `notify_route_channels`), audited.
//!
//! A route matches when every matcher it gives matches (an empty list matches everything):
//! minimum severity, rules, prefectures, site kinds, maintenance subscription. A channel that
//! no route names hears every incident at or above its own minimum severity; once a route
//! names it, it hears only what its routes match (and still nothing below its minimum).

use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::auth::audit::{self, Entry};
use crate::error::{Error, FieldErrors};
use crate::incidents::rules::Rule;
use crate::sites::{Actor, Health, Maintenance, PREFECTURES, SiteKind};

/// What a notification is about, as routing sees it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub severity: Health,
    /// `None` for a non-incident event.
    pub rule: Option<Rule>,
    /// `None` for a non-incident event.
    pub site: Option<SiteFacts<'a>>,
}

#[derive(Debug, Clone, Copy)]
pub struct SiteFacts<'a> {
    pub prefecture: &'a str,
    pub kind: SiteKind,
    pub maintenance: Maintenance,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    pub id: i64,
    pub name: String,
    pub min_severity: Health,
    pub rules: Vec<Rule>,
    pub prefectures: Vec<String>,
    pub kinds: Vec<SiteKind>,
    pub maintenance: Option<Maintenance>,
    /// Names of the channels it sends to.
    pub channels: Vec<String>,
}

impl Route {
    /// Whether the route takes `target`. A non-incident event has no site and no rule: only a
    /// route without site or rule matchers takes it (it is routed like a fleet-wide incident).
    pub fn matches(&self, target: &Target<'_>) -> bool {
        if target.severity < self.min_severity {
            return false;
        }
        let rule_ok = self.rules.is_empty() || target.rule.is_some_and(|r| self.rules.contains(&r));
        let site_ok = match target.site {
            Some(site) => {
                (self.prefectures.is_empty()
                    || self.prefectures.iter().any(|p| p == site.prefecture))
                    && (self.kinds.is_empty() || self.kinds.contains(&site.kind))
                    && self.maintenance.is_none_or(|m| m == site.maintenance)
            }
            None => {
                self.prefectures.is_empty() && self.kinds.is_empty() && self.maintenance.is_none()
            }
        };
        rule_ok && site_ok
    }
}

/// A channel as routing needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelGate {
    pub name: String,
    pub min_severity: Health,
}

/// The channels (by name, in the order given) that hear about `target`.
pub fn channels_for<'c>(
    target: &Target<'_>,
    channels: &'c [ChannelGate],
    routes: &[Route],
) -> Vec<&'c ChannelGate> {
    channels
        .iter()
        .filter(|c| target.severity >= c.min_severity)
        .filter(|c| {
            let mut naming = routes
                .iter()
                .filter(|r| r.channels.contains(&c.name))
                .peekable();
            naming.peek().is_none() || naming.any(|r| r.matches(target))
        })
        .collect()
}

/// A route as entered (CLI flags or the admin form); checked by [`NewRoute::validate`].
#[derive(Debug, Clone, Default)]
pub struct NewRoute {
    pub name: String,
    pub channels: Vec<String>,
    pub min_severity: Option<Health>,
    pub rules: Vec<String>,
    pub prefectures: Vec<String>,
    pub kinds: Vec<SiteKind>,
    pub maintenance: Option<Maintenance>,
}

impl NewRoute {
    /// Checks every field; problems in Japanese per field.
    pub fn validate(&self) -> Result<Route, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = self.name.trim().to_owned();
        if name.is_empty() {
            errors.add("name", "ルート名を入力してください（例: tokyo-critical）");
        } else if let Err(m) = crate::text::check_line("ルート名", &name, 64) {
            errors.add("name", m);
        }
        let channels: Vec<String> = self
            .channels
            .iter()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect();
        if channels.is_empty() {
            errors.add("channels", "送信先チャネルを1つ以上指定してください");
        }
        let min_severity = self.min_severity.unwrap_or(Health::Warning);
        if min_severity == Health::Ok {
            errors.add(
                "min_severity",
                "最低重大度は info / warning / critical から選んでください",
            );
        }
        let mut rules = Vec::new();
        for r in self
            .rules
            .iter()
            .map(|r| r.trim())
            .filter(|r| !r.is_empty())
        {
            match Rule::parse(r) {
                Some(rule) => rules.push(rule),
                None => errors.add(
                    "rules",
                    format!("ルール「{r}」はありません（例: reader_off, offline, cert_expired）"),
                ),
            }
        }
        let prefectures: Vec<String> = self
            .prefectures
            .iter()
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        if let Some(bad) = prefectures
            .iter()
            .find(|p| !PREFECTURES.contains(&p.as_str()))
        {
            errors.add(
                "prefectures",
                format!("都道府県「{bad}」は正しくありません（例: 東京都、大阪府）"),
            );
        }
        errors.into_result()?;
        Ok(Route {
            id: 0,
            name,
            min_severity,
            rules,
            prefectures,
            kinds: self.kinds.clone(),
            maintenance: self.maintenance,
            channels,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RouteRow {
    route_id: i64,
    name: String,
    min_severity: Health,
    rules: Vec<String>,
    prefectures: Vec<String>,
    kinds: Vec<String>,
    maintenance: Option<Maintenance>,
    channels: Vec<String>,
}

/// Every route with the names of its channels, by name.
pub async fn list(conn: &mut PgConnection) -> Result<Vec<Route>, Error> {
    let rows: Vec<RouteRow> = sqlx::query_as(
        "SELECT r.route_id, r.name, r.min_severity, r.rules, r.prefectures, r.kinds, r.maintenance,
                COALESCE(array_agg(c.name ORDER BY c.name) FILTER (WHERE c.name IS NOT NULL), '{}') AS channels
         FROM notify_routes r
         LEFT JOIN notify_route_channels rc USING (route_id)
         LEFT JOIN notify_channels c USING (channel_id)
         GROUP BY r.route_id ORDER BY r.name",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Route {
            id: r.route_id,
            name: r.name,
            min_severity: r.min_severity,
            // Stored values passed validation; an unknown one (a rule renamed later) is dropped
            // rather than failing every notification.
            rules: r.rules.iter().filter_map(|s| Rule::parse(s)).collect(),
            prefectures: r.prefectures,
            kinds: r
                .kinds
                .iter()
                .filter_map(|k| SiteKind::ALL.into_iter().find(|x| x.as_str() == k))
                .collect(),
            maintenance: r.maintenance,
            channels: r.channels,
        })
        .collect())
}

/// Stores a checked route and its audit row in one transaction.
pub async fn create(pool: &PgPool, route: &Route, by: Actor<'_>) -> Result<i64, Error> {
    let mut tx = pool.begin().await?;
    let ids: Vec<(i64, String)> =
        sqlx::query_as("SELECT channel_id, name FROM notify_channels WHERE name = ANY($1)")
            .bind(&route.channels)
            .fetch_all(&mut *tx)
            .await?;
    if let Some(missing) = route
        .channels
        .iter()
        .find(|n| !ids.iter().any(|(_, m)| m == *n))
    {
        let mut errors = FieldErrors::default();
        errors.add(
            "channels",
            format!(
                "チャネル「{missing}」は登録されていません。先に channel add で登録してください"
            ),
        );
        return Err(errors.into());
    }
    let rules: Vec<&str> = route.rules.iter().map(|r| r.as_str()).collect();
    let kinds: Vec<&str> = route.kinds.iter().map(|k| k.as_str()).collect();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO notify_routes (name, min_severity, rules, prefectures, kinds, maintenance, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING route_id",
    )
    .bind(&route.name)
    .bind(route.min_severity)
    .bind(&rules)
    .bind(&route.prefectures)
    .bind(&kinds)
    .bind(route.maintenance)
    .bind(by.actor)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict(format!(
            "ルート「{}」は既にあります。別の名前にするか、先に削除してください",
            route.name
        )),
        _ => Error::Sqlx(e),
    })?;
    let channel_ids: Vec<i64> = ids.iter().map(|(id, _)| *id).collect();
    sqlx::query(
        "INSERT INTO notify_route_channels (route_id, channel_id) SELECT $1, unnest($2::bigint[])",
    )
    .bind(id)
    .bind(&channel_ids)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Entry::new(
            by.actor,
            "notify.route_add",
            format!("route:{}", route.name),
        )
        .remote(by.remote)
        .detail(serde_json::to_value(route).unwrap_or_default()),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Removes a route by name, audited.
pub async fn remove(pool: &PgPool, name: &str, by: Actor<'_>) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query("DELETE FROM notify_routes WHERE name = $1")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound(format!(
            "ルート「{name}」（route list で確認してください）"
        )));
    }
    audit::record(
        &mut tx,
        Entry::new(by.actor, "notify.route_remove", format!("route:{name}")).remote(by.remote),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
