//! Notification channels: a webhook (signed JSON POST) or an SMTP mail. Validation is pure
//! ([`NewChannel::validate`]); the store functions are the only writers of `notify_channels`,
//! each with its audit row in the same transaction. Secrets are never shown after creation.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::model::ChannelKind;
use crate::auth::audit::{self, Entry};
use crate::error::{Error, FieldErrors};
use crate::mail::{self, SmtpUrl};
use crate::sites::{Actor, Health};

/// Shortest webhook secret accepted: the receiver checks an HMAC made with it.
pub const MIN_SECRET_CHARS: usize = 16;

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Channel {
    #[sqlx(rename = "channel_id")]
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    pub min_severity: Health,
    pub url: Option<String>,
    #[serde(skip)]
    pub secret: Option<String>,
    #[serde(skip)]
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub mail_to: Option<Vec<String>>,
    pub group_seconds: i32,
    pub repeat_minutes: i32,
    pub max_attempts: i32,
    pub timeout_seconds: i32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl Channel {
    /// Where it sends, safe to show: the URL, or the SMTP server (password masked) and the
    /// recipients.
    pub fn destination(&self) -> String {
        match self.kind {
            ChannelKind::Webhook => self.url.clone().unwrap_or_default(),
            ChannelKind::Smtp => {
                let server = self
                    .smtp_url
                    .as_deref()
                    .and_then(|u| u.parse::<SmtpUrl>().ok())
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                format!(
                    "{} → {}",
                    server,
                    self.mail_to.clone().unwrap_or_default().join(", ")
                )
            }
        }
    }
}

/// A channel as entered (CLI flags or the admin form).
#[derive(Debug, Clone, Default)]
pub struct NewChannel {
    pub name: String,
    pub kind: Option<ChannelKind>,
    pub min_severity: Option<Health>,
    pub url: Option<String>,
    pub secret: Option<String>,
    pub smtp_url: Option<String>,
    pub from: Option<String>,
    /// Comma-separated addresses.
    pub to: Option<String>,
    pub group_seconds: Option<i32>,
    pub repeat_minutes: Option<i32>,
    pub max_attempts: Option<i32>,
    pub timeout_seconds: Option<i32>,
}

/// A checked channel, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidChannel {
    pub name: String,
    pub kind: ChannelKind,
    pub min_severity: Health,
    pub url: Option<String>,
    pub secret: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub mail_to: Vec<String>,
    pub group_seconds: i32,
    pub repeat_minutes: i32,
    pub max_attempts: i32,
    pub timeout_seconds: i32,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn in_range(
    errors: &mut FieldErrors,
    field: &'static str,
    label: &str,
    value: Option<i32>,
    default: i32,
    range: std::ops::RangeInclusive<i32>,
) -> i32 {
    let v = value.unwrap_or(default);
    if !range.contains(&v) {
        errors.add(
            field,
            format!(
                "{label}は {} 〜 {} で指定してください（{v} が指定されました）",
                range.start(),
                range.end()
            ),
        );
    }
    v
}

/// A webhook URL: http(s), a host, no credentials (the signature authenticates), no fragment.
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    crate::text::check_line("URL", url, 2000)?;
    let example = "例: https://hooks.example.jp/onshi";
    let parsed = url::Url::parse(url)
        .map_err(|e| format!("URL「{url}」が正しくありません（{e}）。{example}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "URL は http:// か https:// で始めてください（{example}）"
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("URL にホスト名がありません（{example}）"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "URL に認証情報（user:pass@）は入れないでください。受信側は署名で送信元を確認します"
                .into(),
        );
    }
    if parsed.fragment().is_some() {
        return Err("URL に # 以降は使えません".into());
    }
    Ok(())
}

impl NewChannel {
    pub fn validate(&self) -> Result<ValidChannel, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = self.name.trim().to_owned();
        if name.is_empty() {
            errors.add("name", "チャネル名を入力してください（例: ops-slack）");
        } else if let Err(m) = crate::text::check_line("チャネル名", &name, 64) {
            errors.add("name", m);
        }
        let min_severity = self.min_severity.unwrap_or(Health::Warning);
        if min_severity == Health::Ok {
            errors.add(
                "min_severity",
                "最低重大度は info / warning / critical から選んでください",
            );
        }
        let group_seconds = in_range(
            &mut errors,
            "group_seconds",
            "集約時間（秒）",
            self.group_seconds,
            60,
            0..=3600,
        );
        let repeat_minutes = in_range(
            &mut errors,
            "repeat_minutes",
            "再通知間隔（分）",
            self.repeat_minutes,
            0,
            0..=10080,
        );
        let max_attempts = in_range(
            &mut errors,
            "max_attempts",
            "最大試行回数",
            self.max_attempts,
            8,
            1..=100,
        );
        let timeout_seconds = in_range(
            &mut errors,
            "timeout_seconds",
            "タイムアウト（秒）",
            self.timeout_seconds,
            10,
            1..=300,
        );
        let mut valid = ValidChannel {
            name,
            kind: ChannelKind::Webhook,
            min_severity,
            url: None,
            secret: None,
            smtp_url: None,
            mail_from: None,
            mail_to: Vec::new(),
            group_seconds,
            repeat_minutes,
            max_attempts,
            timeout_seconds,
        };
        match self.kind {
            None => errors.add("kind", "種類（webhook または smtp）を選んでください"),
            Some(ChannelKind::Webhook) => self.webhook(&mut valid, &mut errors),
            Some(ChannelKind::Smtp) => self.smtp(&mut valid, &mut errors),
        }
        errors.into_result()?;
        Ok(valid)
    }

    fn webhook(&self, valid: &mut ValidChannel, errors: &mut FieldErrors) {
        valid.kind = ChannelKind::Webhook;
        for (field, value) in [
            ("smtp_url", &self.smtp_url),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if given(value).is_some() {
                errors.add(field, format!("Webhook チャネルには {field} は使えません"));
            }
        }
        match given(&self.url) {
            None => errors.add(
                "url",
                "送信先 URL を入力してください（例: https://hooks.example.jp/onshi）",
            ),
            Some(url) => match check_webhook_url(&url) {
                Ok(()) => valid.url = Some(url),
                Err(m) => errors.add("url", m),
            },
        }
        match given(&self.secret) {
            None => errors.add(
                "secret",
                format!("署名用のシークレットを入力してください（{MIN_SECRET_CHARS}文字以上）"),
            ),
            Some(s) if s.chars().count() < MIN_SECRET_CHARS => errors.add(
                "secret",
                format!("シークレットは推測されにくい{MIN_SECRET_CHARS}文字以上にしてください"),
            ),
            Some(s) => match crate::text::check_line("シークレット", &s, 256) {
                Ok(()) => valid.secret = Some(s),
                Err(m) => errors.add("secret", m),
            },
        }
    }

    fn smtp(&self, valid: &mut ValidChannel, errors: &mut FieldErrors) {
        valid.kind = ChannelKind::Smtp;
        for (field, value) in [("url", &self.url), ("secret", &self.secret)] {
            if given(value).is_some() {
                errors.add(field, format!("メールチャネルには {field} は使えません"));
            }
        }
        match given(&self.smtp_url) {
            None => errors.add("smtp_url", "SMTP サーバーの URL を入力してください（例: smtp://mail.example.jp:587?tls=required）"),
            Some(u) => match u.parse::<SmtpUrl>() {
                Ok(_) => valid.smtp_url = Some(u),
                Err(e) => errors.add("smtp_url", e.to_string()),
            },
        }
        match given(&self.from) {
            None => errors.add(
                "from",
                "差出人アドレスを入力してください（例: onshi-fleet@example.jp）",
            ),
            Some(f) => match mail::parse_address("差出人", &f) {
                Ok(_) => valid.mail_from = Some(f),
                Err(e) => errors.add("from", e.to_string()),
            },
        }
        match given(&self.to) {
            None => errors.add("to", "宛先アドレスを入力してください（複数はカンマ区切り）"),
            Some(t) => match mail::parse_address_list("宛先", &t) {
                Ok(list) => valid.mail_to = list,
                Err(e) => errors.add("to", e.to_string()),
            },
        }
    }
}

