//! A desk made concrete for one site (contract dial, maker / vendor contacts) and its state at
//! an instant: `desk_status` (for `desk hours`) and `list_desks` (for `GET /api/v1/desks`).

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde::{Serialize, Serializer};

use super::directory::{self, Contact, ContactKind, DeskId};
use super::hours::{ClosedReason, Hours, JST, OpenState};
use super::query::{ReaderMaker, SiteContact, SiteContacts};

/// A desk with the site's own data filled in.
#[derive(Debug, Clone)]
pub struct ResolvedDesk<'a> {
    pub id: DeskId,
    pub name: Cow<'a, str>,
    pub contacts: Vec<Contact>,
    pub hours: Cow<'a, Hours>,
    pub hours_ja: Cow<'a, str>,
    /// False when the site-specific contact is missing (only the generic description is known).
    pub contact_known: bool,
}

/// Fills in `id` from the site's data; `reader_maker` names the maker when the site's reader
/// desk is not on record.
pub fn resolve<'a>(
    id: DeskId,
    site: &'a SiteContacts,
    reader_maker: Option<ReaderMaker>,
) -> ResolvedDesk<'a> {
    let fixed = directory::desk(id);
    let mut desk = ResolvedDesk {
        id,
        name: Cow::Borrowed(fixed.name),
        contacts: fixed.contacts.to_vec(),
        hours: Cow::Borrowed(&fixed.hours),
        hours_ja: Cow::Borrowed(fixed.hours_ja),
        contact_known: !fixed.site_specific,
    };
    match id {
        DeskId::Omakase => {
            if let Some(contract) = &site.omakase {
                desk.contacts = vec![Contact {
                    kind: ContactKind::Phone,
                    value: Cow::Owned(contract.dial.clone()),
                }];
                desk.contact_known = true;
                if let Some(weekly) = &contract.hours {
                    desk.hours = Cow::Owned(Hours::Weekly(weekly.clone()));
                    desk.hours_ja = Cow::Owned(weekly.describe_ja());
                }
            }
        }
        DeskId::CardReaderMaker => {
            if let Some(maker) = reader_maker {
                desk.name = Cow::Owned(format!("{}（{}）", fixed.name, maker.name_ja()));
            }
            if let Some(contact) = &site.reader_maker {
                apply_site_contact(&mut desk, contact);
            }
        }
        DeskId::ReceiptVendor => {
            if let Some(contact) = &site.receipt_vendor {
                apply_site_contact(&mut desk, contact);
            }
        }
        _ => {}
    }
    desk
}

fn apply_site_contact<'a>(desk: &mut ResolvedDesk<'a>, contact: &'a SiteContact) {
    if !contact.name.trim().is_empty() {
        desk.name = Cow::Borrowed(&contact.name);
    }
    let owned = |kind, value: &String| Contact {
        kind,
        value: Cow::Owned(value.clone()),
    };
    desk.contacts = contact
        .phones
        .iter()
        .map(|p| owned(ContactKind::Phone, p))
        .chain(contact.mail.iter().map(|m| owned(ContactKind::Mail, m)))
        .chain(contact.web.iter().map(|w| owned(ContactKind::Web, w)))
        .collect();
    desk.contact_known = !desk.contacts.is_empty();
    if let Some(weekly) = &contact.hours {
        desk.hours = Cow::Owned(Hours::Weekly(weekly.clone()));
        desk.hours_ja = Cow::Owned(weekly.describe_ja());
    }
}

/// A desk's state at an instant (`desk hours`, JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeskStatus {
    pub desk: DeskId,
    pub name: String,
    #[serde(serialize_with = "rfc3339")]
    pub at: DateTime<FixedOffset>,
    pub open: bool,
    #[serde(serialize_with = "rfc3339_opt")]
    pub closes_at: Option<DateTime<FixedOffset>>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub next_open: Option<DateTime<FixedOffset>>,
    pub closed_reason: Option<ClosedReason>,
    /// The national holiday on the JST date of `at`, if any.
    pub holiday: Option<&'static str>,
    /// The hours in words.
    pub hours: String,
}

/// State of a desk at `at`, with no site data (site-specific desks are `no_published_hours`).
pub fn desk_status(desk: DeskId, at: DateTime<FixedOffset>) -> DeskStatus {
    desk_status_for_site(desk, &SiteContacts::default(), at)
}

