//! When a desk should have answered, and the reminders operators get when it has not. Pure:
//! computed from the desk's hours (`desk::Hours`, with the national calendar) and `now`.
//!
//! The rule (issue 12): a request not answered within its desk's **next business day** is
//! followed up. The next business day is the first day after the day of the request on which
//! the desk takes calls; the answer is due when the desk closes that day. So a mail to Lenovo
//! on Friday is due Monday 17:00, or Tuesday 17:00 when Monday is a holiday.

use std::borrow::Cow;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use super::model::Status;
use crate::desk::{Hours, JST, Span, WeeklyHours, YearEndClosure};

/// What the due instant was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DueBasis {
    /// The desk's published (or recorded) hours.
    DeskHours,
    /// No hours are known (a contract or maker without recorded hours): 平日 9:00–17:00 is
    /// assumed, and the page says so.
    Assumed,
    /// The desk takes requests around the clock (a web form, 113): the end of the next day.
    AroundTheClock,
}

impl DueBasis {
    pub fn note_ja(self) -> &'static str {
        match self {
            DueBasis::DeskHours => "窓口の受付時間から計算",
            DueBasis::Assumed => "受付時間が未登録のため平日 9:00〜17:00 として計算",
            DueBasis::AroundTheClock => "24時間受付のため翌日の終わりまで",
        }
    }
}

/// The instant by which the desk should have answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Due {
    pub at: DateTime<FixedOffset>,
    pub basis: DueBasis,
}

/// Hours assumed for a desk whose own are not known.
fn assumed_hours() -> Hours {
    const NINE_TO_FIVE: &[Span] = &[Span::hm(9, 0, 17, 0)];
    Hours::Weekly(WeeklyHours {
        weekday: Cow::Borrowed(NINE_TO_FIVE),
        saturday: Cow::Borrowed(&[]),
        sunday: Cow::Borrowed(&[]),
        holiday: Cow::Borrowed(&[]),
        year_end: Some(YearEndClosure::Dec29ToJan3),
    })
}

fn midnight(date: NaiveDate) -> Option<DateTime<FixedOffset>> {
    JST.from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
        .single()
}

/// When a request made at `requested` to a desk with `hours` should have been answered.
pub fn answer_due(hours: &Hours, requested: DateTime<FixedOffset>) -> Due {
    let day = requested.with_timezone(&JST).date_naive();
    let fallback = || Due {
        at: requested + Duration::days(1),
        basis: DueBasis::AroundTheClock,
    };
    match hours {
        Hours::AlwaysOpen => day
            .checked_add_days(chrono::Days::new(2))
            .and_then(midnight)
            .map(|at| Due {
                at,
                basis: DueBasis::AroundTheClock,
            })
            .unwrap_or_else(fallback),
        Hours::Unpublished => end_of_next_business_day(&assumed_hours(), day)
            .map(|at| Due {
                at,
                basis: DueBasis::Assumed,
            })
            .unwrap_or_else(fallback),
        Hours::Weekly(_) | Hours::Monthly(_) => end_of_next_business_day(hours, day)
            .map(|at| Due {
                at,
                basis: DueBasis::DeskHours,
            })
            .unwrap_or_else(fallback),
    }
}

/// The closing time of the first day after `day` on which the desk opens (the end of the last
/// open run that starts that day: 9:00–12:00 and 13:00–17:00 give 17:00).
fn end_of_next_business_day(hours: &Hours, day: NaiveDate) -> Option<DateTime<FixedOffset>> {
    let start = midnight(day.succ_opt()?)?;
    let state = hours.state(start);
    let opens = state.next_open?;
    let business_day = opens.date_naive();
    let mut end = state.closes_at?;
    // A day with a lunch break has several runs; follow them to the day's last.
    for _ in 0..48 {
        let later = hours.state(end);
        match (later.next_open, later.closes_at) {
            (Some(next), Some(closes)) if next.date_naive() == business_day && closes > end => {
                end = closes;
            }
            _ => break,
        }
    }
    Some(end)
}

