//! The site list's queries: one page in keyset order, with the search, the filters and every
//! site's state by the one definition (`fleet::query::STATUS_SQL`).
//!
//! Search (migrations/0006): a name matches when its folded form contains the folded query
//! (GIN on one- and two-character grams, so 「山」 and 「山田」 use the index too); a site id
//! when it starts with the query; a phone or 医療機関コード when its digits start with the
//! query's digits (three or more, hyphens and brackets ignored). Folding is done by the
//! database (`onshi_search_key`), the same function that built the indexed columns.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::segment::{self, Segment};
use super::{Cursor, ListRequest, SiteFilter, SiteSort};
use crate::error::Error;
use crate::fleet::query::{
    self, MainProblem, STATE_EACH_SQL, STATUS_SQL, status_hint, status_order_sql,
};
use crate::sites::{Maintenance, ReaderMaker, RouterModel, SiteKind, SiteStatus};

/// A phone number or code is searched by its leading digits from this many on (fewer would
/// match most of the fleet).
pub const MIN_DIGITS: usize = 3;

/// One row of the list: what an operator needs to find and call the site.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ListedSite {
    pub site_id: String,
    pub name: String,
    pub medical_code: String,
    pub prefecture: String,
    pub address: String,
    pub phone: String,
    pub contact_person: String,
    pub kind: SiteKind,
    pub maintenance: Maintenance,
    pub omakase_dial: Option<String>,
    pub reader_maker: Option<ReaderMaker>,
    pub router_model: Option<RouterModel>,
    pub receipt_vendor: Option<String>,
    pub status: SiteStatus,
    pub received_at: Option<DateTime<Utc>>,
    /// Rank of `status` in list order (for the cursor).
    #[serde(skip)]
    pub rank: i32,
    /// The worst open incident no silence matches, if any.
    #[sqlx(skip)]
    pub main_problem: Option<String>,
}

/// One page and where the next one starts.
#[derive(Debug, Clone)]
pub struct Page {
    pub sites: Vec<ListedSite>,
    pub next: Option<Cursor>,
}

/// The search text as the database folds it (see the module comment).
#[derive(Debug, Clone, Default, sqlx::FromRow)]
struct Terms {
    /// Folded query; empty when the text had nothing to search by name.
    key: String,
    /// Its grams, for the GIN index.
    grams: Vec<String>,
    /// Its digits (NFKC first, so full-width digits count).
    digits: String,
    /// Whether the text is a number as people write one (digits, hyphens, brackets, spaces).
    numeric: bool,
}

/// A number as people write one, after NFKC: 03-1234-5678, (03) 1234 5678, 0312345678.
macro_rules! numeric_re {
    () => {
        "'^[0-9()‐−ー+ -]+$'"
    };
}

/// `%`, `_` and `\` taken literally in a `LIKE` pattern.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

async fn fold(conn: &mut PgConnection, q: &str) -> Result<Terms, Error> {
    Ok(sqlx::query_as(concat!(
        "SELECT coalesce(onshi_search_key($1), '') AS key,
                coalesce(onshi_query_grams(onshi_search_key($1)), '{}') AS grams,
                regexp_replace(normalize($1, NFKC), '[^0-9]', '', 'g') AS digits,
                normalize($1, NFKC) ~ ",
        numeric_re!(),
        " AS numeric"
    ))
    .bind(q)
    .fetch_one(conn)
    .await?)
}

fn push_search(q: &mut QueryBuilder<'static, Postgres>, text: &str, terms: &Terms) {
    q.push(" AND (s.site_id LIKE ")
        .push_bind(format!("{}%", like_escape(text)));
    if !terms.key.is_empty() {
        q.push(" OR (s.name_grams @> ")
            .push_bind(terms.grams.clone())
            .push(" AND s.search_key LIKE ")
            .push_bind(format!("%{}%", like_escape(&terms.key)))
            .push(")");
    }
    if terms.numeric && terms.digits.len() >= MIN_DIGITS {
        // The `<> ''` lets the planner use the partial indexes of migrations/0006.
        let prefix = format!("{}%", terms.digits);
        q.push(" OR (s.phone_digits <> '' AND s.phone_digits LIKE ")
            .push_bind(prefix.clone())
            .push(") OR (s.medical_code <> '' AND s.medical_code LIKE ")
            .push_bind(prefix)
            .push(")");
    }
    q.push(")");
}

