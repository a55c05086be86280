//! Groups: what a channel hears within its window becomes one message. Incidents join their
//! channel's open group ([`join_groups`], from the router and from repeats); [`seal_once`]
//! closes groups whose window has passed, rendering the message once and fixing it
//! (`pending`), so every try says the same thing under the same key; [`repeat_once`] puts
//! critical incidents still open and unacknowledged back in a channel's `repeat` group every
//! `repeat_minutes`.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::channel::Channel;
use super::message::{self, Item};
use super::model::MessageKind;
use super::router::{Facts, World, silenced};
use crate::error::Error;

/// A pending addition to a channel's group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Join {
    pub(super) channel_id: i64,
    pub(super) kind: &'static str,
    pub(super) incident_id: i64,
    pub(super) at: DateTime<Utc>,
}

/// Adds incidents to their channels' open groups, one statement pair per (channel, kind):
/// when a national outage opens 12,500 incidents, that is a few statements, not 25,000.
pub(super) async fn join_groups(
    conn: &mut PgConnection,
    world: &World,
    mut joins: Vec<Join>,
) -> Result<(), Error> {
    // A fixed order of group rows: two routers never wait on each other in a cycle.
    joins.sort();
    for group in joins.chunk_by(|a, b| (a.channel_id, a.kind) == (b.channel_id, b.kind)) {
        let Some(channel) = world.channels.iter().find(|c| c.id == group[0].channel_id) else {
            continue;
        };
        let first = group.iter().map(|j| j.at).min().unwrap_or_else(Utc::now);
        let ids: Vec<i64> = group.iter().map(|j| j.incident_id).collect();
        join_group(conn, channel, group[0].kind, first, &ids).await?;
    }
    Ok(())
}

/// Adds incidents to the channel's open group of that kind, opening one (the window starting
/// at `at`) if needed. The partial unique index makes "get or open" one statement that two
/// replicas can run at once.
async fn join_group(
    conn: &mut PgConnection,
    channel: &Channel,
    kind: &str,
    at: DateTime<Utc>,
    incident_ids: &[i64],
) -> Result<(), Error> {
    let until = at + chrono::Duration::seconds(i64::from(channel.group_seconds));
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO notify_deliveries (channel_id, channel_name, kind, state, group_until, max_attempts,
             next_attempt_at, created_at)
         VALUES ($1, $2, $3, 'grouping', $4, $5, $4, $6)
         ON CONFLICT (channel_id, kind) WHERE state = 'grouping' DO UPDATE SET updated_at = now()
         RETURNING delivery_id",
    )
    .bind(channel.id)
    .bind(&channel.name)
    .bind(kind)
    .bind(until)
    .bind(channel.max_attempts)
    .bind(at)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO notify_delivery_incidents (delivery_id, incident_id)
         SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(incident_ids)
    .execute(conn)
    .await?;
    Ok(())
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
    let n = joins.len();
    join_groups(&mut tx, &world, joins).await?;
    tx.commit().await?;
    Ok(n)
}
