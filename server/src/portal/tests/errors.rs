//! Bad input gets a 4xx with a Japanese message, never a 500; browsers get a portal page,
//! `/api/*` keeps JSON; security headers.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use super::{Harness, content_type, get, post, text};
use crate::auth::Role;

#[tokio::test]
async fn huge_page_numbers_and_nul_are_refused_in_japanese() {
    let h = Harness::new().await;
    let admin = h.session("admin1", Role::Admin).await;

    let resp = h
        .send(get("/sites?cursor=9223372036854775807", Some(&admin)))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(content_type(&resp).starts_with("text/html"));
    let page = text(resp).await;
    assert!(page.contains("一覧の先頭から開き直してください"), "{page}");
    assert!(page.contains(r#"href="/""#), "a way back: {page}");

    for query in ["page=9223372036854775807", "page=abc", "page=0"] {
        let resp = h
            .send(get(&format!("/api/v1/sites?{query}"), Some(&admin)))
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(content_type(&resp).starts_with("application/json"));
        let body: serde_json::Value = serde_json::from_str(&text(resp).await).unwrap();
        assert!(body["error"].as_str().unwrap().contains("ページ番号"));
    }

    let resp = h
        .send(post(
            "/admin/sites",
            Some(&admin),
            &[("site_id", "s1"), ("name", "山田\0医院")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(text(resp).await.contains("制御文字"));
    let resp = h.send(get("/admin/audit?actor=a%00b", Some(&admin))).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = h
        .send(post(
            "/login",
            None,
            &[("username", "a\0"), ("password", "x")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn browsers_get_a_japanese_error_page_and_the_api_keeps_json() {
    let h = Harness::new().await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    let admin = h.session("admin1", Role::Admin).await;

    let cases = [
        (
            get("/no/such/page", Some(&viewer)),
            404,
            "ページが見つかりません",
        ),
        (get("/logout", Some(&viewer)), 405, "この操作はできません"),
        (
            get("/admin/sites", Some(&viewer)),
            403,
            "管理者の権限が必要です",
        ),
        (
            // A form without the session's CSRF token.
            Request::post("/admin/sites")
                .header(header::COOKIE, &admin.cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("site_id=s1&name=n"))
                .unwrap(),
            403,
            "CSRF",
        ),
        (
            post(
                "/admin/sites",
                Some(&admin),
                &[("name", &"x".repeat(70 * 1024))],
            ),
            413,
            "大きすぎます",
        ),
        (
            post(
                "/admin/tokens",
                Some(&admin),
                &[("name", "crm"), ("role", "root")],
            ),
            400,
            "値が正しくありません",
        ),
    ];
    for (req, status, message) in cases {
        let path = req.uri().to_string();
        let resp = h.send(req).await;
        assert_eq!(resp.status().as_u16(), status, "{path}");
        assert!(content_type(&resp).starts_with("text/html"), "{path}");
        let page = text(resp).await;
        assert!(page.contains(message), "{path}: {page}");
        assert!(page.contains("サイト一覧へ戻る"), "{path}");
        assert!(!page.contains(r#"{"error""#), "{path}");
    }

    // The API answers the same refusal in JSON.
    let resp = h
        .send(get("/api/v1/desks?at=yesterday", Some(&viewer)))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(content_type(&resp).starts_with("application/json"));
}

#[tokio::test]
async fn authenticated_pages_are_not_cached_and_carry_the_security_headers() {
    let h = Harness::new().await;
    let admin = h.session("admin1", Role::Admin).await;
    let resp = h.send(get("/", Some(&admin))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
    let policy = resp.headers()["permissions-policy"].to_str().unwrap();
    assert!(policy.contains("camera=()"), "{policy}");
    // The one-time secret pages are authenticated pages too.
    let resp = h
        .send(post(
            "/admin/tokens",
            Some(&admin),
            &[("name", "crm"), ("role", "viewer")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
    // The login page and static files carry the policy but may be cached as before.
    let resp = h.send(get("/login", None)).await;
    assert!(resp.headers().contains_key("permissions-policy"));
    let resp = h
        .send(get(&crate::portal::assets::url("portal.css"), None))
        .await;
    assert_eq!(
        resp.headers()[header::CACHE_CONTROL],
        crate::portal::assets::IMMUTABLE
    );
    let css = text(resp).await;
    assert!(css.contains(":focus-visible"), "visible keyboard focus");
}
