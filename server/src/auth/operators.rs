//! What an administrator does to operator accounts: unlock, disable / enable, reset the
//! password (a one-time password the operator must change at the next login), change the
//! role. Each change ends the operator's sessions where it changes their rights, and each is
//! audited in the same transaction.

use sqlx::PgConnection;

use super::audit::{self, Entry};
use super::{Role, password, throttle};
use crate::error::Error;

/// Where an operator's first password comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordOrigin {
    /// Generated and handed over by someone else: must be changed at the first login.
    OneTime,
    /// Chosen by the operator (e.g. `admin create --password-stdin`).
    Chosen,
}

/// Whether an account may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Enabled,
    Disabled,
}

/// The Japanese reason a user name is refused, if it is.
pub fn check_username(username: &str) -> Result<(), Error> {
    let ok = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(
            "ユーザ名は半角英数字と . _ - で 1〜64 文字にしてください".into(),
        ))
    }
}

/// Who acts, from where: for the audit row.
#[derive(Debug, Clone, Copy)]
pub struct By<'a> {
    pub actor: &'a str,
    pub remote: &'a str,
}

async fn audited(
    conn: &mut PgConnection,
    by: By<'_>,
    action: &'static str,
    username: &str,
    detail: serde_json::Value,
) -> Result<(), Error> {
    audit::record(
        conn,
        Entry::new(by.actor, action, format!("user:{username}"))
            .remote(by.remote)
            .detail(detail),
    )
    .await
}

async fn end_sessions(conn: &mut PgConnection, username: &str) -> Result<(), Error> {
    sqlx::query(
        "DELETE FROM sessions WHERE operator_id = (SELECT operator_id FROM operators WHERE username = $1)",
    )
    .bind(username)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn not_found(username: &str) -> Error {
    Error::NotFound(format!("オペレータ {username}"))
}

/// Lifts a lock: the account's own and every address's throttle for it.
pub async fn unlock(conn: &mut PgConnection, username: &str, by: By<'_>) -> Result<(), Error> {
    let done = sqlx::query(
        "UPDATE operators SET locked_until = NULL, failed_logins = 0 WHERE username = $1",
    )
    .bind(username)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(not_found(username));
    }
    throttle::clear(conn, username, None).await?;
    audited(conn, by, "operator.unlock", username, serde_json::json!({})).await
}

pub async fn set_standing(
    conn: &mut PgConnection,
    username: &str,
    standing: Standing,
    by: By<'_>,
) -> Result<(), Error> {
    refuse_self(username, by, "無効化")?;
    let disabled = standing == Standing::Disabled;
    let done = sqlx::query("UPDATE operators SET disabled = $2 WHERE username = $1")
        .bind(username)
        .bind(disabled)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(not_found(username));
    }
    if disabled {
        end_sessions(conn, username).await?;
    }
    let action = if disabled {
        "operator.disable"
    } else {
        "operator.enable"
    };
    audited(conn, by, action, username, serde_json::json!({})).await
}

/// Sets a new one-time password, ends the operator's sessions, lifts any lock. Returns the
/// password, to be shown once.
pub async fn reset_password(
    conn: &mut PgConnection,
    username: &str,
    by: By<'_>,
) -> Result<String, Error> {
    let one_time = password::generate();
    let done = sqlx::query(
        "UPDATE operators SET password_hash = $2, password_changed_at = now(),
             must_change_password = true, locked_until = NULL, failed_logins = 0
         WHERE username = $1",
    )
    .bind(username)
    .bind(password::hash(&one_time)?)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(not_found(username));
    }
    end_sessions(conn, username).await?;
    throttle::clear(conn, username, None).await?;
    audited(
        conn,
        by,
        "operator.password_reset",
        username,
        serde_json::json!({}),
    )
    .await?;
    Ok(one_time)
}

pub async fn set_role(
    conn: &mut PgConnection,
    username: &str,
    role: Role,
    by: By<'_>,
) -> Result<(), Error> {
    refuse_self(username, by, "役割の変更")?;
    let done = sqlx::query("UPDATE operators SET role = $2 WHERE username = $1")
        .bind(username)
        .bind(role)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(not_found(username));
    }
    // Sessions carry no role (it is read on every request), so nothing else to end.
    audited(
        conn,
        by,
        "operator.role",
        username,
        serde_json::json!({ "role": role }),
    )
    .await
}

/// An administrator cannot disable or demote themselves: the last one would lock everybody
/// out of the admin pages.
fn refuse_self(username: &str, by: By<'_>, what: &str) -> Result<(), Error> {
    if by.actor == format!("user:{username}") {
        return Err(Error::InvalidArgument(format!(
            "自分自身の{what}はできません。別の管理者に依頼してください"
        )));
    }
    Ok(())
}

/// Usernames an incident can be assigned to: operators and administrators not disabled.
pub async fn assignable(conn: &mut PgConnection) -> Result<Vec<String>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT username FROM operators WHERE NOT disabled AND role IN ('operator', 'admin')
         ORDER BY username LIMIT 500",
    )
    .fetch_all(conn)
    .await?)
}
