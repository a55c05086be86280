//! Operator accounts, login with lockout, sessions with idle and absolute
//! timeouts, API tokens. Every security event is audited.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};

use super::audit::{self, Entry, Outcome};
use super::{Principal, Role, password, secret, throttle};
use crate::error::Error;

pub const LOCKOUT: Duration = throttle::WINDOW;
pub const IDLE_TIMEOUT: Duration = Duration::minutes(30);
pub const ABSOLUTE_TIMEOUT: Duration = Duration::hours(12);

/// Whether a session is still valid at `now`. Pure.
pub fn session_alive(created: DateTime<Utc>, last_seen: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - last_seen < IDLE_TIMEOUT && now - created < ABSOLUTE_TIMEOUT
}

/// After an account's `failures`-th failure in the window from any address: lock the account
/// itself until when, if at all (a distributed attack; see [`throttle`]). Pure.
pub fn lock_after(failures: i64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (failures >= throttle::ACCOUNT_LIMIT).then(|| now + LOCKOUT)
}

pub enum LoginResult {
    Ok {
        session_token: String,
    },
    /// Wrong user or password: one message for both, so names cannot be probed.
    Invalid,
    /// The account is locked for everyone (distributed guessing, or locked by the limit).
    Locked {
        until: DateTime<Utc>,
    },
    /// Too many failures from this address (for this account, or for any).
    Throttled {
        until: DateTime<Utc>,
    },
}

#[derive(sqlx::FromRow)]
struct OperatorRow {
    operator_id: i64,
    username: String,
    password_hash: String,
    role: Role,
    locked_until: Option<DateTime<Utc>>,
    disabled: bool,
}

/// A fixed argon2id hash, verified when the user does not exist so both
/// paths cost the same time.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3cI5l6ky6vA2dg0fPe3tUMnDQr2w0ruFcfi4MYZDTSM";

fn denied(actor: &str, remote: &str, reason: &str) -> Entry {
    Entry::new(actor, "login", "")
        .outcome(Outcome::Denied)
        .remote(remote)
        .detail(serde_json::json!({ "reason": reason }))
}

pub async fn login(
    pool: &PgPool,
    username: &str,
    pass: &str,
    remote: &str,
) -> Result<LoginResult, Error> {
    let now = Utc::now();
    // No account has a name outside [A-Za-z0-9._-]: anything else (control or bidi characters
    // that would garble the audit log's display) is recorded escaped, and cannot match.
    let username: String = match super::operators::check_username(username) {
        Ok(()) => username.to_owned(),
        Err(_) => username.escape_default().take(64).collect(),
    };
    let actor = format!("user:{username}");
    if let Some(t) = throttle::decide(throttle::count(pool, remote, &username).await?, now) {
        let until = match t {
            throttle::Throttle::Pair { until } | throttle::Throttle::Address { until } => until,
        };
        let reason = match t {
            throttle::Throttle::Pair { .. } => "throttled: account from this address",
            throttle::Throttle::Address { .. } => "throttled: address",
        };
        audit::record_alone(pool, denied(&actor, remote, reason)).await?;
        return Ok(LoginResult::Throttled { until });
    }
    let row: Option<OperatorRow> = sqlx::query_as(
        "SELECT operator_id, username, password_hash, role, locked_until, disabled
         FROM operators WHERE username = $1",
    )
    .bind(&username)
    .fetch_optional(pool)
    .await?;
    let op = row.filter(|o| !o.disabled);
    if let Some(until) = op
        .as_ref()
        .and_then(|o| o.locked_until)
        .filter(|u| *u > now)
    {
        audit::record_alone(pool, denied(&actor, remote, "locked")).await?;
        return Ok(LoginResult::Locked { until });
    }
    let hash = op.as_ref().map_or(DUMMY_HASH, |o| o.password_hash.as_str());
    let verified = password::verify(pass, hash);
    let mut tx = pool.begin().await?;
    let Some(op) = op.filter(|_| verified) else {
        let result = failed(&mut tx, &username, remote, now).await?;
        tx.commit().await?;
        return Ok(result);
    };
    sqlx::query(
        "UPDATE operators SET failed_logins = 0, locked_until = NULL WHERE operator_id = $1",
    )
    .bind(op.operator_id)
    .execute(&mut *tx)
    .await?;
    throttle::clear(&mut tx, &op.username, Some(remote)).await?;
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

/// A wrong password or an unknown user: count it, lock what the counts say, audit it.
async fn failed(
    tx: &mut PgConnection,
    username: &str,
    remote: &str,
    now: DateTime<Utc>,
) -> Result<LoginResult, Error> {
    let before = throttle::count(&mut *tx, remote, username).await?;
    let from_anywhere = throttle::record_failure(tx, remote, username).await?;
    let locked = lock_after(from_anywhere, now);
    sqlx::query(
        "UPDATE operators SET failed_logins = $2, locked_until = COALESCE($3, locked_until)
         WHERE username = $1",
    )
    .bind(username)
    .bind(i32::try_from(from_anywhere).unwrap_or(i32::MAX))
    .bind(locked)
    .execute(&mut *tx)
    .await?;
    let after = throttle::Failures {
        pair: before.pair + 1,
        address: before.address + 1,
        last_from_address: Some(now),
    };
    let throttled = throttle::decide(after, now);
    let detail = serde_json::json!({
        "failures": from_anywhere, "locked": locked.is_some(), "throttled": throttled.is_some(),
    });
    audit::record(
        tx,
        Entry::new(format!("user:{username}"), "login", "")
            .outcome(Outcome::Denied)
            .remote(remote)
            .detail(detail),
    )
    .await?;
    Ok(match (locked, throttled) {
        (Some(until), _) => LoginResult::Locked { until },
        (
            None,
            Some(throttle::Throttle::Pair { until } | throttle::Throttle::Address { until }),
        ) => LoginResult::Throttled { until },
        (None, None) => LoginResult::Invalid,
    })
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    operator_id: i64,
    username: String,
    role: Role,
    must_change_password: bool,
    csrf_token: String,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
}

/// Whether a request counts as the operator's activity for the idle timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// A page, a form, an API call: the session's idle clock restarts.
    Active,
    /// Only listening (the dashboard's live stream): an unattended screen still logs out
    /// after the idle timeout.
    Listening,
}

