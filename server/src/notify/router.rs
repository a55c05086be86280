//! The router: turns owed notifications (`notify_events`) into messages (`notify_deliveries`).
//!
//! 1. [`route_once`] claims outbox rows (`FOR UPDATE SKIP LOCKED`), decides who hears each
//!    (routes, channel minimums; silenced and flapping incidents notify no one; a resolution
//!    goes to the channels that heard the opening), adds the incident to the channel's open
//!    group and deletes the row — one transaction, so nothing is lost or routed twice.
//! 2. [`seal_once`] closes groups whose window has passed: the message is rendered once and
//!    fixed (`pending`), so every try of it says the same thing under the same key.
//! 3. [`repeat_once`] puts critical incidents still open and unacknowledged back in a
//!    channel's `repeat` group every `repeat_minutes`.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::channel::{self, Channel};
use super::message::{self, Item};
use super::model::{EventKind, MessageKind};
use super::outbox::SystemEvent;
use super::route::{self, ChannelGate, SiteFacts, Target};
use crate::error::Error;
use crate::incidents::lifecycle::State;
use crate::incidents::rules::Rule;
use crate::incidents::silence::{self, Scope, Silence};
use crate::sites::{Health, Maintenance, SiteKind};

/// Outbox rows claimed per transaction.
pub const BATCH: i64 = 500;

#[derive(sqlx::FromRow)]
struct EventRow {
    incident_id: Option<i64>,
    kind: EventKind,
    severity: Option<Health>,
    event_kind: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Facts {
    incident_id: i64,
    site_id: String,
    rule: Rule,
    severity: Health,
    state: State,
    flapping: bool,
    prefecture: String,
    kind: SiteKind,
    maintenance: Maintenance,
}

/// What one routing pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Routed {
    pub events: usize,
    /// (channel, incident) pairs added to groups, and event messages made.
    pub queued: usize,
    /// Incident changes that notified no one because silenced or flapping.
    pub quiet: usize,
}

/// The world routing decides against, loaded once per pass.
struct World {
    channels: Vec<Channel>,
    gates: Vec<ChannelGate>,
    routes: Vec<route::Route>,
    silences: Vec<Silence>,
}

impl World {
    async fn load(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<World, Error> {
        let channels = channel::list(conn).await?;
        let gates = channels
            .iter()
            .map(|c| ChannelGate {
                name: c.name.clone(),
                min_severity: c.min_severity,
            })
            .collect();
        Ok(World {
            channels,
            gates,
            routes: route::list(conn).await?,
            silences: silence::list(conn, Scope::Current, now).await?,
        })
    }

    fn channels_for(&self, target: &Target<'_>) -> Vec<&Channel> {
        route::channels_for(target, &self.gates, &self.routes)
            .into_iter()
            .filter_map(|g| self.channels.iter().find(|c| c.name == g.name))
            .collect()
    }
}

/// A pending addition to a channel's group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Join {
    channel_id: i64,
    kind: &'static str,
    incident_id: i64,
    at: DateTime<Utc>,
}

pub async fn route_once(
    pool: &PgPool,
    now: DateTime<Utc>,
    portal_url: Option<&str>,
) -> Result<Routed, Error> {
    let mut tx = pool.begin().await?;
    let events: Vec<EventRow> = sqlx::query_as(
        "DELETE FROM notify_events WHERE event_id IN (
             SELECT event_id FROM notify_events ORDER BY event_id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING incident_id, kind, severity, event_kind, subject, body, at",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let mut routed = Routed {
        events: events.len(),
        ..Default::default()
    };
    if events.is_empty() {
        return Ok(routed);
    }
    let world = World::load(&mut tx, now).await?;
    let ids: Vec<i64> = events.iter().filter_map(|e| e.incident_id).collect();
    let facts: Vec<Facts> = sqlx::query_as(
        "SELECT i.incident_id, i.site_id, i.rule, i.severity, i.state, i.flapping,
                s.prefecture, s.kind, s.maintenance
         FROM incidents i JOIN sites s USING (site_id) WHERE i.incident_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut joins = Vec::new();
    for e in &events {
        match (e.kind, e.incident_id) {
            (EventKind::Event, _) => {
                routed.queued += event_messages(&mut tx, &world, e, portal_url).await?;
            }
            (EventKind::Resolved, Some(id)) => {
                for channel_id in resolution_channels(&mut tx, id).await? {
                    joins.push(Join {
                        channel_id,
                        kind: "resolved",
                        incident_id: id,
                        at: e.at,
                    });
                }
            }
            (_, Some(id)) => {
                // The incident may be gone (site deleted): nothing to say.
                let Some(f) = facts.iter().find(|f| f.incident_id == id) else {
                    continue;
                };
                let before = joins.len();
                opening_joins(&world, e, f, now, &mut joins);
                if joins.len() == before && quiet(&world, f, now) {
                    routed.quiet += 1;
                }
            }
            (_, None) => {}
        }
    }
    // A fixed order of group rows: two routers never wait on each other in a cycle.
    joins.sort();
    routed.queued += joins.len();
    for j in &joins {
        let channel = world.channels.iter().find(|c| c.id == j.channel_id);
        let Some(channel) = channel else { continue };
        join_group(&mut tx, channel, j).await?;
    }
    tx.commit().await?;
    Ok(routed)
}

fn silenced(world: &World, f: &Facts, now: DateTime<Utc>) -> bool {
    let target = silence::Target {
        site_id: &f.site_id,
        rule: f.rule,
        prefecture: &f.prefecture,
        kind: f.kind,
    };
    world
        .silences
        .iter()
        .any(|s| silence::matches(s, &target, now))
}

fn quiet(world: &World, f: &Facts, now: DateTime<Utc>) -> bool {
    f.flapping || silenced(world, f, now)
}

fn target(f: &Facts, severity: Health) -> Target<'_> {
    Target {
        severity,
        rule: Some(f.rule),
        site: Some(SiteFacts {
            prefecture: &f.prefecture,
            kind: f.kind,
            maintenance: f.maintenance,
        }),
    }
}

