//! Group commit across agents: handlers hand prepared batches to a few writer
//! tasks over bounded queues; each writer commits every batch that queued
//! while its previous transaction was in flight (up to `max_group_rows`
//! reports) in ONE transaction with one statement per table (`store`), then
//! answers every waiting handler. The cost that dominated live reporting was
//! one transaction and ~7 statements per single-report batch (issue 14); a
//! group pays them once.
//!
//! What stays exactly as before: a handler is answered only after the
//! transaction holding its batch has committed; exactly-once per
//! (agent, seq) and the revocation check happen inside that transaction.
//!
//! Failure isolation: a refused batch (revoked agent, bad `abandoned_through`)
//! writes nothing and the rest commit. A value the database refuses aborts the
//! group's transaction: the group is split in halves, each retried, until the
//! batch at fault is alone and answered `INVALID_ARGUMENT` (log2(n) extra
//! transactions for one bad batch). Any other failure is retried once, then
//! answered `UNAVAILABLE` (the agents retry).
//!
//! Bounded: at most `queue_batches` batches per writer and `queue_bytes` of
//! prepared rows in all; beyond that the handler answers `UNAVAILABLE` with
//! `retry-after-seconds`, so an overload is a queue at the agents (which keep
//! their spools), never memory growth here.

use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use sqlx::PgPool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::metrics::{IngestMetrics, Queued};
use super::prepare::PreparedBatch;
use super::store::{self, CommitOutcome};
use crate::error::Error;

/// How the writers run (`serve` flags `--ingest-*`).
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Writer tasks, each with its own connection while it commits.
    pub writers: usize,
    /// Batches waiting per writer.
    pub queue_batches: usize,
    /// Bytes of prepared rows waiting in all queues.
    pub queue_bytes: usize,
    /// Reports in one group transaction.
    pub max_group_rows: usize,
    /// What an overloaded server tells the agent to wait.
    pub retry_after_seconds: u32,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            // Measured on 2 cores: 1–2 writers commit ~9,200 reports/s, 4 ~8,400, 8 ~6,800
            // (smaller groups, more work per report); one writer per database core at most.
            writers: 2,
            queue_batches: 2_048,
            queue_bytes: 64 << 20,
            max_group_rows: 2_000,
            retry_after_seconds: 5,
        }
    }
}

pub struct Job {
    pub batch: PreparedBatch,
    reply: oneshot::Sender<Result<CommitOutcome, Error>>,
    queued_at: Instant,
    /// Its share of `queue_bytes`, given back when the job is answered.
    _budget: OwnedSemaphorePermit,
    _queued: Queued,
}

/// The queues were full: the caller answers `UNAVAILABLE`.
#[derive(Debug)]
pub struct Overloaded;

#[derive(Clone)]
pub struct GroupWriter {
    queues: Vec<mpsc::Sender<Job>>,
    budget: Arc<Semaphore>,
    config: WriterConfig,
    metrics: IngestMetrics,
}

/// Budget units are KiB, so a semaphore's permit count covers gigabytes.
fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX)
}

/// What a waiting batch holds besides its rows: the decoded request and its HTTP/2 and TLS
/// buffers (measured: ~30 KiB more per connection with a call in flight than idle).
const IN_FLIGHT_BYTES: usize = 16 << 10;

/// Memory a queued batch holds: its prepared rows and the call in flight.
fn weight(batch: &PreparedBatch) -> usize {
    let rows: usize = batch
        .rows
        .iter()
        .map(|r| 160 + r.report.len() + r.site_id.len() + r.targets.names.len() * 2)
        .sum();
    IN_FLIGHT_BYTES
        + rows
        + batch
            .newest
            .as_ref()
            .map_or(0, |s| s.report.len() + s.findings.len())
}

