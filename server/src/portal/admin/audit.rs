//! The audit log, filtered by actor (contains), action (starts with) and outcome. What the
//! administrator types is matched literally: `%` and `_` are escaped, never wildcards.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::auth::Principal;
use crate::auth::audit::Outcome;
use crate::error::Error;
use crate::portal::extract::AppQuery;
use crate::portal::{AppState, Nav, filters, render};

#[derive(serde::Deserialize, Default)]
pub struct AuditFilter {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    /// Empty (or absent) for every outcome.
    #[serde(default, deserialize_with = "any_outcome")]
    outcome: Option<Outcome>,
}

fn any_outcome<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Outcome>, D::Error> {
    use serde::Deserialize;
    match Option::<String>::deserialize(d)?.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => {
            Outcome::deserialize(serde::de::value::StrDeserializer::<D::Error>::new(s)).map(Some)
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct AuditRow {
    audit_id: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    target: String,
    outcome: Outcome,
    detail: serde_json::Value,
    remote: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    nav: Nav,
    filter: AuditFilter,
    rows: Vec<AuditRow>,
}

/// `text` as a literal inside a `LIKE` pattern (escape character `\`).
pub fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    AppQuery(filter): AppQuery<AuditFilter>,
) -> Result<Response, Error> {
    let rows = sqlx::query_as::<_, AuditRow>(
        "SELECT audit_id, at, actor, action, target, outcome, detail, remote FROM audit_log
         WHERE ($1 = '' OR actor ILIKE '%' || $1 || '%' ESCAPE '\\')
           AND ($2 = '' OR action ILIKE $2 || '%' ESCAPE '\\')
           AND ($3::text IS NULL OR outcome = $3)
         ORDER BY audit_id DESC LIMIT 500",
    )
    .bind(like_literal(filter.actor.trim()))
    .bind(like_literal(filter.action.trim()))
    .bind(filter.outcome)
    .fetch_all(&state.pool)
    .await?;
    Ok(render(&AuditPage {
        nav: Nav::from(&who),
        filter,
        rows,
    })?
    .into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn wildcards_are_escaped() {
        assert_eq!(super::like_literal("a%b_c\\d"), "a\\%b\\_c\\\\d");
        assert_eq!(super::like_literal("site."), "site.");
    }
}
