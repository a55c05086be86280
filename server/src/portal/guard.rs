//! The guard every route passes through: authenticate (session cookie or
//! `Authorization: Bearer`), check the role, check the CSRF token on writes
//! from a browser, send an operator with a one-time password to change it,
//! then hand the `Principal` on. Authenticated answers are never cached.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::AppState;
use crate::auth::extract::{Access, authenticate_as};
use crate::auth::login::Activity;
use crate::error::Error;

/// Largest form a guarded write may carry (forms here are small).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Where an operator with a one-time password may go before changing it.
const PASSWORD_CHANGE_PATHS: [&str; 2] = ["/account/password", "/logout"];

fn wants_json(req: &Request) -> bool {
    req.uri().path().starts_with("/api/")
}

pub async fn guard(
    State((state, access)): State<(AppState, Access)>,
    req: Request,
    next: Next,
) -> Response {
    let Access::Role(required) = access else {
        return next.run(req).await;
    };
    let mut response = match check(&state, required, req).await {
        Ok(req) => next.run(req).await,
        Err(answer) => answer,
    };
    // Pages behind a login show fleet data and sometimes secrets: never keep them in a cache.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The request ready for the handler, or the answer to give instead (a refusal or a redirect).
async fn check(
    state: &AppState,
    required: crate::auth::Role,
    req: Request,
) -> Result<Request, Response> {
    let principal = authenticate_as(&state.pool, req.headers(), activity(&req))
        .await
        .map_err(IntoResponse::into_response)?;
    let Some(principal) = principal else {
        return Err(not_logged_in(&req));
    };
    if principal.role < required {
        tracing::warn!(actor = %principal.actor, path = %req.uri().path(), required = required.as_str(), "forbidden");
        let message = format!(
            "この操作には{}の権限が必要です。必要なら管理者に依頼してください",
            required.label_ja()
        );
        return Err(Error::Forbidden(message).into_response());
    }
    if principal.must_change_password
        && !PASSWORD_CHANGE_PATHS.contains(&req.uri().path())
        && !wants_json(&req)
    {
        return Err(Redirect::to("/account/password").into_response());
    }
    let mut req = req;
    if !matches!(*req.method(), Method::GET | Method::HEAD)
        && let Some(expected) = principal.csrf.clone()
    {
        req = check_csrf(req, &expected).await?;
    }
    req.extensions_mut().insert(principal);
    Ok(req)
}

/// A browser that only listens for updates (`EventSource` asks for `text/event-stream`)
/// does not keep its session alive: the idle timeout still logs out an unattended screen.
fn activity(req: &Request) -> Activity {
    let listening = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if listening {
        Activity::Listening
    } else {
        Activity::Active
    }
}

fn not_logged_in(req: &Request) -> Response {
    if wants_json(req) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({"error": "ログインが必要です。Authorization: Bearer <API token> を付けてください"})),
        )
            .into_response();
    }
    let next_path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    Redirect::to(&format!("/login?next={}", urlencode(next_path))).into_response()
}

/// Browser writes must echo the session's CSRF token (form field `csrf` or
/// header `X-CSRF-Token`). The body is buffered and handed on unchanged.
async fn check_csrf(req: Request, expected: &str) -> Result<Request, Response> {
    if req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        == Some(expected)
    {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            Error::ResourceExhausted(format!(
                "入力が大きすぎます（上限 {} KiB）。内容を減らしてください",
                MAX_FORM_BYTES / 1024
            ))
            .into_response()
        })?;
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    if form.get("csrf").map(String::as_str) != Some(expected) {
        tracing::warn!(path = %parts.uri.path(), "CSRF token mismatch");
        return Err(Error::Forbidden(
            "フォームの有効期限が切れたか、別の画面から送信されました（CSRF トークンが一致しません）。ページを再読み込みしてからやり直してください".into(),
        )
        .into_response());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
