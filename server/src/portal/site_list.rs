//! `GET /sites` (サイト一覧) and `GET /sites.csv`: search, filters, sort, keyset pages, and the
//! same list as a CSV file for Excel. The header's global search lands here too: a query that
//! is exactly one site's key (site id, 医療機関コード, phone) opens that site directly.

use std::future::Future;
use std::pin::Pin;

use askama::Template;
use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::dashboard::{site_href, state_class};
use super::extract::{AppQuery, PAGE_SIZE, Remote};
use super::{AppState, Nav, filters, render};
use crate::auth::Principal;
use crate::auth::audit::{self, Entry};
use crate::error::Error;
use crate::fleet::query;
use crate::fleet::site_list::sql::{self, ListedSite};
use crate::fleet::site_list::{ListParams, ListRequest, SiteSort};
use crate::sites::{Maintenance, PREFECTURES, ReaderMaker, RouterModel, SiteKind, SiteStatus};

/// Rows read per query while streaming the CSV (no connection is held between them).
const CSV_CHUNK: i64 = 1000;

#[derive(Template)]
#[template(path = "sites.html")]
struct SitesPage {
    nav: Nav,
    params: ListParams,
    req: ListRequest,
    sites: Vec<ListedSite>,
    next_href: Option<String>,
    csv_href: String,
}

impl SitesPage {
    fn state_class(&self, s: &ListedSite) -> &'static str {
        state_class(s.status)
    }

    fn site_href(&self, s: &ListedSite) -> String {
        site_href(&s.site_id)
    }

    fn first_href(&self) -> Option<String> {
        self.req.cursor.is_some().then(|| {
            format!(
                "/sites?{}",
                self.req.filter.query_string(self.req.sort, None)
            )
        })
    }

    fn searching(&self) -> bool {
        self.req.filter != Default::default()
    }

    fn states(&self) -> [SiteStatus; 6] {
        SiteStatus::ALL
    }

    fn kinds(&self) -> [SiteKind; 3] {
        SiteKind::ALL
    }

    fn prefectures(&self) -> [&'static str; 47] {
        PREFECTURES
    }

    fn makers(&self) -> [ReaderMaker; 5] {
        ReaderMaker::ALL
    }

    fn routers(&self) -> [RouterModel; 3] {
        RouterModel::ALL
    }

    fn maintenances(&self) -> [Maintenance; 2] {
        Maintenance::ALL
    }

    fn sorts(&self) -> [SiteSort; 4] {
        SiteSort::ALL
    }

    fn is_sort(&self, s: &SiteSort) -> bool {
        self.req.sort == *s
    }

    fn is_prefecture(&self, p: &str) -> bool {
        self.req.filter.prefecture.as_deref() == Some(p)
    }
}

/// `GET /sites`.
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    AppQuery(params): AppQuery<ListParams>,
) -> Result<Response, Error> {
    let req = params.check()?;
    let mut tx = query::read(&state.pool).await?;
    if req.filter.is_search_only()
        && req.cursor.is_none()
        && let Some(q) = &req.filter.q
        && let Some(site_id) = sql::exact_key(&mut tx, q).await?
    {
        return Ok(Redirect::to(&site_href(&site_id)).into_response());
    }
    let silent_before = state.silent_before(Utc::now());
    let mut page = sql::page(&mut tx, &req, PAGE_SIZE, silent_before).await?;
    sql::add_main_problems(&mut tx, &mut page.sites).await?;
    tx.commit().await?;
    let next_href = page
        .next
        .as_ref()
        .map(|c| format!("/sites?{}", req.filter.query_string(req.sort, Some(c))));
    let csv_href = format!("/sites.csv?{}", req.filter.query_string(req.sort, None));
    Ok(render(&SitesPage {
        nav: Nav::from(&who).at("/sites"),
        params,
        req,
        sites: page.sites,
        next_href,
        csv_href,
    })?
    .into_response())
}

