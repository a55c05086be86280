//! What routing is asked (`RouteQuery`) and the site-specific desks it is given
//! (`SiteContacts`, read from the database by the caller).
//!
//! The enums parse from the same lowercase / kebab spellings in the CLI (clap `ValueEnum`) and
//! in query strings or JSON (serde), e.g. `part=card-reader&reader_maker=canon`.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use super::directory::DeskId;
use super::hours::WeeklyHours;

/// The part of the installation the fault or question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// フレッツ光 line / ONU.
    Line,
    /// オン資PC (Lenovo).
    Pc,
    /// オン資 router (needs a router model).
    Router,
    /// Apresia hub.
    Hub,
    /// 顔認証付きカードリーダー (needs a reader maker).
    CardReader,
    /// レセコン / chart system and its linkage.
    ReceiptSystem,
    /// How to operate the system, the system in general.
    HowTo,
    /// Configuration change, added equipment, relocation, succession.
    ChangeRequest,
    /// Online billing: network line.
    BillingNetwork,
    /// Online billing: billing system.
    BillingSystem,
    /// 特定健診・保健指導 system.
    BillingTokutei,
    /// Anything else about online billing.
    BillingOther,
}

impl Part {
    /// Every part, in CLI order.
    pub const ALL: [Part; 12] = [
        Part::Line,
        Part::Pc,
        Part::Router,
        Part::Hub,
        Part::CardReader,
        Part::ReceiptSystem,
        Part::HowTo,
        Part::ChangeRequest,
        Part::BillingNetwork,
        Part::BillingSystem,
        Part::BillingTokutei,
        Part::BillingOther,
    ];

    /// Inside NTT East's standard configuration, i.e. covered by 「Nにおまかせ」 (guide 1-8-1:
    /// line equipment, オン資 PC and router, hub, the face-auth reader as installed; not the
    /// receipt system nor "その他のルータ等").
    pub fn is_standard_configuration(self) -> bool {
        matches!(
            self,
            Part::Line | Part::Pc | Part::Router | Part::Hub | Part::CardReader
        )
    }

    /// Japanese label for text output.
    pub fn label_ja(self) -> &'static str {
        match self {
            Part::Line => "光回線（フレッツ光）",
            Part::Pc => "オン資PC",
            Part::Router => "オン資用ルータ",
            Part::Hub => "HUB",
            Part::CardReader => "顔認証付きカードリーダー",
            Part::ReceiptSystem => "レセコン等",
            Part::HowTo => "操作方法・システム全般",
            Part::ChangeRequest => "設定変更・機器増設・移転・承継",
            Part::BillingNetwork => "オンライン請求 ネットワーク回線",
            Part::BillingSystem => "オンライン請求 システム",
            Part::BillingTokutei => "特定健診・保健指導システム",
            Part::BillingOther => "その他オンライン請求",
        }
    }
}

// The site's closed sets are owned by the site model; routing uses them as they are.
pub use crate::sites::model::{Maintenance, ReaderMaker, RouterModel};

impl RouterModel {
    /// The maker's fault desk.
    pub fn desk(self) -> DeskId {
        match self {
            RouterModel::AtAr1050v => DeskId::AlliedRouter,
            RouterModel::Nvr700 | RouterModel::Rtx830 => DeskId::YamahaRouter,
        }
    }
}

/// A routing question. Deserializes from a query string with the CLI's spellings;
/// field names accept both `router_model` and `router-model`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteQuery {
    pub part: Part,
    #[serde(default, alias = "router-model")]
    pub router_model: Option<RouterModel>,
    #[serde(default, alias = "reader-maker")]
    pub reader_maker: Option<ReaderMaker>,
    #[serde(default)]
    pub maintenance: Maintenance,
    /// Serial number of the failed unit, if the operator has it (checked against the maker's
    /// prefix for routers).
    #[serde(default)]
    pub serial: Option<String>,
}

impl RouteQuery {
    /// A query for `part` with nothing else set (unsubscribed site).
    pub fn new(part: Part) -> RouteQuery {
        RouteQuery {
            part,
            router_model: None,
            reader_maker: None,
            maintenance: Maintenance::None,
            serial: None,
        }
    }
}

