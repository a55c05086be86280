//! Notification channels, routes and deliveries (issue 12): add / test / remove channels, add /
//! remove routes, see failed and dead-lettered deliveries and send them again. The forms keep
//! what was typed and show each problem next to its field; every write is audited by the
//! `notify` store functions in the same transaction.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;

use super::Confirm;
use crate::auth::Principal;
use crate::error::{Error, FieldErrors};
use crate::notify::channel::{self, Channel, NewChannel};
use crate::notify::deliveries::{self, Backlog, Delivery, Filter, RetryTarget};
use crate::notify::route::{self, NewRoute, Route};
use crate::notify::{ChannelKind, DeliveryState};
use crate::portal::extract::{AppForm, AppQuery, Remote};
use crate::portal::{AppState, Nav, filters, render};
use crate::sites::{Actor, Health, Maintenance, SiteKind};

/// The channel form as typed (every field text, so nothing typed is lost on an error).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ChannelForm {
    name: String,
    kind: String,
    min_severity: String,
    url: String,
    secret: String,
    smtp_url: String,
    from: String,
    to: String,
    group_seconds: String,
    repeat_minutes: String,
    max_attempts: String,
    timeout_seconds: String,
}

/// The route form as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct RouteForm {
    name: String,
    channels: String,
    min_severity: String,
    rule: String,
    prefecture: String,
    kind: String,
    maintenance: String,
}

#[derive(Template)]
#[template(path = "admin_channels.html")]
struct ChannelsPage {
    nav: Nav,
    channels: Vec<Channel>,
    routes: Vec<Route>,
    backlog: Backlog,
    channel_form: ChannelForm,
    channel_errors: FieldErrors,
    route_form: RouteForm,
    route_errors: FieldErrors,
    message: String,
    error: String,
}

impl ChannelsPage {
    fn list_or_all<T: AsRef<str>>(&self, items: &[T]) -> String {
        if items.is_empty() {
            "すべて".into()
        } else {
            items
                .iter()
                .map(|s| s.as_ref())
                .collect::<Vec<_>>()
                .join("、")
        }
    }

    fn rules_ja(&self, r: &Route) -> String {
        let labels: Vec<&str> = r.rules.iter().map(|x| x.label_ja()).collect();
        self.list_or_all(&labels)
    }

    fn kinds_ja(&self, r: &Route) -> String {
        let labels: Vec<&str> = r.kinds.iter().map(|x| x.label_ja()).collect();
        self.list_or_all(&labels)
    }
}

/// What the page shows besides the lists.
#[derive(Default)]
struct Shown {
    channel_form: ChannelForm,
    channel_errors: FieldErrors,
    route_form: RouteForm,
    route_errors: FieldErrors,
    message: String,
    error: String,
}

async fn channels_page(
    state: &AppState,
    who: &Principal,
    shown: Shown,
    status: StatusCode,
) -> Result<Response, Error> {
    let mut conn = state.pool.acquire().await?;
    let page = ChannelsPage {
        nav: Nav::from(who),
        channels: channel::list(&mut conn).await?,
        routes: route::list(&mut conn).await?,
        backlog: deliveries::backlog(&mut conn, Utc::now()).await?,
        channel_form: ChannelForm {
            group_seconds: or(shown.channel_form.group_seconds.clone(), "60"),
            ..shown.channel_form
        },
        channel_errors: shown.channel_errors,
        route_form: shown.route_form,
        route_errors: shown.route_errors,
        message: shown.message,
        error: shown.error,
    };
    Ok((status, render(&page)?).into_response())
}

fn or(v: String, default: &str) -> String {
    if v.is_empty() { default.into() } else { v }
}

pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Response, Error> {
    channels_page(&state, &who, Shown::default(), StatusCode::OK).await
}

fn opt(v: &str) -> Option<String> {
    Some(v.trim().to_owned()).filter(|s| !s.is_empty())
}

