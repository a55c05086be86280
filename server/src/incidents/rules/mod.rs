//! Rules: each a small pure function over the latest report, the site's profile and `now`
//! (domain.md §2–§3), returning the conditions that hold. A condition becomes an incident by
//! its fingerprint (site, rule, subject) in `incidents::lifecycle`.
//!
//! The guide section each rule encodes is in its doc comment. Text is Japanese: `title` is one
//! line for lists and notifications, `detail` says what to do.

mod agent;
pub use host::{APPS_STALE, MAX_UPTIME};
pub mod cert;
mod host;
mod network;
mod reader;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::desk::{JST, Part};
use crate::fleet::report::ReportDoc;
use crate::sites::hours::BusinessHours;
use crate::sites::{Health, ReaderMaker, SiteKind};

/// Every rule, with a stable code (stored in `incidents.rule`, used in silences and the API).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    sqlx::Type,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Rule {
    ReaderOff,
    ReaderAbsent,
    ReaderOnAfterClose,
    ClearScreenMissing,
    CertMissing,
    CertExpired,
    CertExpiring,
    CertDesktopFileMissing,
    CertBackupMissing,
    AccountChanged,
    NetworkUnreachable,
    NetworkDrift,
    ShareMissing,
    NoDailyReboot,
    ScreenLockDisabled,
    AppsNotUpdated,
    AgentProbeErrors,
    AgentSpoolLoss,
    /// Raised by the offline sweep, not by a report.
    Offline,
}

impl Rule {
    pub const ALL: [Rule; 19] = [
        Rule::ReaderOff,
        Rule::ReaderAbsent,
        Rule::ReaderOnAfterClose,
        Rule::ClearScreenMissing,
        Rule::CertMissing,
        Rule::CertExpired,
        Rule::CertExpiring,
        Rule::CertDesktopFileMissing,
        Rule::CertBackupMissing,
        Rule::AccountChanged,
        Rule::NetworkUnreachable,
        Rule::NetworkDrift,
        Rule::ShareMissing,
        Rule::NoDailyReboot,
        Rule::ScreenLockDisabled,
        Rule::AppsNotUpdated,
        Rule::AgentProbeErrors,
        Rule::AgentSpoolLoss,
        Rule::Offline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::ReaderOff => "reader_off",
            Rule::ReaderAbsent => "reader_absent",
            Rule::ReaderOnAfterClose => "reader_on_after_close",
            Rule::ClearScreenMissing => "clear_screen_missing",
            Rule::CertMissing => "cert_missing",
            Rule::CertExpired => "cert_expired",
            Rule::CertExpiring => "cert_expiring",
            Rule::CertDesktopFileMissing => "cert_desktop_file_missing",
            Rule::CertBackupMissing => "cert_backup_missing",
            Rule::AccountChanged => "account_changed",
            Rule::NetworkUnreachable => "network_unreachable",
            Rule::NetworkDrift => "network_drift",
            Rule::ShareMissing => "share_missing",
            Rule::NoDailyReboot => "no_daily_reboot",
            Rule::ScreenLockDisabled => "screen_lock_disabled",
            Rule::AppsNotUpdated => "apps_not_updated",
            Rule::AgentProbeErrors => "agent_probe_errors",
            Rule::AgentSpoolLoss => "agent_spool_loss",
            Rule::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Short Japanese name, for lists and grouped notifications ("カードリーダー電源断 ×30").
    pub fn label_ja(self) -> &'static str {
        match self {
            Rule::ReaderOff => "カードリーダー電源断",
            Rule::ReaderAbsent => "カードリーダー未接続",
            Rule::ReaderOnAfterClose => "閉院後もカードリーダー電源オン",
            Rule::ClearScreenMissing => "ClearScreen 未設定",
            Rule::CertMissing => "電子証明書なし",
            Rule::CertExpired => "電子証明書期限切れ",
            Rule::CertExpiring => "電子証明書期限間近",
            Rule::CertDesktopFileMissing => "電子証明書ファイルなし",
            Rule::CertBackupMissing => "電子証明書バックアップ未確認",
            Rule::AccountChanged => "アカウント変更",
            Rule::NetworkUnreachable => "ネットワーク接続不可",
            Rule::NetworkDrift => "ネットワーク設定変更",
            Rule::ShareMissing => "共有フォルダなし",
            Rule::NoDailyReboot => "再起動されていない",
            Rule::ScreenLockDisabled => "画面ロック無効",
            Rule::AppsNotUpdated => "アプリ更新停止",
            Rule::AgentProbeErrors => "エージェント点検エラー",
            Rule::AgentSpoolLoss => "エージェント送信データ欠損",
            Rule::Offline => "オン資PC 停止中",
        }
    }

