//! The minute before and after every opening and closing of every desk, the year-end
//! boundaries of both closure kinds, the 支払基金 month bands (incl. 8–24 closing at midnight),
//! month ends and leap years.

use super::super::directory::{DeskId, desk};
use super::*;
use ClosedReason::{Holiday, NoPublishedHours, Weekend, YearEnd};
use DeskId::*;

/// "2026-05-08T16:59" (JST, seconds 00).
fn t(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(&format!("{text}:00+09:00")).unwrap()
}

/// Checks `id` against cases written one per line, all times JST to the minute:
/// - `"AT open CLOSES"`: open at AT, the open run ends at CLOSES (`-`: around the clock);
/// - `"AT REASON NEXT CLOSES"`: closed at AT for REASON (the JSON spelling), next opening
///   interval `[NEXT, CLOSES)`.
#[track_caller]
fn check(id: DeskId, cases: &[&str]) {
    let hours = &desk(id).hours;
    for case in cases {
        let fields: Vec<&str> = case.split_whitespace().collect();
        let s = hours.state(t(fields[0]));
        assert_eq!(s.open, hours.is_open(t(fields[0])), "{id} {case}");
        if fields[1] == "open" {
            assert!(s.open, "{id} {case}: closed ({:?})", s.closed_reason);
            assert_eq!(s.closed_reason, None, "{id} {case}");
            let (next, closes) = match fields[2] {
                "-" => (None, None),
                closes => (Some(t(fields[0])), Some(t(closes))),
            };
            assert_eq!(s.next_open, next, "{id} {case}: next_open");
            assert_eq!(s.closes_at, closes, "{id} {case}: closes_at");
        } else {
            let reason: ClosedReason =
                serde_json::from_value(serde_json::Value::from(fields[1])).unwrap();
            assert!(!s.open, "{id} {case}: open");
            assert_eq!(s.closed_reason, Some(reason), "{id} {case}: reason");
            assert_eq!(s.next_open, Some(t(fields[2])), "{id} {case}: next_open");
            assert_eq!(s.closes_at, Some(t(fields[3])), "{id} {case}: closes_at");
        }
    }
}

#[test]
fn onshi_call_center_weekdays_saturdays_sundays_holidays() {
    check(
        OnshiCallCenter,
        &[
            "2026-05-08T07:59 outside_hours 2026-05-08T08:00 2026-05-08T18:00",
            "2026-05-08T08:00 open 2026-05-08T18:00",
            "2026-05-08T17:59 open 2026-05-08T18:00",
            "2026-05-08T18:00 outside_hours 2026-05-09T08:00 2026-05-09T16:00",
            "2026-05-09T07:59 outside_hours 2026-05-09T08:00 2026-05-09T16:00",
            "2026-05-09T08:00 open 2026-05-09T16:00",
            "2026-05-09T15:59 open 2026-05-09T16:00",
            "2026-05-09T16:00 outside_hours 2026-05-11T08:00 2026-05-11T18:00",
            "2026-05-10T12:00 weekend 2026-05-11T08:00 2026-05-11T18:00",
            // Golden week 2026: 5/4 みどりの日 (Mon), 5/5, 5/6 振替休日.
            "2026-05-04T10:00 holiday 2026-05-07T08:00 2026-05-07T18:00",
            // A Saturday that is a holiday is closed (2025-05-03 憲法記念日).
            "2025-05-03T10:00 holiday 2025-05-07T08:00 2025-05-07T18:00",
        ],
    );
}

#[test]
fn holiday_reason_wins_over_weekend_and_names_the_day() {
    let s = desk(LenovoPc).hours.state(t("2026-05-03T10:00")); // Sunday and 憲法記念日
    assert_eq!(s.closed_reason, Some(Holiday));
    assert_eq!(s.holiday, Some("憲法記念日"));
    let s = desk(LenovoPc).hours.state(t("2026-05-09T10:00"));
    assert_eq!((s.closed_reason, s.holiday), (Some(Weekend), None));
}

