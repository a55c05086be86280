//! The closed sets of an escalation (one enum each: `sqlx::Type` + serde + clap, `ALL`,
//! `label_ja`) and the status machine 下書き → 依頼済 → 受付済 → 部品手配中 → 訪問予定 → 完了 / 取消.
//! Pure.

use serde::{Deserialize, Serialize};

use crate::desk::DeskId;
use crate::error::{Error, FieldErrors};

/// Where a vendor case stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    sqlx::Type,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Status {
    /// Drafted, not yet sent or called.
    Draft,
    /// 依頼済: sent or called; waiting for the desk to take the case.
    Requested,
    /// 受付済: the desk took the case (often with a ticket number).
    Accepted,
    /// 部品手配中: a replacement is on its way.
    PartsOrdered,
    /// 訪問予定: an engineer visits on `visit_on`.
    VisitScheduled,
    /// 完了.
    Done,
    /// 取消.
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Draft,
        Status::Requested,
        Status::Accepted,
        Status::PartsOrdered,
        Status::VisitScheduled,
        Status::Done,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Requested => "requested",
            Status::Accepted => "accepted",
            Status::PartsOrdered => "parts_ordered",
            Status::VisitScheduled => "visit_scheduled",
            Status::Done => "done",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            Status::Draft => "下書き",
            Status::Requested => "依頼済",
            Status::Accepted => "受付済",
            Status::PartsOrdered => "部品手配中",
            Status::VisitScheduled => "訪問予定",
            Status::Done => "完了",
            Status::Cancelled => "取消",
        }
    }

    /// No further change is possible.
    pub fn is_closed(self) -> bool {
        matches!(self, Status::Done | Status::Cancelled)
    }

    /// The desk has shown it took the case.
    pub fn is_answered(self) -> bool {
        matches!(
            self,
            Status::Accepted | Status::PartsOrdered | Status::VisitScheduled | Status::Done
        )
    }

    /// Position along the happy path; the case only moves forward (a step may be skipped:
    /// an on-site router replacement has no 部品手配中).
    fn rank(self) -> u8 {
        match self {
            Status::Draft => 0,
            Status::Requested => 1,
            Status::Accepted => 2,
            Status::PartsOrdered => 3,
            Status::VisitScheduled => 4,
            Status::Done => 5,
            Status::Cancelled => 6,
        }
    }

    /// The statuses an operator may set by hand from here (the page's choices).
    pub fn next_by_hand(self) -> Vec<Status> {
        Status::ALL
            .into_iter()
            .filter(|&to| allowed(self, to))
            .collect()
    }
}

/// The moves by hand, without the visit-date condition: forward only (a step may be skipped),
/// 訪問予定 again to move the visit, never to 下書き or 依頼済, nothing from a closed case, and
/// a draft only to 取消.
fn allowed(from: Status, to: Status) -> bool {
    let rescheduled = from == Status::VisitScheduled && to == Status::VisitScheduled;
    !from.is_closed()
        && !matches!(to, Status::Draft | Status::Requested)
        && (from != Status::Draft || to == Status::Cancelled)
        && (to.rank() > from.rank() || rescheduled)
}

/// Whether `from → to` is allowed when set by hand (PATCH, page, CLI). 依頼済 is reached only
/// by sending the mail or recording the call, so it is refused here. `visit_known` says whether
/// a visit date is (or will be) set. Errors are Japanese and say what is allowed.
pub fn check_transition(from: Status, to: Status, visit_known: bool) -> Result<(), String> {
    if from.is_closed() {
        return Err(format!(
            "この依頼は既に「{}」です。変更できません。新しい依頼を作成してください",
            from.label_ja()
        ));
    }
    if to == Status::Requested || to == Status::Draft {
        return Err(
            "「依頼済」にはメールの送信または電話の記録で進みます。下書きに戻すことはできません"
                .into(),
        );
    }
    if to == Status::VisitScheduled && !visit_known {
        return Err("「訪問予定」には訪問日（visit_on, YYYY-MM-DD）を指定してください".into());
    }
    if from == Status::Draft && to != Status::Cancelled {
        return Err(
            "下書きのままです。先にメールを送信するか電話の記録をしてから、状態を進めてください"
                .into(),
        );
    }
    if !allowed(from, to) {
        return Err(format!(
            "「{}」から「{}」には戻せません。進められる状態: {}",
            from.label_ja(),
            to.label_ja(),
            labels(&from.next_by_hand())
        ));
    }
    Ok(())
}

fn labels(list: &[Status]) -> String {
    list.iter()
        .map(|s| s.label_ja())
        .collect::<Vec<_>>()
        .join("・")
}

/// How a draft reaches its desk.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, sqlx::Type,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Channel {
    /// A mail the portal sends (Lenovo's desk takes mail with a subject tag).
    Mail,
    /// A call an operator makes with the call sheet, then records.
    Phone,
    /// A web form an operator fills in (Apresia), then records like a call.
    WebForm,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Mail, Channel::Phone, Channel::WebForm];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Mail => "mail",
            Channel::Phone => "phone",
            Channel::WebForm => "web_form",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            Channel::Mail => "メール",
            Channel::Phone => "電話",
            Channel::WebForm => "web申請フォーム",
        }
    }
}

