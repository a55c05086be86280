//! Operators: add (one-time password), unlock, disable / enable, reset the password, change
//! the role. The account logic and its audit rows are in `auth::operators`.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};

use super::SecretOnce;
use crate::auth::operators::{self, By, PasswordOrigin, Standing};
use crate::auth::{Principal, Role, login, password};
use crate::error::Error;
use crate::portal::extract::{AppForm, Remote};
use crate::portal::{AppState, Nav, filters, render};

#[derive(sqlx::FromRow)]
pub struct OperatorRow {
    username: String,
    role: Role,
    locked_until: Option<DateTime<Utc>>,
    failed_logins: i32,
    disabled: bool,
    must_change_password: bool,
    created_at: DateTime<Utc>,
}

impl OperatorRow {
    fn locked(&self) -> bool {
        self.locked_until.is_some_and(|u| u > Utc::now()) || self.failed_logins > 0
    }
}

#[derive(Template)]
#[template(path = "admin_operators.html")]
struct OperatorsPage {
    nav: Nav,
    operators: Vec<OperatorRow>,
    error: String,
    /// What the add form keeps after a refusal.
    username: String,
    role: Role,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Response, Error> {
    operators_page(&state, &who, OperatorForm::default(), String::new()).await
}

async fn operators_page(
    state: &AppState,
    who: &Principal,
    typed: OperatorForm,
    error: String,
) -> Result<Response, Error> {
    let operators = sqlx::query_as::<_, OperatorRow>(
        "SELECT username, role, locked_until, failed_logins, disabled, must_change_password, created_at
         FROM operators ORDER BY username",
    )
    .fetch_all(&state.pool)
    .await?;
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = render(&OperatorsPage {
        nav: Nav::from(who),
        operators,
        error,
        username: typed.username,
        role: typed.role,
    })?;
    Ok((status, page).into_response())
}

#[derive(serde::Deserialize)]
pub struct OperatorForm {
    #[serde(default)]
    username: String,
    role: Role,
}

impl Default for OperatorForm {
    fn default() -> Self {
        OperatorForm {
            username: String::new(),
            role: Role::Viewer,
        }
    }
}

fn one_time_page(who: &Principal, username: &str, secret: String, title: String) -> SecretOnce {
    SecretOnce {
        nav: Nav::from(who),
        title,
        explanation: format!(
            "このパスワードは一度だけ表示されます。{username} さんに安全な方法で伝えてください。次のログインで、ご自身のパスワードへの変更が求められます。"
        ),
        command: String::new(),
        secret,
        back: "/admin/operators",
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    AppForm(mut f): AppForm<OperatorForm>,
) -> Result<Response, Error> {
    f.username = f.username.trim().to_owned();
    let one_time = password::generate();
    let mut tx = state.pool.begin().await?;
    let created = login::create_operator(
        &mut tx,
        &f.username,
        f.role,
        &one_time,
        PasswordOrigin::OneTime,
        &who.actor,
    )
    .await;
    match created {
        Ok(_) => {}
        Err(Error::InvalidArgument(m) | Error::Conflict(m)) => {
            return operators_page(&state, &who, f, m).await;
        }
        Err(e) => return Err(e),
    }
    tx.commit().await?;
    let title = format!("オペレータ {} の初期パスワード", f.username);
    one_time_page(&who, &f.username, one_time, title).respond()
}

/// Runs one account change in a transaction and goes back to the list (or shows why not).
macro_rules! account_change {
    ($state:expr, $who:expr, $remote:expr, |$tx:ident, $by:ident| $change:expr) => {{
        let mut $tx = $state.pool.begin().await?;
        let $by = By {
            actor: &$who.actor,
            remote: &$remote,
        };
        match $change.await {
            Ok(_) => {
                $tx.commit().await?;
                Ok(Redirect::to("/admin/operators").into_response())
            }
            Err(Error::InvalidArgument(m)) => {
                operators_page(&$state, &$who, OperatorForm::default(), m).await
            }
            Err(e) => Err(e),
        }
    }};
}

pub async fn unlock(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(username): Path<String>,
    Remote(remote): Remote,
) -> Result<Response, Error> {
    account_change!(state, who, remote, |tx, by| operators::unlock(
        &mut tx, &username, by
    ))
}

pub async fn disable(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(username): Path<String>,
    Remote(remote): Remote,
) -> Result<Response, Error> {
    account_change!(state, who, remote, |tx, by| operators::set_standing(
        &mut tx,
        &username,
        Standing::Disabled,
        by
    ))
}

pub async fn enable(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(username): Path<String>,
    Remote(remote): Remote,
) -> Result<Response, Error> {
    account_change!(state, who, remote, |tx, by| operators::set_standing(
        &mut tx,
        &username,
        Standing::Enabled,
        by
    ))
}

#[derive(serde::Deserialize)]
pub struct RoleForm {
    role: Role,
}

pub async fn set_role(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(username): Path<String>,
    Remote(remote): Remote,
    AppForm(f): AppForm<RoleForm>,
) -> Result<Response, Error> {
    account_change!(state, who, remote, |tx, by| operators::set_role(
        &mut tx, &username, f.role, by
    ))
}

pub async fn reset_password(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(username): Path<String>,
    Remote(remote): Remote,
) -> Result<Response, Error> {
    let mut tx = state.pool.begin().await?;
    let by = By {
        actor: &who.actor,
        remote: &remote,
    };
    let one_time = operators::reset_password(&mut tx, &username, by).await?;
    tx.commit().await?;
    let title = format!("オペレータ {username} の一時パスワード");
    one_time_page(&who, &username, one_time, title).respond()
}
