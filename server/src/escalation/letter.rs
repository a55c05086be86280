//! The wording of a draft, in Japanese, in the formats of the guide (1-8-3 / 2-11-3): the
//! Lenovo mail (subject tags 【I026_01】【医療オンライン資格確認】, the serial from the PC's
//! label, the site), a call script for phone desks, what to enter in Apresia's web form. Pure.

use std::fmt::Write;

use chrono::{DateTime, FixedOffset, Utc};

use super::draft::Facts;
use super::model::Channel;
use crate::desk::{DeskId, JST, RouteAnswer};
use crate::sites::profile::replacement_until;

/// Subject tags the Lenovo desk sorts mail by (guide 1-8-3: 「件名に上記または【I026_01】を
/// 付与してください」 — we give both).
pub const LENOVO_TAG: &str = "【I026_01】";
pub const ONSHI_TAG: &str = "【医療オンライン資格確認】";

pub(super) struct Input<'a> {
    pub facts: &'a Facts<'a>,
    pub desk: DeskId,
    pub desk_name: &'a str,
    pub channel: Channel,
    pub serial: &'a str,
    pub answer: &'a RouteAnswer,
    pub at: DateTime<FixedOffset>,
}

pub(super) struct Text {
    pub subject: String,
    pub body: String,
    pub warnings: Vec<String>,
}

const UNKNOWN: &str = "（未登録）";

fn jst(t: DateTime<Utc>) -> String {
    t.with_timezone(&JST).format("%Y-%m-%d %H:%M").to_string()
}

fn or_unknown(s: &str) -> &str {
    if s.trim().is_empty() { UNKNOWN } else { s }
}

/// The site's details every desk asks for (guide 1-8: 施設の情報), and the missing ones.
fn site_lines(f: &Facts<'_>, out: &mut String, warnings: &mut Vec<String>) {
    let s = f.site;
    let fields = [
        ("医療機関等名称", s.name.as_str()),
        ("医療機関等コード", s.medical_code.as_str()),
        ("所在地", s.address.as_str()),
        ("電話番号", s.phone.as_str()),
        ("ご担当者", s.contact_person.as_str()),
    ];
    for (label, value) in fields {
        let _ = writeln!(out, "  {label}: {}", or_unknown(value));
        if value.trim().is_empty() {
            warnings.push(format!(
                "{label}がサイト情報に未登録です。送信・連絡の前に本文に記入するか、サイト情報に登録してください"
            ));
        }
    }
    let _ = writeln!(out, "  営業時間: {}", f.site_hours_ja);
}

