//! `smtp://` and `smtps://` URLs: host, port, TLS mode and credentials, parsed once and
//! shown with the password masked.

use std::fmt;
use std::str::FromStr;

use super::MailError;

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
    pub(super) password: Option<String>,
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
