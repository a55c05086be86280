//! Opening hours of a desk and the answer to "is it open at instant T, until when, and if not,
//! why and when does it next open".
//!
//! Definitions (also in docs/desk-routing.md):
//! - `next_open`: the first instant ≥ `at` at which the desk is open (`at` itself when open now).
//! - `closes_at`: the end of the open interval that holds `next_open`, i.e.
//!   `[next_open, closes_at)` is open and `closes_at` is not. Intervals that touch (17:00
//!   end / 17:00 start, or 24:00 / 0:00 across midnight) are merged. When the desk is closed at
//!   `at` we still give the end of the *next* interval, so an operator sees "opens 9:00, until
//!   17:30" in one answer.
//! - Both are `None` for a desk open around the clock (`Hours::AlwaysOpen`) and for a desk whose
//!   hours are not published (`Hours::Unpublished`), and `next_open` is `None` if nothing opens
//!   within [`MAX_SCAN_DAYS`] days.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Timelike};
use serde::{Deserialize, Serialize};

use super::calendar::{self, DayKind};

mod describe;
mod span;
pub use span::{Span, SpanParseError};

/// Japan Standard Time, +09:00. Asia/Tokyo has had no daylight saving time since 1951, so a
/// fixed offset is exact for every instant we deal with and no tz database is needed.
pub const JST: FixedOffset = match FixedOffset::east_opt(9 * 3600) {
    Some(offset) => offset,
    None => panic!("+09:00 is a valid offset"),
};

/// How far ahead `next_open` looks before giving up (a weekly schedule that is open only on
/// holidays opens within a year).
pub const MAX_SCAN_DAYS: u32 = 400;

/// Why a desk is closed at an instant. Priority when several apply:
/// `year_end` > `no_published_hours` > `holiday` > `weekend` > `outside_hours`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedReason {
    /// Saturday or Sunday on which the desk takes no calls.
    Weekend,
    /// A national holiday on which the desk takes no calls (the name is given alongside).
    Holiday,
    /// Inside the desk's 年末年始 closure.
    YearEnd,
    /// The desk has hours that day, but not at this time.
    OutsideHours,
    /// No hours are published for this day (ssk-system days 1–4) or at all (a contract or maker
    /// whose hours we do not have).
    NoPublishedHours,
}

impl ClosedReason {
    /// Short Japanese label for operator-facing text.
    pub fn label_ja(self) -> &'static str {
        match self {
            ClosedReason::Weekend => "土日のため休み",
            ClosedReason::Holiday => "祝日のため休み",
            ClosedReason::YearEnd => "年末年始休み",
            ClosedReason::OutsideHours => "受付時間外",
            ClosedReason::NoPublishedHours => "受付時間の公表なし",
        }
    }
}

/// A 年末年始 closure period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum YearEndClosure {
    /// 12/29–1/3.
    #[serde(rename = "dec29-jan3")]
    Dec29ToJan3,
    /// 12/29–1/4.
    #[serde(rename = "dec29-jan4")]
    Dec29ToJan4,
}

impl YearEndClosure {
    /// True when `date` falls inside the closure.
    pub fn contains(self, date: NaiveDate) -> bool {
        let last_jan_day = match self {
            YearEndClosure::Dec29ToJan3 => 3,
            YearEndClosure::Dec29ToJan4 => 4,
        };
        (date.month() == 12 && date.day() >= 29)
            || (date.month() == 1 && date.day() <= last_jan_day)
    }

    /// "12/29〜1/3" or "12/29〜1/4".
    pub fn label(self) -> &'static str {
        match self {
            YearEndClosure::Dec29ToJan3 => "12/29〜1/3",
            YearEndClosure::Dec29ToJan4 => "12/29〜1/4",
        }
    }
}

/// Opening spans of one day; empty means closed that day.
pub type Spans = Cow<'static, [Span]>;

/// Hours that depend on the kind of day: 平日, Saturday, Sunday, national holiday. Used for the
/// fixed desks and for site-specific contract / maker / vendor hours read from the database
/// (spans serialize as `"09:00-17:00"`; a missing list means closed that day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklyHours {
    /// 平日: Monday–Friday that is not a national holiday.
    #[serde(default)]
    pub weekday: Spans,
    /// Saturday that is not a national holiday.
    #[serde(default)]
    pub saturday: Spans,
    /// Sunday that is not a national holiday.
    #[serde(default)]
    pub sunday: Spans,
    /// National holidays (incl. 振替休日 and 国民の休日), whatever the weekday.
    #[serde(default)]
    pub holiday: Spans,
    /// 年末年始 closure, if any.
    #[serde(default)]
    pub year_end: Option<YearEndClosure>,
}

