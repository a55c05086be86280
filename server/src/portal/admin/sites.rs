//! Sites: register, edit the whole profile (with the weekly business hours), issue one-time
//! enrolment tokens. The form keeps what was typed and shows each problem next to its field
//! (`SiteInput::validate`, `WeekSchedule::parse`).

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, Utc};
use sqlx::PgConnection;

use super::SecretOnce;
use crate::auth::Principal;
use crate::enrol;
use crate::error::{Error, FieldErrors};
use crate::portal::extract::{AppForm, AppQuery, Remote};
use crate::portal::filters::jst_text;
use crate::portal::{AppState, Nav, render};
use crate::sites::hours::WeekSchedule;
use crate::sites::{self, SiteInput, hours_store};

#[derive(sqlx::FromRow)]
pub struct SiteListRow {
    site_id: String,
    name: String,
    prefecture: String,
    kind: sites::SiteKind,
    maintenance: sites::Maintenance,
    agents: i64,
}

#[derive(Template)]
#[template(path = "admin_sites.html")]
struct SitesPage {
    nav: Nav,
    sites: Vec<SiteListRow>,
    form: SiteInput,
    hours: HoursField,
    errors: FieldErrors,
    message: String,
    /// A completed action (a deletion), shown as a notice.
    notice: String,
    action: String,
    editing: bool,
}

#[derive(Template)]
#[template(path = "admin_site_edit.html")]
struct SiteEditPage {
    nav: Nav,
    form: SiteInput,
    hours: HoursField,
    errors: FieldErrors,
    message: String,
    action: String,
    editing: bool,
}

impl SitesPage {
    fn date_value(&self, d: &Option<NaiveDate>) -> String {
        date_value(d)
    }
}

impl SiteEditPage {
    fn date_value(&self, d: &Option<NaiveDate>) -> String {
        date_value(d)
    }
}

