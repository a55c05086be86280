//! `/incidents` (the problem view: filters, critical first then oldest, keyset pages) and
//! `/incidents/{id}` (detail, timeline, desk answer, the operator's forms). Reads go through
//! `incidents::query`; the forms post to `incident_forms`.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::extract::AppQuery;
use super::{AppState, Nav, filters, render};
use crate::auth::{Principal, Role};
use crate::desk::{RouteAnswer, RouteError};
use crate::error::{Error, FieldErrors};
use crate::incidents::actions::kind_ja;
use crate::incidents::query::{self, Event, Filter, Incident, StateFilter};
use crate::incidents::rules::Rule;
use crate::sites::{Health, PREFECTURES};

/// The list's query string as typed (every field optional; empty means "any").
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ListQuery {
    pub state: String,
    pub severity: String,
    pub rule: String,
    pub prefecture: String,
    pub assignee: String,
    pub silenced: String,
    /// A site id (the site page links here).
    pub site: String,
    pub cursor: String,
}

fn bad(what: &str, value: &str, allowed: &str) -> Error {
    Error::InvalidArgument(format!(
        "{what}「{value}」は指定できません。{allowed}から選んでください"
    ))
}

fn some(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|t| !t.is_empty())
}

impl ListQuery {
    /// The filter for `incidents::query`, or a Japanese error naming the bad value.
    pub fn filter(&self) -> Result<Filter, Error> {
        let state = match some(&self.state) {
            None => StateFilter::Active,
            Some(s) => serde_json::from_value(serde_json::Value::String(s.into()))
                .map_err(|_| bad("状態", s, "一覧の選択肢"))?,
        };
        let severity = some(&self.severity)
            .map(|s| {
                Health::ALL
                    .into_iter()
                    .find(|h| h.as_str() == s && *h != Health::Ok)
                    .ok_or_else(|| bad("重大度", s, "異常・注意・情報"))
            })
            .transpose()?;
        let rule = some(&self.rule)
            .map(|r| Rule::parse(r).ok_or_else(|| bad("ルール", r, "一覧の選択肢")))
            .transpose()?;
        let prefecture = some(&self.prefecture)
            .map(|p| {
                PREFECTURES
                    .contains(&p)
                    .then(|| p.to_owned())
                    .ok_or_else(|| bad("都道府県", p, "47都道府県"))
            })
            .transpose()?;
        let silenced = match some(&self.silenced) {
            None => None,
            Some("yes") => Some(true),
            Some("no") => Some(false),
            Some(s) => return Err(bad("サイレンス", s, "「サイレンス中」「サイレンスなし」")),
        };
        Ok(Filter {
            state,
            severity,
            rule,
            prefecture,
            assignee: some(&self.assignee).map(str::to_owned),
            site: some(&self.site).map(str::to_owned),
            silenced,
            cursor: some(&self.cursor).map(str::to_owned),
            ..Filter::default()
        })
    }

    /// This query at another cursor (for the pager), URL-encoded.
    fn with_cursor(&self, cursor: Option<&str>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("state", &self.state),
            ("severity", &self.severity),
            ("rule", &self.rule),
            ("prefecture", &self.prefecture),
            ("assignee", &self.assignee),
            ("silenced", &self.silenced),
            ("site", &self.site),
        ] {
            if !v.trim().is_empty() {
                q.append_pair(k, v.trim());
            }
        }
        if let Some(c) = cursor {
            q.append_pair("cursor", c);
        }
        format!("/incidents?{}", q.finish())
    }
}

/// The desk column of a list row, from the incident's desk answer.
pub struct DeskBadge {
    pub name: String,
    pub open: bool,
}

fn desk_badge(i: &Incident) -> Option<DeskBadge> {
    let name = i.desk.get("name")?.as_str()?.to_owned();
    let open = i.desk.get("open")?.as_bool()?;
    Some(DeskBadge { name, open })
}

/// How long ago, in words ("3時間前").
pub fn age_ja(since: &DateTime<Utc>, now: &DateTime<Utc>) -> String {
    let d = *now - *since;
    match d.num_minutes() {
        m if m < 1 => "1分以内".into(),
        m if m < 60 => format!("{m}分前"),
        m if m < 48 * 60 => format!("{}時間前", m / 60),
        m => format!("{}日前", m / (24 * 60)),
    }
}

/// Counts of the active incidents by severity (the header of the problem view).
#[derive(Debug, Default, sqlx::FromRow)]
pub struct Counts {
    pub critical: i64,
    pub warning: i64,
    pub info: i64,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct ListPage {
    nav: Nav,
    q: ListQuery,
    counts: Counts,
    rows: Vec<(Incident, Option<DeskBadge>)>,
    next: Option<String>,
    first: Option<String>,
    now: DateTime<Utc>,
    username: String,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<Response, Error> {
    let filter = q.filter()?;
    let now = Utc::now();
    let mut conn = state.pool.acquire().await?;
    let page = query::list(&mut conn, &filter, now).await?;
    let counts: Counts = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE severity = 'critical') AS critical,
                count(*) FILTER (WHERE severity = 'warning') AS warning,
                count(*) FILTER (WHERE severity = 'info') AS info
         FROM incidents WHERE state <> 'resolved'",
    )
    .fetch_one(&mut *conn)
    .await?;
    let next = page.next_cursor.as_deref().map(|c| q.with_cursor(Some(c)));
    let first = filter.cursor.as_ref().map(|_| q.with_cursor(None));
    let rows = page
        .incidents
        .into_iter()
        .map(|i| {
            let badge = desk_badge(&i);
            (i, badge)
        })
        .collect();
    let page = ListPage {
        nav: Nav::from(&who),
        q,
        counts,
        rows,
        next,
        first,
        now,
        username: who.username.clone(),
    };
    Ok(render(&page)?.into_response())
}

