//! The receipt-vendor directory (`/admin/receipt-vendors`): the desks of the レセコン vendors
//! sites name. A site's own vendor contact wins; this directory answers for the others.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::Confirm;
use crate::auth::Principal;
use crate::error::{Error, FieldErrors};
use crate::escalation::directory::{DeskInput, YEAR_END_CHOICES};
use crate::escalation::vendors::{self, Saved, Vendor};
use crate::portal::extract::{AppForm, AppQuery, Remote};
use crate::portal::{AppState, Nav, filters, render};
use crate::sites::Actor;

#[derive(Template)]
#[template(path = "admin_receipt_vendors.html")]
struct VendorsPage {
    nav: Nav,
    vendors: Vec<Vendor>,
    form: DeskInput,
    errors: FieldErrors,
    notice: &'static str,
    year_end_choices: [(&'static str, &'static str); 3],
    web_label: &'static str,
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
    form: DeskInput,
    errors: FieldErrors,
) -> Result<Response, Error> {
    let mut conn = state.pool.acquire().await?;
    let vendors = vendors::list(&mut conn).await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let body = render(&VendorsPage {
        nav: Nav::from(who),
        vendors,
        form,
        errors,
        notice,
        year_end_choices: YEAR_END_CHOICES,
        web_label: "web（サポートページ・フォーム）",
    })?;
    Ok((status, body).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    AppQuery(done): AppQuery<Done>,
) -> Result<Response, Error> {
    let notice = match done.done.as_deref() {
        Some("added") => "登録しました",
        Some("replaced") => "同じ名前の業者を更新しました",
        Some("removed") => "削除しました",
        _ => "",
    };
    page(
        &state,
        &who,
        notice,
        DeskInput::default(),
        FieldErrors::default(),
    )
    .await
}

pub async fn save(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Remote(remote): Remote,
    AppForm(form): AppForm<DeskInput>,
) -> Result<Response, Error> {
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    let mut tx = state.pool.begin().await?;
    match vendors::save(&mut tx, &form, by).await {
        Ok(saved) => {
            tx.commit().await?;
            let done = match saved {
                Saved::Added(_) => "added",
                Saved::Replaced(_) => "replaced",
            };
            Ok(Redirect::to(&format!("/admin/receipt-vendors?done={done}")).into_response())
        }
        Err(Error::Fields(errors)) => page(&state, &who, "", form, errors).await,
        Err(e) => Err(e),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    name: String,
    #[serde(flatten)]
    confirm: Confirm,
}

pub async fn remove(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Remote(remote): Remote,
    AppForm(form): AppForm<RemoveForm>,
) -> Result<Response, Error> {
    form.confirm.require("レセコン業者を削除する")?;
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    let mut tx = state.pool.begin().await?;
    vendors::remove(&mut tx, &form.name, by).await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/receipt-vendors?done=removed").into_response())
}
