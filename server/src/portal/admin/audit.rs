//! The audit log, filtered by actor (contains), action (starts with) and outcome, newest first
//! in keyset pages of [`AUDIT_PAGE`] rows. What the administrator types is matched literally:
//! `%` and `_` are escaped, never wildcards.

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
    /// Keyset cursor: show rows older than this audit id (the last row of the previous page).
    #[serde(default)]
    before: Option<String>,
}

/// Rows per page of the audit log.
pub const AUDIT_PAGE: i64 = 100;

impl AuditFilter {
    /// The cursor, or a Japanese error (it comes from a link, but URLs can be edited).
    fn cursor(&self) -> Result<Option<i64>, Error> {
        let Some(raw) = self
            .before
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
        else {
            return Ok(None);
        };
        raw.parse::<i64>()
            .ok()
            .filter(|b| *b > 0)
            .map(Some)
            .ok_or_else(|| {
                Error::InvalidArgument(
                    "before（ページ位置）は正の整数です。監査ログの「次へ」のリンクから開いてください"
                        .into(),
                )
            })
    }

    /// The query string of this filter at another position (`None`: the newest rows).
    fn href(&self, before: Option<i64>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !self.actor.is_empty() {
            q.append_pair("actor", &self.actor);
        }
        if !self.action.is_empty() {
            q.append_pair("action", &self.action);
        }
        if let Some(o) = self.outcome {
            q.append_pair("outcome", o.as_str());
        }
        if let Some(b) = before {
            q.append_pair("before", &b.to_string());
        }
        let q = q.finish();
        if q.is_empty() {
            "/admin/audit".into()
        } else {
            format!("/admin/audit?{q}")
        }
    }
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
    /// Link to the next (older) page, when there is one.
    older: Option<String>,
    /// Link back to the newest rows, when not on the first page.
    newest: Option<String>,
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
    let before = filter.cursor()?;
    // Keyset pages on the primary key, newest first: page 1,000 costs what page 1 does.
    let mut rows = sqlx::query_as::<_, AuditRow>(
        "SELECT audit_id, at, actor, action, target, outcome, detail, remote FROM audit_log
         WHERE ($1 = '' OR actor ILIKE '%' || $1 || '%' ESCAPE '\\')
           AND ($2 = '' OR action ILIKE $2 || '%' ESCAPE '\\')
           AND ($3::text IS NULL OR outcome = $3)
           AND ($4::bigint IS NULL OR audit_id < $4)
         ORDER BY audit_id DESC LIMIT $5",
    )
    .bind(like_literal(filter.actor.trim()))
    .bind(like_literal(filter.action.trim()))
    .bind(filter.outcome)
    .bind(before)
    .bind(AUDIT_PAGE + 1)
    .fetch_all(&state.pool)
    .await?;
    let more = rows.len() as i64 > AUDIT_PAGE;
    rows.truncate(AUDIT_PAGE as usize);
    let older = more
        .then(|| rows.last().map(|r| filter.href(Some(r.audit_id))))
        .flatten();
    let newest = before.map(|_| filter.href(None));
    Ok(render(&AuditPage {
        nav: Nav::from(&who),
        filter,
        rows,
        older,
        newest,
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
