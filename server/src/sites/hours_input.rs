//! Business hours as the API and the CLI enter and show them (issue 11): a weekly schedule as
//! text (`"mon-fri 09:00-18:00; sat 09:00-13:00"`) or as bands per weekday, and per-date
//! exceptions. Pure: parsing and checks, with Japanese errors that say what to write.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::hours::{self, DayException, WEEKDAYS_JA, WeekSchedule};
use super::hours_store::StoredHours;
use crate::desk::Span;

const WEEKDAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `PUT /api/v1/sites/{site_id}/hours`: `week` (text) or `bands` (per weekday), or
/// `default: true` for the kind's default; `closed_on_holidays` absent keeps the site's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WeekInput {
    pub week: Option<String>,
    pub bands: Option<BTreeMap<String, Vec<String>>>,
    pub default: bool,
    pub closed_on_holidays: Option<bool>,
}

/// `PUT /api/v1/sites/{site_id}/hours/exceptions/{date}`: no bands (or `closed: true`) means
/// closed that day.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ExceptionInput {
    pub closed: bool,
    pub open: Vec<String>,
    pub note: String,
}

/// Parses bands like `09:00-12:30`; each must end after it starts, none may overlap.
pub fn parse_bands(bands: &[String]) -> Result<Vec<Span>, String> {
    let mut out = Vec::new();
    for b in bands {
        let span: Span = b.trim().parse().map_err(|_| {
            format!(
                "時間帯「{b}」は 09:00-18:00 の形で、終了が開始より後になるように書いてください"
            )
        })?;
        out.push(span);
    }
    hours::check_bands(&out)?;
    Ok(out)
}

/// The weekly schedule asked for; `None` means the kind's default.
pub fn week_from(input: &WeekInput) -> Result<Option<WeekSchedule>, String> {
    match (&input.week, &input.bands, input.default) {
        (_, _, true) => Ok(None),
        (Some(text), None, false) => WeekSchedule::parse(text).map(Some),
        (None, Some(bands), false) => {
            let mut days: [Vec<Span>; 7] = Default::default();
            for (key, list) in bands {
                let d = WEEKDAY_KEYS
                    .iter()
                    .position(|k| k.eq_ignore_ascii_case(key))
                    .ok_or_else(|| format!("曜日「{key}」は mon tue wed thu fri sat sun のいずれかです"))?;
                days[d] = parse_bands(list).map_err(|e| format!("{}曜日: {e}", WEEKDAYS_JA[d]))?;
            }
            Ok(Some(WeekSchedule { days }))
        }
        (Some(_), Some(_), false) => Err("week（文字列）と bands（曜日ごと）はどちらか一方だけ指定してください".into()),
        (None, None, false) => Err("week（例: \"mon-fri 09:00-18:00; sat 09:00-13:00\"）、bands、または default: true を指定してください".into()),
    }
}

pub fn exception_from(day: NaiveDate, input: &ExceptionInput) -> Result<DayException, String> {
    if input.closed && !input.open.is_empty() {
        return Err("closed: true と open（営業する時間帯）は同時に指定できません".into());
    }
    Ok(DayException {
        day,
        open: parse_bands(&input.open)?,
        note: input.note.trim().to_owned(),
    })
}

/// `YYYY-MM-DD`, with a Japanese error.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        format!("日付「{text}」は YYYY-MM-DD の形で指定してください（例: 2026-05-01）")
    })
}

