//! `/desks` (連絡先): the desk directory with each desk's hours and a 営業中 / 時間外 badge as of
//! now (and when it next opens), a routing form that answers as `onshi-server desk route`
//! does (same `desk::route`, same answer), and the holiday calendar of a year.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::de::DeserializeOwned;

use super::extract::AppQuery;
use super::filters::{jst_local_value, parse_jst_local};
use super::{AppState, Nav, filters, render};
use crate::auth::Principal;
use crate::desk::calendar::{self, FIRST_YEAR, LAST_YEAR};
use crate::desk::{
    DeskListing, JST, Maintenance, Part, ReaderMaker, RouteAnswer, RouteQuery, RouterModel,
    SiteContacts,
};
use crate::error::Error;

/// The form as typed; every field optional.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct DesksQuery {
    pub part: String,
    pub router_model: String,
    pub reader_maker: String,
    pub maintenance: String,
    pub serial: String,
    /// `datetime-local` in JST; empty: now.
    pub at: String,
    /// The holiday calendar's year; empty: this year.
    pub year: String,
}

/// The value of an enum in the spelling the API and the CLI use (its serde name).
pub fn value_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn parse<T: DeserializeOwned>(what: &str, text: &str) -> Result<Option<T>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map(Some)
        .map_err(|_| format!("{what}「{text}」は選択肢から選んでください"))
}

impl DesksQuery {
    /// The instant asked about.
    fn at(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        match self.at.trim() {
            "" => Ok(now),
            t => parse_jst_local(t)
                .ok_or_else(|| format!("日時「{t}」は 2026-05-01T09:00 の形で入力してください")),
        }
    }

    fn year(&self, at: DateTime<Utc>) -> Result<i32, String> {
        match self.year.trim() {
            "" => Ok(at.with_timezone(&JST).year()),
            t => t
                .parse::<i32>()
                .ok()
                .filter(|y| (FIRST_YEAR..=LAST_YEAR).contains(y))
                .ok_or_else(|| format!("年は {FIRST_YEAR}〜{LAST_YEAR} で指定してください")),
        }
    }

    /// The routing question, when a part was chosen.
    fn route_query(&self) -> Result<Option<RouteQuery>, String> {
        let Some(part) = parse::<Part>("部位", &self.part)? else {
            return Ok(None);
        };
        Ok(Some(RouteQuery {
            part,
            router_model: parse::<RouterModel>("ルータの型番", &self.router_model)?,
            reader_maker: parse::<ReaderMaker>("カードリーダーのメーカー", &self.reader_maker)?,
            maintenance: parse::<Maintenance>("保守", &self.maintenance)?.unwrap_or_default(),
            serial: Some(self.serial.trim().to_owned()).filter(|s| !s.is_empty()),
        }))
    }
}

#[derive(Template)]
#[template(path = "desks.html")]
struct DesksPage {
    nav: Nav,
    q: DesksQuery,
    at: DateTime<Utc>,
    /// `at` as the form's `datetime-local` value.
    at_value: String,
    asked_at: bool,
    desks: Vec<DeskListing>,
    answer: Option<RouteAnswer>,
    error: String,
    year: i32,
    holidays: Vec<(NaiveDate, &'static str)>,
}

impl DesksPage {
    fn weekday_ja(&self, d: &NaiveDate) -> &'static str {
        crate::sites::hours::WEEKDAYS_JA[d.weekday().num_days_from_monday() as usize]
    }
}

pub async fn page(
    State(_state): State<AppState>,
    Extension(who): Extension<Principal>,
    AppQuery(q): AppQuery<DesksQuery>,
) -> Result<Response, Error> {
    let now = Utc::now();
    let mut error = String::new();
    let at = q.at(now).unwrap_or_else(|e| {
        error = e;
        now
    });
    let year = q.year(at).unwrap_or_else(|e| {
        error = e;
        at.with_timezone(&JST).year()
    });
    let at_jst = at.with_timezone(&JST);
    // What `desk route` answers: no site, so its contacts are the directory's.
    let answer = match q.route_query() {
        Ok(Some(query)) => match crate::desk::route(&query, &SiteContacts::default(), at_jst) {
            Ok(a) => Some(a),
            Err(e) => {
                error = e.to_string();
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            error = e;
            None
        }
    };
    if !error.is_empty() {
        tracing::info!(%error, "desk routing form refused");
    }
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = DesksPage {
        nav: Nav::from(&who),
        asked_at: !q.at.trim().is_empty(),
        at_value: jst_local_value(at),
        q,
        at,
        desks: crate::desk::list_desks(&SiteContacts::default(), at_jst),
        answer,
        error,
        year,
        holidays: calendar::holidays_in_year(year),
    };
    Ok((status, render(&page)?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_becomes_the_cli_question() {
        let q = DesksQuery {
            part: "router".into(),
            router_model: "RTX830".into(),
            maintenance: "omakase".into(),
            serial: " SER.1 ".into(),
            ..Default::default()
        };
        let route = q.route_query().unwrap().unwrap();
        assert_eq!(route.part, Part::Router);
        assert_eq!(route.router_model, Some(RouterModel::Rtx830));
        assert_eq!(route.maintenance, Maintenance::Omakase);
        assert_eq!(route.serial.as_deref(), Some("SER.1"));
        assert!(DesksQuery::default().route_query().unwrap().is_none());
        let bad = DesksQuery {
            part: "modem".into(),
            ..Default::default()
        };
        assert!(bad.route_query().unwrap_err().contains("部位「modem」"));
        assert_eq!(value_of(&Part::CardReader), "card-reader");
        assert_eq!(value_of(&RouterModel::AtAr1050v), "AT-AR1050V");
        let now: DateTime<Utc> = "2026-03-02T00:00:00Z".parse().unwrap();
        assert_eq!(
            DesksQuery {
                year: "1989".into(),
                ..Default::default()
            }
            .year(now)
            .unwrap_err(),
            "年は 1990〜2099 で指定してください"
        );
        assert_eq!(DesksQuery::default().year(now).unwrap(), 2026);
    }
}
