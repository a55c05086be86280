//! Operator accounts, login with lockout, sessions with idle and absolute
//! timeouts, API tokens. Every security event is audited.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};

use super::audit::{self, Entry, Outcome};
use super::{Principal, Role, password, secret};
use crate::error::Error;

/// Failed logins in a row before the account locks.
pub const MAX_FAILURES: i32 = 5;
pub const LOCKOUT: Duration = Duration::minutes(15);
pub const IDLE_TIMEOUT: Duration = Duration::minutes(30);
pub const ABSOLUTE_TIMEOUT: Duration = Duration::hours(12);

/// Whether a session is still valid at `now`. Pure.
pub fn session_alive(created: DateTime<Utc>, last_seen: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - last_seen < IDLE_TIMEOUT && now - created < ABSOLUTE_TIMEOUT
}

/// After the `failures`-th failure in a row: lock until when, if at all. Pure.
pub fn lock_after(failures: i32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (failures >= MAX_FAILURES).then(|| now + LOCKOUT)
}

pub enum LoginResult {
    Ok {
        session_token: String,
    },
    /// Wrong user or password: one message for both, so names cannot be probed.
    Invalid,
    Locked {
        until: DateTime<Utc>,
    },
}

#[derive(sqlx::FromRow)]
struct OperatorRow {
    operator_id: i64,
    username: String,
    password_hash: String,
    role: String,
    failed_logins: i32,
    locked_until: Option<DateTime<Utc>>,
    disabled: bool,
}

/// A fixed argon2id hash, verified when the user does not exist so both
/// paths cost the same time.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3cI5l6ky6vA2dg0fPe3tUMnDQr2w0ruFcfi4MYZDTSM";

pub async fn login(
    pool: &PgPool,
    username: &str,
    pass: &str,
    remote: &str,
) -> Result<LoginResult, Error> {
    let now = Utc::now();
    let row: Option<OperatorRow> = sqlx::query_as(
        "SELECT operator_id, username, password_hash, role, failed_logins, locked_until, disabled
         FROM operators WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(pool)
    .await?;
    let actor = format!("user:{}", username.chars().take(64).collect::<String>());
    let Some(op) = row.filter(|o| !o.disabled) else {
        let _ = password::verify(pass, DUMMY_HASH);
        audit::record_alone(
            pool,
            Entry::new(actor, "login", "")
                .outcome(Outcome::Denied)
                .remote(remote),
        )
        .await?;
        return Ok(LoginResult::Invalid);
    };
    if let Some(until) = op.locked_until.filter(|u| *u > now) {
        audit::record_alone(
            pool,
            Entry::new(actor, "login", "")
                .outcome(Outcome::Denied)
                .remote(remote)
                .detail(serde_json::json!({"reason": "locked"})),
        )
        .await?;
        return Ok(LoginResult::Locked { until });
    }
    let mut tx = pool.begin().await?;
    if !password::verify(pass, &op.password_hash) {
        let failures = op.failed_logins + 1;
        let locked = lock_after(failures, now);
        sqlx::query(
            "UPDATE operators SET failed_logins = $2, locked_until = $3 WHERE operator_id = $1",
        )
        .bind(op.operator_id)
        .bind(if locked.is_some() { 0 } else { failures })
        .bind(locked)
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({"failures": failures, "locked": locked.is_some()});
        audit::record(
            &mut tx,
            Entry::new(actor, "login", "")
                .outcome(Outcome::Denied)
                .remote(remote)
                .detail(detail),
        )
        .await?;
        tx.commit().await?;
        return Ok(match locked {
            Some(until) => LoginResult::Locked { until },
            None => LoginResult::Invalid,
        });
    }
    sqlx::query(
        "UPDATE operators SET failed_logins = 0, locked_until = NULL WHERE operator_id = $1",
    )
    .bind(op.operator_id)
    .execute(&mut *tx)
    .await?;
    let token = secret::new_token();
    sqlx::query("INSERT INTO sessions (token_hash, operator_id, csrf_token) VALUES ($1, $2, $3)")
        .bind(secret::digest(&token))
        .bind(op.operator_id)
        .bind(secret::new_token())
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Entry::new(format!("user:{}", op.username), "login", "")
            .remote(remote)
            .detail(serde_json::json!({"role": op.role})),
    )
    .await?;
    tx.commit().await?;
    Ok(LoginResult::Ok {
        session_token: token,
    })
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    operator_id: i64,
    username: String,
    role: String,
    csrf_token: String,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
}

/// The operator behind a session cookie, if the session is alive.
pub async fn session_principal(pool: &PgPool, token: &str) -> Result<Option<Principal>, Error> {
    let now = Utc::now();
    let hash = secret::digest(token);
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT s.operator_id, o.username, o.role, s.csrf_token, s.created_at, s.last_seen_at
         FROM sessions s JOIN operators o USING (operator_id)
         WHERE s.token_hash = $1 AND NOT o.disabled",
    )
    .bind(&hash)
    .fetch_optional(pool)
    .await?;
    let Some(s) = row else { return Ok(None) };
    if !session_alive(s.created_at, s.last_seen_at, now) {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(&hash)
            .execute(pool)
            .await?;
        return Ok(None);
    }
    // Touch at most once a minute: fewer writes, same idle timeout in effect.
    if now - s.last_seen_at > Duration::minutes(1) {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1")
            .bind(&hash)
            .bind(now)
            .execute(pool)
            .await?;
    }
    Ok(Role::parse(&s.role).map(|role| Principal {
        actor: format!("user:{}", s.username),
        username: s.username,
        role,
        operator_id: Some(s.operator_id),
        csrf: Some(s.csrf_token),
    }))
}

