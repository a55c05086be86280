//! The latest report in plain Japanese, section by section, each section with the problems the
//! incident rules find in it (their title and what to do — the rules' own text, so nothing is
//! written twice). Pure: the report, the conditions and `now` in, rows of text out.

use chrono::{DateTime, Utc};

use crate::fleet::report::ReportDoc;
use crate::incidents::rules::{Condition, Rule};
use crate::sites::{Health, ReaderMaker, ReaderPower};

/// The sections of the site page's report, in page order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Reader,
    Certificate,
    Accounts,
    Network,
    Shares,
    ScreenLock,
    Reboot,
    Disk,
    AppUpdates,
    AgentHealth,
}

impl Section {
    pub const ALL: [Section; 10] = [
        Section::Reader,
        Section::Certificate,
        Section::Accounts,
        Section::Network,
        Section::Shares,
        Section::ScreenLock,
        Section::Reboot,
        Section::Disk,
        Section::AppUpdates,
        Section::AgentHealth,
    ];

    pub fn title_ja(self) -> &'static str {
        match self {
            Section::Reader => "顔認証付きカードリーダー",
            Section::Certificate => "電子証明書",
            Section::Accounts => "アカウント",
            Section::Network => "ネットワーク",
            Section::Shares => "共有フォルダ",
            Section::ScreenLock => "画面ロック",
            Section::Reboot => "再起動",
            Section::Disk => "ディスク",
            Section::AppUpdates => "アプリの更新",
            Section::AgentHealth => "エージェント",
        }
    }

    /// `id` / anchor of the section on the page.
    pub fn anchor(self) -> &'static str {
        match self {
            Section::Reader => "reader",
            Section::Certificate => "certificate",
            Section::Accounts => "accounts",
            Section::Network => "network",
            Section::Shares => "shares",
            Section::ScreenLock => "screen-lock",
            Section::Reboot => "reboot",
            Section::Disk => "disk",
            Section::AppUpdates => "app-updates",
            Section::AgentHealth => "agent-health",
        }
    }

    /// Where a rule's problems are shown; `offline` is about silence, not a report.
    pub fn of(rule: Rule) -> Option<Section> {
        Some(match rule {
            Rule::ReaderOff | Rule::ReaderAbsent | Rule::ReaderOnAfterClose => Section::Reader,
            Rule::ClearScreenMissing | Rule::ScreenLockDisabled => Section::ScreenLock,
            Rule::CertMissing
            | Rule::CertExpired
            | Rule::CertExpiring
            | Rule::CertDesktopFileMissing
            | Rule::CertBackupMissing => Section::Certificate,
            Rule::AccountChanged => Section::Accounts,
            Rule::NetworkUnreachable | Rule::NetworkDrift => Section::Network,
            Rule::ShareMissing => Section::Shares,
            Rule::NoDailyReboot => Section::Reboot,
            Rule::AppsNotUpdated => Section::AppUpdates,
            Rule::AgentProbeErrors | Rule::AgentSpoolLoss => Section::AgentHealth,
            Rule::Offline => return None,
        })
    }
}

/// One section as shown: facts (label, value) and problems, worst first.
#[derive(Debug, Clone)]
pub struct SectionView {
    pub section: Section,
    pub facts: Vec<(String, String)>,
    pub problems: Vec<Condition>,
}

impl SectionView {
    /// The section's colour: its worst problem, or ok.
    pub fn health(&self) -> Health {
        self.problems
            .iter()
            .map(|c| c.severity)
            .max()
            .unwrap_or(Health::Ok)
    }
}

fn yes_no(b: bool, yes: &str, no: &str) -> String {
    if b { yes } else { no }.to_owned()
}

fn date(t: Option<DateTime<Utc>>) -> String {
    crate::portal::filters::jst_text(t)
}

/// Every section of `doc`, with `conditions` (the rules' verdict on it) placed in theirs.
pub fn sections(doc: &ReportDoc, conditions: &[Condition], now: DateTime<Utc>) -> Vec<SectionView> {
    Section::ALL
        .into_iter()
        .map(|section| {
            let mut problems: Vec<Condition> = conditions
                .iter()
                .filter(|c| Section::of(c.rule) == Some(section))
                .cloned()
                .collect();
            problems.sort_by_key(|c| std::cmp::Reverse(c.severity));
            SectionView {
                section,
                facts: facts(section, doc, now),
                problems,
            }
        })
        .collect()
}

fn facts(section: Section, doc: &ReportDoc, now: DateTime<Utc>) -> Vec<(String, String)> {
    let f = |l: &str, v: String| (l.to_owned(), v);
    let h = &doc.host;
    match section {
        Section::Reader => reader(doc),
        Section::Certificate => certificate(doc, now),
        Section::Accounts => accounts(doc),
        Section::Network => network(doc),
        Section::Shares => shares(doc),
        Section::ScreenLock => match &h.screen_lock {
            None => vec![f("状態", "報告なし（点検できていません）".into())],
            Some(l) => vec![
                f(
                    "スクリーンセーバーのロック",
                    yes_no(l.enabled && l.secure, "有効", "無効"),
                ),
                f("ロックまでの時間", format!("{}分", l.timeout_seconds / 60)),
                f(
                    "ClearScreen（パナソニック製リーダー用）",
                    yes_no(l.clear_screen_installed, "設定あり", "設定なし"),
                ),
            ],
        },
        Section::Reboot => match h.boot_time {
            None => vec![f("最終起動", "報告なし".into())],
            Some(boot) => vec![
                f("最終起動", date(Some(boot))),
                f("起動してから", format!("{}時間", (now - boot).num_hours())),
            ],
        },
        Section::Disk => vec![f(
            "空き容量",
            format!("{:.1} GB", h.disk_free_bytes as f64 / 1e9),
        )],
        Section::AppUpdates => match h.apps_updated_at {
            None => vec![f("最終更新", "報告なし".into())],
            Some(t) => vec![
                f("最終更新", date(Some(t))),
                f("経過", format!("{}日", (now - t).num_days())),
            ],
        },
        Section::AgentHealth => agent(doc),
    }
}

