//! Health rules: what in a report makes a site red (critical) or amber
//! (warning). Pure: `now` is a parameter. The incident engine builds on these
//! findings; the rules encode domain.md §2 (guide 1-1, 1-4, 1-7).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::report::ReportDoc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Ok,
    Warning,
    Critical,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Warning => "warning",
            Health::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable machine code, e.g. `cert_expired`.
    pub code: String,
    pub severity: Health,
    /// What the operator reads (Japanese), including what to do.
    pub message: String,
}

/// Certificate expiry warning thresholds in days (domain.md §2.5).
pub const CERT_WARN_DAYS: [i64; 5] = [60, 30, 14, 7, 1];
/// A PC up longer than this has missed its daily reboot (guide 1-1).
pub const MAX_UPTIME: Duration = Duration::hours(26);

pub fn evaluate(doc: &ReportDoc, now: DateTime<Utc>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |code: &str, severity: Health, message: String| {
        out.push(Finding {
            code: code.to_owned(),
            severity,
            message,
        })
    };

    if let Some(reader) = &doc.reader {
        match reader.power.as_str() {
            "absent" => add(
                "reader_absent",
                Health::Critical,
                "顔認証付きカードリーダーが見つかりません。接続ケーブルと電源を確認してください"
                    .into(),
            ),
            "off" => add(
                "reader_off",
                Health::Critical,
                if reader.manual_power {
                    "顔認証付きカードリーダーの電源が切れています。本体の電源ボタンで電源を入れてください".into()
                } else {
                    "顔認証付きカードリーダーの電源が切れています。オン資PCを再起動してください"
                        .into()
                },
            ),
            _ => {}
        }
    }

    if let Some(cert) = &doc.certificate {
        match cert.not_after {
            _ if !cert.present => add(
                "cert_missing",
                Health::Critical,
                "電子証明書が見つかりません。バックアップから復元するか再発行を依頼してください"
                    .into(),
            ),
            Some(not_after) if not_after <= now => add(
                "cert_expired",
                Health::Critical,
                format!(
                    "電子証明書の有効期限が切れています ({})。更新するまでオンライン資格確認は使えません",
                    not_after.format("%Y-%m-%d")
                ),
            ),
            Some(not_after) => {
                let days = (not_after - now).num_days();
                if days < CERT_WARN_DAYS[0] {
                    add(
                        "cert_expiring",
                        Health::Warning,
                        format!(
                            "電子証明書の有効期限まであと{days}日です。更新の準備をしてください"
                        ),
                    );
                }
            }
            None => {}
        }
        if cert.present && !cert.backup_seen {
            add(
                "cert_backup_missing",
                Health::Warning,
                "電子証明書のバックアップが確認できません。USBメモリ等にコピーしてください (故障時の再発行は有償)".into(),
            );
        }
    }

    for account in doc.accounts.iter().filter(|a| a.changed()) {
        let what = match account.kind.as_str() {
            "windows" => "Windowsアカウント",
            "face_auth" => "顔認証アカウント",
            "linkage" => "連携アカウント",
            _ => "アカウント",
        };
        add(
            "account_changed",
            Health::Critical,
            format!(
                "{what}が導入時から変更されています。連携システムと同時に所定の手順で変更する必要があります"
            ),
        );
    }

    for target in doc.network.iter().filter(|t| !t.reachable) {
        add(
            "network_unreachable",
            Health::Critical,
            format!(
                "{} ({}) に接続できません。配線・ルータの電源を確認してください",
                target.name, target.address
            ),
        );
    }
    for share in doc.shares.iter().filter(|s| !s.exists || !s.shared) {
        add(
            "share_missing",
            Health::Critical,
            format!(
                "共有フォルダ {} が共有されていません。レセコンと連携できません",
                share.name
            ),
        );
    }
    if doc.ip_config.as_ref().is_some_and(|c| c.drifted) {
        add(
            "network_drift",
            Health::Warning,
            "ネットワーク設定が導入時から変わっています。院内ネットワークの変更はNTT東日本へご相談ください".into(),
        );
    }

    if let Some(boot) = doc.host.boot_time
        && now - boot > MAX_UPTIME
    {
        {
            add(
                "no_daily_reboot",
                Health::Warning,
                format!(
                    "オン資PCが{}時間再起動されていません。1日1回再起動してください",
                    (now - boot).num_hours()
                ),
            );
        }
    }
    if let Some(lock) = &doc.host.screen_lock
        && !lock.clear_screen_installed
        && (!lock.enabled || !lock.secure)
    {
        {
            add(
                "screen_lock_disabled",
                Health::Warning,
                "スクリーンセーバーのロックが無効です (推奨されない設定です)".into(),
            );
        }
    }
    let a = &doc.agent;
    if a.spool_dropped > 0 || a.spool_corrupt > 0 || a.spool_rejected > 0 {
        add(
            "agent_spool_loss",
            Health::Warning,
            format!(
                "エージェントの送信待ちデータが失われました (破棄 {} 件, 破損 {} 件, サーバーが拒否 {} 件)",
                a.spool_dropped, a.spool_corrupt, a.spool_rejected
            ),
        );
    }
    out
}