/// One band of days of the month in a 支払基金 schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthBand {
    /// First day of the month of the band (1-based, inclusive).
    pub first: u32,
    /// Last day of the band (inclusive; 31 means "to the end of the month").
    pub last: u32,
    /// What the desk does on those days.
    pub rule: BandRule,
}

/// Hours within a [`MonthBand`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandRule {
    /// 休日を含む: these spans every day, weekends and holidays included.
    EveryDay(&'static [Span]),
    /// 休日を除く: these spans on 平日 only.
    HeijitsuOnly(&'static [Span]),
    /// No hours published for these days: treated as closed.
    Unpublished,
}

/// Hours that depend on the day of the month (支払基金 オンライン請求 desks, guide 2-8-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthlyHours {
    /// Bands covering days 1–31.
    pub bands: &'static [MonthBand],
    /// 年末年始 closure.
    pub year_end: YearEndClosure,
}

/// When a desk takes calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hours {
    /// Around the clock, every day (flets-113 reception, a web form).
    AlwaysOpen,
    /// By kind of day.
    Weekly(WeeklyHours),
    /// By day of the month.
    Monthly(MonthlyHours),
    /// Not published / not known: never counted as open.
    Unpublished,
}

/// The state of a desk at an instant. See the module docs for the definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenState {
    pub open: bool,
    pub closes_at: Option<DateTime<FixedOffset>>,
    pub next_open: Option<DateTime<FixedOffset>>,
    pub closed_reason: Option<ClosedReason>,
    /// Name of the national holiday on the JST date of the instant, whether or not it is the
    /// reason for a closure (it is when `closed_reason` is `holiday`).
    pub holiday: Option<&'static str>,
}

/// What a desk does on one date.
enum DayPlan<'a> {
    /// Open during these spans (the day may still be outside them).
    Spans(&'a [Span]),
    /// Closed all day.
    Closed(ClosedReason),
}

impl Hours {
    /// The 年末年始 closure, if the hours have one.
    pub fn year_end(&self) -> Option<YearEndClosure> {
        match self {
            Hours::Weekly(weekly) => weekly.year_end,
            Hours::Monthly(monthly) => Some(monthly.year_end),
            Hours::AlwaysOpen | Hours::Unpublished => None,
        }
    }

    /// Is the desk taking calls at `at`?
    pub fn is_open(&self, at: DateTime<FixedOffset>) -> bool {
        match self {
            Hours::AlwaysOpen => true,
            Hours::Unpublished => false,
            _ => {
                let (date, minute) = local(at);
                match self.plan(date) {
                    DayPlan::Spans(spans) => containing(spans, minute).is_some(),
                    DayPlan::Closed(_) => false,
                }
            }
        }
    }

    /// Open / closes_at / next_open / closed_reason at `at` (any offset; evaluated in JST).
    pub fn state(&self, at: DateTime<FixedOffset>) -> OpenState {
        let at = at.with_timezone(&JST);
        let (date, minute) = local(at);
        let holiday = calendar::holiday_name(date);
        let mut state = OpenState {
            open: false,
            closes_at: None,
            next_open: None,
            closed_reason: None,
            holiday,
        };
        match self {
            Hours::AlwaysOpen => state.open = true,
            Hours::Unpublished => state.closed_reason = Some(ClosedReason::NoPublishedHours),
            _ => {
                let plan = self.plan(date);
                let current = match &plan {
                    DayPlan::Spans(spans) => containing(spans, minute),
                    DayPlan::Closed(_) => None,
                };
                if let Some(span) = current {
                    state.open = true;
                    state.next_open = Some(at);
                    state.closes_at = self.run_end(date, span.end_minute());
                } else {
                    state.closed_reason = Some(match plan {
                        DayPlan::Closed(reason) => reason,
                        DayPlan::Spans(_) => ClosedReason::OutsideHours,
                    });
                    if let Some((open_date, span)) = self.next_span(date, minute) {
                        state.next_open = at_minute(open_date, span.start_minute());
                        state.closes_at = self.run_end(open_date, span.end_minute());
                    }
                }
            }
        }
        state
    }