/// The filters on the site's own columns.
fn push_filters(q: &mut QueryBuilder<'static, Postgres>, f: &SiteFilter) {
    if let Some(kind) = f.kind {
        q.push(" AND s.kind = ").push_bind(kind);
    }
    if let Some(prefecture) = &f.prefecture {
        q.push(" AND s.prefecture = ").push_bind(prefecture.clone());
    }
    if let Some(maker) = f.maker {
        q.push(" AND s.reader_maker = ").push_bind(maker);
    }
    if let Some(router) = f.router {
        q.push(" AND s.router_model = ").push_bind(router);
    }
    if let Some(m) = f.maintenance {
        q.push(" AND s.maintenance = ").push_bind(m);
    }
}

/// The columns of [`ListedSite`] from the sites `s`.
const COLUMNS: &str = "s.site_id, s.name, s.medical_code, s.prefecture, s.address, s.phone,
     s.contact_person, s.kind, s.maintenance, s.omakase_dial, s.reader_maker, s.router_model,
     s.receipt_vendor";

/// A site in list order, before it is judged: its sort keys.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Candidate {
    site_id: String,
    name: String,
    received_at: Option<DateTime<Utc>>,
}

impl Candidate {
    /// The cursor after this candidate, inside `seg`.
    fn cursor(&self, sort: SiteSort, seg: Segment) -> Cursor {
        Cursor {
            sort,
            site_id: self.site_id.clone(),
            name: Some(self.name.clone()),
            rank: segment::status(seg).map(query::rank_of),
            received_at: self.received_at,
        }
    }
}

/// Up to `batch` candidates of `seg` after `after`, in list order: the sites the search and
/// the filters let through and, when a state is asked for, its hint ([`status_hint`]). Only
/// keys are read, so an index gives the order when there is one. With a search, the
/// matching sites are read first through the search indexes (`MATERIALIZED`): otherwise the
/// planner may walk the whole fleet in name order looking for them.
#[allow(clippy::too_many_arguments)]
async fn candidates(
    conn: &mut PgConnection,
    req: &ListRequest,
    search: Option<(&str, &Terms)>,
    seg: Segment,
    status: Option<SiteStatus>,
    after: Option<&Cursor>,
    batch: i64,
    silent_before: DateTime<Utc>,
) -> Result<Vec<Candidate>, Error> {
    let mut q = query::builder("", silent_before);
    let from = match search {
        Some((text, terms)) => {
            q.push(
                "WITH matched AS MATERIALIZED (SELECT s.site_id, s.name FROM sites s WHERE true",
            );
            push_search(&mut q, text, terms);
            push_filters(&mut q, &req.filter);
            q.push(") ");
            "matched s"
        }
        None => "sites s",
    };
    // The latest state only when the order or the hint reads it: one index probe per
    // candidate otherwise wasted on every match of a search.
    let hint = status.and_then(status_hint);
    let state = if req.sort == SiteSort::LastReport || hint.is_some_and(|h| h.contains("st.")) {
        "st.received_at FROM {from} LEFT JOIN site_state st USING (site_id)"
    } else {
        "NULL::timestamptz AS received_at FROM {from}"
    };
    q.push(format!(
        "SELECT * FROM (SELECT s.site_id, s.name, {} WHERE true",
        state.replace("{from}", from)
    ));
    if search.is_none() {
        push_filters(&mut q, &req.filter);
    }
    if let Some(hint) = hint {
        q.push(" AND ").push(hint);
    }
    q.push(") c WHERE true");
    segment::push_conditions(&mut q, req.sort, seg, after);
    q.push(segment::order_by(req.sort, seg))
        .push(" LIMIT ")
        .push_bind(batch);
    Ok(q.build_query_as().fetch_all(&mut *conn).await?)
}

