//! The only code that writes `sites`: create, update and delete, each with its audit row in the
//! same transaction. Constraint violations become domain errors here, once.

use sqlx::{PgConnection, PgPool};

use super::profile::{SITE_COLUMNS, Site, SiteInput};
use crate::auth::audit::{self, Entry};
use crate::error::Error;

/// Who made a change, for the audit row.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub actor: &'a str,
    pub remote: &'a str,
}

pub async fn get(pool: &PgPool, site_id: &str) -> Result<Option<Site>, Error> {
    Ok(sqlx::query_as::<_, Site>(&format!(
        "SELECT {SITE_COLUMNS} FROM sites WHERE site_id = $1"
    ))
    .bind(site_id)
    .fetch_optional(pool)
    .await?)
}

/// Registers a new site. `Error::Conflict` when the id is taken, `Error::Fields` when the input
/// has problems.
pub async fn create(
    conn: &mut PgConnection,
    input: &SiteInput,
    by: Actor<'_>,
) -> Result<(), Error> {
    let input = input.normalized();
    input.validate()?;
    let inserted = bind_all(
        sqlx::query(
            "INSERT INTO sites (site_id, name, prefecture, kind, reader_maker, router_model, has_hub,
                 maintenance, omakase_dial, receipt_vendor, receipt_vendor_contact, medical_code,
                 address, phone, contact_person, pc_serial, pc_purchased_on, router_serial,
                 router_purchased_on, hub_serial, hub_purchased_on, closed_on_holidays)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18, $19, $20, $21, $22)
             ON CONFLICT (site_id) DO NOTHING",
        ),
        &input,
    )
    .execute(&mut *conn)
    .await
    .map_err(constraint)?;
    if inserted.rows_affected() == 0 {
        return Err(Error::Conflict(format!(
            "サイトID {} は既に登録されています",
            input.site_id
        )));
    }
    audit::record(
        conn,
        Entry::new(by.actor, "site.create", format!("site:{}", input.site_id))
            .remote(by.remote)
            .detail(audit_detail(&input)),
    )
    .await
}

/// Replaces the profile of an existing site (the id itself never changes).
pub async fn update(
    conn: &mut PgConnection,
    input: &SiteInput,
    by: Actor<'_>,
) -> Result<(), Error> {
    let input = input.normalized();
    input.validate()?;
    let updated = bind_all(
        sqlx::query(
            "UPDATE sites SET name = $2, prefecture = $3, kind = $4, reader_maker = $5,
                 router_model = $6, has_hub = $7, maintenance = $8, omakase_dial = $9,
                 receipt_vendor = $10, receipt_vendor_contact = $11, medical_code = $12,
                 address = $13, phone = $14, contact_person = $15, pc_serial = $16,
                 pc_purchased_on = $17, router_serial = $18, router_purchased_on = $19,
                 hub_serial = $20, hub_purchased_on = $21, closed_on_holidays = $22,
                 updated_at = now()
             WHERE site_id = $1",
        ),
        &input,
    )
    .execute(&mut *conn)
    .await
    .map_err(constraint)?;
    if updated.rows_affected() == 0 {
        return Err(Error::NotFound(format!("サイト {}", input.site_id)));
    }
    audit::record(
        conn,
        Entry::new(by.actor, "site.update", format!("site:{}", input.site_id))
            .remote(by.remote)
            .detail(audit_detail(&input)),
    )
    .await
}

/// Creates the site, or brings an existing one to `input` (the demo's fleet on every start).
pub async fn create_or_update(
    conn: &mut PgConnection,
    input: &SiteInput,
    by: Actor<'_>,
) -> Result<(), Error> {
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM sites WHERE site_id = $1")
        .bind(input.site_id.trim())
        .fetch_optional(&mut *conn)
        .await?;
    match exists {
        Some(_) => update(conn, input, by).await,
        None => create(conn, input, by).await,
    }
}

fn bind_all<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    s: &'q SiteInput,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let opt = |v: &'q String| (!v.is_empty()).then_some(v.as_str());
    query
        .bind(&s.site_id)
        .bind(&s.name)
        .bind(&s.prefecture)
        .bind(s.kind)
        .bind(s.reader_maker)
        .bind(s.router_model)
        .bind(s.has_hub)
        .bind(s.maintenance)
        .bind(opt(&s.omakase_dial))
        .bind(opt(&s.receipt_vendor))
        .bind(&s.receipt_vendor_contact)
        .bind(&s.medical_code)
        .bind(&s.address)
        .bind(&s.phone)
        .bind(&s.contact_person)
        .bind(&s.pc_serial)
        .bind(s.pc_purchased_on)
        .bind(&s.router_serial)
        .bind(s.router_purchased_on)
        .bind(&s.hub_serial)
        .bind(s.hub_purchased_on)
        .bind(s.closed_on_holidays.unwrap_or(true))
}