/// Opened, re-opened, or raised to a severity more channels hear: who hears it now.
fn opening_joins(
    world: &World,
    e: &EventRow,
    f: &Facts,
    now: DateTime<Utc>,
    joins: &mut Vec<Join>,
) {
    // Silenced and flapping incidents are recorded and shown, but notify no one; one resolved
    // again before routing has nothing left to say.
    if quiet(world, f, now) || f.state == State::Resolved {
        return;
    }
    let hear_now = world.channels_for(&target(f, f.severity));
    let heard_before: Vec<i64> = match (e.kind, e.severity) {
        (EventKind::Raised, Some(from)) => world
            .channels_for(&target(f, from))
            .iter()
            .map(|c| c.id)
            .collect(),
        _ => Vec::new(),
    };
    for c in hear_now
        .into_iter()
        .filter(|c| !heard_before.contains(&c.id))
    {
        joins.push(Join {
            channel_id: c.id,
            kind: "opened",
            incident_id: f.incident_id,
            at: e.at,
        });
    }
}

/// The channels to tell that `incident_id` is resolved: those that were told it opened. If it
/// is still waiting in an open group, it leaves the group instead: nobody heard of it yet.
async fn resolution_channels(conn: &mut PgConnection, incident_id: i64) -> Result<Vec<i64>, Error> {
    sqlx::query(
        "DELETE FROM notify_delivery_incidents m USING notify_deliveries d
         WHERE m.delivery_id = d.delivery_id AND m.incident_id = $1
           AND d.state = 'grouping' AND d.kind IN ('opened', 'repeat')",
    )
    .bind(incident_id)
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT d.channel_id FROM notify_delivery_incidents m
         JOIN notify_deliveries d USING (delivery_id)
         WHERE m.incident_id = $1 AND d.kind IN ('opened', 'repeat') AND d.channel_id IS NOT NULL
           AND d.state IN ('pending', 'sending', 'retrying', 'sent')
         ORDER BY 1",
    )
    .bind(incident_id)
    .fetch_all(conn)
    .await?)
}

/// Adds the incident to the channel's open group of that kind, opening one if needed. The
/// partial unique index makes "get or open" one statement that two replicas can run at once.
async fn join_group(conn: &mut PgConnection, channel: &Channel, j: &Join) -> Result<(), Error> {
    let until = j.at + chrono::Duration::seconds(i64::from(channel.group_seconds));
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO notify_deliveries (channel_id, channel_name, kind, state, group_until, max_attempts,
             next_attempt_at, created_at)
         VALUES ($1, $2, $3, 'grouping', $4, $5, $4, $6)
         ON CONFLICT (channel_id, kind) WHERE state = 'grouping' DO UPDATE SET updated_at = now()
         RETURNING delivery_id",
    )
    .bind(channel.id)
    .bind(&channel.name)
    .bind(j.kind)
    .bind(until)
    .bind(channel.max_attempts)
    .bind(j.at)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO notify_delivery_incidents (delivery_id, incident_id) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(j.incident_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A non-incident event: one message per channel that hears it, not grouped.
async fn event_messages(
    conn: &mut PgConnection,
    world: &World,
    e: &EventRow,
    portal_url: Option<&str>,
) -> Result<usize, Error> {
    let event = SystemEvent {
        kind: e.event_kind.clone().unwrap_or_default(),
        subject: e.subject.clone().unwrap_or_default(),
        body: e.body.clone().unwrap_or_default(),
        severity: e.severity.unwrap_or(Health::Critical),
    };
    let rendered = message::render_event(&event, e.at, portal_url);
    let channels = world.channels_for(&Target {
        severity: event.severity,
        rule: None,
        site: None,
    });
    for c in &channels {
        sqlx::query(
            "INSERT INTO notify_deliveries (channel_id, channel_name, kind, state, subject, body, payload,
                 max_attempts, next_attempt_at, created_at)
             VALUES ($1, $2, 'event', 'pending', $3, $4, $5, $6, now(), $7)",
        )
        .bind(c.id)
        .bind(&c.name)
        .bind(&rendered.subject)
        .bind(&rendered.body)
        .bind(&rendered.payload)
        .bind(c.max_attempts)
        .bind(e.at)
        .execute(&mut *conn)
        .await?;
    }
    if channels.is_empty() {
        tracing::warn!(event = %event.kind, "notification event: no channel hears it (add a channel or a route without site filters)");
    }
    Ok(channels.len())
}

