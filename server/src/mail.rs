//! Sending one e-mail over SMTP: the server's only mail sender, used by the
//! notification channels (`notify`) and by vendor escalations.
//!
//! lettre does the protocol and the encodings: a Japanese subject becomes an
//! RFC 2047 encoded word, a Japanese body is sent as UTF-8 in base64 or
//! quoted-printable (7-bit clean, so no 8BITMIME is needed). This module adds
//! what lettre leaves to the caller: the `smtp://` / `smtps://` URL with its
//! TLS mode, validation of every field before anything is sent (a newline in
//! a subject or an address is refused, never encoded), and errors that say
//! what failed and what to check, in Japanese.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use lettre::message::{Mailbox, Message, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::text;

/// Longest subject accepted (characters); mail clients truncate far earlier.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Largest body accepted (bytes of UTF-8): a notification or an escalation
/// is a page of text, and many mail servers refuse messages of a few MB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Most recipients of one mail.
pub const MAX_RECIPIENTS: usize = 50;
/// Longest address, RFC 5321's path limit.
const MAX_ADDRESS_CHARS: usize = 254;
/// Default limit for each SMTP step (connect, each command, the data).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One e-mail to send. Plain text only (UTF-8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mail {
    /// `addr@example.jp` or `表示名 <addr@example.jp>`.
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    /// Message-ID without angle brackets (`id@domain`). Give a stable one (a
    /// delivery's idempotency key) when the same mail may be sent again after a
    /// crash, so that the copies can be recognised; `None`: lettre makes one.
    pub message_id: Option<String>,
}

impl Mail {
    /// Checks every field and builds the message; the error says, in Japanese,
    /// which field is wrong and how.
    pub fn to_message(&self) -> Result<Message, MailError> {
        let invalid = MailError::Invalid;
        let from = parse_address("差出人", &self.from)?;
        if self.to.is_empty() {
            return Err(invalid("宛先を1件以上指定してください".into()));
        }
        if self.to.len() > MAX_RECIPIENTS {
            return Err(invalid(format!(
                "宛先は{MAX_RECIPIENTS}件以内にしてください（{}件あります）",
                self.to.len()
            )));
        }
        text::check_line("件名", &self.subject, MAX_SUBJECT_CHARS).map_err(invalid)?;
        if self.subject.trim().is_empty() {
            return Err(invalid("件名を入力してください".into()));
        }
        check_body(&self.body)?;
        let mut builder = Message::builder()
            .from(from)
            .subject(self.subject.clone())
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(parse_address("宛先", to)?);
        }
        if let Some(id) = &self.message_id {
            check_message_id(id)?;
            builder = builder.message_id(Some(format!("<{id}>")));
        }
        builder
            .body(self.body.clone())
            .map_err(|e| invalid(format!("メールを組み立てられません（{e}）")))
    }
}

/// Parses one address (`addr@example.jp` or `名前 <addr@example.jp>`); `what`
/// names the field in the error.
pub fn parse_address(what: &str, value: &str) -> Result<Mailbox, MailError> {
    text::check_line(what, value, MAX_ADDRESS_CHARS).map_err(MailError::Invalid)?;
    value.trim().parse::<Mailbox>().map_err(|e| {
        MailError::Invalid(format!(
            "{what}のメールアドレス「{value}」が正しくありません（{e}）。例: ops@example.jp"
        ))
    })
}

/// Parses a comma-separated list of addresses (`--to a@x.jp,b@x.jp`).
pub fn parse_address_list(what: &str, value: &str) -> Result<Vec<String>, MailError> {
    let list: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if list.is_empty() {
        return Err(MailError::Invalid(format!(
            "{what}を1件以上指定してください"
        )));
    }
    if list.len() > MAX_RECIPIENTS {
        return Err(MailError::Invalid(format!(
            "{what}は{MAX_RECIPIENTS}件以内にしてください（{}件あります）",
            list.len()
        )));
    }
    for address in &list {
        parse_address(what, address)?;
    }
    Ok(list)
}

