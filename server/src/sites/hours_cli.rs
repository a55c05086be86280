//! `onshi-server site hours`, `site closed-day` (issue 11) and `hours-default` (issue 13):
//! business hours from a shell on the server host, printed in Japanese; writes audited as
//! `cli:<OS user>`.

use chrono::Utc;

use super::hours::WeekSchedule;
use super::hours_input::{self, ExceptionInput, WeekInput};
use super::{Actor, SiteKind, hours_defaults, hours_store};
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

/// `hours-default list`: each kind's default in Japanese and in the `--set` form.
pub async fn defaults_list(db: &DbArgs) -> Result<(), Error> {
    let database = pool(db).await?;
    let result = async {
        let mut conn = database.pool.acquire().await?;
        print_defaults(&mut conn).await
    }
    .await;
    finish(database).await;
    result
}

async fn print_defaults(conn: &mut sqlx::PgConnection) -> Result<(), Error> {
    let using = hours_defaults::sites_using(conn).await?;
    for d in hours_defaults::list(conn).await? {
        let n = using
            .iter()
            .find(|(k, _)| *k == d.kind)
            .map_or(0, |(_, n)| *n);
        println!(
            "{}（{}）: {}\n  --set \"{}\"{}\n  この既定を使うサイト: {n}\n  更新: {} {}",
            d.kind.label_ja(),
            d.kind.as_str(),
            d.week.describe_ja(),
            d.week.to_text(),
            if d.is_builtin() {
                "（初期値）"
            } else {
                ""
            },
            crate::portal::filters::jst_text(Some(d.updated_at)),
            d.updated_by,
        );
    }
    Ok(())
}

/// `hours-default set --kind K (--set TEXT | --builtin)`.
pub async fn defaults_set(
    db: &DbArgs,
    kind: SiteKind,
    set: Option<String>,
    builtin: bool,
) -> Result<(), Error> {
    // Checked here, not by clap: `config check` parses every subcommand with its required
    // arguments relaxed, which a `required_unless_present` would escape.
    let week = match (&set, builtin) {
        (Some(text), false) => WeekSchedule::parse(text).map_err(Error::InvalidArgument)?,
        (None, true) => WeekSchedule::default_for(kind),
        _ => {
            return Err(Error::InvalidArgument(
                "--set \"mon-fri 09:00-18:00; sat 09:00-13:00\" か --builtin のどちらかを指定してください"
                    .into(),
            ));
        }
    };
    hours_defaults::check(&week).map_err(Error::InvalidArgument)?;
    let database = pool(db).await?;
    let who = actor();
    let result = async {
        let mut tx = database.pool.begin().await?;
        let by = Actor {
            actor: &who,
            remote: "",
        };
        hours_defaults::set(&mut tx, kind, &week, by).await?;
        tx.commit().await?;
        let mut conn = database.pool.acquire().await?;
        print_defaults(&mut conn).await
    }
    .await;
    finish(database).await;
    result
}
