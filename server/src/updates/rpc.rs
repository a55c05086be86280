//! The gRPC `UpdateService`: the release download (server streaming,
//! resumable by offset, limited in how many run at once and in bytes per
//! second, refused before the agent's turn) and the agents' update events.
//! Callers are identified by their client certificate, as for reports.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;

use chrono::Utc;
use futures_util::Stream;
use onshi_proto::v1 as pb;
use onshi_proto::v1::update_service_server::UpdateService;
use onshi_release::Target;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::sync::{Mutex, Semaphore};
use tonic::{Request, Response, Status};

use super::{Offers, UpdateArgs, events, releases};
use crate::enrol::service::peer_agent_id;

/// Bytes per streamed message (well under the 1 MiB message limit).
pub const CHUNK: usize = 64 * 1024;
/// Release binaries kept in memory per process (one per target, plus the
/// previous ones while a rollout changes).
const CACHED_BINARIES: usize = 4;

type Limiter = governor::DefaultDirectRateLimiter;

pub struct UpdateRpc {
    pool: PgPool,
    offers: Arc<Offers>,
    downloads: Arc<Semaphore>,
    limiter: Option<Arc<Limiter>>,
    binaries: Mutex<HashMap<i64, Arc<Vec<u8>>>>,
    /// Set at shutdown: streams end early (the agent resumes later) instead
    /// of holding a graceful stop for minutes.
    stop: tokio::sync::watch::Receiver<bool>,
}

/// UNAVAILABLE with the `retry-after-seconds` trailer the agent honours.
fn retry_later(message: String, seconds: u64) -> Status {
    let mut metadata = tonic::metadata::MetadataMap::new();
    metadata.insert(
        "retry-after-seconds",
        tonic::metadata::MetadataValue::from(seconds.clamp(1, 3600)),
    );
    Status::with_metadata(tonic::Code::Unavailable, message, metadata)
}

/// A stable pause of 30–90 s per agent, so that agents sent away together
/// do not come back together.
fn busy_pause(agent_id: &str) -> u64 {
    30 + u64::from(Sha256::digest(agent_id.as_bytes())[0]) % 61
}

