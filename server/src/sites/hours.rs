//! A site's business hours (issue 11): a weekly schedule with several bands a day, closed on
//! national holidays and 12/29–1/3 by default, and per-date exceptions. Pure: every instant is a
//! parameter, evaluated in JST. Offline detection asks this module whether a silence matters:
//! a PC off at night is normal (domain.md §2.1).
//!
//! Stored form: the weekly bands as an `int4multirange` of minutes of the week (Monday 00:00
//! JST = 0), so the sweep can ask `week_hours @> minute` in SQL; exceptions as minutes of the day.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Timelike};
use serde::{Deserialize, Serialize};

use super::model::SiteKind;
use crate::desk::hours::{JST, YearEndClosure};
use crate::desk::{Span, calendar};

const DAY: u32 = 24 * 60;
/// Japanese weekday names, Monday first (the index of `WeekSchedule::days`).
pub const WEEKDAYS_JA: [&str; 7] = ["月", "火", "水", "木", "金", "土", "日"];
const WEEKDAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Opening bands for each day of the week, Monday first; an empty day is closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeekSchedule {
    pub days: [Vec<Span>; 7],
}

/// A date with other hours than the weekly schedule: closed (no bands) or open in `open`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayException {
    pub day: NaiveDate,
    #[serde(default)]
    pub open: Vec<Span>,
    #[serde(default)]
    pub note: String,
}

/// Everything that decides whether a site is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessHours {
    pub week: WeekSchedule,
    /// Closed on national holidays (incl. 振替休日) and 12/29–1/3.
    pub closed_on_holidays: bool,
    #[serde(default)]
    pub exceptions: Vec<DayException>,
}

/// Why a silent site raises `offline` (issue 11): two different stories for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Offline {
    /// It reported during today's opening hours, then stopped (e.g. at 10:00).
    StoppedDuringHours { last_seen: DateTime<FixedOffset> },
    /// It has not reported since the site opened (the PC did not start).
    DidNotStart {
        opened_at: DateTime<FixedOffset>,
        last_seen: Option<DateTime<FixedOffset>>,
    },
}

impl WeekSchedule {
    /// The built-in defaults by kind of site: typical hours, not from the guide (each site
    /// should record its own). They seed `site_kind_hours` (migration 0011), which is what
    /// applies and what administrators change (`sites::hours_defaults`).
    pub fn default_for(kind: SiteKind) -> WeekSchedule {
        let band = |sh, sm, eh, em| vec![Span::hm(sh, sm, eh, em)];
        let (weekday, saturday) = match kind {
            SiteKind::Clinic => (band(9, 0, 18, 0), band(9, 0, 13, 0)),
            SiteKind::Pharmacy => (band(9, 0, 19, 0), band(9, 0, 13, 0)),
            SiteKind::HomeNursing => (band(8, 30, 17, 30), Vec::new()),
        };
        WeekSchedule {
            days: [
                weekday.clone(),
                weekday.clone(),
                weekday.clone(),
                weekday.clone(),
                weekday,
                saturday,
                Vec::new(),
            ],
        }
    }

