//! Reading and writing a site's business hours (`sites.week_hours`, `closed_on_holidays`,
//! `site_hours_exceptions`), audited like every site change.

use chrono::NaiveDate;
use sqlx::PgConnection;

use super::hours::{self, BusinessHours, DayException, WeekSchedule};
use super::hours_defaults;
use super::model::SiteKind;
use super::store::Actor;
use crate::auth::audit::{self, Entry};
use crate::error::Error;

/// Exceptions further back than this do not change whether the site is open now.
const EXCEPTIONS_BACK_DAYS: i64 = 8;

/// The hours as stored: `None` weekly bands mean the default for the kind.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredHours {
    pub hours: BusinessHours,
    /// True when the site has no weekly schedule of its own (the kind's default applies).
    pub is_default: bool,
}

pub async fn load(
    conn: &mut PgConnection,
    site_id: &str,
    today: NaiveDate,
) -> Result<Option<StoredHours>, Error> {
    // The kind's default is read here, every time: a changed default applies at once.
    let row: Option<(SiteKind, Option<String>, Option<String>, bool)> = sqlx::query_as(
        "SELECT s.kind, s.week_hours::text, d.week_hours::text, s.closed_on_holidays
         FROM sites s LEFT JOIN site_kind_hours d USING (kind) WHERE s.site_id = $1",
    )
    .bind(site_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((kind, week, kind_default, closed_on_holidays)) = row else {
        return Ok(None);
    };
    let kind_default = hours_defaults::from_column(kind, kind_default.as_deref())?;
    let exceptions: Vec<(NaiveDate, String, String)> = sqlx::query_as(
        "SELECT day, open_minutes::text, note FROM site_hours_exceptions
         WHERE site_id = $1 AND day >= $2 ORDER BY day",
    )
    .bind(site_id)
    .bind(today - chrono::Duration::days(EXCEPTIONS_BACK_DAYS))
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(from_columns(
        week.as_deref(),
        &kind_default,
        closed_on_holidays,
        exceptions,
    )?))
}

/// Builds the hours from stored columns (also used by the sweep, which reads many at once);
/// `kind_default` is the site kind's default (`hours_defaults`), used when `week` is NULL.
pub fn from_columns(
    week: Option<&str>,
    kind_default: &WeekSchedule,
    closed_on_holidays: bool,
    exceptions: Vec<(NaiveDate, String, String)>,
) -> Result<StoredHours, Error> {
    let stored = |e: String| Error::Other(anyhow::anyhow!("stored business hours unreadable: {e}"));
    let week_schedule = match week {
        Some(text) => WeekSchedule::from_multirange(text).map_err(stored)?,
        None => kind_default.clone(),
    };
    let exceptions = exceptions
        .into_iter()
        .map(|(day, open, note)| {
            Ok(DayException {
                day,
                open: hours::spans_from_multirange(&open).map_err(stored)?,
                note,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(StoredHours {
        hours: BusinessHours {
            week: week_schedule,
            closed_on_holidays,
            exceptions,
        },
        is_default: week.is_none(),
    })
}

/// Sets the weekly schedule (`None`: back to the kind's default) and the holiday rule.
pub async fn set_week(
    conn: &mut PgConnection,
    site_id: &str,
    week: Option<&WeekSchedule>,
    closed_on_holidays: bool,
    by: Actor<'_>,
) -> Result<(), Error> {
    let done = sqlx::query(
        "UPDATE sites SET week_hours = $2::int4multirange, closed_on_holidays = $3, updated_at = now()
         WHERE site_id = $1",
    )
    .bind(site_id)
    .bind(week.map(WeekSchedule::to_multirange))
    .bind(closed_on_holidays)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound(format!("サイト {site_id}")));
    }
    audit::record(
        conn,
        Entry::new(by.actor, "site.hours", format!("site:{site_id}"))
            .remote(by.remote)
            .detail(serde_json::json!({
                "week": week.map(WeekSchedule::to_text),
                "closed_on_holidays": closed_on_holidays,
            })),
    )
    .await
}

/// Records a date closed (no bands) or open in other hours.
pub async fn set_exception(
    conn: &mut PgConnection,
    site_id: &str,
    exception: &DayException,
    by: Actor<'_>,
) -> Result<(), Error> {
    hours::check_bands(&exception.open).map_err(Error::InvalidArgument)?;
    crate::text::check_line("メモ", &exception.note, 200).map_err(Error::InvalidArgument)?;
    sqlx::query(
        "INSERT INTO site_hours_exceptions (site_id, day, open_minutes, note)
         VALUES ($1, $2, $3::int4multirange, $4)
         ON CONFLICT (site_id, day) DO UPDATE SET open_minutes = EXCLUDED.open_minutes, note = EXCLUDED.note",
    )
    .bind(site_id)
    .bind(exception.day)
    .bind(hours::spans_to_multirange(&exception.open))
    .bind(&exception.note)
    .execute(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            Error::NotFound(format!("サイト {site_id}"))
        }
        _ => Error::Sqlx(e),
    })?;
    audit::record(
        conn,
        Entry::new(by.actor, "site.hours_exception", format!("site:{site_id}"))
            .remote(by.remote)
            .detail(serde_json::json!({
                "day": exception.day, "closed": exception.open.is_empty(),
                "open": exception.open.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "note": exception.note,
            })),
    )
    .await
}

pub async fn remove_exception(
    conn: &mut PgConnection,
    site_id: &str,
    day: NaiveDate,
    by: Actor<'_>,
) -> Result<(), Error> {
    let done = sqlx::query("DELETE FROM site_hours_exceptions WHERE site_id = $1 AND day = $2")
        .bind(site_id)
        .bind(day)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound(format!("サイト {site_id} の {day} の例外")));
    }
    audit::record(
        conn,
        Entry::new(
            by.actor,
            "site.hours_exception_remove",
            format!("site:{site_id}"),
        )
        .remote(by.remote)
        .detail(serde_json::json!({ "day": day })),
    )
    .await
}