pub fn overall(findings: &[Finding]) -> Health {
    findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Health::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::report::{AccountDoc, CertificateDoc, ReaderDoc, TargetDoc};

    fn now() -> DateTime<Utc> {
        "2026-11-25T03:00:00Z".parse().unwrap()
    }

    fn healthy() -> ReportDoc {
        ReportDoc {
            reader: Some(ReaderDoc {
                maker: "fujitsu".into(),
                power: "on".into(),
                ..Default::default()
            }),
            certificate: Some(CertificateDoc {
                present: true,
                backup_seen: true,
                not_after: Some(now() + Duration::days(365)),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn codes(doc: &ReportDoc) -> Vec<String> {
        evaluate(doc, now()).into_iter().map(|f| f.code).collect()
    }

    #[test]
    fn healthy_report_is_ok() {
        assert!(codes(&healthy()).is_empty());
        assert_eq!(overall(&evaluate(&healthy(), now())), Health::Ok);
    }

    #[test]
    fn reader_off_is_critical() {
        let mut doc = healthy();
        doc.reader.as_mut().unwrap().power = "off".into();
        let f = evaluate(&doc, now());
        assert_eq!(f[0].code, "reader_off");
        assert_eq!(overall(&f), Health::Critical);
    }

    #[test]
    fn certificate_expiry_thresholds() {
        let mut doc = healthy();
        doc.certificate.as_mut().unwrap().not_after = Some(now() + Duration::days(59));
        assert_eq!(codes(&doc), ["cert_expiring"]);
        doc.certificate.as_mut().unwrap().not_after = Some(now() + Duration::days(61));
        assert!(codes(&doc).is_empty());
        doc.certificate.as_mut().unwrap().not_after = Some(now());
        assert_eq!(codes(&doc), ["cert_expired"]);
    }

    #[test]
    fn account_change_and_unreachable_router() {
        let mut doc = healthy();
        doc.accounts.push(AccountDoc {
            kind: "linkage".into(),
            password_changed: true,
            ..Default::default()
        });
        doc.network.push(TargetDoc {
            name: "router".into(),
            reachable: false,
            ..Default::default()
        });
        assert_eq!(codes(&doc), ["account_changed", "network_unreachable"]);
    }

    #[test]
    fn uptime_over_a_day_is_a_finding() {
        let mut doc = healthy();
        doc.host.boot_time = Some(now() - Duration::hours(25));
        assert!(codes(&doc).is_empty());
        doc.host.boot_time = Some(now() - Duration::hours(27));
        assert_eq!(codes(&doc), ["no_daily_reboot"]);
    }
}