fn reader(doc: &ReportDoc) -> Vec<(String, String)> {
    let Some(r) = &doc.reader else {
        return vec![(
            "状態".into(),
            "報告なし（カードリーダーがないか、点検できていません）".into(),
        )];
    };
    let maker = ReaderMaker::ALL
        .into_iter()
        .find(|m| m.as_str() == r.maker)
        .map_or_else(|| r.maker.clone(), |m| m.name_ja().to_owned());
    let power = ReaderPower::ALL
        .into_iter()
        .find(|p| p.as_str() == r.power)
        .map_or("不明", ReaderPower::label_ja);
    vec![
        ("メーカー".into(), maker),
        ("電源".into(), power.into()),
        (
            "電源の入れ方".into(),
            yes_no(r.manual_power, "手動（本体のスイッチ）", "オン資PCと連動"),
        ),
        (
            "リーダーのソフトウェア".into(),
            yes_no(r.software_running, "動作中", "停止"),
        ),
        ("機器名".into(), r.device_name.clone()),
    ]
}

fn certificate(doc: &ReportDoc, now: DateTime<Utc>) -> Vec<(String, String)> {
    let Some(c) = &doc.certificate else {
        return vec![("状態".into(), "報告なし（点検できていません）".into())];
    };
    if !c.present {
        return vec![("状態".into(), "見つかりません".into())];
    }
    let left = c.not_after.map_or_else(
        || "不明".into(),
        |t| format!("{}（あと{}日）", date(Some(t)), (t - now).num_days()),
    );
    vec![
        ("有効期限".into(), left),
        ("シリアル番号".into(), c.serial.clone()),
        ("発行先".into(), c.subject.clone()),
        (
            "デスクトップのファイル".into(),
            yes_no(c.desktop_file_present, "あり", "なし"),
        ),
        (
            "バックアップ".into(),
            yes_no(c.backup_seen, "確認済み", "確認できません"),
        ),
    ]
}

fn accounts(doc: &ReportDoc) -> Vec<(String, String)> {
    if doc.accounts.is_empty() {
        return vec![("状態".into(), "報告なし（点検できていません）".into())];
    }
    doc.accounts
        .iter()
        .map(|a| {
            let name = match a.kind.as_str() {
                "windows" => "Windowsアカウント",
                "face_auth" => "顔認証アカウント",
                "linkage" => "連携アカウント",
                other => other,
            };
            let state = if !a.baseline_known {
                "導入時の記録なし（比較できません）".to_owned()
            } else if a.changed() {
                "導入時から変更あり".to_owned()
            } else {
                "導入時から変更なし".to_owned()
            };
            (name.to_owned(), state)
        })
        .collect()
}

fn network(doc: &ReportDoc) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = doc
        .network
        .iter()
        .map(|t| {
            let state = match (t.reachable, t.latency_ms) {
                (true, Some(ms)) => format!("接続できます（{ms:.0} ms）"),
                (true, None) => "接続できます".into(),
                (false, _) if t.error.is_empty() => "接続できません".into(),
                (false, _) => format!("接続できません（{}）", t.error),
            };
            (format!("{}（{}）", t.name, t.address), state)
        })
        .collect();
    if let Some(ip) = &doc.ip_config {
        out.push(("IPアドレス".into(), ip.addresses.join(", ")));
        out.push(("ゲートウェイ".into(), ip.gateway.clone()));
        out.push((
            "導入時の設定との比較".into(),
            yes_no(ip.drifted, "変更あり", "変更なし"),
        ));
    }
    if out.is_empty() {
        out.push(("状態".into(), "報告なし（点検できていません）".into()));
    }
    out
}

fn shares(doc: &ReportDoc) -> Vec<(String, String)> {
    if doc.shares.is_empty() {
        return vec![("状態".into(), "報告なし（点検できていません）".into())];
    }
    doc.shares
        .iter()
        .map(|s| {
            let state = match (s.exists, s.shared) {
                (true, true) => "共有中",
                (true, false) => "フォルダはあるが共有されていません",
                _ => "フォルダがありません",
            };
            (s.name.clone(), state.to_owned())
        })
        .collect()
}

fn agent(doc: &ReportDoc) -> Vec<(String, String)> {
    let a = &doc.agent;
    let mut out = vec![
        ("バージョン".into(), doc.host.agent_version.clone()),
        ("PC名".into(), doc.host.hostname.clone()),
        ("OS".into(), doc.host.os.clone()),
        (
            "送信待ち".into(),
            format!("{} 件（{} KB）", a.spool_backlog, a.spool_bytes / 1024),
        ),
        (
            "失われた報告".into(),
            format!(
                "破棄 {} 件・破損 {} 件・サーバーが拒否 {} 件",
                a.spool_dropped, a.spool_corrupt, a.spool_rejected
            ),
        ),
    ];
    if a.probe_errors.is_empty() {
        out.push(("点検エラー".into(), "なし".into()));
    } else {
        for e in &a.probe_errors {
            out.push(("点検エラー".into(), e.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests;
