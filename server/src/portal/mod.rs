//! The operator portal (axum + askama) and the operational endpoints.

mod ops;
mod pages;

use std::time::Duration;

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header;
use sqlx::PgPool;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub metrics: Metrics,
    /// A site whose last report is older than this is shown as 未受信.
    pub stale_after: Duration,
}

impl AppState {
    pub fn new(pool: PgPool, metrics: Metrics) -> Self {
        Self { pool, metrics, stale_after: Duration::from_secs(600) }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(pages::routes())
        .merge(ops::routes())
        .merge(crate::desk::api::routes())
        .with_state(state)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}
