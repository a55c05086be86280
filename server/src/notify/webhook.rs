//! Webhook delivery: a JSON POST signed with the channel's secret.
//!
//! Headers of every request (docs/notifications.md shows a receiver that checks them):
//! - `X-Onshi-Timestamp`: Unix seconds when this try was signed;
//! - `X-Onshi-Signature`: `sha256=` + lowercase hex of HMAC-SHA256(secret,
//!   `"{timestamp}.{body}"`) — the timestamp, a full stop, the exact body bytes;
//! - `Idempotency-Key`: the message's UUID, the same on every try of the same message
//!   (after a crash too), so a receiver can drop a second copy;
//! - `Content-Type: application/json; charset=utf-8`.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::deliver::Failure;

pub const SIGNATURE_HEADER: &str = "X-Onshi-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Onshi-Timestamp";
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts a key of any length.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Onshi-Signature` value for `body` signed at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Whether `signature` (the header's value) is right, compared in constant time.
pub fn verify(secret: &str, timestamp: i64, body: &[u8], signature: &str) -> bool {
    let Some(hex_sig) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(bytes) = hex::decode(hex_sig) else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&bytes).is_ok()
}

/// A client for webhooks: no redirects followed (a 3xx is a failure to fix, not a hop to an
/// unchecked host), no proxy from the environment, our name in `User-Agent`.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("onshi-fleet/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .build()
}

/// One POST; `Ok` with the status line on a 2xx answer.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    key: &str,
    body: Vec<u8>,
    timestamp: i64,
    timeout: Duration,
) -> Result<String, Failure> {
    let signature = sign(secret, timestamp, &body);
    let sent = client
        .post(url)
        .timeout(timeout)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature)
        .header(IDEMPOTENCY_HEADER, key)
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => return Err(transport_failure(url, timeout, &e)),
    };
    let status = response.status();
    if status.is_success() {
        return Ok(format!("HTTP {status}"));
    }
    let text = response.text().await.unwrap_or_default();
    let excerpt: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    Err(status_failure(url, status.as_u16(), &excerpt))
}

/// A non-2xx answer. 4xx other than 408/425/429 cannot heal by retrying (wrong URL, signature
/// refused, payload refused): dead-lettered at once for an admin to fix and retry.
pub fn status_failure(url: &str, status: u16, excerpt: &str) -> Failure {
    let permanent = (400..500).contains(&status) && !matches!(status, 408 | 425 | 429);
    let hint = match status {
        300..=399 => {
            "転送（リダイレクト）には従いません。転送先の URL をチャネルに設定してください"
        }
        401 | 403 => {
            "受信側が署名またはアクセスを拒否しました。シークレットと受信側の設定を確認してください"
        }
        404 | 410 => "URL が見つかりません。チャネルの URL を確認してください",
        400..=499 => "受信側が内容を拒否しました。受信側のログを確認してください",
        _ => "受信側のエラーです。時間をおいて自動で再送します",
    };
    Failure {
        message: format!("Webhook {url} が HTTP {status} を返しました（{excerpt}）。{hint}"),
        permanent,
    }
}

fn transport_failure(url: &str, timeout: Duration, e: &reqwest::Error) -> Failure {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    let message = if e.is_timeout() {
        format!(
            "Webhook {url} が {} 秒以内に応答しませんでした。受信側の状態を確認してください（自動で再送します）",
            timeout.as_secs()
        )
    } else if e.is_connect() {
        format!(
            "Webhook {url} に接続できません（{detail}）。URL、受信側が起動しているか、ファイアウォールを確認してください（自動で再送します）"
        )
    } else {
        format!("Webhook {url} への送信に失敗しました（{detail}）")
    };
    Failure {
        message,
        permanent: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_timestamp_and_body() {
        let body = br#"{"kind":"opened"}"#;
        let sig = sign("0123456789abcdef", 1_772_400_000, body);
        assert!(sig.starts_with("sha256="));
        assert_eq!(sig.len(), "sha256=".len() + 64);
        assert!(verify("0123456789abcdef", 1_772_400_000, body, &sig));
        assert!(!verify("0123456789abcdeX", 1_772_400_000, body, &sig));
        assert!(!verify("0123456789abcdef", 1_772_400_001, body, &sig));
        assert!(!verify("0123456789abcdef", 1_772_400_000, b"{}", &sig));
        assert!(!verify(
            "0123456789abcdef",
            1_772_400_000,
            body,
            "sha256=zz"
        ));
        assert!(!verify("0123456789abcdef", 1_772_400_000, body, &sig[7..]));
    }

    #[test]
    fn known_answer() {
        // printf '%s' '1700000000.{}' | openssl dgst -sha256 -hmac 'secret-secret-16'
        assert_eq!(
            sign("secret-secret-16", 1_700_000_000, b"{}"),
            "sha256=1e90ede544640b565decc9712e3b08cbaee207bc3a885da19d18e2f314d94e17"
        );
    }

    #[test]
    fn which_statuses_are_worth_retrying() {
        for s in [500, 502, 503, 408, 425, 429] {
            assert!(!status_failure("u", s, "").permanent, "{s}");
        }
        for s in [400, 401, 403, 404, 410, 422] {
            assert!(status_failure("u", s, "").permanent, "{s}");
        }
        assert!(
            status_failure("u", 401, "")
                .message
                .contains("シークレット")
        );
        assert!(
            status_failure("u", 302, "")
                .message
                .contains("リダイレクト")
        );
    }
}
