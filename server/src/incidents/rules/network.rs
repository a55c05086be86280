//! The network of the site (domain.md §2.7, §2.9).

use super::{Condition, Rule, SiteContext};
use crate::fleet::report::ReportDoc;
use crate::sites::{Health, SiteKind};

/// Shares every オン資PC has for the receipt computer (domain.md §1).
pub const REQUIRED_SHARES: [&str; 3] = ["face", "req", "res"];
/// Home-visit nursing: online billing data goes here (domain.md §2.9).
pub const HOME_NURSING_SHARE: &str = "Onseikyu";

/// A target the agent could not reach: the router, the オン資 endpoints, the VPN.
pub fn unreachable(doc: &ReportDoc) -> Vec<Condition> {
    doc.network
        .iter()
        .filter(|t| !t.reachable)
        .map(|t| {
            let what = match t.name.as_str() {
                "router" => "オン資ルータ",
                "vpn" => "VPN",
                "onshi-endpoint" => "オンライン資格確認等システム",
                other => other,
            };
            let detail = if t.name == "router" {
                "ルータの電源とLANケーブルを確認してください。院内の配線を変えた場合はNTT東日本に相談してください"
            } else {
                "ルータと光回線（ONU）のランプを確認してください。回線の故障は「113」で受け付けています"
            };
            Condition::new(
                Rule::NetworkUnreachable,
                Health::Critical,
                format!("{what}（{}）に接続できません", t.address),
                detail,
            )
            .subject(t.name.clone())
            .evidence(serde_json::json!({ "address": t.address, "error": t.error }))
        })
        .collect()
}

/// Addresses, gateway or DNS differ from the installed baseline (guide 1-4-2).
pub fn drift(doc: &ReportDoc) -> Option<Condition> {
    let ip = doc.ip_config.as_ref().filter(|c| c.drifted)?;
    Some(
        Condition::new(
            Rule::NetworkDrift,
            Health::Warning,
            "ネットワーク設定が導入時から変わっています",
            "院内ネットワークの変更（配線変更・回線変更など）はNTT東日本に相談のうえ行ってください。レセコンからの共有フォルダ接続や自動更新が止まる原因になります",
        )
        .evidence(serde_json::json!({ "addresses": ip.addresses, "gateway": ip.gateway })),
    )
}

/// `face`, `req`, `res` (and `Onseikyu` at home-visit nursing sites) missing or not shared.
/// Judged only when the agent reported shares at all (a failed probe is a probe error).
pub fn shares(doc: &ReportDoc, ctx: &SiteContext<'_>) -> Vec<Condition> {
    if doc.shares.is_empty() {
        return Vec::new();
    }
    let mut required: Vec<&str> = REQUIRED_SHARES.to_vec();
    if ctx.kind == Some(SiteKind::HomeNursing) {
        required.push(HOME_NURSING_SHARE);
    }
    let mut names: Vec<&str> = required.clone();
    for s in &doc.shares {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&s.name)) {
            names.push(&s.name);
        }
    }
    names
        .into_iter()
        .filter(|name| {
            let share = doc.shares.iter().find(|s| s.name.eq_ignore_ascii_case(name));
            match share {
                Some(s) => !s.exists || !s.shared,
                None => required.contains(name),
            }
        })
        .map(|name| {
            Condition::new(
                Rule::ShareMissing,
                Health::Critical,
                format!("共有フォルダ {name} が共有されていません"),
                "レセコンと連携できません。フォルダの削除や共有設定の変更がなかったか確認してください",
            )
            .subject(name)
        })
        .collect()
}
