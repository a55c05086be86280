//! Sites: register, edit the profile, issue one-time enrolment tokens. The form keeps what was
//! typed and shows each problem next to its field (`SiteInput::validate`).

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;

use super::SecretOnce;
use crate::auth::Principal;
use crate::enrol;
use crate::error::{Error, FieldErrors};
use crate::portal::extract::{AppForm, Remote};
use crate::portal::filters::jst_text;
use crate::portal::{AppState, Nav, render};
use crate::sites::{self, SiteInput};

#[derive(sqlx::FromRow)]
pub struct SiteListRow {
    site_id: String,
    name: String,
    prefecture: String,
    kind: sites::SiteKind,
    maintenance: sites::Maintenance,
    agents: i64,
}

#[derive(Template)]
#[template(path = "admin_sites.html")]
struct SitesPage {
    nav: Nav,
    sites: Vec<SiteListRow>,
    form: SiteInput,
    errors: FieldErrors,
    message: String,
    action: String,
    editing: bool,
}

#[derive(Template)]
#[template(path = "admin_site_edit.html")]
struct SiteEditPage {
    nav: Nav,
    form: SiteInput,
    errors: FieldErrors,
    message: String,
    action: String,
    editing: bool,
}

impl SitesPage {
    fn date_value(&self, d: &Option<NaiveDate>) -> String {
        date_value(d)
    }
}

impl SiteEditPage {
    fn date_value(&self, d: &Option<NaiveDate>) -> String {
        date_value(d)
    }
}

fn date_value(d: &Option<NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// What the form shows: the values typed (or defaults), problems, a message above it.
struct FormState {
    form: SiteInput,
    errors: FieldErrors,
    message: String,
}

impl FormState {
    fn blank() -> Self {
        FormState {
            form: SiteInput {
                closed_on_holidays: Some(true),
                ..SiteInput::default()
            },
            errors: FieldErrors::default(),
            message: String::new(),
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Response, Error> {
    sites_page(&state, &who, FormState::blank(), StatusCode::OK).await
}

async fn sites_page(
    state: &AppState,
    who: &Principal,
    shown: FormState,
    status: StatusCode,
) -> Result<Response, Error> {
    let sites = sqlx::query_as::<_, SiteListRow>(
        "SELECT s.site_id, s.name, s.prefecture, s.kind, s.maintenance,
                (SELECT count(*) FROM agents a WHERE a.site_id = s.site_id AND a.revoked_at IS NULL) AS agents
         FROM sites s ORDER BY s.created_at DESC LIMIT 200",
    )
    .fetch_all(&state.pool)
    .await?;
    let page = render(&SitesPage {
        nav: Nav::from(who),
        sites,
        form: shown.form,
        errors: shown.errors,
        message: shown.message,
        action: "/admin/sites".into(),
        editing: false,
    })?;
    Ok((status, page).into_response())
}

/// The form again with what went wrong, when the store refused the input.
fn refused(input: SiteInput, error: Error) -> Result<FormState, Error> {
    let (errors, message) = match error {
        Error::Fields(errors) => (errors, String::new()),
        Error::Conflict(m) => {
            let mut errors = FieldErrors::default();
            errors.add("site_id", m);
            (errors, String::new())
        }
        Error::InvalidArgument(m) => (FieldErrors::default(), m),
        other => return Err(other),
    };
    Ok(FormState {
        form: input,
        errors,
        message,
    })
}

pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Remote(remote): Remote,
    AppForm(input): AppForm<SiteInput>,
) -> Result<Response, Error> {
    let mut tx = state.pool.begin().await?;
    let by = sites::Actor {
        actor: &who.actor,
        remote: &remote,
    };
    if let Err(e) = sites::store::create(&mut tx, &input, by).await {
        let shown = refused(input, e)?;
        return sites_page(&state, &who, shown, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    tx.commit().await?;
    Ok(Redirect::to("/admin/sites").into_response())
}

fn edit_page(who: &Principal, shown: FormState, status: StatusCode) -> Result<Response, Error> {
    let action = format!("/admin/sites/{}", shown.form.site_id);
    let page = render(&SiteEditPage {
        nav: Nav::from(who),
        form: shown.form,
        errors: shown.errors,
        message: shown.message,
        action,
        editing: true,
    })?;
    Ok((status, page).into_response())
}

pub async fn edit_form(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(site_id): Path<String>,
) -> Result<Response, Error> {
    let site = sites::store::get(&state.pool, &site_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("サイト {site_id} は登録されていません")))?;
    let shown = FormState {
        form: SiteInput::from_site(&site),
        ..FormState::blank()
    };
    edit_page(&who, shown, StatusCode::OK)
}

pub async fn edit_submit(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(site_id): Path<String>,
    Remote(remote): Remote,
    AppForm(mut input): AppForm<SiteInput>,
) -> Result<Response, Error> {
    // The id comes from the path: a form cannot move its changes to another site.
    input.site_id = site_id;
    let mut tx = state.pool.begin().await?;
    let by = sites::Actor {
        actor: &who.actor,
        remote: &remote,
    };
    if let Err(e) = sites::store::update(&mut tx, &input, by).await {
        if let Error::NotFound(_) = e {
            return Err(Error::NotFound(format!(
                "サイト {} は登録されていません",
                input.site_id
            )));
        }
        let shown = refused(input, e)?;
        return edit_page(&who, shown, StatusCode::UNPROCESSABLE_ENTITY);
    }
    tx.commit().await?;
    let shown = FormState {
        message: "保存しました".into(),
        form: input.normalized(),
        errors: FieldErrors::default(),
    };
    edit_page(&who, shown, StatusCode::OK)
}

pub async fn token(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(site_id): Path<String>,
) -> Result<Response, Error> {
    let (token, expires_at) =
        enrol::issue_token(&state.pool, &site_id, enrol::DEFAULT_TOKEN_TTL, &who.actor).await?;
    SecretOnce {
        nav: Nav::from(&who),
        title: format!("サイト {site_id} の登録トークン"),
        explanation: format!(
            "このトークンは一度だけ表示されます。{} まで有効で、1回だけ使えます。オン資PCで次のコマンドを実行してください。",
            jst_text(Some(expires_at))
        ),
        command: format!(
            "onshi-agent enroll --server https://<サーバ>:50051 --token {token} --ca-fingerprint <CA指紋>"
        ),
        secret: token,
        back: "/admin/sites",
    }
    .respond()
}