#[test]
fn flets_113_and_apresia_are_always_open() {
    for id in [Flets113, ApresiaHub] {
        check(
            id,
            &[
                "2026-12-31T03:00 open -",
                "2027-01-01T00:00 open -",
                "2026-05-03T23:59 open -",
                "2028-02-29T12:00 open -",
            ],
        );
    }
}

#[test]
fn weekday_nine_to_five_desks() {
    for id in [LenovoPc, YamahaRouter, NttEastOnshi, SskTokutei] {
        check(
            id,
            &[
                "2026-05-08T08:59 outside_hours 2026-05-08T09:00 2026-05-08T17:00",
                "2026-05-08T09:00 open 2026-05-08T17:00",
                "2026-05-08T16:59 open 2026-05-08T17:00",
                "2026-05-08T17:00 outside_hours 2026-05-11T09:00 2026-05-11T17:00",
                "2026-05-09T12:00 weekend 2026-05-11T09:00 2026-05-11T17:00",
                "2026-05-06T12:00 holiday 2026-05-07T09:00 2026-05-07T17:00",
            ],
        );
    }
}

#[test]
fn allied_closes_at_half_past_five() {
    check(
        AlliedRouter,
        &[
            "2026-05-08T08:59 outside_hours 2026-05-08T09:00 2026-05-08T17:30",
            "2026-05-08T09:00 open 2026-05-08T17:30",
            "2026-05-08T17:29 open 2026-05-08T17:30",
            "2026-05-08T17:30 outside_hours 2026-05-11T09:00 2026-05-11T17:30",
        ],
    );
}

#[test]
fn ssk_other_has_a_lunch_break() {
    check(
        SskOther,
        &[
            "2026-05-08T08:59 outside_hours 2026-05-08T09:00 2026-05-08T12:00",
            "2026-05-08T09:00 open 2026-05-08T12:00",
            "2026-05-08T11:59 open 2026-05-08T12:00",
            "2026-05-08T12:00 outside_hours 2026-05-08T13:00 2026-05-08T17:00",
            "2026-05-08T12:59 outside_hours 2026-05-08T13:00 2026-05-08T17:00",
            "2026-05-08T13:00 open 2026-05-08T17:00",
            "2026-05-08T16:59 open 2026-05-08T17:00",
            "2026-05-08T17:00 outside_hours 2026-05-11T09:00 2026-05-11T12:00",
        ],
    );
}