fn check_body(body: &str) -> Result<(), MailError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(MailError::TooLarge(format!(
            "本文が大きすぎます（{} バイト、上限 {} バイト）。要点に絞るか、詳細はポータルのリンクで伝えてください",
            body.len(),
            MAX_BODY_BYTES
        )));
    }
    text::check_multiline("本文", body, usize::MAX).map_err(MailError::Invalid)
}

fn check_message_id(id: &str) -> Result<(), MailError> {
    let ok = id.len() <= 200
        && id.contains('@')
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\'));
    if ok {
        Ok(())
    } else {
        Err(MailError::Invalid(format!(
            "Message-ID「{id}」が正しくありません（ASCII の id@domain 形式）"
        )))
    }
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain text: only for a relay on the same host or a trusted network.
    None,
    /// STARTTLS when the server offers it, else plain text (no credentials allowed).
    Opportunistic,
    /// STARTTLS or fail.
    Required,
    /// TLS from the first byte (`smtps://`, usually port 465).
    Implicit,
}

impl SmtpSecurity {
    fn query_value(self) -> &'static str {
        match self {
            SmtpSecurity::None => "none",
            SmtpSecurity::Opportunistic => "opportunistic",
            SmtpSecurity::Required => "required",
            SmtpSecurity::Implicit => "implicit",
        }
    }
}

/// An SMTP server: `smtp://[user[:password]@]host[:port][?tls=none|opportunistic|required]`
/// (port 25, `tls=opportunistic` by default) or `smtps://[user[:password]@]host[:port]`
/// (port 465). Credentials are accepted only with `tls=required` or `smtps://`,
/// so that a password never crosses the network in clear.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    password: Option<String>,
}

impl SmtpUrl {
    /// `host:port`, for messages.
    pub fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl fmt::Display for SmtpUrl {
    /// The URL with the password masked: safe for logs and pages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.security == SmtpSecurity::Implicit {
            "smtps"
        } else {
            "smtp"
        };
        write!(f, "{scheme}://")?;
        if let Some(user) = &self.username {
            write!(f, "{user}:***@")?;
        }
        write!(f, "{}:{}", self.host, self.port)?;
        if scheme == "smtp" {
            write!(f, "?tls={}", self.security.query_value())?;
        }
        Ok(())
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmtpUrl({self})")
    }
}

impl FromStr for SmtpUrl {
    type Err = MailError;

    fn from_str(s: &str) -> Result<Self, MailError> {
        let bad = |why: &str| {
            MailError::Invalid(format!(
                "SMTPサーバーのURL「{}」が正しくありません: {why}。例: smtp://mail.example.jp:587?tls=required、smtps://mail.example.jp",
                mask_password(s)
            ))
        };
        let url = url::Url::parse(s.trim()).map_err(|e| bad(&e.to_string()))?;
        let (default_port, implicit) = match url.scheme() {
            "smtp" => (25, false),
            "smtps" => (465, true),
            _ => return Err(bad("smtp:// か smtps:// で始めてください")),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("ホスト名がありません"))?
            .trim_matches(|c| c == '[' || c == ']')
            .to_owned();
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(bad("パスや # は使えません"));
        }
        let mut security = if implicit {
            SmtpSecurity::Implicit
        } else {
            SmtpSecurity::Opportunistic
        };
        for (key, value) in url.query_pairs() {
            security = match (key.as_ref(), value.as_ref(), implicit) {
                ("tls", "none", false) => SmtpSecurity::None,
                ("tls", "opportunistic", false) => SmtpSecurity::Opportunistic,
                ("tls", "required", false) => SmtpSecurity::Required,
                ("tls", _, true) => return Err(bad("smtps:// は常に TLS です（tls= は不要）")),
                ("tls", _, false) => {
                    return Err(bad(
                        "tls= には none / opportunistic / required を指定してください",
                    ));
                }
                _ => return Err(bad(&format!("不明なパラメーター {key}"))),
            };
        }
        let decode = |v: &str| {
            percent_decode(v).ok_or_else(|| bad("ユーザー名・パスワードの % エンコードが不正です"))
        };
        let username = match url.username() {
            "" => None,
            u => Some(decode(u)?),
        };
        let password = url.password().map(decode).transpose()?;
        if username.is_some()
            && !matches!(security, SmtpSecurity::Required | SmtpSecurity::Implicit)
        {
            return Err(bad(
                "認証情報を使うときは ?tls=required か smtps:// を指定してください（パスワードを平文で送らないため）",
            ));
        }
        Ok(SmtpUrl {
            host,
            port: url.port().unwrap_or(default_port),
            security,
            username,
            password,
        })
    }
}

