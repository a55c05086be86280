//! Prometheus metrics, served at `/metrics` in the text exposition format.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

/// How long an agent counts as connected after its last successful batch.
const CONNECTED_WINDOW_SECS: u64 = 180;

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub reports_ingested: Counter,
    pub reports_duplicate: Counter,
    pub batch_seconds: Histogram,
    pub grpc_errors: Family<CodeLabel, Counter>,
    /// Batches refused (nothing stored), by reason.
    pub reports_rejected: Family<ReasonLabel, Counter>,
    pub tls_handshake_failures: Family<ReasonLabel, Counter>,
    /// Open gRPC connections, those still in the TLS handshake included.
    pub grpc_connections: Gauge,
    /// Connections closed at once because `--max-grpc-connections` were open.
    pub grpc_connections_rejected: Counter,
    connected: Gauge,
    last_seen: Arc<Mutex<HashMap<String, Instant>>>,
    pub incidents: crate::incidents::metrics::IncidentMetrics,
    pub notify: crate::notify::metrics::NotifyMetrics,
    pub console: crate::portal::live::LiveMetrics,
    pub ingest: crate::ingest::metrics::IngestMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reports_ingested = Counter::default();
        let reports_duplicate = Counter::default();
        let batch_seconds = Histogram::new([
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ]);
        let grpc_errors = Family::<CodeLabel, Counter>::default();
        let connected = Gauge::default();
        let reports_rejected = Family::<ReasonLabel, Counter>::default();
        let tls_handshake_failures = Family::<ReasonLabel, Counter>::default();
        let grpc_connections = Gauge::default();
        let grpc_connections_rejected = Counter::default();
        registry.register(
            "onshi_reports_rejected",
            "Report batches refused, by reason; nothing of them stored",
            reports_rejected.clone(),
        );
        registry.register(
            "onshi_tls_handshake_failures",
            "TLS handshakes on the gRPC port that failed, by reason",
            tls_handshake_failures.clone(),
        );
        registry.register(
            "onshi_grpc_connections",
            "Open gRPC connections, including those in the TLS handshake",
            grpc_connections.clone(),
        );
        registry.register(
            "onshi_grpc_connections_rejected",
            "gRPC connections closed at once because the connection cap was reached",
            grpc_connections_rejected.clone(),
        );
        registry.register(
            "onshi_reports_ingested",
            "Reports committed (new, not replays)",
            reports_ingested.clone(),
        );
        registry.register(
            "onshi_reports_duplicate",
            "Replayed reports accepted without storing",
            reports_duplicate.clone(),
        );
        registry.register(
            "onshi_ingest_batch_duration_seconds",
            "Time to validate and commit one batch",
            batch_seconds.clone(),
        );
        registry.register(
            "onshi_grpc_errors",
            "gRPC calls answered with a non-OK status",
            grpc_errors.clone(),
        );
        registry.register(
            "onshi_connected_agents",
            "Agents with a committed batch in the last 3 minutes",
            connected.clone(),
        );
        let incidents = crate::incidents::metrics::IncidentMetrics::register(&mut registry);
        let notify = crate::notify::metrics::NotifyMetrics::register(&mut registry);
        let console = crate::portal::live::LiveMetrics::register(&mut registry);
        let ingest = crate::ingest::metrics::IngestMetrics::register(&mut registry);
        Self {
            incidents,
            notify,
            console,
            ingest,
            registry: Arc::new(registry),
            reports_ingested,
            reports_duplicate,
            batch_seconds,
            grpc_errors,
            reports_rejected,
            tls_handshake_failures,
            grpc_connections,
            grpc_connections_rejected,
            connected,
            last_seen: Arc::default(),
        }
    }

    pub fn agent_seen(&self, agent_id: &str) {
        let mut map = self.last_seen.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(agent_id.to_owned(), Instant::now());
    }

    pub fn grpc_error(&self, code: tonic::Code) {
        self.grpc_errors
            .get_or_create(&CodeLabel {
                code: format!("{code:?}"),
            })
            .inc();
    }

    pub fn report_rejected(&self, reason: &'static str) {
        self.reports_rejected
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn handshake_failed(&self, reason: &'static str) {
        self.tls_handshake_failures
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn render(&self) -> String {
        {
            let mut map = self.last_seen.lock().unwrap_or_else(|p| p.into_inner());
            map.retain(|_, t| t.elapsed().as_secs() <= CONNECTED_WINDOW_SECS);
            self.connected.set(map.len() as i64);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
