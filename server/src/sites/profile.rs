//! A site as stored (`Site`) and as entered (`SiteInput`), with the validation every entry
//! path shares: the CLI, the admin pages, the API and the demo. Pure.

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::model::{Maintenance, ReaderMaker, RouterModel, SiteKind};
use crate::desk::serial;
use crate::error::FieldErrors;
use crate::text;

/// The 47 prefectures, in the standard (JIS X 0401) order.
pub const PREFECTURES: [&str; 47] = [
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
];

/// Equipment is replaced (send-back or on-site) within 5 years of purchase (guide 1-8-3).
pub const REPLACEMENT_YEARS: u32 = 5;

/// One row of `sites`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Site {
    pub site_id: String,
    pub name: String,
    pub prefecture: String,
    pub kind: SiteKind,
    pub reader_maker: Option<ReaderMaker>,
    pub router_model: Option<RouterModel>,
    pub has_hub: bool,
    pub maintenance: Maintenance,
    pub omakase_dial: Option<String>,
    pub receipt_vendor: Option<String>,
    pub receipt_vendor_contact: String,
    pub medical_code: String,
    pub address: String,
    pub phone: String,
    pub contact_person: String,
    pub pc_serial: String,
    pub pc_purchased_on: Option<NaiveDate>,
    pub router_serial: String,
    pub router_purchased_on: Option<NaiveDate>,
    pub hub_serial: String,
    pub hub_purchased_on: Option<NaiveDate>,
    pub closed_on_holidays: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns of [`Site`], for `SELECT`s that decode into it.
pub const SITE_COLUMNS: &str = "site_id, name, prefecture, kind, reader_maker, router_model, has_hub, \
     maintenance, omakase_dial, receipt_vendor, receipt_vendor_contact, medical_code, address, \
     phone, contact_person, pc_serial, pc_purchased_on, router_serial, router_purchased_on, \
     hub_serial, hub_purchased_on, closed_on_holidays, created_at, updated_at";

/// What an administrator enters for a site. Text fields are trimmed by [`SiteInput::normalized`];
/// empty optional text means "not recorded".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SiteInput {
    pub site_id: String,
    pub name: String,
    pub prefecture: String,
    pub kind: SiteKind,
    #[serde(deserialize_with = "empty_as_none")]
    pub reader_maker: Option<ReaderMaker>,
    #[serde(deserialize_with = "empty_as_none")]
    pub router_model: Option<RouterModel>,
    #[serde(deserialize_with = "checkbox")]
    pub has_hub: bool,
    pub maintenance: Maintenance,
    pub omakase_dial: String,
    pub receipt_vendor: String,
    pub receipt_vendor_contact: String,
    pub medical_code: String,
    pub address: String,
    pub phone: String,
    pub contact_person: String,
    pub pc_serial: String,
    #[serde(deserialize_with = "empty_as_none")]
    pub pc_purchased_on: Option<NaiveDate>,
    pub router_serial: String,
    #[serde(deserialize_with = "empty_as_none")]
    pub router_purchased_on: Option<NaiveDate>,
    pub hub_serial: String,
    #[serde(deserialize_with = "empty_as_none")]
    pub hub_purchased_on: Option<NaiveDate>,
    #[serde(deserialize_with = "optional_checkbox")]
    pub closed_on_holidays: Option<bool>,
}

/// A form's empty `<select>` or date field means "not set"; JSON `null` too.
fn empty_as_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = Option::<serde_json::Value>::deserialize(d)?;
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// A checkbox sends "on" when ticked and nothing when not; JSON sends a boolean.
fn checkbox<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(optional_checkbox(d)?.unwrap_or(false))
}

fn optional_checkbox<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match value {
        Some(serde_json::Value::Bool(b)) => Some(b),
        Some(serde_json::Value::String(s)) => {
            Some(matches!(s.as_str(), "on" | "true" | "1" | "yes"))
        }
        _ => None,
    })
}

impl SiteInput {
    /// The input as the site is today, for an edit form.
    pub fn from_site(s: &Site) -> SiteInput {
        SiteInput {
            site_id: s.site_id.clone(),
            name: s.name.clone(),
            prefecture: s.prefecture.clone(),
            kind: s.kind,
            reader_maker: s.reader_maker,
            router_model: s.router_model,
            has_hub: s.has_hub,
            maintenance: s.maintenance,
            omakase_dial: s.omakase_dial.clone().unwrap_or_default(),
            receipt_vendor: s.receipt_vendor.clone().unwrap_or_default(),
            receipt_vendor_contact: s.receipt_vendor_contact.clone(),
            medical_code: s.medical_code.clone(),
            address: s.address.clone(),
            phone: s.phone.clone(),
            contact_person: s.contact_person.clone(),
            pc_serial: s.pc_serial.clone(),
            pc_purchased_on: s.pc_purchased_on,
            router_serial: s.router_serial.clone(),
            router_purchased_on: s.router_purchased_on,
            hub_serial: s.hub_serial.clone(),
            hub_purchased_on: s.hub_purchased_on,
            closed_on_holidays: Some(s.closed_on_holidays),
        }
    }

