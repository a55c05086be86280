//! Japanese wording of weekly hours (for contract / maker / vendor hours from the database; the
//! fixed desks carry the guide's own wording).

use super::{Span, WeeklyHours};

impl WeeklyHours {
    /// e.g. "平日 9:00〜17:00、土曜 9:00〜12:00、日曜 休み、祝日 休み（年末年始 12/29〜1/3 休み）".
    pub fn describe_ja(&self) -> String {
        let day = |label: &str, spans: &[Span]| {
            if spans.is_empty() {
                format!("{label} 休み")
            } else {
                let list: Vec<String> = spans.iter().map(|s| s.label_ja()).collect();
                format!("{label} {}", list.join("、"))
            }
        };
        let mut text = [
            day("平日", &self.weekday),
            day("土曜", &self.saturday),
            day("日曜", &self.sunday),
            day("祝日", &self.holiday),
        ]
        .join("、");
        if let Some(year_end) = self.year_end {
            text.push_str(&format!("（年末年始 {} 休み）", year_end.label()));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::super::YearEndClosure;
    use super::*;

    #[test]
    fn describes_every_kind_of_day_and_the_closure() {
        let hours = WeeklyHours {
            weekday: Cow::Owned(vec![Span::hm(9, 0, 12, 0), Span::hm(13, 0, 17, 0)]),
            saturday: Cow::Owned(vec![Span::hm(9, 0, 12, 0)]),
            sunday: Cow::Borrowed(&[]),
            holiday: Cow::Borrowed(&[]),
            year_end: Some(YearEndClosure::Dec29ToJan3),
        };
        assert_eq!(
            hours.describe_ja(),
            "平日 9:00〜12:00、13:00〜17:00、土曜 9:00〜12:00、日曜 休み、祝日 休み（年末年始 12/29〜1/3 休み）"
        );
    }
}