/// State of a desk at `at` for a site.
pub fn desk_status_for_site(
    desk: DeskId,
    site: &SiteContacts,
    at: DateTime<FixedOffset>,
) -> DeskStatus {
    let resolved = resolve(desk, site, None);
    let state = resolved.hours.state(at);
    DeskStatus {
        desk,
        name: resolved.name.into_owned(),
        at: at.with_timezone(&JST),
        open: state.open,
        closes_at: state.closes_at,
        next_open: state.next_open,
        closed_reason: state.closed_reason,
        holiday: state.holiday,
        hours: resolved.hours_ja.into_owned(),
    }
}

/// One row of the desk directory (`GET /api/v1/desks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeskListing {
    pub id: DeskId,
    pub name: String,
    pub purpose: &'static str,
    pub contacts: Vec<Contact>,
    pub hours: String,
    /// "12/29〜1/3" / "12/29〜1/4", or null.
    pub year_end: Option<&'static str>,
    pub serial_prefix: Option<&'static str>,
    pub serial_location: Option<&'static str>,
    pub warranty: &'static [&'static str],
    /// Contact and hours come from the site's data.
    pub site_specific: bool,
    pub open_now: bool,
    #[serde(serialize_with = "rfc3339_opt")]
    pub closes_at: Option<DateTime<FixedOffset>>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub next_open: Option<DateTime<FixedOffset>>,
    pub closed_reason: Option<ClosedReason>,
    pub holiday: Option<&'static str>,
}

/// Every desk with its state at `at` (pass `SiteContacts::default()` for no site).
pub fn list_desks(site: &SiteContacts, at: DateTime<FixedOffset>) -> Vec<DeskListing> {
    DeskId::ALL
        .iter()
        .map(|&id| {
            let fixed = directory::desk(id);
            let resolved = resolve(id, site, None);
            let OpenState {
                open,
                closes_at,
                next_open,
                closed_reason,
                holiday,
            } = resolved.hours.state(at);
            DeskListing {
                id,
                name: resolved.name.into_owned(),
                purpose: fixed.purpose,
                contacts: resolved.contacts,
                year_end: resolved.hours.year_end().map(|y| y.label()),
                hours: resolved.hours_ja.into_owned(),
                serial_prefix: fixed.serial_prefix,
                serial_location: fixed.serial_location,
                warranty: fixed.warranty,
                site_specific: fixed.site_specific,
                open_now: open,
                closes_at,
                next_open,
                closed_reason,
                holiday,
            }
        })
        .collect()
}

/// RFC 3339 in JST, seconds always shown, fractions only when present:
/// `2026-05-01T09:00:00+09:00`.
pub fn format_rfc3339(at: DateTime<FixedOffset>) -> String {
    at.with_timezone(&JST)
        .to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

pub(super) fn rfc3339<S: Serializer>(at: &DateTime<FixedOffset>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339(*at))
}

pub(super) fn rfc3339_opt<S: Serializer>(
    at: &Option<DateTime<FixedOffset>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(&format!("{text}:00+09:00")).unwrap()
    }

    fn none() -> SiteContacts {
        SiteContacts::default()
    }

    #[test]
    fn desk_status_and_directory() {
        let s = desk_status(DeskId::SskSystem, t("2026-06-10T23:59"));
        assert!(s.open);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["desk"], "ssk-system");
        assert_eq!(v["closes_at"], "2026-06-11T00:00:00+09:00");
        assert_eq!(v["next_open"], "2026-06-10T23:59:00+09:00");
        assert_eq!(v["closed_reason"], serde_json::Value::Null);

        let listing = list_desks(&none(), t("2026-05-08T10:00"));
        assert_eq!(listing.len(), 14);
        let ids: Vec<DeskId> = listing.iter().map(|d| d.id).collect();
        assert_eq!(ids, DeskId::ALL);
        let by = |id| listing.iter().find(|d| d.id == id).unwrap();
        assert!(by(DeskId::LenovoPc).open_now);
        assert!(!by(DeskId::Omakase).open_now);
        assert_eq!(by(DeskId::YamahaRouter).year_end, Some("12/29〜1/4"));
        assert_eq!(by(DeskId::AlliedRouter).year_end, Some("12/29〜1/3"));
        assert_eq!(by(DeskId::Flets113).year_end, None);
        let v = serde_json::to_value(by(DeskId::AlliedRouter)).unwrap();
        assert_eq!(v["open_now"], true);
        assert_eq!(v["serial_prefix"], "S/NA");
    }
}
