//! Prometheus metrics of the incident engine (`/metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpenLabels {
    pub severity: String,
    pub rule: String,
}

#[derive(Clone)]
pub struct IncidentMetrics {
    pub open: Family<OpenLabels, Gauge>,
    pub sweep_seconds: Histogram,
    /// Seconds the oldest evaluation waited in the outbox at the last drain.
    pub evaluation_lag: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl IncidentMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = IncidentMetrics {
            open: Family::default(),
            sweep_seconds: Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            evaluation_lag: Gauge::default(),
        };
        registry.register(
            "onshi_incidents_open",
            "Open and acknowledged incidents by severity and rule",
            m.open.clone(),
        );
        registry.register(
            "onshi_incident_sweep_duration_seconds",
            "Time of one offline / hold-down sweep",
            m.sweep_seconds.clone(),
        );
        registry.register(
            "onshi_incident_evaluation_lag_seconds",
            "How long the oldest report waited for incident evaluation at the last drain",
            m.evaluation_lag.clone(),
        );
        m
    }
}
