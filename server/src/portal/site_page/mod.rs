//! `/sites/{site_id}` (サイト詳細, issue 13): the profile with the 5-year replacement window of
//! each unit, the 「今すぐ連絡」 panel (desk routing with the site's profile, part by part), the
//! latest report section by section with the rules' advice, 7-day charts, the site's
//! incidents, its agents, and for 訪問看護 the home-visit guidance. Read-only; admins get
//! links to the edit and delete pages.

mod charts;
mod report;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;

use super::{AppState, Nav, filters, render};
use crate::auth::Principal;
use crate::desk::JST;
use crate::error::Error;
use crate::fleet::query::{SITES_WITH_STATE_SQL, STATUS_SQL};
use crate::fleet::report::ReportDoc;
use crate::incidents::desk::{PartContact, panel};
use crate::incidents::query::{self, Filter, Incident, StateFilter};
use crate::incidents::rules::{self, SiteContext};
use crate::sites::hours_store::{self, StoredHours};
use crate::sites::profile::replacement_until;
use crate::sites::{Health, Maintenance, Site, SiteKind, SiteStatus};
pub use charts::Charts;
pub use report::{Section, SectionView};

/// One unit of equipment with its 5-year replacement window (domain.md §4, guide 1-8-3).
pub struct Unit {
    pub what: String,
    pub serial: String,
    pub purchased_on: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
    pub expired: bool,
}

fn unit(what: String, serial: &str, purchased_on: Option<NaiveDate>, today: NaiveDate) -> Unit {
    let until = purchased_on.map(replacement_until);
    Unit {
        what,
        serial: serial.to_owned(),
        purchased_on,
        expired: until.is_some_and(|u| u < today),
        until,
    }
}

fn equipment(site: &Site, today: NaiveDate) -> Vec<Unit> {
    let router = site.router_model.map_or_else(
        || "オン資ルータ（型番未登録）".to_owned(),
        |m| m.label_ja().to_owned(),
    );
    let mut out = vec![
        unit(
            "オン資PC（Lenovo）".into(),
            &site.pc_serial,
            site.pc_purchased_on,
            today,
        ),
        unit(router, &site.router_serial, site.router_purchased_on, today),
    ];
    if site.has_hub {
        out.push(unit(
            "HUB（Apresia LightGC105-SS）".into(),
            &site.hub_serial,
            site.hub_purchased_on,
            today,
        ));
    }
    out
}

/// The site's latest report as stored.
#[derive(sqlx::FromRow)]
pub struct Latest {
    pub agent_id: String,
    pub seq: i64,
    pub collected_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub health: Health,
    report: Json<serde_json::Value>,
}

#[derive(sqlx::FromRow)]
pub struct AgentRow {
    pub agent_id: String,
    pub agent_version: String,
    pub enrolled_at: Option<DateTime<Utc>>,
    pub last_seen_at: DateTime<Utc>,
    pub cert_not_after: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Template)]
#[template(path = "site.html")]
struct SitePage {
    nav: Nav,
    now: DateTime<Utc>,
    site: Site,
    status: SiteStatus,
    hours: StoredHours,
    open_now: bool,
    next_open: Option<DateTime<Utc>>,
    equipment: Vec<Unit>,
    contacts: Vec<PartContact>,
    latest: Option<Latest>,
    /// The report could not be read (stored by an older version, or damaged).
    report_error: String,
    sections: Vec<SectionView>,
    probe_errors: Vec<String>,
    charts: Charts,
    incidents: Vec<Incident>,
    resolved: Vec<Incident>,
    agents: Vec<AgentRow>,
}

impl SitePage {
    fn is_home_nursing(&self) -> bool {
        self.site.kind == SiteKind::HomeNursing
    }

    fn subscribed(&self) -> bool {
        self.site.maintenance == Maintenance::Omakase
    }

    fn hours_label(&self) -> String {
        if self.hours.is_default {
            format!("種別の既定（{}）", self.site.kind.label_ja())
        } else {
            "このサイトの設定".into()
        }
    }

