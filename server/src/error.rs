//! The server crate's one error type, mapped to HTTP status and to gRPC
//! status in one place each. Internal details are logged, never shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input the caller must fix; the message says what and how.
    #[error("{0}")]
    InvalidArgument(String),
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
        (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
    }
}
