//! The closed sets that describe a site (domain.md §1): one enum each, used by the database
//! (`sqlx::Type`, stored as text with a `CHECK`), JSON and query strings (serde), the CLI
//! (`clap::ValueEnum`) and the pages (`ALL` + `label_ja`). No second list of these strings
//! exists anywhere else in the server.

use serde::{Deserialize, Serialize};

/// 医療機関 / 薬局 / 訪問看護ステーション (domain.md §1 "site kind").
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
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
pub enum SiteKind {
    /// 医療機関 (clinic or hospital).
    #[default]
    Clinic,
    /// 薬局.
    Pharmacy,
    /// 訪問看護ステーション: also has the `Onseikyu` share (domain.md §2.9).
    #[value(name = "home_nursing", alias = "home-nursing")]
    HomeNursing,
}

impl SiteKind {
    pub const ALL: [SiteKind; 3] = [SiteKind::Clinic, SiteKind::Pharmacy, SiteKind::HomeNursing];

    pub fn as_str(self) -> &'static str {
        match self {
            SiteKind::Clinic => "clinic",
            SiteKind::Pharmacy => "pharmacy",
            SiteKind::HomeNursing => "home_nursing",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            SiteKind::Clinic => "医療機関",
            SiteKind::Pharmacy => "薬局",
            SiteKind::HomeNursing => "訪問看護ステーション",
        }
    }
}

/// Makers of 顔認証付きカードリーダー (domain.md §1).
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
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum ReaderMaker {
    Fujitsu,
    Panasonic,
    Atlus,
    Almex,
    Canon,
}

impl ReaderMaker {
    pub const ALL: [ReaderMaker; 5] = [
        ReaderMaker::Fujitsu,
        ReaderMaker::Panasonic,
        ReaderMaker::Atlus,
        ReaderMaker::Almex,
        ReaderMaker::Canon,
    ];
    /// Allowed spellings, for error messages.
    pub const ALLOWED: &'static str = "fujitsu | panasonic | atlus | almex | canon";

    pub fn as_str(self) -> &'static str {
        match self {
            ReaderMaker::Fujitsu => "fujitsu",
            ReaderMaker::Panasonic => "panasonic",
            ReaderMaker::Atlus => "atlus",
            ReaderMaker::Almex => "almex",
            ReaderMaker::Canon => "canon",
        }
    }

    /// The maker as the guide names it.
    pub fn name_ja(self) -> &'static str {
        match self {
            ReaderMaker::Fujitsu => "富士通Japan",
            ReaderMaker::Panasonic => "パナソニック コネクト",
            ReaderMaker::Atlus => "アトラス情報サービス",
            ReaderMaker::Almex => "ALMEX",
            ReaderMaker::Canon => "キヤノンマーケティングジャパン",
        }
    }

    /// The label on pages (same as [`ReaderMaker::name_ja`]).
    pub fn label_ja(self) -> &'static str {
        self.name_ja()
    }

    /// ALMEX and Canon readers are switched on and off by hand; the others follow the PC
    /// (guide 1-1-2, domain.md §2.4).
    pub fn manual_power(self) -> bool {
        matches!(self, ReaderMaker::Almex | ReaderMaker::Canon)
    }
}

/// Power of the face-auth card reader as a report saw it (`onshi.v1.PowerState`), as stored in
/// `report_history.reader_power` (NULL when the site has no reader or the power is unknown).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, sqlx::Type,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum ReaderPower {
    On,
    Off,
    /// Not found at all: unplugged, broken, driver missing.
    Absent,
}

impl ReaderPower {
    pub const ALL: [ReaderPower; 3] = [ReaderPower::On, ReaderPower::Off, ReaderPower::Absent];

    pub fn as_str(self) -> &'static str {
        match self {
            ReaderPower::On => "on",
            ReaderPower::Off => "off",
            ReaderPower::Absent => "absent",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            ReaderPower::On => "電源オン",
            ReaderPower::Off => "電源オフ",
            ReaderPower::Absent => "未接続",
        }
    }
}

/// オン資 router models of the standard configuration.
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
#[sqlx(type_name = "text")]
pub enum RouterModel {
    /// Allied Telesis AT-AR1050V.
    #[serde(rename = "AT-AR1050V", alias = "at-ar1050v")]
    #[value(name = "AT-AR1050V", alias = "at-ar1050v")]
    #[sqlx(rename = "AT-AR1050V")]
    AtAr1050v,
    /// YAMAHA NVR700.
    #[serde(rename = "NVR700", alias = "nvr700")]
    #[value(name = "NVR700", alias = "nvr700")]
    #[sqlx(rename = "NVR700")]
    Nvr700,
    /// YAMAHA RTX830.
    #[serde(rename = "RTX830", alias = "rtx830")]
    #[value(name = "RTX830", alias = "rtx830")]
    #[sqlx(rename = "RTX830")]
    Rtx830,
}

