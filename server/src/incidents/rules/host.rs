//! The オン資PC itself: accounts (domain.md §3), daily reboot (§2.1), screen lock and
//! ClearScreen (§2.3), app updates (§2.8).

use chrono::Duration;

use super::{Condition, Rule, SiteContext};
use crate::fleet::report::ReportDoc;
use crate::sites::{Health, ReaderMaker};

/// A PC up longer than this has missed its daily reboot (guide 1-1: about a day, with slack
/// for a PC started early and shut down late).
pub const MAX_UPTIME: Duration = Duration::hours(26);
/// The オン資 apps update themselves at least this often when nothing is wrong (guide 1-4).
pub const APPS_STALE: Duration = Duration::days(7);

const CHARGED: &str = "お客様が単独で変更したことによるトラブルの復旧は有償です";

/// Windows / 顔認証 / 連携 account changed against the installation baseline: each breaks
/// something when changed alone (domain.md §3, guide 1-4-1-1). Critical.
pub fn accounts(doc: &ReportDoc) -> Vec<Condition> {
    doc.accounts
        .iter()
        .filter(|a| a.changed())
        .map(|a| {
            let (what, consequence) = match a.kind.as_str() {
                "windows" => (
                    "Windowsアカウント",
                    "アプリの自動更新が止まり、レセコンとの連携ができなくなります",
                ),
                "face_auth" => (
                    "顔認証アカウント",
                    "カードリーダーがエラーになり、マイナンバーカードによる資格確認ができなくなります",
                ),
                "linkage" => (
                    "連携アカウント",
                    "レセコンとの連携ができなくなり、資格確認・薬剤情報の確認ができなくなります",
                ),
                _ => ("アカウント", "連携しているシステムが動かなくなるおそれがあります"),
            };
            let change: Vec<&str> = [
                (a.password_changed, "パスワード変更"),
                (a.renamed, "名前の変更"),
                (a.disabled, "無効化"),
                (a.removed, "削除"),
                (a.config_changed, "設定の変更"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, label)| *label)
            .collect();
            Condition::new(
                Rule::AccountChanged,
                Health::Critical,
                format!("{what}が導入時から変更されています（{}）", change.join("・")),
                format!(
                    "{consequence}。連携システムと同時に所定の手順で変更する必要があります。{CHARGED}"
                ),
            )
            .subject(a.kind.clone())
        })
        .collect()
}

/// No reboot for more than about a day (domain.md §2.1).
pub fn reboot(doc: &ReportDoc, ctx: &SiteContext<'_>) -> Option<Condition> {
    let boot = doc.host.boot_time?;
    let up = ctx.now - boot;
    (up > MAX_UPTIME).then(|| {
        Condition::new(
            Rule::NoDailyReboot,
            Health::Warning,
            format!("オン資PCが{}時間再起動されていません", up.num_hours()),
            "1日1回は再起動してください（朝ON・夜OFF）。更新の適用とリセットのためです",
        )
    })
}

/// Screen saver lock disabled: a security-policy deviation at the customer's own risk (low).
/// Panasonic readers use ClearScreen instead, judged by [`clear_screen`].
pub fn screen_lock(doc: &ReportDoc, ctx: &SiteContext<'_>) -> Option<Condition> {
    let lock = doc.host.screen_lock.as_ref()?;
    if lock.enabled && lock.secure || lock.clear_screen_installed || is_panasonic(doc, ctx) {
        return None;
    }
    Some(Condition::new(
        Rule::ScreenLockDisabled,
        Health::Info,
        "スクリーンセーバーのロックが無効です（推奨されない設定です）",
        "15分でロックし、再開時にWindowsのパスワードを求める設定に戻すことをおすすめします",
    ))
}

/// Panasonic reader with the screen saver off and without ClearScreen: nothing locks the PC
/// (guide 1-5: `C:\FaceAuthReader\ClearScreen`, shortcut in `shell:startup`).
pub fn clear_screen(doc: &ReportDoc, ctx: &SiteContext<'_>) -> Option<Condition> {
    let lock = doc.host.screen_lock.as_ref()?;
    if !is_panasonic(doc, ctx) || lock.clear_screen_installed || (lock.enabled && lock.secure) {
        return None;
    }
    Some(Condition::new(
        Rule::ClearScreenMissing,
        Health::Warning,
        "パナソニック製カードリーダーの ClearScreen が設定されていません",
        "C:\\FaceAuthReader\\ClearScreen のショートカットを shell:startup に置いてください（スクリーンセーバーの代わりに画面を保護します）",
    ))
}

/// The オン資 apps stopped updating themselves (account or network change, domain.md §2.8).
pub fn apps_updated(doc: &ReportDoc, ctx: &SiteContext<'_>) -> Option<Condition> {
    let updated = doc.host.apps_updated_at?;
    let age = ctx.now - updated;
    (age > APPS_STALE).then(|| {
        Condition::new(
            Rule::AppsNotUpdated,
            Health::Warning,
            format!("オン資アプリが{}日間更新されていません", age.num_days()),
            "Windowsアカウントの変更や院内ネットワークの変更で自動更新が止まることがあります。変更がなかったか確認してください",
        )
    })
}

fn is_panasonic(doc: &ReportDoc, ctx: &SiteContext<'_>) -> bool {
    doc.reader.as_ref().is_some_and(|r| r.maker == "panasonic")
        || ctx.reader_maker == Some(ReaderMaker::Panasonic)
}
