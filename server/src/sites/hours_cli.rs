//! `onshi-server site hours` and `site closed-day` (issue 11): a site's business hours from a
//! shell on the server host, printed in Japanese; writes audited as `cli:<OS user>`.

use chrono::Utc;

use super::hours_input::{self, ExceptionInput, WeekInput};
use super::{Actor, hours_store};
use crate::cli::{DbArgs, HolidayRule};
use crate::commands::{actor, finish, pool};
use crate::error::Error;

async fn print_hours(conn: &mut sqlx::PgConnection, site_id: &str) -> Result<(), Error> {
    let today = Utc::now().with_timezone(&crate::desk::JST).date_naive();
    let stored = hours_store::load(conn, site_id, today)
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "サイト {site_id}（先に `onshi-server site add` で登録してください）"
            ))
        })?;
    print!(
        "{}",
        hours_input::describe_ja(&hours_input::view(site_id, &stored))
    );
    Ok(())
}

/// Shows the hours, after setting them when `--set`, `--default` or `--holidays` is given.
pub async fn hours(
    db: &DbArgs,
    site_id: &str,
    set: Option<String>,
    default: bool,
    holidays: Option<HolidayRule>,
) -> Result<(), Error> {
    let database = pool(db).await?;
    let result = async {
        let mut tx = database.pool.begin().await?;
        if set.is_some() || default || holidays.is_some() {
            let today = Utc::now().with_timezone(&crate::desk::JST).date_naive();
            let current = hours_store::load(&mut tx, site_id, today)
                .await?
                .ok_or_else(|| Error::NotFound(format!("サイト {site_id}")))?;
            let week = match (&set, default) {
                (None, false) => (!current.is_default).then(|| current.hours.week.clone()),
                _ => hours_input::week_from(&WeekInput {
                    week: set.clone(),
                    default,
                    ..Default::default()
                })
                .map_err(Error::InvalidArgument)?,
            };
            let closed = holidays.map_or(current.hours.closed_on_holidays, |h| {
                h == HolidayRule::Closed
            });
            let who = actor();
            hours_store::set_week(
                &mut tx,
                site_id,
                week.as_ref(),
                closed,
                Actor {
                    actor: &who,
                    remote: "",
                },
            )
            .await?;
        }
        print_hours(&mut tx, site_id).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    finish(database).await;
    result
}

/// Records a date closed (or open in `--open` bands), or removes it with `--remove`.
pub async fn closed_day(
    db: &DbArgs,
    site_id: &str,
    date: &str,
    open: Vec<String>,
    note: Option<String>,
    remove: bool,
) -> Result<(), Error> {
    let day = hours_input::parse_date(date).map_err(Error::InvalidArgument)?;
    let database = pool(db).await?;
    let who = actor();
    let by = Actor {
        actor: &who,
        remote: "",
    };
    let result = async {
        let mut tx = database.pool.begin().await?;
        if remove {
            hours_store::remove_exception(&mut tx, site_id, day, by).await?;
        } else {
            let input = ExceptionInput {
                closed: false,
                open,
                note: note.unwrap_or_default(),
            };
            let exception =
                hours_input::exception_from(day, &input).map_err(Error::InvalidArgument)?;
            hours_store::set_exception(&mut tx, site_id, &exception, by).await?;
        }
        print_hours(&mut tx, site_id).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    finish(database).await;
    result
}
