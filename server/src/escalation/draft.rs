//! From an incident to the right message for the right desk (issue 12 "Escalation"): which
//! desk (desk routing with the site's profile; 「Nにおまかせ」 first for a subscribed site,
//! domain.md §4), whether the site has that desk at all, the serial the desk asks for (checked
//! against its prefix), and how to reach it — a mail (Lenovo), a call sheet (routers, NTT
//! East's desks, 支払基金, makers, vendors) or a web form (Apresia). Pure: `at` is a parameter.
//! The wording is in [`super::letter`].

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use super::letter;
use super::model::{Channel, field_error};
use crate::desk::serial;
use crate::desk::status::{ResolvedDesk, resolve};
use crate::desk::{
    ContactKind, DeskId, Maintenance, Part, RouteAnswer, RouteError, RouteQuery, SiteContacts,
    route,
};
use crate::incidents::lifecycle::State;
use crate::incidents::rules::Rule;
use crate::sites::{Health, Site};

/// The incident as a draft quotes it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct IncidentFacts {
    #[sqlx(rename = "incident_id")]
    pub id: i64,
    pub site_id: String,
    pub rule: Rule,
    pub subject: String,
    pub severity: Health,
    pub state: State,
    pub title: String,
    pub detail: String,
    pub evidence: serde_json::Value,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub count: i64,
}

impl IncidentFacts {
    /// The part of the installation the incident is about, if its rule has one.
    pub fn part(&self) -> Option<Part> {
        self.rule.part(&self.subject)
    }
}

/// Everything a draft is made of.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub incident: &'a IncidentFacts,
    pub site: &'a Site,
    /// The site's business hours in words: when an engineer can visit or call back.
    pub site_hours_ja: &'a str,
    /// The site-specific desks with the maker and vendor directories applied
    /// (`directory::site_contacts`).
    pub contacts: &'a SiteContacts,
    /// Who drafts it (signs the mail).
    pub operator: &'a str,
}

/// What the operator asks for: a desk other than the routed one, a serial other than the
/// site's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Request {
    pub desk: Option<DeskId>,
    pub serial: Option<String>,
}

/// A ready-to-review request to one desk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Draft {
    pub desk: DeskId,
    pub desk_name: String,
    pub channel: Channel,
    /// Mail address, phone number(s) (" / " between them) or the form's URL.
    pub to: String,
    /// Mail subject; empty for calls and forms.
    pub subject: String,
    /// The mail, or what to say on the phone / enter in the form.
    pub body: String,
    /// The serial quoted (checked against the desk's prefix), or empty.
    pub serial: String,
    /// The desk at `at` in words: contact, hours, open now or when it opens, who is open now.
    pub sheet: String,
    /// The routing answer behind the sheet (open, next_open, fallback, prepare, notes).
    pub route: RouteAnswer,
    /// What the operator should check before sending (fields the site lacks, warranty).
    pub warnings: Vec<String>,
}

fn desk_name(id: DeskId) -> &'static str {
    crate::desk::directory::desk(id).name
}

/// The part a desk answers for, so routing can describe it (the desk's own part; 「Nにおまかせ」
/// answers for the incident's part).
pub fn part_of(desk: DeskId, incident_part: Option<Part>) -> Part {
    match desk {
        DeskId::Omakase => incident_part
            .filter(|p| p.is_standard_configuration())
            .unwrap_or(Part::Pc),
        DeskId::OnshiCallCenter => Part::HowTo,
        DeskId::Flets113 => Part::Line,
        DeskId::LenovoPc => Part::Pc,
        DeskId::AlliedRouter | DeskId::YamahaRouter => Part::Router,
        DeskId::ApresiaHub => Part::Hub,
        DeskId::CardReaderMaker => Part::CardReader,
        DeskId::ReceiptVendor => Part::ReceiptSystem,
        DeskId::NttEastOnshi => Part::ChangeRequest,
        DeskId::SskNetwork => Part::BillingNetwork,
        DeskId::SskSystem => Part::BillingSystem,
        DeskId::SskTokutei => Part::BillingTokutei,
        DeskId::SskOther => Part::BillingOther,
    }
}

fn site_page(site: &Site) -> String {
    format!("サイトの編集（/admin/sites/{}）", site.site_id)
}

fn not_on_site(site: &Site, what: &'static str, desk: DeskId) -> DraftError {
    DraftError::NotOnSite {
        site: site.name.clone(),
        what,
        desk: desk_name(desk),
        page: site_page(site),
    }
}

