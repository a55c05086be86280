//! 顔認証付きカードリーダー (domain.md §2.4, guide 1-1-2).

use chrono::Duration;

use super::{Condition, Rule, SiteContext};
use crate::desk::JST;
use crate::fleet::report::ReportDoc;
use crate::sites::{Health, ReaderMaker};

/// A manual-power reader may stay on this long after closing before it is a finding.
pub const AFTER_CLOSE_GRACE: Duration = Duration::minutes(30);

/// Reader off or not found while the site is open: patients cannot be verified (critical).
/// Outside business hours a reader that is off is normal (it must be off for its nightly
/// update, guide 1-1-2).
pub fn power(doc: &ReportDoc, ctx: &SiteContext<'_>) -> Option<Condition> {
    let reader = doc.reader.as_ref()?;
    if !ctx.is_open() {
        return None;
    }
    let manual = is_manual(doc, ctx);
    match reader.power.as_str() {
        "absent" => Some(Condition::new(
            Rule::ReaderAbsent,
            Health::Critical,
            "顔認証付きカードリーダーが見つかりません",
            "接続ケーブル（USB）と電源を確認してください。直らない場合はカードリーダーのメーカー窓口に連絡してください",
        )),
        "off" => Some(Condition::new(
            Rule::ReaderOff,
            Health::Critical,
            "顔認証付きカードリーダーの電源が切れています（営業時間中）",
            if manual {
                // guide 1-1-2: ALMEX rear lower-left switch, Canon rear centre button.
                "カードリーダー本体の電源を手動で入れてください（ALMEX: 背面左下のスイッチ、キヤノン: ディスプレイ背面中央のボタン）"
            } else {
                "このカードリーダーはオン資PCと連動して電源が入ります。オン資PCを再起動してください"
            },
        )),
        _ => None,
    }
}

/// A reader switched by hand (ALMEX, Canon) still on 30 min after closing: its nightly system
/// update will not apply (warning, guide 1-1-2 / domain.md §2.4).
pub fn on_after_close(doc: &ReportDoc, ctx: &SiteContext<'_>) -> Option<Condition> {
    let reader = doc.reader.as_ref()?;
    let hours = ctx.hours?;
    if reader.power != "on" || !is_manual(doc, ctx) || ctx.is_open() {
        return None;
    }
    let now = ctx.now.with_timezone(&JST);
    let closed_at = hours.last_close(now)?;
    (now - closed_at >= AFTER_CLOSE_GRACE).then(|| {
        Condition::new(
            Rule::ReaderOnAfterClose,
            Health::Warning,
            format!(
                "閉院後（{}）もカードリーダーの電源が入ったままです",
                if closed_at.date_naive() == now.date_naive() {
                    closed_at.format("%H:%M").to_string()
                } else {
                    closed_at.format("%m/%d %H:%M").to_string()
                }
            ),
            "夜間はカードリーダーの電源を切ってください。電源が入ったままだとシステム更新が適用されません（ALMEX: 背面左下のスイッチ、キヤノン: ディスプレイ背面中央のボタン）",
        )
        .evidence(serde_json::json!({ "closed_at": closed_at.to_rfc3339() }))
    })
}

fn is_manual(doc: &ReportDoc, ctx: &SiteContext<'_>) -> bool {
    doc.reader.as_ref().is_some_and(|r| r.manual_power)
        || ctx.reader_maker.is_some_and(ReaderMaker::manual_power)
}