/// A follow-up the operators owe the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Reminder {
    /// 依頼済 and no answer (no ticket, no 受付済) by the due instant.
    NoAnswer { due_at: DateTime<Utc> },
    /// 訪問予定 and the visit day is over without 完了.
    VisitPassed { visit_on: NaiveDate },
}

impl Reminder {
    /// Identifies the reminder so that each is raised once (`escalations.reminder_key`).
    pub fn key(&self) -> String {
        match self {
            Reminder::NoAnswer { .. } => "no_answer".into(),
            Reminder::VisitPassed { visit_on } => format!("visit:{visit_on}"),
        }
    }

    /// What the operator should do, in Japanese.
    pub fn message_ja(&self, desk_name: &str) -> String {
        match self {
            Reminder::NoAnswer { due_at } => format!(
                "{desk_name} から回答がありません（回答期限 {}）。窓口に電話で状況を確認し、受付番号を記録してください",
                due_at.with_timezone(&JST).format("%Y-%m-%d %H:%M")
            ),
            Reminder::VisitPassed { visit_on } => format!(
                "訪問予定日（{visit_on}）を過ぎましたが完了になっていません。{desk_name} と施設に結果を確認してください"
            ),
        }
    }
}

/// What the reminder check needs of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracking {
    pub status: Status,
    pub due_at: Option<DateTime<Utc>>,
    /// A ticket number was recorded or the status passed 依頼済.
    pub answered: bool,
    pub visit_on: Option<NaiveDate>,
}

