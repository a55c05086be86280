//! The closed sets of notifications, each an enum once (stored as text, shown in Japanese).

use serde::{Deserialize, Serialize};

/// How a channel delivers.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, sqlx::Type,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum ChannelKind {
    /// A signed JSON POST to a URL.
    Webhook,
    /// A mail through an SMTP server.
    Smtp,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 2] = [ChannelKind::Webhook, ChannelKind::Smtp];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Smtp => "smtp",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "Webhook",
            ChannelKind::Smtp => "メール（SMTP）",
        }
    }
}

/// What a message says.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, sqlx::Type,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum MessageKind {
    /// Incidents opened (or re-opened, or raised to a severity the channel hears).
    Opened,
    /// Incidents the channel heard about are resolved.
    Resolved,
    /// Critical incidents still unacknowledged.
    Repeat,
    /// A non-incident event (e.g. an update roll-out halted itself).
    Event,
    /// A test message sent by an administrator.
    Test,
}

impl MessageKind {
    pub const ALL: [MessageKind; 5] = [
        MessageKind::Opened,
        MessageKind::Resolved,
        MessageKind::Repeat,
        MessageKind::Event,
        MessageKind::Test,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Opened => "opened",
            MessageKind::Resolved => "resolved",
            MessageKind::Repeat => "repeat",
            MessageKind::Event => "event",
            MessageKind::Test => "test",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            MessageKind::Opened => "発生",
            MessageKind::Resolved => "解消",
            MessageKind::Repeat => "再通知",
            MessageKind::Event => "お知らせ",
            MessageKind::Test => "テスト",
        }
    }
}

/// Where a message is in its delivery.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, sqlx::Type,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum DeliveryState {
    /// Collecting incidents until the group window closes.
    Grouping,
    /// Sealed, waiting for its first try.
    Pending,
    /// A sender holds it (leased) and is sending it now.
    Sending,
    /// A try failed; the next one is scheduled.
    Retrying,
    Sent,
    /// Dead-lettered: every try failed (or the failure cannot heal); an admin may retry it.
    Dead,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 6] = [
        DeliveryState::Grouping,
        DeliveryState::Pending,
        DeliveryState::Sending,
        DeliveryState::Retrying,
        DeliveryState::Sent,
        DeliveryState::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Grouping => "grouping",
            DeliveryState::Pending => "pending",
            DeliveryState::Sending => "sending",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Sent => "sent",
            DeliveryState::Dead => "dead",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            DeliveryState::Grouping => "集約中",
            DeliveryState::Pending => "送信待ち",
            DeliveryState::Sending => "送信中",
            DeliveryState::Retrying => "再試行待ち（失敗あり）",
            DeliveryState::Sent => "送信済",
            DeliveryState::Dead => "送信不能（デッドレター）",
        }
    }

    /// An admin may send it again: failed so far, not sent.
    pub fn retryable(self) -> bool {
        matches!(self, DeliveryState::Retrying | DeliveryState::Dead)
    }
}

/// An incident change that may notify someone (`notify_events.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum EventKind {
    Opened,
    Reopened,
    Raised,
    Resolved,
    /// Not about an incident (`notify::enqueue_event`).
    Event,
}

impl EventKind {
    /// The timeline kinds (`incident_events.kind`) that owe a notification, and as what.
    pub fn from_timeline(kind: &str) -> Option<EventKind> {
        match kind {
            "opened" => Some(EventKind::Opened),
            "reopened" => Some(EventKind::Reopened),
            "severity_raised" => Some(EventKind::Raised),
            "resolved" | "auto_resolved" => Some(EventKind::Resolved),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_kinds_that_notify() {
        assert_eq!(EventKind::from_timeline("opened"), Some(EventKind::Opened));
        assert_eq!(
            EventKind::from_timeline("auto_resolved"),
            Some(EventKind::Resolved)
        );
        assert_eq!(
            EventKind::from_timeline("severity_raised"),
            Some(EventKind::Raised)
        );
        for quiet in [
            "acknowledged",
            "assigned",
            "commented",
            "flapping",
            "settled",
            "escalation",
        ] {
            assert_eq!(EventKind::from_timeline(quiet), None, "{quiet}");
        }
    }

    #[test]
    fn only_failed_deliveries_are_retryable() {
        let retryable: Vec<_> = DeliveryState::ALL
            .into_iter()
            .filter(|s| s.retryable())
            .collect();
        assert_eq!(retryable, [DeliveryState::Retrying, DeliveryState::Dead]);
    }
}