fn number(errors: &mut FieldErrors, field: &'static str, label: &str, v: &str) -> Option<i32> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    match v.parse() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.add(field, format!("{label}は半角数字で入力してください"));
            None
        }
    }
}

fn severity(v: &str) -> Option<Health> {
    Health::ALL.into_iter().find(|h| h.as_str() == v.trim())
}

/// Checks a form: its own parse errors and the domain's, all shown at once.
fn checked<T>(parsed: Result<T, FieldErrors>, typed: FieldErrors) -> Result<T, Error> {
    let mut errors = typed;
    match parsed {
        Ok(v) if errors.is_empty() => return Ok(v),
        Ok(_) => {}
        Err(more) => {
            for (field, message) in more.iter() {
                errors.add(field, message.to_owned());
            }
        }
    }
    Err(Error::Fields(errors))
}

impl ChannelForm {
    fn to_new(&self) -> (NewChannel, FieldErrors) {
        let mut errors = FieldErrors::default();
        let new = NewChannel {
            name: self.name.clone(),
            kind: ChannelKind::ALL
                .into_iter()
                .find(|k| k.as_str() == self.kind),
            min_severity: severity(&self.min_severity),
            url: opt(&self.url),
            secret: opt(&self.secret),
            smtp_url: opt(&self.smtp_url),
            from: opt(&self.from),
            to: opt(&self.to),
            group_seconds: number(
                &mut errors,
                "group_seconds",
                "集約時間",
                &self.group_seconds,
            ),
            repeat_minutes: number(
                &mut errors,
                "repeat_minutes",
                "再通知間隔",
                &self.repeat_minutes,
            ),
            max_attempts: number(
                &mut errors,
                "max_attempts",
                "最大試行回数",
                &self.max_attempts,
            ),
            timeout_seconds: number(
                &mut errors,
                "timeout_seconds",
                "タイムアウト",
                &self.timeout_seconds,
            ),
        };
        (new, errors)
    }
}

