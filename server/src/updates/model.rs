//! The closed sets of agent updates: one enum each (database text with a
//! CHECK, serde, pages through `ALL` + `label_ja`).

use serde::{Deserialize, Serialize};

/// Where a rollout stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, sqlx::Type,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum RolloutState {
    /// Offering the release to the sites of its current ring.
    Running,
    /// Paused by an administrator: no offers, no swaps.
    Paused,
    /// Paused by the monitor (see the halt reason): no offers, no swaps.
    Halted,
    /// Stopped for good by an administrator.
    Aborted,
    /// Superseded by a newer rollout of the same target after reaching everyone.
    Completed,
}

impl RolloutState {
    pub const ALL: [RolloutState; 5] = [
        RolloutState::Running,
        RolloutState::Paused,
        RolloutState::Halted,
        RolloutState::Aborted,
        RolloutState::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Running => "running",
            RolloutState::Paused => "paused",
            RolloutState::Halted => "halted",
            RolloutState::Aborted => "aborted",
            RolloutState::Completed => "completed",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            RolloutState::Running => "配信中",
            RolloutState::Paused => "一時停止中",
            RolloutState::Halted => "自動停止",
            RolloutState::Aborted => "中止",
            RolloutState::Completed => "完了",
        }
    }

    /// Counts against "one live rollout per target".
    pub fn is_live(self) -> bool {
        matches!(
            self,
            RolloutState::Running | RolloutState::Paused | RolloutState::Halted
        )
    }
}

/// A step in a rollout's timeline (`rollout_events.action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum TimelineAction {
    Start,
    Pause,
    Resume,
    Abort,
    Widen,
    Halt,
    Complete,
}

impl TimelineAction {
    pub const ALL: [TimelineAction; 7] = [
        TimelineAction::Start,
        TimelineAction::Pause,
        TimelineAction::Resume,
        TimelineAction::Abort,
        TimelineAction::Widen,
        TimelineAction::Halt,
        TimelineAction::Complete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TimelineAction::Start => "start",
            TimelineAction::Pause => "pause",
            TimelineAction::Resume => "resume",
            TimelineAction::Abort => "abort",
            TimelineAction::Widen => "widen",
            TimelineAction::Halt => "halt",
            TimelineAction::Complete => "complete",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            TimelineAction::Start => "開始",
            TimelineAction::Pause => "一時停止",
            TimelineAction::Resume => "再開",
            TimelineAction::Abort => "中止",
            TimelineAction::Widen => "対象拡大",
            TimelineAction::Halt => "自動停止",
            TimelineAction::Complete => "完了",
        }
    }
}

/// What an agent says became of an update (`agent_update_events.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum UpdateEventKind {
    Staged,
    Applied,
    Refused,
    RolledBack,
    CrashRestart,
}

impl UpdateEventKind {
    pub const ALL: [UpdateEventKind; 5] = [
        UpdateEventKind::Staged,
        UpdateEventKind::Applied,
        UpdateEventKind::Refused,
        UpdateEventKind::RolledBack,
        UpdateEventKind::CrashRestart,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UpdateEventKind::Staged => "staged",
            UpdateEventKind::Applied => "applied",
            UpdateEventKind::Refused => "refused",
            UpdateEventKind::RolledBack => "rolled_back",
            UpdateEventKind::CrashRestart => "crash_restart",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            UpdateEventKind::Staged => "ダウンロード済み",
            UpdateEventKind::Applied => "切り替え完了",
            UpdateEventKind::Refused => "拒否",
            UpdateEventKind::RolledBack => "切り戻し",
            UpdateEventKind::CrashRestart => "異常終了から再起動",
        }
    }

    /// The wire value's meaning; `None` for UNSPECIFIED or an unknown number.
    pub fn from_wire(kind: i32) -> Option<UpdateEventKind> {
        use onshi_proto::v1::UpdateEventKind as W;
        match W::try_from(kind).ok()? {
            W::Unspecified => None,
            W::Staged => Some(UpdateEventKind::Staged),
            W::Applied => Some(UpdateEventKind::Applied),
            W::Refused => Some(UpdateEventKind::Refused),
            W::RolledBack => Some(UpdateEventKind::RolledBack),
            W::CrashRestart => Some(UpdateEventKind::CrashRestart),
        }
    }

    /// Problems are shown in red on the admin page.
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            UpdateEventKind::Refused | UpdateEventKind::RolledBack | UpdateEventKind::CrashRestart
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_kinds_map_and_unspecified_is_refused() {
        assert_eq!(UpdateEventKind::from_wire(0), None);
        assert_eq!(UpdateEventKind::from_wire(99), None);
        assert_eq!(
            UpdateEventKind::from_wire(4),
            Some(UpdateEventKind::RolledBack)
        );
        for (i, kind) in UpdateEventKind::ALL.into_iter().enumerate() {
            assert_eq!(UpdateEventKind::from_wire(i as i32 + 1), Some(kind));
        }
    }

    #[test]
    fn only_running_paused_and_halted_are_live() {
        let live: Vec<_> = RolloutState::ALL
            .into_iter()
            .filter(|s| s.is_live())
            .collect();
        assert_eq!(
            live,
            [
                RolloutState::Running,
                RolloutState::Paused,
                RolloutState::Halted
            ]
        );
    }
}
