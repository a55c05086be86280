use super::*;

fn d(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

#[track_caller]
fn is(date: &str, name: &str) {
    assert_eq!(holiday_name(d(date)), Some(name), "{date}");
}

#[track_caller]
fn not(date: &str) {
    assert_eq!(
        holiday_name(d(date)),
        None,
        "{date} should be an ordinary day"
    );
}

#[test]
fn fixed_days() {
    for y in [1990, 2007, 2026, 2099] {
        is(&format!("{y}-01-01"), "元日");
        is(&format!("{y}-02-11"), "建国記念の日");
        is(&format!("{y}-05-03"), "憲法記念日");
        is(&format!("{y}-05-05"), "こどもの日");
        is(&format!("{y}-11-03"), "文化の日");
        is(&format!("{y}-11-23"), "勤労感謝の日");
    }
    not("2026-01-02");
    not("2026-12-31");
}

#[test]
fn coming_of_age_day_moves_to_second_monday_in_2000() {
    is("1999-01-15", "成人の日");
    not("2000-01-15");
    is("2000-01-10", "成人の日");
    is("2026-01-12", "成人の日");
    is("2029-01-08", "成人の日"); // earliest possible
    is("2024-01-08", "成人の日");
    is("2030-01-14", "成人の日"); // latest possible
}

#[test]
fn marine_day_from_1996_third_monday_from_2003() {
    not("1995-07-20");
    is("1996-07-20", "海の日");
    is("2002-07-20", "海の日");
    not("2003-07-20");
    is("2003-07-21", "海の日");
    is("2026-07-20", "海の日");
}

#[test]
fn respect_for_the_aged_day_moves_to_third_monday_in_2003() {
    is("2002-09-15", "敬老の日");
    is("2003-09-15", "敬老の日"); // 2003-09-15 was the third Monday
    is("2004-09-20", "敬老の日");
    not("2004-09-15");
    is("2026-09-21", "敬老の日");
}

#[test]
fn sports_day_renamed_and_moved() {
    is("1999-10-10", "体育の日");
    is("2000-10-09", "体育の日");
    not("2000-10-10");
    is("2019-10-14", "体育の日");
    is("2022-10-10", "スポーツの日");
    is("2026-10-12", "スポーツの日");
}

#[test]
fn olympic_moves_of_2020_and_2021() {
    is("2020-07-23", "海の日");
    is("2020-07-24", "スポーツの日");
    is("2020-08-10", "山の日");
    not("2020-07-20"); // would have been the third Monday
    not("2020-08-11");
    not("2020-10-12"); // would have been the second Monday
    is("2021-07-22", "海の日");
    is("2021-07-23", "スポーツの日");
    is("2021-08-08", "山の日");
    is("2021-08-09", SUBSTITUTE_HOLIDAY); // 8/8 was a Sunday
    not("2021-07-19");
    not("2021-08-11");
    not("2021-10-11");
}

#[test]
fn mountain_day_from_2016() {
    not("2015-08-11");
    is("2016-08-11", "山の日");
    is("2019-08-11", "山の日");
    is("2019-08-12", SUBSTITUTE_HOLIDAY);
    is("2026-08-11", "山の日");
}

#[test]
fn emperors_birthday_changes_with_the_era() {
    is("1990-12-23", "天皇誕生日");
    is("1990-12-24", SUBSTITUTE_HOLIDAY);
    is("2018-12-23", "天皇誕生日");
    is("2018-12-24", SUBSTITUTE_HOLIDAY);
    not("2019-12-23");
    not("2019-02-23");
    is("2020-02-23", "天皇誕生日");
    is("2020-02-24", SUBSTITUTE_HOLIDAY);
    is("2026-02-23", "天皇誕生日");
}

#[test]
fn greenery_day_and_showa_day() {
    is("1990-04-29", "みどりの日");
    is("2006-04-29", "みどりの日");
    is("2006-05-04", CITIZENS_HOLIDAY);
    is("2007-04-29", "昭和の日");
    is("2007-05-04", "みどりの日");
    is("2026-05-04", "みどりの日");
}

#[test]
fn one_off_holidays() {
    is("1990-11-12", "即位礼正殿の儀");
    is("1993-06-09", "結婚の儀");
    is("2019-05-01", "天皇の即位の日");
    is("2019-10-22", "即位礼正殿の儀");
    // The 2019 law counts its days as 祝日, so the days between become 国民の休日.
    is("2019-04-30", CITIZENS_HOLIDAY);
    is("2019-05-02", CITIZENS_HOLIDAY);
    is("2019-05-06", SUBSTITUTE_HOLIDAY);
    not("2019-05-07");
    not("1991-11-12");
    not("2020-10-22");
}

#[test]
fn substitute_holiday_before_2007_is_the_monday_only() {
    is("2006-01-02", SUBSTITUTE_HOLIDAY); // 1/1 Sunday
    is("1998-05-04", SUBSTITUTE_HOLIDAY); // 5/3 Sunday
    is("2002-05-06", SUBSTITUTE_HOLIDAY); // 5/5 Sunday
    // 2003: 5/3 Sat, 5/4 Sun (not a 祝日 then), 5/5 Mon: no holiday on 5/6.
    not("2003-05-04");
    not("2003-05-06");
    // 1997-05-04 was a Sunday: not a 国民の休日 under the old rule.
    assert_eq!(day_kind(d("1997-05-04")), DayKind::Sunday);
}

#[test]
fn substitute_holiday_from_2007_is_the_next_non_holiday() {
    is("2008-05-06", SUBSTITUTE_HOLIDAY); // 5/4 Sunday, 5/5 Monday is a holiday itself
    is("2009-05-06", SUBSTITUTE_HOLIDAY); // 5/3 Sunday → Wednesday
    is("2014-05-06", SUBSTITUTE_HOLIDAY);
    is("2015-05-06", SUBSTITUTE_HOLIDAY);
    is("2013-05-06", SUBSTITUTE_HOLIDAY); // 5/5 Sunday
    not("2008-05-07");
    is("2023-01-02", SUBSTITUTE_HOLIDAY);
    is("2024-02-12", SUBSTITUTE_HOLIDAY);
    is("2025-11-24", SUBSTITUTE_HOLIDAY);
    is("2026-05-06", SUBSTITUTE_HOLIDAY); // 5/3 Sunday 2026
    not("2027-05-06");
    // A holiday on Saturday has no substitute.
    not("2026-01-05");
    not("2021-01-04");
}

#[test]
fn citizens_holidays() {
    for date in [
        "2009-09-22",
        "2015-09-22",
        "2026-09-22",
        "2032-09-21",
        "2037-09-22",
        "2099-09-22",
    ] {
        is(date, CITIZENS_HOLIDAY);
    }
    is("1990-05-04", CITIZENS_HOLIDAY);
    is("2020-09-22", "秋分の日"); // 敬老の日 9/21 + 秋分 9/22: nothing in between
    not("2025-09-22");
}

#[test]
fn equinox_days() {
    let vernal = [
        (1990, 21),
        (2012, 20),
        (2023, 21),
        (2024, 20),
        (2025, 20),
        (2026, 20),
        (2092, 19),
        (2099, 20),
    ];
    for (y, day) in vernal {
        assert_eq!(vernal_equinox_day(y), day, "春分 {y}");
        is(&format!("{y}-03-{day:02}"), "春分の日");
    }
    let autumnal = [
        (1990, 23),
        (2012, 22),
        (2023, 23),
        (2024, 22),
        (2025, 23),
        (2026, 23),
        (2096, 22),
        (2099, 23),
    ];
    for (y, day) in autumnal {
        assert_eq!(autumnal_equinox_day(y), day, "秋分 {y}");
        is(&format!("{y}-09-{day:02}"), "秋分の日");
    }
    is("2024-09-23", SUBSTITUTE_HOLIDAY); // 秋分 on Sunday
}

#[test]
fn day_kinds_and_heijitsu() {
    assert_eq!(day_kind(d("2026-05-01")), DayKind::Weekday);
    assert_eq!(day_kind(d("2026-05-02")), DayKind::Saturday);
    assert_eq!(day_kind(d("2026-05-03")), DayKind::Holiday("憲法記念日")); // a Sunday
    assert_eq!(day_kind(d("2026-05-10")), DayKind::Sunday);
    assert_eq!(
        day_kind(d("2026-05-06")),
        DayKind::Holiday(SUBSTITUTE_HOLIDAY)
    );
    assert!(is_heijitsu(d("2026-05-07")));
    assert!(!is_heijitsu(d("2026-05-06")));
    assert!(DayKind::Saturday.is_kyujitsu());
    assert!(DayKind::Holiday("元日").is_kyujitsu());
    assert!(!DayKind::Weekday.is_kyujitsu());
    assert!(is_holiday(d("2026-11-03")));
}

#[test]
fn year_lists_are_complete_and_sorted() {
    let counts = [(1990, 19), (2019, 22), (2020, 18), (2026, 18)];
    for (year, count) in counts {
        let list = holidays_in_year(year);
        assert_eq!(list.len(), count, "{year}");
        assert!(list.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(list.iter().all(|(date, _)| date.year() == year));
    }
}

#[test]
fn leap_day_is_an_ordinary_day() {
    not("2024-02-29");
    not("2028-02-29");
    assert_eq!(day_kind(d("2032-02-29")), DayKind::Sunday);
}
