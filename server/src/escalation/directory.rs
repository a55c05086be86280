//! The desks operators keep by hand (domain.md §4: `card-reader-maker` "directory kept by the
//! operator", `receipt-vendor` "per site"): what an administrator enters for one (phone, mail,
//! web form, hours), its checks, and how it becomes the `SiteContacts` desk routing takes.
//! Pure; the tables are written by [`super::makers`] and [`super::vendors`].

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::desk::{SiteContact, SiteContacts, Span, WeeklyHours, YearEndClosure};
use crate::error::FieldErrors;
use crate::sites::Site;
use crate::sites::hours_input::parse_bands;
use crate::text;

/// A desk's contact as entered on a page or the command line. Hours are bands per kind of day
/// (`09:00-12:00,13:00-17:00`); all four empty means "hours not recorded".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeskInput {
    /// Desk / company name as it should appear in a draft.
    pub name: String,
    /// One or more numbers, separated by `,` or `/`.
    pub phone: String,
    pub mail: String,
    /// A web page or form URL (https://…).
    pub web: String,
    pub weekday: String,
    pub saturday: String,
    pub sunday: String,
    pub holiday: String,
    /// `dec29-jan3`, `dec29-jan4`, or empty for no 年末年始 closure.
    pub year_end: String,
    pub note: String,
}

/// A checked [`DeskInput`], ready to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeskEntry {
    pub name: String,
    pub phone: String,
    pub mail: String,
    pub web: String,
    pub hours: Option<WeeklyHours>,
    pub note: String,
}

/// Longest free-text note, in characters.
pub const MAX_NOTE: usize = 1000;

impl DeskInput {
    /// The weekly hours this input describes, if any day has bands.
    fn hours(&self, errors: &mut FieldErrors) -> Option<WeeklyHours> {
        let mut day = |field: &'static str, label: &str, text: &str| -> Vec<Span> {
            let bands: Vec<String> = text
                .split([',', '、'])
                .map(|b| b.trim().to_owned())
                .filter(|b| !b.is_empty())
                .collect();
            parse_bands(&bands).unwrap_or_else(|e| {
                errors.add(field, format!("{label}: {e}"));
                Vec::new()
            })
        };
        let weekday = day("weekday", "平日", &self.weekday);
        let saturday = day("saturday", "土曜", &self.saturday);
        let sunday = day("sunday", "日曜", &self.sunday);
        let holiday = day("holiday", "祝日", &self.holiday);
        let year_end = match parse_year_end(&self.year_end) {
            Ok(y) => y,
            Err(e) => {
                errors.add("year_end", e);
                None
            }
        };
        if weekday.is_empty() && saturday.is_empty() && sunday.is_empty() && holiday.is_empty() {
            return None;
        }
        Some(WeeklyHours {
            weekday: Cow::Owned(weekday),
            saturday: Cow::Owned(saturday),
            sunday: Cow::Owned(sunday),
            holiday: Cow::Owned(holiday),
            year_end,
        })
    }

    /// Trims, checks every field and names each problem at its field, in Japanese.
    pub fn check(&self) -> Result<DeskEntry, FieldErrors> {
        let t = |s: &String| s.trim().to_owned();
        let (name, phone, mail, web, note) = (
            t(&self.name),
            t(&self.phone),
            t(&self.mail),
            t(&self.web),
            t(&self.note),
        );
        let mut errors = FieldErrors::default();
        for (field, label, value, max) in [
            ("name", "窓口名", &name, 100),
            ("phone", "電話番号", &phone, 100),
            ("mail", "メールアドレス", &mail, 254),
            ("web", "web フォームの URL", &web, 500),
        ] {
            if let Err(m) = text::check_line(label, value, max) {
                errors.add(field, m);
            }
        }
        if let Err(m) = text::check_multiline("メモ", &note, MAX_NOTE) {
            errors.add("note", m);
        }
        if phone.is_empty() && mail.is_empty() && web.is_empty() {
            errors.add(
                "phone",
                "電話番号・メールアドレス・web フォームのどれか一つは入力してください",
            );
        }
        if !phone.is_empty() && split_list(&phone).iter().any(|p| !looks_like_phone(p)) {
            errors.add(
                "phone",
                "電話番号は数字とハイフンで入力してください（例: 0120-123-456、複数は「,」で区切る）",
            );
        }
        if !mail.is_empty() && !looks_like_mail(&mail) {
            errors.add(
                "mail",
                "メールアドレスの形が正しくありません（例: support@example.co.jp）",
            );
        }
        if !web.is_empty() && !looks_like_web(&web) {
            errors.add(
                "web",
                "web フォームは https:// で始まる URL で入力してください",
            );
        }
        let hours = self.hours(&mut errors);
        errors.into_result()?;
        Ok(DeskEntry {
            name,
            phone,
            mail,
            web,
            hours,
            note,
        })
    }

    /// The input that shows `entry` again in a form.
    pub fn from_entry(entry: &DeskEntry) -> DeskInput {
        let bands = |spans: &[Span]| {
            spans
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let hours = entry.hours.as_ref();
        DeskInput {
            name: entry.name.clone(),
            phone: entry.phone.clone(),
            mail: entry.mail.clone(),
            web: entry.web.clone(),
            weekday: hours.map(|h| bands(&h.weekday)).unwrap_or_default(),
            saturday: hours.map(|h| bands(&h.saturday)).unwrap_or_default(),
            sunday: hours.map(|h| bands(&h.sunday)).unwrap_or_default(),
            holiday: hours.map(|h| bands(&h.holiday)).unwrap_or_default(),
            year_end: hours
                .and_then(|h| h.year_end)
                .map(year_end_key)
                .unwrap_or_default()
                .to_owned(),
            note: entry.note.clone(),
        }
    }
}

