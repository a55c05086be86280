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
    /// A server we depend on (SMTP relay, webhook receiver) failed or refused;
    /// the message names it and says what to check.
    #[error("{0}")]
    Upstream(String),
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
    /// The SQLSTATE of a database error caused by the values the caller sent,
    /// which no retry can fix: class 22 (data exception: a NUL in text or
    /// jsonb, a number out of range, bad encoding) and the class-23 codes that
    /// mean a bad value (NOT NULL, foreign key, CHECK). Unique and exclusion
    /// violations (23505, 23P01) come from concurrent writers and stay
    /// retryable, as does every other database failure.
    pub fn bad_input_sqlstate(&self) -> Option<String> {
        let Error::Sqlx(sqlx::Error::Database(db)) = self else {
            return None;
        };
        let code = db.code()?;
        let bad_input = code.starts_with("22") || matches!(&*code, "23502" | "23503" | "23514");
        bad_input.then(|| code.into_owned())
    }

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
            Error::Upstream(m) => tonic::Status::unavailable(m),
            refused if refused.bad_input_sqlstate().is_some() => bad_input_status(&refused),
            internal => {
                tracing::error!(error = %internal, "internal error in gRPC call");
                // UNAVAILABLE tells the agent to keep the report and retry.
                tonic::Status::unavailable("server could not commit the reports; retry later")
            }
        }
    }
}

/// INVALID_ARGUMENT for a value the database refused: the agent sets the
/// report aside instead of retrying it forever (which would block every later
/// report of that PC). Class 22 messages describe the value, never the
/// schema, so they are passed on; constraint messages name tables, so not.
fn bad_input_status(err: &Error) -> tonic::Status {
    let code = err.bad_input_sqlstate().unwrap_or_default();
    tracing::warn!(sqlstate = %code, error = %err, "database refused a value sent in a gRPC call; answered INVALID_ARGUMENT");
    let what = match err {
        Error::Sqlx(sqlx::Error::Database(db)) if code.starts_with("22") => db.message().to_owned(),
        _ => "a value violates a database constraint".to_owned(),
    };
    tonic::Status::invalid_argument(format!(
        "the server's database refused a value in this request (SQLSTATE {code}: {what}); \
         the same request will never be accepted: fix the data before sending it again"
    ))
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
            Error::Upstream(_) => StatusCode::BAD_GATEWAY,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Real PostgreSQL errors, as the ingest commit would meet them.
    async fn pg_error(sql: &str, value: Option<serde_json::Value>) -> Error {
        let url = std::env::var("ONSHI_TEST_DATABASE_URL")
            .or_else(|_| std::env::var("DATABASE_URL"))
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("this test needs PostgreSQL at {url}: {e}"));
        sqlx::raw_sql("CREATE TEMP TABLE t (x int NOT NULL CHECK (x > 0) UNIQUE)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::raw_sql("INSERT INTO t VALUES (1)")
            .execute(&mut conn)
            .await
            .unwrap();
        let query = sqlx::query(sql);
        let query = match value {
            Some(v) => query.bind(v),
            None => query,
        };
        Error::from(query.execute(&mut conn).await.unwrap_err())
    }

    #[tokio::test]
    async fn database_data_errors_are_the_clients_fault() {
        // The jsonb NUL of issue 10: a report string "pc\u0000x".
        let nul = pg_error(
            "SELECT $1::jsonb",
            Some(serde_json::json!({"hostname": "pc\u{0}x"})),
        )
        .await;
        assert_eq!(nul.bad_input_sqlstate().as_deref(), Some("22P05"));
        let status = tonic::Status::from(nul);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().contains("SQLSTATE 22P05"),
            "{}",
            status.message()
        );
        assert!(
            status.message().contains("never be accepted"),
            "{}",
            status.message()
        );

        let overflow = pg_error("SELECT 2147483647::int + 1", None).await;
        assert_eq!(overflow.bad_input_sqlstate().as_deref(), Some("22003"));
        let check = pg_error("INSERT INTO t VALUES (-1)", None).await;
        let status = tonic::Status::from(check);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            !status.message().contains("\"t\""),
            "no schema names: {}",
            status.message()
        );
    }

    #[tokio::test]
    async fn other_database_errors_stay_retryable() {
        for sql in ["INSERT INTO t VALUES (1)", "SELECT * FROM no_such_table"] {
            let err = pg_error(sql, None).await;
            assert_eq!(err.bad_input_sqlstate(), None, "{sql}: {err}");
            assert_eq!(
                tonic::Status::from(err).code(),
                tonic::Code::Unavailable,
                "{sql}"
            );
        }
        let closed = Error::Sqlx(sqlx::Error::PoolClosed);
        assert_eq!(tonic::Status::from(closed).code(), tonic::Code::Unavailable);
    }
}
