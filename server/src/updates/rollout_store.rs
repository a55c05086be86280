//! Rollouts in the database: the only writer of `rollouts` and
//! `rollout_events`. Every step is one transaction with its timeline row and
//! its audit row; the row is locked (`FOR UPDATE`) while the pure state
//! machine (`rollout::transition`) decides, so two administrators (or an
//! administrator and the monitor) never interleave.

use chrono::{DateTime, Utc};
use onshi_release::Target;
use sqlx::{PgConnection, PgPool};

use super::model::{RolloutState, TimelineAction};
use super::rollout::{Action, Rings, transition};
use crate::auth::audit::{self, Entry};
use crate::error::Error;
use crate::sites::Actor;

/// Who halts a rollout by itself (audit actor, timeline).
pub const MONITOR_ACTOR: &str = "system:rollout-monitor";

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct RolloutRow {
    pub rollout_id: i64,
    pub release_id: i64,
    pub version: String,
    pub rollback: bool,
    pub target: Target,
    pub state: RolloutState,
    pub ring: i16,
    pub canary_sites: Vec<String>,
    pub canary_basis_points: i32,
    pub ring_percents: Vec<i32>,
    pub spread_minutes: i32,
    pub force_swap: bool,
    pub halt_margin_points: i32,
    pub max_rollback_percent: i32,
    pub halt_reason: Option<String>,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub ring_started_at: DateTime<Utc>,
    pub health_since: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "o.rollout_id, o.release_id, r.version, r.rollback, o.target, o.state, o.ring, \
    o.canary_sites, o.canary_basis_points, o.ring_percents, o.spread_minutes, o.force_swap, \
    o.halt_margin_points, o.max_rollback_percent, o.halt_reason, o.started_by, o.started_at, \
    o.ring_started_at, o.health_since, o.updated_at, o.ended_at";
const FROM: &str = "rollouts o JOIN releases r USING (release_id)";

impl RolloutRow {
    pub fn rings(&self) -> Rings {
        Rings {
            canary_sites: self.canary_sites.clone(),
            canary_basis_points: self.canary_basis_points.max(0) as u32,
            percents: self
                .ring_percents
                .iter()
                .map(|p| (*p).max(0) as u32)
                .collect(),
        }
    }

    pub fn ring_label(&self) -> String {
        self.rings().label_ja(self.ring.max(0) as usize)
    }

    pub fn next_ring_label(&self) -> Option<String> {
        let rings = self.rings();
        let next = self.ring.max(0) as usize + 1;
        (next < rings.count()).then(|| rings.label_ja(next))
    }
}

/// What an administrator chose when starting a rollout.
#[derive(Debug, Clone)]
pub struct NewRollout {
    pub release_id: i64,
    pub rings: Rings,
    pub spread_minutes: u32,
    pub force_swap: bool,
    pub halt_margin_points: u32,
    pub max_rollback_percent: u32,
}

/// One timeline row.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct TimelineRow {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: TimelineAction,
    pub ring: i16,
    pub note: String,
}

async fn lock(conn: &mut PgConnection, rollout_id: i64) -> Result<RolloutRow, Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE o.rollout_id = $1 FOR UPDATE OF o"
    ))
    .bind(rollout_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound(format!("ロールアウト #{rollout_id} はありません")))
}

async fn timeline(
    conn: &mut PgConnection,
    rollout_id: i64,
    at: DateTime<Utc>,
    actor: &str,
    action: TimelineAction,
    ring: i16,
    note: &str,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO rollout_events (rollout_id, at, actor, action, ring, note) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(rollout_id)
    .bind(at)
    .bind(actor)
    .bind(action)
    .bind(ring)
    .bind(note)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Canary sites must exist: a typo would reach no one.
async fn check_canaries(conn: &mut PgConnection, sites: &[String]) -> Result<(), Error> {
    let known: Vec<String> =
        sqlx::query_scalar("SELECT site_id FROM sites WHERE site_id = ANY($1)")
            .bind(sites)
            .fetch_all(&mut *conn)
            .await?;
    let unknown: Vec<&str> = sites
        .iter()
        .filter(|s| !known.contains(s))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "カナリアのサイト {} は登録されていません。サイト ID を確認してください",
            unknown.join("、")
        )));
    }
    Ok(())
}

