//! Agent identity: one-time enrolment tokens bound to a site, certificates
//! signed by the internal CA, renewal, and revocation. The gRPC adapter is in
//! `service.rs`; the mTLS check for report ingest is `authorised_agent`.

pub mod service;

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

use crate::auth::audit::{self, Entry, Outcome};
use crate::auth::secret;
use crate::error::Error;
use crate::tls::{IssuedCert, Pki};

pub const DEFAULT_TOKEN_TTL: Duration = Duration::hours(24);

/// Issues a one-time token for `site_id` (shown once, stored hashed).
pub async fn issue_token(
    pool: &PgPool,
    site_id: &str,
    ttl: Duration,
    actor: &str,
) -> Result<(String, DateTime<Utc>), Error> {
    let token = secret::new_token();
    let expires_at = Utc::now() + ttl;
    let mut tx = pool.begin().await?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM sites WHERE site_id = $1")
        .bind(site_id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Err(Error::NotFound(format!(
            "サイト {site_id} は登録されていません。先にサイトを登録してください"
        )));
    }
    sqlx::query("INSERT INTO enrolment_tokens (token_hash, site_id, created_by, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(secret::digest(&token))
        .bind(site_id)
        .bind(actor)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Entry::new(actor, "enrolment_token.issue", format!("site:{site_id}"))
            .detail(serde_json::json!({"expires_at": expires_at.to_rfc3339()})),
    )
    .await?;
    tx.commit().await?;
    Ok((token, expires_at))
}

pub struct Enrolled {
    pub agent_id: String,
    pub site_id: String,
    pub cert: IssuedCert,
}

/// Redeems a token: exactly once, before expiry; audited either way.
pub async fn enroll(
    pool: &PgPool,
    pki: &Pki,
    token: &str,
    csr_pem: &str,
    hostname: &str,
    remote: &str,
) -> Result<Enrolled, Error> {
    let mut tx = pool.begin().await?;
    let row: Option<(String, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT site_id, expires_at, used_at FROM enrolment_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(secret::digest(token))
    .fetch_optional(&mut *tx)
    .await?;
    let refuse = |reason: &'static str, site: String| async move {
        audit::record_alone(
            pool,
            Entry::new("agent:unenrolled", "agent.enroll", site)
                .outcome(Outcome::Denied)
                .remote(remote)
                .detail(serde_json::json!({"reason": reason})),
        )
        .await
    };
    let (site_id, expires_at, used_at) = match row {
        None => {
            drop(tx);
            refuse("unknown token", String::new()).await?;
            return Err(Error::Unauthorized("enrolment token is not valid: check it was copied completely, or ask the administrator for a new one".into()));
        }
        Some(r) => r,
    };
    if used_at.is_some() {
        drop(tx);
        refuse("token already used", format!("site:{site_id}")).await?;
        return Err(Error::Unauthorized(
            "enrolment token was already used: ask the administrator for a new one".into(),
        ));
    }
    if expires_at <= Utc::now() {
        drop(tx);
        refuse("token expired", format!("site:{site_id}")).await?;
        return Err(Error::Unauthorized(
            "enrolment token has expired: ask the administrator for a new one (valid 24 h)".into(),
        ));
    }
    let agent_id = format!("agt-{}", &secret::new_token()[..20]);
    let cert = pki.sign_agent_csr(csr_pem, &agent_id)?;
    sqlx::query("UPDATE enrolment_tokens SET used_at = now(), used_by = $2 WHERE token_hash = $1")
        .bind(secret::digest(token))
        .bind(&agent_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO agents (agent_id, site_id, enrolled_at, cert_serial, cert_not_after) VALUES ($1, $2, now(), $3, $4)",
    )
    .bind(&agent_id)
    .bind(&site_id)
    .bind(&cert.serial)
    .bind(cert.not_after)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Entry::new(format!("agent:{agent_id}"), "agent.enroll", format!("site:{site_id}"))
            .remote(remote)
            .detail(serde_json::json!({"hostname": hostname.chars().take(64).collect::<String>(), "serial": cert.serial})),
    )
    .await?;
    tx.commit().await?;
    Ok(Enrolled {
        agent_id,
        site_id,
        cert,
    })
}

/// Checks that a verified client certificate's agent may report now:
/// enrolled and not revoked. Returns its site.
pub async fn authorised_agent(pool: &PgPool, agent_id: &str) -> Result<String, Error> {
    let row: Option<(String, Option<DateTime<Utc>>)> =
        sqlx::query_as("SELECT site_id, revoked_at FROM agents WHERE agent_id = $1")
            .bind(agent_id)
            .fetch_optional(pool)
            .await?;
    match row {
        None => Err(Error::Unauthorized(format!(
            "agent {agent_id} is not enrolled: run `onshi-agent enroll`"
        ))),
        Some((_, Some(_))) => Err(Error::Unauthorized(format!(
            "agent {agent_id} was revoked: re-enrol with a new token"
        ))),
        Some((site, None)) => Ok(site),
    }
}

pub async fn renew(
    pool: &PgPool,
    pki: &Pki,
    agent_id: &str,
    csr_pem: &str,
) -> Result<IssuedCert, Error> {
    authorised_agent(pool, agent_id).await?;
    let cert = pki.sign_agent_csr(csr_pem, agent_id)?;
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE agents SET cert_serial = $2, cert_not_after = $3 WHERE agent_id = $1")
        .bind(agent_id)
        .bind(&cert.serial)
        .bind(cert.not_after)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Entry::new(
            format!("agent:{agent_id}"),
            "agent.renew",
            format!("agent:{agent_id}"),
        )
        .detail(serde_json::json!({"serial": cert.serial})),
    )
    .await?;
    tx.commit().await?;
    Ok(cert)
}

pub async fn revoke(pool: &PgPool, agent_id: &str, actor: &str, remote: &str) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let n = sqlx::query(
        "UPDATE agents SET revoked_at = now() WHERE agent_id = $1 AND revoked_at IS NULL",
    )
    .bind(agent_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Error::NotFound(format!(
            "agent {agent_id} (not found or already revoked)"
        )));
    }
    audit::record(
        &mut tx,
        Entry::new(actor, "agent.revoke", format!("agent:{agent_id}")).remote(remote),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
