//! Askama filters of the portal's templates. `{{ t|jst }}` shows an instant (or an optional
//! one) in Japan time, in the one format every page uses, with [`crate::desk::JST`].

use chrono::{DateTime, FixedOffset, Utc};

use crate::desk::JST;

/// The one display format of instants on pages.
const FORMAT: &str = "%Y-%m-%d %H:%M";

/// Text of an instant in JST; "—" when there is none.
pub fn jst_text(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.with_timezone(&JST).format(FORMAT).to_string())
        .unwrap_or_else(|| "—".into())
}

/// The value of an `<input type="datetime-local">` for an instant, in JST (`2026-03-02T18:00`).
pub fn jst_local_value(t: DateTime<Utc>) -> String {
    t.with_timezone(&JST).format("%Y-%m-%dT%H:%M").to_string()
}

/// Reads what an `<input type="datetime-local">` sends (`2026-03-02T18:00`, seconds optional)
/// as a time in JST — operators think in Japan time whatever their browser's zone.
pub fn parse_jst_local(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
        .and_then(|local| local.and_local_timezone(JST).single())
        .map(|t| t.with_timezone(&Utc))
}

/// What the `jst` filter accepts.
pub trait JstTime {
    fn instant(&self) -> Option<DateTime<Utc>>;
}

impl JstTime for DateTime<Utc> {
    fn instant(&self) -> Option<DateTime<Utc>> {
        Some(*self)
    }
}

impl JstTime for DateTime<FixedOffset> {
    fn instant(&self) -> Option<DateTime<Utc>> {
        Some(self.with_timezone(&Utc))
    }
}

impl JstTime for Option<DateTime<Utc>> {
    fn instant(&self) -> Option<DateTime<Utc>> {
        *self
    }
}

impl JstTime for Option<DateTime<FixedOffset>> {
    fn instant(&self) -> Option<DateTime<Utc>> {
        self.map(|t| t.with_timezone(&Utc))
    }
}

impl<T: JstTime + ?Sized> JstTime for &T {
    fn instant(&self) -> Option<DateTime<Utc>> {
        (**self).instant()
    }
}

/// `{{ t|when }}`: with the weekday, for desk hours ("2026-05-07(木) 09:00"); "—" when none.
pub fn when<T: JstTime + ?Sized>(t: &T, _: &dyn askama::Values) -> askama::Result<String> {
    Ok(t.instant()
        .map(|t| crate::desk::when_ja(t.with_timezone(&JST)))
        .unwrap_or_else(|| "—".into()))
}

/// `{{ t|jst }}`.
pub fn jst<T: JstTime + ?Sized>(t: &T, _: &dyn askama::Values) -> askama::Result<String> {
    Ok(jst_text(t.instant()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_shown_in_japan_time() {
        let t: DateTime<Utc> = "2026-12-01T15:30:00Z".parse().unwrap();
        assert_eq!(jst_text(Some(t)), "2026-12-02 00:30");
        assert_eq!(jst_text(None), "—");
        assert_eq!(jst_local_value(t), "2026-12-02T00:30");
        assert_eq!(parse_jst_local("2026-12-02T00:30"), Some(t));
        assert_eq!(parse_jst_local(" 2026-12-02 00:30 "), Some(t));
        assert_eq!(parse_jst_local("2026-12-02T00:30:00"), Some(t));
        assert_eq!(parse_jst_local("tomorrow"), None);
        assert_eq!(parse_jst_local("2026-13-02T00:30"), None);
        assert_eq!(
            jst(&Some(t), askama::NO_VALUES).unwrap(),
            "2026-12-02 00:30"
        );
    }
}
