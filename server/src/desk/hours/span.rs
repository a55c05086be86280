//! One opening span of a day, `[start, end)` in minutes since 00:00 JST, `end` up to 24:00.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `[start, end)` within one day, whole minutes. "8–24" is `Span::hm(8, 0, 24, 0)`: open until
/// midnight, the instant 24:00 (= 0:00 of the next day) itself not included.
///
/// Serializes as `"HH:MM-HH:MM"` (e.g. `"09:00-17:30"`, `"08:00-24:00"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Span {
    start: u16,
    end: u16,
}

impl Span {
    /// Minutes in a day; the largest `end`.
    pub const DAY_MINUTES: u32 = 24 * 60;

    /// Span from `sh:sm` to `eh:em`. Panics (at compile time in a `const`) on an empty or
    /// out-of-day span; use [`Span::try_new`] for data from outside.
    pub const fn hm(sh: u16, sm: u16, eh: u16, em: u16) -> Span {
        match Span::try_new(sh * 60 + sm, eh * 60 + em) {
            Some(span) => span,
            None => panic!("span must satisfy start < end <= 24:00"),
        }
    }

    /// Span from minute `start` to minute `end`, if `start < end <= 1440`.
    pub const fn try_new(start: u16, end: u16) -> Option<Span> {
        if start < end && end as u32 <= Span::DAY_MINUTES {
            Some(Span { start, end })
        } else {
            None
        }
    }

    /// Opening minute of the day.
    pub fn start_minute(self) -> u32 {
        u32::from(self.start)
    }

    /// Closing minute of the day (1440 = midnight at the end of the day).
    pub fn end_minute(self) -> u32 {
        u32::from(self.end)
    }

    /// True when minute `m` of the day is inside `[start, end)`.
    pub fn contains_minute(self, m: u32) -> bool {
        self.start_minute() <= m && m < self.end_minute()
    }

    /// "9:00〜17:30" for operator-facing text.
    pub fn label_ja(self) -> String {
        format!("{}〜{}", clock(self.start), clock(self.end))
    }
}

fn clock(minute: u16) -> String {
    format!("{}:{:02}", minute / 60, minute % 60)
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

impl From<Span> for String {
    fn from(span: Span) -> String {
        span.to_string()
    }
}

/// Error for a span string that is not `HH:MM-HH:MM` with start < end ≤ 24:00.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid opening span {0:?}: expected HH:MM-HH:MM with start < end <= 24:00")]
pub struct SpanParseError(pub String);

impl TryFrom<String> for Span {
    type Error = SpanParseError;

    fn try_from(text: String) -> Result<Span, SpanParseError> {
        text.parse()
    }
}

impl std::str::FromStr for Span {
    type Err = SpanParseError;

    fn from_str(text: &str) -> Result<Span, SpanParseError> {
        let err = || SpanParseError(text.to_owned());
        let (start, end) = text.trim().split_once('-').ok_or_else(err)?;
        let minute = |hhmm: &str| -> Option<u16> {
            let (h, m) = hhmm.split_once(':')?;
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (h <= 24 && m < 60).then_some(h * 60 + m)
        };
        let (start, end) = (minute(start).ok_or_else(err)?, minute(end).ok_or_else(err)?);
        Span::try_new(start, end).ok_or_else(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        let span: Span = "08:00-24:00".parse().unwrap();
        assert_eq!(span, Span::hm(8, 0, 24, 0));
        assert_eq!(span.to_string(), "08:00-24:00");
        assert_eq!(span.label_ja(), "8:00〜24:00");
        assert_eq!(Span::hm(9, 0, 17, 30).end_minute(), 1050);
    }

    #[test]
    fn rejects_empty_reversed_and_out_of_day_spans() {
        for bad in [
            "17:00-09:00",
            "09:00-09:00",
            "09:00-24:01",
            "25:00-26:00",
            "9-17",
            "x",
        ] {
            assert!(bad.parse::<Span>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn serde_uses_the_string_form() {
        let json = serde_json::to_string(&Span::hm(13, 0, 17, 0)).unwrap();
        assert_eq!(json, "\"13:00-17:00\"");
        let back: Span = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Span::hm(13, 0, 17, 0));
        assert!(serde_json::from_str::<Span>("\"17:00-13:00\"").is_err());
    }

    #[test]
    fn contains_is_half_open() {
        let span = Span::hm(9, 0, 17, 0);
        assert!(!span.contains_minute(539));
        assert!(span.contains_minute(540));
        assert!(span.contains_minute(1019));
        assert!(!span.contains_minute(1020));
    }
}
