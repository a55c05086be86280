//! The site: its closed sets (`model`), its profile and the validation every entry path shares
//! (`profile`), and the one place that writes the `sites` table (`store`). Business hours
//! live in `hours` (pure) next to it.

pub mod model;
pub mod profile;
pub mod store;

pub use model::{Health, Maintenance, ReaderMaker, ReaderPower, RouterModel, SiteKind, SiteStatus};
pub use profile::{PREFECTURES, Site, SiteInput};
pub use store::Actor;
pub mod hours;
pub mod hours_cli;
pub mod hours_defaults;
pub mod hours_input;
pub mod hours_store;
