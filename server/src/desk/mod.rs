//! Maintenance-desk routing and the business calendar (domain.md §4, issue 5): for a fault at
//! a site, which desk to call, how, whether it is open at a given instant, when it next opens,
//! what to have ready, and who can be called meanwhile.
//!
//! Pure: no I/O and no clock — every instant is a parameter (only [`cli::run`] reads the clock,
//! when `--at` is absent). Times are JST (`+09:00`, see [`hours::JST`]).
//!
//! Map:
//! - [`calendar`]: national holidays 1990–2099, 平日 / 休日.
//! - [`hours`]: opening hours, `open` / `closes_at` / `next_open` / `closed_reason`.
//! - [`directory`]: every desk of domain.md §4 as data.
//! - [`query`]: the routing question and the site-specific desks (from the database).
//! - [`routing`]: [`route`]. [`serial`]: serial-number prefixes.
//! - [`status`]: [`desk_status`] and [`list_desks`] for the API.
//! - [`cli`]: `onshi-server desk route|hours|holidays`.
//!
//! Everything here is pure; the HTTP adapter is `portal/desk_api.rs`. Siblings are reached
//! through `super::` / `self::`.

mod advice;
pub mod calendar;
pub mod cli;
pub mod directory;
pub mod hours;
pub mod query;
pub mod routing;
pub mod serial;
pub mod status;
// The call sheet of an escalation (`escalation::draft`) is the routing answer in words.
pub(crate) mod text;

pub use self::cli::{DeskCliError, DeskCommand, run};
pub use self::directory::{Contact, ContactKind, Desk, DeskId};
pub use self::hours::{ClosedReason, Hours, JST, Span, WeeklyHours, YearEndClosure};
pub use self::query::{
    AtParam, Maintenance, OmakaseContract, Part, ReaderMaker, RouteQuery, RouterModel, SiteContact,
    SiteContacts,
};
pub use self::routing::{RouteAnswer, RouteError, route};
pub use self::status::{DeskListing, DeskStatus, desk_status, desk_status_for_site, list_desks};
pub use self::text::when as when_ja;

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod proptests;
