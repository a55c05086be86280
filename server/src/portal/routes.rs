//! Every HTTP route, with the access it requires. Add new routes here only.

use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, patch, post, put};

use super::admin::{agents, audit, deliveries, notify, operators, sites, tokens};
use super::admin::{hours, makers, receipt_vendors, silences, site_delete, updates};
use super::{
    AppState, assets, dashboard, desk_api, desks_page, incident_forms, incidents_api,
    incidents_pages, live, ops, pages, session, site_list, site_page,
};
use super::{escalations_api, escalations_forms, escalations_page};
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
        // Content-hashed stylesheet and scripts (portal/assets.rs).
        r(Method::GET, "/static/{file}", Public, get(assets::serve)),
        r(
            Method::GET,
            "/api/v1/openapi.json",
            Public,
            get(desk_api::openapi),
        ),
        // Any logged-in operator.
        r(Method::GET, "/", Role(Viewer), get(dashboard::page)),
        // The operator console (issue 13): site list, its CSV, the dashboard's live stream.
        r(Method::GET, "/sites", Role(Viewer), get(site_list::list)),
        r(Method::GET, "/sites.csv", Role(Viewer), get(site_list::csv)),
        r(Method::GET, "/events", Role(Viewer), get(live::events)),
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
            post(deliveries::retry_dead),
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
            get(deliveries::list),
        ),
        r(
            Method::POST,
            "/admin/deliveries/{id}/retry",
            Role(Admin),
            post(deliveries::retry),
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
        // Escalation to vendors and desks (issue 12): reads for viewers, drafts, sending,
        // calls and tracking for operators, the maker and vendor directories for admins.
        r(
            Method::GET,
            "/api/v1/incidents/{id}/escalations",
            Role(Viewer),
            get(escalations_api::list),
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/escalations",
            Role(Operator),
            post(escalations_api::create),
        ),
        r(
            Method::GET,
            "/api/v1/incidents/{id}/escalations/{eid}",
            Role(Viewer),
            get(escalations_api::get),
        ),
        r(
            Method::PATCH,
            "/api/v1/incidents/{id}/escalations/{eid}",
            Role(Operator),
            patch(escalations_api::patch),
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/escalations/{eid}/send",
            Role(Operator),
            post(escalations_api::send_mail),
        ),
        r(
            Method::POST,
            "/api/v1/incidents/{id}/escalations/{eid}/record-call",
            Role(Operator),
            post(escalations_api::record_call),
        ),
        r(
            Method::GET,
            "/incidents/{id}/escalations",
            Role(Viewer),
            get(escalations_page::show),
        ),
        r(
            Method::POST,
            "/incidents/{id}/escalations",
            Role(Operator),
            post(escalations_forms::create),
        ),
        r(
            Method::POST,
            "/incidents/{id}/escalations/{eid}/edit",
            Role(Operator),
            post(escalations_forms::edit),
        ),
        r(
            Method::POST,
            "/incidents/{id}/escalations/{eid}/send",
            Role(Operator),
            post(escalations_forms::send_mail),
        ),
        r(
            Method::POST,
            "/incidents/{id}/escalations/{eid}/record-call",
            Role(Operator),
            post(escalations_forms::record_call),
        ),
        r(
            Method::POST,
            "/incidents/{id}/escalations/{eid}/update",
            Role(Operator),
            post(escalations_forms::update),
        ),
        r(Method::GET, "/admin/makers", Role(Admin), get(makers::list)),
        r(
            Method::POST,
            "/admin/makers/{maker}",
            Role(Admin),
            post(makers::save),
        ),
        r(
            Method::POST,
            "/admin/makers/{maker}/clear",
            Role(Admin),
            post(makers::clear),
        ),
        r(
            Method::GET,
            "/admin/receipt-vendors",
            Role(Admin),
            get(receipt_vendors::list),
        ),
        r(
            Method::POST,
            "/admin/receipt-vendors",
            Role(Admin),
            post(receipt_vendors::save),
        ),
        r(
            Method::POST,
            "/admin/receipt-vendors/remove",
            Role(Admin),
            post(receipt_vendors::remove),
        ),
        // Console pages (issue 13): incidents for viewers, their forms for operators.
        r(
            Method::GET,
            "/incidents",
            Role(Viewer),
            get(incidents_pages::list),
        ),
        r(
            Method::GET,
            "/incidents/{id}",
            Role(Viewer),
            get(incidents_pages::detail),
        ),
        r(
            Method::POST,
            "/incidents/{id}/ack",
            Role(Operator),
            post(incident_forms::ack),
        ),
        r(
            Method::POST,
            "/incidents/{id}/assign",
            Role(Operator),
            post(incident_forms::assign),
        ),
        r(
            Method::POST,
            "/incidents/{id}/comment",
            Role(Operator),
            post(incident_forms::comment),
        ),
        r(
            Method::POST,
            "/incidents/{id}/resolve",
            Role(Operator),
            post(incident_forms::resolve),
        ),
        r(
            Method::POST,
            "/incidents/{id}/reopen",
            Role(Operator),
            post(incident_forms::reopen),
        ),
        r(
            Method::POST,
            "/incidents/{id}/silence",
            Role(Operator),
            post(incident_forms::silence),
        ),
        r(Method::GET, "/desks", Role(Viewer), get(desks_page::page)),
        r(
            Method::GET,
            "/sites/{site_id}",
            Role(Viewer),
            get(site_page::page),
        ),
        // Console pages (issue 13): admin additions.
        r(
            Method::GET,
            "/admin/sites/{site_id}/delete",
            Role(Admin),
            get(site_delete::confirm),
        ),
        r(
            Method::POST,
            "/admin/sites/{site_id}/delete",
            Role(Admin),
            post(site_delete::delete),
        ),
        r(
            Method::GET,
            "/admin/silences",
            Role(Admin),
            get(silences::list),
        ),
        r(
            Method::POST,
            "/admin/silences",
            Role(Admin),
            post(silences::create),
        ),
        r(
            Method::POST,
            "/admin/silences/{id}/expire",
            Role(Admin),
            post(silences::expire),
        ),
        r(Method::GET, "/admin/hours", Role(Admin), get(hours::list)),
        r(
            Method::POST,
            "/admin/hours/{kind}",
            Role(Admin),
            post(hours::set),
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
