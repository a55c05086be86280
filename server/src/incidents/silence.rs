//! Silences / maintenance windows (issue 11): by site, rule, prefecture or site kind, with a
//! start, an end, a reason and an author. A silenced incident is still recorded and shown as
//! silenced, but notifies no one. Whether a silence applies is decided by time in [`matches`]
//! (pure), so an expired silence stops applying by itself; `expire` only moves its end to now.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use super::rules::Rule;
use crate::auth::audit::{self, Entry};
use crate::error::{Error, FieldErrors};
use crate::sites::{Actor, PREFECTURES, SiteKind};

/// Longest reason, in characters.
pub const MAX_REASON: usize = 500;

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Silence {
    pub id: i64,
    pub site_id: Option<String>,
    pub rule: Option<Rule>,
    pub prefecture: Option<String>,
    pub kind: Option<SiteKind>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl Silence {
    /// What it silences, in Japanese ("サイト s1・ルール カードリーダー電源断").
    pub fn target_ja(&self) -> String {
        let mut target = Vec::new();
        if let Some(v) = &self.site_id {
            target.push(format!("サイト {v}"));
        }
        if let Some(v) = self.rule {
            target.push(format!("ルール {}", v.label_ja()));
        }
        if let Some(v) = &self.prefecture {
            target.push(v.clone());
        }
        if let Some(v) = self.kind {
            target.push(v.label_ja().to_owned());
        }
        target.join("・")
    }

    /// Inside its window at `now` (the time part of [`matches`]).
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
}

/// What a silence is matched against: the incident's fingerprint and its site's facts.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub site_id: &'a str,
    pub rule: Rule,
    pub prefecture: &'a str,
    pub kind: SiteKind,
}

/// Whether `silence` applies to `target` at `now`: inside its window and every matcher given
/// matches. The window is half-open, `[starts_at, ends_at)`.
pub fn matches(silence: &Silence, target: &Target<'_>, now: DateTime<Utc>) -> bool {
    silence.starts_at <= now
        && now < silence.ends_at
        && silence
            .site_id
            .as_deref()
            .is_none_or(|s| s == target.site_id)
        && silence.rule.is_none_or(|r| r == target.rule)
        && silence
            .prefecture
            .as_deref()
            .is_none_or(|p| p == target.prefecture)
        && silence.kind.is_none_or(|k| k == target.kind)
}

/// The matcher part of [`matches`] in SQL (without the time window): true when silence `sl`
/// names incident `i`, given SQL expressions for the incident's site's prefecture and kind.
/// The one SQL form of the matchers; a macro so that callers can `concat!` it into constant
/// queries. The tests `matches_sql_agrees_with_matches` and `the_silence_sql_agrees_with_
/// silence_matches` (portal handler tests) keep it and [`matches`] together.
#[macro_export]
macro_rules! silence_matches_sql {
    ($prefecture:expr, $kind:expr) => {
        concat!(
            "(sl.site_id IS NULL OR sl.site_id = i.site_id)
     AND (sl.rule IS NULL OR sl.rule = i.rule)
     AND (sl.prefecture IS NULL OR sl.prefecture = ",
            $prefecture,
            ")
     AND (sl.kind IS NULL OR sl.kind = ",
            $kind,
            ")"
        )
    };
}

/// [`silence_matches_sql!`] for a query that joins the incident's site as `s`, for filtering
/// lists in the database.
pub const MATCHES_TARGET_SQL: &str = silence_matches_sql!("s.prefecture", "s.kind");

/// A new silence as entered (API JSON or CLI flags); text fields still to be checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NewSilence {
    pub site_id: Option<String>,
    pub rule: Option<String>,
    pub prefecture: Option<String>,
    pub kind: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub reason: String,
}

/// A checked silence, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSilence {
    pub site_id: Option<String>,
    pub rule: Option<Rule>,
    pub prefecture: Option<String>,
    pub kind: Option<SiteKind>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
}