impl RouterModel {
    pub const ALL: [RouterModel; 3] = [
        RouterModel::AtAr1050v,
        RouterModel::Nvr700,
        RouterModel::Rtx830,
    ];
    /// Allowed spellings, for error messages.
    pub const ALLOWED: &'static str = "AT-AR1050V | NVR700 | RTX830";

    /// The model name as printed on the unit (also the stored and query-string spelling).
    pub fn name(self) -> &'static str {
        match self {
            RouterModel::AtAr1050v => "AT-AR1050V",
            RouterModel::Nvr700 => "NVR700",
            RouterModel::Rtx830 => "RTX830",
        }
    }

    pub fn as_str(self) -> &'static str {
        self.name()
    }

    /// "AT-AR1050V（アライドテレシス）" for pages.
    pub fn label_ja(self) -> &'static str {
        match self {
            RouterModel::AtAr1050v => "AT-AR1050V（アライドテレシス）",
            RouterModel::Nvr700 => "NVR700（YAMAHA）",
            RouterModel::Rtx830 => "RTX830（YAMAHA）",
        }
    }
}

/// Maintenance subscription of the site.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
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
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Maintenance {
    /// Not subscribed: the site isolates the fault and calls each desk itself (guide 1-8-2).
    #[default]
    None,
    /// Subscribed to 「Nにおまかせ！ITサポート」 (guide 1-8-1).
    Omakase,
}

impl Maintenance {
    pub const ALL: [Maintenance; 2] = [Maintenance::None, Maintenance::Omakase];

    pub fn as_str(self) -> &'static str {
        match self {
            Maintenance::None => "none",
            Maintenance::Omakase => "omakase",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            Maintenance::None => "未加入",
            Maintenance::Omakase => "Nにおまかせ！ITサポート",
        }
    }

    /// Short label for tables.
    pub fn short_ja(self) -> &'static str {
        match self {
            Maintenance::None => "未加入",
            Maintenance::Omakase => "おまかせ",
        }
    }
}

/// Severity of a finding or an incident, and the colour of a site that reported.
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
pub enum Health {
    Ok,
    /// Low: a deviation from the recommended settings (screen lock off).
    Info,
    Warning,
    Critical,
}

impl Health {
    pub const ALL: [Health; 4] = [Health::Ok, Health::Info, Health::Warning, Health::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Info => "info",
            Health::Warning => "warning",
            Health::Critical => "critical",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            Health::Ok => "正常",
            Health::Info => "情報",
            Health::Warning => "注意",
            Health::Critical => "異常",
        }
    }
}

/// What the console shows for a site: one definition, used by the summary counts and the list
/// filter alike (see `fleet::query::STATUS_SQL`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, sqlx::Type,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum SiteStatus {
    /// Reported recently, nothing wrong.
    Ok,
    /// Reported recently, a warning (or lower) finding.
    Warning,
    /// Reported recently, a critical finding.
    Critical,
    /// 停止中: silent while the site is open (an `offline` incident is open), or silent for
    /// longer than the stale limit when the site's hours are not known.
    Silent,
    /// 営業時間外: silent, and the site is closed now — a PC off at night is normal (§2.1).
    Closed,
    /// 未受信: no report ever.
    NeverReported,
}

impl SiteStatus {
    pub const ALL: [SiteStatus; 6] = [
        SiteStatus::Ok,
        SiteStatus::Warning,
        SiteStatus::Critical,
        SiteStatus::Silent,
        SiteStatus::Closed,
        SiteStatus::NeverReported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SiteStatus::Ok => "ok",
            SiteStatus::Warning => "warning",
            SiteStatus::Critical => "critical",
            SiteStatus::Silent => "silent",
            SiteStatus::Closed => "closed",
            SiteStatus::NeverReported => "never_reported",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            SiteStatus::Ok => "正常",
            SiteStatus::Warning => "注意",
            SiteStatus::Critical => "異常",
            SiteStatus::Silent => "停止中",
            SiteStatus::Closed => "営業時間外",
            SiteStatus::NeverReported => "未受信",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spellings are the stored ones (migrations' CHECKs), the CLI's and the API's.
    #[test]
    fn one_spelling_everywhere() {
        use clap::ValueEnum;
        for kind in SiteKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
            assert_eq!(kind.to_possible_value().unwrap().get_name(), kind.as_str());
        }
        for model in RouterModel::ALL {
            assert_eq!(serde_json::to_value(model).unwrap(), model.as_str());
            assert_eq!(
                model.to_possible_value().unwrap().get_name(),
                model.as_str()
            );
        }
        for maker in ReaderMaker::ALL {
            assert_eq!(serde_json::to_value(maker).unwrap(), maker.as_str());
        }
        for m in Maintenance::ALL {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        for p in ReaderPower::ALL {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        for s in SiteStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!(ReaderMaker::Almex.manual_power() && ReaderMaker::Canon.manual_power());
        assert!(!ReaderMaker::Fujitsu.manual_power());
        assert!(Health::Critical > Health::Warning && Health::Warning > Health::Info);
    }
}