    /// Trimmed copy: what is validated and stored.
    pub fn normalized(&self) -> SiteInput {
        let t = |s: &String| s.trim().to_owned();
        SiteInput {
            site_id: t(&self.site_id),
            name: t(&self.name),
            prefecture: t(&self.prefecture),
            omakase_dial: t(&self.omakase_dial),
            receipt_vendor: t(&self.receipt_vendor),
            receipt_vendor_contact: t(&self.receipt_vendor_contact),
            medical_code: t(&self.medical_code),
            address: t(&self.address),
            phone: t(&self.phone),
            contact_person: t(&self.contact_person),
            pc_serial: t(&self.pc_serial),
            router_serial: t(&self.router_serial),
            hub_serial: t(&self.hub_serial),
            ..self.clone()
        }
    }

    /// Every problem at once, each next to its field, in Japanese.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if let Err(e) = crate::ingest::validate::check_id("サイトID", &self.site_id) {
            errors.add("site_id", site_id_message(&self.site_id, e.to_string()));
        }
        if self.name.is_empty() {
            errors.add("name", "名称を入力してください");
        }
        let lines: [(&'static str, &str, &str, usize); 11] = [
            ("name", "名称", &self.name, 100),
            (
                "omakase_dial",
                "おまかせ専用ダイヤル",
                &self.omakase_dial,
                40,
            ),
            ("receipt_vendor", "レセコン業者", &self.receipt_vendor, 100),
            (
                "receipt_vendor_contact",
                "レセコン業者の連絡先",
                &self.receipt_vendor_contact,
                200,
            ),
            ("address", "住所", &self.address, 200),
            ("phone", "電話番号", &self.phone, 40),
            ("contact_person", "ご担当者", &self.contact_person, 100),
            ("pc_serial", "PCのシリアル番号", &self.pc_serial, 64),
            (
                "router_serial",
                "ルータのシリアル番号",
                &self.router_serial,
                64,
            ),
            ("hub_serial", "HUBのシリアル番号", &self.hub_serial, 64),
            ("prefecture", "都道府県", &self.prefecture, 10),
        ];
        for (field, label, value, max) in lines {
            if let Err(m) = text::check_line(label, value, max) {
                errors.add(field, m);
            }
        }
        if !self.prefecture.is_empty() && !PREFECTURES.contains(&self.prefecture.as_str()) {
            errors.add(
                "prefecture",
                "都道府県は「東京都」「大阪府」のように正式名で選んでください",
            );
        }
        let code_ok =
            self.medical_code.len() == 10 && self.medical_code.bytes().all(|b| b.is_ascii_digit());
        if !self.medical_code.is_empty() && !code_ok {
            errors.add("medical_code", "医療機関等コードは10桁の数字です（都道府県番号2桁＋点数表番号1桁＋医療機関コード7桁）");
        }
        if !self.phone.is_empty() && !looks_like_phone(&self.phone) {
            errors.add(
                "phone",
                "電話番号は数字とハイフンで入力してください（例: 03-1234-5678）",
            );
        }
        if let (Some(model), false) = (self.router_model, self.router_serial.is_empty())
            && let Err(e) = serial::check_router_serial(model, &self.router_serial)
        {
            errors.add("router_serial", e.to_string());
        }
        errors.into_result()
    }
}

fn site_id_message(site_id: &str, english: String) -> String {
    if site_id.is_empty() {
        "サイトIDを入力してください".into()
    } else if site_id.len() > 64 {
        "サイトIDは64文字以内です".into()
    } else {
        tracing::debug!(%english, "site id refused");
        "サイトIDに使えるのは半角英数字と . _ - だけです".into()
    }
}

fn looks_like_phone(s: &str) -> bool {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    (6..=15).contains(&digits)
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'(' || b == b')' || b == b' ')
}

/// The last day of the 5-year replacement window for equipment bought on `purchased`.
pub fn replacement_until(purchased: NaiveDate) -> NaiveDate {
    purchased
        .checked_add_months(Months::new(12 * REPLACEMENT_YEARS))
        .unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> SiteInput {
        SiteInput {
            site_id: "yamada-01".into(),
            name: "山田医院".into(),
            prefecture: "東京都".into(),
            router_model: Some(RouterModel::AtAr1050v),
            router_serial: "S/NA12345".into(),
            medical_code: "1312345678".into(),
            phone: "03-1234-5678".into(),
            ..Default::default()
        }
    }

    #[test]
    fn valid_input_passes() {
        valid().validate().unwrap();
    }

    #[test]
    fn every_problem_is_named_at_its_field_in_japanese() {
        let input = SiteInput {
            site_id: "bad id".into(),
            name: "".into(),
            prefecture: "Tokyo".into(),
            medical_code: "123".into(),
            phone: "call me".into(),
            router_serial: "SER.999".into(),
            address: "x\u{202E}y".into(),
            ..valid()
        };
        let errors = input.validate().unwrap_err();
        for field in [
            "site_id",
            "name",
            "prefecture",
            "medical_code",
            "phone",
            "router_serial",
            "address",
        ] {
            assert!(errors.get(field).is_some(), "{field}: {errors:?}");
        }
        assert!(errors.get("site_id").unwrap().contains("半角英数字"));
        assert!(errors.get("router_serial").unwrap().contains("S/NA"));
    }

    #[test]
    fn normalized_trims_and_replacement_window_is_five_years() {
        let input = SiteInput {
            name: "  山田医院 ".into(),
            ..valid()
        }
        .normalized();
        assert_eq!(input.name, "山田医院");
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(
            replacement_until(d),
            NaiveDate::from_ymd_opt(2029, 2, 28).unwrap()
        );
    }
}
