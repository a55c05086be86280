//! The router: turns owed notifications (`notify_events`) into group members and event
//! messages (`notify_deliveries`). [`route_once`] claims outbox rows (`FOR UPDATE SKIP
//! LOCKED`), decides who hears each (routes, channel minimums; silenced and flapping incidents
//! notify no one; a resolution goes to the channels that heard the opening), adds the incident
//! to the channel's open group (`groups.rs`) and deletes the row — one transaction, so nothing
//! is lost or routed twice.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::channel::{self, Channel};
use super::groups::{Join, join_groups};
use super::message;
use super::model::EventKind;
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
pub(super) struct Facts {
    pub(super) incident_id: i64,
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
pub(super) struct World {
    pub(super) channels: Vec<Channel>,
    gates: Vec<ChannelGate>,
    routes: Vec<route::Route>,
    silences: Vec<Silence>,
}

impl World {
    pub(super) async fn load(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<World, Error> {
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
    routed.queued += joins.len();
    join_groups(&mut tx, &world, joins).await?;
    tx.commit().await?;
    Ok(routed)
}

pub(super) fn silenced(world: &World, f: &Facts, now: DateTime<Utc>) -> bool {
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

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