/// A cell Excel would run as a formula (`=`, `+`, `-`, `@`, or a tab / carriage return
/// that hides one) starts with `'` instead, so an exported list cannot carry a formula.
pub fn neutralize(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

const CSV_HEADER: [&str; 16] = [
    "サイトID",
    "名称",
    "状態",
    "医療機関コード",
    "都道府県",
    "住所",
    "電話番号",
    "担当者",
    "種別",
    "保守契約",
    "おまかせ専用番号",
    "カードリーダー",
    "ルータ",
    "レセコン",
    "最終受信 (JST)",
    "主な問題",
];

fn csv_record(s: &ListedSite) -> [String; 16] {
    [
        s.site_id.clone(),
        s.name.clone(),
        s.status.label_ja().to_owned(),
        s.medical_code.clone(),
        s.prefecture.clone(),
        s.address.clone(),
        s.phone.clone(),
        s.contact_person.clone(),
        s.kind.label_ja().to_owned(),
        s.maintenance.label_ja().to_owned(),
        s.omakase_dial.clone().unwrap_or_default(),
        s.reader_maker
            .map(|m| m.label_ja())
            .unwrap_or("")
            .to_owned(),
        s.router_model.map(|m| m.name()).unwrap_or("").to_owned(),
        s.receipt_vendor.clone().unwrap_or_default(),
        s.received_at
            .map(|t| filters::jst_text(Some(t)))
            .unwrap_or_default(),
        s.main_problem.clone().unwrap_or_default(),
    ]
}

/// CSV lines (CRLF, RFC 4180) for `rows`, with the BOM and the header first when `first`.
pub fn csv_chunk(rows: &[ListedSite], first: bool) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(rows.len() * 160 + 200);
    if first {
        // Excel reads UTF-8 only with a byte order mark.
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    let to_error = |e: csv::Error| Error::Other(e.into());
    if first {
        w.write_record(CSV_HEADER).map_err(to_error)?;
    }
    for s in rows {
        let record = csv_record(s);
        w.write_record(record.iter().map(|c| neutralize(c).into_owned()))
            .map_err(to_error)?;
    }
    w.into_inner()
        .map_err(|e| Error::Other(anyhow::anyhow!("{e}")))
}

/// The next chunk of the export, as CSV bytes, in a transaction of its own: nothing is held
/// while the browser reads the previous one. Boxed: a stream's future must be `Send` for every
/// lifetime, which the borrow of the transaction inside would not prove.
fn read_chunk(
    pool: PgPool,
    req: ListRequest,
    silent_before: DateTime<Utc>,
    first: bool,
) -> ChunkFuture {
    Box::pin(async move {
        let mut tx = query::read(&pool).await?;
        let mut page = sql::page(&mut tx, &req, CSV_CHUNK, silent_before).await?;
        sql::add_main_problems(&mut tx, &mut page.sites).await?;
        tx.commit().await?;
        let bytes = csv_chunk(&page.sites, first)?;
        Ok(Chunk { bytes, page })
    })
}

/// One chunk of the export: its CSV bytes and the page they came from.
struct Chunk {
    bytes: Vec<u8>,
    page: sql::Page,
}

type ChunkFuture = Pin<Box<dyn Future<Output = Result<Chunk, Error>> + Send>>;

/// Where the CSV stream is.
struct Export {
    pool: PgPool,
    req: ListRequest,
    silent_before: DateTime<Utc>,
    first: bool,
    done: bool,
    rows: u64,
}

async fn next_chunk(mut e: Export) -> Option<(Result<Bytes, std::io::Error>, Export)> {
    if e.done {
        tracing::info!(rows = e.rows, "site list exported as CSV");
        return None;
    }
    match read_chunk(e.pool.clone(), e.req.clone(), e.silent_before, e.first).await {
        Ok(Chunk { bytes, page }) => {
            e.first = false;
            e.rows += page.sites.len() as u64;
            e.done = page.next.is_none();
            e.req.cursor = page.next;
            Some((Ok(Bytes::from(bytes)), e))
        }
        Err(err) => {
            // Headers are sent: end the body with an error, so the download fails visibly
            // instead of leaving a file that looks complete.
            tracing::error!(error = %err, rows = e.rows, "CSV export failed midway; the download is cut off");
            e.done = true;
            Some((Err(std::io::Error::other("CSV export failed")), e))
        }
    }
}

/// `GET /sites.csv`: the list with the same filters and sort, every page, streamed.
pub async fn csv(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Remote(remote): Remote,
    AppQuery(params): AppQuery<ListParams>,
) -> Result<Response, Error> {
    let mut req = params.check()?;
    req.cursor = None;
    // A file of names, phone numbers and contacts leaves the system: who took which list.
    audit::record_alone(
        &state.pool,
        Entry::new(who.actor.clone(), "sites.export", "sites")
            .remote(remote)
            .detail(serde_json::json!({ "query": req.filter.query_string(req.sort, None) })),
    )
    .await?;
    let now = Utc::now();
    let export = Export {
        pool: state.pool.clone(),
        req,
        silent_before: state.silent_before(Utc::now()),
        first: true,
        done: false,
        rows: 0,
    };
    let body = Body::from_stream(futures_util::stream::unfold(export, next_chunk));
    let filename = format!(
        "attachment; filename=\"sites-{}.csv\"",
        now.with_timezone(&crate::desk::JST).format("%Y%m%d-%H%M")
    );
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&filename) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