/// The live rollout of `target` blocks a new one, unless it reached every
/// site: then it is completed (superseded), in the caller's transaction.
async fn supersede_live(
    conn: &mut PgConnection,
    target: Target,
    version: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let live: Option<i64> = sqlx::query_scalar(
        "SELECT rollout_id FROM rollouts WHERE target = $1 AND state IN ('running', 'paused', 'halted') FOR UPDATE",
    )
    .bind(target)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = live else {
        return Ok(());
    };
    let old = lock(conn, id).await?;
    if old.state != RolloutState::Running || !old.rings().is_last(old.ring as usize) {
        return Err(Error::Conflict(format!(
            "{target} にはロールアウト #{id}（{}、{}、{}）が進行中です。全サイトまで広げるか中止してから始めてください",
            old.version,
            old.state.label_ja(),
            old.ring_label()
        )));
    }
    sqlx::query("UPDATE rollouts SET state = 'completed', updated_at = $2, ended_at = $2 WHERE rollout_id = $1")
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let note = format!("{version} のロールアウト開始により完了");
    timeline(
        conn,
        id,
        now,
        actor,
        TimelineAction::Complete,
        old.ring,
        &note,
    )
    .await
}

/// Starts a rollout. A live rollout of the same target blocks it, except
/// one that reached every site: that one is completed (superseded) in the
/// same transaction.
pub async fn start(
    pool: &PgPool,
    new: &NewRollout,
    by: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<RolloutRow, Error> {
    let mut tx = pool.begin().await?;
    let release: Option<(String, Target)> =
        sqlx::query_as("SELECT version, target FROM releases WHERE release_id = $1")
            .bind(new.release_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (version, target) = release
        .ok_or_else(|| Error::NotFound(format!("リリース {} はありません", new.release_id)))?;
    check_canaries(&mut tx, &new.rings.canary_sites).await?;
    supersede_live(&mut tx, target, &version, by.actor, now).await?;
    let rollout_id: i64 = sqlx::query_scalar(
        "INSERT INTO rollouts (release_id, target, state, ring, canary_sites, canary_basis_points, ring_percents,
                               spread_minutes, force_swap, halt_margin_points, max_rollback_percent,
                               started_by, started_at, ring_started_at, health_since, updated_at)
         VALUES ($1, $2, 'running', 0, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $11, $11)
         RETURNING rollout_id",
    )
    .bind(new.release_id)
    .bind(target)
    .bind(&new.rings.canary_sites)
    .bind(new.rings.canary_basis_points as i32)
    .bind(new.rings.percents.iter().map(|p| *p as i32).collect::<Vec<_>>())
    .bind(new.spread_minutes as i32)
    .bind(new.force_swap)
    .bind(new.halt_margin_points as i32)
    .bind(new.max_rollback_percent as i32)
    .bind(by.actor)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        // Another start of the same target committed first (the index).
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => Error::Conflict(
            format!("{target} のロールアウトが同時に開始されました。ロールアウト一覧を確認してください"),
        ),
        _ => Error::from(e),
    })?;
    let label = new.rings.label_ja(0);
    timeline(
        &mut tx,
        rollout_id,
        now,
        by.actor,
        TimelineAction::Start,
        0,
        &label,
    )
    .await?;
    audit::record(
        &mut tx,
        Entry::new(by.actor, "rollout.start", format!("rollout:{rollout_id}"))
            .detail(serde_json::json!({
                "version": version, "target": target, "canary_sites": new.rings.canary_sites,
                "canary_basis_points": new.rings.canary_basis_points, "rings": new.rings.percents,
                "spread_minutes": new.spread_minutes, "force_swap": new.force_swap,
            }))
            .remote(by.remote),
    )
    .await?;
    let row = lock(&mut tx, rollout_id).await?;
    tx.commit().await?;
    tracing::info!(rollout_id, %version, %target, force = new.force_swap, "rollout started");
    Ok(row)
}

