//! Extractors for handlers: forms and query strings whose rejections are the crate's `Error`
//! in Japanese (never axum's English text), and the caller's address. A NUL in any field is
//! refused here: PostgreSQL cannot store it, so it would otherwise surface as a 500.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::guard::MAX_FORM_BYTES;
use crate::error::Error;

/// A URL-encoded form body, checked for NUL and decoded into `T`.
pub struct AppForm<T>(pub T);

/// A query string, checked for NUL and decoded into `T`.
pub struct AppQuery<T>(pub T);

/// The caller's IP address (empty when unknown), for the audit log and login throttling.
pub struct Remote(pub String);

/// The first field whose name or value holds a NUL, if any.
fn field_with_nul(pairs: &[(String, String)]) -> Option<&str> {
    pairs
        .iter()
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        .map(|(k, _)| k.as_str())
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Error> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).map_err(|_| {
        Error::InvalidArgument(format!(
            "{what}を読み取れません。ページを開き直してから入力してください"
        ))
    })?;
    if let Some(field) = field_with_nul(&pairs) {
        tracing::warn!(field = %field.replace('\0', "\\0"), "input with NUL refused");
        return Err(Error::InvalidArgument(format!(
            "{what}の「{}」に制御文字（NUL）が含まれています。入力し直してください",
            field.replace('\0', "")
        )));
    }
    serde_urlencoded::from_bytes(bytes).map_err(|e| {
        tracing::info!(error = %e, "input refused");
        Error::InvalidArgument(format!(
            "{what}の値が正しくありません。選択肢から選ぶか、入力し直してください"
        ))
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppForm<T> {
    type Rejection = Error;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Error> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                Error::ResourceExhausted(format!(
                    "入力が大きすぎます（上限 {} KiB）。内容を減らしてください",
                    MAX_FORM_BYTES / 1024
                ))
            })?;
        decode(&bytes, "入力").map(AppForm)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        let query = parts.uri.query().unwrap_or("");
        decode(query.as_bytes(), "URL の条件").map(AppQuery)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Remote {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default();
        Ok(Remote(addr))
    }
}

/// Rows per list page.
pub const PAGE_SIZE: i64 = 100;
/// Highest page number accepted: far beyond any fleet, and `page × PAGE_SIZE` cannot overflow.
pub const MAX_PAGE: i64 = 100_000;

/// `?page=N` of a list.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageParam {
    #[serde(default)]
    page: Option<String>,
}

impl PageParam {
    /// The page number (1 when absent), or a Japanese error naming the allowed range.
    pub fn number(&self) -> Result<i64, Error> {
        let Some(raw) = self
            .page
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        else {
            return Ok(1);
        };
        raw.parse::<i64>()
            .ok()
            .filter(|p| (1..=MAX_PAGE).contains(p))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "ページ番号は 1〜{MAX_PAGE} の整数で指定してください"
                ))
            })
    }

    /// Rows to skip for `page`.
    pub fn offset(page: i64) -> i64 {
        (page - 1) * PAGE_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers_out_of_range_are_refused() {
        let p = |s: &str| PageParam {
            page: Some(s.into()),
        };
        assert_eq!(PageParam::default().number().unwrap(), 1);
        assert_eq!(p("3").number().unwrap(), 3);
        for bad in ["0", "-1", "abc", "9223372036854775807", "100001"] {
            let err = p(bad).number().unwrap_err().to_string();
            assert!(err.contains("ページ番号"), "{bad}: {err}");
        }
        assert_eq!(PageParam::offset(MAX_PAGE), (MAX_PAGE - 1) * PAGE_SIZE);
    }

    #[test]
    fn nul_in_any_field_is_refused_in_japanese() {
        #[derive(serde::Deserialize, Debug)]
        struct F {
            #[allow(dead_code)]
            name: String,
        }
        let err = decode::<F>(b"name=a%00b", "入力").unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
        assert!(err.to_string().contains("「name」に制御文字"), "{err}");
        assert!(decode::<F>(b"name=ok", "入力").is_ok());
    }
}
