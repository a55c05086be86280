//! Prometheus metrics of the group-committing writer (`/metrics`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::writer::Job;

#[derive(Clone)]
pub struct IngestMetrics {
    /// Batches handed to the writers and not answered yet.
    pub queued_batches: Gauge,
    pub group_batches: Histogram,
    pub group_reports: Histogram,
    /// From handing a batch to a writer to its commit.
    pub queue_seconds: Histogram,
    /// Groups split because the database refused a value in one of their batches.
    pub group_splits: Counter,
}

impl IngestMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let sizes = [
            1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0,
        ];
        let m = IngestMetrics {
            queued_batches: Gauge::default(),
            group_batches: Histogram::new(sizes),
            group_reports: Histogram::new(sizes),
            queue_seconds: Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            group_splits: Counter::default(),
        };
        registry.register(
            "onshi_ingest_queued_batches",
            "Report batches handed to the group-commit writers and not yet answered",
            m.queued_batches.clone(),
        );
        registry.register(
            "onshi_ingest_group_batches",
            "Batches committed together in one group transaction",
            m.group_batches.clone(),
        );
        registry.register(
            "onshi_ingest_group_reports",
            "Reports in one group transaction",
            m.group_reports.clone(),
        );
        registry.register(
            "onshi_ingest_commit_wait_seconds",
            "From queueing a batch to its group's commit",
            m.queue_seconds.clone(),
        );
        registry.register(
            "onshi_ingest_group_splits",
            "Groups split to isolate a batch whose values the database refused",
            m.group_splits.clone(),
        );
        m
    }

    pub fn observe_group(&self, group: &[Job]) {
        self.group_batches.observe(group.len() as f64);
        let reports: usize = group.iter().map(|j| j.batch.len()).sum();
        self.group_reports.observe(reports as f64);
    }
}

/// Counts a batch in `queued_batches` while it lives.
pub struct Queued(Gauge);

impl Queued {
    pub fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Queued(gauge.clone())
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.dec();
    }
}
