//! Errors as a browser sees them: a Japanese portal page with a way back, whatever produced
//! the error (a handler's `Error`, an extractor's rejection, an unknown path, a wrong method,
//! a body over the limit). `/api/*` and the operational endpoints keep their JSON / text.

use askama::Template;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::PublicMessage;

/// Paths whose callers are programs, not people.
fn machine_path(path: &str) -> bool {
    path.starts_with("/api/") || matches!(path, "/healthz" | "/readyz" | "/metrics")
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: &'static str,
    message: String,
}

/// The page title and what to do, for a status whose error carried no message of its own.
fn describe(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => (
            "入力内容が正しくありません",
            "入力内容を確認して、もう一度お試しください。",
        ),
        401 => (
            "ログインが必要です",
            "ログインしてから、もう一度お試しください。",
        ),
        403 => (
            "権限がありません",
            "この操作の権限がありません。必要なら管理者に依頼してください。",
        ),
        404 => (
            "ページが見つかりません",
            "URL を確認するか、メニューから目的のページを開いてください。",
        ),
        405 => (
            "この操作はできません",
            "このページではその操作を受け付けていません。メニューから開き直してください。",
        ),
        413 => (
            "送信内容が大きすぎます",
            "入力内容を減らして、もう一度お試しください。",
        ),
        422 => (
            "入力内容を確認してください",
            "入力内容を確認して、もう一度お試しください。",
        ),
        429 => (
            "しばらくお待ちください",
            "操作が続いたため一時的に受け付けていません。時間をおいてお試しください。",
        ),
        s if s >= 500 => (
            "内部エラーが発生しました",
            "しばらくしてから再度お試しください。続く場合は管理者に連絡してください。",
        ),
        _ => ("エラーが発生しました", "メニューから開き直してください。"),
    }
}

pub async fn browser_errors(req: Request, next: Next) -> Response {
    if machine_path(req.uri().path()) {
        return next.run(req).await;
    }
    let response = next.run(req).await;
    let status = response.status();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if status.as_u16() < 400 || is_html {
        return response;
    }
    let (title, default_message) = describe(status);
    let message = response
        .extensions()
        .get::<PublicMessage>()
        .map(|m| m.0.clone())
        .unwrap_or_else(|| default_message.to_owned());
    let (mut parts, _) = response.into_parts();
    let page = ErrorPage {
        status: status.as_u16(),
        title,
        message,
    };
    let body = match page.render() {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "error page did not render");
            format!("{} {title}", status.as_u16())
        }
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Response::from_parts(parts, axum::body::Body::from(body)).into_response()
}
