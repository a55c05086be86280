//! `/admin/silences`: silences and maintenance windows (issue 11) — list, create, expire.
//! Thin: `incidents::silence` validates, stores and audits; the form is `silence_form`.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};

use crate::auth::Principal;
use crate::error::{Error, FieldErrors};
use crate::incidents::silence::{self, Scope, Silence};
use crate::portal::extract::{AppForm, AppQuery, Remote};
use crate::portal::silence_form::SilenceForm;
use crate::portal::{AppState, Nav, filters, render};
use crate::sites::Actor;

#[derive(Template)]
#[template(path = "admin_silences.html")]
struct SilencesPage {
    nav: Nav,
    now: DateTime<Utc>,
    current: Vec<Silence>,
    ended: Vec<Silence>,
    form: SilenceForm,
    errors: FieldErrors,
    /// Above the list: what was done, or why it was refused.
    notice: String,
    error: String,
}

impl SilencesPage {
    fn state_ja(&self, s: &Silence) -> &'static str {
        if s.is_active(self.now) {
            "有効"
        } else {
            "開始前"
        }
    }
}

/// `?done=created|expired` after a redirect.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

struct Shown {
    form: SilenceForm,
    errors: FieldErrors,
    notice: String,
    error: String,
}

impl Shown {
    fn fresh(notice: String) -> Self {
        Shown {
            form: SilenceForm {
                duration: "2h".into(),
                ..Default::default()
            },
            errors: FieldErrors::default(),
            notice,
            error: String::new(),
        }
    }
}

async fn page(
    state: &AppState,
    who: &Principal,
    shown: Shown,
    status: StatusCode,
) -> Result<Response, Error> {
    let now = Utc::now();
    let mut conn = state.pool.acquire().await?;
    let current = silence::list(&mut conn, Scope::Current, now).await?;
    let ended = silence::recently_ended(&mut conn, now, 7, 50).await?;
    let page = SilencesPage {
        nav: Nav::from(who),
        now,
        current,
        ended,
        form: shown.form,
        errors: shown.errors,
        notice: shown.notice,
        error: shown.error,
    };
    Ok((status, render(&page)?).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    AppQuery(done): AppQuery<Done>,
) -> Result<Response, Error> {
    let notice = match done.done.as_deref() {
        Some("created") => "サイレンスを作成しました",
        Some("expired") => "サイレンスを終了しました",
        _ => "",
    };
    page(&state, &who, Shown::fresh(notice.into()), StatusCode::OK).await
}

pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Remote(remote): Remote,
    AppForm(form): AppForm<SilenceForm>,
) -> Result<Response, Error> {
    let now = Utc::now();
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    let created = match form.to_new(now) {
        Ok(input) => silence::create(&state.pool, &input, by, now).await,
        Err(errors) => Err(Error::Fields(errors)),
    };
    match created {
        Ok(_) => Ok(Redirect::to("/admin/silences?done=created").into_response()),
        Err(Error::Fields(errors)) => {
            let shown = Shown {
                form,
                errors,
                notice: String::new(),
                error: "入力内容を確認してください。各欄の下に理由を表示しています".into(),
            };
            page(&state, &who, shown, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e),
    }
}

pub async fn expire(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Remote(remote): Remote,
) -> Result<Response, Error> {
    let id: i64 = id
        .parse()
        .map_err(|_| Error::NotFound(format!("サイレンス {id} はありません")))?;
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    match silence::expire(&state.pool, id, by, Utc::now()).await {
        Ok(_) => Ok(Redirect::to("/admin/silences?done=expired").into_response()),
        Err(Error::Conflict(message)) => {
            let shown = Shown {
                error: message,
                ..Shown::fresh(String::new())
            };
            page(&state, &who, shown, StatusCode::CONFLICT).await
        }
        Err(e) => Err(e),
    }
}