    /// A certificate expiring within 30 days (or expired) is shown in red.
    fn cert_soon(&self, t: &Option<DateTime<Utc>>) -> bool {
        t.is_some_and(|t| t - self.now < chrono::Duration::days(30))
    }
}

async fn status_of(
    conn: &mut PgConnection,
    site_id: &str,
    silent_before: DateTime<Utc>,
) -> Result<SiteStatus, Error> {
    // The one definition of a site's state (`fleet::query::STATUS_SQL`), as on the site list.
    Ok(sqlx::query_scalar(&format!(
        "SELECT {STATUS_SQL} FROM {SITES_WITH_STATE_SQL} WHERE s.site_id = $2"
    ))
    .bind(silent_before)
    .bind(site_id)
    .fetch_one(conn)
    .await?)
}

fn active_and_resolved(site_id: &str) -> (Filter, Filter) {
    let f = |state, limit| Filter {
        state,
        site: Some(site_id.to_owned()),
        limit: Some(limit),
        ..Filter::default()
    };
    (f(StateFilter::Active, 100), f(StateFilter::Resolved, 10))
}

pub async fn page(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(site_id): Path<String>,
) -> Result<Response, Error> {
    let now = Utc::now();
    let today = now.with_timezone(&JST).date_naive();
    let site = crate::sites::store::get(&state.pool, &site_id)
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "サイト {site_id} は登録されていません。サイトIDを確認してください"
            ))
        })?;
    let mut conn = state.pool.acquire().await?;
    let hours = hours_store::load(&mut conn, &site_id, today)
        .await?
        .ok_or_else(|| Error::NotFound(format!("サイト {site_id} は登録されていません")))?;
    let at = now.with_timezone(&JST);
    let latest: Option<Latest> = sqlx::query_as(
        "SELECT agent_id, seq, collected_at, received_at, health, report FROM site_state WHERE site_id = $1",
    )
    .bind(&site_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (mut sections, mut probe_errors, mut report_error) =
        (Vec::new(), Vec::new(), String::new());
    if let Some(l) = &latest {
        match serde_json::from_value::<ReportDoc>(l.report.0.clone()) {
            Ok(doc) => {
                let ctx = SiteContext {
                    kind: Some(site.kind),
                    reader_maker: site.reader_maker,
                    hours: Some(&hours.hours),
                    now,
                };
                let conditions = rules::evaluate(&doc, &ctx);
                sections = report::sections(&doc, &conditions, now);
                probe_errors = doc.agent.probe_errors.clone();
            }
            Err(e) => {
                tracing::warn!(site_id, error = %e, "stored report unreadable on the site page");
                report_error = "最新の報告を読み取れませんでした（古い形式か破損しています）。次の報告で表示されます".into();
            }
        }
    }
    let (active, resolved) = active_and_resolved(&site_id);
    let incidents = query::list(&mut conn, &active, now).await?.incidents;
    let resolved = query::list(&mut conn, &resolved, now).await?.incidents;
    let agents: Vec<AgentRow> = sqlx::query_as(
        "SELECT agent_id, agent_version, enrolled_at, last_seen_at, cert_not_after, revoked_at
         FROM agents WHERE site_id = $1 ORDER BY revoked_at NULLS FIRST, last_seen_at DESC LIMIT 20",
    )
    .bind(&site_id)
    .fetch_all(&mut *conn)
    .await?;
    let history = crate::fleet::history::recent(&mut conn, &site_id, now, 7).await?;
    // A report older than the portal's stale limit is silence, as on the site list.
    let stale =
        chrono::Duration::from_std(state.stale_after).unwrap_or(chrono::Duration::minutes(16));
    let silent_before = now - stale;
    let page = SitePage {
        nav: Nav::from(&who),
        now,
        status: status_of(&mut conn, &site_id, silent_before).await?,
        open_now: hours.hours.is_open(at),
        next_open: hours.hours.next_open(at).map(|t| t.with_timezone(&Utc)),
        equipment: equipment(&site, today),
        contacts: panel(&site, now),
        charts: charts::timeline(&history, &hours.hours),
        hours,
        site,
        latest,
        report_error,
        sections,
        probe_errors,
        incidents,
        resolved,
        agents,
    };
    Ok(render(&page)?.into_response())
}
