//! The tonic `AgentService`: a thin adapter over `validate` and `store`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use onshi_proto::v1::agent_service_server::AgentService;
use onshi_proto::v1::{SubmitReportsRequest, SubmitReportsResponse};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use super::writer::{GroupWriter, WriterConfig};
use super::{prepare, validate};
use crate::error::Error;
use crate::metrics::Metrics;

pub type AgentLimiter = governor::DefaultKeyedRateLimiter<String>;

pub struct AgentIngest {
    pub pool: PgPool,
    pub metrics: Metrics,
    /// Batches per agent per minute; one misbehaving PC cannot crowd out
    /// the fleet.
    pub limiter: Arc<AgentLimiter>,
    /// Group commit (see `writer`): every batch is committed there.
    pub writer: GroupWriter,
    /// Agent updates: the offer added to the answer (`updates::offer`).
    pub updates: Option<Arc<crate::updates::Offers>>,
}

impl AgentIngest {
    /// `writer_pool` is the writers' own pool (sized for them); `pool` the shared one.
    pub fn new(
        pool: PgPool,
        writer_pool: PgPool,
        metrics: Metrics,
        batches_per_minute: u32,
        writer: WriterConfig,
    ) -> Self {
        let per_minute = NonZeroU32::new(batches_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = governor::Quota::per_minute(per_minute).allow_burst(per_minute);
        Self {
            limiter: Arc::new(governor::RateLimiter::keyed(quota)),
            writer: GroupWriter::spawn(writer_pool, writer, metrics.ingest.clone()),
            metrics,
            pool,
            updates: None,
        }
    }

    /// Answers agents that can update with the offer of a running rollout.
    pub fn with_updates(mut self, offers: Arc<crate::updates::Offers>) -> Self {
        self.updates = Some(offers);
        self
    }

    /// The writers' queues are full: tell the agent to come back later
    /// (trailer `retry-after-seconds`, which the agent honours) instead of
    /// queueing without bound.
    fn overloaded(&self) -> Status {
        self.metrics.report_rejected("overloaded");
        tracing::warn!("ingest queue full; batch refused with UNAVAILABLE");
        let mut metadata = tonic::metadata::MetadataMap::new();
        metadata.insert(
            "retry-after-seconds",
            tonic::metadata::MetadataValue::from(self.writer.retry_after_seconds()),
        );
        Status::with_metadata(
            tonic::Code::Unavailable,
            "the server is overloaded; retry after the time in retry-after-seconds",
            metadata,
        )
    }
}

#[tonic::async_trait]
impl AgentService for AgentIngest {
    #[tracing::instrument(skip_all, fields(agent_id = tracing::field::Empty, reports = tracing::field::Empty))]
    async fn submit_reports(
        &self,
        request: Request<SubmitReportsRequest>,
    ) -> Result<Response<SubmitReportsResponse>, Status> {
        let started = Instant::now();
        let cert_agent = crate::enrol::service::peer_agent_id(&request).inspect_err(|s| {
            self.metrics.report_rejected("unauthenticated");
            tracing::warn!(
                message = s.message(),
                "report batch without a valid client certificate"
            );
        })?;
        if self.limiter.check_key(&cert_agent).is_err() {
            self.metrics.report_rejected("rate_limited");
            tracing::warn!(%cert_agent, "agent over its rate limit");
            return Err(Status::resource_exhausted(
                "too many batches from this agent; wait a minute and send fewer, larger batches",
            ));
        }
        let mut batch = request.into_inner();
        let capability = batch.update.take();
        let span = tracing::Span::current();
        // Debug formatting escapes whatever an agent put in its id.
        span.record(
            "agent_id",
            tracing::field::debug(&batch.agent_id.chars().take(64).collect::<String>()),
        );
        span.record("reports", batch.reports.len());

        if batch.agent_id != cert_agent {
            self.metrics.report_rejected("wrong_agent");
            tracing::warn!(%cert_agent, "report batch claims another agent's id; rejected");
            return Err(Status::permission_denied(format!(
                "agent_id {:?} does not match the client certificate ({cert_agent})",
                batch.agent_id.chars().take(64).collect::<String>()
            )));
        }
        let now = Utc::now();
        if let Err(e) = validate::validate_batch(&batch, now) {
            self.metrics.report_rejected(match e {
                Error::ResourceExhausted(_) => "too_many_reports",
                _ => "invalid",
            });
            tracing::warn!(error = %e, "rejected report batch; nothing stored");
            return Err(e.into());
        }
        let agent_id = batch.agent_id.clone();
        let prepared = prepare::batch(
            agent_id.clone(),
            &batch.reports,
            batch.abandoned_through,
            now,
        )
        .inspect_err(|e| tracing::error!(error = %e, "cannot prepare a valid batch"))?;
        let site_id = batch.reports.last().map(|r| r.site_id.clone());
        let queued = self
            .writer
            .submit(prepared)
            .map_err(|_| self.overloaded())?;
        let committed = queued.await.map_err(|_| {
            tracing::error!("ingest writer stopped before answering; agent will retry");
            Status::unavailable("the server is shutting down; retry shortly")
        })?;
        let outcome = committed.map_err(|e| {
            match refusal_reason(&e) {
                Some(reason) => {
                    self.metrics.report_rejected(reason);
                    tracing::warn!(error = %e, reason, "report batch refused; nothing stored");
                }
                None => tracing::error!(error = %e, "report batch not committed; agent will retry"),
            }
            Status::from(e)
        })?;

        self.metrics
            .reports_ingested
            .inc_by(u64::from(outcome.stored));
        self.metrics
            .reports_duplicate
            .inc_by(u64::from(outcome.duplicates));
        self.metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.agent_seen(&agent_id);
        tracing::debug!(
            acked = outcome.acked_seq,
            stored = outcome.stored,
            duplicates = outcome.duplicates,
            "batch committed"
        );
        // After the commit, from memory; never fails the batch.
        let update = match (&self.updates, capability, site_id) {
            (Some(offers), Some(cap), Some(site)) => {
                offers.offer(&agent_id, &site, &cap, now).await
            }
            _ => None,
        };
        Ok(Response::new(SubmitReportsResponse {
            acked_seq: outcome.acked_seq,
            stored: outcome.stored,
            duplicates: outcome.duplicates,
            // Soft back-pressure: an agent with more to send pauses a second first.
            retry_after_seconds: u32::from(self.writer.under_pressure()),
            update,
        }))
    }
}

/// Why `store::apply_batch` refused a batch for good, or `None` when the
/// failure is the server's and the agent should retry.
fn refusal_reason(e: &Error) -> Option<&'static str> {
    match e {
        Error::Unauthorized(_) => Some("unauthenticated"),
        Error::Forbidden(_) => Some("wrong_site"),
        // The only argument the store checks (see `store::settled_through`).
        Error::InvalidArgument(_) => Some("abandoned_through"),
        other if other.bad_input_sqlstate().is_some() => Some("database_data"),
        _ => None,
    }
}
