//! The notification outbox: what is owed, written in the caller's transaction. The incident
//! store calls [`incident_changed`] / [`incidents_opened`] as it writes a timeline row that
//! notifies (opened, re-opened, severity raised, resolved), so an incident change never commits
//! without its notification being owed; other features call [`enqueue_event`]. The router
//! (`router.rs`) turns rows into messages later, on any replica.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use super::model::EventKind;
use crate::error::Error;
use crate::sites::Health;

/// Longest subject of a non-incident event, in characters.
pub const MAX_EVENT_SUBJECT: usize = 200;
/// Longest body of a non-incident event, in bytes.
pub const MAX_EVENT_BODY: usize = 16 * 1024;

/// Records that the timeline row `kind` just written for `incident_id` may notify someone.
/// Kinds that notify no one (acknowledged, comment, …) are ignored. `detail` is the timeline
/// row's detail (`severity_raised` carries the severity it rose from).
pub async fn incident_changed(
    conn: &mut PgConnection,
    incident_id: i64,
    kind: &str,
    detail: &serde_json::Value,
) -> Result<(), Error> {
    let Some(kind) = EventKind::from_timeline(kind) else {
        return Ok(());
    };
    let from: Option<Health> = match kind {
        EventKind::Raised => serde_json::from_value(detail["from"].clone()).ok(),
        _ => None,
    };
    sqlx::query("INSERT INTO notify_events (incident_id, kind, severity) VALUES ($1, $2, $3)")
        .bind(incident_id)
        .bind(kind)
        .bind(from.filter(|h| *h != Health::Ok))
        .execute(conn)
        .await?;
    Ok(())
}

/// [`incident_changed`] for many incidents opened in one statement (the sweep's `offline`).
pub async fn incidents_opened(conn: &mut PgConnection, ids: &[i64]) -> Result<(), Error> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO notify_events (incident_id, kind) SELECT unnest($1::bigint[]), 'opened'",
    )
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// A notification that is not about an incident, e.g. an agent-update roll-out that halted
/// itself. Routed like a fleet-wide incident of `severity`: to every channel at or below that
/// severity that no route restricts, and through routes without site or rule matchers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemEvent {
    /// A stable code for receivers, e.g. `rollout_halted` (ASCII letters, digits, `_`, `.`).
    pub kind: String,
    /// One line, Japanese, e.g. 「エージェント更新 1.4.2 のロールアウトを停止しました」.
    pub subject: String,
    /// What happened and what to do.
    pub body: String,
    pub severity: Health,
}

impl SystemEvent {
    /// Checks sizes and characters: a subject with a newline (header injection in a mail) or a
    /// 10 MB body is refused here, before anything is stored.
    pub fn check(&self) -> Result<(), Error> {
        let code_ok = !self.kind.is_empty()
            && self.kind.len() <= 64
            && self
                .kind
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !code_ok {
            return Err(Error::InvalidArgument(format!(
                "通知の種類コード「{}」が正しくありません（半角英数字と _ . -、64文字以内。例: rollout_halted）",
                self.kind
            )));
        }
        crate::text::check_line("通知の件名", &self.subject, MAX_EVENT_SUBJECT)
            .map_err(Error::InvalidArgument)?;
        if self.subject.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "通知の件名を入力してください".into(),
            ));
        }
        if self.body.len() > MAX_EVENT_BODY {
            return Err(Error::ResourceExhausted(format!(
                "通知の本文が大きすぎます（{} バイト、上限 {MAX_EVENT_BODY} バイト）。詳細はポータルのページに置き、本文には要点を書いてください",
                self.body.len()
            )));
        }
        crate::text::check_multiline("通知の本文", &self.body, usize::MAX)
            .map_err(Error::InvalidArgument)?;
        if self.severity == Health::Ok {
            return Err(Error::InvalidArgument(
                "通知の重大度は info / warning / critical のいずれかにしてください".into(),
            ));
        }
        Ok(())
    }
}

/// Owes a notification of `event`, in the caller's transaction (commit it with the change it
/// reports). Returns the outbox row's id.
pub async fn enqueue_event(conn: &mut PgConnection, event: &SystemEvent) -> Result<i64, Error> {
    event.check()?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO notify_events (kind, severity, event_kind, subject, body)
         VALUES ('event', $1, $2, $3, $4) RETURNING event_id",
    )
    .bind(event.severity)
    .bind(&event.kind)
    .bind(event.subject.trim())
    .bind(&event.body)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn halted() -> SystemEvent {
        SystemEvent {
            kind: "rollout_halted".into(),
            subject: "エージェント更新 1.4.2 のロールアウトを停止しました".into(),
            body: "失敗率が 5% を超えました。\n管理画面で理由を確認してください。".into(),
            severity: Health::Critical,
        }
    }

    #[test]
    fn a_valid_event_passes() {
        halted().check().unwrap();
    }

    #[test]
    fn bad_events_are_refused_clearly() {
        let e = SystemEvent {
            subject: "停止\r\nBcc: x@example.jp".into(),
            ..halted()
        };
        assert!(e.check().unwrap_err().to_string().contains("制御文字"));
        let e = SystemEvent {
            body: "あ".repeat(10 * 1024 * 1024 / 3),
            ..halted()
        };
        let err = e.check().unwrap_err();
        assert!(matches!(err, Error::ResourceExhausted(_)), "{err}");
        let e = SystemEvent {
            kind: "roll out".into(),
            ..halted()
        };
        assert!(
            e.check()
                .unwrap_err()
                .to_string()
                .contains("rollout_halted")
        );
        let e = SystemEvent {
            severity: Health::Ok,
            ..halted()
        };
        assert!(e.check().is_err());
        let e = SystemEvent {
            subject: " ".into(),
            ..halted()
        };
        assert!(e.check().is_err());
    }
}
