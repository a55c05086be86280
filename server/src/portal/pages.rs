//! `GET /api/v1/sites`: the fleet list as JSON (the console's pages are `dashboard.rs` and
//! `site_list.rs`).

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use chrono::Utc;

use super::AppState;
use super::extract::{AppQuery, PAGE_SIZE, PageParam};
use crate::error::Error;
use crate::fleet::query;

/// `GET /api/v1/sites?page=N`: the same list as JSON, for integrations.
pub async fn api_sites(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<PageParam>,
) -> Result<impl IntoResponse, Error> {
    let page = params.number()?;
    let silent_before = state.silent_before(Utc::now());
    let mut tx = query::read(&state.pool).await?;
    let sites =
        query::list_sites(&mut tx, silent_before, PAGE_SIZE, PageParam::offset(page)).await?;
    let summary = query::summary(&mut tx, silent_before).await?;
    tx.commit().await?;
    Ok(Json(
        serde_json::json!({ "page": page, "summary": summary, "sites": sites }),
    ))
}
