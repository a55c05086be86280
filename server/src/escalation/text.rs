//! Drafts and cases in words for a person at a shell (`escalation draft|list`). Pure.

use std::fmt::Write;

use super::draft::Draft;
use super::model::Channel;
use super::query::Escalation;
use crate::portal::filters::jst_text;

/// A draft: where it goes and how, what to check, the text, then the desk's state.
pub fn draft(d: &Draft, saved_as: Option<i64>) -> String {
    let mut out = String::new();
    if let Some(id) = saved_as {
        let _ = writeln!(out, "下書き {id} を保存しました");
    }
    let _ = writeln!(out, "【依頼先】{} [{}]", d.desk_name, d.desk);
    let _ = writeln!(out, "【方法】{}", d.channel.label_ja());
    let to_label = match d.channel {
        Channel::Mail => "宛先",
        Channel::Phone => "電話番号",
        Channel::WebForm => "申請フォーム",
    };
    let _ = writeln!(out, "【{to_label}】{}", d.to);
    if !d.subject.is_empty() {
        let _ = writeln!(out, "【件名】{}", d.subject);
    }
    if !d.serial.is_empty() {
        let _ = writeln!(out, "【シリアル番号】{}", d.serial);
    }
    if !d.warnings.is_empty() {
        let _ = writeln!(out, "【送信・連絡の前に確認】");
        for w in &d.warnings {
            let _ = writeln!(out, "  ・{w}");
        }
    }
    let _ = writeln!(
        out,
        "【{}】\n{}",
        if d.channel == Channel::Mail {
            "本文"
        } else {
            "連絡メモ"
        },
        d.body.trim_end()
    );
    let _ = writeln!(out, "\n―― 窓口の状況 ――\n{}", d.sheet.trim_end());
    out
}

/// One line per case.
pub fn list(cases: &[Escalation]) -> String {
    if cases.is_empty() {
        return "該当するエスカレーションはありません\n".into();
    }
    let mut out = String::from("ID\t障害\t窓口\t方法\t状態\t受付番号\t依頼\t回答期限\t催促\n");
    for e in cases {
        let status = match (e.status, e.visit_on) {
            (super::model::Status::VisitScheduled, Some(day)) => {
                format!("{}（{day}）", e.status_label)
            }
            _ => e.status_label.to_owned(),
        };
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            e.id,
            e.incident_id,
            e.desk_name,
            e.channel_label,
            status,
            if e.ticket.is_empty() { "-" } else { &e.ticket },
            jst_text(e.requested_at),
            jst_text(e.due_at),
            e.reminder.as_ref().map_or("-", |r| r.message.as_str()),
        );
    }
    out
}
