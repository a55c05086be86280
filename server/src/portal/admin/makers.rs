//! The maker directory (`/admin/makers`): every face-auth reader maker with its desk — phone,
//! mail, web form, hours — or 「未登録」. Drafts for `card-reader-maker` come from here.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::Confirm;
use crate::auth::Principal;
use crate::error::{Error, FieldErrors};
use crate::escalation::directory::{DeskInput, YEAR_END_CHOICES};
use crate::escalation::makers::{self, MakerRow};
use crate::portal::extract::{AppForm, AppQuery, Remote};
use crate::portal::{AppState, Nav, filters, render};
use crate::sites::{Actor, ReaderMaker};

/// One maker's row with the form's values.
pub struct MakerView {
    pub row: MakerRow,
    pub form: DeskInput,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "admin_makers.html")]
struct MakersPage {
    nav: Nav,
    makers: Vec<MakerView>,
    notice: &'static str,
    year_end_choices: [(&'static str, &'static str); 3],
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

async fn page(
    state: &AppState,
    who: &Principal,
    notice: &'static str,
    refused: Option<(ReaderMaker, DeskInput, FieldErrors)>,
) -> Result<Response, Error> {
    let mut conn = state.pool.acquire().await?;
    let rows = makers::list(&mut conn).await?;
    let status = if refused.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let makers = rows
        .into_iter()
        .map(|row| match &refused {
            Some((maker, form, errors)) if *maker == row.maker => MakerView {
                row,
                form: form.clone(),
                errors: errors.clone(),
            },
            _ => MakerView {
                form: row
                    .desk
                    .as_ref()
                    .map(|d| DeskInput::from_entry(&d.entry))
                    .unwrap_or_default(),
                row,
                errors: FieldErrors::default(),
            },
        })
        .collect();
    let body = render(&MakersPage {
        nav: Nav::from(who),
        makers,
        notice,
        year_end_choices: YEAR_END_CHOICES,
    })?;
    Ok((status, body).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    AppQuery(done): AppQuery<Done>,
) -> Result<Response, Error> {
    let notice = match done.done.as_deref() {
        Some("saved") => "登録しました",
        Some("cleared") => "削除しました（未登録に戻しました）",
        _ => "",
    };
    page(&state, &who, notice, None).await
}

fn parse_maker(text: &str) -> Result<ReaderMaker, Error> {
    ReaderMaker::ALL
        .into_iter()
        .find(|m| m.as_str() == text)
        .ok_or_else(|| Error::NotFound(format!("メーカー {text}")))
}

pub async fn save(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(maker): Path<String>,
    Remote(remote): Remote,
    AppForm(form): AppForm<DeskInput>,
) -> Result<Response, Error> {
    let maker = parse_maker(&maker)?;
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    let mut tx = state.pool.begin().await?;
    match makers::set(&mut tx, maker, &form, by).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!(
                "/admin/makers?done=saved#maker-{}",
                maker.as_str()
            ))
            .into_response())
        }
        Err(Error::Fields(errors)) => page(&state, &who, "", Some((maker, form, errors))).await,
        Err(e) => Err(e),
    }
}

pub async fn clear(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(maker): Path<String>,
    Remote(remote): Remote,
    AppForm(confirm): AppForm<Confirm>,
) -> Result<Response, Error> {
    let maker = parse_maker(&maker)?;
    confirm.require("メーカー窓口を削除する")?;
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    let mut tx = state.pool.begin().await?;
    makers::clear(&mut tx, maker, by).await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/makers?done=cleared").into_response())
}
