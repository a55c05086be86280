//! The electronic certificate of the オン資 network (domain.md §2.5, guide 1-7-2).

use super::{Condition, Rule, SiteContext};
use crate::fleet::report::ReportDoc;
use crate::sites::Health;

/// Days before expiry at which the warning starts and grows (domain.md §2.5). Each threshold
/// raises the stage; the severity grows with it.
pub const THRESHOLDS: [i64; 5] = [60, 30, 14, 7, 1];

/// Severity at a threshold: 60 days is information, 30 and 14 warnings, 7 and 1 critical.
pub fn severity_at(threshold: i64) -> Health {
    match threshold {
        t if t <= 7 => Health::Critical,
        t if t <= 30 => Health::Warning,
        _ => Health::Info,
    }
}

/// The smallest threshold that `days_left` has reached, if any.
pub fn stage(days_left: i64) -> Option<i64> {
    THRESHOLDS.iter().copied().filter(|t| days_left <= *t).min()
}

const RENEW: &str = "電子証明書を更新してください（オンライン請求ネットワーク関連システム共通認証局ユーザーマニュアル参照）。更新後は新しい証明書をUSBメモリ等に再度バックアップしてください";

pub fn certificate(doc: &ReportDoc, ctx: &SiteContext<'_>) -> Vec<Condition> {
    let Some(cert) = doc.certificate.as_ref() else {
        return Vec::new();
    };
    if !cert.present {
        return vec![Condition::new(
            Rule::CertMissing,
            Health::Critical,
            "電子証明書が見つかりません",
            "バックアップ（USBメモリ等）から復元するか、再発行を依頼してください（再発行は有償です）",
        )];
    }
    let mut out = Vec::new();
    if let Some(not_after) = cert.not_after {
        let serial = cert.serial.clone();
        if not_after <= ctx.now {
            out.push(
                Condition::new(
                    Rule::CertExpired,
                    Health::Critical,
                    format!(
                        "電子証明書の有効期限が切れています（{}）",
                        not_after.format("%Y-%m-%d")
                    ),
                    format!(
                        "期限が切れている間はオンライン資格確認等システムが使えません。{RENEW}"
                    ),
                )
                .subject(serial),
            );
        } else {
            let days = (not_after - ctx.now).num_days();
            if let Some(threshold) = stage(days) {
                out.push(
                    Condition::new(
                        Rule::CertExpiring,
                        severity_at(threshold),
                        format!(
                            "電子証明書の有効期限まであと{days}日です（{}）",
                            not_after.format("%Y-%m-%d")
                        ),
                        RENEW,
                    )
                    .subject(serial)
                    .evidence(
                        serde_json::json!({ "threshold_days": threshold, "days_left": days }),
                    ),
                );
            }
        }
    }
    if !cert.desktop_file_present {
        out.push(Condition::new(
            Rule::CertDesktopFileMissing,
            Health::Warning,
            "導入時にデスクトップに置いた電子証明書ファイルがありません",
            "削除や移動をしていないか確認し、バックアップを確認してください（端末故障時の再発行は有償です）",
        ));
    }
    if !cert.backup_seen {
        out.push(Condition::new(
            Rule::CertBackupMissing,
            Health::Warning,
            "電子証明書のバックアップが確認できません",
            "デスクトップの電子証明書をUSBメモリ等の別の媒体にコピーしてください（バックアップがないと故障時の再発行は有償です）",
        ));
    }
    out
}
