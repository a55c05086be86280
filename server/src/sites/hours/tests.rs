use super::*;

fn t(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(&format!("{text}+09:00")).unwrap()
}

fn clinic() -> BusinessHours {
    BusinessHours::default_for(SiteKind::Clinic)
}

#[test]
fn parse_round_trips_and_rejects_overlap_and_reversed_bands() {
    let week = WeekSchedule::parse("mon-fri 09:00-12:30,14:00-18:00; sat 09:00-13:00").unwrap();
    assert_eq!(week.days[0].len(), 2);
    assert!(week.days[6].is_empty());
    assert_eq!(WeekSchedule::parse(&week.to_text()).unwrap(), week);
    assert_eq!(
        WeekSchedule::from_multirange(&week.to_multirange()).unwrap(),
        week
    );
    assert_eq!(
        week.describe_ja(),
        "月〜金 9:00〜12:30、14:00〜18:00 / 土 9:00〜13:00"
    );
    assert!(
        WeekSchedule::parse("mon 09:00-12:00,11:00-13:00")
            .unwrap_err()
            .contains("重なって")
    );
    assert!(
        WeekSchedule::parse("mon 18:00-09:00")
            .unwrap_err()
            .contains("終了が開始より後")
    );
    assert!(WeekSchedule::parse("fri-mon 09:00-10:00").is_err());
    assert!(
        WeekSchedule::parse("mon 09:00-10:00; mon 11:00-12:00")
            .unwrap_err()
            .contains("二度")
    );
    assert!(WeekSchedule::parse("funday 09:00-10:00").is_err());
}

#[test]
fn a_band_to_midnight_and_one_from_midnight_survive_postgres_merging_them() {
    // PostgreSQL stores [0,1440) of Tuesday and [1440,..) adjacent bands as one range.
    let merged = "{[1320,1980)}"; // Mon 22:00 → Tue 09:00
    let week = WeekSchedule::from_multirange(merged).unwrap();
    assert_eq!(week.days[0], vec![Span::hm(22, 0, 24, 0)]);
    assert_eq!(week.days[1], vec![Span::hm(0, 0, 9, 0)]);
}

#[test]
fn open_on_weekdays_closed_at_night_sunday_holidays_and_year_end() {
    let h = clinic();
    assert!(h.is_open(t("2026-12-01T10:00:00"))); // Tuesday
    assert!(!h.is_open(t("2026-12-01T18:35:00")));
    assert!(!h.is_open(t("2026-12-06T10:00:00"))); // Sunday
    assert!(!h.is_open(t("2026-11-23T10:00:00"))); // 勤労感謝の日 (Monday)
    assert!(!h.is_open(t("2026-12-31T10:00:00"))); // 年末年始
    assert!(!h.is_open(t("2027-01-04T08:59:00")));
    assert!(h.is_open(t("2027-01-04T09:00:00")));
    assert!(h.is_open(t("2026-12-05T12:59:00"))); // Saturday morning
    assert!(!h.is_open(t("2026-12-05T13:00:00")));
}

#[test]
fn exceptions_close_or_open_a_date() {
    let mut h = clinic();
    h.exceptions.push(DayException {
        day: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        open: vec![],
        note: "臨時休診".into(),
    });
    h.exceptions.push(DayException {
        day: NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
        open: vec![Span::hm(10, 0, 12, 0)],
        note: "休日当番".into(),
    });
    assert!(!h.is_open(t("2026-12-01T10:00:00")));
    assert!(h.is_open(t("2026-12-06T11:00:00")));
    assert!(!h.is_open(t("2026-12-06T12:00:00")));
}

#[test]
fn next_open_and_last_close() {
    let h = clinic();
    assert_eq!(
        h.next_open(t("2026-12-04T18:30:00")),
        Some(t("2026-12-05T09:00:00"))
    );
    assert_eq!(
        h.next_open(t("2026-12-05T13:30:00")),
        Some(t("2026-12-07T09:00:00"))
    );
    assert_eq!(
        h.next_open(t("2026-12-28T19:00:00")),
        Some(t("2027-01-04T09:00:00"))
    );
    assert_eq!(
        h.last_close(t("2026-12-01T18:30:00")),
        Some(t("2026-12-01T18:00:00"))
    );
    assert_eq!(
        h.last_close(t("2026-12-07T08:00:00")),
        Some(t("2026-12-05T13:00:00"))
    );
}

#[test]
fn stopped_at_ten_and_switched_off_at_six_thirty_are_told_apart() {
    let h = clinic();
    let silence = Duration::minutes(15);
    let grace = Duration::minutes(30);
    // Reported until 10:00 on a Tuesday, silent since.
    let stopped = h.offline_verdict(
        Some(t("2026-12-01T10:00:00")),
        t("2026-12-01T10:16:00"),
        silence,
        grace,
    );
    assert_eq!(
        stopped,
        Some(Offline::StoppedDuringHours {
            last_seen: t("2026-12-01T10:00:00")
        })
    );
    assert_eq!(
        h.offline_verdict(
            Some(t("2026-12-01T10:00:00")),
            t("2026-12-01T10:14:00"),
            silence,
            grace
        ),
        None
    );
    // Switched off at 18:35 after closing: silence at night raises nothing.
    assert_eq!(
        h.offline_verdict(
            Some(t("2026-12-01T18:35:00")),
            t("2026-12-01T23:00:00"),
            silence,
            grace
        ),
        None
    );
    // Next morning: 30 minutes of grace after opening, then "did not start".
    assert_eq!(
        h.offline_verdict(
            Some(t("2026-12-01T18:35:00")),
            t("2026-12-02T09:29:00"),
            silence,
            grace
        ),
        None
    );
    assert_eq!(
        h.offline_verdict(
            Some(t("2026-12-01T18:35:00")),
            t("2026-12-02T09:31:00"),
            silence,
            grace
        ),
        Some(Offline::DidNotStart {
            opened_at: t("2026-12-02T09:00:00"),
            last_seen: Some(t("2026-12-01T18:35:00"))
        })
    );
    // Sunday, a national holiday and 12/31: nothing.
    for now in [
        "2026-12-06T11:00:00",
        "2026-11-23T11:00:00",
        "2026-12-31T11:00:00",
    ] {
        assert_eq!(
            h.offline_verdict(Some(t("2026-11-20T18:00:00")), t(now), silence, grace),
            None,
            "{now}"
        );
    }
}

#[test]
fn minute_of_week_is_monday_based_in_jst() {
    assert_eq!(minute_of_week(t("2026-11-30T00:00:00")), 0); // Monday
    assert_eq!(minute_of_week(t("2026-12-01T09:30:00")), 1440 + 570);
    let utc = DateTime::parse_from_rfc3339("2026-11-29T15:00:00Z").unwrap(); // = Mon 00:00 JST
    assert_eq!(minute_of_week(utc), 0);
}