fn percent_decode(v: &str) -> Option<String> {
    let mut out = Vec::with_capacity(v.len());
    let mut bytes = v.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// The URL as typed with any password replaced by `***`, for error messages.
fn mask_password(s: &str) -> String {
    match url::Url::parse(s.trim()) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => s.to_owned(),
    }
}

/// An SMTP server to send through, with its limits and trusted roots.
#[derive(Clone, Debug)]
pub struct Smtp {
    url: SmtpUrl,
    timeout: Duration,
    extra_roots: Vec<Vec<u8>>,
}

/// What the server said when it accepted a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The server's reply to the data, e.g. `250 OK queued as 1234`.
    pub reply: String,
}

impl Smtp {
    pub fn new(url: SmtpUrl) -> Self {
        Smtp {
            url,
            timeout: DEFAULT_TIMEOUT,
            extra_roots: Vec::new(),
        }
    }

    /// Limit for each step: connecting, the TLS handshake, each command.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Trusts the PEM certificate(s) of a private CA in addition to the
    /// public roots (a relay inside the data centre with its own CA).
    pub fn trust_root_pem(mut self, pem: &[u8]) -> Result<Self, MailError> {
        let unreadable = |why: String| {
            MailError::Invalid(format!(
                "CA証明書（PEM）を読み込めません（{why}）。-----BEGIN CERTIFICATE----- で始まるファイルを指定してください"
            ))
        };
        // lettre reads PEM lazily (no certificate at all is "fine" to it): check
        // that there is one and that rustls accepts it as a root now.
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err(unreadable("証明書がありません".into()));
        }
        let cert = Certificate::from_pem(pem).map_err(|e| unreadable(e.to_string()))?;
        TlsParameters::builder("localhost".into())
            .add_root_certificate(cert)
            .build_rustls()
            .map_err(|e| unreadable(error_chain(&e)))?;
        self.extra_roots.push(pem.to_vec());
        Ok(self)
    }

    pub fn url(&self) -> &SmtpUrl {
        &self.url
    }

    /// Validates `mail`, then sends it: `Ok` once the server has accepted the
    /// data. Nothing is sent when validation fails.
    pub async fn send(&self, mail: &Mail) -> Result<Sent, MailError> {
        let message = mail.to_message()?;
        let transport = self.transport()?;
        // lettre's timeout applies per step; the whole exchange is bounded too,
        // so a server that trickles replies cannot hold a worker forever.
        let whole = self.timeout * 3;
        let result = tokio::time::timeout(whole, transport.send(message)).await;
        let server = self.url.server();
        match result {
            Ok(Ok(response)) => Ok(Sent {
                reply: format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ),
            }),
            Ok(Err(e)) => Err(classify(&server, self.timeout, &e)),
            Err(_) => Err(MailError::Timeout {
                server,
                secs: whole.as_secs(),
            }),
        }
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
        let tls = match self.url.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::Opportunistic => Tls::Opportunistic(self.tls_parameters()?),
            SmtpSecurity::Required => Tls::Required(self.tls_parameters()?),
            SmtpSecurity::Implicit => Tls::Wrapper(self.tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.url.host)
            .port(self.url.port)
            .tls(tls)
            .timeout(Some(self.timeout));
        if let Some(user) = &self.url.username {
            let password = self.url.password.clone().unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(builder.build())
    }

    fn tls_parameters(&self) -> Result<TlsParameters, MailError> {
        let mut params = TlsParameters::builder(self.url.host.clone());
        for pem in &self.extra_roots {
            let cert = Certificate::from_pem(pem)
                .map_err(|e| MailError::Invalid(format!("CA証明書を読み込めません（{e}）")))?;
            params = params.add_root_certificate(cert);
        }
        params.build_rustls().map_err(|e| MailError::Tls {
            server: self.url.server(),
            detail: error_chain(&e),
        })
    }
}

