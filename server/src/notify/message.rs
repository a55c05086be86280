//! What a message says (pure): a group of incidents becomes one subject, one text body and one
//! JSON payload — "8:31 — 30 サイトでカードリーダー電源断" with the list, not 30 messages.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::MessageKind;
use super::outbox::SystemEvent;
use crate::desk::JST;
use crate::incidents::rules::Rule;
use crate::sites::{Health, SiteKind};

/// Lines of the incident list in the text body; the payload carries up to [`MAX_PAYLOAD_ITEMS`].
pub const MAX_LIST_LINES: usize = 50;
pub const MAX_PAYLOAD_ITEMS: usize = 1000;

/// One incident in a message.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Item {
    pub incident_id: i64,
    pub site_id: String,
    pub site_name: String,
    pub prefecture: String,
    pub site_kind: SiteKind,
    pub rule: Rule,
    pub severity: Health,
    pub title: String,
    pub first_seen: DateTime<Utc>,
}

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
    pub payload: serde_json::Value,
}

fn hm(t: DateTime<Utc>) -> String {
    t.with_timezone(&JST).format("%-H:%M").to_string()
}

fn tag(kind: MessageKind, severity: Health) -> String {
    match kind {
        MessageKind::Opened => format!("【{}】", severity.label_ja()),
        MessageKind::Resolved => "【解消】".into(),
        MessageKind::Repeat => format!("【再通知・{}】", severity.label_ja()),
        MessageKind::Event => format!("【お知らせ・{}】", severity.label_ja()),
        MessageKind::Test => "【テスト】".into(),
    }
}

/// "30 サイトでカードリーダー電源断", or with several rules "12 サイトで障害 3 種類（カードリーダー電源断 ほか）".
fn headline(items: &[Item]) -> String {
    let mut sites: Vec<&str> = items.iter().map(|i| i.site_id.as_str()).collect();
    sites.sort_unstable();
    sites.dedup();
    let mut by_rule: BTreeMap<Rule, usize> = BTreeMap::new();
    for i in items {
        *by_rule.entry(i.rule).or_default() += 1;
    }
    let mut rules: Vec<(Rule, usize)> = by_rule.into_iter().collect();
    // The most frequent rule names the group.
    rules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let first = rules.first().map(|(r, _)| r.label_ja()).unwrap_or("障害");
    let what = if rules.len() <= 1 {
        first.to_owned()
    } else {
        format!("障害 {} 種類（{first} ほか）", rules.len())
    };
    if sites.len() == 1 && items.len() == 1 {
        format!("{}で{what}", items[0].site_name)
    } else {
        format!("{} サイトで{what}", sites.len())
    }
}

/// A grouped message about `items` (not empty), started at `at`.
pub fn render(
    kind: MessageKind,
    items: &[Item],
    at: DateTime<Utc>,
    portal_url: Option<&str>,
) -> Rendered {
    let severity = items
        .iter()
        .map(|i| i.severity)
        .max()
        .unwrap_or(Health::Warning);
    let headline = headline(items);
    let title = match kind {
        MessageKind::Resolved => format!("{} — {headline}が解消しました", hm(at)),
        MessageKind::Repeat => format!("{} — 未確認のまま: {headline}", hm(at)),
        _ => format!("{} — {headline}", hm(at)),
    };
    let subject = format!("{}{title}", tag(kind, severity));
    let mut body = format!("{title}\n\n");
    for i in items.iter().take(MAX_LIST_LINES) {
        body.push_str(&format!(
            "・{}（{}・{}）{}: {}［障害 #{}、{} 検知］\n",
            i.site_name,
            if i.prefecture.is_empty() {
                "都道府県未登録"
            } else {
                &i.prefecture
            },
            i.site_kind.label_ja(),
            i.rule.label_ja(),
            i.title,
            i.incident_id,
            i.first_seen.with_timezone(&JST).format("%m/%d %H:%M"),
        ));
    }
    if items.len() > MAX_LIST_LINES {
        body.push_str(&format!("・ほか {} 件\n", items.len() - MAX_LIST_LINES));
    }
    body.push('\n');
    body.push_str(match kind {
        MessageKind::Resolved => "これらの障害は解消しました（対応は不要です）。\n",
        MessageKind::Repeat => {
            "重大な障害が未確認のままです。ポータルで確認（対応中）にしてください。\n"
        }
        _ => "ポータルで詳細と連絡先の窓口を確認してください。\n",
    });
    if let Some(url) = portal_url {
        body.push_str(&format!("{}/\n", url.trim_end_matches('/')));
    }
    let payload = serde_json::json!({
        "kind": kind,
        "title": title,
        "severity": severity,
        "started_at": at,
        "incident_count": items.len(),
        "incidents": items.iter().take(MAX_PAYLOAD_ITEMS).collect::<Vec<_>>(),
        "truncated": items.len().saturating_sub(MAX_PAYLOAD_ITEMS),
    });
    Rendered {
        subject,
        body,
        payload,
    }
}

/// A non-incident event, alone in its message.
pub fn render_event(event: &SystemEvent, at: DateTime<Utc>, portal_url: Option<&str>) -> Rendered {
    let title = format!("{} — {}", hm(at), event.subject);
    let mut body = format!("{title}\n\n{}\n", event.body.trim_end());
    if let Some(url) = portal_url {
        body.push_str(&format!("\n{}/\n", url.trim_end_matches('/')));
    }
    Rendered {
        subject: format!("{}{title}", tag(MessageKind::Event, event.severity)),
        body,
        payload: serde_json::json!({
            "kind": MessageKind::Event,
            "title": title,
            "severity": event.severity,
            "started_at": at,
            "event": { "kind": event.kind, "subject": event.subject, "body": event.body },
        }),
    }
}

/// The message of `channel test`.
pub fn render_test(channel: &str, actor: &str, at: DateTime<Utc>) -> Rendered {
    let title = format!("{} — 通知チャネル「{channel}」のテスト送信", hm(at));
    Rendered {
        subject: format!("{}{title}", tag(MessageKind::Test, Health::Info)),
        body: format!(
            "{title}\n\nOnshi Fleet からのテスト送信です（実行: {actor}）。\nこのメッセージが届いていれば、通知チャネルの設定は正しく動作しています。\n"
        ),
        payload: serde_json::json!({
            "kind": MessageKind::Test, "title": title, "severity": Health::Info, "started_at": at,
        }),
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