/// What came of a recorded call (or a submitted web form).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, sqlx::Type,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum CallOutcome {
    /// The desk took the case (受付済).
    Accepted,
    /// The request was made; the desk calls back or answers later (依頼済).
    Callback,
    /// Nobody answered / busy: nothing was requested.
    NoAnswer,
    /// Anything else, said in the note (依頼済).
    Other,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 4] = [
        CallOutcome::Accepted,
        CallOutcome::Callback,
        CallOutcome::NoAnswer,
        CallOutcome::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Accepted => "accepted",
            CallOutcome::Callback => "callback",
            CallOutcome::NoAnswer => "no_answer",
            CallOutcome::Other => "other",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            CallOutcome::Accepted => "受付された",
            CallOutcome::Callback => "依頼した（折り返し・回答待ち）",
            CallOutcome::NoAnswer => "つながらなかった",
            CallOutcome::Other => "その他（メモに記載）",
        }
    }

    /// The status a call moves the case to from `from`, if any.
    pub fn moves(self, from: Status) -> Option<Status> {
        match (self, from) {
            (CallOutcome::NoAnswer, _) => None,
            (CallOutcome::Accepted, Status::Draft | Status::Requested) => Some(Status::Accepted),
            (CallOutcome::Callback | CallOutcome::Other, Status::Draft) => Some(Status::Requested),
            _ => None,
        }
    }
}

/// The desk id from its stored spelling.
pub fn desk_from_str(text: &str) -> Option<DeskId> {
    DeskId::ALL.into_iter().find(|d| d.as_str() == text)
}

/// One field error as the crate's error (HTTP 422, shown next to the field on pages).
pub fn field_error(field: &'static str, message: impl Into<String>) -> Error {
    let mut errors = FieldErrors::default();
    errors.add(field, message);
    Error::Fields(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_everywhere() {
        use clap::ValueEnum;
        for s in Status::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(s.to_possible_value().unwrap().get_name(), s.as_str());
        }
        for c in Channel::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        for o in CallOutcome::ALL {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
            assert_eq!(o.to_possible_value().unwrap().get_name(), o.as_str());
        }
        for d in DeskId::ALL {
            assert_eq!(desk_from_str(d.as_str()), Some(d));
        }
        assert_eq!(desk_from_str("lenovo"), None);
    }

    #[test]
    fn the_case_moves_forward_only_and_may_skip_steps() {
        use Status::*;
        assert!(check_transition(Requested, Accepted, false).is_ok());
        assert!(check_transition(Accepted, PartsOrdered, false).is_ok());
        assert!(check_transition(PartsOrdered, VisitScheduled, true).is_ok());
        assert!(check_transition(VisitScheduled, Done, true).is_ok());
        // On-site replacement: no parts step; a desk may fix it on the phone.
        assert!(check_transition(Accepted, VisitScheduled, true).is_ok());
        assert!(check_transition(Requested, Done, false).is_ok());
        // A visit moved to another day.
        assert!(check_transition(VisitScheduled, VisitScheduled, true).is_ok());
        // Backwards.
        let e = check_transition(PartsOrdered, Accepted, false).unwrap_err();
        assert!(e.contains("戻せません") && e.contains("訪問予定"), "{e}");
        assert!(check_transition(Accepted, Accepted, false).is_err());
        // 依頼済 only by sending or calling.
        assert!(check_transition(Draft, Requested, false).is_err());
        assert!(check_transition(Accepted, Requested, false).is_err());
        // A draft can only be cancelled by hand.
        assert!(check_transition(Draft, Accepted, false).is_err());
        assert!(check_transition(Draft, Cancelled, false).is_ok());
        // A visit needs its date.
        let e = check_transition(Accepted, VisitScheduled, false).unwrap_err();
        assert!(e.contains("visit_on"), "{e}");
        // Closed cases stay closed.
        for closed in [Done, Cancelled] {
            for to in Status::ALL {
                assert!(
                    check_transition(closed, to, true).is_err(),
                    "{closed:?}→{to:?}"
                );
            }
        }
        assert!(check_transition(Requested, Cancelled, false).is_ok());
        assert!(check_transition(VisitScheduled, Cancelled, true).is_ok());
    }

    #[test]
    fn next_by_hand_lists_the_allowed_moves() {
        assert_eq!(Status::Draft.next_by_hand(), vec![Status::Cancelled]);
        assert_eq!(
            Status::Requested.next_by_hand(),
            vec![
                Status::Accepted,
                Status::PartsOrdered,
                Status::VisitScheduled,
                Status::Done,
                Status::Cancelled
            ]
        );
        assert!(Status::Done.next_by_hand().is_empty());
        assert!(Status::Accepted.is_answered() && !Status::Requested.is_answered());
    }

    #[test]
    fn calls_move_the_case() {
        use CallOutcome::*;
        assert_eq!(Accepted.moves(Status::Draft), Some(Status::Accepted));
        assert_eq!(Callback.moves(Status::Draft), Some(Status::Requested));
        assert_eq!(NoAnswer.moves(Status::Draft), None);
        assert_eq!(Accepted.moves(Status::Requested), Some(Status::Accepted));
        assert_eq!(Callback.moves(Status::Requested), None);
        assert_eq!(Accepted.moves(Status::PartsOrdered), None);
    }
}
