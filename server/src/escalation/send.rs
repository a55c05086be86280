//! Sending a drafted mail: claim the draft (committed), hand it to the SMTP server through the
//! shared mail sender (`crate::mail`), then commit 依頼済 with its due time — or the failure,
//! with the draft kept for another try or a phone call.

use chrono::Utc;
use sqlx::PgPool;

use super::query::{self, Escalation};
use super::store::{self, SendResult};
use crate::error::Error;
use crate::mail::{self, Mail, MailError, Smtp, SmtpUrl};
use crate::sites::Actor;

/// `--escalation-smtp-url`, `--escalation-mail-from`, `--escalation-smtp-ca-file` (serve,
/// demo, `escalation send`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MailArgs {
    /// SMTP server for escalation mail to vendors: smtp://HOST:PORT[?tls=none|opportunistic|required]
    /// or smtps://HOST:PORT (user:password@ only with TLS). Unset: escalation mail is off
    /// (calls can still be recorded).
    #[arg(long, env = "ONSHI_ESCALATION_SMTP_URL")]
    pub escalation_smtp_url: Option<String>,
    /// From address of escalation mail (the maintenance desk's mailbox; vendors reply there).
    #[arg(long, env = "ONSHI_ESCALATION_MAIL_FROM")]
    pub escalation_mail_from: Option<String>,
    /// PEM file of a private CA that signed the SMTP server's certificate (besides the public
    /// roots).
    #[arg(long, env = "ONSHI_ESCALATION_SMTP_CA_FILE")]
    pub escalation_smtp_ca_file: Option<std::path::PathBuf>,
}

/// The configured transport for escalation mail: the shared SMTP sender and our address.
#[derive(Debug, Clone)]
pub struct Sender {
    smtp: Smtp,
    from: String,
    /// Domain of the From address, for stable Message-IDs.
    domain: String,
}

impl Sender {
    /// The sender the flags describe; an error names the flag that is missing or wrong.
    pub fn from_args(args: &MailArgs) -> Result<Sender, Error> {
        let (Some(url), Some(from)) = (&args.escalation_smtp_url, &args.escalation_mail_from)
        else {
            return Err(not_configured());
        };
        let flag = |name: &str, e: MailError| Error::InvalidArgument(format!("{name}: {e}"));
        let url: SmtpUrl = url.parse().map_err(|e| flag("--escalation-smtp-url", e))?;
        let mailbox =
            mail::parse_address("差出人", from).map_err(|e| flag("--escalation-mail-from", e))?;
        let mut smtp = Smtp::new(url);
        if let Some(path) = &args.escalation_smtp_ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                Error::InvalidArgument(format!(
                    "--escalation-smtp-ca-file: {} を読めません（{e}）",
                    path.display()
                ))
            })?;
            smtp = smtp
                .trust_root_pem(&pem)
                .map_err(|e| flag("--escalation-smtp-ca-file", e))?;
        }
        Ok(Sender {
            smtp,
            from: from.trim().to_owned(),
            domain: mailbox.email.domain().to_owned(),
        })
    }

    /// `None` when no SMTP URL is given (mail off); an error when the settings are wrong.
    pub fn optional(args: &MailArgs) -> Result<Option<Sender>, Error> {
        match args.escalation_smtp_url {
            None => Ok(None),
            Some(_) => Sender::from_args(args).map(Some),
        }
    }

    /// Hands the mail to the SMTP server. The Message-ID is stable per escalation, so a mail
    /// sent again after an unknown outcome can be recognised as the same request.
    async fn deliver(&self, out: &store::Outgoing) -> SendResult {
        let message_id = format!(
            "escalation-{}.incident-{}@{}",
            out.escalation_id, out.incident_id, self.domain
        );
        let mail = Mail {
            from: self.from.clone(),
            to: vec![out.to.clone()],
            subject: out.subject.clone(),
            body: out.body.clone(),
            message_id: Some(message_id.clone()),
        };
        match self.smtp.send(&mail).await {
            Ok(sent) => SendResult::Sent {
                message_id: Some(message_id),
                reply: sent.reply,
            },
            // The data may have reached the server before the line went quiet.
            Err(e @ (MailError::Timeout { .. } | MailError::Protocol { .. })) => {
                SendResult::Unknown {
                    error: e.to_string(),
                }
            }
            Err(e) => SendResult::Failed {
                error: e.to_string(),
            },
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

/// Sends escalation `eid` of incident `incident_id` (a draft mail) once, through `sender`
/// (`None`: mail is not configured, said after the case's own problems).
pub async fn send(
    pool: &PgPool,
    sender: Option<&Sender>,
    incident_id: i64,
    eid: i64,
    confirm_resend: bool,
    by: Actor<'_>,
) -> Result<Escalation, Error> {
    store::precheck_send(pool, incident_id, eid, confirm_resend).await?;
    let sender = configured(sender)?;
    let out = store::begin_send(pool, incident_id, eid, confirm_resend, by, Utc::now()).await?;
    let result = sender.deliver(&out).await;
    store::finish_send(pool, &out, &result, by, Utc::now()).await?;
    match result {
        SendResult::Failed { error } => {
            tracing::warn!(incident = incident_id, escalation = eid, %error, "escalation mail not sent");
            return Err(Error::Upstream(format!(
                "メールを送信できませんでした: {error}。下書きはそのまま残っています。設定を確認して再度送信するか、電話で連絡して記録してください"
            )));
        }
        SendResult::Unknown { error } => {
            tracing::warn!(incident = incident_id, escalation = eid, %error, "escalation mail outcome unknown");
            return Err(Error::Upstream(format!(
                "メールの送信結果が不明です: {error}。届いている可能性があります。宛先に届いたか確認してから、必要なら再送の確認を付けて送信してください"
            )));
        }
        SendResult::Sent { .. } => {}
    }
    tracing::info!(incident = incident_id, escalation = eid, to = %out.to, "escalation mail sent");
    let mut conn = pool.acquire().await?;
    query::get(&mut conn, incident_id, eid, Utc::now()).await
}
