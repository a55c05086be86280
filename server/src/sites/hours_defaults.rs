//! Business-hours defaults per site kind (`site_kind_hours`, issue 13): the weekly schedule of
//! every site without its own. The only writer of the table, audited. Read on every use — by
//! the offline sweep once per sweep, by the worker and the pages per site — so a new default
//! applies on every replica at its next sweep with no cache to go stale.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::hours::WeekSchedule;
use super::model::SiteKind;
use super::store::Actor;
use crate::auth::audit::{self, Entry};
use crate::error::Error;

/// One kind's default as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindDefault {
    pub kind: SiteKind,
    pub week: WeekSchedule,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl KindDefault {
    /// Whether it is still the built-in `WeekSchedule::default_for` (the migration's seed).
    pub fn is_builtin(&self) -> bool {
        self.week == WeekSchedule::default_for(self.kind)
    }
}

/// The defaults of every kind, read together (one sweep uses the same snapshot throughout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    weeks: [WeekSchedule; 3],
}

impl Defaults {
    /// The built-in schedules, as the migration seeds them.
    pub fn builtin() -> Defaults {
        Defaults {
            weeks: SiteKind::ALL.map(WeekSchedule::default_for),
        }
    }

    pub fn get(&self, kind: SiteKind) -> &WeekSchedule {
        &self.weeks[index(kind)]
    }
}

fn index(kind: SiteKind) -> usize {
    SiteKind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("every kind is in ALL")
}

fn unreadable(kind: SiteKind, e: String) -> Error {
    Error::Other(anyhow::anyhow!(
        "stored default hours of {} unreadable: {e}",
        kind.as_str()
    ))
}

/// A stored default, or the built-in one when the row is missing (it is seeded and never
/// deleted; a hand-deleted row must not hide `offline` for a whole kind of site).
pub fn from_column(kind: SiteKind, stored: Option<&str>) -> Result<WeekSchedule, Error> {
    match stored {
        Some(text) => WeekSchedule::from_multirange(text).map_err(|e| unreadable(kind, e)),
        None => {
            tracing::warn!(
                kind = kind.as_str(),
                "no row in site_kind_hours; using the built-in default"
            );
            Ok(WeekSchedule::default_for(kind))
        }
    }
}

/// Every kind's default, in `SiteKind::ALL` order.
pub async fn list(conn: &mut PgConnection) -> Result<Vec<KindDefault>, Error> {
    let rows: Vec<(SiteKind, String, DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT kind, week_hours::text, updated_at, updated_by FROM site_kind_hours",
    )
    .fetch_all(&mut *conn)
    .await?;
    SiteKind::ALL
        .iter()
        .map(|&kind| match rows.iter().find(|r| r.0 == kind) {
            Some((_, text, at, by)) => Ok(KindDefault {
                kind,
                week: from_column(kind, Some(text))?,
                updated_at: *at,
                updated_by: by.clone(),
            }),
            None => Ok(KindDefault {
                kind,
                week: from_column(kind, None)?,
                updated_at: DateTime::<Utc>::UNIX_EPOCH,
                updated_by: String::new(),
            }),
        })
        .collect()
}

/// The defaults as one snapshot, for the sweep.
pub async fn load(conn: &mut PgConnection) -> Result<Defaults, Error> {
    let mut defaults = Defaults::builtin();
    for d in list(conn).await? {
        defaults.weeks[index(d.kind)] = d.week;
    }
    Ok(defaults)
}

/// Checks a new default: at least one band (a kind closed all week would never raise
/// `offline` for any of its sites).
pub fn check(week: &WeekSchedule) -> Result<(), String> {
    if week.days.iter().all(Vec::is_empty) {
        return Err(
            "既定の営業時間には少なくとも1つの時間帯を指定してください（例: mon-fri 09:00-18:00）"
                .into(),
        );
    }
    Ok(())
}

/// Replaces a kind's default (audited in the same transaction).
pub async fn set(
    conn: &mut PgConnection,
    kind: SiteKind,
    week: &WeekSchedule,
    by: Actor<'_>,
) -> Result<(), Error> {
    check(week).map_err(Error::InvalidArgument)?;
    let before: Option<String> =
        sqlx::query_scalar("SELECT week_hours::text FROM site_kind_hours WHERE kind = $1")
            .bind(kind)
            .fetch_optional(&mut *conn)
            .await?;
    let before = before
        .as_deref()
        .map(|t| from_column(kind, Some(t)))
        .transpose()?;
    sqlx::query(
        "INSERT INTO site_kind_hours (kind, week_hours, updated_at, updated_by)
         VALUES ($1, $2::int4multirange, now(), $3)
         ON CONFLICT (kind) DO UPDATE SET week_hours = EXCLUDED.week_hours,
             updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by",
    )
    .bind(kind)
    .bind(week.to_multirange())
    .bind(by.actor)
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        Entry::new(by.actor, "hours.default", format!("kind:{}", kind.as_str()))
            .remote(by.remote)
            .detail(serde_json::json!({
                "before": before.as_ref().map(WeekSchedule::to_text),
                "after": week.to_text(),
            })),
    )
    .await
}

/// How many sites of each kind use the default now (for the admin page).
pub async fn sites_using(conn: &mut PgConnection) -> Result<Vec<(SiteKind, i64)>, Error> {
    Ok(
        sqlx::query_as("SELECT kind, count(*) FROM sites WHERE week_hours IS NULL GROUP BY kind")
            .fetch_all(conn)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_defaults_follow_the_kinds_and_an_empty_week_is_refused() {
        let d = Defaults::builtin();
        for kind in SiteKind::ALL {
            assert_eq!(d.get(kind), &WeekSchedule::default_for(kind));
        }
        assert!(check(&WeekSchedule::parse("").unwrap()).is_err());
        assert!(check(&WeekSchedule::parse("sat 09:00-12:00").unwrap()).is_ok());
        assert_eq!(
            from_column(SiteKind::Pharmacy, None).unwrap(),
            WeekSchedule::default_for(SiteKind::Pharmacy)
        );
        assert!(from_column(SiteKind::Clinic, Some("{[5,1)}")).is_err());
    }
}