/// The desk routing picks for the incident: 「Nにおまかせ」 for a subscribed site's standard
/// equipment, else the part's own desk (domain.md §4 "Routing").
pub fn default_desk(f: &Facts<'_>) -> Result<DeskId, DraftError> {
    let part = f.incident.part().ok_or(DraftError::NoDesk {
        rule: f.incident.rule.label_ja(),
    })?;
    if f.site.maintenance == Maintenance::Omakase && part.is_standard_configuration() {
        return Ok(DeskId::Omakase);
    }
    Ok(match part {
        Part::Router => f
            .site
            .router_model
            .ok_or_else(|| not_on_site(f.site, "ルータの型番", DeskId::AlliedRouter))?
            .desk(),
        other => crate::desk::routing::part_desk(other, crate::desk::RouterModel::AtAr1050v),
    })
}

/// 「Nにおまかせ」 only for a subscribed site with its dial on record, and only for NTT East's
/// standard configuration (guide 1-8-1).
fn check_omakase(f: &Facts<'_>) -> Result<(), DraftError> {
    let site = f.site;
    let own = |part| {
        crate::desk::routing::part_desk(
            part,
            site.router_model
                .unwrap_or(crate::desk::RouterModel::AtAr1050v),
        )
    };
    if site.maintenance != Maintenance::Omakase {
        let hint = match f.incident.part() {
            Some(part) => format!("部位の窓口（{}）を選んでください", desk_name(own(part))),
            None => "部位の窓口を選んでください".into(),
        };
        return Err(DraftError::NotSubscribed {
            site: site.name.clone(),
            hint,
        });
    }
    if let Some(part) = f.incident.part().filter(|p| !p.is_standard_configuration()) {
        return Err(DraftError::OutsideOmakase {
            rule: f.incident.rule.label_ja(),
            desk: desk_name(own(part)),
        });
    }
    if f.contacts.omakase.is_none() {
        return Err(DraftError::NotRegistered {
            desk: "「Nにおまかせ！ITサポート」専用ダイヤル".into(),
            page: site_page(site),
            fix: FixAt::Site,
        });
    }
    Ok(())
}

/// Refuses a desk the site has no contract or equipment for.
pub fn check_contract(f: &Facts<'_>, desk: DeskId) -> Result<(), DraftError> {
    let site = f.site;
    match desk {
        DeskId::Omakase => check_omakase(f)?,
        DeskId::AlliedRouter | DeskId::YamahaRouter => {
            let model = site
                .router_model
                .ok_or_else(|| not_on_site(site, "ルータの型番", desk))?;
            if model.desk() != desk {
                return Err(DraftError::WrongRouter {
                    site: site.name.clone(),
                    model: model.name(),
                    chosen: desk_name(desk),
                    right: desk_name(model.desk()),
                });
            }
        }
        DeskId::ApresiaHub if !site.has_hub => {
            return Err(not_on_site(site, "HUB（Apresia）", desk));
        }
        DeskId::CardReaderMaker => {
            let maker = site
                .reader_maker
                .ok_or_else(|| not_on_site(site, "顔認証付きカードリーダー", desk))?;
            if f.contacts.reader_maker.is_none() {
                return Err(DraftError::NotRegistered {
                    desk: format!("カードリーダーメーカー（{}）", maker.name_ja()),
                    page: "メーカー窓口の管理ページ（/admin/makers）".into(),
                    fix: FixAt::Makers,
                });
            }
        }
        DeskId::ReceiptVendor => {
            let vendor = f
                .contacts
                .receipt_vendor
                .as_ref()
                .ok_or_else(|| not_on_site(site, "レセコン業者", desk))?;
            if vendor.phones.is_empty() && vendor.mail.is_none() && vendor.web.is_none() {
                return Err(DraftError::NotRegistered {
                    desk: format!("レセコン業者（{}）", vendor.name),
                    page: format!(
                        "レセコン業者の管理ページ（/admin/receipt-vendors）または{}",
                        site_page(site)
                    ),
                    fix: FixAt::ReceiptVendors,
                });
            }
        }
        _ => {}
    }
    Ok(())
}