/// The operator behind a session cookie, if the session is alive (an active request).
pub async fn session_principal(pool: &PgPool, token: &str) -> Result<Option<Principal>, Error> {
    session_principal_as(pool, token, Activity::Active).await
}

/// The operator behind a session cookie, if the session is alive; `activity` says whether
/// the request restarts the idle clock.
pub async fn session_principal_as(
    pool: &PgPool,
    token: &str,
    activity: Activity,
) -> Result<Option<Principal>, Error> {
    let now = Utc::now();
    let hash = secret::digest(token);
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT s.operator_id, o.username, o.role, o.must_change_password, s.csrf_token,
                s.created_at, s.last_seen_at
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
    if activity == Activity::Active && now - s.last_seen_at > Duration::minutes(1) {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1")
            .bind(&hash)
            .bind(now)
            .execute(pool)
            .await?;
    }
    Ok(Some(Principal {
        actor: format!("user:{}", s.username),
        username: s.username,
        role: s.role,
        operator_id: Some(s.operator_id),
        csrf: Some(s.csrf_token),
        must_change_password: s.must_change_password,
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
    let row: Option<(String, Role)> = sqlx::query_as(
        "UPDATE api_tokens SET last_used_at = now()
         WHERE token_hash = $1 AND revoked_at IS NULL RETURNING name, role",
    )
    .bind(secret::digest(token))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(name, role)| Principal {
        actor: format!("token:{name}"),
        username: name,
        role,
        operator_id: None,
        csrf: None,
        must_change_password: false,
    }))
}

/// Creates an operator (in the caller's transaction, audited by `actor`). A one-time
/// password must be changed at the first login.
pub async fn create_operator(
    conn: &mut PgConnection,
    username: &str,
    role: Role,
    pass: &str,
    origin: super::operators::PasswordOrigin,
    actor: &str,
) -> Result<i64, Error> {
    super::operators::check_username(username)?;
    password::check_policy(pass, username)?;
    let hash = password::hash(pass)?;
    let must_change = origin == super::operators::PasswordOrigin::OneTime;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO operators (username, password_hash, role, must_change_password)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (username) DO NOTHING RETURNING operator_id",
    )
    .bind(username)
    .bind(hash)
    .bind(role)
    .bind(must_change)
    .fetch_optional(&mut *conn)
    .await?;
    let id = id.ok_or_else(|| Error::Conflict(format!("ユーザ {username} は既に存在します")))?;
    audit::record(
        conn,
        Entry::new(actor, "operator.create", format!("user:{username}"))
            .detail(serde_json::json!({"role": role, "one_time_password": must_change})),
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
    sqlx::query(
        "UPDATE operators SET password_hash = $2, password_changed_at = now(),
             must_change_password = false WHERE operator_id = $1",
    )
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

fn check_token_name(name: &str) -> Result<(), Error> {
    super::operators::check_username(name).map_err(|_| {
        Error::InvalidArgument(
            "トークン名は半角英数字と . _ - で 1〜64 文字にしてください（連携先の名前など）".into(),
        )
    })
}

/// Issues an API token; the secret is returned once and stored hashed.
pub async fn create_api_token(
    pool: &PgPool,
    name: &str,
    role: Role,
    actor: &str,
) -> Result<String, Error> {
    check_token_name(name)?;
    let token = secret::new_token();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO api_tokens (token_hash, name, role, created_by) VALUES ($1, $2, $3, $4)",
    )
    .bind(secret::digest(&token))
    .bind(name)
    .bind(role)
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
    fn the_account_itself_locks_only_after_many_failures_from_anywhere() {
        let now = Utc::now();
        assert_eq!(lock_after(throttle::PAIR_LIMIT, now), None);
        assert_eq!(lock_after(throttle::ACCOUNT_LIMIT - 1, now), None);
        assert_eq!(
            lock_after(throttle::ACCOUNT_LIMIT, now),
            Some(now + LOCKOUT)
        );
    }

    #[test]
    fn dummy_hash_is_a_valid_argon2id_hash() {
        assert!(argon2::password_hash::PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
