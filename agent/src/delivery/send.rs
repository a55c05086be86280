//! Delivering the spool: batches in seq order, the server's ack, and what
//! a refusal means.

use std::io;
use std::time::Duration;

use onshi_proto::v1 as pb;
use prost::Message;

use super::Agent;

/// Largest batch in bytes: well under the server's 1 MiB message limit.
const MAX_BATCH_BYTES: usize = 512 * 1024;

/// Why a delivery stopped. A server answer is retried with network backoff;
/// a local disk error is not a network problem and is said as such.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("{:?}: {}", .0.code(), .0.message())]
    Server(tonic::Status),
    #[error("spool: {0}")]
    Spool(#[from] io::Error),
}

impl Agent {
    /// Sends the spool in batches until it is empty. Returns the pause the
    /// server asked for, if any.
    pub(super) async fn deliver(&mut self) -> Result<Duration, DeliveryError> {
        let mut stalls = 0;
        loop {
            let Some(batch) = self.spool.next_batch(self.max_batch, MAX_BATCH_BYTES)? else {
                return Ok(Duration::ZERO);
            };
            let mut reports = Vec::with_capacity(batch.payloads.len());
            for p in &batch.payloads {
                // Checked by the spool's CRC already; this cannot fail short
                // of a bug, and then the record is given up, not retried forever.
                match pb::Report::decode(p.as_slice()) {
                    Ok(r) => reports.push(r),
                    Err(e) => {
                        tracing::error!(error = %e, "spooled report does not decode; dropped");
                        self.spool.give_up_oldest()?;
                        break;
                    }
                }
            }
            if reports.len() != batch.payloads.len() {
                continue;
            }
            // Every seq below the batch that the server has not acked is one
            // this agent no longer holds (dropped or corrupt): say so, so
            // that the server's contiguous ack can move past the gap.
            let abandoned_through = if batch.first > self.server_acked + 1 {
                batch.first - 1
            } else {
                0
            };
            let request = pb::SubmitReportsRequest {
                agent_id: self.state.agent_id.clone(),
                reports,
                abandoned_through,
            };
            let response = match self.client.submit_reports(request).await {
                Ok(r) => r.into_inner(),
                Err(status) => {
                    self.on_error(&status, batch.first, batch.last)?;
                    return Err(DeliveryError::Server(status));
                }
            };
            self.server_acked = response.acked_seq;
            if response.acked_seq >= batch.first {
                self.spool.ack(response.acked_seq)?;
                self.max_batch = self.batch_limit;
                stalls = 0;
                tracing::debug!(
                    acked = response.acked_seq,
                    first = batch.first,
                    last = batch.last,
                    "batch acknowledged"
                );
            } else {
                stalls += 1;
                if stalls > 1 {
                    return Err(DeliveryError::Server(tonic::Status::failed_precondition(
                        format!(
                            "server acknowledged up to {} but our oldest report is {}",
                            response.acked_seq, batch.first
                        ),
                    )));
                }
            }
            if response.acked_seq >= self.state.next_seq {
                // The server has seen seqs this agent never wrote (its state
                // was restored from an old copy): never reuse them.
                tracing::warn!(
                    acked = response.acked_seq,
                    next_seq = self.state.next_seq,
                    "server is ahead of this agent; skipping seqs"
                );
                self.state.next_seq = response.acked_seq + 1;
                self.save_state();
            }
            if response.retry_after_seconds > 0 {
                return Ok(Duration::from_secs(
                    response.retry_after_seconds.min(3600).into(),
                ));
            }
        }
    }

    /// Decides what a failed batch means. Only a report the server rejects
    /// as invalid on its own is ever given up (and counted); everything else
    /// is retried.
    fn on_error(&mut self, status: &tonic::Status, first: u64, last: u64) -> io::Result<()> {
        match status.code() {
            tonic::Code::InvalidArgument if first < last => {
                // Find the bad report: one at a time from here.
                self.max_batch = 1;
            }
            tonic::Code::InvalidArgument => {
                tracing::error!(
                    seq = first,
                    message = status.message(),
                    "server rejects this report; giving it up"
                );
                self.spool.give_up_oldest()?;
                self.max_batch = self.batch_limit;
            }
            // RESOURCE_EXHAUSTED is the server's rate limit (batches are kept
            // far below its size limits): wait, and keep batches large.
            _ => {}
        }
        Ok(())
    }
}