#[derive(sqlx::FromRow)]
struct Group {
    delivery_id: i64,
    kind: MessageKind,
    created_at: DateTime<Utc>,
}

/// Seals groups whose window has closed; returns how many messages became ready.
pub async fn seal_once(
    pool: &PgPool,
    now: DateTime<Utc>,
    portal_url: Option<&str>,
) -> Result<usize, Error> {
    let mut tx = pool.begin().await?;
    let groups: Vec<Group> = sqlx::query_as(
        "SELECT delivery_id, kind, created_at FROM notify_deliveries
         WHERE state = 'grouping' AND group_until <= $1 AND channel_id IS NOT NULL
         ORDER BY delivery_id LIMIT 100 FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let mut sealed = 0;
    for g in &groups {
        let items = group_items(&mut tx, g).await?;
        if items.is_empty() {
            // Everyone in it was resolved (or acknowledged, for a repeat) before it went out.
            sqlx::query("DELETE FROM notify_deliveries WHERE delivery_id = $1")
                .bind(g.delivery_id)
                .execute(&mut *tx)
                .await?;
            continue;
        }
        let rendered = message::render(g.kind, &items, g.created_at, portal_url);
        sqlx::query(
            "UPDATE notify_deliveries SET state = 'pending', subject = $2, body = $3, payload = $4,
                 next_attempt_at = $5, updated_at = now()
             WHERE delivery_id = $1",
        )
        .bind(g.delivery_id)
        .bind(&rendered.subject)
        .bind(&rendered.body)
        .bind(&rendered.payload)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sealed += 1;
    }
    tx.commit().await?;
    Ok(sealed)
}

/// The group's incidents, oldest first. A repeat keeps only those still open and critical
/// (the rest leave the group, so they do not count as told again).
async fn group_items(conn: &mut PgConnection, g: &Group) -> Result<Vec<Item>, Error> {
    if g.kind == MessageKind::Repeat {
        sqlx::query(
            "DELETE FROM notify_delivery_incidents m USING incidents i
             WHERE m.delivery_id = $1 AND i.incident_id = m.incident_id
               AND NOT (i.state = 'open' AND i.severity = 'critical')",
        )
        .bind(g.delivery_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(sqlx::query_as(
        "SELECT i.incident_id, i.site_id, s.name AS site_name, s.prefecture, s.kind AS site_kind,
                i.rule, i.severity, i.title, i.first_seen
         FROM notify_delivery_incidents m
         JOIN incidents i USING (incident_id) JOIN sites s USING (site_id)
         WHERE m.delivery_id = $1 ORDER BY i.first_seen, i.incident_id",
    )
    .bind(g.delivery_id)
    .fetch_all(conn)
    .await?)
}

/// Puts critical incidents that are still open (not acknowledged), told on a channel with
/// `repeat_minutes` and not told again since, into that channel's repeat group.
pub async fn repeat_once(pool: &PgPool, now: DateTime<Utc>) -> Result<usize, Error> {
    let mut tx = pool.begin().await?;
    let world = World::load(&mut tx, now).await?;
    let mut joins = Vec::new();
    for c in world.channels.iter().filter(|c| c.repeat_minutes > 0) {
        let since = now - chrono::Duration::minutes(i64::from(c.repeat_minutes));
        let due: Vec<Facts> = sqlx::query_as(
            "SELECT i.incident_id, i.site_id, i.rule, i.severity, i.state, i.flapping,
                    s.prefecture, s.kind, s.maintenance
             FROM incidents i JOIN sites s USING (site_id)
             WHERE i.state = 'open' AND i.severity = 'critical' AND NOT i.flapping
               AND EXISTS (SELECT 1 FROM notify_delivery_incidents m JOIN notify_deliveries d USING (delivery_id)
                           WHERE m.incident_id = i.incident_id AND d.channel_id = $1
                             AND d.kind IN ('opened', 'repeat')
                             AND d.state IN ('pending', 'sending', 'retrying', 'sent'))
               AND NOT EXISTS (SELECT 1 FROM notify_delivery_incidents m JOIN notify_deliveries d USING (delivery_id)
                               WHERE m.incident_id = i.incident_id AND d.channel_id = $1
                                 AND d.kind IN ('opened', 'repeat')
                                 AND (d.created_at > $2 OR d.state = 'grouping'))
             ORDER BY i.incident_id",
        )
        .bind(c.id)
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        for f in due.iter().filter(|f| !silenced(&world, f, now)) {
            joins.push(Join {
                channel_id: c.id,
                kind: "repeat",
                incident_id: f.incident_id,
                at: now,
            });
        }
    }
    joins.sort();
    for j in &joins {
        if let Some(channel) = world.channels.iter().find(|c| c.id == j.channel_id) {
            join_group(&mut tx, channel, j).await?;
        }
    }
    tx.commit().await?;
    Ok(joins.len())
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
