//! Login, logout and password change pages.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::{DateTime, Utc};

use super::extract::{AppForm, AppQuery, Remote};
use super::{AppState, Nav, render};
use crate::auth::Principal;
use crate::auth::extract::SESSION_COOKIE;
use crate::auth::login::{self, LoginResult};
use crate::error::Error;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    error: String,
    next: String,
}

#[derive(serde::Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Only same-site paths are followed after login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

pub async fn login_form(AppQuery(q): AppQuery<LoginQuery>) -> Result<Response, Error> {
    Ok(render(&LoginPage {
        error: String::new(),
        next: safe_next(q.next.as_deref()),
    })?
    .into_response())
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

pub async fn login_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    Remote(remote): Remote,
    AppForm(form): AppForm<LoginForm>,
) -> Result<Response, Error> {
    let next = safe_next(form.next.as_deref());
    let error = match login::login(&state.pool, form.username.trim(), &form.password, &remote)
        .await?
    {
        LoginResult::Ok { session_token } => {
            let cookie = Cookie::build((SESSION_COOKIE, session_token))
                .http_only(true)
                .secure(state.behind_tls)
                .same_site(SameSite::Strict)
                .path("/")
                .build();
            return Ok((jar.add(cookie), Redirect::to(&next)).into_response());
        }
        LoginResult::Invalid => "ユーザ名またはパスワードが違います".to_owned(),
        LoginResult::Locked { until } => format!(
            "ログインの失敗が続いたためアカウントをロックしました。{} 以降に再度お試しいただくか、管理者に解除を依頼してください",
            hh_mm(until)
        ),
        LoginResult::Throttled { until } => format!(
            "この接続元からのログインの失敗が続いたため、{} までロックしました。時間をおいて再度お試しいただくか、管理者に解除を依頼してください",
            hh_mm(until)
        ),
    };
    let page = render(&LoginPage { error, next })?;
    Ok((axum::http::StatusCode::UNAUTHORIZED, page).into_response())
}

/// "HH:MM" in JST, for messages about today.
fn hh_mm(t: DateTime<Utc>) -> String {
    t.with_timezone(&crate::desk::JST)
        .format("%H:%M")
        .to_string()
}

pub async fn logout(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    jar: CookieJar,
    Remote(remote): Remote,
) -> Result<Response, Error> {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        login::logout(&state.pool, cookie.value(), &who.actor, &remote).await?;
    }
    Ok((
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        Redirect::to("/login"),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    nav: Nav,
    message: String,
    error: String,
    /// The operator logged in with a one-time password and must choose their own first.
    forced: bool,
}

pub async fn password_form(Extension(who): Extension<Principal>) -> Result<Response, Error> {
    Ok(render(&PasswordPage {
        nav: Nav::from(&who),
        message: String::new(),
        error: String::new(),
        forced: who.must_change_password,
    })?
    .into_response())
}

#[derive(serde::Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

pub async fn password_submit(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Remote(remote): Remote,
    AppForm(form): AppForm<PasswordForm>,
) -> Result<Response, Error> {
    let outcome = if form.new != form.confirm {
        Err(Error::InvalidArgument(
            "新しいパスワードと確認用が一致しません".into(),
        ))
    } else {
        login::change_password(&state.pool, &who, &form.current, &form.new, &remote).await
    };
    let (message, error, forced) = match outcome {
        Ok(()) => (
            "パスワードを変更しました。他の端末のセッションは終了しました".to_owned(),
            String::new(),
            false,
        ),
        Err(Error::InvalidArgument(m)) => (String::new(), m, who.must_change_password),
        Err(e) => return Err(e),
    };
    let status = if error.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = render(&PasswordPage {
        nav: Nav::from(&who),
        message,
        error,
        forced,
    })?;
    Ok((status, page).into_response())
}
