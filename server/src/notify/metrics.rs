//! Prometheus metrics of notifications (`/metrics`): messages sent, failed tries and
//! dead-lettered messages by channel, and how old the oldest undelivered message is.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabel {
    pub channel: String,
}

#[derive(Clone)]
pub struct NotifyMetrics {
    sent: Family<ChannelLabel, Counter>,
    failed: Family<ChannelLabel, Counter>,
    dead: Family<ChannelLabel, Counter>,
    /// Seconds since the oldest message not yet sent or dead-lettered was made (0: none).
    pub outbox_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Messages waiting to be sent (sealed, being sent, or waiting for a retry).
    pub outbox_pending: Gauge,
}

impl NotifyMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = NotifyMetrics {
            sent: Family::default(),
            failed: Family::default(),
            dead: Family::default(),
            outbox_age: Gauge::default(),
            outbox_pending: Gauge::default(),
        };
        registry.register(
            "onshi_notifications_sent",
            "Notification messages delivered, by channel",
            m.sent.clone(),
        );
        registry.register(
            "onshi_notifications_failed",
            "Notification delivery tries that failed, by channel",
            m.failed.clone(),
        );
        registry.register(
            "onshi_notifications_dead_lettered",
            "Notification messages given up after their last try (dead-lettered), by channel",
            m.dead.clone(),
        );
        registry.register(
            "onshi_notification_outbox_age_seconds",
            "Age of the oldest notification message not yet sent or dead-lettered",
            m.outbox_age.clone(),
        );
        registry.register(
            "onshi_notification_outbox_pending",
            "Notification messages waiting to be sent (incl. retries)",
            m.outbox_pending.clone(),
        );
        m
    }

    fn label(channel: &str) -> ChannelLabel {
        ChannelLabel {
            channel: channel.to_owned(),
        }
    }

    pub fn sent(&self, channel: &str) {
        self.sent.get_or_create(&Self::label(channel)).inc();
    }

    pub fn failed(&self, channel: &str) {
        self.failed.get_or_create(&Self::label(channel)).inc();
    }

    pub fn dead_lettered(&self, channel: &str) {
        self.dead.get_or_create(&Self::label(channel)).inc();
    }
}
