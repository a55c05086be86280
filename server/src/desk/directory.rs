//! Every desk of domain.md §4 as data, transcribed from the guide (1-8 / 2-11 for the NTT East,
//! maker and call-center desks, 2-8-3 for the 支払基金 desks).
//!
//! Site-specific desks (`omakase`, `card-reader-maker`, `receipt-vendor`) have no fixed contact
//! or hours here: routing takes them from [`super::query::SiteContacts`].

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::hours::Hours;

mod data;
use data::DESKS;

/// A desk, by the kebab id of domain.md §4 (also its JSON and CLI spelling).
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
)]
#[serde(rename_all = "kebab-case")]
pub enum DeskId {
    Omakase,
    OnshiCallCenter,
    #[serde(rename = "flets-113")]
    #[value(name = "flets-113")]
    Flets113,
    LenovoPc,
    AlliedRouter,
    YamahaRouter,
    ApresiaHub,
    CardReaderMaker,
    ReceiptVendor,
    NttEastOnshi,
    SskNetwork,
    SskSystem,
    SskTokutei,
    SskOther,
}

impl DeskId {
    /// Every desk, in the order of domain.md §4.
    pub const ALL: [DeskId; 14] = [
        DeskId::Omakase,
        DeskId::OnshiCallCenter,
        DeskId::Flets113,
        DeskId::LenovoPc,
        DeskId::AlliedRouter,
        DeskId::YamahaRouter,
        DeskId::ApresiaHub,
        DeskId::CardReaderMaker,
        DeskId::ReceiptVendor,
        DeskId::NttEastOnshi,
        DeskId::SskNetwork,
        DeskId::SskSystem,
        DeskId::SskTokutei,
        DeskId::SskOther,
    ];

    /// The kebab id, e.g. `"flets-113"`.
    pub fn as_str(self) -> &'static str {
        desk(self).slug
    }
}

impl fmt::Display for DeskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a contact is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    /// A phone number to dial.
    Phone,
    /// A mail address.
    Mail,
    /// The subject line a mail must carry.
    MailSubject,
    /// A web page.
    Web,
    /// How to get through a web form.
    WebForm,
    /// Given by the site's contract (the dial itself is not known here).
    Contract,
}

impl ContactKind {
    /// Japanese label for text and pages ("電話", "メール件名", ...).
    pub fn label_ja(self) -> &'static str {
        match self {
            ContactKind::Phone => "電話",
            ContactKind::Mail => "メール",
            ContactKind::MailSubject => "メール件名",
            ContactKind::Web => "web",
            ContactKind::WebForm => "申請手順",
            ContactKind::Contract => "連絡先",
        }
    }
}

/// One way to reach a desk: `{kind, value}` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub kind: ContactKind,
    pub value: Cow<'static, str>,
}

impl Contact {
    pub(super) const fn fixed(kind: ContactKind, value: &'static str) -> Contact {
        Contact {
            kind,
            value: Cow::Borrowed(value),
        }
    }
}

/// A desk as the guide describes it.
#[derive(Debug, Clone)]
pub struct Desk {
    pub id: DeskId,
    pub(super) slug: &'static str,
    /// Japanese name, as in the guide.
    pub name: &'static str,
    /// What the desk is for.
    pub purpose: &'static str,
    /// Fixed contacts (empty for site-specific desks).
    pub contacts: &'static [Contact],
    /// Opening hours (`Unpublished` for site-specific desks until the site's data says more).
    pub hours: Hours,
    /// The hours as the guide words them.
    pub hours_ja: &'static str,
    /// Expected serial number prefix, for desks that take one.
    pub serial_prefix: Option<&'static str>,
    /// Where the serial number is printed.
    pub serial_location: Option<&'static str>,
    /// Warranty and charging notes.
    pub warranty: &'static [&'static str],
    /// Contact and hours come from the site's data (contract, operator-kept directory).
    pub site_specific: bool,
}

/// The desk with this id.
pub fn desk(id: DeskId) -> &'static Desk {
    &DESKS[id as usize]
}

/// All desks, in the order of [`DeskId::ALL`].
pub fn desks() -> &'static [Desk] {
    &DESKS
}

#[cfg(test)]
mod tests;
