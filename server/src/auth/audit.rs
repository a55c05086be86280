//! The audit log: every operator write and every security event, in an
//! append-only table where each row's hash covers the previous row's hash.
//! Editing or deleting a row breaks the chain, and `onshi-server audit
//! verify` says where.

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use crate::error::Error;

/// Serialises appends so each row sees its predecessor's hash.
const CHAIN_LOCK: i64 = 0x6f6e_7368_6961_7564; // "onshiaud"

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Ok, Outcome::Denied, Outcome::Failed];

    pub fn label_ja(self) -> &'static str {
        match self {
            Outcome::Ok => "成功",
            Outcome::Denied => "拒否",
            Outcome::Failed => "失敗",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub actor: String,
    pub action: &'static str,
    pub target: String,
    pub outcome: Outcome,
    pub detail: Value,
    pub remote: String,
}

impl Entry {
    pub fn new(actor: impl Into<String>, action: &'static str, target: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            action,
            target: target.into(),
            outcome: Outcome::Ok,
            detail: Value::Object(Default::default()),
            remote: String::new(),
        }
    }
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
    pub fn remote(mut self, remote: impl Into<String>) -> Self {
        self.remote = remote.into();
        self
    }
}

/// The hashed fields of one audit row.
pub struct Fields<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
    pub detail: &'a Value,
    pub remote: &'a str,
}

/// The chained hash of one row. Pure, so `verify` and tests share it.
pub fn row_hash(prev: &[u8], f: &Fields<'_>) -> Vec<u8> {
    let canonical = serde_json::json!([
        f.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        f.actor,
        f.action,
        f.target,
        f.outcome,
        f.detail,
        f.remote
    ]);
    let mut h = Sha256::new();
    h.update(prev);
    h.update(canonical.to_string().as_bytes());
    h.finalize().to_vec()
}

/// Appends within the caller's transaction, so the audited change and its
/// audit row commit (or roll back) together.
pub async fn record(conn: &mut PgConnection, e: Entry) -> Result<(), Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CHAIN_LOCK)
        .execute(&mut *conn)
        .await?;
    let prev: Vec<u8> =
        sqlx::query_scalar("SELECT hash FROM audit_log ORDER BY audit_id DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or_else(|| vec![0u8; 32]);
    // Postgres keeps microseconds; hash what will be read back.
    let at = Utc::now().trunc_subsecs(6);
    let hash = row_hash(
        &prev,
        &Fields {
            at,
            actor: &e.actor,
            action: e.action,
            target: &e.target,
            outcome: e.outcome.as_str(),
            detail: &e.detail,
            remote: &e.remote,
        },
    );
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target, outcome, detail, remote, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(at)
    .bind(&e.actor)
    .bind(e.action)
    .bind(&e.target)
    .bind(e.outcome.as_str())
    .bind(&e.detail)
    .bind(&e.remote)
    .bind(&prev)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    tracing::info!(target: "audit", actor = %e.actor, action = e.action, target_ = %e.target, outcome = e.outcome.as_str(), "audit");
    Ok(())
}

/// Appends in a transaction of its own (security events with no other write).
pub async fn record_alone(pool: &PgPool, e: Entry) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    record(&mut tx, e).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Intact { rows: u64 },
    Broken { audit_id: i64, reason: String },
}

#[derive(sqlx::FromRow)]
struct Row {
    audit_id: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    target: String,
    outcome: String,
    detail: Value,
    remote: String,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

/// Recomputes the whole chain in order.
pub async fn verify(pool: &PgPool) -> Result<Verdict, Error> {
    use futures_util::TryStreamExt;
    let mut rows =
        sqlx::query_as::<_, Row>("SELECT * FROM audit_log ORDER BY audit_id").fetch(pool);
    let mut prev = vec![0u8; 32];
    let mut count = 0u64;
    let mut last_id = 0i64;
    while let Some(r) = rows.try_next().await? {
        if r.prev_hash != prev {
            return Ok(Verdict::Broken {
                audit_id: r.audit_id,
                reason: "prev_hash does not match the previous row (row removed or reordered)"
                    .into(),
            });
        }
        if last_id != 0 && r.audit_id != last_id + 1 {
            // Sequence gaps also happen on rolled-back inserts; the hash
            // chain above is what proves nothing was removed.
            tracing::debug!(from = last_id, to = r.audit_id, "audit id gap");
        }
        let expected = row_hash(
            &r.prev_hash,
            &Fields {
                at: r.at,
                actor: &r.actor,
                action: &r.action,
                target: &r.target,
                outcome: &r.outcome,
                detail: &r.detail,
                remote: &r.remote,
            },
        );
        if expected != r.hash {
            return Ok(Verdict::Broken {
                audit_id: r.audit_id,
                reason: "row content does not match its hash (row edited)".into(),
            });
        }
        prev = r.hash;
        last_id = r.audit_id;
        count += 1;
    }
    Ok(Verdict::Intact { rows: count })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_every_field_and_the_predecessor() {
        let d = serde_json::json!({"site": "s1"});
        let empty = serde_json::json!({});
        let base = Fields {
            at: "2026-11-25T01:02:03.123456Z".parse().unwrap(),
            actor: "user:a",
            action: "login",
            target: "",
            outcome: "ok",
            detail: &d,
            remote: "127.0.0.1",
        };
        let h = row_hash(&[0; 32], &base);
        assert_eq!(h, row_hash(&[0; 32], &base));
        assert_ne!(h, row_hash(&[1; 32], &base));
        let variants = [
            Fields {
                actor: "user:b",
                ..base
            },
            Fields {
                action: "logout",
                ..base
            },
            Fields {
                target: "x",
                ..base
            },
            Fields {
                outcome: "denied",
                ..base
            },
            Fields {
                detail: &empty,
                ..base
            },
            Fields {
                remote: "10.0.0.1",
                ..base
            },
            Fields {
                at: base.at + chrono::Duration::microseconds(1),
                ..base
            },
        ];
        for v in &variants {
            assert_ne!(h, row_hash(&[0; 32], v));
        }
    }
}