pub async fn create_channel(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Remote(remote): Remote,
    AppForm(form): AppForm<ChannelForm>,
) -> Result<Response, Error> {
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    let (new, typed) = form.to_new();
    let result = match checked(new.validate(), typed) {
        Ok(valid) => channel::create(&state.pool, &valid, by).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin/channels").into_response()),
        Err(e) => {
            let mut channel_errors = FieldErrors::default();
            match e {
                Error::Fields(f) => channel_errors = f,
                Error::Conflict(m) => channel_errors.add("name", m),
                other => return Err(other),
            }
            // The secret is not sent back into the page.
            let channel_form = ChannelForm {
                secret: String::new(),
                ..form
            };
            let shown = Shown {
                channel_form,
                channel_errors,
                ..Shown::default()
            };
            channels_page(&state, &who, shown, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

pub async fn test_channel(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Remote(remote): Remote,
    AppForm(_): AppForm<Confirm>,
) -> Result<Response, Error> {
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    let result = crate::notify::test_channel(&state.pool, &name, by, Utc::now()).await?;
    let shown = match result.outcome {
        Ok(reply) => Shown {
            message: format!("チャネル「{name}」にテスト送信しました（応答: {reply}）"),
            ..Shown::default()
        },
        Err(why) => Shown {
            error: format!("チャネル「{name}」へのテスト送信に失敗しました: {why}"),
            ..Shown::default()
        },
    };
    channels_page(&state, &who, shown, StatusCode::OK).await
}

pub async fn remove_channel(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Remote(remote): Remote,
    AppForm(confirm): AppForm<Confirm>,
) -> Result<Response, Error> {
    confirm.require("チャネルを削除する")?;
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    channel::remove(&state.pool, &name, by).await?;
    Ok(Redirect::to("/admin/channels").into_response())
}

impl RouteForm {
    fn to_new(&self) -> (NewRoute, FieldErrors) {
        let mut errors = FieldErrors::default();
        let list = |v: &str| -> Vec<String> {
            v.split([',', '、'])
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let kinds = match self.kind.trim() {
            "" => vec![],
            k => match SiteKind::ALL.into_iter().find(|x| x.as_str() == k) {
                Some(kind) => vec![kind],
                None => {
                    errors.add("kind", "種別を選択肢から選んでください");
                    vec![]
                }
            },
        };
        let maintenance = match self.maintenance.trim() {
            "" => None,
            m => match Maintenance::ALL.into_iter().find(|x| x.as_str() == m) {
                Some(m) => Some(m),
                None => {
                    errors.add("maintenance", "保守契約を選択肢から選んでください");
                    None
                }
            },
        };
        let new = NewRoute {
            name: self.name.clone(),
            channels: list(&self.channels),
            min_severity: severity(&self.min_severity),
            rules: list(&self.rule),
            prefectures: list(&self.prefecture),
            kinds,
            maintenance,
        };
        (new, errors)
    }
}

pub async fn create_route(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Remote(remote): Remote,
    AppForm(form): AppForm<RouteForm>,
) -> Result<Response, Error> {
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    let (new, typed) = form.to_new();
    let result = match checked(new.validate(), typed) {
        Ok(valid) => route::create(&state.pool, &valid, by).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin/channels").into_response()),
        Err(e) => {
            let mut route_errors = FieldErrors::default();
            match e {
                Error::Fields(f) => route_errors = f,
                Error::Conflict(m) => route_errors.add("name", m),
                other => return Err(other),
            }
            let shown = Shown {
                route_form: form,
                route_errors,
                ..Shown::default()
            };
            channels_page(&state, &who, shown, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

pub async fn remove_route(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Remote(remote): Remote,
    AppForm(confirm): AppForm<Confirm>,
) -> Result<Response, Error> {
    confirm.require("ルートを削除する")?;
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    route::remove(&state.pool, &name, by).await?;
    Ok(Redirect::to("/admin/channels").into_response())
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct DeliveriesQuery {
    state: String,
    channel: String,
}

#[derive(Template)]
#[template(path = "admin_deliveries.html")]
struct DeliveriesPage {
    nav: Nav,
    deliveries: Vec<Delivery>,
    backlog: Backlog,
    state: String,
    channel: String,
    channels: Vec<String>,
}

pub async fn list_deliveries(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    AppQuery(q): AppQuery<DeliveriesQuery>,
) -> Result<Response, Error> {
    let wanted = match q.state.as_str() {
        "" => None,
        s => Some(
            DeliveryState::ALL
                .into_iter()
                .find(|x| x.as_str() == s)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "状態「{s}」はありません。一覧の絞り込みから選んでください"
                    ))
                })?,
        ),
    };
    let mut conn = state.pool.acquire().await?;
    let filter = Filter {
        state: wanted,
        channel: opt(&q.channel),
        limit: Some(200),
    };
    let page = DeliveriesPage {
        nav: Nav::from(&who),
        deliveries: deliveries::list(&mut conn, &filter).await?,
        backlog: deliveries::backlog(&mut conn, Utc::now()).await?,
        state: q.state,
        channel: q.channel,
        channels: channel::list(&mut conn)
            .await?
            .into_iter()
            .map(|c| c.name)
            .collect(),
    };
    Ok(render(&page)?.into_response())
}

pub async fn retry_delivery(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<i64>,
    Remote(remote): Remote,
    AppForm(_): AppForm<Confirm>,
) -> Result<Response, Error> {
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    deliveries::retry(&state.pool, &RetryTarget::One(id), by, Utc::now()).await?;
    Ok(Redirect::to("/admin/deliveries").into_response())
}

pub async fn retry_dead(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Remote(remote): Remote,
    AppForm(_): AppForm<Confirm>,
) -> Result<Response, Error> {
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    deliveries::retry(&state.pool, &RetryTarget::DeadOf(name), by, Utc::now()).await?;
    Ok(Redirect::to("/admin/deliveries?state=retrying").into_response())
}