/// Pauses, resumes, aborts or widens a rollout, audited.
pub async fn act(
    pool: &PgPool,
    rollout_id: i64,
    action: Action,
    by: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<RolloutRow, Error> {
    let mut tx = pool.begin().await?;
    let row = lock(&mut tx, rollout_id).await?;
    let rings = row.rings();
    let (state, ring) = transition(row.state, row.ring.max(0) as usize, &rings, action)
        .map_err(|why| Error::Conflict(format!("ロールアウト #{rollout_id}: {why}")))?;
    sqlx::query(
        "UPDATE rollouts SET state = $2, ring = $3, updated_at = $4,
             ring_started_at = CASE WHEN $3 <> ring THEN $4 ELSE ring_started_at END,
             health_since = CASE WHEN $5 THEN $4 ELSE health_since END,
             halt_reason = CASE WHEN $5 THEN NULL ELSE halt_reason END,
             halt_detail = CASE WHEN $5 THEN NULL ELSE halt_detail END,
             ended_at = CASE WHEN $2 = 'aborted' THEN $4 ELSE ended_at END
         WHERE rollout_id = $1",
    )
    .bind(rollout_id)
    .bind(state)
    .bind(ring as i16)
    .bind(now)
    .bind(action == Action::Resume)
    .execute(&mut *tx)
    .await?;
    let (timeline_action, audit_action) = match action {
        Action::Pause => (TimelineAction::Pause, "rollout.pause"),
        Action::Resume => (TimelineAction::Resume, "rollout.resume"),
        Action::Abort => (TimelineAction::Abort, "rollout.abort"),
        Action::Widen => (TimelineAction::Widen, "rollout.widen"),
    };
    let note = rings.label_ja(ring);
    timeline(
        &mut tx,
        rollout_id,
        now,
        by.actor,
        timeline_action,
        ring as i16,
        &note,
    )
    .await?;
    audit::record(
        &mut tx,
        Entry::new(by.actor, audit_action, format!("rollout:{rollout_id}"))
            .detail(serde_json::json!({ "version": row.version, "from": row.state, "to": state, "ring": note }))
            .remote(by.remote),
    )
    .await?;
    let row = lock(&mut tx, rollout_id).await?;
    tx.commit().await?;
    tracing::info!(
        rollout_id,
        action = audit_action,
        state = state.as_str(),
        ring,
        "rollout changed"
    );
    Ok(row)
}

/// Halts a running rollout with the monitor's reason, audited and notified
/// in one transaction. False when it was no longer running (another server
/// halted it first, or an administrator acted).
pub async fn halt(
    pool: &PgPool,
    rollout_id: i64,
    reason: &super::halt::HaltReason,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let mut tx = pool.begin().await?;
    let row = lock(&mut tx, rollout_id).await?;
    if row.state != RolloutState::Running {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE rollouts SET state = 'halted', halt_reason = $2, halt_detail = $3, updated_at = $4 WHERE rollout_id = $1",
    )
    .bind(rollout_id)
    .bind(&reason.text_ja)
    .bind(&reason.detail)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    timeline(
        &mut tx,
        rollout_id,
        now,
        MONITOR_ACTOR,
        TimelineAction::Halt,
        row.ring,
        &reason.text_ja,
    )
    .await?;
    audit::record(
        &mut tx,
        Entry::new(MONITOR_ACTOR, "rollout.halt", format!("rollout:{rollout_id}"))
            .detail(serde_json::json!({ "version": row.version, "reason": reason.text_ja, "figures": reason.detail })),
    )
    .await?;
    super::monitor::notify_rollout_halted(&mut tx, &row, &reason.text_ja).await?;
    tx.commit().await?;
    tracing::warn!(rollout_id, version = %row.version, reason = %reason.text_ja, "rollout halted by itself");
    Ok(true)
}

pub async fn get(pool: &PgPool, rollout_id: i64) -> Result<RolloutRow, Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE o.rollout_id = $1"
    ))
    .bind(rollout_id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("ロールアウト #{rollout_id} はありません")))
}

/// Live rollouts first, then the most recent.
pub async fn list(pool: &PgPool, limit: i64) -> Result<Vec<RolloutRow>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {FROM}
         ORDER BY (o.state IN ('running', 'paused', 'halted')) DESC, o.rollout_id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Running rollouts (the monitor checks these).
pub async fn running(pool: &PgPool) -> Result<Vec<RolloutRow>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE o.state = 'running'"
    ))
    .fetch_all(pool)
    .await?)
}

pub async fn timeline_of(pool: &PgPool, rollout_id: i64) -> Result<Vec<TimelineRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT at, actor, action, ring, note FROM rollout_events WHERE rollout_id = $1 ORDER BY at DESC, event_id DESC",
    )
    .bind(rollout_id)
    .fetch_all(pool)
    .await?)
}
