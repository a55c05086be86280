//! The maker directory: the only code that writes `reader_maker_desks`, each change with its
//! audit row in the caller's transaction. Starts empty (the guide gives no numbers).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::directory::{DeskEntry, DeskInput};
use crate::auth::audit::{self, Entry};
use crate::desk::WeeklyHours;
use crate::error::Error;
use crate::sites::{Actor, ReaderMaker};

/// One maker's desk as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MakerDesk {
    pub maker: ReaderMaker,
    pub entry: DeskEntry,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// A maker and its desk, or `None` when not registered (the page shows 「未登録」).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MakerRow {
    pub maker: ReaderMaker,
    pub desk: Option<MakerDesk>,
}

#[derive(sqlx::FromRow)]
struct Row {
    maker: ReaderMaker,
    desk_name: String,
    phone: String,
    mail: String,
    web_form: String,
    hours: Option<serde_json::Value>,
    note: String,
    updated_by: String,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn into_desk(self) -> Result<MakerDesk, Error> {
        Ok(MakerDesk {
            maker: self.maker,
            entry: DeskEntry {
                name: self.desk_name,
                phone: self.phone,
                mail: self.mail,
                web: self.web_form,
                hours: decode_hours(self.hours)?,
                note: self.note,
            },
            updated_by: self.updated_by,
            updated_at: self.updated_at,
        })
    }
}

/// Stored hours back into `WeeklyHours` (they were checked when written).
pub(super) fn decode_hours(v: Option<serde_json::Value>) -> Result<Option<WeeklyHours>, Error> {
    v.map(serde_json::from_value)
        .transpose()
        .map_err(|e| Error::Other(anyhow::anyhow!("stored desk hours unreadable: {e}")))
}

pub(super) fn encode_hours(h: &Option<WeeklyHours>) -> Option<serde_json::Value> {
    h.as_ref().and_then(|h| serde_json::to_value(h).ok())
}

const SELECT: &str = "SELECT maker, desk_name, phone, mail, web_form, hours, note, updated_by, \
     updated_at FROM reader_maker_desks";

pub async fn get(conn: &mut PgConnection, maker: ReaderMaker) -> Result<Option<MakerDesk>, Error> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE maker = $1"))
        .bind(maker)
        .fetch_optional(conn)
        .await?;
    row.map(Row::into_desk).transpose()
}

/// Every maker of `ReaderMaker::ALL`, registered or not.
pub async fn list(conn: &mut PgConnection) -> Result<Vec<MakerRow>, Error> {
    let rows: Vec<Row> = sqlx::query_as(SELECT).fetch_all(conn).await?;
    let mut desks = rows
        .into_iter()
        .map(Row::into_desk)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReaderMaker::ALL
        .into_iter()
        .map(|maker| MakerRow {
            maker,
            desk: desks
                .iter()
                .position(|d| d.maker == maker)
                .map(|i| desks.swap_remove(i)),
        })
        .collect())
}

/// Registers or replaces a maker's desk. `Error::Fields` names each problem of the input.
pub async fn set(
    conn: &mut PgConnection,
    maker: ReaderMaker,
    input: &DeskInput,
    by: Actor<'_>,
) -> Result<DeskEntry, Error> {
    let entry = input.check()?;
    sqlx::query(
        "INSERT INTO reader_maker_desks (maker, desk_name, phone, mail, web_form, hours, note,
             updated_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
         ON CONFLICT (maker) DO UPDATE SET desk_name = $2, phone = $3, mail = $4, web_form = $5,
             hours = $6, note = $7, updated_by = $8, updated_at = now()",
    )
    .bind(maker)
    .bind(&entry.name)
    .bind(&entry.phone)
    .bind(&entry.mail)
    .bind(&entry.web)
    .bind(encode_hours(&entry.hours))
    .bind(&entry.note)
    .bind(by.actor)
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        Entry::new(
            by.actor,
            "maker_desk.set",
            format!("maker:{}", maker.as_str()),
        )
        .remote(by.remote)
        .detail(serde_json::json!({
            "name": entry.name, "phone": entry.phone, "mail": entry.mail,
            "web_form": entry.web, "hours": entry.hours_ja(),
        })),
    )
    .await?;
    Ok(entry)
}

/// Removes a maker's desk (back to 「未登録」).
pub async fn clear(
    conn: &mut PgConnection,
    maker: ReaderMaker,
    by: Actor<'_>,
) -> Result<(), Error> {
    let done = sqlx::query("DELETE FROM reader_maker_desks WHERE maker = $1")
        .bind(maker)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound(format!(
            "{} の窓口は登録されていません",
            maker.name_ja()
        )));
    }
    audit::record(
        conn,
        Entry::new(
            by.actor,
            "maker_desk.clear",
            format!("maker:{}", maker.as_str()),
        )
        .remote(by.remote),
    )
    .await
}