/// The optional `at` query parameter of the HTTP API (RFC 3339; absent means now). In a query
/// string the `+` of `+09:00` must be sent as `%2B` (or use `Z`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct AtParam {
    #[serde(default)]
    pub at: Option<DateTime<FixedOffset>>,
}

/// Site-specific desks, from the database. Everything is optional: the CLI has none of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteContacts {
    /// The site's 「Nにおまかせ」 contract, if known.
    #[serde(default)]
    pub omakase: Option<OmakaseContract>,
    /// The reader maker's desk as kept by the operators.
    #[serde(default)]
    pub reader_maker: Option<SiteContact>,
    /// The site's receipt-system vendor.
    #[serde(default)]
    pub receipt_vendor: Option<SiteContact>,
}

/// The dedicated dial and hours given in a 「Nにおまかせ」 contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmakaseContract {
    /// 専用ダイヤル.
    pub dial: String,
    /// Reception hours of the plan; `None` when not recorded (treated as unpublished).
    #[serde(default)]
    pub hours: Option<WeeklyHours>,
}

/// A desk whose contact is kept per site or per maker by the operators.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteContact {
    /// Company / desk name, e.g. "○○メディカル サポートセンター".
    pub name: String,
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub web: Option<String>,
    /// Reception hours; `None` when not recorded (treated as unpublished).
    #[serde(default)]
    pub hours: Option<WeeklyHours>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(&format!("{text}:00+09:00")).unwrap()
    }

    #[test]
    fn query_deserializes_with_cli_spellings() {
        let query: RouteQuery = serde_json::from_value(serde_json::json!({
            "part": "card-reader", "reader-maker": "canon", "maintenance": "omakase"
        }))
        .unwrap();
        assert_eq!(query.reader_maker, Some(ReaderMaker::Canon));
        assert_eq!(query.maintenance, Maintenance::Omakase);
        let query: RouteQuery = serde_json::from_value(
            serde_json::json!({"part": "router", "router_model": "AT-AR1050V"}),
        )
        .unwrap();
        assert_eq!(query.router_model, Some(RouterModel::AtAr1050v));
        assert_eq!(query.maintenance, Maintenance::None);
        let query: RouteQuery =
            serde_json::from_value(serde_json::json!({"part": "router", "router_model": "nvr700"}))
                .unwrap();
        assert_eq!(query.router_model, Some(RouterModel::Nvr700));
        assert!(
            serde_json::from_value::<RouteQuery>(serde_json::json!({"part": "modem"})).is_err()
        );
    }

    #[test]
    fn query_string_parses_like_the_cli() {
        let text = "part=router&router-model=RTX830&maintenance=omakase&serial=SER.1&at=2026-05-09T10%3A00%3A00%2B09%3A00";
        let query: RouteQuery = serde_urlencoded::from_str(text).unwrap();
        assert_eq!(query.part, Part::Router);
        assert_eq!(query.router_model, Some(RouterModel::Rtx830));
        assert_eq!(query.maintenance, Maintenance::Omakase);
        assert_eq!(query.serial.as_deref(), Some("SER.1"));
        let at: AtParam = serde_urlencoded::from_str(text).unwrap();
        assert_eq!(at.at, Some(t("2026-05-09T10:00")));
        let query: RouteQuery =
            serde_urlencoded::from_str("part=card-reader&reader_maker=almex").unwrap();
        assert_eq!(
            (query.reader_maker, query.maintenance),
            (Some(ReaderMaker::Almex), Maintenance::None)
        );
        let none_at: AtParam = serde_urlencoded::from_str("part=pc").unwrap();
        assert_eq!(none_at.at, None);
        assert!(
            serde_urlencoded::from_str::<RouteQuery>("part=router&router_model=RTX1200").is_err()
        );
        assert!(serde_urlencoded::from_str::<RouteQuery>("router_model=RTX830").is_err());
        assert!(serde_urlencoded::from_str::<AtParam>("at=yesterday").is_err());
    }
}
