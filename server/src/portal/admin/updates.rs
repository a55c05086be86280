//! Agent updates (docs/UPDATES.md): published releases, rollouts and their
//! steps — start, pause, resume, widen, abort — with each rollout's status,
//! what its agents reported and, when the monitor halted it, why. Releases
//! are signed offline and published with the CLI (`release sign|publish`).
//! Every step is audited by `updates::rollout_store` in its transaction.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;

use super::Confirm;
use crate::auth::Principal;
use crate::error::Error;
use crate::portal::extract::{AppForm, Remote};
use crate::portal::{AppState, Nav, filters, render};
use crate::sites::Actor;
use crate::updates::events::{self, EventRow, Outcomes};
use crate::updates::halt::Health;
use crate::updates::releases::{self, Release};
use crate::updates::rollout::{Action, Rings};
use crate::updates::rollout_store::{self, NewRollout, RolloutRow, TimelineRow};
use crate::updates::{RolloutState, monitor};

/// One line of the rollout list.
pub struct RolloutView {
    r: RolloutRow,
    ring: String,
    outcomes: Outcomes,
}

/// The CSS badge of a rollout state.
fn badge(state: RolloutState) -> &'static str {
    match state {
        RolloutState::Running => "ok",
        RolloutState::Paused => "warning",
        RolloutState::Halted => "critical",
        RolloutState::Aborted | RolloutState::Completed => "none",
    }
}

/// The start form as typed (kept on an error).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct StartForm {
    release_id: String,
    canary_sites: String,
    canary_percent: String,
    rings: String,
    spread_minutes: String,
    force_now: Option<String>,
    halt_margin: String,
    max_rollback_percent: String,
}

impl Default for StartForm {
    fn default() -> Self {
        StartForm {
            release_id: String::new(),
            canary_sites: String::new(),
            canary_percent: "0".into(),
            rings: "10,50,100".into(),
            spread_minutes: "60".into(),
            force_now: None,
            halt_margin: "10".into(),
            max_rollback_percent: "5".into(),
        }
    }
}

fn number<T: std::str::FromStr>(text: &str, what: &str, range: &str) -> Result<T, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "{what}は {range} の数で入力してください（「{}」）",
            text.trim()
        )
    })
}

impl StartForm {
    /// The rollout the form asks for; errors are Japanese and say what to enter.
    fn parse(&self) -> Result<NewRollout, String> {
        let release_id = number(&self.release_id, "リリース", "一覧にある")?;
        let sites: Vec<String> = self
            .canary_sites
            .split([',', '\n', '\r', ' ', '、'])
            .map(str::to_owned)
            .collect();
        let canary_percent: f64 = match self.canary_percent.trim() {
            "" => 0.0,
            text => number(text, "カナリアの割合", "0〜100")?,
        };
        let percents = self
            .rings
            .split([',', ' ', '、'])
            .filter(|p| !p.trim().is_empty())
            .map(|p| number::<u32>(p, "リング", "1〜100"))
            .collect::<Result<Vec<_>, _>>()?;
        let spread_minutes: u32 =
            number(&self.spread_minutes, "ダウンロードの分散", "0〜1440 (分)")?;
        let halt_margin: u32 = number(&self.halt_margin, "自動停止の差", "1〜100 (ポイント)")?;
        let max_rollback: u32 = number(&self.max_rollback_percent, "切り戻しの上限", "0〜100 (%)")?;
        if spread_minutes > 1440 || !(1..=100).contains(&halt_margin) || max_rollback > 100 {
            return Err("分散は 0〜1440 分、自動停止の差は 1〜100 ポイント、切り戻しの上限は 0〜100% で入力してください".into());
        }
        Ok(NewRollout {
            release_id,
            rings: Rings::new(sites, canary_percent, percents)?,
            spread_minutes,
            force_swap: self
                .force_now
                .as_deref()
                .is_some_and(|v| matches!(v, "on" | "yes" | "true")),
            halt_margin_points: halt_margin,
            max_rollback_percent: max_rollback,
        })
    }
}

#[derive(Template)]
#[template(path = "admin_updates.html")]
struct UpdatesPage {
    nav: Nav,
    releases: Vec<Release>,
    rollouts: Vec<RolloutView>,
    form: StartForm,
    message: String,
}

impl UpdatesPage {
    fn badge(&self, state: &RolloutState) -> &'static str {
        badge(*state)
    }
}

async fn updates_page(
    state: &AppState,
    who: &Principal,
    form: StartForm,
    message: String,
) -> Result<UpdatesPage, Error> {
    let releases = releases::list(&state.pool).await?;
    let mut rollouts = Vec::new();
    for r in rollout_store::list(&state.pool, 50).await? {
        let outcomes = events::outcomes(&state.pool, r.rollout_id).await?;
        rollouts.push(RolloutView {
            ring: r.ring_label(),
            outcomes,
            r,
        });
    }
    Ok(UpdatesPage {
        nav: Nav::from(who),
        releases,
        rollouts,
        form,
        message,
    })
}

