//! Group commit across agents: handlers hand validated batches to a few
//! writer tasks over bounded channels; each writer commits every batch that
//! queued while its previous transaction was in flight (up to
//! `MAX_GROUP_ROWS` reports) in ONE transaction, then answers every waiting
//! handler. The cost that dominated live reporting was one WAL flush and
//! one transaction per single-report batch (issue 14); a group pays it once.
//!
//! What stays exactly as in `store`: a handler is answered only after the
//! transaction holding its batch has committed; exactly-once per
//! (agent, seq) and the revocation check happen inside that transaction
//! (`store::apply_batch`).
//!
//! Failure isolation: when one batch fails (revoked agent, bad data,
//! deadlock), the group is rolled back, that batch alone gets its error and
//! the rest is retried without it; after `MAX_RETRIES_PER_GROUP` failures, or
//! when the commit itself fails, each remaining batch gets its own
//! transaction (`store::commit_batch`), so no batch is failed for another's
//! fault.

use std::hash::{DefaultHasher, Hash, Hasher};

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::prepare::PreparedBatch;
use super::store::{self, CommitOutcome};
use crate::error::Error;

/// Writer tasks. Each holds one connection while it commits; two cores and
/// one PostgreSQL are saturated by a few concurrent group commits, more
/// only add lock waits.
pub const WRITERS: usize = 4;
/// Batches waiting per writer before the server answers `UNAVAILABLE`:
/// bounds memory (a batch is at most 1 MiB, typically ~1 kB) and the
/// queueing delay.
pub const QUEUE_PER_WRITER: usize = 2_048;
/// Reports in one group transaction.
pub const MAX_GROUP_ROWS: usize = 2_000;
const MAX_RETRIES_PER_GROUP: usize = 3;
/// What an overloaded server tells the agent to wait (trailer
/// `retry-after-seconds`).
pub const OVERLOAD_RETRY_AFTER_SECONDS: u32 = 5;

pub struct Job {
    pub batch: PreparedBatch,
    reply: oneshot::Sender<Result<CommitOutcome, Error>>,
}

/// The queue was full: the caller answers `UNAVAILABLE`.
#[derive(Debug)]
pub struct Overloaded;

#[derive(Clone)]
pub struct GroupWriter {
    queues: Vec<mpsc::Sender<Job>>,
}

impl GroupWriter {
    /// Spawns the writer tasks; they end when every `GroupWriter` clone is
    /// dropped (after draining what is queued).
    pub fn spawn(pool: PgPool) -> Self {
        let queues = (0..WRITERS)
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE_PER_WRITER);
                tokio::spawn(run(pool.clone(), rx));
                tx
            })
            .collect();
        Self { queues }
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
        let (reply, outcome) = oneshot::channel();
        let job = Job { batch, reply };
        queue.try_send(job).map_err(|_| Overloaded)?;
        Ok(outcome)
    }
}

async fn run(pool: PgPool, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut rows = first.batch.len().max(1);
        let mut group = vec![first];
        // No lingering: whatever queued during the previous commit forms the
        // next group, so a lone batch is committed at once.
        while rows < MAX_GROUP_ROWS {
            match queue.try_recv() {
                Ok(job) => {
                    rows += job.batch.len().max(1);
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        flush(&pool, group).await;
    }
}

async fn flush(pool: &PgPool, mut group: Vec<Job>) {
    for _ in 0..MAX_RETRIES_PER_GROUP {
        if group.is_empty() {
            return;
        }
        match commit_group(pool, &group).await {
            Ok(outcomes) => {
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
                return;
            }
            Err(Failure::Batch(i, e)) => {
                // Rolled back: answer the failing batch, retry the others.
                let job = group.remove(i);
                let _ = job.reply.send(Err(e));
            }
            Err(Failure::Group(e)) => {
                tracing::warn!(error = %e, batches = group.len(), "group commit failed; committing its batches one by one");
                break;
            }
        }
    }
    for job in group {
        let outcome = store::commit_prepared(pool, &job.batch).await;
        let _ = job.reply.send(outcome);
    }
}

enum Failure {
    /// Batch `i` failed; the transaction was rolled back.
    Batch(usize, Error),
    /// Beginning or committing the transaction failed.
    Group(Error),
}

async fn commit_group(pool: &PgPool, group: &[Job]) -> Result<Vec<CommitOutcome>, Failure> {
    let mut tx = pool.begin().await.map_err(|e| Failure::Group(e.into()))?;
    let mut outcomes = Vec::with_capacity(group.len());
    for (i, job) in group.iter().enumerate() {
        match store::apply_batch(&mut tx, &job.batch).await {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => {
                // Dropping `tx` rolls back; do it explicitly so the
                // connection is clean before the retry takes one.
                let _ = tx.rollback().await;
                return Err(Failure::Batch(i, e));
            }
        }
    }
    tx.commit().await.map_err(|e| Failure::Group(e.into()))?;
    Ok(outcomes)
}
