//! The guard every portal and API route passes through: authenticate
//! (session cookie or `Authorization: Bearer`), check the role, check the
//! CSRF token on writes from a browser, then hand the `Principal` on.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;

use super::{Principal, Role, login};
use crate::portal::AppState;

pub const SESSION_COOKIE: &str = "onshi_session";
/// Largest form a guarded write may carry (forms here are small).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No login: the login page, health and metrics endpoints, static files.
    Public,
    /// A logged-in operator or API token with at least this role.
    Role(Role),
}

pub fn remote_addr(req: &Request) -> String {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default()
}

fn wants_json(req: &Request) -> bool {
    req.uri().path().starts_with("/api/")
}

/// The principal behind a request, if any.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Principal>, crate::error::Error> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return login::api_token_principal(&state.pool, bearer.trim()).await;
    }
    let jar = CookieJar::from_headers(headers);
    match jar.get(SESSION_COOKIE) {
        Some(cookie) => login::session_principal(&state.pool, cookie.value()).await,
        None => Ok(None),
    }
}

pub async fn guard(
    State((state, access)): State<(AppState, Access)>,
    req: Request,
    next: Next,
) -> Response {
    let Access::Role(required) = access else {
        return next.run(req).await;
    };
    let principal = match authenticate(&state, req.headers()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(principal) = principal else {
        return if wants_json(&req) {
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(serde_json::json!({"error": "ログインが必要です。Authorization: Bearer <API token> を付けてください"})),
            )
                .into_response()
        } else {
            let next_path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            Redirect::to(&format!("/login?next={}", urlencode(next_path))).into_response()
        };
    };
    if principal.role < required {
        tracing::warn!(actor = %principal.actor, path = %req.uri().path(), required = required.as_str(), "forbidden");
        let message = format!("この操作には{}の権限が必要です", required.label_ja());
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({"error": message})),
        )
            .into_response();
    }
    let mut req = req;
    if !matches!(*req.method(), Method::GET | Method::HEAD)
        && let Some(expected) = principal.csrf.clone()
    {
        req = match check_csrf(req, &expected).await {
            Ok(req) => req,
            Err(resp) => return resp,
        };
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// Browser writes must echo the session's CSRF token (form field `csrf` or
/// header `X-CSRF-Token`). The body is buffered and handed on unchanged.
async fn check_csrf(req: Request, expected: &str) -> Result<Request, Response> {
    let denied = || {
        (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({"error": "CSRF トークンが一致しません。ページを再読み込みしてからやり直してください"})),
        )
            .into_response()
    };
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
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response())?;
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    if form.get("csrf").map(String::as_str) != Some(expected) {
        tracing::warn!(path = %parts.uri.path(), "CSRF token mismatch");
        return Err(denied());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
