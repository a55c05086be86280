//! Everything a draft is made of, read from the database in one place: the incident, its
//! site's profile and business hours, and the site-specific desks with the maker and vendor
//! directories applied.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::directory::site_contacts;
use super::draft::{Facts, IncidentFacts};
use super::{makers, vendors};
use crate::desk::{DeskId, Hours, JST, SiteContacts};
use crate::error::Error;
use crate::sites::profile::SITE_COLUMNS;
use crate::sites::{Site, hours_store};

/// The loaded facts; [`Context::facts`] lends them to the pure draft builder.
#[derive(Debug, Clone)]
pub struct Context {
    pub incident: IncidentFacts,
    pub site: Site,
    pub site_hours_ja: String,
    pub contacts: SiteContacts,
}

impl Context {
    pub fn facts<'a>(&'a self, operator: &'a str) -> Facts<'a> {
        Facts {
            incident: &self.incident,
            site: &self.site,
            site_hours_ja: &self.site_hours_ja,
            contacts: &self.contacts,
            operator,
        }
    }

    /// The hours a desk keeps for this site (contract, maker or vendor hours when recorded).
    pub fn desk_hours(&self, desk: DeskId) -> Hours {
        crate::desk::status::resolve(desk, &self.contacts, self.site.reader_maker)
            .hours
            .into_owned()
    }
}

pub const INCIDENT_COLUMNS: &str = "incident_id, site_id, rule, subject, severity, state, title, \
     detail, evidence, first_seen, last_seen, count";

pub async fn load(
    conn: &mut PgConnection,
    incident_id: i64,
    now: DateTime<Utc>,
) -> Result<Context, Error> {
    let incident: IncidentFacts = sqlx::query_as(&format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE incident_id = $1"
    ))
    .bind(incident_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound(format!("障害 {incident_id}")))?;
    let site: Site = sqlx::query_as(&format!(
        "SELECT {SITE_COLUMNS} FROM sites WHERE site_id = $1"
    ))
    .bind(&incident.site_id)
    .fetch_one(&mut *conn)
    .await?;
    let today = now.with_timezone(&JST).date_naive();
    let site_hours_ja = match hours_store::load(conn, &site.site_id, today).await? {
        Some(stored) => {
            let mut text = stored.hours.week.describe_ja();
            if stored.hours.closed_on_holidays {
                text.push_str("（祝日・年末年始は休み）");
            }
            text
        }
        None => "（未登録）".into(),
    };
    let maker = match site.reader_maker {
        Some(m) => makers::get(conn, m).await?.map(|d| d.entry),
        None => None,
    };
    let vendor = match site.receipt_vendor.as_deref() {
        Some(name) if !name.trim().is_empty() => vendors::find(conn, name).await?.map(|v| v.entry),
        _ => None,
    };
    let contacts = site_contacts(&site, maker.as_ref(), vendor.as_ref());
    Ok(Context {
        incident,
        site,
        site_hours_ja,
        contacts,
    })
}
