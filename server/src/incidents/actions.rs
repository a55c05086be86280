//! Operator actions on an incident (issue 11 "Incident lifecycle"): acknowledge, assign,
//! comment, resolve by hand, re-open. Each is one transaction under the site's incident lock:
//! the incident row, its timeline row and the audit row commit together or not at all.
//!
//! [`check`] is pure (the state machine and the input rules); [`perform`] loads, checks and
//! applies.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::{PgConnection, PgPool};

use super::lifecycle::State;
use super::store;
use crate::auth::audit::{self, Entry};
use crate::error::{Error, FieldErrors};
use crate::sites::Actor;

/// Longest comment, in characters.
pub const MAX_COMMENT: usize = 4000;
/// Longest resolution / re-open reason, in characters.
pub const MAX_REASON: usize = 1000;

/// What an operator does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Assign { assignee: String },
    Comment { text: String },
    Resolve { reason: String },
    Reopen { reason: String },
}

impl Action {
    fn event_kind(&self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledged",
            Action::Assign { .. } => "assigned",
            Action::Comment { .. } => "commented",
            Action::Resolve { .. } => "resolved",
            Action::Reopen { .. } => "reopened",
        }
    }

    fn audit_action(&self) -> &'static str {
        match self {
            Action::Acknowledge => "incident.acknowledge",
            Action::Assign { .. } => "incident.assign",
            Action::Comment { .. } => "incident.comment",
            Action::Resolve { .. } => "incident.resolve",
            Action::Reopen { .. } => "incident.reopen",
        }
    }

    fn detail(&self) -> serde_json::Value {
        match self {
            Action::Acknowledge => serde_json::json!({}),
            Action::Assign { assignee } => serde_json::json!({ "assignee": assignee }),
            Action::Comment { text } => serde_json::json!({ "text": text }),
            Action::Resolve { reason } | Action::Reopen { reason } => {
                serde_json::json!({ "reason": reason })
            }
        }
    }
}

/// Optional optimistic-concurrency guard sent with an action: the `version` the operator saw.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Expect {
    #[serde(default)]
    pub version: Option<i64>,
}

/// The incident as the checks need it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Current {
    pub incident_id: i64,
    pub site_id: String,
    pub state: State,
    pub assignee: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    /// The latest timeline row: changes whenever anything happens to the incident.
    pub version: i64,
    pub last_kind: Option<String>,
    pub last_actor: Option<String>,
    pub last_at: Option<DateTime<Utc>>,
}

fn jst(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&crate::desk::JST)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
    .unwrap_or_else(|| "不明".into())
}

/// Validates the text of an action; a problem is a field error (HTTP 422).
pub fn check_input(action: &Action) -> Result<(), Error> {
    let mut errors = FieldErrors::default();
    match action {
        Action::Acknowledge => {}
        Action::Assign { assignee } => {
            if assignee.trim().is_empty() {
                errors.add(
                    "assignee",
                    "担当者（オペレータのユーザ名）を入力してください",
                );
            }
        }
        Action::Comment { text } => {
            if text.trim().is_empty() {
                errors.add("text", "コメントを入力してください");
            } else if let Err(m) = crate::text::check_multiline("コメント", text, MAX_COMMENT) {
                errors.add("text", m);
            }
        }
        Action::Resolve { reason } | Action::Reopen { reason } => {
            if reason.trim().is_empty() {
                errors.add(
                    "reason",
                    "理由を入力してください（例: 現地で再起動し復旧を確認）",
                );
            } else if let Err(m) = crate::text::check_multiline("理由", reason, MAX_REASON) {
                errors.add("reason", m);
            }
        }
    }
    errors.into_result().map_err(Error::from)
}

/// Whether the action fits the incident's state now (pure). Conflicts say who did what when.
pub fn check(action: &Action, current: &Current, expect: Expect) -> Result<(), Error> {
    if let Some(seen) = expect.version
        && seen != current.version
    {
        return Err(Error::Conflict(format!(
            "この障害は表示後に更新されています（{} が {} に「{}」）。再読み込みしてから、もう一度操作してください",
            current.last_actor.as_deref().unwrap_or("不明"),
            jst(current.last_at),
            current.last_kind.as_deref().map(kind_ja).unwrap_or("更新"),
        )));
    }
    let resolved = || {
        Error::Conflict(format!(
            "この障害は {} に {} が解決済みにしています。必要なら先に再オープンしてください",
            jst(current.resolved_at),
            current.resolved_by.as_deref().unwrap_or("不明")
        ))
    };
    match (action, current.state) {
        (Action::Acknowledge, State::Acknowledged) => Err(Error::Conflict(format!(
            "この障害は既に {} が {} に確認済みです",
            current.acknowledged_by.as_deref().unwrap_or("不明"),
            jst(current.acknowledged_at)
        ))),
        (Action::Acknowledge | Action::Resolve { .. }, State::Resolved) => Err(resolved()),
        (Action::Assign { assignee }, _) if current.assignee.as_deref() == Some(assignee) => Err(
            Error::Conflict(format!("この障害の担当者は既に {assignee} です")),
        ),
        (Action::Reopen { .. }, State::Open | State::Acknowledged) => Err(Error::Conflict(
            "この障害は解決済みではないため再オープンできません".into(),
        )),
        _ => Ok(()),
    }
}

