//! The business calendar: Japanese national holidays (国民の祝日に関する法律) and the words
//! 平日 / 休日 as domain.md §4 defines them.
//!
//! Computed from the rules of the law, not from a table, for 1990–2099:
//! - fixed days, ハッピーマンデー days (from 2000 / 2003), 山の日 (from 2016), the 2020/2021
//!   Olympic moves, 天皇誕生日 12/23 (to 2018) → none in 2019 → 2/23 (from 2020),
//!   みどりの日 4/29 (to 2006) → 昭和の日 4/29 + みどりの日 5/4 (from 2007),
//!   体育の日 → スポーツの日 (2020);
//! - the one-off days made holidays by their own laws (1990-11-12, 1993-06-09, 2019-05-01,
//!   2019-10-22); the 2019 law makes its two days count as 国民の祝日 for 振替休日 and
//!   国民の休日, which is what produces 2019-04-30 and 2019-05-02;
//! - 振替休日: until 2006 the Monday after a 祝日 on Sunday; from 2007 the first following day
//!   that is not a 祝日 (so 2008-05-06 after 5/3 Sat, 5/4 Sun, 5/5 Mon);
//! - 国民の休日: a day sandwiched between two 祝日 that is not itself one (until 2006 also not a
//!   Sunday and not a 振替休日; in practice 5/4 until 2006 and some 9/22s from 2009 on);
//! - 春分の日 / 秋分の日: the law names the day of the equinox, fixed each February by the
//!   National Astronomical Observatory for the next year only. For every year we use the
//!   standard formula valid 1980–2099 (as both reference sources do, see
//!   `scripts/gen_holidays_fixture.py`); it matches every published year.
//!
//! Outside 1990–2099 the same rules are applied as an extrapolation; the CLI refuses such years.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// First year for which the rules here are checked against the published lists.
pub const FIRST_YEAR: i32 = 1990;
/// Last year for which the rules here are checked (the equinox formula is valid to 2099).
pub const LAST_YEAR: i32 = 2099;

/// Name used for every 振替休日 (Act art. 3(2)).
pub const SUBSTITUTE_HOLIDAY: &str = "振替休日";
/// Name used for every 国民の休日 (Act art. 3(3)).
pub const CITIZENS_HOLIDAY: &str = "国民の休日";

/// What kind of day a date is, in the words of domain.md §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    /// 平日: Monday–Friday that is not a national holiday.
    Weekday,
    /// Saturday that is not a national holiday.
    Saturday,
    /// Sunday that is not a national holiday.
    Sunday,
    /// Any national holiday, whatever its weekday (incl. 振替休日 and 国民の休日).
    Holiday(&'static str),
}

impl DayKind {
    /// 休日 = Saturday, Sunday and national holidays.
    pub fn is_kyujitsu(self) -> bool {
        !matches!(self, DayKind::Weekday)
    }
}

/// The kind of `date` (平日, Saturday, Sunday or a holiday).
pub fn day_kind(date: NaiveDate) -> DayKind {
    if let Some(name) = holiday_name(date) {
        return DayKind::Holiday(name);
    }
    match date.weekday() {
        Weekday::Sat => DayKind::Saturday,
        Weekday::Sun => DayKind::Sunday,
        _ => DayKind::Weekday,
    }
}

/// 平日 per domain.md §4.
pub fn is_heijitsu(date: NaiveDate) -> bool {
    day_kind(date) == DayKind::Weekday
}

/// True when `date` is a national holiday (incl. 振替休日 and 国民の休日).
pub fn is_holiday(date: NaiveDate) -> bool {
    holiday_name(date).is_some()
}

/// The Japanese name of the national holiday on `date`, if it is one.
pub fn holiday_name(date: NaiveDate) -> Option<&'static str> {
    if let Some(name) = shukujitsu(date) {
        return Some(name);
    }
    if is_substitute(date) {
        return Some(SUBSTITUTE_HOLIDAY);
    }
    if is_citizens_holiday(date) {
        return Some(CITIZENS_HOLIDAY);
    }
    None
}

/// Every national holiday of `year`, in date order.
pub fn holidays_in_year(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let Some(mut d) = NaiveDate::from_ymd_opt(year, 1, 1) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(20);
    while d.year() == year {
        if let Some(name) = holiday_name(d) {
            out.push((d, name));
        }
        d += Duration::days(1);
    }
    out
}

/// 振替休日: see the module docs for the two regimes.
fn is_substitute(date: NaiveDate) -> bool {
    if date.year() < 2007 {
        return date.weekday() == Weekday::Mon
            && date
                .pred_opt()
                .is_some_and(|sunday| shukujitsu(sunday).is_some());
    }
    // From 2007: walk back over the run of 祝日 right before `date`; if the run holds a Sunday,
    // `date` is the first non-祝日 after it.
    let mut d = date;
    for _ in 0..7 {
        let Some(prev) = d.pred_opt() else {
            return false;
        };
        if shukujitsu(prev).is_none() {
            return false;
        }
        if prev.weekday() == Weekday::Sun {
            return true;
        }
        d = prev;
    }
    false
}