impl DeskEntry {
    /// The entry as desk routing takes it; `default_name` when no desk name was entered.
    pub fn contact(&self, default_name: &str) -> SiteContact {
        SiteContact {
            name: if self.name.is_empty() {
                default_name.to_owned()
            } else {
                self.name.clone()
            },
            phones: split_list(&self.phone),
            mail: (!self.mail.is_empty()).then(|| self.mail.clone()),
            web: (!self.web.is_empty()).then(|| self.web.clone()),
            hours: self.hours.clone(),
        }
    }

    /// The hours in words, or 「未登録」.
    pub fn hours_ja(&self) -> String {
        self.hours
            .as_ref()
            .map(WeeklyHours::describe_ja)
            .unwrap_or_else(|| "未登録".into())
    }
}

/// The choices of the 年末年始 field: key and label.
pub const YEAR_END_CHOICES: [(&str, &str); 3] = [
    ("", "なし（年末年始も受付）"),
    ("dec29-jan3", "12/29〜1/3 休み"),
    ("dec29-jan4", "12/29〜1/4 休み"),
];

fn year_end_key(y: YearEndClosure) -> &'static str {
    match y {
        YearEndClosure::Dec29ToJan3 => "dec29-jan3",
        YearEndClosure::Dec29ToJan4 => "dec29-jan4",
    }
}

/// `dec29-jan3` / `dec29-jan4` / empty.
pub fn parse_year_end(text: &str) -> Result<Option<YearEndClosure>, String> {
    match text.trim() {
        "" | "none" => Ok(None),
        "dec29-jan3" => Ok(Some(YearEndClosure::Dec29ToJan3)),
        "dec29-jan4" => Ok(Some(YearEndClosure::Dec29ToJan4)),
        other => Err(format!(
            "年末年始「{other}」は dec29-jan3（12/29〜1/3 休み）、dec29-jan4（12/29〜1/4 休み）、または空欄（休みなし）で指定してください"
        )),
    }
}

/// `"0120-1, 03-2 / x@y"` → the non-empty parts.
pub fn split_list(text: &str) -> Vec<String> {
    text.split([',', '、', '/', '／', ';'])
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

fn looks_like_phone(s: &str) -> bool {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    (3..=15).contains(&digits)
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'(' | b')' | b' '))
}

/// A plain `local@domain` address: what a mail header can carry without quoting.
pub fn looks_like_mail(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let ok = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && local.chars().all(ok)
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

fn looks_like_web(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
}

/// The site-specific desks of `site` with the directories applied: the reader maker's desk
/// from the maker directory; the receipt vendor's from the site's own contact when it has one
/// (it wins), else from the vendor directory (hours and web always from the directory).
pub fn site_contacts(
    site: &Site,
    maker: Option<&DeskEntry>,
    vendor: Option<&DeskEntry>,
) -> SiteContacts {
    let mut contacts = crate::incidents::desk::contacts_for(site);
    let maker_name = site
        .reader_maker
        .map(|m| format!("{} サポート窓口", m.name_ja()))
        .unwrap_or_default();
    contacts.reader_maker = maker.map(|m| m.contact(&maker_name));
    let vendor_name = site.receipt_vendor.clone().unwrap_or_default();
    contacts.receipt_vendor = match (site.receipt_vendor_contact.trim(), vendor) {
        (_, _) if vendor_name.trim().is_empty() => None,
        ("", Some(entry)) => Some(entry.contact(&vendor_name)),
        ("", None) => Some(SiteContact {
            name: vendor_name,
            ..Default::default()
        }),
        (own, entry) => {
            let parts = split_list(own);
            Some(SiteContact {
                name: vendor_name,
                mail: parts.iter().find(|p| p.contains('@')).cloned(),
                phones: parts.into_iter().filter(|p| !p.contains('@')).collect(),
                web: entry.and_then(|e| (!e.web.is_empty()).then(|| e.web.clone())),
                hours: entry.and_then(|e| e.hours.clone()),
            })
        }
    };
    contacts
}

#[cfg(test)]
mod tests;