/// A timeline row in words.
pub struct EventView {
    pub event: Event,
    pub kind_ja: &'static str,
    pub text: String,
}

fn event_text(e: &Event) -> String {
    let field = |k: &str| e.detail.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    match e.kind.as_str() {
        "commented" => field("text"),
        "assigned" => field("assignee").map(|a| format!("担当: {a}")),
        "resolved" | "reopened" if e.detail.get("reason").is_some() => field("reason"),
        "opened" | "reopened" | "severity_raised" if e.detail.get("reason").is_none() => {
            field("severity").map(|s| {
                let label = Health::ALL
                    .into_iter()
                    .find(|h| h.as_str() == s)
                    .map_or(s.clone(), |h| h.label_ja().to_owned());
                format!("重大度: {label}")
            })
        }
        _ => None,
    }
    .unwrap_or_else(|| match &e.detail {
        serde_json::Value::Object(m) if m.is_empty() => String::new(),
        other => other.to_string(),
    })
}

/// What the detail page shows besides the incident: the form state after a refused action.
#[derive(Debug, Default)]
pub struct Outcome {
    /// A completed action ("確認しました").
    pub notice: String,
    /// A refusal (409: who acted and when).
    pub error: String,
    pub errors: FieldErrors,
    /// Text typed into the form that was refused (kept).
    pub typed: String,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct DetailPage {
    nav: Nav,
    i: Incident,
    timeline: Vec<EventView>,
    desk: Option<Result<RouteAnswer, RouteError>>,
    assignable: Vec<String>,
    can_act: bool,
    outcome: Outcome,
    now: DateTime<Utc>,
    /// For `escalations_summary.html`: the incident's vendor and desk cases.
    incident_id: i64,
    escalations: Vec<crate::escalation::query::Escalation>,
}

impl DetailPage {
    fn evidence(&self) -> String {
        match &self.i.evidence {
            serde_json::Value::Null => String::new(),
            serde_json::Value::Object(m) if m.is_empty() => String::new(),
            v => serde_json::to_string_pretty(v).unwrap_or_default(),
        }
    }
}

/// Renders the detail page with `status` (200, or 409 / 422 after a refused action).
pub async fn detail_page(
    state: &AppState,
    who: &Principal,
    id: i64,
    outcome: Outcome,
    status: StatusCode,
) -> Result<Response, Error> {
    let now = Utc::now();
    let mut conn = state.pool.acquire().await?;
    let detail = query::get(&mut conn, id, now).await?;
    let site = crate::sites::store::get(&state.pool, &detail.incident.site_id).await?;
    let desk = site.as_ref().and_then(|s| {
        crate::incidents::desk::route_for(detail.incident.rule, &detail.incident.subject, s, now)
    });
    let assignable = crate::auth::operators::assignable(&mut conn).await?;
    let escalations = crate::escalation::query::summary(&mut conn, id, now).await?;
    let timeline = detail
        .timeline
        .into_iter()
        .map(|event| EventView {
            kind_ja: kind_ja(&event.kind),
            text: event_text(&event),
            event,
        })
        .collect();
    let page = DetailPage {
        nav: Nav::from(who),
        i: detail.incident,
        timeline,
        desk,
        assignable,
        can_act: who.role >= Role::Operator,
        outcome,
        now,
        incident_id: id,
        escalations,
    };
    Ok((status, render(&page)?).into_response())
}

/// `?done=ack` after an action's redirect.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

impl Done {
    fn notice(&self) -> &'static str {
        match self.done.as_deref() {
            Some("ack") => "確認済みにしました",
            Some("assign") => "担当者を設定しました",
            Some("comment") => "コメントを追加しました",
            Some("resolve") => "解決済みにしました",
            Some("reopen") => "再オープンしました",
            Some("silence") => "このサイト・ルールのサイレンスを作成しました",
            _ => "",
        }
    }
}

/// The incident id of a path, or a Japanese 404.
pub fn incident_id(raw: &str) -> Result<i64, Error> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| Error::NotFound(format!("インシデント {raw} はありません")))
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    AppQuery(done): AppQuery<Done>,
) -> Result<Response, Error> {
    let id = incident_id(&id)?;
    let outcome = Outcome {
        notice: done.notice().into(),
        ..Outcome::default()
    };
    detail_page(&state, &who, id, outcome, StatusCode::OK).await
}

#[cfg(test)]
mod tests;
