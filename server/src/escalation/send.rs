//! Sending a drafted mail: claim the draft (committed), hand it to the SMTP server through the
//! shared mail sender (`crate::mail`), then commit 依頼済 with its due time — or the failure,
//! with the draft kept for another try or a phone call.

use chrono::Utc;
use sqlx::PgPool;

use super::query::{self, Escalation};
use super::store::{self, SendResult};
use crate::error::Error;
use crate::sites::Actor;

/// `--escalation-smtp-url` and `--escalation-mail-from` (serve, demo, `escalation send`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MailArgs {
    /// SMTP server for escalation mail to vendors, e.g. smtp://mail.internal:587
    /// (smtps:// for implicit TLS). Unset: escalation mail cannot be sent (calls can be
    /// recorded).
    #[arg(long, env = "ONSHI_ESCALATION_SMTP_URL")]
    pub escalation_smtp_url: Option<String>,
    /// From address of escalation mail (the maintenance desk's mailbox; replies go there).
    #[arg(long, env = "ONSHI_ESCALATION_MAIL_FROM")]
    pub escalation_mail_from: Option<String>,
}

/// The configured transport for escalation mail.
#[derive(Debug, Clone)]
pub struct Sender {
    pub smtp_url: String,
    pub from: String,
}

impl Sender {
    /// The sender the flags describe; an error says which flag is missing or wrong.
    pub fn from_args(args: &MailArgs) -> Result<Sender, Error> {
        match (&args.escalation_smtp_url, &args.escalation_mail_from) {
            (Some(url), Some(from)) => Ok(Sender {
                smtp_url: url.clone(),
                from: from.clone(),
            }),
            _ => Err(not_configured()),
        }
    }

    /// `None` when neither flag is given (mail off); an error when only one is.
    pub fn optional(args: &MailArgs) -> Result<Option<Sender>, Error> {
        match (&args.escalation_smtp_url, &args.escalation_mail_from) {
            (None, None) => Ok(None),
            _ => Sender::from_args(args).map(Some),
        }
    }

    async fn deliver(&self, _out: &store::Outgoing) -> SendResult {
        SendResult::Failed {
            error: "mail module not merged yet".into(),
        }
    }
}

fn not_configured() -> Error {
    Error::Upstream(
        "エスカレーションのメール送信が設定されていません（--escalation-smtp-url と --escalation-mail-from）。電話で連絡して記録するか、管理者に設定を依頼してください".into(),
    )
}

/// The sender, or the error that says mail is not set up.
pub fn configured(sender: Option<&Sender>) -> Result<&Sender, Error> {
    sender.ok_or_else(not_configured)
}

/// Sends escalation `eid` of incident `incident_id` (a draft mail) once.
pub async fn send(
    pool: &PgPool,
    sender: &Sender,
    incident_id: i64,
    eid: i64,
    confirm_resend: bool,
    by: Actor<'_>,
) -> Result<Escalation, Error> {
    let out = store::begin_send(pool, incident_id, eid, confirm_resend, by, Utc::now()).await?;
    let result = sender.deliver(&out).await;
    store::finish_send(pool, &out, &result, by, Utc::now()).await?;
    if let SendResult::Failed { error } = result {
        tracing::warn!(incident = incident_id, escalation = eid, %error, "escalation mail not sent");
        return Err(Error::Upstream(format!(
            "メールを送信できませんでした: {error}。下書きはそのまま残っています。設定を確認して再度送信するか、電話で連絡して記録してください"
        )));
    }
    tracing::info!(incident = incident_id, escalation = eid, to = %out.to, "escalation mail sent");
    let mut conn = pool.acquire().await?;
    query::get(&mut conn, incident_id, eid, Utc::now()).await
}
