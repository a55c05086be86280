//! `onshi-server rollout status`: live and recent rollouts with what their
//! agents reported, or one rollout with its timeline.

use crate::cli::DbArgs;
use crate::commands::{finish, pool};
use crate::desk::JST;
use crate::desk::cli::Format;
use crate::error::Error;

use super::events::{self, EventRow, Outcomes};
use super::rollout_store::{self, RolloutRow, TimelineRow};

#[derive(serde::Serialize)]
struct Status {
    rollout: RolloutRow,
    ring_label: String,
    outcomes: Outcomes,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeline: Option<Vec<TimelineRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<Vec<EventRow>>,
}

fn jst(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&JST).format("%Y-%m-%d %H:%M").to_string()
}

pub(super) async fn status(db: DbArgs, id: Option<i64>, format: Format) -> Result<(), Error> {
    let database = pool(&db).await?;
    let result = collect(&database.pool, id).await;
    finish(database).await;
    let all = result?;
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&all).map_err(anyhow::Error::from)?
        );
        return Ok(());
    }
    if all.is_empty() {
        println!(
            "no rollout yet: `onshi-server rollout start --version V --target T --canary-sites …`"
        );
    }
    for s in &all {
        let r = &s.rollout;
        println!(
            "#{} {} {}{} — {}（{}） started {} by {}{}",
            r.rollout_id,
            r.version,
            r.target,
            if r.rollback { " (rollback)" } else { "" },
            r.state.label_ja(),
            s.ring_label,
            jst(r.started_at),
            r.started_by,
            if r.force_swap { ", forced" } else { "" }
        );
        let o = &s.outcomes;
        println!(
            "    agents: {} staged, {} applied, {} rolled back, {} refused",
            o.staged, o.applied, o.rolled_back, o.refused
        );
        if let Some(reason) = &r.halt_reason {
            println!("    停止理由: {reason}");
        }
        if let Some(next) = r.next_ring_label().filter(|_| r.state.is_live()) {
            println!(
                "    next ring: {next} (`onshi-server rollout widen --id {}`)",
                r.rollout_id
            );
        }
        for t in s.timeline.iter().flatten() {
            println!(
                "    {} {} {} ({}) {}",
                jst(t.at),
                t.action.label_ja(),
                t.actor,
                t.ring,
                t.note
            );
        }
        for e in s.events.iter().flatten() {
            println!(
                "    {} {} {} {} {} {}",
                jst(e.occurred_at),
                e.site_id,
                e.agent_id,
                e.kind.label_ja(),
                e.version,
                e.reason
            );
        }
    }
    Ok(())
}

async fn collect(pool: &sqlx::PgPool, id: Option<i64>) -> Result<Vec<Status>, Error> {
    let rows = match id {
        Some(id) => vec![rollout_store::get(pool, id).await?],
        None => rollout_store::list(pool, 20).await?,
    };
    let mut all = Vec::with_capacity(rows.len());
    for rollout in rows {
        let outcomes = events::outcomes(pool, rollout.rollout_id).await?;
        let (timeline, events) = if id.is_some() {
            (
                Some(rollout_store::timeline_of(pool, rollout.rollout_id).await?),
                Some(events::of_rollout(pool, rollout.rollout_id, 50).await?),
            )
        } else {
            (None, None)
        };
        all.push(Status {
            ring_label: rollout.ring_label(),
            rollout,
            outcomes,
            timeline,
            events,
        });
    }
    Ok(all)
}
