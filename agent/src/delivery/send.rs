//! Delivering the spool: batches in seq order, the server's ack, and what
//! a refusal means.

use std::io;
use std::time::Duration;

use onshi_proto::v1 as pb;
use prost::Message;

use super::Agent;
use crate::spool::Batch;

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
                update: self.updater.capability(),
            };
            let mut response = match self.client.submit_reports(request).await {
                Ok(r) => r.into_inner(),
                Err(status) => {
                    self.on_error(&status, &batch)?;
                    return Err(DeliveryError::Server(status));
                }
            };
            self.updater.on_answer(response.update.take());
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

    /// Decides what a failed batch means. Only a report the server refuses
    /// as permanently bad on its own is ever set aside (and counted as
    /// rejected); everything else is retried.
    fn on_error(&mut self, status: &tonic::Status, batch: &Batch) -> io::Result<()> {
        let permanent = matches!(
            status.code(),
            tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition
        );
        if !permanent {
            // UNAVAILABLE, the rate limit (RESOURCE_EXHAUSTED: batches are
            // kept far below the size limits), authentication: retry.
            return Ok(());
        }
        if batch.first < batch.last {
            // Find the bad report: one at a time from here.
            self.max_batch = 1;
            return Ok(());
        }
        tracing::error!(
            seq = batch.first,
            code = ?status.code(),
            message = status.message(),
            "server refuses this report as invalid; set aside, not retried (reported upstream as spool_rejected)"
        );
        self.spool.set_aside_oldest(&batch.payloads[0])?;
        self.max_batch = self.batch_limit;
        Ok(())
    }
}

/// The pause an overloaded server asked for: `UNAVAILABLE` with the trailer
/// `retry-after-seconds: N` (ASCII integer), at most an hour.
pub fn retry_after(status: &tonic::Status) -> Option<Duration> {
    if status.code() != tonic::Code::Unavailable {
        return None;
    }
    let secs: u64 = status
        .metadata()
        .get("retry-after-seconds")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: tonic::Code, trailer: Option<&str>) -> tonic::Status {
        let mut md = tonic::metadata::MetadataMap::new();
        if let Some(v) = trailer {
            md.insert("retry-after-seconds", v.parse().unwrap());
        }
        tonic::Status::with_metadata(code, "overloaded", md)
    }

    #[test]
    fn retry_after_is_read_from_an_unavailable_answer_only() {
        let u = tonic::Code::Unavailable;
        assert_eq!(
            retry_after(&status(u, Some("7"))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&status(u, Some("999999"))),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(retry_after(&status(u, Some("soon"))), None);
        assert_eq!(retry_after(&status(u, None)), None);
        let other = status(tonic::Code::ResourceExhausted, Some("7"));
        assert_eq!(retry_after(&other), None);
    }
}
