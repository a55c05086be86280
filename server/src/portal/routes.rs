//! Every HTTP route, with the access it requires. Add new routes here only.

use axum::http::Method;
use axum::routing::{MethodRouter, get, post};

use super::{AppState, admin, ops, pages, session};
use crate::auth::Role::{Admin, Operator, Viewer};
use crate::auth::extract::Access::{self, Public, Role};

#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

fn r(
    method: Method,
    path: &'static str,
    access: Access,
    handler: MethodRouter<AppState>,
) -> (RouteSpec, MethodRouter<AppState>) {
    (
        RouteSpec {
            method,
            path,
            access,
        },
        handler,
    )
}

pub fn table() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    let _ = Operator; // operator-only routes arrive with the incident issue
    vec![
        // Public: login, liveness/readiness, metrics scrape, static files, API description.
        r(Method::GET, "/login", Public, get(session::login_form)),
        r(Method::POST, "/login", Public, post(session::login_submit)),
        r(Method::GET, "/healthz", Public, get(ops::healthz)),
        r(Method::GET, "/readyz", Public, get(ops::readyz)),
        r(Method::GET, "/metrics", Public, get(ops::metrics)),
        r(Method::GET, "/static/portal.css", Public, get(pages::css)),
        r(
            Method::GET,
            "/api/v1/openapi.json",
            Public,
            get(crate::desk::api::openapi),
        ),
        // Any logged-in operator.
        r(Method::GET, "/", Role(Viewer), get(pages::index)),
        r(Method::POST, "/logout", Role(Viewer), post(session::logout)),
        r(
            Method::GET,
            "/account/password",
            Role(Viewer),
            get(session::password_form),
        ),
        r(
            Method::POST,
            "/account/password",
            Role(Viewer),
            post(session::password_submit),
        ),
        r(
            Method::GET,
            "/api/v1/sites",
            Role(Viewer),
            get(pages::api_sites),
        ),
        r(
            Method::GET,
            "/api/v1/desk/route",
            Role(Viewer),
            get(crate::desk::api::route),
        ),
        r(
            Method::GET,
            "/api/v1/desks",
            Role(Viewer),
            get(crate::desk::api::desks),
        ),
        // Administrators.
        r(Method::GET, "/admin/sites", Role(Admin), get(admin::sites)),
        r(
            Method::POST,
            "/admin/sites",
            Role(Admin),
            post(admin::site_create),
        ),
        r(
            Method::POST,
            "/admin/sites/{site_id}/token",
            Role(Admin),
            post(admin::site_token),
        ),
        r(
            Method::GET,
            "/admin/agents",
            Role(Admin),
            get(admin::agents),
        ),
        r(
            Method::POST,
            "/admin/agents/{agent_id}/revoke",
            Role(Admin),
            post(admin::agent_revoke),
        ),
        r(
            Method::GET,
            "/admin/operators",
            Role(Admin),
            get(admin::operators),
        ),
        r(
            Method::POST,
            "/admin/operators",
            Role(Admin),
            post(admin::operator_create),
        ),
        r(
            Method::GET,
            "/admin/tokens",
            Role(Admin),
            get(admin::tokens),
        ),
        r(
            Method::POST,
            "/admin/tokens",
            Role(Admin),
            post(admin::token_create),
        ),
        r(
            Method::POST,
            "/admin/tokens/{token_id}/revoke",
            Role(Admin),
            post(admin::token_revoke),
        ),
        r(Method::GET, "/admin/audit", Role(Admin), get(admin::audit)),
    ]
}