    /// Parses `"mon-fri 09:00-12:30,14:00-18:00; sat 09:00-13:00"` (days without a band are
    /// closed). Errors are Japanese and say what to write.
    pub fn parse(text: &str) -> Result<WeekSchedule, String> {
        let mut days: [Vec<Span>; 7] = Default::default();
        let mut seen = [false; 7];
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (day_text, bands_text) = part.split_once(' ').ok_or_else(|| {
                format!(
                    "「{part}」: 曜日と時間帯を空白で区切ってください（例: mon-fri 09:00-18:00）"
                )
            })?;
            let range = parse_days(day_text.trim())?;
            let mut bands = Vec::new();
            for band in bands_text
                .split(',')
                .map(str::trim)
                .filter(|b| !b.is_empty())
            {
                let span: Span = band.to_owned().try_into().map_err(|_| {
                    format!("時間帯「{band}」は 09:00-18:00 の形で、終了が開始より後になるように書いてください")
                })?;
                bands.push(span);
            }
            check_bands(&bands)?;
            for d in range {
                if seen[d] {
                    return Err(format!("{}曜日が二度指定されています", WEEKDAYS_JA[d]));
                }
                seen[d] = true;
                days[d] = bands.clone();
            }
        }
        Ok(WeekSchedule { days })
    }

    /// The stored form: `{[540,1080),...}` in minutes of the week.
    pub fn to_multirange(&self) -> String {
        let mut parts = Vec::new();
        for (d, spans) in self.days.iter().enumerate() {
            for s in spans {
                let base = d as u32 * DAY;
                parts.push(format!(
                    "[{},{})",
                    base + s.start_minute(),
                    base + s.end_minute()
                ));
            }
        }
        format!("{{{}}}", parts.join(","))
    }

    /// Reads the stored form back. Adjacent bands merged by PostgreSQL (e.g. a band ending at
    /// 24:00 and one starting at 0:00 the next day) are split at midnight again.
    pub fn from_multirange(text: &str) -> Result<WeekSchedule, String> {
        let mut days: [Vec<Span>; 7] = Default::default();
        for (start, end) in parse_multirange(text)? {
            let mut cursor = start;
            while cursor < end {
                let day = (cursor / DAY) as usize;
                let day_end = ((cursor / DAY) + 1) * DAY;
                let stop = end.min(day_end);
                let span = Span::try_new((cursor % DAY) as u16, (stop - day as u32 * DAY) as u16)
                    .ok_or_else(|| format!("bad band {cursor}..{stop}"))?;
                days.get_mut(day).ok_or("band beyond Sunday")?.push(span);
                cursor = stop;
            }
        }
        Ok(WeekSchedule { days })
    }

    /// Whether minute `m` of the week (Monday 00:00 = 0) is inside a band.
    pub fn contains_minute_of_week(&self, m: u32) -> bool {
        let day = (m / DAY) as usize;
        self.days
            .get(day)
            .is_some_and(|spans| spans.iter().any(|s| s.contains_minute(m % DAY)))
    }

    /// "月〜金 9:00〜18:00 / 土 9:00〜13:00" for pages.
    pub fn describe_ja(&self) -> String {
        let mut groups: Vec<(usize, usize, &Vec<Span>)> = Vec::new();
        for (d, spans) in self.days.iter().enumerate() {
            match groups.last_mut() {
                Some((_, end, s)) if *s == spans && *end + 1 == d => *end = d,
                _ => groups.push((d, d, spans)),
            }
        }
        let text: Vec<String> = groups
            .into_iter()
            .filter(|(_, _, s)| !s.is_empty())
            .map(|(a, b, s)| {
                let days = if a == b {
                    WEEKDAYS_JA[a].to_owned()
                } else {
                    format!("{}〜{}", WEEKDAYS_JA[a], WEEKDAYS_JA[b])
                };
                let bands: Vec<String> = s.iter().map(|x| x.label_ja()).collect();
                format!("{days} {}", bands.join("、"))
            })
            .collect();
        if text.is_empty() {
            "休業（営業時間なし）".into()
        } else {
            text.join(" / ")
        }
    }

    /// The CLI form that [`WeekSchedule::parse`] reads.
    pub fn to_text(&self) -> String {
        let mut parts = Vec::new();
        for (d, spans) in self.days.iter().enumerate() {
            if !spans.is_empty() {
                let bands: Vec<String> = spans.iter().map(|s| s.to_string()).collect();
                parts.push(format!("{} {}", WEEKDAY_KEYS[d], bands.join(",")));
            }
        }
        parts.join("; ")
    }
}

fn parse_days(text: &str) -> Result<std::ops::RangeInclusive<usize>, String> {
    let index = |k: &str| {
        WEEKDAY_KEYS
            .iter()
            .position(|w| w.eq_ignore_ascii_case(k))
            .ok_or_else(|| format!("曜日「{k}」は mon tue wed thu fri sat sun のいずれかです"))
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (index(a)?, index(b)?);
            if a > b {
                return Err(format!(
                    "曜日の範囲「{text}」は月曜から日曜の順に書いてください"
                ));
            }
            Ok(a..=b)
        }
        None => index(text).map(|d| d..=d),
    }
}

/// Bands of one day must not overlap (each already ends after it starts).
pub fn check_bands(bands: &[Span]) -> Result<(), String> {
    let mut sorted = bands.to_vec();
    sorted.sort_by_key(|s| s.start_minute());
    for pair in sorted.windows(2) {
        if pair[1].start_minute() < pair[0].end_minute() {
            return Err(format!(
                "時間帯 {} と {} が重なっています",
                pair[0].label_ja(),
                pair[1].label_ja()
            ));
        }
    }
    Ok(())
}

/// `{[a,b),[c,d)}` → pairs. PostgreSQL prints int4 ranges canonically as `[a,b)`.
pub fn parse_multirange(text: &str) -> Result<Vec<(u32, u32)>, String> {
    let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
    let mut out = Vec::new();
    for part in inner
        .split("),")
        .map(|p| p.trim().trim_start_matches('[').trim_end_matches(')'))
    {
        if part.is_empty() {
            continue;
        }
        let (a, b) = part
            .split_once(',')
            .ok_or_else(|| format!("bad range {part:?}"))?;
        let a: u32 = a
            .trim()
            .parse()
            .map_err(|_| format!("bad range {part:?}"))?;
        let b: u32 = b
            .trim()
            .parse()
            .map_err(|_| format!("bad range {part:?}"))?;
        if a >= b || b > 7 * DAY {
            return Err(format!("bad range {part:?}"));
        }
        out.push((a, b));
    }
    Ok(out)
}

