//! The operator portal (axum + askama), the JSON API and the operational
//! endpoints. Every route is declared once in `routes::table()` with who may
//! use it; the router is built from that table, so no route can skip the
//! guard (and the auth test walks the same table).

mod admin;
pub mod assets;
pub mod dashboard;
mod desk_api;
pub mod desk_view;
pub mod desks_page;
mod error_page;
mod escalations_api;
mod escalations_forms;
mod escalations_page;
pub mod extract;
pub mod filters;
pub mod guard;
mod incident_forms;
mod incidents_api;
pub mod incidents_pages;
pub mod live;
mod ops;
mod pages;
pub mod routes;
mod session;
pub mod silence_form;
pub mod site_page;
pub mod site_list;
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
    /// SMTP transport for escalation mail to vendors (`--escalation-smtp-url`); `None`: off.
    pub escalation_mail: Option<std::sync::Arc<crate::escalation::send::Sender>>,
    /// The dashboard snapshot shared by every browser of this process (`/`, `/events`).
    pub live: live::Hub,
    /// How often the dashboard snapshot is refreshed while someone watches it.
    pub live_every: Duration,
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
            escalation_mail: None,
            live: live::Hub::new(),
            live_every: live::DEFAULT_EVERY,
        }
    }

    /// Reports received before this instant (at `now`) count as silence: `$1` of
    /// `fleet::query::STATUS_SQL`.
    pub fn silent_before(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        now - chrono::Duration::from_std(self.stale_after)
            .unwrap_or_else(|_| chrono::Duration::minutes(16))
    }
}

/// What every page's header shows about the logged-in operator.
pub struct Nav {
    pub username: String,
    pub role: &'static str,
    pub is_admin: bool,
    pub csrf: String,
    /// The menu entry of the page shown (`aria-current`), e.g. "/sites"; empty for none.
    pub current: &'static str,
}

impl Nav {
    pub fn from(p: &Principal) -> Self {
        Self {
            username: p.username.clone(),
            role: p.role.label_ja(),
            is_admin: p.role == crate::auth::Role::Admin,
            csrf: p.csrf.clone().unwrap_or_default(),
            current: "",
        }
    }

    /// The same header, with `path`'s menu entry marked as the current page.
    pub fn at(mut self, path: &'static str) -> Self {
        self.current = path;
        self
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
