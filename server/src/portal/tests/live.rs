//! The live dashboard stream (`/events`) and the content-hashed static files.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures_util::StreamExt;

use super::console::fleet;
use super::{Harness, content_type, get, text};
use crate::auth::Role;

#[tokio::test]
async fn the_live_stream_needs_a_login_and_sends_the_sections() {
    let h = Harness::new().await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    fleet(&h).await;

    let resp = h.send(get("/events", None)).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(
        resp.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );

    // Listening does not keep a session alive: its idle clock stays where it was.
    sqlx::query("UPDATE sessions SET last_seen_at = now() - interval '10 minutes'")
        .execute(&h.pool)
        .await
        .unwrap();
    let mut req = get("/events", Some(&viewer));
    req.headers_mut()
        .insert(header::ACCEPT, "text/event-stream".parse().unwrap());
    let resp = h.send(req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(content_type(&resp).starts_with("text/event-stream"));
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
    let mut body = resp.into_body().into_data_stream();
    let mut first = String::new();
    while !first.contains("\n\n") {
        let chunk = body.next().await.expect("an event").unwrap();
        first.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(first.starts_with("event: snapshot\n"), "{first}");
    let data = first
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    let data: serde_json::Value = serde_json::from_str(data).unwrap();
    for id in crate::portal::dashboard::SECTIONS {
        assert!(
            data["sections"][id]["html"]
                .as_str()
                .unwrap()
                .contains("<h2"),
            "{id}"
        );
        assert_eq!(data["sections"][id]["v"].as_str().unwrap().len(), 16);
    }
    assert!(data["as_of_text"].as_str().unwrap().starts_with("20"));
    let idle: bool =
        sqlx::query_scalar("SELECT last_seen_at < now() - interval '9 minutes' FROM sessions")
            .fetch_one(&h.pool)
            .await
            .unwrap();
    assert!(idle, "the stream must not touch the session");
    // A page is activity.
    h.send(get("/", Some(&viewer))).await;
    let idle: bool =
        sqlx::query_scalar("SELECT last_seen_at < now() - interval '9 minutes' FROM sessions")
            .fetch_one(&h.pool)
            .await
            .unwrap();
    assert!(!idle);
}

#[tokio::test]
async fn static_files_are_hashed_immutable_and_compressed() {
    let h = Harness::new().await;
    let css = crate::portal::assets::url("portal.css");
    let mut req = Request::get(&css)
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    req.extensions_mut().insert(super::from([127, 0, 0, 1]));
    let resp = h.send(req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
    assert!(content_type(&resp).starts_with("text/css"));

    let js = crate::portal::assets::url("live.js");
    let resp = h.send(get(&js, None)).await;
    assert!(content_type(&resp).starts_with("text/javascript"));
    assert!(text(resp).await.contains("EventSource"));

    // An old hash or no hash: the current file, not to be kept.
    for stale in ["/static/portal.0123456789abcdef.css", "/static/portal.css"] {
        let resp = h.send(get(stale, None)).await;
        assert_eq!(resp.status(), StatusCode::OK, "{stale}");
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-cache");
    }
    let resp = h.send(get("/static/nope.js", None)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(text(resp).await.contains("ページが見つかりません"));
}