impl GroupWriter {
    /// Spawns the writer tasks; they end when every `GroupWriter` clone is
    /// dropped (after draining what is queued).
    pub fn spawn(pool: PgPool, config: WriterConfig, metrics: IngestMetrics) -> Self {
        let queues = (0..config.writers.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(config.queue_batches.max(1));
                tokio::spawn(run(pool.clone(), rx, config, metrics.clone()));
                tx
            })
            .collect();
        let budget = Arc::new(Semaphore::new(kib(config.queue_bytes) as usize));
        Self {
            queues,
            budget,
            config,
            metrics,
        }
    }

    pub fn retry_after_seconds(&self) -> u32 {
        self.config.retry_after_seconds
    }

    /// More than half of the byte budget or of a writer's queue is taken:
    /// acknowledgements ask the agents to pause a second before their next batch
    /// (soft back-pressure before refusals).
    pub fn under_pressure(&self) -> bool {
        self.budget.available_permits() < kib(self.config.queue_bytes) as usize / 2
            || self
                .queues
                .iter()
                .any(|q| q.capacity() < q.max_capacity() / 2)
    }

    /// Queues a batch and returns where its outcome will arrive (after
    /// commit). Batches of one site (hence of one agent) always go to the
    /// same writer, so concurrent writers never wait on each other's row
    /// locks for `agents` or `site_state`.
    pub fn submit(
        &self,
        batch: PreparedBatch,
    ) -> Result<oneshot::Receiver<Result<CommitOutcome, Error>>, Overloaded> {
        let mut hasher = DefaultHasher::new();
        batch.site_id().hash(&mut hasher);
        let queue = &self.queues[(hasher.finish() % self.queues.len() as u64) as usize];
        // A batch heavier than the whole budget waits for an empty queue instead of never fitting.
        let units = kib(weight(&batch)).min(kib(self.config.queue_bytes));
        let budget = self
            .budget
            .clone()
            .try_acquire_many_owned(units)
            .map_err(|_| Overloaded)?;
        let (reply, outcome) = oneshot::channel();
        let job = Job {
            batch,
            reply,
            queued_at: Instant::now(),
            _budget: budget,
            _queued: Queued::new(&self.metrics.queued_batches),
        };
        queue.try_send(job).map_err(|_| Overloaded)?;
        Ok(outcome)
    }
}

async fn run(
    pool: PgPool,
    mut queue: mpsc::Receiver<Job>,
    config: WriterConfig,
    metrics: IngestMetrics,
) {
    // A second batch of an agent already in the group waits for the next group:
    // one agent's batches are decided one after the other.
    let mut held: VecDeque<Job> = VecDeque::new();
    loop {
        let first = match held.pop_front() {
            Some(job) => job,
            None => match queue.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut rows = first.batch.len().max(1);
        let mut group = vec![first];
        let mut carry = VecDeque::new();
        // No lingering: whatever queued during the previous commit forms the
        // next group, so a lone batch is committed at once.
        while rows < config.max_group_rows {
            let Some(job) = held.pop_front().or_else(|| queue.try_recv().ok()) else {
                break;
            };
            if group.iter().any(|g| g.batch.agent_id == job.batch.agent_id) {
                carry.push_back(job);
                continue;
            }
            rows += job.batch.len().max(1);
            group.push(job);
        }
        carry.extend(held.drain(..));
        held = carry;
        metrics.observe_group(&group);
        flush(&pool, group, &metrics).await;
    }
}

/// Commits a group, splitting it to isolate a batch the database refuses.
async fn flush(pool: &PgPool, group: Vec<Job>, metrics: &IngestMetrics) {
    let mut work = vec![(group, 0u32)];
    while let Some((part, retries)) = work.pop() {
        let outcome = commit(pool, &part).await;
        match outcome {
            Ok(outcomes) => {
                for (job, outcome) in part.into_iter().zip(outcomes) {
                    metrics
                        .queue_seconds
                        .observe(job.queued_at.elapsed().as_secs_f64());
                    let _ = job.reply.send(outcome);
                }
            }
            Err(e) if e.bad_input_sqlstate().is_some() => {
                if part.len() == 1 {
                    let job = part.into_iter().next().expect("one job");
                    let _ = job.reply.send(Err(e));
                } else {
                    metrics.group_splits.inc();
                    tracing::warn!(error = %e, batches = part.len(),
                        "the database refused a value in a group; splitting it to find the batch");
                    let mut first = part;
                    let second = first.split_off(first.len() / 2);
                    work.push((second, 0));
                    work.push((first, 0));
                }
            }
            Err(e) if retries == 0 => {
                tracing::warn!(error = %e, batches = part.len(), "group commit failed; retrying once");
                work.push((part, 1));
            }
            Err(e) => {
                tracing::error!(error = %e, batches = part.len(), "group commit failed twice; agents will retry");
                for job in part {
                    let _ = job.reply.send(Err(Error::Database {
                        what: format!("group commit failed: {e}"),
                    }));
                }
            }
        }
    }
}

async fn commit(pool: &PgPool, part: &[Job]) -> Result<Vec<Result<CommitOutcome, Error>>, Error> {
    let mut tx = pool.begin().await?;
    let batches: Vec<&PreparedBatch> = part.iter().map(|j| &j.batch).collect();
    let outcomes = store::apply_group(&mut tx, &batches).await?;
    tx.commit().await?;
    Ok(outcomes)
}
