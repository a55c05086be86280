//! API tokens for integrations: issue (shown once), revoke (confirmed first).

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};

use super::{Confirm, SecretOnce};
use crate::auth::audit::{self, Entry};
use crate::auth::{Principal, Role, login};
use crate::error::Error;
use crate::portal::extract::{AppForm, Remote};
use crate::portal::{AppState, Nav, filters, render};

#[derive(sqlx::FromRow)]
pub struct TokenRow {
    token_id: i64,
    name: String,
    role: Role,
    created_by: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(Template)]
#[template(path = "admin_tokens.html")]
struct TokensPage {
    nav: Nav,
    tokens: Vec<TokenRow>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Response, Error> {
    let tokens = sqlx::query_as::<_, TokenRow>(
        "SELECT token_id, name, role, created_by, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY token_id DESC",
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(render(&TokensPage {
        nav: Nav::from(&who),
        tokens,
    })?
    .into_response())
}

#[derive(serde::Deserialize)]
pub struct TokenForm {
    name: String,
    role: Role,
}

pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    AppForm(f): AppForm<TokenForm>,
) -> Result<Response, Error> {
    let token = login::create_api_token(&state.pool, f.name.trim(), f.role, &who.actor).await?;
    SecretOnce {
        nav: Nav::from(&who),
        title: format!("API トークン {}", f.name.trim()),
        explanation: "このトークンは一度だけ表示されます。連携システムに設定してください。".into(),
        command: format!("curl -H 'Authorization: Bearer {token}' https://<ポータル>/api/v1/sites"),
        secret: token,
        back: "/admin/tokens",
    }
    .respond()
}

pub async fn revoke(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(token_id): Path<i64>,
    Remote(remote): Remote,
    AppForm(confirm): AppForm<Confirm>,
) -> Result<Response, Error> {
    confirm.require("API トークンを失効させる")?;
    let mut tx = state.pool.begin().await?;
    let name: Option<String> =
        sqlx::query_scalar("UPDATE api_tokens SET revoked_at = now() WHERE token_id = $1 AND revoked_at IS NULL RETURNING name")
            .bind(token_id)
            .fetch_optional(&mut *tx)
            .await?;
    let name = name.ok_or_else(|| {
        Error::NotFound(format!(
            "API トークン {token_id} は見つからないか、既に失効しています"
        ))
    })?;
    audit::record(
        &mut tx,
        Entry::new(&who.actor, "api_token.revoke", format!("token:{name}")).remote(remote),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/tokens").into_response())
}