/// Minutes-of-day bands as stored for an exception.
pub fn spans_to_multirange(spans: &[Span]) -> String {
    let parts: Vec<String> = spans
        .iter()
        .map(|s| format!("[{},{})", s.start_minute(), s.end_minute()))
        .collect();
    format!("{{{}}}", parts.join(","))
}

pub fn spans_from_multirange(text: &str) -> Result<Vec<Span>, String> {
    parse_multirange(text)?
        .into_iter()
        .map(|(a, b)| Span::try_new(a as u16, b as u16).ok_or_else(|| format!("bad band {a}..{b}")))
        .collect()
}

/// Minute of the week of `at` (Monday 00:00 JST = 0), as the sweep binds it.
pub fn minute_of_week(at: DateTime<FixedOffset>) -> u32 {
    let at = at.with_timezone(&JST);
    at.weekday().num_days_from_monday() * DAY + at.hour() * 60 + at.minute()
}

/// True on the dates a site that closes on holidays is closed: national holidays and
/// 12/29–1/3 (the calendar of the desk module).
pub fn is_holiday_closure(date: NaiveDate) -> bool {
    calendar::is_holiday(date) || YearEndClosure::Dec29ToJan3.contains(date)
}

impl BusinessHours {
    pub fn default_for(kind: SiteKind) -> BusinessHours {
        BusinessHours {
            week: WeekSchedule::default_for(kind),
            closed_on_holidays: true,
            exceptions: Vec::new(),
        }
    }

    /// The bands of one date: an exception first, then holidays, then the weekday.
    pub fn bands_on(&self, date: NaiveDate) -> &[Span] {
        if let Some(x) = self.exceptions.iter().find(|x| x.day == date) {
            return &x.open;
        }
        if self.closed_on_holidays && is_holiday_closure(date) {
            return &[];
        }
        &self.week.days[date.weekday().num_days_from_monday() as usize]
    }

    /// The opening band containing `at`, as instants.
    pub fn open_band_at(
        &self,
        at: DateTime<FixedOffset>,
    ) -> Option<(DateTime<FixedOffset>, DateTime<FixedOffset>)> {
        let local = at.with_timezone(&JST);
        let date = local.date_naive();
        let minute = local.hour() * 60 + local.minute();
        self.bands_on(date)
            .iter()
            .find(|s| s.contains_minute(minute))
            .map(|s| {
                (
                    instant(date, s.start_minute()),
                    instant(date, s.end_minute()),
                )
            })
    }

    pub fn is_open(&self, at: DateTime<FixedOffset>) -> bool {
        self.open_band_at(at).is_some()
    }

    /// The next instant at or after `at` when the site opens (within 400 days).
    pub fn next_open(&self, at: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
        if self.is_open(at) {
            return Some(at);
        }
        let local = at.with_timezone(&JST);
        let minute = local.hour() * 60 + local.minute();
        let mut date = local.date_naive();
        for offset in 0..400 {
            let first = self
                .bands_on(date)
                .iter()
                .filter(|s| offset > 0 || s.start_minute() > minute)
                .map(|s| s.start_minute())
                .min();
            if let Some(m) = first {
                return Some(instant(date, m));
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// The most recent closing instant at or before `at`, within a week (for "still on 30 min
    /// after closing", guide 1-1-2).
    pub fn last_close(&self, at: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
        let local = at.with_timezone(&JST);
        let mut date = local.date_naive();
        for _ in 0..8 {
            let close = self
                .bands_on(date)
                .iter()
                .map(|s| instant(date, s.end_minute()))
                .filter(|c| *c <= at)
                .max();
            if close.is_some() {
                return close;
            }
            date = date.pred_opt()?;
        }
        None
    }

    /// Whether a silence raises `offline` now, and which story it tells. `silence` is how long
    /// a site may be quiet while open (default 15 min); `start_grace` how long after opening a
    /// PC may take to start (30 min).
    pub fn offline_verdict(
        &self,
        last_seen: Option<DateTime<FixedOffset>>,
        now: DateTime<FixedOffset>,
        silence: Duration,
        start_grace: Duration,
    ) -> Option<Offline> {
        let (opened_at, _) = self.open_band_at(now)?;
        match last_seen {
            Some(seen) if seen >= opened_at => {
                (now - seen > silence).then_some(Offline::StoppedDuringHours { last_seen: seen })
            }
            _ => (now - opened_at > start_grace).then_some(Offline::DidNotStart {
                opened_at,
                last_seen,
            }),
        }
    }
}

fn instant(date: NaiveDate, minute: u32) -> DateTime<FixedOffset> {
    let midnight = JST
        .from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
        .single()
        .expect("JST has no gaps");
    midnight + Duration::minutes(i64::from(minute))
}

#[cfg(test)]
mod tests;
