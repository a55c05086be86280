//! The operator portal (axum + askama), the JSON API and the operational
//! endpoints. Every route is declared once in `routes::table()` with who may
//! use it; the router is built from that table, so no route can skip the
//! guard (and the auth test walks the same table).

mod admin;
mod desk_api;
mod error_page;
pub mod extract;
pub mod filters;
pub mod guard;
mod incidents_api;
mod ops;
mod pages;
pub mod routes;
mod session;
#[cfg(test)]
pub(crate) mod tests;

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use sqlx::PgPool;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::Principal;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub metrics: Metrics,
    /// A site whose last report is older than this is shown as 停止中.
    pub stale_after: Duration,
    /// The portal is reached over HTTPS (a TLS-terminating proxy): cookies
    /// get `Secure` and responses carry HSTS.
    pub behind_tls: bool,
}

impl AppState {
    pub fn new(pool: PgPool, metrics: Metrics) -> Self {
        Self {
            pool,
            metrics,
            // Just above the 15-minute `offline` limit: a site silent while open turns
            // 停止中 (sweep) before it could be counted as 営業時間外.
            stale_after: Duration::from_secs(16 * 60),
            behind_tls: false,
        }
    }
}

/// What every page's header shows about the logged-in operator.
pub struct Nav {
    pub username: String,
    pub role: &'static str,
    pub is_admin: bool,
    pub csrf: String,
}

impl Nav {
    pub fn from(p: &Principal) -> Self {
        Self {
            username: p.username.clone(),
            role: p.role.label_ja(),
            is_admin: p.role == crate::auth::Role::Admin,
            csrf: p.csrf.clone().unwrap_or_default(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    let behind_tls = state.behind_tls;
    let mut router = Router::new();
    for (spec, handler) in routes::table() {
        let guarded = handler.route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), spec.access),
            guard::guard,
        ));
        router = router.route(spec.path, guarded);
    }
    let mut router = router
        .with_state(state)
        .layer(axum::middleware::from_fn(error_page::browser_errors))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        // The portal uses no camera, microphone, location or payment: say so, so that no
        // injected content can ask for them.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"),
        ));
    if behind_tls {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ));
    }
    crate::logging::traced_http(router.layer(CompressionLayer::new()))
}

/// Renders an askama template into a response, mapping errors once.
pub fn render(
    t: &impl askama::Template,
) -> Result<axum::response::Html<String>, crate::error::Error> {
    t.render()
        .map(axum::response::Html)
        .map_err(|e| crate::error::Error::Other(e.into()))
}
