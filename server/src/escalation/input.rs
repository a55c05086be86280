//! What operators send to change an escalation — an edited mail, a recorded call, a ticket or
//! status — and the checks every entry path (API, page, CLI) shares. Pure; errors are field
//! errors in Japanese.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::letter::{LENOVO_TAG, ONSHI_TAG};
use super::model::{CallOutcome, Status};
use crate::desk::DeskId;
use crate::error::FieldErrors;
use crate::text;

/// Longest subject, in characters.
pub const MAX_SUBJECT: usize = 200;
/// Longest mail body or call sheet, in characters (a long incident detail fits many times).
pub const MAX_BODY: usize = 20_000;
/// Longest note on a call or a status change.
pub const MAX_NOTE: usize = 4000;
/// Longest ticket number, person's name.
pub const MAX_SHORT: usize = 100;
/// A call recorded this long after it happened is refused (a typo in the date, most likely).
pub const MAX_CALL_AGE_DAYS: i64 = 31;

/// `PATCH …/escalations/{eid}`: any of these; `subject` and `body` only while a draft.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Patch {
    pub status: Option<Status>,
    pub ticket: Option<String>,
    pub visit_on: Option<NaiveDate>,
    pub subject: Option<String>,
    pub body: Option<String>,
    /// Said in the timeline with the change (e.g. 「部品は3/10着予定」).
    pub note: Option<String>,
}

impl Patch {
    pub fn is_empty(&self) -> bool {
        self == &Patch::default()
    }
}

/// `POST …/escalations/{eid}/record-call`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallInput {
    /// Who answered at the desk (name, or 「自動音声」).
    #[serde(default)]
    pub spoke_with: String,
    /// When the call was made; absent means now.
    #[serde(default)]
    pub at: Option<DateTime<FixedOffset>>,
    pub outcome: CallOutcome,
    /// The desk's ticket / reception number, if it gave one.
    #[serde(default)]
    pub ticket: String,
    #[serde(default)]
    pub note: String,
}

/// The subject a mail may carry: one line (a newline would start a new mail header), not too
/// long, and for Lenovo the tag the desk sorts by (guide 1-8-3).
pub fn check_subject(desk: DeskId, subject: &str, errors: &mut FieldErrors) {
    if subject.trim().is_empty() {
        errors.add("subject", "件名を入力してください");
    } else if subject.contains(['\r', '\n']) {
        errors.add(
            "subject",
            "件名に改行は使えません（メールのヘッダを書き換えられないように一行で入力してください）",
        );
    } else if let Err(m) = text::check_line("件名", subject, MAX_SUBJECT) {
        errors.add("subject", m);
    } else if desk == DeskId::LenovoPc
        && !subject.contains(LENOVO_TAG)
        && !subject.contains(ONSHI_TAG)
    {
        errors.add(
            "subject",
            format!("レノボPC 故障受付へのメールの件名には {LENOVO_TAG} または {ONSHI_TAG} を付けてください（ガイド 1-8-3）"),
        );
    }
}

pub fn check_body(body: &str, errors: &mut FieldErrors) {
    if body.trim().is_empty() {
        errors.add("body", "本文を入力してください");
    } else if let Err(m) = text::check_multiline("本文", body, MAX_BODY) {
        errors.add("body", m);
    }
}

fn check_short(field: &'static str, label: &str, value: &str, errors: &mut FieldErrors) {
    if let Err(m) = text::check_line(label, value, MAX_SHORT) {
        errors.add(field, m);
    }
}

fn check_note(value: &str, errors: &mut FieldErrors) {
    if let Err(m) = text::check_multiline("メモ", value, MAX_NOTE) {
        errors.add("note", m);
    }
}

impl CallInput {
    /// Trimmed copy with `at` filled in, or every problem at its field.
    pub fn checked(&self, now: DateTime<Utc>) -> Result<CallInput, FieldErrors> {
        let mut errors = FieldErrors::default();
        let spoke_with = self.spoke_with.trim().to_owned();
        let ticket = self.ticket.trim().to_owned();
        check_short("spoke_with", "応対者", &spoke_with, &mut errors);
        check_short("ticket", "受付番号", &ticket, &mut errors);
        check_note(&self.note, &mut errors);
        let at = self
            .at
            .unwrap_or_else(|| now.with_timezone(&crate::desk::JST));
        let at_utc = at.with_timezone(&Utc);
        // A few minutes of clock difference between the operator's PC and the server is fine.
        if at_utc > now + Duration::minutes(5) {
            errors.add(
                "at",
                "通話日時が未来になっています。実際に電話した日時を入力してください",
            );
        } else if at_utc < now - Duration::days(MAX_CALL_AGE_DAYS) {
            errors.add(
                "at",
                format!("通話日時が{MAX_CALL_AGE_DAYS}日以上前です。日付を確認してください"),
            );
        }
        if self.outcome == CallOutcome::NoAnswer && !ticket.is_empty() {
            errors.add("ticket", "つながらなかった電話に受付番号は記録できません");
        }
        errors.into_result()?;
        Ok(CallInput {
            spoke_with,
            at: Some(at),
            outcome: self.outcome,
            ticket,
            note: self.note.trim().to_owned(),
        })
    }
}

