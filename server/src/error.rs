//! The server crate's one error type, mapped to HTTP status and to gRPC
//! status in one place each. Internal details are logged, never shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input the caller must fix; the message says what and how.
    #[error("{0}")]
    InvalidArgument(String),
    /// Form or JSON input with problems at named fields (each message in Japanese).
    #[error("{0}")]
    Fields(FieldErrors),
    /// Input too large; the message names the limit.
    #[error("{0}")]
    ResourceExhausted(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// Not logged in (or bad credentials / certificate).
    #[error("{0}")]
    Unauthorized(String),
    /// Logged in, but the role lacks the right.
    #[error("{0}")]
    Forbidden(String),
    /// The thing already exists or changed under the caller.
    #[error("{0}")]
    Conflict(String),
    /// No usable database: the message says what to install or set.
    #[error("{what}")]
    Database { what: String },
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Error {
    fn is_internal(&self) -> bool {
        matches!(
            self,
            Error::Database { .. } | Error::Sqlx(_) | Error::Io(_) | Error::Other(_)
        )
    }
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidArgument(m) => tonic::Status::invalid_argument(m),
            Error::Fields(f) => tonic::Status::invalid_argument(f.to_string()),
            Error::ResourceExhausted(m) => tonic::Status::resource_exhausted(m),
            Error::NotFound(m) => tonic::Status::not_found(m),
            Error::Unauthorized(m) => tonic::Status::unauthenticated(m),
            Error::Forbidden(m) => tonic::Status::permission_denied(m),
            Error::Conflict(m) => tonic::Status::already_exists(m),
            internal => {
                tracing::error!(error = %internal, "internal error in gRPC call");
                // UNAVAILABLE tells the agent to keep the report and retry.
                tonic::Status::unavailable("server could not commit the reports; retry later")
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match &self {
            Error::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            Error::Fields(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::ResourceExhausted(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Conflict(_) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = if self.is_internal() {
            tracing::error!(error = %self, "internal error in HTTP request");
            "内部エラーが発生しました。しばらくしてから再度お試しください。続く場合は管理者に連絡してください。".to_owned()
        } else {
            self.to_string()
        };
        let body = match &self {
            Error::Fields(fields) => {
                serde_json::json!({ "error": message, "fields": fields.as_map() })
            }
            _ => serde_json::json!({ "error": message }),
        };
        let mut response = (status, axum::Json(body)).into_response();
        // The portal renders this as a Japanese page for browsers (`portal::error_page`).
        response.extensions_mut().insert(PublicMessage(message));
        response
    }
}

/// The operator-facing message of an error response, for the portal's error page.
#[derive(Debug, Clone)]
pub struct PublicMessage(pub String);

/// Problems with named input fields, in the order found. The message of each is Japanese and
/// says what to enter; forms show it next to the field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field, message.into()));
        }
    }

    /// The message for `field`, if it has one.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.0.iter().map(|(f, m)| (*f, m.as_str()))
    }

    /// `Ok` when there is nothing to report.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    pub fn as_map(&self) -> serde_json::Map<String, serde_json::Value> {
        self.0
            .iter()
            .map(|(f, m)| ((*f).to_owned(), serde_json::Value::String(m.clone())))
            .collect()
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let messages: Vec<&str> = self.0.iter().map(|(_, m)| m.as_str()).collect();
        write!(f, "入力内容を確認してください: {}", messages.join(" / "))
    }
}

impl From<FieldErrors> for Error {
    fn from(errors: FieldErrors) -> Self {
        Error::Fields(errors)
    }
}
