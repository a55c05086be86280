//! Every HTTP route, with the access it requires. Add new routes here only.

use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, post, put};

use super::admin::{agents, audit, notify, operators, sites, tokens, updates};
use super::{AppState, desk_api, incidents_api, ops, pages, session};
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
        // Notifications (issue 12): channels, routes, deliveries — administrators.
        r(
            Method::GET,
            "/admin/channels",
            Role(Admin),
            get(notify::list),
        ),
        r(
            Method::POST,
            "/admin/channels",
            Role(Admin),
            post(notify::create_channel),
        ),
        r(
            Method::POST,
            "/admin/channels/{name}/test",
            Role(Admin),
            post(notify::test_channel),
        ),
        r(
            Method::POST,
            "/admin/channels/{name}/delete",
            Role(Admin),
            post(notify::remove_channel),
        ),
        r(
            Method::POST,
            "/admin/channels/{name}/retry-dead",
            Role(Admin),
            post(notify::retry_dead),
        ),
        r(
            Method::POST,
            "/admin/routes",
            Role(Admin),
            post(notify::create_route),
        ),
        r(
            Method::POST,
            "/admin/routes/{name}/delete",
            Role(Admin),
            post(notify::remove_route),
        ),
        r(
            Method::GET,
            "/admin/deliveries",
            Role(Admin),
            get(notify::list_deliveries),
        ),
        r(
            Method::POST,
            "/admin/deliveries/{id}/retry",
            Role(Admin),
            post(notify::retry_delivery),
        ),
        // Incidents (issue 11): reads for viewers, actions and silences for operators.
        r(
            Method::GET,
            "/api/v1/incidents",
            Role(Viewer),
            get(incidents_api::list),
        ),
        r(
            Method::GET,
            "/api/v1/incidents/{id}",
            Role(Viewer),
            get(incidents_api::detail),
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/ack",
            Role(Operator),
            post(incidents_api::ack),
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/assign",
            Role(Operator),
            post(incidents_api::assign),
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/comment",
            Role(Operator),
            post(incidents_api::comment),
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/resolve",
            Role(Operator),
            post(incidents_api::resolve),
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/reopen",
            Role(Operator),
            post(incidents_api::reopen),
        ),
        r(
            Method::GET,
            "/api/v1/silences",
            Role(Viewer),
            get(incidents_api::silences),
        ),
        r(
            Method::POST,
            "/api/v1/silences",
            Role(Operator),
            post(incidents_api::silence_create),
        ),
        r(
            Method::DELETE,
            "/api/v1/silences/{id}",
            Role(Operator),
            delete(incidents_api::silence_expire),
        ),
        r(
            Method::GET,
            "/api/v1/sites/{site_id}/hours",
            Role(Viewer),
            get(incidents_api::hours_get),
        ),
        r(
            Method::PUT,
            "/api/v1/sites/{site_id}/hours",
            Role(Admin),
            put(incidents_api::hours_put),
        ),
        r(
            Method::PUT,
            "/api/v1/sites/{site_id}/hours/exceptions/{date}",
            Role(Operator),
            put(incidents_api::exception_put),
        ),
        r(
            Method::DELETE,
            "/api/v1/sites/{site_id}/hours/exceptions/{date}",
            Role(Operator),
            delete(incidents_api::exception_delete),
        ),
        // Agent updates (issue 17): releases and rollouts, administrators only.
        r(
            Method::GET,
            "/admin/updates",
            Role(Admin),
            get(updates::page),
        ),
        r(
            Method::POST,
            "/admin/rollouts",
            Role(Admin),
            post(updates::start),
        ),
        r(
            Method::GET,
            "/admin/rollouts/{rollout_id}",
            Role(Admin),
            get(updates::detail),
        ),
        r(
            Method::POST,
            "/admin/rollouts/{rollout_id}/pause",
            Role(Admin),
            post(updates::pause),
        ),
        r(
            Method::POST,
            "/admin/rollouts/{rollout_id}/resume",
            Role(Admin),
            post(updates::resume),
        ),
        r(
            Method::POST,
            "/admin/rollouts/{rollout_id}/widen",
            Role(Admin),
            post(updates::widen),
        ),
        r(
            Method::POST,
            "/admin/rollouts/{rollout_id}/abort",
            Role(Admin),
            post(updates::abort),
        ),
    ]
}
