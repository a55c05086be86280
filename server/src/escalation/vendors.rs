//! The receipt-vendor directory: the only code that writes `receipt_vendors`, each change with
//! its audit row in the caller's transaction. A site names its vendor (`sites.receipt_vendor`);
//! the row with that name (any case) gives the contact when the site has none of its own.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::directory::{DeskEntry, DeskInput};
use super::makers::{decode_hours, encode_hours};
use super::model::field_error;
use crate::auth::audit::{self, Entry};
use crate::error::Error;
use crate::sites::Actor;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vendor {
    pub vendor_id: i64,
    pub entry: DeskEntry,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    vendor_id: i64,
    name: String,
    phone: String,
    mail: String,
    web: String,
    hours: Option<serde_json::Value>,
    note: String,
    updated_by: String,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn into_vendor(self) -> Result<Vendor, Error> {
        Ok(Vendor {
            vendor_id: self.vendor_id,
            entry: DeskEntry {
                name: self.name,
                phone: self.phone,
                mail: self.mail,
                web: self.web,
                hours: decode_hours(self.hours)?,
                note: self.note,
            },
            updated_by: self.updated_by,
            updated_at: self.updated_at,
        })
    }
}

const SELECT: &str = "SELECT vendor_id, name, phone, mail, web, hours, note, updated_by, updated_at \
     FROM receipt_vendors";

pub async fn list(conn: &mut PgConnection) -> Result<Vec<Vendor>, Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} ORDER BY lower(name)"))
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(Row::into_vendor).collect()
}

/// The vendor a site names, matched without regard to case or surrounding spaces.
pub async fn find(conn: &mut PgConnection, name: &str) -> Result<Option<Vendor>, Error> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE lower(name) = lower($1)"))
        .bind(name.trim())
        .fetch_optional(conn)
        .await?;
    row.map(Row::into_vendor).transpose()
}

/// Whether [`save`] added a vendor or replaced one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Added(i64),
    Replaced(i64),
}

/// Adds a vendor, or replaces the one with the same name (any case).
pub async fn save(
    conn: &mut PgConnection,
    input: &DeskInput,
    by: Actor<'_>,
) -> Result<Saved, Error> {
    let entry = input.check()?;
    if entry.name.is_empty() {
        return Err(field_error(
            "name",
            "レセコン業者名を入力してください（サイト情報の「レセコン業者」と同じ名前）",
        ));
    }
    let existing = find(conn, &entry.name).await?.map(|v| v.vendor_id);
    let id: i64 = match existing {
        Some(id) => sqlx::query_scalar(
            "UPDATE receipt_vendors SET name = $2, phone = $3, mail = $4, web = $5, hours = $6,
                 note = $7, updated_by = $8, updated_at = now()
             WHERE vendor_id = $1 RETURNING vendor_id",
        )
        .bind(id),
        None => sqlx::query_scalar(
            "INSERT INTO receipt_vendors (name, phone, mail, web, hours, note, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING vendor_id",
        ),
    }
    .bind(&entry.name)
    .bind(&entry.phone)
    .bind(&entry.mail)
    .bind(&entry.web)
    .bind(encode_hours(&entry.hours))
    .bind(&entry.note)
    .bind(by.actor)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict(format!(
            "レセコン業者「{}」は同時に登録されました。一覧を確認してください",
            entry.name
        )),
        _ => Error::Sqlx(e),
    })?;
    let (action, saved) = match existing {
        Some(_) => ("receipt_vendor.update", Saved::Replaced(id)),
        None => ("receipt_vendor.create", Saved::Added(id)),
    };
    audit::record(
        conn,
        Entry::new(by.actor, action, format!("receipt_vendor:{id}"))
            .remote(by.remote)
            .detail(serde_json::json!({
                "name": entry.name, "phone": entry.phone, "mail": entry.mail,
                "web": entry.web, "hours": entry.hours_ja(),
            })),
    )
    .await?;
    Ok(saved)
}

/// Removes the vendor with this name (any case).
pub async fn remove(conn: &mut PgConnection, name: &str, by: Actor<'_>) -> Result<i64, Error> {
    let id: Option<i64> = sqlx::query_scalar(
        "DELETE FROM receipt_vendors WHERE lower(name) = lower($1) RETURNING vendor_id",
    )
    .bind(name.trim())
    .fetch_optional(&mut *conn)
    .await?;
    let id = id.ok_or_else(|| {
        Error::NotFound(format!(
            "レセコン業者「{}」は登録されていません",
            name.trim()
        ))
    })?;
    audit::record(
        conn,
        Entry::new(
            by.actor,
            "receipt_vendor.remove",
            format!("receipt_vendor:{id}"),
        )
        .remote(by.remote)
        .detail(serde_json::json!({ "name": name.trim() })),
    )
    .await?;
    Ok(id)
}
