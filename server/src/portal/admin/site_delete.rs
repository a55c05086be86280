//! Deleting a site: a confirmation page that says what goes with it (agents, incidents,
//! history), then a form that must repeat the site id. Audited with the profile and counts.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::Principal;
use crate::error::Error;
use crate::portal::extract::{AppForm, Remote};
use crate::portal::{AppState, Nav, render};
use crate::sites::store::{self, SiteFootprint};
use crate::sites::{Actor, Site};

#[derive(Template)]
#[template(path = "admin_site_delete.html")]
struct DeletePage {
    nav: Nav,
    site: Site,
    counts: SiteFootprint,
    error: String,
}

async fn confirm_page(
    state: &AppState,
    who: &Principal,
    site_id: &str,
    error: String,
) -> Result<DeletePage, Error> {
    let site = store::get(&state.pool, site_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("サイト {site_id} は登録されていません")))?;
    let mut conn = state.pool.acquire().await?;
    let counts = store::footprint(&mut conn, site_id).await?;
    Ok(DeletePage {
        nav: Nav::from(who),
        site,
        counts,
        error,
    })
}

pub async fn confirm(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(site_id): Path<String>,
) -> Result<Response, Error> {
    let page = confirm_page(&state, &who, &site_id, String::new()).await?;
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct DeleteForm {
    /// The site id typed again: a deletion cannot be undone.
    #[serde(default)]
    confirm_site_id: String,
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(site_id): Path<String>,
    Remote(remote): Remote,
    AppForm(form): AppForm<DeleteForm>,
) -> Result<Response, Error> {
    if form.confirm_site_id.trim() != site_id {
        tracing::info!(site_id, actor = %who.actor, "site delete not confirmed");
        let error =
            format!("確認のため、サイトID「{site_id}」をそのまま入力してから削除してください");
        let page = confirm_page(&state, &who, &site_id, error).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let mut tx = state.pool.begin().await?;
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    store::delete(&mut tx, &site_id, by).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/sites?deleted={}", urlencode(&site_id))).into_response())
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `?deleted=ID` on the site list after a deletion.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Deleted {
    #[serde(default)]
    pub deleted: Option<String>,
}

impl Deleted {
    pub fn message(&self) -> String {
        self.deleted
            .as_deref()
            .map(|id| format!("サイト {id} を削除しました（監査ログに記録しました）"))
            .unwrap_or_default()
    }
}