fn date_value(d: &Option<NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The weekly business hours in the form: the text typed (empty: the kind's default) and what
/// applies now, in words.
#[derive(Debug, Clone, Default)]
pub struct HoursField {
    pub text: String,
    pub applies: String,
}

/// The form as posted: the profile plus the weekly hours, which `hours_store` owns.
#[derive(Debug, Default, serde::Deserialize)]
pub struct SiteForm {
    #[serde(flatten)]
    site: SiteInput,
    #[serde(default)]
    week_hours: String,
    /// Sent by the page with the holiday checkbox: an unticked box sends nothing, so without
    /// this marker "not ticked" could not be told from "not on the form".
    #[serde(default)]
    holidays_shown: Option<String>,
}

impl SiteForm {
    /// The form as the store takes it (an unticked holiday box means "open on holidays").
    fn resolved(mut self) -> SiteForm {
        if self.holidays_shown.is_some() && self.site.closed_on_holidays.is_none() {
            self.site.closed_on_holidays = Some(false);
        }
        self
    }

    /// The hours asked for: `None` is the kind's default (an empty field).
    fn week(&self) -> Result<Option<WeekSchedule>, String> {
        let text = self.week_hours.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let week = WeekSchedule::parse(text)?;
        if week.days.iter().all(Vec::is_empty) {
            return Err("営業時間を書くか、空欄にして種別の既定を使ってください".into());
        }
        Ok(Some(week))
    }

    /// Every problem of the form at once: the profile's and the hours'.
    fn problems(&self, week: &Result<Option<WeekSchedule>, String>) -> FieldErrors {
        let mut errors = self.site.normalized().validate().err().unwrap_or_default();
        if let Err(m) = week {
            errors.add("week_hours", m.clone());
        }
        errors
    }
}

/// What the form shows: the values typed (or defaults), problems, a message above it.
struct FormState {
    form: SiteInput,
    hours: HoursField,
    errors: FieldErrors,
    message: String,
}

impl FormState {
    fn blank() -> Self {
        FormState {
            form: SiteInput {
                closed_on_holidays: Some(true),
                ..SiteInput::default()
            },
            hours: HoursField::default(),
            errors: FieldErrors::default(),
            message: String::new(),
        }
    }

    fn typed(form: SiteForm, errors: FieldErrors) -> Self {
        FormState {
            hours: HoursField {
                text: form.week_hours,
                applies: String::new(),
            },
            form: form.site,
            errors,
            message: String::new(),
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    AppQuery(deleted): AppQuery<super::site_delete::Deleted>,
) -> Result<Response, Error> {
    let notice = deleted.message();
    sites_page(&state, &who, FormState::blank(), StatusCode::OK, notice).await
}

async fn sites_page(
    state: &AppState,
    who: &Principal,
    shown: FormState,
    status: StatusCode,
    notice: String,
) -> Result<Response, Error> {
    let sites = sqlx::query_as::<_, SiteListRow>(
        "SELECT s.site_id, s.name, s.prefecture, s.kind, s.maintenance,
                (SELECT count(*) FROM agents a WHERE a.site_id = s.site_id AND a.revoked_at IS NULL) AS agents
         FROM sites s ORDER BY s.created_at DESC LIMIT 200",
    )
    .fetch_all(&state.pool)
    .await?;
    let page = render(&SitesPage {
        nav: Nav::from(who),
        sites,
        form: shown.form,
        hours: shown.hours,
        errors: shown.errors,
        message: shown.message,
        notice,
        action: "/admin/sites".into(),
        editing: false,
    })?;
    Ok((status, page).into_response())
}

/// The form again with what went wrong, when the store refused the input.
fn refused(form: SiteForm, error: Error) -> Result<FormState, Error> {
    let (errors, message) = match error {
        Error::Fields(errors) => (errors, String::new()),
        Error::Conflict(m) => {
            let mut errors = FieldErrors::default();
            errors.add("site_id", m);
            (errors, String::new())
        }
        Error::InvalidArgument(m) => (FieldErrors::default(), m),
        other => return Err(other),
    };
    let mut shown = FormState::typed(form, errors);
    shown.message = message;
    Ok(shown)
}

fn actor<'a>(who: &'a Principal, remote: &'a str) -> sites::Actor<'a> {
    sites::Actor {
        actor: &who.actor,
        remote,
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Remote(remote): Remote,
    AppForm(form): AppForm<SiteForm>,
) -> Result<Response, Error> {
    let form = form.resolved();
    let week = form.week();
    let problems = form.problems(&week);
    if !problems.is_empty() {
        let shown = FormState::typed(form, problems);
        return sites_page(
            &state,
            &who,
            shown,
            StatusCode::UNPROCESSABLE_ENTITY,
            String::new(),
        )
        .await;
    }
    let mut tx = state.pool.begin().await?;
    if let Err(e) = sites::store::create(&mut tx, &form.site, actor(&who, &remote)).await {
        let shown = refused(form, e)?;
        return sites_page(
            &state,
            &who,
            shown,
            StatusCode::UNPROCESSABLE_ENTITY,
            String::new(),
        )
        .await;
    }
    if let Ok(Some(week)) = &week {
        let site = form.site.normalized();
        let closed = site.closed_on_holidays.unwrap_or(true);
        let by = actor(&who, &remote);
        hours_store::set_week(&mut tx, &site.site_id, Some(week), closed, by).await?;
    }
    tx.commit().await?;
    Ok(Redirect::to("/admin/sites").into_response())
}

fn edit_page(who: &Principal, shown: FormState, status: StatusCode) -> Result<Response, Error> {
    let action = format!("/admin/sites/{}", shown.form.site_id);
    let page = render(&SiteEditPage {
        nav: Nav::from(who),
        form: shown.form,
        hours: shown.hours,
        errors: shown.errors,
        message: shown.message,
        action,
        editing: true,
    })?;
    Ok((status, page).into_response())
}

/// The site's weekly hours as the form shows them.
async fn hours_field(conn: &mut PgConnection, site_id: &str) -> Result<HoursField, Error> {
    let today = Utc::now().with_timezone(&crate::desk::JST).date_naive();
    let Some(stored) = hours_store::load(conn, site_id, today).await? else {
        return Ok(HoursField::default());
    };
    let described = stored.hours.week.describe_ja();
    Ok(if stored.is_default {
        HoursField {
            text: String::new(),
            applies: format!("種別の既定: {described}"),
        }
    } else {
        HoursField {
            text: stored.hours.week.to_text(),
            applies: described,
        }
    })
}

pub async fn edit_form(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(site_id): Path<String>,
) -> Result<Response, Error> {
    let site = sites::store::get(&state.pool, &site_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("サイト {site_id} は登録されていません")))?;
    let mut conn = state.pool.acquire().await?;
    let shown = FormState {
        form: SiteInput::from_site(&site),
        hours: hours_field(&mut conn, &site_id).await?,
        ..FormState::blank()
    };
    edit_page(&who, shown, StatusCode::OK)
}

pub async fn edit_submit(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(site_id): Path<String>,
    Remote(remote): Remote,
    AppForm(mut form): AppForm<SiteForm>,
) -> Result<Response, Error> {
    // The id comes from the path: a form cannot move its changes to another site.
    form.site.site_id = site_id;
    let form = form.resolved();
    let week = form.week();
    let problems = form.problems(&week);
    if !problems.is_empty() {
        return edit_page(
            &who,
            FormState::typed(form, problems),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let site_id = form.site.site_id.clone();
    let mut tx = state.pool.begin().await?;
    let today = Utc::now().with_timezone(&crate::desk::JST).date_naive();
    let before = hours_store::load(&mut tx, &site_id, today).await?;
    if let Err(e) = sites::store::update(&mut tx, &form.site, actor(&who, &remote)).await {
        if let Error::NotFound(_) = e {
            return Err(Error::NotFound(format!(
                "サイト {site_id} は登録されていません"
            )));
        }
        return edit_page(&who, refused(form, e)?, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let week = week.unwrap_or_default();
    let unchanged = before.as_ref().is_some_and(|b| match &week {
        None => b.is_default,
        Some(w) => !b.is_default && &b.hours.week == w,
    });
    if !unchanged {
        let closed = form.site.closed_on_holidays.unwrap_or(true);
        let by = actor(&who, &remote);
        hours_store::set_week(&mut tx, &site_id, week.as_ref(), closed, by).await?;
    }
    let hours = hours_field(&mut tx, &site_id).await?;
    tx.commit().await?;
    let shown = FormState {
        message: "保存しました".into(),
        form: form.site.normalized(),
        hours,
        errors: FieldErrors::default(),
    };
    edit_page(&who, shown, StatusCode::OK)
}

pub async fn token(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(site_id): Path<String>,
) -> Result<Response, Error> {
    let (token, expires_at) =
        enrol::issue_token(&state.pool, &site_id, enrol::DEFAULT_TOKEN_TTL, &who.actor).await?;
    SecretOnce {
        nav: Nav::from(&who),
        title: format!("サイト {site_id} の登録トークン"),
        explanation: format!(
            "このトークンは一度だけ表示されます。{} まで有効で、1回だけ使えます。オン資PCで次のコマンドを実行してください。",
            jst_text(Some(expires_at))
        ),
        command: format!(
            "onshi-agent enroll --server https://<サーバ>:50051 --token {token} --ca-fingerprint <CA指紋>"
        ),
        secret: token,
        back: "/admin/sites",
    }
    .respond()
}
