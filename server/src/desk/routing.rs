//! `(part, site profile, maintenance, instant) → which desk, how, open or when` (domain.md §4
//! "Routing", guide 1-8 / 2-11).

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::advice;
use super::directory::{self, Contact, DeskId};
use super::hours::{ClosedReason, JST};
use super::query::{Maintenance, Part, ReaderMaker, RouteQuery, RouterModel, SiteContacts};
use super::serial::{self, SerialError};
use super::status::{resolve, rfc3339, rfc3339_opt};

/// A question routing cannot answer as asked. Messages name the option (CLI spelling, then the
/// query-parameter spelling) and the allowed values. The CLI exits with status 2 on any of
/// these; the HTTP API answers 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error(
        "--router-model (router_model) が必要です: --part router にはルータの型番を指定してください。指定できる値: {}",
        RouterModel::ALLOWED
    )]
    MissingRouterModel,
    #[error(
        "--reader-maker (reader_maker) が必要です: --part card-reader には顔認証付きカードリーダーのメーカーを指定してください。指定できる値: {}",
        ReaderMaker::ALLOWED
    )]
    MissingReaderMaker,
    #[error("--serial (serial): {0}")]
    Serial(#[from] SerialError),
}

/// The answer: who to call first, how, whether they are open, and what else helps.
/// Timestamps are RFC 3339 in `+09:00`; see `hours` for the definitions of `next_open` /
/// `closes_at` (both null for a desk open around the clock or with no published hours).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteAnswer {
    #[serde(serialize_with = "rfc3339")]
    pub at: DateTime<FixedOffset>,
    pub part: Part,
    pub maintenance: Maintenance,
    /// The desk to call first.
    pub desk: DeskId,
    /// The part's own desk (differs from `desk` when `omakase` goes first).
    pub part_desk: DeskId,
    pub name: String,
    pub contacts: Vec<Contact>,
    /// The desk's hours in words.
    pub hours: String,
    pub open: bool,
    #[serde(serialize_with = "rfc3339_opt")]
    pub closes_at: Option<DateTime<FixedOffset>>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub next_open: Option<DateTime<FixedOffset>>,
    pub closed_reason: Option<ClosedReason>,
    /// The national holiday on the JST date of `at`, if any.
    pub holiday: Option<&'static str>,
    /// What to have ready when calling.
    pub prepare: Vec<Cow<'static, str>>,
    /// Warranty, charging and hours notes.
    pub notes: Vec<Cow<'static, str>>,
    /// A desk open at `at` that can be called meanwhile, when `desk` is closed.
    pub fallback: Option<DeskId>,
    pub fallback_name: Option<String>,
    pub fallback_contacts: Vec<Contact>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub fallback_closes_at: Option<DateTime<FixedOffset>>,
    pub part_desk_name: String,
    pub part_desk_open: bool,
    #[serde(serialize_with = "rfc3339_opt")]
    pub part_desk_next_open: Option<DateTime<FixedOffset>>,
}

/// The part's own desk (an unsubscribed site calls it directly).
pub fn part_desk(part: Part, router_model: RouterModel) -> DeskId {
    match part {
        Part::Line => DeskId::Flets113,
        Part::Pc => DeskId::LenovoPc,
        Part::Router => router_model.desk(),
        Part::Hub => DeskId::ApresiaHub,
        Part::CardReader => DeskId::CardReaderMaker,
        Part::ReceiptSystem => DeskId::ReceiptVendor,
        Part::HowTo => DeskId::OnshiCallCenter,
        Part::ChangeRequest => DeskId::NttEastOnshi,
        Part::BillingNetwork => DeskId::SskNetwork,
        Part::BillingSystem => DeskId::SskSystem,
        Part::BillingTokutei => DeskId::SskTokutei,
        Part::BillingOther => DeskId::SskOther,
    }
}