/// Timeline kinds in Japanese, for conflict messages and the CLI.
pub fn kind_ja(kind: &str) -> &'static str {
    match kind {
        "opened" => "発生",
        "reopened" => "再オープン",
        "severity_raised" => "重大度上昇",
        "acknowledged" => "確認",
        "assigned" => "担当者設定",
        "commented" => "コメント",
        "resolved" => "手動解決",
        "auto_resolved" => "自動解決",
        "flapping" => "頻発",
        "settled" => "安定",
        "escalation" => "エスカレーション",
        _ => "更新",
    }
}

async fn load(conn: &mut PgConnection, id: i64) -> Result<Current, Error> {
    sqlx::query_as(
        "SELECT i.incident_id, i.site_id, i.state, i.assignee, i.acknowledged_at, i.acknowledged_by,
                i.resolved_at, i.resolved_by,
                COALESCE(e.event_id, 0) AS version, e.kind AS last_kind, e.actor AS last_actor,
                e.at AS last_at
         FROM incidents i
         LEFT JOIN LATERAL (SELECT event_id, kind, actor, at FROM incident_events
                            WHERE incident_id = i.incident_id ORDER BY event_id DESC LIMIT 1) e ON true
         WHERE i.incident_id = $1 FOR UPDATE OF i",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| Error::NotFound(format!("障害 {id}")))
}

async fn site_of(pool: &PgPool, id: i64) -> Result<String, Error> {
    sqlx::query_scalar("SELECT site_id FROM incidents WHERE incident_id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("障害 {id}")))
}

/// Loads, checks and applies one action with its timeline and audit rows, in one transaction.
pub async fn perform(
    pool: &PgPool,
    id: i64,
    action: &Action,
    expect: Expect,
    by: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    check_input(action)?;
    let site_id = site_of(pool, id).await?;
    let mut tx = pool.begin().await?;
    store::lock_site(&mut tx, &site_id).await?;
    let current = load(&mut tx, id).await?;
    if let Action::Assign { assignee } = action {
        ensure_operator(&mut tx, assignee).await?;
    }
    if let Err(e) = check(action, &current, expect) {
        tracing::info!(incident = id, actor = by.actor, error = %e, "incident action refused");
        return Err(e);
    }
    apply(&mut tx, id, action, by.actor, now).await?;
    store::event(&mut tx, id, action.event_kind(), by.actor, action.detail()).await?;
    audit::record(
        &mut tx,
        Entry::new(by.actor, action.audit_action(), format!("incident:{id}"))
            .remote(by.remote)
            .detail(serde_json::json!({ "site_id": site_id, "action": action.detail() })),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        incident = id,
        actor = by.actor,
        action = action.audit_action(),
        "incident action"
    );
    Ok(())
}

async fn ensure_operator(conn: &mut PgConnection, username: &str) -> Result<(), Error> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM operators WHERE username = $1 AND NOT disabled")
            .bind(username)
            .fetch_optional(conn)
            .await?;
    match role.as_deref() {
        Some("operator" | "admin") => Ok(()),
        Some(_) => Err(field(
            "assignee",
            format!(
                "{username} は閲覧者のため担当者にできません。オペレータ以上のユーザを指定してください"
            ),
        )),
        None => Err(field(
            "assignee",
            format!("オペレータ {username} は登録されていません。ユーザ名を確認してください"),
        )),
    }
}

fn field(name: &'static str, message: String) -> Error {
    let mut errors = FieldErrors::default();
    errors.add(name, message);
    Error::Fields(errors)
}

async fn apply(
    conn: &mut PgConnection,
    id: i64,
    action: &Action,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    match action {
        Action::Acknowledge => {
            sqlx::query(
                "UPDATE incidents SET state = 'acknowledged', acknowledged_at = $2, acknowledged_by = $3,
                     updated_at = now() WHERE incident_id = $1",
            )
            .bind(id)
            .bind(now)
            .bind(actor)
            .execute(conn)
            .await?;
        }
        Action::Assign { assignee } => {
            sqlx::query(
                "UPDATE incidents SET assignee = $2, updated_at = now() WHERE incident_id = $1",
            )
            .bind(id)
            .bind(assignee)
            .execute(conn)
            .await?;
        }
        Action::Comment { .. } => {}
        Action::Resolve { reason } => {
            store::resolve(conn, id, actor, reason, now).await?;
        }
        Action::Reopen { .. } => {
            // The hold-down starts afresh: the condition must be absent again to auto-resolve.
            sqlx::query(
                "UPDATE incidents SET state = 'open', resolved_at = NULL, resolved_by = NULL,
                     resolve_reason = NULL, acknowledged_at = NULL, acknowledged_by = NULL,
                     clear_since = NULL, clear_reports = 0, reopen_count = reopen_count + 1,
                     updated_at = now()
                 WHERE incident_id = $1",
            )
            .bind(id)
            .execute(conn)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict(
                    "同じサイト・ルール・対象の未解決の障害が既にあります。そちらを操作してください".into(),
                ),
                _ => Error::Sqlx(e),
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