/// The `candidates` judged by [`STATUS_SQL`], those in `status` only if given, in the
/// candidates' order.
async fn judge(
    conn: &mut PgConnection,
    candidates: &[Candidate],
    status: Option<SiteStatus>,
    silent_before: DateTime<Utc>,
) -> Result<Vec<ListedSite>, Error> {
    let ids: Vec<String> = candidates.iter().map(|c| c.site_id.clone()).collect();
    let mut q = query::builder(
        &format!(
            "SELECT * FROM (SELECT l.*, {} AS rank FROM (
                 SELECT {COLUMNS}, {STATUS_SQL} AS status, st.received_at
                 FROM sites s{STATE_EACH_SQL} WHERE s.site_id = ANY(",
            status_order_sql()
        ),
        silent_before,
    );
    q.push_bind(ids.clone()).push(")) l) r WHERE true");
    if let Some(status) = status {
        q.push(" AND status = ").push_bind(status);
    }
    let mut judged: Vec<ListedSite> = q.build_query_as().fetch_all(&mut *conn).await?;
    judged.sort_by_key(|s| ids.iter().position(|id| *id == s.site_id));
    Ok(judged)
}

/// Up to `want` sites of one segment from the request's cursor on. Candidates are read in
/// list order in batches and judged; with a state asked for, the batch is larger than what
/// is still wanted (most of a hint's candidates are in its state) and the next batch starts
/// after the last candidate until the page is full or the candidates run out.
async fn segment_rows(
    conn: &mut PgConnection,
    req: &ListRequest,
    search: Option<(&str, &Terms)>,
    seg: Segment,
    want: i64,
    silent_before: DateTime<Utc>,
) -> Result<Vec<ListedSite>, Error> {
    let status = req.filter.state.or(segment::status(seg));
    let mut after = req.cursor.clone();
    let mut out: Vec<ListedSite> = Vec::new();
    loop {
        let missing = want - out.len() as i64;
        let batch = match status {
            Some(_) => (missing * 2 + 16).min(MAX_BATCH),
            None => missing,
        };
        let found = candidates(
            conn,
            req,
            search,
            seg,
            status,
            after.as_ref(),
            batch,
            silent_before,
        )
        .await?;
        out.extend(judge(conn, &found, status, silent_before).await?);
        let exhausted = (found.len() as i64) < batch;
        if exhausted || out.len() as i64 >= want {
            break;
        }
        after = found.last().map(|c| c.cursor(req.sort, seg));
    }
    out.truncate(usize::try_from(want).unwrap_or_default());
    Ok(out)
}

/// Most candidates read at once while looking for one state's sites.
const MAX_BATCH: i64 = 1000;

/// The cursor after `row` in `sort`.
fn cursor_after(row: &ListedSite, sort: SiteSort) -> Cursor {
    Cursor {
        sort,
        site_id: row.site_id.clone(),
        name: matches!(sort, SiteSort::Name | SiteSort::State).then(|| row.name.clone()),
        rank: (sort == SiteSort::State).then_some(row.rank),
        received_at: (sort == SiteSort::LastReport)
            .then_some(row.received_at)
            .flatten(),
    }
}

/// Up to `limit` sites of the list from `req.cursor` on, segment by segment (see
/// [`segment`]); a report older than `silent_before` makes a site silent. The main problem is
/// left empty ([`add_main_problems`] fills it).
pub async fn page(
    conn: &mut PgConnection,
    req: &ListRequest,
    limit: i64,
    silent_before: DateTime<Utc>,
) -> Result<Page, Error> {
    let terms = match &req.filter.q {
        Some(text) => Some(fold(conn, text).await?),
        None => None,
    };
    let search = req.filter.q.as_deref().zip(terms.as_ref());
    let mut sites: Vec<ListedSite> = Vec::new();
    for seg in segment::segments(req) {
        let want = limit + 1 - sites.len() as i64;
        if want <= 0 {
            break;
        }
        let rows = segment_rows(conn, req, search, seg, want, silent_before).await?;
        sites.extend(rows);
    }
    let more = sites.len() as i64 > limit;
    sites.truncate(usize::try_from(limit).unwrap_or_default());
    let next = more
        .then(|| sites.last().map(|r| cursor_after(r, req.sort)))
        .flatten();
    Ok(Page { sites, next })
}

/// Fills in each site's main problem (one query for the page).
pub async fn add_main_problems(
    conn: &mut PgConnection,
    sites: &mut [ListedSite],
) -> Result<(), Error> {
    let ids: Vec<String> = sites.iter().map(|s| s.site_id.clone()).collect();
    let problems: Vec<MainProblem> = query::main_problems(conn, &ids).await?;
    for site in sites.iter_mut() {
        site.main_problem = problems
            .iter()
            .find(|p| p.site_id == site.site_id)
            .map(|p| p.title.clone());
    }
    Ok(())
}

/// The one site whose id, 医療機関コード or phone number is exactly `text` (digits compared
/// without hyphens), if exactly one is: the global search then opens it directly.
pub async fn exact_key(conn: &mut PgConnection, text: &str) -> Result<Option<String>, Error> {
    let ids: Vec<String> = sqlx::query_scalar(concat!(
        "WITH t AS (SELECT regexp_replace(normalize($1, NFKC), '[^0-9]', '', 'g') AS digits,
                           normalize($1, NFKC) ~ ",
        numeric_re!(),
        " AS numeric)
         SELECT site_id FROM sites WHERE site_id = $1
         UNION
         SELECT s.site_id FROM sites s, t
         WHERE t.numeric AND length(t.digits) >= $2
           AND ((s.medical_code <> '' AND s.medical_code = t.digits)
                OR (s.phone_digits <> '' AND s.phone_digits = t.digits))
         LIMIT 2"
    ))
    .bind(text)
    .bind(MIN_DIGITS as i32)
    .fetch_all(conn)
    .await?;
    Ok(match ids.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    })
}
