//! Reading `ConvertTo-Json` output of Windows PowerShell 5.1 (what Windows
//! 10/11 ship): one object instead of an array when there is one item, dates
//! as `"\/Date(ms)\/"`, enums as numbers, SIDs as objects. Pure.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The items of a `ConvertTo-Json` output: an array, a single object, or
/// nothing at all (no output when the cmdlet found nothing).
pub fn items(text: &str) -> Result<Vec<Value>, String> {
    let text = text.trim().trim_start_matches('\u{feff}');
    if text.is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(v)) => Ok(v),
        Ok(v @ Value::Object(_)) => Ok(vec![v]),
        Ok(other) => Err(format!("expected JSON objects, got {}", kind(&other))),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string field; numbers are shown as text, null and absent as "".
pub fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        // e.g. a SecurityIdentifier: {"BinaryLength":28, "Value":"S-1-5-..."}
        Some(Value::Object(o)) => o
            .get("Value")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

pub fn boolean(v: &Value, key: &str) -> Option<bool> {
    match v.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        _ => None,
    }
}

pub fn number(v: &Value, key: &str) -> Option<u64> {
    match v.get(key)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An enum: PowerShell 5.1 writes the number, 7 with `-EnumsAsStrings` the
/// name. `names` maps numbers to names.
pub fn enumeration(v: &Value, key: &str, names: &[(i64, &str)]) -> String {
    match v.get(key) {
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(-1);
            names
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, s)| (*s).to_owned())
                .unwrap_or_else(|| n.to_string())
        }
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// A date in any of the forms `ConvertTo-Json` produces.
pub fn date(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    match v.get(key)? {
        Value::String(s) => parse_date(s),
        // `Get-Date | ConvertTo-Json`: {"value": "\/Date(..)\/", "DateTime": "..."}
        Value::Object(o) => o.get("value").and_then(Value::as_str).and_then(parse_date),
        _ => None,
    }
}

pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        // "1732488123500" or "1732488123500+0900": milliseconds since the
        // epoch in UTC; the offset only says how it was displayed.
        // The first character may be the number's sign; any character may
        // be non-ASCII in damaged output (found by fuzzing: never slice
        // inside one, nor past an empty "/Date()/").
        let first = inner.chars().next().map_or(0, char::len_utf8);
        let end = inner[first..]
            .find(['+', '-'])
            .map(|i| i + first)
            .unwrap_or(inner.len());
        let ms: i64 = inner[..end].parse().ok()?;
        return DateTime::from_timestamp_millis(ms);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // PowerShell 7 without an offset: "2024-11-25T08:01:02.5" (local time,
    // unknown here; read as UTC rather than not at all).
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn damaged_dates_are_refused_not_panicked() {
        for s in [
            "/Date()/",
            "/Date(\u{e5}\u{e5}1732489262)/",
            "/Date(-)/",
            "/Date(é+0900)/",
        ] {
            assert_eq!(parse_date(s), None, "{s}");
        }
        assert!(parse_date("/Date(-1000)/").is_some());
    }

    #[test]
    fn one_item_or_many_or_none() {
        assert_eq!(items("").unwrap().len(), 0);
        assert_eq!(items("{\"a\":1}").unwrap().len(), 1);
        assert_eq!(items("\u{feff}[{\"a\":1},{\"a\":2}]").unwrap().len(), 2);
        assert!(items("42").is_err());
        assert!(
            items("Get-PnpDevice : not recognized")
                .unwrap_err()
                .starts_with("not JSON")
        );
    }

    #[test]
    fn dates_in_every_form() {
        let want = "2024-11-25T08:02:03.500+00:00";
        for v in [
            json!({"t": "/Date(1732521723500)/"}),
            json!({"t": "/Date(1732521723500+0900)/"}),
            json!({"t": "2024-11-25T17:02:03.5+09:00"}),
            json!({"t": {"value": "/Date(1732521723500)/", "DateTime": "2024年11月25日 17:02:03"}}),
        ] {
            assert_eq!(date(&v, "t").unwrap().to_rfc3339(), want, "{v}");
        }
        assert_eq!(date(&json!({"t": null}), "t"), None);
        assert_eq!(
            parse_date("/Date(-62135596800000)/").unwrap().to_rfc3339(),
            "0001-01-01T00:00:00+00:00"
        );
    }

    #[test]
    fn sids_enums_and_numbers() {
        let v = json!({"SID": {"BinaryLength": 28, "Value": "S-1-5-21-1-2-3-1001"}, "Status": 4, "S": "Running", "N": "123", "F": 1.5e9});
        assert_eq!(text(&v, "SID"), "S-1-5-21-1-2-3-1001");
        assert_eq!(
            enumeration(&v, "Status", &[(1, "Stopped"), (4, "Running")]),
            "Running"
        );
        assert_eq!(enumeration(&v, "S", &[]), "Running");
        assert_eq!(number(&v, "N"), Some(123));
        assert_eq!(number(&v, "F"), Some(1_500_000_000));
    }
}
