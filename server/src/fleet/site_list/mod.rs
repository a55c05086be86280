//! The console's site list (issue 13): what an operator types and picks to find a site —
//! a search, filters, a sort — and the keyset cursor of its pages. Parsing and the cursor are
//! pure (tested below); the SQL is in [`sql`].
//!
//! The query parameters are exactly `q`, `state`, `kind`, `prefecture`, `maker`, `router`,
//! `maintenance`, `sort` and `cursor` (routes are stable: integrations use them).

pub mod segment;
pub mod sql;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::sites::{Maintenance, PREFECTURES, ReaderMaker, RouterModel, SiteKind, SiteStatus};

/// Longest search text, in characters (a name, an id, a phone number fit easily).
pub const MAX_QUERY_CHARS: usize = 100;

/// How the list is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteSort {
    /// 名称順 (the default: operators look a site up by name).
    #[default]
    Name,
    /// サイトID順.
    SiteId,
    /// 状態順: problems first, then by name.
    State,
    /// 最終受信の古い順: the longest silent first, the never reported last.
    LastReport,
}

impl SiteSort {
    pub const ALL: [SiteSort; 4] = [
        SiteSort::Name,
        SiteSort::SiteId,
        SiteSort::State,
        SiteSort::LastReport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SiteSort::Name => "name",
            SiteSort::SiteId => "site_id",
            SiteSort::State => "state",
            SiteSort::LastReport => "last_report",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            SiteSort::Name => "名称順",
            SiteSort::SiteId => "サイトID順",
            SiteSort::State => "状態順（問題のあるサイトから）",
            SiteSort::LastReport => "最終受信の古い順（未受信は最後）",
        }
    }
}

/// The query string as sent (every field text, empty = not set), before checking.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct ListParams {
    pub q: String,
    pub state: String,
    pub kind: String,
    pub prefecture: String,
    pub maker: String,
    pub router: String,
    pub maintenance: String,
    pub sort: String,
    pub cursor: String,
}

/// What the list shows: checked, typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteFilter {
    /// Trimmed search text; `None` when empty.
    pub q: Option<String>,
    pub state: Option<SiteStatus>,
    pub kind: Option<SiteKind>,
    pub prefecture: Option<String>,
    pub maker: Option<ReaderMaker>,
    pub router: Option<RouterModel>,
    pub maintenance: Option<Maintenance>,
}

impl SiteFilter {
    /// Whether only the search text is set (the header's global search).
    pub fn is_search_only(&self) -> bool {
        self.q.is_some()
            && SiteFilter {
                q: None,
                ..self.clone()
            } == SiteFilter::default()
    }
}

/// A checked request for one page of the list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    pub filter: SiteFilter,
    pub sort: SiteSort,
    pub cursor: Option<Cursor>,
}

/// One of `all` by its spelling, `None` for an empty value, or a Japanese error naming the
/// allowed spellings.
fn choice<T: Copy>(
    label_ja: &str,
    value: &str,
    all: &[T],
    as_str: fn(T) -> &'static str,
) -> Result<Option<T>, Error> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    all.iter()
        .copied()
        .find(|t| as_str(*t).eq_ignore_ascii_case(value))
        .map(Some)
        .ok_or_else(|| {
            let allowed: Vec<&str> = all.iter().map(|t| as_str(*t)).collect();
            tracing::info!(field = label_ja, value, "site list: unknown choice refused");
            Error::InvalidArgument(format!(
                "{label_ja}「{value}」は指定できません。次のいずれかを指定してください: {}",
                allowed.join(" / ")
            ))
        })
}

impl ListParams {
    /// Checks every field; the first problem is a Japanese error that says what to send.
    pub fn check(&self) -> Result<ListRequest, Error> {
        let q = self.q.trim();
        if let Err(message) = crate::text::check_line("検索語", q, MAX_QUERY_CHARS) {
            tracing::info!(%message, "site list: search text refused");
            return Err(Error::InvalidArgument(message));
        }
        let prefecture = self.prefecture.trim();
        if !prefecture.is_empty() && !PREFECTURES.contains(&prefecture) {
            return Err(Error::InvalidArgument(format!(
                "都道府県「{prefecture}」はありません。「東京都」のように正式な名前で指定してください"
            )));
        }
        let sort =
            choice("並び順", &self.sort, &SiteSort::ALL, SiteSort::as_str)?.unwrap_or_default();
        let cursor = match self.cursor.trim() {
            "" => None,
            text => Some(Cursor::decode(text, sort)?),
        };
        Ok(ListRequest {
            filter: SiteFilter {
                q: (!q.is_empty()).then(|| q.to_owned()),
                state: choice("状態", &self.state, &SiteStatus::ALL, SiteStatus::as_str)?,
                kind: choice("種別", &self.kind, &SiteKind::ALL, SiteKind::as_str)?,
                prefecture: (!prefecture.is_empty()).then(|| prefecture.to_owned()),
                maker: choice(
                    "カードリーダーのメーカー",
                    &self.maker,
                    &ReaderMaker::ALL,
                    ReaderMaker::as_str,
                )?,
                router: choice(
                    "ルータの機種",
                    &self.router,
                    &RouterModel::ALL,
                    RouterModel::as_str,
                )?,
                maintenance: choice(
                    "保守契約",
                    &self.maintenance,
                    &Maintenance::ALL,
                    Maintenance::as_str,
                )?,
            },
            sort,
            cursor,
        })
    }
}

impl SiteFilter {
    /// The query string of this filter (and `sort`), for links: page links, the CSV link, the
    /// dashboard's counts. Empty fields are left out.
    pub fn query_string(&self, sort: SiteSort, cursor: Option<&Cursor>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let mut add = |k: &'static str, v: Option<&str>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                pairs.push((k, v.to_owned()));
            }
        };
        add("q", self.q.as_deref());
        add("state", self.state.map(SiteStatus::as_str));
        add("kind", self.kind.map(SiteKind::as_str));
        add("prefecture", self.prefecture.as_deref());
        add("maker", self.maker.map(ReaderMaker::as_str));
        add("router", self.router.map(RouterModel::as_str));
        add("maintenance", self.maintenance.map(Maintenance::as_str));
        add(
            "sort",
            (sort != SiteSort::default()).then_some(sort.as_str()),
        );
        let encoded = cursor.map(Cursor::encode);
        add("cursor", encoded.as_deref());
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

/// Where the next page starts: the sort keys of the last row shown. Opaque to clients (hex of
/// a small JSON document), checked on the way back in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub sort: SiteSort,
    pub site_id: String,
    /// [`SiteSort::Name`], [`SiteSort::State`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// [`SiteSort::State`]: the rank of the state in list order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<i32>,
    /// [`SiteSort::LastReport`]: the last report (`None`: never reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        hex::encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// The cursor in `text`, which must belong to `sort` and carry its keys.
    pub fn decode(text: &str, sort: SiteSort) -> Result<Cursor, Error> {
        let bad = || {
            tracing::info!(cursor = text, "site list: cursor refused");
            Error::InvalidArgument(
                "ページの位置（cursor）が正しくありません。一覧の先頭から開き直してください".into(),
            )
        };
        let bytes = hex::decode(text).map_err(|_| bad())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let complete = match cursor.sort {
            SiteSort::Name => cursor.name.is_some(),
            SiteSort::SiteId | SiteSort::LastReport => true,
            SiteSort::State => cursor.name.is_some() && cursor.rank.is_some(),
        };
        if cursor.sort != sort || !complete {
            return Err(bad());
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests;