fn non_empty(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

/// The serial the desk is told: the operator's, else the site's; checked against the desk's
/// prefix (guide 1-8-3). Lenovo and the router desks need one.
pub fn serial_for(f: &Facts<'_>, desk: DeskId, given: Option<&str>) -> Result<String, DraftError> {
    let given = given.and_then(non_empty);
    let site = f.site;
    let serial = match desk {
        DeskId::LenovoPc => {
            let s = given
                .or(non_empty(&site.pc_serial))
                .ok_or(DraftError::SerialMissing {
                    desk: desk_name(desk),
                    form: "PC本体に記載のシリアル番号".into(),
                })?;
            serial::check_plain(s)?
        }
        DeskId::AlliedRouter | DeskId::YamahaRouter => {
            let model = site
                .router_model
                .ok_or_else(|| not_on_site(site, "ルータの型番", desk))?;
            let s = given.or(non_empty(&site.router_serial)).ok_or_else(|| {
                DraftError::SerialMissing {
                    desk: desk_name(desk),
                    form: format!(
                        "ルータ本体に記載の「{}」から始まる番号",
                        serial::router_prefix(model)
                    ),
                }
            })?;
            serial::check_router_serial(model, s)?
        }
        DeskId::ApresiaHub => match given.or(non_empty(&site.hub_serial)) {
            Some(s) => serial::check_plain(s)?,
            None => String::new(),
        },
        _ => match given {
            Some(s) => serial::check_plain(s)?,
            None => String::new(),
        },
    };
    Ok(serial)
}

fn route_error(f: &Facts<'_>, desk: DeskId, e: RouteError) -> DraftError {
    match e {
        RouteError::MissingRouterModel => not_on_site(f.site, "ルータの型番", desk),
        RouteError::MissingReaderMaker => not_on_site(f.site, "顔認証付きカードリーダー", desk),
        RouteError::Serial(e) => DraftError::Serial(e),
    }
}

/// How the desk is reached, and at which address / number / URL.
fn channel_for(desk: DeskId, resolved: &ResolvedDesk<'_>) -> Result<(Channel, String), DraftError> {
    let of = |kind: ContactKind| -> Vec<String> {
        resolved
            .contacts
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.value.to_string())
            .collect()
    };
    let (phones, mails, webs) = (
        of(ContactKind::Phone),
        of(ContactKind::Mail),
        of(ContactKind::Web),
    );
    // guide 1-8-3: Lenovo takes mail with a subject tag; Apresia only a web form.
    let preferred = match desk {
        DeskId::LenovoPc => [Channel::Mail, Channel::Phone, Channel::WebForm],
        DeskId::ApresiaHub => [Channel::WebForm, Channel::Phone, Channel::Mail],
        _ => [Channel::Phone, Channel::Mail, Channel::WebForm],
    };
    for channel in preferred {
        let found = match channel {
            Channel::Phone => phones.join(" / "),
            Channel::Mail => mails.first().cloned().unwrap_or_default(),
            Channel::WebForm => webs.first().cloned().unwrap_or_default(),
        };
        if !found.is_empty() {
            return Ok((channel, found));
        }
    }
    let fix = match desk {
        DeskId::CardReaderMaker => FixAt::Makers,
        DeskId::ReceiptVendor => FixAt::ReceiptVendors,
        _ => FixAt::Site,
    };
    Err(DraftError::NotRegistered {
        desk: resolved.name.to_string(),
        page: "窓口の管理ページ".into(),
        fix,
    })
}

/// Builds the draft for `req` (the routed desk unless one is asked for) at instant `at`.
pub fn build(f: &Facts<'_>, req: &Request, at: DateTime<FixedOffset>) -> Result<Draft, DraftError> {
    let desk = match req.desk {
        Some(desk) => desk,
        None => default_desk(f)?,
    };
    check_contract(f, desk)?;
    let serial = serial_for(f, desk, req.serial.as_deref())?;
    let part = part_of(desk, f.incident.part());
    let query = RouteQuery {
        part,
        router_model: f.site.router_model,
        reader_maker: f.site.reader_maker,
        maintenance: if desk == DeskId::Omakase {
            Maintenance::Omakase
        } else {
            Maintenance::None
        },
        serial: None,
    };
    let answer = route(&query, f.contacts, at).map_err(|e| route_error(f, desk, e))?;
    let resolved = resolve(desk, f.contacts, f.site.reader_maker);
    let (channel, to) = channel_for(desk, &resolved)?;
    let text = letter::compose(&letter::Input {
        facts: f,
        desk,
        desk_name: &resolved.name,
        channel,
        serial: &serial,
        answer: &answer,
        at,
    });
    Ok(Draft {
        desk,
        desk_name: resolved.name.into_owned(),
        channel,
        to,
        subject: text.subject,
        body: text.body,
        serial,
        sheet: crate::desk::text::route(&answer),
        route: answer,
        warnings: text.warnings,
    })
}

mod error;
pub use error::{DraftError, FixAt};

#[cfg(test)]
pub(crate) mod tests;