/// What the audit row says about a site change: the profile, never anything secret.
fn audit_detail(s: &SiteInput) -> serde_json::Value {
    serde_json::json!({
        "name": s.name, "kind": s.kind, "prefecture": s.prefecture,
        "maintenance": s.maintenance, "reader_maker": s.reader_maker,
        "router_model": s.router_model, "medical_code": s.medical_code,
    })
}

/// A CHECK the validation missed is still the caller's input, not a server fault.
fn constraint(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(db) if db.is_check_violation() => {
            tracing::warn!(error = %e, "site refused by a database check");
            Error::InvalidArgument(
                "サイトの値が正しくありません（種別・機器・保守・医療機関等コードを確認してください）".into(),
            )
        }
        _ => Error::Sqlx(e),
    }
}

/// What deleting a site takes with it (shown before, audited after).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct SiteFootprint {
    /// Agents enrolled for the site (not revoked): their certificates stop being accepted.
    pub active_agents: i64,
    pub revoked_agents: i64,
    /// Incidents not resolved yet, and all incidents (with their timelines).
    pub open_incidents: i64,
    pub incidents: i64,
    /// Silences naming the site.
    pub silences: i64,
    /// Rows of report history (kept at most the retention period anyway).
    pub history_rows: i64,
}

/// Counts what the site has, for the confirmation page and the audit row.
pub async fn footprint(conn: &mut PgConnection, site_id: &str) -> Result<SiteFootprint, Error> {
    Ok(sqlx::query_as(
        "SELECT
           (SELECT count(*) FROM agents WHERE site_id = $1 AND revoked_at IS NULL) AS active_agents,
           (SELECT count(*) FROM agents WHERE site_id = $1 AND revoked_at IS NOT NULL) AS revoked_agents,
           (SELECT count(*) FROM incidents WHERE site_id = $1 AND state <> 'resolved') AS open_incidents,
           (SELECT count(*) FROM incidents WHERE site_id = $1) AS incidents,
           (SELECT count(*) FROM silences WHERE site_id = $1) AS silences,
           (SELECT count(*) FROM report_history WHERE site_id = $1) AS history_rows",
    )
    .bind(site_id)
    .fetch_one(conn)
    .await?)
}

/// Deletes a site and everything that is only about it, in one transaction with its audit row
/// (which keeps the profile and the counts): its agents (so their certificates are refused from
/// then on: an agent must be enrolled to report), enrolment tokens, latest state, incidents
/// with their timelines, silences, hours exceptions (all `ON DELETE CASCADE`, migration 0017),
/// and its report history — deleted here, so that a site later registered under the same id
/// starts with empty charts. The audit log itself is append-only and keeps every row.
pub async fn delete(
    conn: &mut PgConnection,
    site_id: &str,
    by: Actor<'_>,
) -> Result<SiteFootprint, Error> {
    let site: Site = sqlx::query_as(&format!(
        "SELECT {SITE_COLUMNS} FROM sites WHERE site_id = $1 FOR UPDATE"
    ))
    .bind(site_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound(format!("サイト {site_id} は登録されていません")))?;
    let counts = footprint(conn, site_id).await?;
    sqlx::query("DELETE FROM report_history WHERE site_id = $1")
        .bind(site_id)
        .execute(&mut *conn)
        .await?;
    // History of an earlier version still waiting to be converted (migration 0007) would
    // otherwise come back under the deleted site's id.
    let legacy: bool = sqlx::query_scalar("SELECT to_regclass('report_history_v1') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await?;
    if legacy {
        sqlx::query("DELETE FROM report_history_v1 WHERE site_id = $1")
            .bind(site_id)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("DELETE FROM incident_eval_queue WHERE site_id = $1")
        .bind(site_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM sites WHERE site_id = $1")
        .bind(site_id)
        .execute(&mut *conn)
        .await
        .map_err(|e| still_referenced(site_id, e))?;
    audit::record(
        conn,
        Entry::new(by.actor, "site.delete", format!("site:{site_id}"))
            .remote(by.remote)
            .detail(serde_json::json!({
                "profile": audit_detail(&SiteInput::from_site(&site)),
                "name": site.name,
                "deleted": counts,
            })),
    )
    .await?;
    tracing::info!(site_id, actor = by.actor, ?counts, "site deleted");
    Ok(counts)
}

/// A table added later that references the site without `ON DELETE CASCADE` keeps it: say so
/// instead of failing with a server error.
fn still_referenced(site_id: &str, e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            tracing::warn!(site_id, error = %e, "site delete refused: still referenced");
            Error::Conflict(format!(
                "サイト {site_id} はまだ他のデータ（{}）から参照されているため削除できません。参照しているデータを先に削除してください",
                db.table().unwrap_or("不明な表")
            ))
        }
        _ => Error::Sqlx(e),
    }
}