/// Why a mail was not sent. The message is Japanese, names the server and
/// says what to check; [`MailError::is_permanent`] tells a retry loop
/// whether sending again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The mail or the settings are wrong: fix them before sending again.
    #[error("{0}")]
    Invalid(String),
    /// The body is over [`MAX_BODY_BYTES`].
    #[error("{0}")]
    TooLarge(String),
    #[error(
        "SMTPサーバー {server} に接続できません（{detail}）。アドレスとポート、サーバーが起動しているか、ファイアウォールを確認してください"
    )]
    Connect { server: String, detail: String },
    #[error(
        "SMTPサーバー {server} との TLS 接続に失敗しました（{detail}）。サーバー証明書とホスト名、TLS の設定（?tls=、smtps://）を確認してください"
    )]
    Tls { server: String, detail: String },
    #[error(
        "SMTPサーバー {server} が {secs} 秒以内に応答しませんでした。サーバーの状態とネットワークを確認してください"
    )]
    Timeout { server: String, secs: u64 },
    /// The server answered with a 4xx (temporary) or 5xx (permanent) reply.
    #[error(
        "SMTPサーバー {server} が送信を拒否しました（{code} {reply}）。宛先・差出人のアドレスと、このサーバーからの送信・認証の設定を確認してください"
    )]
    Rejected {
        server: String,
        code: u16,
        reply: String,
    },
    #[error("SMTPサーバー {server} との通信に失敗しました（{detail}）")]
    Protocol { server: String, detail: String },
}

impl MailError {
    /// Sending the same mail again cannot succeed: bad input, or a 5xx reply
    /// (unknown recipient, relay denied, authentication refused).
    pub fn is_permanent(&self) -> bool {
        match self {
            MailError::Invalid(_) | MailError::TooLarge(_) => true,
            MailError::Rejected { code, .. } => *code >= 500,
            _ => false,
        }
    }
}

impl From<MailError> for crate::error::Error {
    fn from(e: MailError) -> Self {
        use crate::error::Error;
        match e {
            MailError::Invalid(m) => Error::InvalidArgument(m),
            MailError::TooLarge(m) => Error::ResourceExhausted(m),
            other => Error::Upstream(other.to_string()),
        }
    }
}

fn classify(server: &str, timeout: Duration, e: &lettre::transport::smtp::Error) -> MailError {
    let server = server.to_owned();
    let detail = error_chain(e);
    if e.is_timeout() {
        return MailError::Timeout {
            server,
            secs: timeout.as_secs(),
        };
    }
    if let Some(code) = e.status() {
        let code: u16 = code.to_string().parse().unwrap_or(0);
        let reply = e
            .source_text()
            .unwrap_or_else(|| detail.clone())
            .replace(['\r', '\n'], " ");
        return MailError::Rejected {
            server,
            code,
            reply,
        };
    }
    if e.is_tls()
        || ["certificate", "TLS", "STARTTLS", "tls"]
            .iter()
            .any(|w| detail.contains(w))
    {
        return MailError::Tls { server, detail };
    }
    let connect = detail.contains("onnection refused")
        || detail.contains("Connection error")
        || detail.contains("resolve")
        || detail.contains("unreachable")
        || detail.contains("No route");
    if connect {
        MailError::Connect { server, detail }
    } else {
        MailError::Protocol { server, detail }
    }
}

trait SourceText {
    fn source_text(&self) -> Option<String>;
}

impl SourceText for lettre::transport::smtp::Error {
    /// The server's reply text of a 4xx/5xx error.
    fn source_text(&self) -> Option<String> {
        std::error::Error::source(self).map(|s| s.to_string())
    }
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let s = cause.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[path = "mail_tests.rs"]
mod tests;