impl UpdateRpc {
    pub fn new(
        pool: PgPool,
        offers: Arc<Offers>,
        args: &UpdateArgs,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> UpdateRpc {
        let limiter = NonZeroU32::new(args.update_download_bytes_per_second).map(|rate| {
            let burst = NonZeroU32::new(rate.get().max(CHUNK as u32)).unwrap_or(rate);
            Arc::new(governor::RateLimiter::direct(
                governor::Quota::per_second(rate).allow_burst(burst),
            ))
        });
        UpdateRpc {
            pool,
            offers,
            downloads: Arc::new(Semaphore::new(args.update_max_downloads as usize)),
            limiter,
            binaries: Mutex::new(HashMap::new()),
            stop,
        }
    }

    /// The caller's site; a revoked or unknown agent is refused.
    async fn enrolled_site(&self, agent_id: &str) -> Result<String, Status> {
        let row: Option<(String, bool)> = sqlx::query_as(
            "SELECT site_id, revoked_at IS NOT NULL FROM agents WHERE agent_id = $1",
        )
        .bind(agent_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Status::from(crate::error::Error::from(e)))?;
        match row {
            Some((site, false)) => Ok(site),
            Some((_, true)) => Err(Status::unauthenticated(format!(
                "agent {agent_id} was revoked; enrol this PC again"
            ))),
            None => Err(Status::unauthenticated(format!(
                "agent {agent_id} is not enrolled"
            ))),
        }
    }

    async fn binary(&self, release_id: i64) -> Result<Arc<Vec<u8>>, Status> {
        let mut cache = self.binaries.lock().await;
        if let Some(b) = cache.get(&release_id) {
            return Ok(b.clone());
        }
        let bytes = Arc::new(
            releases::binary(&self.pool, release_id)
                .await
                .map_err(Status::from)?,
        );
        if cache.len() >= CACHED_BINARIES {
            cache.clear();
        }
        cache.insert(release_id, bytes.clone());
        Ok(bytes)
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::ReleaseChunk, Status>> + Send + 'static>>;

/// The binary from `offset` in chunks, at the shared byte rate, holding the
/// download permit until the stream ends or the agent goes away; a server
/// shutting down ends it early (the agent resumes later).
fn chunks(
    offset: usize,
    binary: Arc<Vec<u8>>,
    permit: tokio::sync::OwnedSemaphorePermit,
    limiter: Option<Arc<Limiter>>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> ChunkStream {
    let stream = futures_util::stream::unfold(
        (offset, binary, permit, limiter, stop),
        |(pos, binary, permit, limiter, stop)| async move {
            if pos >= binary.len() {
                return None;
            }
            if *stop.borrow() {
                let status = retry_later(
                    "the server is shutting down; resume the download later".into(),
                    30,
                );
                // Ends the stream after this error (position past the end).
                return Some((Err(status), (usize::MAX, binary, permit, limiter, stop)));
            }
            let end = (pos + CHUNK).min(binary.len());
            if let Some(limiter) = &limiter {
                let n = NonZeroU32::new((end - pos) as u32).expect("a chunk is not empty");
                // The burst is at least one chunk: never InsufficientCapacity.
                let _ = limiter.until_n_ready(n).await;
            }
            let chunk = pb::ReleaseChunk {
                offset: pos as u64,
                data: binary[pos..end].to_vec(),
                total_size: binary.len() as u64,
            };
            Some((Ok(chunk), (end, binary, permit, limiter, stop)))
        },
    );
    Box::pin(stream)
}

#[tonic::async_trait]
impl UpdateService for UpdateRpc {
    type DownloadReleaseStream = ChunkStream;

    #[tracing::instrument(skip_all, fields(agent_id = tracing::field::Empty))]
    async fn download_release(
        &self,
        request: Request<pb::DownloadReleaseRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        let agent_id = peer_agent_id(&request)?;
        tracing::Span::current().record("agent_id", agent_id.as_str());
        let req = request.into_inner();
        let site_id = self.enrolled_site(&agent_id).await?;
        let target: Target = req
            .target
            .parse()
            .map_err(|e: onshi_release::ReleaseError| Status::invalid_argument(e.to_string()))?;
        let wanted = semver::Version::parse(&req.version).ok();
        let live = self
            .offers
            .live(target)
            .filter(|l| Some(&l.version) == wanted.as_ref() && l.rings.contains(l.ring, &site_id))
            .ok_or_else(|| {
                tracing::info!(%agent_id, version = %req.version.chars().take(64).collect::<String>(), "download of a release not offered to this agent refused");
                Status::failed_precondition(
                    "no running rollout offers this release to this agent (paused, halted, aborted or not your ring)",
                )
            })?;
        let wait = (live.download_after(&agent_id) - Utc::now()).num_seconds();
        if wait > 0 {
            return Err(retry_later(
                format!("not this agent's turn yet; download in {wait} s"),
                wait as u64,
            ));
        }
        if req.offset > live.size {
            return Err(Status::out_of_range(format!(
                "offset {} is beyond the release's {} bytes; start again from 0",
                req.offset, live.size
            )));
        }
        let permit = self.downloads.clone().try_acquire_owned().map_err(|_| {
            tracing::info!(%agent_id, "download limit reached; agent told to retry");
            retry_later(
                "the server is serving its limit of downloads; retry later".into(),
                busy_pause(&agent_id),
            )
        })?;
        let binary = self.binary(live.release_id).await?;
        if binary.len() as u64 != live.size {
            tracing::error!(
                release_id = live.release_id,
                "stored binary size differs from its release"
            );
            return Err(Status::internal(
                "the stored release is damaged; tell the operator",
            ));
        }
        tracing::info!(%agent_id, version = %live.version, offset = req.offset, size = live.size, "release download started");
        let stream = chunks(
            req.offset as usize,
            binary,
            permit,
            self.limiter.clone(),
            self.stop.clone(),
        );
        Ok(Response::new(stream))
    }

    async fn report_update_events(
        &self,
        request: Request<pb::UpdateEventsRequest>,
    ) -> Result<Response<pb::UpdateEventsResponse>, Status> {
        let agent_id = peer_agent_id(&request)?;
        let req = request.into_inner();
        if req.agent_id != agent_id {
            tracing::warn!(%agent_id, "update events claim another agent's id; refused");
            return Err(Status::permission_denied(format!(
                "agent_id {:?} does not match the client certificate ({agent_id})",
                req.agent_id.chars().take(64).collect::<String>()
            )));
        }
        self.enrolled_site(&agent_id).await?;
        let checked = events::validate(&req.events, Utc::now()).inspect_err(|e| {
            tracing::warn!(%agent_id, error = %e, "update events refused");
        })?;
        let stored = events::store(&self.pool, &agent_id, &checked).await?;
        Ok(Response::new(pb::UpdateEventsResponse { stored }))
    }
}
