use chrono::TimeZone;

use super::*;

fn at() -> DateTime<Utc> {
    // 8:31 JST.
    Utc.with_ymd_and_hms(2026, 3, 2, 23, 31, 5).unwrap()
}

fn item(n: usize, rule: Rule, severity: Health) -> Item {
    Item {
        incident_id: n as i64,
        site_id: format!("site-{n:02}"),
        site_name: format!("テスト医院{n}"),
        prefecture: "東京都".into(),
        site_kind: SiteKind::Clinic,
        rule,
        severity,
        title: "カードリーダーの電源が入っていません".into(),
        first_seen: at(),
    }
}

#[test]
fn thirty_sites_with_one_rule_are_one_line_headline_and_a_list() {
    let items: Vec<Item> = (1..=30)
        .map(|n| item(n, Rule::ReaderOff, Health::Critical))
        .collect();
    let m = render(
        MessageKind::Opened,
        &items,
        at(),
        Some("https://portal.example.jp/"),
    );
    assert_eq!(m.subject, "【異常】8:31 — 30 サイトでカードリーダー電源断");
    assert!(
        m.body
            .starts_with("8:31 — 30 サイトでカードリーダー電源断\n"),
        "{}",
        m.body
    );
    assert_eq!(m.body.matches("・テスト医院").count(), 30);
    assert!(m.body.contains("テスト医院7（東京都・"), "{}", m.body);
    assert!(m.body.contains("https://portal.example.jp/\n"));
    assert_eq!(m.payload["incident_count"], 30);
    assert_eq!(m.payload["incidents"].as_array().unwrap().len(), 30);
    assert_eq!(m.payload["incidents"][0]["rule"], "reader_off");
    assert_eq!(m.payload["severity"], "critical");
}

#[test]
fn one_incident_names_its_site() {
    let m = render(
        MessageKind::Opened,
        &[item(1, Rule::CertExpiring, Health::Warning)],
        at(),
        None,
    );
    assert_eq!(
        m.subject,
        format!(
            "【注意】8:31 — テスト医院1で{}",
            Rule::CertExpiring.label_ja()
        )
    );
    assert!(!m.body.contains("http"));
}

#[test]
fn mixed_rules_name_the_most_frequent() {
    let mut items: Vec<Item> = (1..=3)
        .map(|n| item(n, Rule::Offline, Health::Critical))
        .collect();
    items.push(item(4, Rule::ReaderOff, Health::Warning));
    let m = render(MessageKind::Opened, &items, at(), None);
    assert_eq!(
        m.subject,
        format!(
            "【異常】8:31 — 4 サイトで障害 2 種類（{} ほか）",
            Rule::Offline.label_ja()
        )
    );
}

#[test]
fn resolution_and_repeat_say_so() {
    let items: Vec<Item> = (1..=2)
        .map(|n| item(n, Rule::ReaderOff, Health::Critical))
        .collect();
    let m = render(MessageKind::Resolved, &items, at(), None);
    assert_eq!(
        m.subject,
        "【解消】8:31 — 2 サイトでカードリーダー電源断が解消しました"
    );
    assert!(m.body.contains("対応は不要"));
    let m = render(MessageKind::Repeat, &items, at(), None);
    assert!(
        m.subject.starts_with("【再通知・異常】8:31 — 未確認のまま"),
        "{}",
        m.subject
    );
}

#[test]
fn long_lists_are_cut_with_a_count() {
    let items: Vec<Item> = (1..=1200)
        .map(|n| item(n, Rule::Offline, Health::Critical))
        .collect();
    let m = render(MessageKind::Opened, &items, at(), None);
    assert_eq!(m.body.matches("・テスト医院").count(), MAX_LIST_LINES);
    assert!(m.body.contains("・ほか 1150 件"));
    assert_eq!(
        m.payload["incidents"].as_array().unwrap().len(),
        MAX_PAYLOAD_ITEMS
    );
    assert_eq!(m.payload["truncated"], 200);
    assert!(m.body.len() < crate::mail::MAX_BODY_BYTES);
}

#[test]
fn events_and_tests() {
    let e = SystemEvent {
        kind: "rollout_halted".into(),
        subject: "更新 1.4.2 のロールアウトを停止しました".into(),
        body: "失敗が続いたため停止しました。".into(),
        severity: Health::Critical,
    };
    let m = render_event(&e, at(), None);
    assert_eq!(
        m.subject,
        "【お知らせ・異常】8:31 — 更新 1.4.2 のロールアウトを停止しました"
    );
    assert_eq!(m.payload["event"]["kind"], "rollout_halted");
    let t = render_test("ops", "cli:root", at());
    assert!(t.subject.starts_with("【テスト】"));
    assert!(t.body.contains("cli:root"));
}
