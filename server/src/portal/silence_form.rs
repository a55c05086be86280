//! The silence form of the pages (`/admin/silences` and an incident's 「サイレンス」): what the
//! browser sends, turned into the `NewSilence` the API and the CLI also fill in. Times are
//! `datetime-local` values in JST; a duration is written as the CLI's `--for` (30m, 2h, 1d).

use chrono::{DateTime, Utc};

use super::filters::parse_jst_local;
use crate::error::FieldErrors;
use crate::incidents::cli::parse_for;
use crate::incidents::silence::NewSilence;

/// The durations offered in the forms (any value `parse_for` reads is accepted).
pub const DURATIONS: [(&str, &str); 8] = [
    ("30m", "30分"),
    ("1h", "1時間"),
    ("2h", "2時間"),
    ("4h", "4時間"),
    ("8h", "8時間"),
    ("1d", "1日"),
    ("3d", "3日"),
    ("7d", "7日"),
];

/// The form as posted. Empty text means "not given".
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct SilenceForm {
    pub site_id: String,
    pub rule: String,
    pub prefecture: String,
    pub kind: String,
    /// `datetime-local`, JST; empty: now.
    pub starts_at: String,
    /// `datetime-local`, JST; or `duration`.
    pub ends_at: String,
    /// From the start, as `30m` / `2h` / `1d`; used when `ends_at` is empty.
    pub duration: String,
    pub reason: String,
}

fn opt(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

impl SilenceForm {
    /// The silence asked for, or the problems at their fields (Japanese). The remaining checks
    /// (rule, kind, prefecture, site, end after start, reason) are `NewSilence::validate`'s.
    pub fn to_new(&self, now: DateTime<Utc>) -> Result<NewSilence, FieldErrors> {
        let mut errors = FieldErrors::default();
        let starts_at = match opt(&self.starts_at) {
            None => None,
            Some(t) => {
                let parsed = parse_jst_local(&t);
                if parsed.is_none() {
                    errors.add(
                        "starts_at",
                        "開始日時は 2026-03-02T09:00 の形で入力してください（日本時間）",
                    );
                }
                parsed
            }
        };
        let ends_at = match (opt(&self.ends_at), opt(&self.duration)) {
            (Some(t), _) => {
                let parsed = parse_jst_local(&t);
                if parsed.is_none() {
                    errors.add(
                        "ends_at",
                        "終了日時は 2026-03-02T18:00 の形で入力してください（日本時間）",
                    );
                }
                parsed
            }
            (None, Some(d)) => match parse_for(&d) {
                Ok(d) => Some(starts_at.unwrap_or(now) + d),
                Err(m) => {
                    errors.add("duration", m);
                    None
                }
            },
            (None, None) => {
                errors.add("ends_at", "終了日時を入力するか、期間を選んでください");
                None
            }
        };
        errors.into_result()?;
        Ok(NewSilence {
            site_id: opt(&self.site_id),
            rule: opt(&self.rule),
            prefecture: opt(&self.prefecture),
            kind: opt(&self.kind),
            starts_at,
            ends_at,
            reason: self.reason.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-03-02T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_duration_counts_from_the_start_and_local_times_are_japan_time() {
        let form = SilenceForm {
            site_id: " s1 ".into(),
            duration: "2h".into(),
            reason: "工事".into(),
            ..Default::default()
        };
        let s = form.to_new(now()).unwrap();
        assert_eq!(s.site_id.as_deref(), Some("s1"));
        assert_eq!(s.ends_at, Some(now() + chrono::Duration::hours(2)));
        assert_eq!(s.starts_at, None);
        let form = SilenceForm {
            starts_at: "2026-03-02T18:00".into(),
            ends_at: "2026-03-02T20:00".into(),
            duration: "7d".into(),
            ..form
        };
        let s = form.to_new(now()).unwrap();
        assert_eq!(s.starts_at, Some("2026-03-02T09:00:00Z".parse().unwrap()));
        assert_eq!(s.ends_at, Some("2026-03-02T11:00:00Z".parse().unwrap()));
    }

    #[test]
    fn bad_times_and_a_missing_end_are_named_at_their_field() {
        let e = SilenceForm::default().to_new(now()).unwrap_err();
        assert!(e.get("ends_at").unwrap().contains("期間を選んで"));
        let e = SilenceForm {
            starts_at: "yesterday".into(),
            duration: "2x".into(),
            ..Default::default()
        }
        .to_new(now())
        .unwrap_err();
        assert!(e.get("starts_at").is_some() && e.get("duration").is_some());
    }
}
