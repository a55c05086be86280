//! Who is behind a request: the session cookie or `Authorization: Bearer`, and the access
//! levels routes declare. Independent of the portal: the HTTP guard that uses this lives in
//! `portal/guard.rs`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, header};
use axum_extra::extract::cookie::CookieJar;
use sqlx::PgPool;

use super::{Principal, Role, login};
use crate::error::Error;

pub const SESSION_COOKIE: &str = "onshi_session";

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No login: the login page, health and metrics endpoints, static files.
    Public,
    /// A logged-in operator or API token with at least this role.
    Role(Role),
}

/// The caller's IP address as text (empty when unknown), for the audit log and throttling.
pub fn remote_addr(req: &Request) -> String {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default()
}

/// The principal behind a request, if any (an active request: see [`authenticate_as`]).
pub async fn authenticate(pool: &PgPool, headers: &HeaderMap) -> Result<Option<Principal>, Error> {
    authenticate_as(pool, headers, login::Activity::Active).await
}

/// The principal behind a request, if any; `activity` says whether a session cookie's idle
/// clock restarts.
pub async fn authenticate_as(
    pool: &PgPool,
    headers: &HeaderMap,
    activity: login::Activity,
) -> Result<Option<Principal>, Error> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return login::api_token_principal(pool, bearer.trim()).await;
    }
    let jar = CookieJar::from_headers(headers);
    match jar.get(SESSION_COOKIE) {
        Some(cookie) => login::session_principal_as(pool, cookie.value(), activity).await,
        None => Ok(None),
    }
}