const COLUMNS: &str = "channel_id, name, kind, min_severity, url, secret, smtp_url, mail_from, mail_to, \
     group_seconds, repeat_minutes, max_attempts, timeout_seconds, created_by, created_at";

pub async fn list(conn: &mut PgConnection) -> Result<Vec<Channel>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM notify_channels ORDER BY name"
    ))
    .fetch_all(conn)
    .await?)
}

pub async fn get(conn: &mut PgConnection, name: &str) -> Result<Channel, Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM notify_channels WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| {
        Error::NotFound(format!(
            "チャネル「{name}」（channel list で確認してください）"
        ))
    })
}

pub async fn get_by_id(conn: &mut PgConnection, id: i64) -> Result<Option<Channel>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM notify_channels WHERE channel_id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Stores a checked channel with its audit row (the secret is not in the audit detail).
pub async fn create(pool: &PgPool, c: &ValidChannel, by: Actor<'_>) -> Result<i64, Error> {
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO notify_channels (name, kind, min_severity, url, secret, smtp_url, mail_from, mail_to,
             group_seconds, repeat_minutes, max_attempts, timeout_seconds, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING channel_id",
    )
    .bind(&c.name)
    .bind(c.kind)
    .bind(c.min_severity)
    .bind(&c.url)
    .bind(&c.secret)
    .bind(&c.smtp_url)
    .bind(&c.mail_from)
    .bind((c.kind == ChannelKind::Smtp).then_some(&c.mail_to))
    .bind(c.group_seconds)
    .bind(c.repeat_minutes)
    .bind(c.max_attempts)
    .bind(c.timeout_seconds)
    .bind(by.actor)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict(format!(
            "チャネル「{}」は既にあります。別の名前にするか、先に channel remove で削除してください",
            c.name
        )),
        _ => Error::Sqlx(e),
    })?;
    let destination = match c.kind {
        ChannelKind::Webhook => c.url.clone().unwrap_or_default(),
        ChannelKind::Smtp => c
            .smtp_url
            .as_deref()
            .and_then(|u| u.parse::<SmtpUrl>().ok())
            .map(|u| format!("{u} → {}", c.mail_to.join(", ")))
            .unwrap_or_default(),
    };
    audit::record(
        &mut tx,
        Entry::new(
            by.actor,
            "notify.channel_add",
            format!("channel:{}", c.name),
        )
        .remote(by.remote)
        .detail(serde_json::json!({
            "kind": c.kind, "destination": destination, "min_severity": c.min_severity,
            "group_seconds": c.group_seconds, "repeat_minutes": c.repeat_minutes,
        })),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(channel = %c.name, kind = c.kind.as_str(), actor = by.actor, "notification channel added");
    Ok(id)
}

/// Removes a channel, audited. Its undelivered messages are dead-lettered with the reason
/// (kept and visible, never silently dropped); delivered ones stay in the history.
pub async fn remove(pool: &PgPool, name: &str, by: Actor<'_>) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let id: Option<i64> =
        sqlx::query_scalar("DELETE FROM notify_channels WHERE name = $1 RETURNING channel_id")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    if id.is_none() {
        return Err(Error::NotFound(format!(
            "チャネル「{name}」（channel list で確認してください）"
        )));
    }
    let orphaned = sqlx::query(
        "UPDATE notify_deliveries SET state = 'dead', updated_at = now(),
             last_error = 'チャネルが削除されたため送信しませんでした'
         WHERE channel_id IS NULL AND channel_name = $1 AND state IN ('grouping', 'pending', 'retrying')",
    )
    .bind(name)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    audit::record(
        &mut tx,
        Entry::new(by.actor, "notify.channel_remove", format!("channel:{name}"))
            .remote(by.remote)
            .detail(serde_json::json!({ "undelivered_dead_lettered": orphaned })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
#[path = "channel_tests.rs"]
mod tests;