/// 国民の休日: the day before and the day after are 祝日 and the day is not one itself.
fn is_citizens_holiday(date: NaiveDate) -> bool {
    // Until 2006 the law excluded Sundays (and 振替休日, which `holiday_name` checks first).
    if date.year() < 2007 && date.weekday() == Weekday::Sun {
        return false;
    }
    let (Some(prev), Some(next)) = (date.pred_opt(), date.succ_opt()) else {
        return false;
    };
    shukujitsu(prev).is_some() && shukujitsu(next).is_some()
}

/// The n-th (1-based) Monday of `month`, as a day of the month.
fn nth_monday(year: i32, month: u32, n: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(year, month, 1).map_or(0, |d| {
        (7 + Weekday::Mon.num_days_from_monday() - d.weekday().num_days_from_monday()) % 7
    });
    1 + first + 7 * (n - 1)
}

/// 春分日 by the standard formula, valid 1980–2099.
pub fn vernal_equinox_day(year: i32) -> u32 {
    equinox_day(year, 20_843_100)
}

/// 秋分日 by the standard formula, valid 1980–2099.
pub fn autumnal_equinox_day(year: i32) -> u32 {
    equinox_day(year, 23_248_800)
}

/// `floor(base + 0.242194 (y − 1980)) − floor((y − 1980) / 4)` in micro-days, integers only so
/// no floating-point rounding can move a day.
fn equinox_day(year: i32, base_micro: i64) -> u32 {
    let n = i64::from(year - 1980);
    let day = (base_micro + 242_194 * n).div_euclid(1_000_000) - n.div_euclid(4);
    u32::try_from(day).unwrap_or(20)
}

/// 国民の祝日 proper (and the one-off days that count as such): no 振替休日 / 国民の休日 here.
fn shukujitsu(date: NaiveDate) -> Option<&'static str> {
    let (y, m, d) = (date.year(), date.month(), date.day());
    let name = match (m, d) {
        (1, 1) => "元日",
        (1, 15) if y < 2000 => "成人の日",
        (1, _) if y >= 2000 && d == nth_monday(y, 1, 2) => "成人の日",
        (2, 11) => "建国記念の日",
        (2, 23) if y >= 2020 => "天皇誕生日",
        (3, _) if d == vernal_equinox_day(y) => "春分の日",
        (4, 29) if y >= 2007 => "昭和の日",
        (4, 29) if y >= 1989 => "みどりの日",
        (5, 3) => "憲法記念日",
        (5, 4) if y >= 2007 => "みどりの日",
        (5, 5) => "こどもの日",
        (7, _) if is_umi_no_hi(y, d) => "海の日",
        (8, _) if is_yama_no_hi(y, d) => "山の日",
        (9, 15) if y < 2003 => "敬老の日",
        (9, _) if y >= 2003 && d == nth_monday(y, 9, 3) => "敬老の日",
        (9, _) if d == autumnal_equinox_day(y) => "秋分の日",
        (10, 10) if y < 2000 => "体育の日",
        (10, _) if (2000..2020).contains(&y) && d == nth_monday(y, 10, 2) => "体育の日",
        (10, _) if y >= 2022 && d == nth_monday(y, 10, 2) => "スポーツの日",
        (7, 24) if y == 2020 => "スポーツの日",
        (7, 23) if y == 2021 => "スポーツの日",
        (11, 3) => "文化の日",
        (11, 23) => "勤労感謝の日",
        (12, 23) if (1989..=2018).contains(&y) => "天皇誕生日",
        _ => return one_off(y, m, d),
    };
    Some(name)
}

/// 海の日: 7/20 from 1996, third Monday from 2003, moved for the Tokyo Olympics in 2020/2021.
fn is_umi_no_hi(y: i32, d: u32) -> bool {
    match y {
        2020 => d == 23,
        2021 => d == 22,
        1996..=2002 => d == 20,
        _ if y >= 2003 => d == nth_monday(y, 7, 3),
        _ => false,
    }
}

/// 山の日: 8/11 from 2016, moved for the Tokyo Olympics in 2020 (8/10) and 2021 (8/8).
fn is_yama_no_hi(y: i32, d: u32) -> bool {
    match y {
        2020 => d == 10,
        2021 => d == 8,
        _ if y >= 2016 => d == 11,
        _ => false,
    }
}

/// Days made holidays by their own laws.
fn one_off(y: i32, m: u32, d: u32) -> Option<&'static str> {
    match (y, m, d) {
        (1990, 11, 12) => Some("即位礼正殿の儀"),
        (1993, 6, 9) => Some("結婚の儀"),
        (2019, 5, 1) => Some("天皇の即位の日"),
        (2019, 10, 22) => Some("即位礼正殿の儀"),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