/// The symptom from the incident: its title and advice, when it was seen, the evidence.
fn symptom_lines(f: &Facts<'_>, out: &mut String) {
    let i = f.incident;
    let _ = writeln!(out, "  {}: {}", i.rule.label_ja(), i.title);
    for line in i.detail.lines().filter(|l| !l.trim().is_empty()) {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(
        out,
        "  検知: {} 〜 {}（{}回の報告で確認）",
        jst(i.first_seen),
        jst(i.last_seen),
        i.count
    );
    if let Some(map) = i.evidence.as_object() {
        for (key, value) in map {
            let value = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            let _ = writeln!(out, "  {key}: {value}");
        }
    }
}

/// The purchase date and the 5-year replacement window (guide 1-8-3), with a warning when it
/// is over.
fn warranty_line(
    purchased: Option<chrono::NaiveDate>,
    kind: &str,
    at: DateTime<FixedOffset>,
    warnings: &mut Vec<String>,
) -> String {
    match purchased {
        Some(day) => {
            let until = replacement_until(day);
            if at.date_naive() > until {
                warnings.push(format!(
                    "購入日（{day}）から5年を過ぎています。{kind}の保証期間外の可能性があります（有償の場合があります）"
                ));
            }
            format!("{day}（{kind}: {until} まで）")
        }
        None => UNKNOWN.into(),
    }
}

fn signature(f: &Facts<'_>, out: &mut String) {
    let _ = writeln!(
        out,
        "\nご不明な点は本メールへの返信でお知らせください。\nオンライン資格確認端末 保守デスク 担当: {}",
        f.operator
    );
}

/// guide 1-8-3: the Lenovo desk (日本コムシス) by mail.
fn lenovo_mail(i: &Input<'_>, warnings: &mut Vec<String>) -> (String, String) {
    let f = i.facts;
    let subject = format!(
        "{LENOVO_TAG}{ONSHI_TAG}機器故障連絡・問合せ（{}）",
        f.site.name
    );
    let mut b = String::new();
    let _ = writeln!(b, "日本コムシス株式会社\nレノボPC 故障受付 ご担当者様\n");
    let _ = writeln!(
        b,
        "いつもお世話になっております。\n{ONSHI_TAG}用のPC（Lenovo）の故障についてご連絡いたします。\n代替機の手配（先出しセンドバック）をお願いいたします。\n"
    );
    let _ = writeln!(b, "■ シリアル番号（PC本体に記載）\n  {}", i.serial);
    let warranty = warranty_line(f.site.pc_purchased_on, "5年間の代替機交換", i.at, warnings);
    let _ = writeln!(b, "■ 購入日\n  {warranty}");
    let _ = writeln!(b, "■ 設置先");
    site_lines(f, &mut b, warnings);
    let _ = writeln!(b, "■ 症状");
    symptom_lines(f, &mut b);
    signature(f, &mut b);
    (subject, b)
}

/// A mail to a maker or vendor desk whose only recorded contact is a mail address.
fn generic_mail(i: &Input<'_>, warnings: &mut Vec<String>) -> (String, String) {
    let f = i.facts;
    let subject = format!(
        "{ONSHI_TAG}{} 故障連絡・問合せ（{}）",
        i.answer.part.label_ja(),
        f.site.name
    );
    let mut b = String::new();
    let _ = writeln!(b, "{} ご担当者様\n", i.desk_name);
    let _ = writeln!(
        b,
        "いつもお世話になっております。\n{ONSHI_TAG}の端末（{}）の不具合についてご連絡いたします。\nご対応をお願いいたします。\n",
        i.answer.part.label_ja()
    );
    if !i.serial.is_empty() {
        let _ = writeln!(b, "■ シリアル番号\n  {}", i.serial);
    }
    let _ = writeln!(b, "■ 設置先");
    site_lines(f, &mut b, warnings);
    let _ = writeln!(b, "■ 症状");
    symptom_lines(f, &mut b);
    signature(f, &mut b);
    (subject, b)
}

/// What to say on the phone, numbered, then what to have ready and know (from routing).
fn call_script(i: &Input<'_>, warnings: &mut Vec<String>) -> String {
    let f = i.facts;
    let mut b = String::new();
    let _ = writeln!(b, "【伝えること】");
    let what = match i.desk {
        DeskId::AlliedRouter | DeskId::YamahaRouter => format!(
            "{ONSHI_TAG}用ルータ（{}）の故障受付をお願いします（5年間オンサイト交換の対象か確認）",
            f.site.router_model.map_or("", |m| m.name())
        ),
        DeskId::Omakase => format!(
            "「Nにおまかせ！ITサポート」契約施設の{}について、問診切り分けと対応をお願いします",
            i.answer.part.label_ja()
        ),
        _ => format!(
            "{ONSHI_TAG}の端末（{}）についての問い合わせです",
            i.answer.part.label_ja()
        ),
    };
    let _ = writeln!(b, "1. {what}");
    let mut n = 2;
    if !i.serial.is_empty() {
        let form = match (i.desk, f.site.router_model) {
            (DeskId::AlliedRouter | DeskId::YamahaRouter, Some(model)) => format!(
                "（ルータ本体に記載の「{}」から始まる番号）",
                crate::desk::serial::router_prefix(model)
            ),
            _ => String::new(),
        };
        let _ = writeln!(b, "{n}. シリアル番号: {}{form}", i.serial);
        n += 1;
    }
    if matches!(i.desk, DeskId::AlliedRouter | DeskId::YamahaRouter) {
        let warranty = warranty_line(
            f.site.router_purchased_on,
            "5年間オンサイト交換",
            i.at,
            warnings,
        );
        let _ = writeln!(b, "{n}. 購入日: {warranty}");
        n += 1;
    }
    let _ = writeln!(b, "{n}. 症状:");
    symptom_lines(f, &mut b);
    let _ = writeln!(b, "{}. 設置先（訪問・折り返しは営業時間内に）:", n + 1);
    site_lines(f, &mut b, warnings);
    advice(i.answer, &mut b);
    b
}

/// guide 1-8-3: Apresia takes replacement requests only through its web form.
fn web_form(i: &Input<'_>, warnings: &mut Vec<String>) -> String {
    let f = i.facts;
    let mut b = String::new();
    let _ = writeln!(b, "【申請先】{}", i.desk_name);
    for c in &i.answer.contacts {
        let _ = writeln!(b, "  {}", c.value);
    }
    let _ = writeln!(b, "【入力する内容】");
    let _ = writeln!(b, "  製品名: ApresiaLightGC105-SS（{ONSHI_TAG}用 HUB）");
    let serial = if i.serial.is_empty() {
        warnings.push(
            "HUB のシリアル番号が未登録です。本体に記載の番号を確認して入力してください".into(),
        );
        "（本体に記載の番号を確認）"
    } else {
        i.serial
    };
    let _ = writeln!(b, "  シリアル番号: {serial}");
    let warranty = warranty_line(f.site.hub_purchased_on, "保証", i.at, warnings);
    let _ = writeln!(b, "  購入日: {warranty}");
    let _ = writeln!(b, "  症状:");
    symptom_lines(f, &mut b);
    let _ = writeln!(b, "  設置先・ご担当者:");
    site_lines(f, &mut b, warnings);
    advice(i.answer, &mut b);
    b
}

fn advice(answer: &RouteAnswer, b: &mut String) {
    for (title, items) in [
        ("【用意するもの】", &answer.prepare),
        ("【注意】", &answer.notes),
    ] {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(b, "{title}");
        for item in items {
            let _ = writeln!(b, "  ・{item}");
        }
    }
}

pub(super) fn compose(i: &Input<'_>) -> Text {
    let mut warnings = Vec::new();
    let (subject, body) = match (i.channel, i.desk) {
        (Channel::Mail, DeskId::LenovoPc) => lenovo_mail(i, &mut warnings),
        (Channel::Mail, _) => generic_mail(i, &mut warnings),
        (Channel::Phone, _) => (String::new(), call_script(i, &mut warnings)),
        (Channel::WebForm, _) => (String::new(), web_form(i, &mut warnings)),
    };
    if i.facts.site.maintenance == crate::sites::Maintenance::Omakase
        && i.desk != DeskId::Omakase
        && i.answer.part.is_standard_configuration()
    {
        warnings.push("このサイトは「Nにおまかせ！ITサポート」に加入しています。通常は先におまかせの専用ダイヤルで切り分けを依頼します".into());
    }
    Text {
        subject,
        body,
        warnings,
    }
}