fn blank_as_none(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl NewSilence {
    /// Checks everything but the site's existence (the store does that). Pure.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<ValidSilence, FieldErrors> {
        let mut errors = FieldErrors::default();
        let site_id = blank_as_none(&self.site_id);
        let prefecture = blank_as_none(&self.prefecture);
        let rule = blank_as_none(&self.rule).and_then(|r| {
            let parsed = Rule::parse(&r);
            if parsed.is_none() {
                let known: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
                errors.add(
                    "rule",
                    format!(
                        "ルール「{r}」はありません。次のいずれかです: {}",
                        known.join(", ")
                    ),
                );
            }
            parsed
        });
        let kind = blank_as_none(&self.kind).and_then(|k| {
            let parsed = SiteKind::ALL.into_iter().find(|x| x.as_str() == k);
            if parsed.is_none() {
                errors.add(
                    "kind",
                    format!(
                        "種別「{k}」はありません。clinic / pharmacy / home_nursing のいずれかです"
                    ),
                );
            }
            parsed
        });
        if let Some(p) = &prefecture
            && !PREFECTURES.contains(&p.as_str())
        {
            errors.add(
                "prefecture",
                format!("都道府県「{p}」が正しくありません（例: 東京都）"),
            );
        }
        if site_id.is_none()
            && self.rule.as_deref().is_none_or(|r| r.trim().is_empty())
            && prefecture.is_none()
            && self.kind.as_deref().is_none_or(|k| k.trim().is_empty())
        {
            errors.add(
                "site_id",
                "対象を一つ以上指定してください（サイト・ルール・都道府県・種別）",
            );
        }
        let starts_at = self.starts_at.unwrap_or(now);
        let ends_at = match self.ends_at {
            None => {
                errors.add(
                    "ends_at",
                    "終了日時を指定してください（RFC 3339、例: 2026-03-02T18:00:00+09:00）",
                );
                starts_at
            }
            Some(end) if end <= starts_at => {
                errors.add("ends_at", "終了日時は開始日時より後にしてください");
                end
            }
            Some(end) if end <= now => {
                errors.add(
                    "ends_at",
                    "終了日時が過去です。これから先の日時を指定してください",
                );
                end
            }
            Some(end) => end,
        };
        let reason = self.reason.trim().to_owned();
        if reason.is_empty() {
            errors.add(
                "reason",
                "理由を入力してください（例: 3/2 院内工事のため停止）",
            );
        } else if let Err(m) = crate::text::check_line("理由", &reason, MAX_REASON) {
            errors.add("reason", m);
        }
        errors.into_result()?;
        Ok(ValidSilence {
            site_id,
            rule,
            prefecture,
            kind,
            starts_at,
            ends_at,
            reason,
        })
    }
}

const COLUMNS: &str = "silence_id AS id, site_id, rule, prefecture, kind, starts_at, ends_at, \
     reason, created_by, created_at";

/// Stores a silence with its audit row; an unknown site is a field error.
pub async fn create(
    pool: &PgPool,
    input: &NewSilence,
    by: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<Silence, Error> {
    let v = input.validate(now)?;
    let mut tx = pool.begin().await?;
    if let Some(site) = &v.site_id {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sites WHERE site_id = $1)")
                .bind(site)
                .fetch_one(&mut *tx)
                .await?;
        if !exists {
            let mut errors = FieldErrors::default();
            errors.add(
                "site_id",
                format!("サイト {site} は登録されていません。サイトIDを確認してください"),
            );
            return Err(errors.into());
        }
    }
    let silence: Silence = sqlx::query_as(&format!(
        "INSERT INTO silences (site_id, rule, prefecture, kind, starts_at, ends_at, reason, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    ))
    .bind(&v.site_id)
    .bind(v.rule)
    .bind(&v.prefecture)
    .bind(v.kind)
    .bind(v.starts_at)
    .bind(v.ends_at)
    .bind(&v.reason)
    .bind(by.actor)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Entry::new(
            by.actor,
            "silence.create",
            format!("silence:{}", silence.id),
        )
        .remote(by.remote)
        .detail(serde_json::to_value(&silence).unwrap_or_default()),
    )
    .await?;
    tx.commit().await?;
    Ok(silence)
}

/// Silences not yet ended at `now` (active or future), or every one with `Scope::All`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Current,
    All,
}

pub async fn list(
    conn: &mut PgConnection,
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<Vec<Silence>, Error> {
    let filter = match scope {
        Scope::Current => "WHERE ends_at > $1",
        Scope::All => "WHERE $1::timestamptz IS NOT NULL",
    };
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM silences {filter} ORDER BY starts_at, silence_id LIMIT 1000"
    ))
    .bind(now)
    .fetch_all(conn)
    .await?)
}

/// Silences that ended within `days` before `now`, latest end first (at most `limit`).
pub async fn recently_ended(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    days: i64,
    limit: i64,
) -> Result<Vec<Silence>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM silences WHERE ends_at <= $1 AND ends_at > $2
         ORDER BY ends_at DESC, silence_id DESC LIMIT $3"
    ))
    .bind(now)
    .bind(now - chrono::Duration::days(days))
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Ends a silence now (audited). Already over: a conflict saying when it ended.
pub async fn expire(
    pool: &PgPool,
    id: i64,
    by: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<Silence, Error> {
    let mut tx = pool.begin().await?;
    let current: Silence = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM silences WHERE silence_id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::NotFound(format!("サイレンス {id}")))?;
    if current.ends_at <= now {
        return Err(Error::Conflict(format!(
            "サイレンス {id} は {} に終了しています",
            current
                .ends_at
                .with_timezone(&crate::desk::JST)
                .format("%Y-%m-%d %H:%M")
        )));
    }
    // A silence that had not started yet ends where it starts (the table wants end > start).
    let silence: Silence = sqlx::query_as(&format!(
        "UPDATE silences SET ends_at = GREATEST($2, starts_at + interval '1 microsecond')
         WHERE silence_id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Entry::new(by.actor, "silence.expire", format!("silence:{id}"))
            .remote(by.remote)
            .detail(serde_json::json!({ "ended_at": silence.ends_at })),
    )
    .await?;
    tx.commit().await?;
    Ok(silence)
}

#[cfg(test)]
mod tests;