/// The hours as the API returns them.
#[derive(Debug, Clone, Serialize)]
pub struct HoursView {
    pub site_id: String,
    /// The text form `WeekSchedule::parse` reads.
    pub week: String,
    pub bands: BTreeMap<&'static str, Vec<Span>>,
    pub description_ja: String,
    pub is_default: bool,
    pub closed_on_holidays: bool,
    pub exceptions: Vec<ExceptionView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExceptionView {
    pub day: NaiveDate,
    pub closed: bool,
    pub open: Vec<Span>,
    pub note: String,
}

pub fn view(site_id: &str, stored: &StoredHours) -> HoursView {
    let week = &stored.hours.week;
    HoursView {
        site_id: site_id.to_owned(),
        week: week.to_text(),
        bands: WEEKDAY_KEYS
            .iter()
            .zip(week.days.iter())
            .map(|(k, d)| (*k, d.clone()))
            .collect(),
        description_ja: week.describe_ja(),
        is_default: stored.is_default,
        closed_on_holidays: stored.hours.closed_on_holidays,
        exceptions: stored
            .hours
            .exceptions
            .iter()
            .map(|e| ExceptionView {
                day: e.day,
                closed: e.open.is_empty(),
                open: e.open.clone(),
                note: e.note.clone(),
            })
            .collect(),
    }
}

/// The hours in Japanese for the CLI.
pub fn describe_ja(v: &HoursView) -> String {
    let mut out = format!(
        "サイト {} の営業時間{}: {}\n祝日・年末年始(12/29〜1/3): {}\n",
        v.site_id,
        if v.is_default {
            "（種別の既定値）"
        } else {
            ""
        },
        v.description_ja,
        if v.closed_on_holidays {
            "休業"
        } else {
            "営業"
        },
    );
    if v.exceptions.is_empty() {
        out.push_str("例外日: なし\n");
    }
    for e in &v.exceptions {
        let bands: Vec<String> = e.open.iter().map(|s| s.label_ja()).collect();
        let what = if e.closed {
            "休業".to_owned()
        } else {
            format!("営業 {}", bands.join("、"))
        };
        let note = if e.note.is_empty() {
            String::new()
        } else {
            format!("（{}）", e.note)
        };
        out.push_str(&format!("例外日 {}: {what}{note}\n", e.day));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_that_end_before_they_start_or_overlap_are_refused() {
        assert!(parse_bands(&["09:00-12:00".into(), "14:00-18:00".into()]).is_ok());
        assert!(
            parse_bands(&["18:00-09:00".into()])
                .unwrap_err()
                .contains("終了が開始より後")
        );
        assert!(
            parse_bands(&["09:00-13:00".into(), "12:00-18:00".into()])
                .unwrap_err()
                .contains("重なって")
        );
    }

    #[test]
    fn a_week_comes_as_text_bands_or_the_default() {
        let text = WeekInput {
            week: Some("mon-fri 09:00-18:00; sat 09:00-13:00".into()),
            ..Default::default()
        };
        let week = week_from(&text).unwrap().unwrap();
        assert_eq!(week.days[5], vec![Span::hm(9, 0, 13, 0)]);
        let bands = WeekInput {
            bands: Some(BTreeMap::from([(
                "mon".to_owned(),
                vec!["09:00-12:00".to_owned(), "14:00-18:00".to_owned()],
            )])),
            ..Default::default()
        };
        let week = week_from(&bands).unwrap().unwrap();
        assert_eq!(week.days[0].len(), 2);
        assert!(week.days[1].is_empty());
        let overlapping = WeekInput {
            bands: Some(BTreeMap::from([(
                "tue".to_owned(),
                vec!["09:00-13:00".to_owned(), "12:00-18:00".to_owned()],
            )])),
            ..Default::default()
        };
        assert!(week_from(&overlapping).unwrap_err().starts_with("火曜日"));
        assert!(
            week_from(&WeekInput {
                default: true,
                ..Default::default()
            })
            .unwrap()
            .is_none()
        );
        assert!(week_from(&WeekInput::default()).is_err());
    }

    #[test]
    fn exceptions_and_dates() {
        let day = parse_date("2026-05-01").unwrap();
        assert!(
            exception_from(day, &ExceptionInput::default())
                .unwrap()
                .open
                .is_empty()
        );
        let both = ExceptionInput {
            closed: true,
            open: vec!["10:00-12:00".into()],
            note: String::new(),
        };
        assert!(exception_from(day, &both).is_err());
        assert!(parse_date("2026/05/01").is_err());
    }
}
