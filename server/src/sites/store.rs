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