pub async fn logout(pool: &PgPool, token: &str, actor: &str, remote: &str) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(secret::digest(token))
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, Entry::new(actor, "logout", "").remote(remote)).await?;
    tx.commit().await?;
    Ok(())
}

/// The integration behind an API token (`Authorization: Bearer ...`).
pub async fn api_token_principal(pool: &PgPool, token: &str) -> Result<Option<Principal>, Error> {
    let row: Option<(String, String)> = sqlx::query_as(
        "UPDATE api_tokens SET last_used_at = now()
         WHERE token_hash = $1 AND revoked_at IS NULL RETURNING name, role",
    )
    .bind(secret::digest(token))
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(name, role)| {
        Role::parse(&role).map(|role| Principal {
            actor: format!("token:{name}"),
            username: name,
            role,
            operator_id: None,
            csrf: None,
        })
    }))
}

/// Creates an operator (in the caller's transaction, audited by `actor`).
pub async fn create_operator(
    conn: &mut PgConnection,
    username: &str,
    role: Role,
    pass: &str,
    actor: &str,
) -> Result<i64, Error> {
    super::super::ingest::validate::check_id("username", username)?;
    password::check_policy(pass, username)?;
    let hash = password::hash(pass)?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO operators (username, password_hash, role) VALUES ($1, $2, $3)
         ON CONFLICT (username) DO NOTHING RETURNING operator_id",
    )
    .bind(username)
    .bind(hash)
    .bind(role.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let id = id.ok_or_else(|| Error::Conflict(format!("ユーザ {username} は既に存在します")))?;
    audit::record(
        conn,
        Entry::new(actor, "operator.create", format!("user:{username}"))
            .detail(serde_json::json!({"role": role.as_str()})),
    )
    .await?;
    Ok(id)
}

/// Changes a password after checking the current one; ends other sessions.
pub async fn change_password(
    pool: &PgPool,
    who: &Principal,
    current: &str,
    new: &str,
    remote: &str,
) -> Result<(), Error> {
    let operator_id = who
        .operator_id
        .ok_or_else(|| Error::Forbidden("API トークンではパスワードを変更できません".into()))?;
    let stored: String =
        sqlx::query_scalar("SELECT password_hash FROM operators WHERE operator_id = $1")
            .bind(operator_id)
            .fetch_one(pool)
            .await?;
    let mut tx = pool.begin().await?;
    if !password::verify(current, &stored) {
        audit::record(
            &mut tx,
            Entry::new(&who.actor, "password.change", &who.actor)
                .outcome(Outcome::Denied)
                .remote(remote),
        )
        .await?;
        tx.commit().await?;
        return Err(Error::InvalidArgument("現在のパスワードが違います".into()));
    }
    password::check_policy(new, &who.username)?;
    sqlx::query("UPDATE operators SET password_hash = $2, password_changed_at = now() WHERE operator_id = $1")
        .bind(operator_id)
        .bind(password::hash(new)?)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE operator_id = $1 AND csrf_token <> $2")
        .bind(operator_id)
        .bind(who.csrf.as_deref().unwrap_or(""))
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Entry::new(&who.actor, "password.change", &who.actor).remote(remote),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Issues an API token; the secret is returned once and stored hashed.
pub async fn create_api_token(
    pool: &PgPool,
    name: &str,
    role: Role,
    actor: &str,
) -> Result<String, Error> {
    super::super::ingest::validate::check_id("token name", name)?;
    let token = secret::new_token();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO api_tokens (token_hash, name, role, created_by) VALUES ($1, $2, $3, $4)",
    )
    .bind(secret::digest(&token))
    .bind(name)
    .bind(role.as_str())
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Entry::new(actor, "api_token.create", format!("token:{name}"))
            .detail(serde_json::json!({"role": role.as_str()})),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_timeouts() {
        let t0: DateTime<Utc> = "2026-11-25T00:00:00Z".parse().unwrap();
        assert!(session_alive(t0, t0, t0 + Duration::minutes(29)));
        assert!(!session_alive(t0, t0, t0 + Duration::minutes(30)));
        // Active all along, but past the absolute limit.
        let late = t0 + Duration::hours(12);
        assert!(!session_alive(t0, late - Duration::minutes(1), late));
        assert!(session_alive(
            t0,
            late - Duration::minutes(2),
            late - Duration::minutes(1)
        ));
    }

    #[test]
    fn lockout_after_five_failures() {
        let now = Utc::now();
        assert_eq!(lock_after(4, now), None);
        assert_eq!(lock_after(5, now), Some(now + LOCKOUT));
    }

    #[test]
    fn dummy_hash_is_a_valid_argon2id_hash() {
        assert!(argon2::password_hash::PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