pub async fn page(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Response, Error> {
    let page = updates_page(&state, &who, StartForm::default(), String::new()).await?;
    Ok(render(&page)?.into_response())
}

pub async fn start(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Remote(remote): Remote,
    AppForm(form): AppForm<StartForm>,
) -> Result<Response, Error> {
    let new = match form.parse() {
        Ok(new) => new,
        Err(message) => {
            let page = updates_page(&state, &who, form, message).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    match rollout_store::start(&state.pool, &new, by, Utc::now()).await {
        Ok(row) => Ok(Redirect::to(&format!("/admin/rollouts/{}", row.rollout_id)).into_response()),
        Err(e @ (Error::Conflict(_) | Error::NotFound(_) | Error::InvalidArgument(_))) => {
            let status = match e {
                Error::Conflict(_) => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let page = updates_page(&state, &who, form, e.to_string()).await?;
            Ok((status, render(&page)?).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Template)]
#[template(path = "admin_rollout.html")]
struct RolloutPage {
    nav: Nav,
    r: RolloutRow,
    badge: &'static str,
    ring: String,
    next_ring: Option<String>,
    outcomes: Outcomes,
    health: Health,
    timeline: Vec<TimelineRow>,
    events: Vec<EventRow>,
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(rollout_id): Path<i64>,
) -> Result<Response, Error> {
    let r = rollout_store::get(&state.pool, rollout_id).await?;
    let page = RolloutPage {
        nav: Nav::from(&who),
        badge: badge(r.state),
        ring: r.ring_label(),
        next_ring: r.next_ring_label(),
        outcomes: events::outcomes(&state.pool, rollout_id).await?,
        health: monitor::measure(&state.pool, &r, Utc::now()).await?,
        timeline: rollout_store::timeline_of(&state.pool, rollout_id).await?,
        events: events::of_rollout(&state.pool, rollout_id, 100).await?,
        r,
    };
    Ok(render(&page)?.into_response())
}

async fn act(
    state: &AppState,
    who: &Principal,
    remote: &str,
    rollout_id: i64,
    action: Action,
) -> Result<Response, Error> {
    let by = Actor {
        actor: &who.actor,
        remote,
    };
    rollout_store::act(&state.pool, rollout_id, action, by, Utc::now()).await?;
    Ok(Redirect::to(&format!("/admin/rollouts/{rollout_id}")).into_response())
}

pub async fn pause(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(rollout_id): Path<i64>,
    Remote(remote): Remote,
    AppForm(_): AppForm<Confirm>,
) -> Result<Response, Error> {
    act(&state, &who, &remote, rollout_id, Action::Pause).await
}

pub async fn resume(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(rollout_id): Path<i64>,
    Remote(remote): Remote,
    AppForm(_): AppForm<Confirm>,
) -> Result<Response, Error> {
    act(&state, &who, &remote, rollout_id, Action::Resume).await
}

pub async fn widen(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(rollout_id): Path<i64>,
    Remote(remote): Remote,
    AppForm(_): AppForm<Confirm>,
) -> Result<Response, Error> {
    act(&state, &who, &remote, rollout_id, Action::Widen).await
}

pub async fn abort(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(rollout_id): Path<i64>,
    Remote(remote): Remote,
    AppForm(confirm): AppForm<Confirm>,
) -> Result<Response, Error> {
    confirm.require("ロールアウトを中止する")?;
    act(&state, &who, &remote, rollout_id, Action::Abort).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_form_is_checked_in_japanese() {
        let form = |f: fn(&mut StartForm)| {
            let mut s = StartForm {
                release_id: "3".into(),
                canary_sites: "a\nb、c".into(),
                ..StartForm::default()
            };
            f(&mut s);
            s.parse()
        };
        let ok = form(|_| {}).unwrap();
        assert_eq!(ok.release_id, 3);
        assert_eq!(ok.rings.canary_sites, ["a", "b", "c"]);
        assert_eq!(ok.rings.percents, [10, 50, 100]);
        assert!(!ok.force_swap);
        assert!(
            form(|s| s.force_now = Some("on".into()))
                .unwrap()
                .force_swap
        );
        assert!(
            form(|s| s.release_id.clear())
                .unwrap_err()
                .contains("リリース")
        );
        assert!(
            form(|s| s.rings = "50,10".into())
                .unwrap_err()
                .contains("小さい順")
        );
        assert!(
            form(|s| s.spread_minutes = "abc".into())
                .unwrap_err()
                .contains("ダウンロードの分散")
        );
        assert!(
            form(|s| s.halt_margin = "0".into())
                .unwrap_err()
                .contains("自動停止の差")
        );
        assert!(
            form(|s| s.canary_sites.clear())
                .unwrap_err()
                .contains("カナリアが空")
        );
    }
}
