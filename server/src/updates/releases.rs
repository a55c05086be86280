//! Published releases: the only writer of `releases` and `release_binaries`.
//! Publishing checks the signature with the keys this server trusts, the
//! binary against the manifest, the version against what is already there
//! and the manifest's minimum server version against this server; a refusal
//! is audited as denied, so an attempt with a forged manifest leaves a trace.

use chrono::{DateTime, Utc};
use onshi_release::{Manifest, SignedManifest, Target, TrustedKeys};
use sqlx::PgPool;

use crate::auth::audit::{self, Entry, Outcome};
use crate::error::Error;
use crate::sites::Actor;

/// This server's version, which a manifest's `min_server_version` must not exceed.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Release {
    pub release_id: i64,
    pub version: String,
    pub target: Target,
    pub rollback: bool,
    pub sha256: String,
    pub size_bytes: i64,
    pub min_server_version: String,
    pub notes: String,
    pub key_id: String,
    pub published_by: String,
    pub published_at: DateTime<Utc>,
}

const COLUMNS: &str = "release_id, version, target, rollback, sha256, size_bytes, min_server_version, \
                       notes, key_id, published_by, published_at";

/// A signed manifest with its binary, as `release sign` wrote them.
pub struct Bundle {
    pub signed: SignedManifest,
    pub binary: Vec<u8>,
}

/// Everything publishing checks before the database: signature by a trusted
/// key, binary size, SHA-256 and executable header, minimum server version.
pub fn check(
    bundle: &Bundle,
    trusted: &TrustedKeys,
    server_version: &str,
) -> Result<Manifest, Error> {
    let refuse =
        |e: onshi_release::ReleaseError| Error::InvalidArgument(format!("release refused: {e}"));
    let manifest = bundle.signed.verify(trusted).map_err(refuse)?;
    manifest.check_binary(&bundle.binary).map_err(refuse)?;
    if !manifest.min_server_version.is_empty() {
        let needed = semver::Version::parse(&manifest.min_server_version).map_err(|e| {
            Error::InvalidArgument(format!("release refused: min_server_version: {e}"))
        })?;
        let ours = semver::Version::parse(server_version)
            .map_err(|e| Error::Other(anyhow::anyhow!("server version {server_version}: {e}")))?;
        if ours < needed {
            return Err(Error::InvalidArgument(format!(
                "release refused: it needs onshi-server {needed} or later, this is {ours}; upgrade the server first"
            )));
        }
    }
    Ok(manifest)
}

/// Checks and stores a release, audited; a refused one is audited as denied.
pub async fn publish(
    pool: &PgPool,
    bundle: &Bundle,
    trusted: &TrustedKeys,
    by: Actor<'_>,
) -> Result<Release, Error> {
    let manifest = match check(bundle, trusted, SERVER_VERSION) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, key_id = %bundle.signed.key_id, "release publish refused");
            let mut tx = pool.begin().await?;
            audit::record(
                &mut tx,
                Entry::new(by.actor, "release.publish", "release")
                    .outcome(Outcome::Denied)
                    .detail(serde_json::json!({ "reason": e.to_string(), "key_id": bundle.signed.key_id }))
                    .remote(by.remote),
            )
            .await?;
            tx.commit().await?;
            return Err(e);
        }
    };
    newer_than_published(pool, &manifest).await?;
    let mut tx = pool.begin().await?;
    let release: Release = sqlx::query_as(&format!(
        "INSERT INTO releases (version, target, rollback, sha256, size_bytes, min_server_version, notes,
                               manifest, signature, key_id, published_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (version, target, rollback) DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(&manifest.version)
    .bind(manifest.target)
    .bind(manifest.rollback)
    .bind(&manifest.sha256)
    .bind(manifest.size as i64)
    .bind(&manifest.min_server_version)
    .bind(&manifest.notes)
    .bind(&bundle.signed.manifest)
    .bind(&bundle.signed.signature)
    .bind(&bundle.signed.key_id)
    .bind(by.actor)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| {
        Error::Conflict(format!(
            "release {} for {} is already published; sign a new version",
            manifest.version, manifest.target
        ))
    })?;
    sqlx::query("INSERT INTO release_binaries (release_id, bytes) VALUES ($1, $2)")
        .bind(release.release_id)
        .bind(&bundle.binary)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Entry::new(
            by.actor,
            "release.publish",
            format!("release:{}:{}", release.version, release.target),
        )
        .detail(serde_json::json!({
            "sha256": release.sha256, "size": release.size_bytes,
            "key_id": release.key_id, "rollback": release.rollback,
        }))
        .remote(by.remote),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(version = %release.version, target = %release.target, "release published");
    Ok(release)
}

/// A normal release must be newer than every normal release of its target;
/// an older version is published only as a rollback (signed as such).
async fn newer_than_published(pool: &PgPool, manifest: &Manifest) -> Result<(), Error> {
    if manifest.rollback {
        return Ok(());
    }
    let versions: Vec<String> =
        sqlx::query_scalar("SELECT version FROM releases WHERE target = $1 AND NOT rollback")
            .bind(manifest.target)
            .fetch_all(pool)
            .await?;
    let new = manifest.semver();
    if let Some(newer) = versions
        .iter()
        .filter_map(|v| semver::Version::parse(v).ok())
        .filter(|v| v.cmp_precedence(&new).is_ge())
        .max_by(|a, b| a.cmp_precedence(b))
    {
        return Err(Error::InvalidArgument(format!(
            "release refused: {new} is not newer than the published {newer} for {}; \
             sign a higher version, or sign with --rollback to go back",
            manifest.target
        )));
    }
    Ok(())
}

pub async fn list(pool: &PgPool) -> Result<Vec<Release>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM releases ORDER BY published_at DESC, release_id DESC LIMIT 200"
    ))
    .fetch_all(pool)
    .await?)
}

/// The release of `version` for `target` (the normal one unless `rollback`).
pub async fn find(
    pool: &PgPool,
    version: &str,
    target: Target,
    rollback: bool,
) -> Result<Release, Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM releases WHERE version = $1 AND target = $2 AND rollback = $3"
    ))
    .bind(version)
    .bind(target)
    .bind(rollback)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        Error::NotFound(format!(
            "リリース {version}（{target}{}）は公開されていません。`onshi-server release list` で確認してください",
            if rollback { "、切り戻し" } else { "" }
        ))
    })
}

pub async fn get(pool: &PgPool, release_id: i64) -> Result<Release, Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM releases WHERE release_id = $1"
    ))
    .bind(release_id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("リリース {release_id} はありません")))
}

/// The binary (read by the download service once per process and release).
pub async fn binary(pool: &PgPool, release_id: i64) -> Result<Vec<u8>, Error> {
    sqlx::query_scalar("SELECT bytes FROM release_binaries WHERE release_id = $1")
        .bind(release_id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("release {release_id} has no binary")))
}
