//! When an agent may swap its binary: the site's next closed period by its
//! business hours (`sites::hours`, holidays and 12/29–1/3 included). The
//! server computes it and sends it with the offer, so the agent never needs
//! the site's schedule or the Japanese calendar. Pure.

use chrono::{DateTime, Duration, FixedOffset};

use crate::sites::hours::BusinessHours;

/// How far ahead a closed period is looked for. A site open without a break
/// for longer (a 24-hour pharmacy) gets no window: swaps at start-up only.
pub const HORIZON_DAYS: i64 = 8;

/// A period during which the site is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwapWindow {
    pub start: DateTime<FixedOffset>,
    pub end: DateTime<FixedOffset>,
}

impl SwapWindow {
    pub fn contains(&self, at: DateTime<FixedOffset>) -> bool {
        self.start <= at && at < self.end
    }
}

/// The closed period that contains `now`, else the next one; `None` when the
/// site stays open for the whole horizon.
pub fn next_closed(hours: &BusinessHours, now: DateTime<FixedOffset>) -> Option<SwapWindow> {
    let horizon = now + Duration::days(HORIZON_DAYS);
    let mut start = now;
    // Skip open bands; adjacent ones (a band to 24:00 and one from 0:00) in
    // a row, up to a week of several bands a day.
    while let Some((_, band_end)) = hours.open_band_at(start) {
        if band_end <= start || band_end >= horizon {
            return None;
        }
        start = band_end;
    }
    let end = match hours.next_open(start) {
        Some(open) if open > start => open.min(horizon),
        _ => horizon,
    };
    Some(SwapWindow { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sites::SiteKind;
    use crate::sites::hours::{DayException, WeekSchedule};

    fn t(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(&format!("{text}+09:00")).unwrap()
    }

    fn hours(week: &str) -> BusinessHours {
        BusinessHours {
            week: WeekSchedule::parse(week).unwrap(),
            closed_on_holidays: true,
            exceptions: Vec::new(),
        }
    }

    fn window(h: &BusinessHours, now: &str) -> Option<(String, String)> {
        next_closed(h, t(now)).map(|w| (w.start.to_rfc3339(), w.end.to_rfc3339()))
    }

    fn pair(a: &str, b: &str) -> Option<(String, String)> {
        Some((t(a).to_rfc3339(), t(b).to_rfc3339()))
    }

    #[test]
    fn open_now_gives_tonight_closed_now_gives_until_opening() {
        let clinic = BusinessHours::default_for(SiteKind::Clinic); // mon-fri 9-18, sat 9-13
        // Tuesday 10:00: tonight 18:00 until Wednesday 9:00.
        assert_eq!(
            window(&clinic, "2026-12-01T10:00:00"),
            pair("2026-12-01T18:00:00", "2026-12-02T09:00:00")
        );
        // Tuesday 20:00: closed now, until Wednesday 9:00.
        assert_eq!(
            window(&clinic, "2026-12-01T20:00:00"),
            pair("2026-12-01T20:00:00", "2026-12-02T09:00:00")
        );
        // Saturday 11:00: from 13:00 over Sunday to Monday 9:00.
        assert_eq!(
            window(&clinic, "2026-12-05T11:00:00"),
            pair("2026-12-05T13:00:00", "2026-12-07T09:00:00")
        );
        let w = next_closed(&clinic, t("2026-12-01T10:00:00")).unwrap();
        assert!(!w.contains(t("2026-12-01T17:59:00")));
        assert!(w.contains(t("2026-12-01T18:00:00")));
        assert!(!w.contains(t("2026-12-02T09:00:00")));
    }

    #[test]
    fn a_lunch_break_is_a_window_and_holidays_extend_one() {
        let h = hours("mon-fri 09:00-12:30,14:00-18:00");
        assert_eq!(
            window(&h, "2026-12-01T10:00:00"),
            pair("2026-12-01T12:30:00", "2026-12-01T14:00:00")
        );
        // Friday 2026-11-20 evening: closed over the weekend and 勤労感謝の日 (Mon 11/23).
        assert_eq!(
            window(&h, "2026-11-20T17:00:00"),
            pair("2026-11-20T18:00:00", "2026-11-24T09:00:00")
        );
        // 12/28 evening: closed for 年末年始 until 1/4.
        assert_eq!(
            window(&h, "2026-12-28T15:00:00"),
            pair("2026-12-28T18:00:00", "2027-01-04T09:00:00")
        );
    }

    #[test]
    fn always_open_has_no_window_and_never_open_is_closed_now() {
        let always = BusinessHours {
            week: WeekSchedule::parse("mon-sun 00:00-24:00").unwrap(),
            closed_on_holidays: false,
            exceptions: Vec::new(),
        };
        assert_eq!(window(&always, "2026-12-01T10:00:00"), None);
        let never = BusinessHours {
            week: WeekSchedule::parse("").unwrap(),
            closed_on_holidays: true,
            exceptions: Vec::new(),
        };
        let w = next_closed(&never, t("2026-12-01T10:00:00")).unwrap();
        assert_eq!(w.start, t("2026-12-01T10:00:00"));
        assert_eq!(
            w.end,
            t("2026-12-01T10:00:00") + Duration::days(HORIZON_DAYS)
        );
    }

    #[test]
    fn a_night_band_through_midnight_is_skipped_as_one() {
        // Open 8:00 to midnight and from midnight to 2:00: closed 2:00–8:00.
        let h = hours("mon-sun 00:00-02:00,08:00-24:00");
        assert_eq!(
            window(&h, "2026-12-01T23:00:00"),
            pair("2026-12-02T02:00:00", "2026-12-02T08:00:00")
        );
    }

    #[test]
    fn a_closed_day_exception_opens_a_window() {
        let mut h = hours("mon-sun 00:00-24:00");
        h.closed_on_holidays = false;
        h.exceptions.push(DayException {
            day: t("2026-12-03T00:00:00").date_naive(),
            open: Vec::new(),
            note: "臨時休業".into(),
        });
        assert_eq!(
            window(&h, "2026-12-01T10:00:00"),
            pair("2026-12-03T00:00:00", "2026-12-04T00:00:00")
        );
    }
}