impl Patch {
    /// Checks the text of every field given (the status machine is checked against the row).
    pub fn check_fields(&self, desk: DeskId) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if let Some(subject) = &self.subject {
            check_subject(desk, subject, &mut errors);
        }
        if let Some(body) = &self.body {
            check_body(body, &mut errors);
        }
        if let Some(ticket) = &self.ticket {
            check_short("ticket", "受付番号", ticket.trim(), &mut errors);
        }
        if let Some(note) = &self.note {
            check_note(note, &mut errors);
        }
        errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(f: impl FnOnce(&mut FieldErrors)) -> FieldErrors {
        let mut e = FieldErrors::default();
        f(&mut e);
        e
    }

    #[test]
    fn a_subject_is_one_line_and_lenovo_needs_its_tag() {
        let ok = "【I026_01】【医療オンライン資格確認】機器故障連絡・問合せ（山田医院）";
        assert!(errors_of(|e| check_subject(DeskId::LenovoPc, ok, e)).is_empty());
        let injected = "【I026_01】故障\r\nBcc: everyone@example.com";
        let e = errors_of(|e| check_subject(DeskId::LenovoPc, injected, e));
        assert!(e.get("subject").unwrap().contains("改行"), "{e:?}");
        let e = errors_of(|e| check_subject(DeskId::LenovoPc, "PC故障", e));
        assert!(e.get("subject").unwrap().contains("【I026_01】"));
        // Either tag is enough (guide: 「上記または【I026_01】」).
        assert!(
            errors_of(|e| check_subject(DeskId::LenovoPc, "【医療オンライン資格確認】PC故障", e))
                .is_empty()
        );
        assert!(errors_of(|e| check_subject(DeskId::CardReaderMaker, "故障", e)).is_empty());
        let long = "あ".repeat(MAX_SUBJECT + 1);
        assert!(!errors_of(|e| check_subject(DeskId::SskOther, &long, e)).is_empty());
        assert!(!errors_of(|e| check_subject(DeskId::SskOther, " ", e)).is_empty());
    }

    #[test]
    fn a_huge_body_or_note_is_refused() {
        let huge = "x".repeat(10 * 1024 * 1024);
        let e = errors_of(|e| check_body(&huge, e));
        assert!(e.get("body").unwrap().contains("20000文字以内"), "{e:?}");
        let patch = Patch {
            note: Some(huge),
            ..Default::default()
        };
        assert!(
            patch
                .check_fields(DeskId::LenovoPc)
                .unwrap_err()
                .get("note")
                .is_some()
        );
        assert!(
            errors_of(|e| check_body("a\u{0}b", e))
                .get("body")
                .is_some()
        );
        assert!(errors_of(|e| check_body("一行目\n二行目", e)).is_empty());
    }

    #[test]
    fn a_call_is_in_the_past_month_and_unanswered_calls_have_no_ticket() {
        let now: DateTime<Utc> = "2026-03-02T02:00:00Z".parse().unwrap();
        let call = CallInput {
            spoke_with: " 佐藤様 ".into(),
            at: None,
            outcome: CallOutcome::Accepted,
            ticket: " A-123 ".into(),
            note: String::new(),
        };
        let checked = call.checked(now).unwrap();
        assert_eq!(checked.spoke_with, "佐藤様");
        assert_eq!(checked.ticket, "A-123");
        assert_eq!(checked.at.unwrap().with_timezone(&Utc), now);
        let future = CallInput {
            at: Some("2026-03-02T12:00:00+09:00".parse().unwrap()),
            ..call.clone()
        };
        assert!(
            future
                .checked(now)
                .unwrap_err()
                .get("at")
                .unwrap()
                .contains("未来")
        );
        let old = CallInput {
            at: Some("2026-01-01T12:00:00+09:00".parse().unwrap()),
            ..call.clone()
        };
        assert!(old.checked(now).is_err());
        let no_answer = CallInput {
            outcome: CallOutcome::NoAnswer,
            ..call
        };
        assert!(no_answer.checked(now).unwrap_err().get("ticket").is_some());
        assert!(Patch::default().is_empty());
    }
}