    /// The part whose desk handles it (desk routing, domain.md §4); `None` when the site
    /// fixes it itself (reboot, screen lock) or it is about our own agent.
    pub fn part(self, subject: &str) -> Option<Part> {
        match self {
            Rule::ReaderOff
            | Rule::ReaderAbsent
            | Rule::ReaderOnAfterClose
            | Rule::ClearScreenMissing => Some(Part::CardReader),
            Rule::CertMissing
            | Rule::CertExpired
            | Rule::CertExpiring
            | Rule::CertDesktopFileMissing
            | Rule::CertBackupMissing
            | Rule::AppsNotUpdated => Some(Part::HowTo),
            // Recovery after a customer change is NTT East's (charged) work (domain.md §3).
            Rule::AccountChanged | Rule::NetworkDrift | Rule::ShareMissing => {
                Some(Part::ChangeRequest)
            }
            Rule::NetworkUnreachable if subject == "router" => Some(Part::Router),
            Rule::NetworkUnreachable => Some(Part::Line),
            Rule::Offline => Some(Part::Pc),
            Rule::NoDailyReboot
            | Rule::ScreenLockDisabled
            | Rule::AgentProbeErrors
            | Rule::AgentSpoolLoss => None,
        }
    }

    /// Whether an incident of this rule resolves by itself when the condition is gone. Lost
    /// reports are said once, in one report: that incident must stay until an operator has
    /// seen it (issue 16).
    pub fn auto_resolves(self) -> bool {
        !matches!(self, Rule::AgentSpoolLoss)
    }
}

/// What the rules know of the site besides the report.
#[derive(Debug, Clone, Copy)]
pub struct SiteContext<'a> {
    pub kind: Option<SiteKind>,
    pub reader_maker: Option<ReaderMaker>,
    /// `None`: hours unknown, treated as open (no condition is hidden for lack of data).
    pub hours: Option<&'a BusinessHours>,
    pub now: DateTime<Utc>,
}

impl<'a> SiteContext<'a> {
    /// Nothing known but the time: how ingest colours a report.
    pub fn unknown(now: DateTime<Utc>) -> SiteContext<'static> {
        SiteContext {
            kind: None,
            reader_maker: None,
            hours: None,
            now,
        }
    }

    pub fn is_open(&self) -> bool {
        self.hours
            .is_none_or(|h| h.is_open(self.now.with_timezone(&JST)))
    }
}

/// One condition that holds for the site now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub rule: Rule,
    pub subject: String,
    pub severity: Health,
    /// One line, Japanese.
    pub title: String,
    /// What to do, Japanese (from the guide).
    pub detail: String,
    #[serde(default)]
    pub evidence: serde_json::Value,
}

impl Condition {
    fn new(
        rule: Rule,
        severity: Health,
        title: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Condition {
            rule,
            subject: String::new(),
            severity,
            title: title.into(),
            detail: detail.into(),
            evidence: serde_json::Value::Null,
        }
    }

    fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = subject.into();
        self
    }

    fn evidence(mut self, evidence: serde_json::Value) -> Self {
        self.evidence = evidence;
        self
    }
}

/// Every condition the report shows, in a stable order.
pub fn evaluate(doc: &ReportDoc, ctx: &SiteContext<'_>) -> Vec<Condition> {
    let mut out = Vec::new();
    out.extend(reader::power(doc, ctx));
    out.extend(reader::on_after_close(doc, ctx));
    out.extend(host::clear_screen(doc, ctx));
    out.extend(cert::certificate(doc, ctx));
    out.extend(host::accounts(doc));
    out.extend(network::unreachable(doc));
    out.extend(network::drift(doc));
    out.extend(network::shares(doc, ctx));
    out.extend(host::reboot(doc, ctx));
    out.extend(host::screen_lock(doc, ctx));
    out.extend(host::apps_updated(doc, ctx));
    out.extend(agent::probe_errors(doc));
    out.extend(agent::spool_loss(doc));
    out
}
