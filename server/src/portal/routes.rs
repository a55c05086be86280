//! Every HTTP route, with the access it requires. Add new routes here only.

use axum::http::Method;
use axum::routing::{MethodRouter, get, post};

use super::admin::{agents, audit, operators, sites, tokens};
use super::{AppState, desk_api, ops, pages, session};
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
            get(desk_api::openapi),
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
            get(desk_api::route),
        ),
        r(
            Method::GET,
            "/api/v1/desks",
            Role(Viewer),
            get(desk_api::desks),
        ),
        // Administrators.
        r(Method::GET, "/admin/sites", Role(Admin), get(sites::list)),
        r(
            Method::POST,
            "/admin/sites",
            Role(Admin),
            post(sites::create),
        ),
        r(
            Method::GET,
            "/admin/sites/{site_id}",
            Role(Admin),
            get(sites::edit_form),
        ),
        r(
            Method::POST,
            "/admin/sites/{site_id}",
            Role(Admin),
            post(sites::edit_submit),
        ),
        r(
            Method::POST,
            "/admin/sites/{site_id}/token",
            Role(Admin),
            post(sites::token),
        ),
        r(Method::GET, "/admin/agents", Role(Admin), get(agents::list)),
        r(
            Method::POST,
            "/admin/agents/{agent_id}/revoke",
            Role(Admin),
            post(agents::revoke),
        ),
        r(
            Method::GET,
            "/admin/operators",
            Role(Admin),
            get(operators::list),
        ),
        r(
            Method::POST,
            "/admin/operators",
            Role(Admin),
            post(operators::create),
        ),
        r(
            Method::POST,
            "/admin/operators/{username}/unlock",
            Role(Admin),
            post(operators::unlock),
        ),
        r(
            Method::POST,
            "/admin/operators/{username}/disable",
            Role(Admin),
            post(operators::disable),
        ),
        r(
            Method::POST,
            "/admin/operators/{username}/enable",
            Role(Admin),
            post(operators::enable),
        ),
        r(
            Method::POST,
            "/admin/operators/{username}/password-reset",
            Role(Admin),
            post(operators::reset_password),
        ),
        r(
            Method::POST,
            "/admin/operators/{username}/role",
            Role(Admin),
            post(operators::set_role),
        ),
        r(Method::GET, "/admin/tokens", Role(Admin), get(tokens::list)),
        r(
            Method::POST,
            "/admin/tokens",
            Role(Admin),
            post(tokens::create),
        ),
        r(
            Method::POST,
            "/admin/tokens/{token_id}/revoke",
            Role(Admin),
            post(tokens::revoke),
        ),
        r(Method::GET, "/admin/audit", Role(Admin), get(audit::list)),
    ]
}