    /// The plan for one date: closures first (year end, unpublished), then the kind of day.
    fn plan(&self, date: NaiveDate) -> DayPlan<'_> {
        match self {
            Hours::AlwaysOpen => DayPlan::Spans(&FULL_DAY),
            Hours::Unpublished => DayPlan::Closed(ClosedReason::NoPublishedHours),
            Hours::Weekly(weekly) => {
                if weekly.year_end.is_some_and(|y| y.contains(date)) {
                    return DayPlan::Closed(ClosedReason::YearEnd);
                }
                let kind = calendar::day_kind(date);
                let spans: &[Span] = match kind {
                    DayKind::Weekday => &weekly.weekday,
                    DayKind::Saturday => &weekly.saturday,
                    DayKind::Sunday => &weekly.sunday,
                    DayKind::Holiday(_) => &weekly.holiday,
                };
                if spans.is_empty() {
                    DayPlan::Closed(closed_kind(kind))
                } else {
                    DayPlan::Spans(spans)
                }
            }
            Hours::Monthly(monthly) => {
                if monthly.year_end.contains(date) {
                    return DayPlan::Closed(ClosedReason::YearEnd);
                }
                let day = date.day();
                let band = monthly
                    .bands
                    .iter()
                    .find(|b| b.first <= day && day <= b.last);
                match band.map(|b| b.rule) {
                    Some(BandRule::EveryDay(spans)) => DayPlan::Spans(spans),
                    Some(BandRule::HeijitsuOnly(spans)) => match calendar::day_kind(date) {
                        DayKind::Weekday => DayPlan::Spans(spans),
                        kind => DayPlan::Closed(closed_kind(kind)),
                    },
                    Some(BandRule::Unpublished) | None => {
                        DayPlan::Closed(ClosedReason::NoPublishedHours)
                    }
                }
            }
        }
    }

    /// First span starting after `minute` on `date`, else the first span of a later day.
    fn next_span(&self, date: NaiveDate, minute: u32) -> Option<(NaiveDate, Span)> {
        let later_today = match self.plan(date) {
            DayPlan::Spans(spans) => earliest(spans.iter().filter(|s| s.start_minute() > minute)),
            DayPlan::Closed(_) => None,
        };
        if let Some(span) = later_today {
            return Some((date, span));
        }
        let mut day = date;
        for _ in 0..MAX_SCAN_DAYS {
            day = day.succ_opt()?;
            if let DayPlan::Spans(spans) = self.plan(day)
                && let Some(span) = earliest(spans.iter())
            {
                return Some((day, span));
            }
        }
        None
    }

    /// End of the open run that reaches `end_minute` on `date`, merging touching spans and
    /// runs that continue past midnight. `None` if it never ends within the scan window.
    fn run_end(&self, mut date: NaiveDate, mut end_minute: u32) -> Option<DateTime<FixedOffset>> {
        for _ in 0..(MAX_SCAN_DAYS * 4) {
            if end_minute >= Span::DAY_MINUTES {
                date = date.succ_opt()?;
                end_minute = 0;
            }
            let next = match self.plan(date) {
                DayPlan::Spans(spans) => containing(spans, end_minute),
                DayPlan::Closed(_) => None,
            };
            match next {
                Some(span) => end_minute = span.end_minute(),
                None => return at_minute(date, end_minute),
            }
        }
        None
    }
}

const FULL_DAY: [Span; 1] = [Span::hm(0, 0, 24, 0)];

/// The reason a whole day is closed because of its kind.
fn closed_kind(kind: DayKind) -> ClosedReason {
    match kind {
        DayKind::Holiday(_) => ClosedReason::Holiday,
        DayKind::Saturday | DayKind::Sunday => ClosedReason::Weekend,
        DayKind::Weekday => ClosedReason::OutsideHours,
    }
}

/// The span containing `minute` that lasts longest.
fn containing(spans: &[Span], minute: u32) -> Option<Span> {
    spans
        .iter()
        .filter(|s| s.contains_minute(minute))
        .max_by_key(|s| s.end_minute())
        .copied()
}

fn earliest<'a>(spans: impl Iterator<Item = &'a Span>) -> Option<Span> {
    spans.min_by_key(|s| s.start_minute()).copied()
}

/// JST date and minute of day of `at`. Boundaries are whole minutes, so truncating seconds
/// keeps every comparison exact (16:59:59 is minute 1019, inside a span ending at 1020).
fn local(at: DateTime<FixedOffset>) -> (NaiveDate, u32) {
    let t = at.with_timezone(&JST).naive_local();
    (t.date(), t.hour() * 60 + t.minute())
}

/// The JST instant at `minute` (0..=1440) of `date`.
fn at_minute(date: NaiveDate, minute: u32) -> Option<DateTime<FixedOffset>> {
    let midnight = date.and_hms_opt(0, 0, 0)?;
    let naive = midnight + Duration::minutes(i64::from(minute));
    JST.from_local_datetime(&naive).single()
}

#[cfg(test)]
mod tests;