/// Desks that can usefully be called for `part` while the right one is closed, best first
/// (the part's own desk is always first; the 支払基金 lines cover for one another).
fn fallbacks(part: Part, own: DeskId) -> [Option<DeskId>; 3] {
    use DeskId::*;
    let rest = match part {
        Part::Line | Part::Hub | Part::HowTo => [None, None],
        Part::Pc | Part::Router | Part::CardReader | Part::ReceiptSystem | Part::ChangeRequest => {
            [Some(OnshiCallCenter), None]
        }
        Part::BillingNetwork => [Some(SskSystem), Some(SskOther)],
        Part::BillingSystem => [Some(SskNetwork), Some(SskOther)],
        Part::BillingTokutei => [Some(SskOther), None],
        Part::BillingOther => [Some(SskSystem), Some(SskNetwork)],
    };
    [Some(own), rest[0], rest[1]]
}

/// Answers `query` for a site at instant `at` (any offset; answers are in JST).
pub fn route(
    query: &RouteQuery,
    site: &SiteContacts,
    at: DateTime<FixedOffset>,
) -> Result<RouteAnswer, RouteError> {
    let at = at.with_timezone(&JST);
    let model = match (query.part, query.router_model) {
        (Part::Router, None) => return Err(RouteError::MissingRouterModel),
        (_, model) => model,
    };
    if query.part == Part::CardReader && query.reader_maker.is_none() {
        return Err(RouteError::MissingReaderMaker);
    }
    let serial = match (&query.serial, query.part, model) {
        (None, _, _) => None,
        (Some(s), Part::Router, Some(model)) => Some(serial::check_router_serial(model, s)?),
        (Some(s), _, _) => Some(serial::check_plain(s)?),
    };

    let own = part_desk(query.part, model.unwrap_or(RouterModel::AtAr1050v));
    let subscribed = query.maintenance == Maintenance::Omakase;
    let first = if subscribed && query.part.is_standard_configuration() {
        DeskId::Omakase
    } else {
        own
    };

    let desk = resolve(first, site, query.reader_maker);
    let state = desk.hours.state(at);
    let own_desk = resolve(own, site, query.reader_maker);
    let own_state = if own == first {
        state
    } else {
        own_desk.hours.state(at)
    };

    let mut answer = RouteAnswer {
        at,
        part: query.part,
        maintenance: query.maintenance,
        desk: first,
        part_desk: own,
        name: desk.name.into_owned(),
        contacts: desk.contacts,
        hours: desk.hours_ja.into_owned(),
        open: state.open,
        closes_at: state.closes_at,
        next_open: state.next_open,
        closed_reason: state.closed_reason,
        holiday: state.holiday,
        prepare: Vec::new(),
        notes: Vec::new(),
        fallback: None,
        fallback_name: None,
        fallback_contacts: Vec::new(),
        fallback_closes_at: None,
        part_desk_name: own_desk.name.into_owned(),
        part_desk_open: own_state.open,
        part_desk_next_open: own_state.next_open,
    };

    if !state.open {
        let candidates = fallbacks(query.part, own).into_iter().flatten();
        for candidate in candidates.filter(|&c| c != first) {
            let resolved = resolve(candidate, site, query.reader_maker);
            let candidate_state = resolved.hours.state(at);
            if candidate_state.open {
                answer.fallback = Some(candidate);
                answer.fallback_name = Some(resolved.name.into_owned());
                answer.fallback_contacts = resolved.contacts;
                answer.fallback_closes_at = candidate_state.closes_at;
                break;
            }
        }
    }

    let facts = advice::Facts {
        query,
        model,
        serial: serial.as_deref(),
        first,
        own,
        own_contact_known: own_desk.contact_known,
        omakase_contract: site.omakase.as_ref(),
        closed_reason: state.closed_reason,
    };
    answer.prepare = advice::prepare(&facts);
    answer.notes = advice::notes(&facts);
    Ok(answer)
}

/// Japanese name of a desk (for text that mentions a desk by id).
pub fn desk_name(id: DeskId) -> &'static str {
    directory::desk(id).name
}

#[cfg(test)]
mod tests;
