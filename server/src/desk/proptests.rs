//! Properties of `open` / `next_open` / `closes_at` for every desk (and two contract shapes),
//! at random instants 1990–2099, checked minute by minute against `is_open`:
//! - `next_open` is open, and nothing in `[at, next_open)` is;
//! - `[next_open, closes_at)` is open, and `closes_at` is not (the end of the interval);
//! - the closed reason agrees with the calendar.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Timelike, Weekday};
use proptest::prelude::*;

use super::calendar;
use super::directory::{DeskId, desk};
use super::hours::{ClosedReason, Hours, JST, Span, WeeklyHours, YearEndClosure};

const LUNCH: &[Span] = &[Span::hm(9, 0, 12, 0), Span::hm(13, 0, 18, 0)];
const MORNING: &[Span] = &[Span::hm(9, 0, 12, 0)];
const ALL_DAY: &[Span] = &[Span::hm(0, 0, 24, 0)];
const EVENING: &[Span] = &[Span::hm(20, 0, 24, 0)];

/// The fixed desks plus contract-like weekly hours (lunch break; runs across midnight).
fn all_hours() -> Vec<(String, Hours)> {
    let mut out: Vec<(String, Hours)> = DeskId::ALL
        .iter()
        .map(|&id| (id.to_string(), desk(id).hours.clone()))
        .collect();
    out.push((
        "contract-lunch".into(),
        Hours::Weekly(WeeklyHours {
            weekday: Cow::Borrowed(LUNCH),
            saturday: Cow::Borrowed(MORNING),
            sunday: Cow::Borrowed(&[]),
            holiday: Cow::Borrowed(&[]),
            year_end: Some(YearEndClosure::Dec29ToJan4),
        }),
    ));
    out.push((
        "contract-nights".into(),
        Hours::Weekly(WeeklyHours {
            weekday: Cow::Borrowed(ALL_DAY),
            saturday: Cow::Borrowed(EVENING),
            sunday: Cow::Borrowed(&[]),
            holiday: Cow::Borrowed(MORNING),
            year_end: None,
        }),
    ));
    out
}

/// Instants `at`, then every whole minute after it, strictly before `end`.
fn minutes(
    at: DateTime<FixedOffset>,
    end: DateTime<FixedOffset>,
) -> impl Iterator<Item = DateTime<FixedOffset>> {
    let first_whole = at
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap()
        + Duration::minutes(1);
    std::iter::once(at)
        .chain((0..).map(move |i| first_whole + Duration::minutes(i)))
        .take_while(move |t| *t < end)
}

/// Minutes of the day next to every opening and closing in the directory and the contracts.
const EDGES: &[u32] = &[
    0, 1, 479, 480, 481, 539, 540, 541, 719, 720, 721, 779, 780, 781, 959, 960, 961, 1019, 1020,
    1021, 1049, 1050, 1051, 1079, 1080, 1081, 1199, 1200, 1201, 1259, 1260, 1261, 1438, 1439,
];

fn instant() -> impl Strategy<Value = DateTime<FixedOffset>> {
    let start = JST.with_ymd_and_hms(1990, 1, 1, 0, 0, 0).unwrap();
    let days = (JST.with_ymd_and_hms(2099, 12, 20, 0, 0, 0).unwrap() - start).num_days();
    let anywhere = (0..days * 86_400).prop_map(move |s| start + Duration::seconds(s));
    // Whole minutes next to a boundary, where off-by-one mistakes live.
    let edge = (0..days, proptest::sample::select(EDGES))
        .prop_map(move |(d, m)| start + Duration::days(d) + Duration::minutes(i64::from(m)));
    prop_oneof![anywhere, edge]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn next_open_and_closes_at_bound_the_open_interval(which in 0usize..16, at in instant()) {
        let desks = all_hours();
        let (name, hours) = &desks[which % desks.len()];
        let s = hours.state(at);
        prop_assert_eq!(s.open, hours.is_open(at), "{} {}", name, at);
        prop_assert_eq!(s.open, s.closed_reason.is_none());
        match (s.next_open, hours) {
            (None, Hours::AlwaysOpen) => prop_assert!(s.open && s.closes_at.is_none()),
            (None, Hours::Unpublished) => prop_assert!(!s.open && s.closes_at.is_none()),
            (None, _) => prop_assert!(false, "{} {}: no next_open", name, at),
            (Some(next), _) => {
                prop_assert!(next >= at);
                prop_assert_eq!(s.open, next == at);
                prop_assert!(hours.is_open(next), "{} {}: next_open {} is closed", name, at, next);
                for t in minutes(at, next) {
                    prop_assert!(!hours.is_open(t), "{} {}: open at {} before next_open {}", name, at, t, next);
                }
                let closes = s.closes_at;
                prop_assert!(closes.is_some(), "{} {}: no closes_at", name, at);
                let closes = closes.unwrap();
                prop_assert!(closes > next);
                prop_assert!(!hours.is_open(closes), "{} {}: still open at closes_at {}", name, at, closes);
                prop_assert!(hours.is_open(closes - Duration::seconds(1)));
                for t in minutes(next, closes) {
                    prop_assert!(hours.is_open(t), "{} {}: closed at {} before closes_at {}", name, at, t, closes);
                }
            }
        }
    }

    #[test]
    fn closed_reason_agrees_with_the_calendar(which in 0usize..16, at in instant()) {
        let desks = all_hours();
        let (name, hours) = &desks[which % desks.len()];
        let s = hours.state(at);
        let date = at.with_timezone(&JST).date_naive();
        prop_assert_eq!(s.holiday, calendar::holiday_name(date));
        let in_year_end = (date.month() == 12 && date.day() >= 29) || (date.month() == 1 && date.day() <= 4);
        match s.closed_reason {
            Some(ClosedReason::Holiday) => prop_assert!(s.holiday.is_some(), "{} {}", name, at),
            Some(ClosedReason::Weekend) => {
                prop_assert!(matches!(date.weekday(), Weekday::Sat | Weekday::Sun));
                prop_assert!(s.holiday.is_none());
            }
            Some(ClosedReason::YearEnd) => prop_assert!(in_year_end, "{} {}", name, at),
            _ => {}
        }
        if let Some(y) = hours.year_end() {
            prop_assert_eq!(y.contains(date), s.closed_reason == Some(ClosedReason::YearEnd));
        }
    }
}

#[test]
fn minutes_helper_steps_on_whole_minutes() {
    let at = DateTime::parse_from_rfc3339("2026-05-08T08:58:30+09:00").unwrap();
    let end = DateTime::parse_from_rfc3339("2026-05-08T09:01:00+09:00").unwrap();
    let got: Vec<String> = minutes(at, end)
        .map(|t| t.format("%H:%M:%S").to_string())
        .collect();
    assert_eq!(got, ["08:58:30", "08:59:00", "09:00:00"]);
    assert_eq!(
        NaiveDate::from_ymd_opt(2026, 5, 8).unwrap().weekday(),
        Weekday::Fri
    );
}