#[test]
fn year_end_dec29_to_jan3() {
    // 2026-12-28 Mon is the last day before the closure; 2027-01-04 Mon the first after.
    for (id, close) in [
        (LenovoPc, "17:00"),
        (AlliedRouter, "17:30"),
        (SskTokutei, "17:00"),
    ] {
        let cases = [
            format!("2026-12-28T{close} outside_hours 2027-01-04T09:00 2027-01-04T{close}"),
            format!("2026-12-28T23:59 outside_hours 2027-01-04T09:00 2027-01-04T{close}"),
            format!("2026-12-29T00:00 year_end 2027-01-04T09:00 2027-01-04T{close}"),
            format!("2026-12-30T10:00 year_end 2027-01-04T09:00 2027-01-04T{close}"),
            format!("2027-01-01T10:00 year_end 2027-01-04T09:00 2027-01-04T{close}"),
            format!("2027-01-03T23:59 year_end 2027-01-04T09:00 2027-01-04T{close}"),
            format!("2027-01-04T00:00 outside_hours 2027-01-04T09:00 2027-01-04T{close}"),
            format!("2027-01-04T08:59 outside_hours 2027-01-04T09:00 2027-01-04T{close}"),
            format!("2027-01-04T09:00 open 2027-01-04T{close}"),
        ];
        check(id, &cases.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let s = desk(OnshiCallCenter).hours.state(t("2027-01-01T10:00"));
    assert_eq!((s.closed_reason, s.holiday), (Some(YearEnd), Some("元日")));
    // 12/28 open as usual, and the call center's Saturday hours do not apply on 1/2.
    check(
        OnshiCallCenter,
        &[
            "2026-12-28T17:59 open 2026-12-28T18:00",
            "2027-01-02T10:00 year_end 2027-01-04T08:00 2027-01-04T18:00",
        ],
    );
}

#[test]
fn year_end_dec29_to_jan4() {
    for id in [YamahaRouter, NttEastOnshi] {
        check(
            id,
            &[
                "2026-12-28T16:59 open 2026-12-28T17:00",
                "2026-12-28T17:00 outside_hours 2027-01-05T09:00 2027-01-05T17:00",
                "2026-12-29T00:00 year_end 2027-01-05T09:00 2027-01-05T17:00",
                "2027-01-04T10:00 year_end 2027-01-05T09:00 2027-01-05T17:00",
                "2027-01-04T23:59 year_end 2027-01-05T09:00 2027-01-05T17:00",
                "2027-01-05T00:00 outside_hours 2027-01-05T09:00 2027-01-05T17:00",
                "2027-01-05T09:00 open 2027-01-05T17:00",
            ],
        );
    }
    // 2025/26: 1/4 is a Sunday, so the first day is Monday 1/5 for both kinds.
    let after_weekend = ["2025-12-27T10:00 weekend 2026-01-05T09:00 2026-01-05T17:00"];
    check(YamahaRouter, &after_weekend);
    check(
        LenovoPc,
        &["2026-01-04T10:00 weekend 2026-01-05T09:00 2026-01-05T17:00"],
    );
}

#[test]
fn ssk_network_month_bands() {
    // June 2026: 6/4 Thu, 6/5 Fri, 6/6 Sat, 6/7 Sun, 6/8 Mon, 6/10 Wed, 6/11 Thu, 6/13 Sat.
    check(
        SskNetwork,
        &[
            "2026-06-01T08:59 outside_hours 2026-06-01T09:00 2026-06-01T17:00",
            "2026-06-04T16:59 open 2026-06-04T17:00",
            "2026-06-04T17:00 outside_hours 2026-06-05T08:00 2026-06-05T21:00",
            "2026-06-05T07:59 outside_hours 2026-06-05T08:00 2026-06-05T21:00",
            "2026-06-05T08:00 open 2026-06-05T21:00",
            // Saturday in days 5–7: 休日を含む.
            "2026-06-06T20:59 open 2026-06-06T21:00",
            "2026-06-06T21:00 outside_hours 2026-06-07T08:00 2026-06-07T21:00",
            "2026-06-07T21:00 outside_hours 2026-06-08T08:00 2026-06-09T00:00",
            "2026-06-08T08:00 open 2026-06-09T00:00",
            // 8–24: open until midnight, closed at 0:00.
            "2026-06-08T23:59 open 2026-06-09T00:00",
            "2026-06-09T00:00 outside_hours 2026-06-09T08:00 2026-06-10T00:00",
            "2026-06-10T23:59 open 2026-06-11T00:00",
            "2026-06-11T00:00 outside_hours 2026-06-11T09:00 2026-06-11T17:00",
            "2026-06-11T08:59 outside_hours 2026-06-11T09:00 2026-06-11T17:00",
            "2026-06-11T09:00 open 2026-06-11T17:00",
            "2026-06-13T10:00 weekend 2026-06-15T09:00 2026-06-15T17:00",
            // Month end → day 1 (6/30 Tue → 7/1 Wed).
            "2026-06-30T17:00 outside_hours 2026-07-01T09:00 2026-07-01T17:00",
            // Holidays: days 1–4 closed on them, days 5–7 open on them.
            "2026-05-04T10:00 holiday 2026-05-05T08:00 2026-05-05T21:00",
            "2026-05-05T10:00 open 2026-05-05T21:00",
            "2026-05-06T20:59 open 2026-05-06T21:00",
            // Year end (12/29–1/3), then 1/4 (Mon) on 9–17, then 1/5 on 8–21.
            "2026-12-28T17:00 outside_hours 2027-01-04T09:00 2027-01-04T17:00",
            "2027-01-03T23:59 year_end 2027-01-04T09:00 2027-01-04T17:00",
            "2027-01-04T17:00 outside_hours 2027-01-05T08:00 2027-01-05T21:00",
        ],
    );
}

#[test]
fn ssk_system_month_bands_and_unpublished_days() {
    check(
        SskSystem,
        &[
            "2026-05-29T16:59 open 2026-05-29T17:00",
            "2026-05-29T17:00 outside_hours 2026-06-05T08:00 2026-06-05T21:00",
            "2026-06-01T00:00 no_published_hours 2026-06-05T08:00 2026-06-05T21:00",
            "2026-06-02T10:00 no_published_hours 2026-06-05T08:00 2026-06-05T21:00",
            "2026-06-04T23:59 no_published_hours 2026-06-05T08:00 2026-06-05T21:00",
            // Days 1–4 on a Saturday: still "no published hours", not "weekend".
            "2026-07-04T10:00 no_published_hours 2026-07-05T08:00 2026-07-05T21:00",
            "2026-06-05T08:00 open 2026-06-05T21:00",
            "2026-06-07T20:59 open 2026-06-07T21:00",
            "2026-06-07T21:00 outside_hours 2026-06-08T08:00 2026-06-09T00:00",
            "2026-06-10T23:59 open 2026-06-11T00:00",
            "2026-06-11T00:00 outside_hours 2026-06-11T08:00 2026-06-11T21:00",
            "2026-06-11T08:00 open 2026-06-11T21:00",
            "2026-06-12T20:59 open 2026-06-12T21:00",
            "2026-06-12T21:00 outside_hours 2026-06-15T09:00 2026-06-15T17:00",
            "2026-06-13T10:00 weekend 2026-06-15T09:00 2026-06-15T17:00",
            // Day 11 on a Saturday: 休日を含む.
            "2026-07-11T10:00 open 2026-07-11T21:00",
            "2026-07-13T08:59 outside_hours 2026-07-13T09:00 2026-07-13T17:00",
            "2026-07-13T09:00 open 2026-07-13T17:00",
            // Year end, then 1/4 unpublished, then 1/5.
            "2026-12-28T17:00 outside_hours 2027-01-05T08:00 2027-01-05T21:00",
            "2027-01-02T10:00 year_end 2027-01-05T08:00 2027-01-05T21:00",
            "2027-01-04T10:00 no_published_hours 2027-01-05T08:00 2027-01-05T21:00",
        ],
    );
}

#[test]
fn leap_years_and_month_ends() {
    // 2028: Feb 28 Mon, Feb 29 Tue, Mar 1 Wed. 2026 (not leap): Fri Feb 27 → Mon Mar 2.
    check(
        SskNetwork,
        &[
            "2028-02-28T17:00 outside_hours 2028-02-29T09:00 2028-02-29T17:00",
            "2028-02-29T16:59 open 2028-02-29T17:00",
            "2028-02-29T17:00 outside_hours 2028-03-01T09:00 2028-03-01T17:00",
            "2026-02-27T17:00 outside_hours 2026-03-02T09:00 2026-03-02T17:00",
        ],
    );
    check(
        SskSystem,
        &["2028-02-29T17:00 outside_hours 2028-03-05T08:00 2028-03-05T21:00"],
    );
    check(
        LenovoPc,
        &["2026-07-31T17:00 outside_hours 2026-08-03T09:00 2026-08-03T17:00"],
    );
}

#[test]
fn unpublished_hours_never_open() {
    let s = Hours::Unpublished.state(t("2026-05-08T10:00"));
    assert!(!s.open);
    assert_eq!(s.closed_reason, Some(NoPublishedHours));
    assert_eq!((s.next_open, s.closes_at), (None, None));
    assert_eq!(desk(Omakase).hours, Hours::Unpublished);
}

fn weekly(weekday: &'static [Span], saturday: &'static [Span], sunday: &'static [Span]) -> Hours {
    Hours::Weekly(WeeklyHours {
        weekday: Cow::Borrowed(weekday),
        saturday: Cow::Borrowed(saturday),
        sunday: Cow::Borrowed(sunday),
        holiday: Cow::Borrowed(&[]),
        year_end: None,
    })
}

#[test]
fn touching_spans_merge_across_midnight_and_within_a_day() {
    const ALL_DAY: &[Span] = &[Span::hm(0, 0, 24, 0)];
    let hours = weekly(ALL_DAY, ALL_DAY, &[]);
    // Friday 23:00 → open through Saturday, closes at Sunday 00:00.
    let s = hours.state(t("2026-05-08T23:00"));
    assert_eq!(s.closes_at, Some(t("2026-05-10T00:00")));
    const SPLIT: &[Span] = &[Span::hm(9, 0, 12, 0), Span::hm(12, 0, 17, 0)];
    let split = weekly(SPLIT, &[], &[]);
    assert_eq!(
        split.state(t("2026-05-08T10:00")).closes_at,
        Some(t("2026-05-08T17:00"))
    );
    // Every day but holidays: the run ends at the next holiday (2026-07-20 海の日).
    let no_holidays = weekly(ALL_DAY, ALL_DAY, ALL_DAY);
    let s = no_holidays.state(t("2026-05-08T10:00"));
    assert_eq!(s.closes_at, Some(t("2026-07-20T00:00")));
    // Open every minute of every day: the run never ends, like a 24 h desk.
    let always = Hours::Weekly(WeeklyHours {
        holiday: Cow::Borrowed(ALL_DAY),
        ..match no_holidays {
            Hours::Weekly(w) => w,
            _ => unreachable!(),
        }
    });
    let s = always.state(t("2026-05-08T10:00"));
    assert!(s.open);
    assert_eq!(s.closes_at, None);
}

#[test]
fn instants_in_other_offsets_and_with_seconds() {
    let hours = &desk(LenovoPc).hours;
    let utc = DateTime::parse_from_rfc3339("2026-05-08T00:30:00Z").unwrap(); // 09:30 JST
    let s = hours.state(utc);
    assert!(s.open);
    assert_eq!(s.next_open.unwrap().offset(), &JST);
    assert_eq!(s.closes_at, Some(t("2026-05-08T17:00")));
    assert!(hours.is_open(DateTime::parse_from_rfc3339("2026-05-08T16:59:59.999+09:00").unwrap()));
    assert!(!hours.is_open(DateTime::parse_from_rfc3339("2026-05-08T08:59:59+09:00").unwrap()));
    let s = hours.state(DateTime::parse_from_rfc3339("2026-05-08T08:59:30+09:00").unwrap());
    assert_eq!(s.next_open, Some(t("2026-05-08T09:00")));
}

#[test]
fn year_end_contains_exactly_its_days() {
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let short = YearEndClosure::Dec29ToJan3;
    let long = YearEndClosure::Dec29ToJan4;
    for (date, in_short, in_long) in [
        ("2026-12-28", false, false),
        ("2026-12-29", true, true),
        ("2026-12-31", true, true),
        ("2027-01-01", true, true),
        ("2027-01-03", true, true),
        ("2027-01-04", false, true),
        ("2027-01-05", false, false),
    ] {
        assert_eq!(short.contains(d(date)), in_short, "{date}");
        assert_eq!(long.contains(d(date)), in_long, "{date}");
    }
}
