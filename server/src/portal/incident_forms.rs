//! The operator's forms on `/incidents/{id}`: acknowledge, assign, comment, resolve, re-open
//! (`incidents::actions::perform`: the incident, its timeline row and the audit row in one
//! transaction) and silence (`incidents::silence::create`). A success redirects back to the
//! incident (so a reload does not repeat it); a conflict (409) or bad input (422) shows the
//! incident again with the message — who acted and when — and what was typed.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;

use super::AppState;
use super::extract::{AppForm, Remote};
use super::incidents_pages::{Outcome, detail_page, incident_id};
use crate::auth::Principal;
use crate::error::{Error, FieldErrors};
use crate::incidents::actions::{self, Action, Expect};
use crate::incidents::cli::parse_for;
use crate::incidents::silence::{self, NewSilence};
use crate::sites::Actor;

/// Every action form's fields (each form sends the ones it has) and the `version` it saw.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ActionForm {
    assignee: String,
    text: String,
    reason: String,
    duration: String,
    version: String,
}

impl ActionForm {
    fn expect(&self) -> Expect {
        Expect {
            version: self.version.trim().parse().ok(),
        }
    }

    /// What the operator typed, kept when the form comes back refused.
    fn typed(&self) -> String {
        [&self.text, &self.reason, &self.assignee]
            .into_iter()
            .find(|t| !t.is_empty())
            .cloned()
            .unwrap_or_default()
    }
}

/// What the form's outcome page says when the action was refused.
fn refused(e: Error, typed: String) -> Result<(Outcome, StatusCode), Error> {
    match e {
        Error::Conflict(message) => Ok((
            Outcome {
                error: message,
                typed,
                ..Outcome::default()
            },
            StatusCode::CONFLICT,
        )),
        Error::Fields(errors) => Ok((
            Outcome {
                error: "入力内容を確認してください".into(),
                errors,
                typed,
                ..Outcome::default()
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        other => Err(other),
    }
}

async fn act(
    state: AppState,
    who: Principal,
    remote: String,
    raw_id: String,
    form: ActionForm,
    done: &str,
    make: impl FnOnce(&ActionForm) -> Action,
) -> Result<Response, Error> {
    let id = incident_id(&raw_id)?;
    let action = make(&form);
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    match actions::perform(&state.pool, id, &action, form.expect(), by, Utc::now()).await {
        Ok(()) => Ok(Redirect::to(&format!("/incidents/{id}?done={done}")).into_response()),
        Err(e) => {
            let (outcome, status) = refused(e, form.typed())?;
            detail_page(&state, &who, id, outcome, status).await
        }
    }
}

macro_rules! action_form {
    ($name:ident, $done:literal, $make:expr) => {
        pub async fn $name(
            State(state): State<AppState>,
            Extension(who): Extension<Principal>,
            Path(id): Path<String>,
            Remote(remote): Remote,
            AppForm(form): AppForm<ActionForm>,
        ) -> Result<Response, Error> {
            act(state, who, remote, id, form, $done, $make).await
        }
    };
}

action_form!(ack, "ack", |_| Action::Acknowledge);
action_form!(assign, "assign", |f: &ActionForm| Action::Assign {
    assignee: f.assignee.trim().to_owned()
});
action_form!(comment, "comment", |f: &ActionForm| Action::Comment {
    text: f.text.clone()
});
action_form!(resolve, "resolve", |f: &ActionForm| Action::Resolve {
    reason: f.reason.trim().to_owned()
});
action_form!(reopen, "reopen", |f: &ActionForm| Action::Reopen {
    reason: f.reason.trim().to_owned()
});

/// 「サイレンス」: silences this incident's rule at its site for a duration, with a reason.
pub async fn silence(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(raw_id): Path<String>,
    Remote(remote): Remote,
    AppForm(form): AppForm<ActionForm>,
) -> Result<Response, Error> {
    let id = incident_id(&raw_id)?;
    let (site_id, rule): (String, String) =
        sqlx::query_as("SELECT site_id, rule FROM incidents WHERE incident_id = $1")
            .bind(id)
            .fetch_optional(&state.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("インシデント {id} はありません")))?;
    let now = Utc::now();
    let ends_at = match parse_for(form.duration.trim()) {
        Ok(d) => now + d,
        Err(m) => {
            let mut errors = FieldErrors::default();
            errors.add("duration", m);
            let (outcome, status) = refused(Error::Fields(errors), form.reason.clone())?;
            return detail_page(&state, &who, id, outcome, status).await;
        }
    };
    let input = NewSilence {
        site_id: Some(site_id),
        rule: Some(rule),
        starts_at: Some(now),
        ends_at: Some(ends_at),
        reason: form.reason.clone(),
        ..NewSilence::default()
    };
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    match silence::create(&state.pool, &input, by, now).await {
        Ok(_) => Ok(Redirect::to(&format!("/incidents/{id}?done=silence")).into_response()),
        Err(e) => {
            let (outcome, status) = refused(e, form.reason)?;
            detail_page(&state, &who, id, outcome, status).await
        }
    }
}
