//! Japanese text for a person (CLI `--format text`).

use std::fmt::Write;

use chrono::{DateTime, Datelike, FixedOffset, Weekday};

use super::directory::{Contact, DeskId};
use super::hours::{ClosedReason, JST};
use super::routing::RouteAnswer;
use super::status::DeskStatus;

/// "2026-05-07(木) 09:00"; seconds only when not zero.
pub fn when(at: DateTime<FixedOffset>) -> String {
    let at = at.with_timezone(&JST);
    let day = match at.weekday() {
        Weekday::Mon => "月",
        Weekday::Tue => "火",
        Weekday::Wed => "水",
        Weekday::Thu => "木",
        Weekday::Fri => "金",
        Weekday::Sat => "土",
        Weekday::Sun => "日",
    };
    let clock = if at.format("%S").to_string() == "00" {
        at.format("%H:%M")
    } else {
        at.format("%H:%M:%S")
    };
    format!("{}({day}) {clock}", at.format("%Y-%m-%d"))
}

fn contact_line(contact: &Contact) -> String {
    format!("{}: {}", contact.kind.label_ja(), contact.value)
}

/// The state line shared by `route` and `hours`.
struct State<'a> {
    at: DateTime<FixedOffset>,
    open: bool,
    closes_at: Option<DateTime<FixedOffset>>,
    next_open: Option<DateTime<FixedOffset>>,
    closed_reason: Option<ClosedReason>,
    holiday: Option<&'a str>,
}

fn state_lines(s: &State<'_>, out: &mut String) {
    let holiday = s.holiday.map(|h| format!("（{h}）")).unwrap_or_default();
    let _ = write!(out, "{} 時点{holiday}: ", when(s.at));
    if s.open {
        match s.closes_at {
            Some(closes) => {
                let _ = writeln!(out, "受付中（{} まで）", when(closes));
            }
            None => {
                let _ = writeln!(out, "受付中（24時間受付）");
            }
        }
        return;
    }
    let reason = s.closed_reason.map_or("受付時間外", |r| r.label_ja());
    let _ = writeln!(out, "受付していません — {reason}");
    match (s.next_open, s.closes_at) {
        (Some(open), Some(closes)) => {
            let _ = writeln!(
                out,
                "  次の受付開始: {}（{} まで）",
                when(open),
                when(closes)
            );
        }
        (Some(open), None) => {
            let _ = writeln!(out, "  次の受付開始: {}", when(open));
        }
        (None, _) => {
            let _ = writeln!(
                out,
                "  次の受付開始: 不明（受付時間が公表・登録されていません）"
            );
        }
    }
}

/// `desk route` in words (also the head of an escalation's call sheet).
pub(crate) fn route(a: &RouteAnswer) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "【連絡先】{} [{}]", a.name, a.desk);
    for contact in &a.contacts {
        let _ = writeln!(out, "  {}", contact_line(contact));
    }
    let _ = writeln!(out, "【受付時間】{}", a.hours);
    out.push_str("【状況】");
    state_lines(
        &State {
            at: a.at,
            open: a.open,
            closes_at: a.closes_at,
            next_open: a.next_open,
            closed_reason: a.closed_reason,
            holiday: a.holiday,
        },
        &mut out,
    );
    if let (Some(id), Some(name)) = (a.fallback, &a.fallback_name) {
        let until = a
            .fallback_closes_at
            .map(|c| format!("（{} まで）", when(c)))
            .unwrap_or_else(|| "（24時間受付）".to_owned());
        let _ = writeln!(out, "【今つながる窓口】{name} [{id}]{until}");
        for contact in &a.fallback_contacts {
            let _ = writeln!(out, "  {}", contact_line(contact));
        }
    } else if !a.open {
        let _ = writeln!(out, "【今つながる窓口】なし");
    }
    if a.part_desk != a.desk {
        let own = if a.part_desk_open {
            "受付中".to_owned()
        } else {
            match a.part_desk_next_open {
                Some(open) => format!("受付時間外、次の受付開始 {}", when(open)),
                None => "受付時間外".to_owned(),
            }
        };
        let _ = writeln!(
            out,
            "【部位の窓口】{} [{}]: {own}",
            a.part_desk_name, a.part_desk
        );
    }
    list(&mut out, "【用意するもの】", &a.prepare);
    list(&mut out, "【注意】", &a.notes);
    out
}

fn list(out: &mut String, title: &str, items: &[std::borrow::Cow<'static, str>]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title}");
    for item in items {
        let _ = writeln!(out, "  ・{item}");
    }
}

/// `desk hours` in words.
pub(super) fn status(s: &DeskStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} [{}]", s.name, s.desk);
    let _ = writeln!(out, "受付時間: {}", s.hours);
    state_lines(
        &State {
            at: s.at,
            open: s.open,
            closes_at: s.closes_at,
            next_open: s.next_open,
            closed_reason: s.closed_reason,
            holiday: s.holiday,
        },
        &mut out,
    );
    if s.desk == DeskId::Flets113 {
        out.push_str("  故障修理等の対応時間は 9:00〜17:00 です\n");
    }
    out
}
