//! `GET /`: the dashboard (issue 13). The page is complete as served (no script needed); its
//! sections are rendered once per snapshot ([`Frame`]) and the same HTML goes to every browser
//! through `/events` (`portal::live`), where a small script swaps in the sections that changed.

use askama::Template;
use axum::extract::State;
use axum::{Extension, response::IntoResponse};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{AppState, Nav, filters, render};
use crate::auth::Principal;
use crate::desk::JST;
use crate::error::Error;
use crate::fleet::dashboard::{self, Attention, IncidentLine, Snapshot};
use crate::incidents::rules::Rule;
use crate::sites::{Health, SiteStatus};

/// The dashboard's sections, in page order; each is a block of `dashboard_sections.html`.
pub const SECTIONS: [&str; 4] = ["fleet", "incidents", "attention", "newest"];

/// One snapshot with its sections rendered: what every browser is shown.
#[derive(Debug, Clone)]
pub struct Frame {
    pub snapshot: Snapshot,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub id: &'static str,
    /// Hash of `html`: a browser replaces a section only when it changed.
    pub version: String,
    pub html: String,
}

impl Frame {
    pub fn as_of(&self) -> DateTime<Utc> {
        self.snapshot.as_of
    }

    /// 「2026-12-02 10:15:30」 in JST.
    pub fn as_of_text(&self) -> String {
        as_of_text(self.snapshot.as_of)
    }
}

pub fn as_of_text(t: DateTime<Utc>) -> String {
    t.with_timezone(&JST)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Reads a snapshot and renders its sections.
pub async fn compute(state: &AppState) -> Result<Frame, Error> {
    let now = Utc::now();
    let snapshot = dashboard::snapshot(&state.pool, now, state.silent_before(now)).await?;
    frame(snapshot)
}

/// Renders the sections of `snapshot`.
pub fn frame(snapshot: Snapshot) -> Result<Frame, Error> {
    let v = View { s: &snapshot };
    let rendered = [
        render(&FleetBlock { v: &v })?.0,
        render(&IncidentsBlock { v: &v })?.0,
        render(&AttentionBlock { v: &v })?.0,
        render(&NewestBlock { v: &v })?.0,
    ];
    let sections = SECTIONS
        .iter()
        .zip(rendered)
        .map(|(id, html)| Section {
            id,
            version: hex::encode(&Sha256::digest(html.as_bytes())[..8]),
            html,
        })
        .collect();
    Ok(Frame { snapshot, sections })
}

/// A count that links to the list it counts.
pub struct Tile {
    /// The state's or severity's code (`data-key`).
    pub key: &'static str,
    pub label: &'static str,
    pub count: i64,
    pub href: String,
    /// CSS class: the state's or severity's colour.
    pub class: &'static str,
}

/// A short list on the dashboard.
pub struct Card<'a> {
    pub id: &'static str,
    pub title: &'static str,
    pub list: &'a Attention,
    pub more_href: String,
    pub empty: &'static str,
}

impl Card<'_> {
    /// Whether the list has more rows than it shows.
    pub fn has_more(&self) -> bool {
        self.list.total > self.list.items.len() as i64
    }
}

/// What the section templates read.
pub struct View<'a> {
    pub s: &'a Snapshot,
}

/// CSS class of a site state: ok | warning | critical | stale | none.
pub fn state_class(status: SiteStatus) -> &'static str {
    match status {
        SiteStatus::Ok => "ok",
        SiteStatus::Warning => "warning",
        SiteStatus::Critical => "critical",
        SiteStatus::Silent | SiteStatus::Closed => "stale",
        SiteStatus::NeverReported => "none",
    }
}

/// CSS class of a severity.
pub fn severity_class(h: Health) -> &'static str {
    match h {
        Health::Critical => "critical",
        Health::Warning => "warning",
        Health::Info | Health::Ok => "info",
    }
}

/// `/sites/{site_id}`, the id percent-encoded as a path segment.
pub fn site_href(site_id: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(site_id.as_bytes()).collect();
    format!("/sites/{}", encoded.replace('+', "%20"))
}

impl View<'_> {
    /// The fleet by state, problems first; each links to the site list filtered by it.
    pub fn fleet(&self) -> Vec<Tile> {
        crate::fleet::query::LIST_ORDER
            .into_iter()
            .map(|status| Tile {
                key: status.as_str(),
                label: status.label_ja(),
                count: self.s.summary.of(status),
                href: format!("/sites?state={}", status.as_str()),
                class: state_class(status),
            })
            .collect()
    }

    /// Open incidents by severity; each links to the incident list filtered by it.
    pub fn severities(&self) -> Vec<Tile> {
        self.s
            .severities
            .iter()
            .map(|(h, n)| Tile {
                key: h.as_str(),
                label: h.label_ja(),
                count: *n,
                href: format!("/incidents?severity={}", h.as_str()),
                class: severity_class(*h),
            })
            .collect()
    }

    pub fn rule_href(&self, rule: &Rule) -> String {
        format!("/incidents?rule={}", rule.as_str())
    }

    pub fn cards(&self) -> [Card<'_>; 3] {
        [
            Card {
                id: "certificates",
                title: "電子証明書の期限（30日以内・期限切れ）",
                list: &self.s.certificates,
                more_href: "/incidents?rule=cert_expiring".into(),
                empty: "30日以内に期限を迎える電子証明書はありません",
            },
            Card {
                id: "readers",
                title: "営業時間中にカードリーダーが使えないサイト",
                list: &self.s.readers_off,
                more_href: "/incidents?rule=reader_off".into(),
                empty: "営業時間中に電源の切れたカードリーダーはありません",
            },
            Card {
                id: "silent",
                title: "停止中のサイト（営業時間中に報告なし）",
                list: &self.s.silent,
                more_href: format!("/sites?state={}", SiteStatus::Silent.as_str()),
                empty: "営業時間中に止まっているサイトはありません",
            },
        ]
    }

    pub fn site_href(&self, line: &IncidentLine) -> String {
        site_href(&line.site_id)
    }

    pub fn severity_class(&self, line: &IncidentLine) -> &'static str {
        severity_class(line.severity)
    }

    pub fn incident_href(&self, line: &IncidentLine) -> String {
        format!("/incidents/{}", line.id)
    }
}

#[derive(Template)]
#[template(path = "dashboard_sections.html", block = "fleet")]
struct FleetBlock<'a> {
    v: &'a View<'a>,
}

#[derive(Template)]
#[template(path = "dashboard_sections.html", block = "incidents")]
struct IncidentsBlock<'a> {
    v: &'a View<'a>,
}

#[derive(Template)]
#[template(path = "dashboard_sections.html", block = "attention")]
struct AttentionBlock<'a> {
    v: &'a View<'a>,
}

#[derive(Template)]
#[template(path = "dashboard_sections.html", block = "newest")]
struct NewestBlock<'a> {
    v: &'a View<'a>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage<'a> {
    nav: Nav,
    frame: &'a Frame,
}

pub async fn page(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<impl IntoResponse, Error> {
    let frame = state.live.for_page(&state).await?;
    render(&DashboardPage {
        nav: Nav::from(&who).at("/"),
        frame: &frame,
    })
}