/// The reminder the case needs at `now`, if any.
pub fn reminder(t: &Tracking, now: DateTime<Utc>) -> Option<Reminder> {
    match t.status {
        Status::Requested if !t.answered => t
            .due_at
            .filter(|due| now >= *due)
            .map(|due_at| Reminder::NoAnswer { due_at }),
        Status::VisitScheduled => {
            let today = now.with_timezone(&JST).date_naive();
            t.visit_on
                .filter(|day| *day < today)
                .map(|visit_on| Reminder::VisitPassed { visit_on })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::directory::desk;
    use crate::desk::{DeskId, Hours};

    fn t(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(&format!("{text}:00+09:00")).unwrap()
    }

    fn due(id: DeskId, at: &str) -> Due {
        answer_due(&desk(id).hours, t(at))
    }

    #[test]
    fn a_friday_request_is_due_when_the_desk_closes_on_monday() {
        // 2026-03-06 is a Friday; Lenovo is open 平日 9:00–17:00.
        let d = due(DeskId::LenovoPc, "2026-03-06T10:00");
        assert_eq!(d.at, t("2026-03-09T17:00"));
        assert_eq!(d.basis, DueBasis::DeskHours);
        // Saturday and Sunday requests: the next business day is Monday too.
        assert_eq!(
            due(DeskId::LenovoPc, "2026-03-07T11:00").at,
            t("2026-03-09T17:00")
        );
        assert_eq!(
            due(DeskId::LenovoPc, "2026-03-08T23:59").at,
            t("2026-03-09T17:00")
        );
        // A Monday request, before opening or after closing: Tuesday.
        assert_eq!(
            due(DeskId::LenovoPc, "2026-03-09T07:00").at,
            t("2026-03-10T17:00")
        );
        assert_eq!(
            due(DeskId::LenovoPc, "2026-03-09T18:30").at,
            t("2026-03-10T17:00")
        );
        // Allied closes at 17:30.
        assert_eq!(
            due(DeskId::AlliedRouter, "2026-03-06T16:00").at,
            t("2026-03-09T17:30")
        );
    }

    #[test]
    fn holidays_and_the_year_end_push_the_due_day() {
        // 2026-05-01 (Fri) → 5/2 Sat, 5/3–5/6 holidays (憲法記念日, みどりの日, こどもの日,
        // 振替休日) → Thursday 5/7.
        assert_eq!(
            due(DeskId::LenovoPc, "2026-05-01T10:00").at,
            t("2026-05-07T17:00")
        );
        // Friday 2026-01-09 → Monday 1/12 is 成人の日 → Tuesday 1/13.
        assert_eq!(
            due(DeskId::YamahaRouter, "2026-01-09T10:00").at,
            t("2026-01-13T17:00")
        );
        // 12/28 (Mon) → closed 12/29–1/3 (Allied) → 1/4 (Mon).
        assert_eq!(
            due(DeskId::AlliedRouter, "2026-12-28T10:00").at,
            t("2027-01-04T17:30")
        );
        // YAMAHA is closed until 1/4 → 1/5.
        assert_eq!(
            due(DeskId::YamahaRouter, "2026-12-28T10:00").at,
            t("2027-01-05T17:00")
        );
    }

    #[test]
    fn a_lunch_break_is_not_the_end_of_the_day() {
        // ssk-other: 9–12 and 13–17 on 平日.
        assert_eq!(
            due(DeskId::SskOther, "2026-03-06T10:00").at,
            t("2026-03-09T17:00")
        );
        // The call center is open on Saturday 8–16: a Friday request is due Saturday 16:00.
        assert_eq!(
            due(DeskId::OnshiCallCenter, "2026-03-06T10:00").at,
            t("2026-03-07T16:00")
        );
    }

    #[test]
    fn monthly_hours_count_their_weekend_days() {
        // ssk-network is open 8–21 every day on days 5–7: a request on Friday the 5th
        // (2026-06-05) is due Saturday the 6th at 21:00.
        assert_eq!(
            due(DeskId::SskNetwork, "2026-06-05T10:00").at,
            t("2026-06-06T21:00")
        );
        // 8–24 on days 8–10: due at midnight.
        assert_eq!(
            due(DeskId::SskNetwork, "2026-06-08T10:00").at,
            t("2026-06-10T00:00")
        );
    }

    #[test]
    fn unknown_hours_assume_weekdays_and_web_forms_the_next_day() {
        let d = answer_due(&Hours::Unpublished, t("2026-03-06T10:00"));
        assert_eq!((d.at, d.basis), (t("2026-03-09T17:00"), DueBasis::Assumed));
        let d = due(DeskId::ApresiaHub, "2026-03-06T10:00");
        assert_eq!(
            (d.at, d.basis),
            (t("2026-03-08T00:00"), DueBasis::AroundTheClock)
        );
        assert!(DueBasis::Assumed.note_ja().contains("平日"));
    }

    #[test]
    fn reminders_come_once_the_vendor_is_late() {
        let due_at = t("2026-03-09T17:00").with_timezone(&Utc);
        let waiting = Tracking {
            status: Status::Requested,
            due_at: Some(due_at),
            answered: false,
            visit_on: None,
        };
        let before = t("2026-03-09T16:59").with_timezone(&Utc);
        let after = t("2026-03-09T17:00").with_timezone(&Utc);
        assert_eq!(reminder(&waiting, before), None);
        let r = reminder(&waiting, after).unwrap();
        assert_eq!(r, Reminder::NoAnswer { due_at });
        assert_eq!(r.key(), "no_answer");
        let text = r.message_ja("レノボPC 故障受付");
        assert!(
            text.contains("2026-03-09 17:00") && text.contains("電話"),
            "{text}"
        );
        // A ticket number is an answer.
        let answered = Tracking {
            answered: true,
            ..waiting
        };
        assert_eq!(reminder(&answered, after), None);
        for status in [
            Status::Draft,
            Status::Accepted,
            Status::Done,
            Status::Cancelled,
        ] {
            assert_eq!(reminder(&Tracking { status, ..waiting }, after), None);
        }
    }

    #[test]
    fn a_visit_day_that_passed_without_completion_is_followed_up() {
        let visit = Tracking {
            status: Status::VisitScheduled,
            due_at: None,
            answered: true,
            visit_on: NaiveDate::from_ymd_opt(2026, 3, 10),
        };
        assert_eq!(
            reminder(&visit, t("2026-03-10T23:59").with_timezone(&Utc)),
            None
        );
        let r = reminder(&visit, t("2026-03-11T00:00").with_timezone(&Utc)).unwrap();
        assert_eq!(r.key(), "visit:2026-03-10");
        assert!(r.message_ja("YAMAHA").contains("2026-03-10"));
        let done = Tracking {
            status: Status::Done,
            ..visit
        };
        assert_eq!(
            reminder(&done, t("2026-03-12T00:00").with_timezone(&Utc)),
            None
        );
    }
}
