//! Notification admin pages: channels and routes (form errors at the field, values kept, the
//! secret never echoed), deliveries with retry, roles, CSRF, audit, a 10 MB form.

use axum::http::StatusCode;

use super::{Harness, Session, get, post, text};
use crate::auth::Role;

async fn audited(h: &Harness, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(&h.pool)
        .await
        .unwrap()
}

async fn add_webhook(h: &Harness, admin: &Session, name: &str, url: &str) -> StatusCode {
    h.send(post(
        "/admin/channels",
        Some(admin),
        &[
            ("name", name),
            ("kind", "webhook"),
            ("min_severity", "critical"),
            ("url", url),
            ("secret", "0123456789abcdef-page"),
            ("group_seconds", "30"),
        ],
    ))
    .await
    .status()
}

#[tokio::test]
async fn admins_add_channels_with_errors_shown_at_the_field() {
    let h = Harness::new().await;
    let admin = h.session("admin1", Role::Admin).await;
    let page = text(h.send(get("/admin/channels", Some(&admin))).await).await;
    assert!(page.contains("チャネルはありません"), "{page}");
    assert!(page.contains("メール（SMTP）") && page.contains("カードリーダー電源断"));

    let resp = h
        .send(post(
            "/admin/channels",
            Some(&admin),
            &[
                ("name", "ops"),
                ("kind", "webhook"),
                ("url", "hooks.example.jp/x"),
                ("secret", "a-secret-that-is-long"),
                ("group_seconds", "abc"),
            ],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(resp).await;
    assert!(
        page.contains(r#"id="err-url""#) && page.contains("正しくありません"),
        "{page}"
    );
    assert!(page.contains(r#"id="err-group_seconds""#) && page.contains("半角数字"));
    assert!(
        page.contains(r#"value="hooks.example.jp/x""#),
        "what was typed is kept"
    );
    assert!(
        !page.contains("a-secret-that-is-long"),
        "the secret is never sent back"
    );
    assert_eq!(audited(&h, "notify.channel_add").await, 0);

    assert_eq!(
        add_webhook(&h, &admin, "ops", "https://hooks.example.jp/x").await,
        StatusCode::SEE_OTHER
    );
    let page = text(h.send(get("/admin/channels", Some(&admin))).await).await;
    assert!(page.contains(r#"data-channel="ops""#), "{page}");
    assert!(page.contains("異常以上") && page.contains("30 秒"));
    assert!(!page.contains("0123456789abcdef-page"));
    assert_eq!(audited(&h, "notify.channel_add").await, 1);
    // The same name again: said at the name field.
    let resp = h
        .send(post(
            "/admin/channels",
            Some(&admin),
            &[
                ("name", "ops"),
                ("kind", "webhook"),
                ("url", "https://h.example.jp/"),
                ("secret", "0123456789abcdef"),
            ],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(resp).await.contains("既にあります"));
}

#[tokio::test]
async fn only_admins_with_a_csrf_token_change_channels() {
    let h = Harness::new().await;
    let op = h.session("op1", Role::Operator).await;
    assert_eq!(
        h.send(get("/admin/channels", Some(&op))).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        add_webhook(&h, &op, "x", "https://h.example.jp/").await,
        StatusCode::FORBIDDEN
    );
    let admin = h.session("admin1", Role::Admin).await;
    let no_csrf = super::Session {
        cookie: admin.cookie.clone(),
        csrf: "0".repeat(64),
    };
    assert_eq!(
        add_webhook(&h, &no_csrf, "x", "https://h.example.jp/").await,
        StatusCode::FORBIDDEN
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM notify_channels")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_ten_megabyte_form_is_refused_with_a_japanese_page() {
    let h = Harness::new().await;
    let admin = h.session("admin1", Role::Admin).await;
    let huge = "あ".repeat(10 * 1024 * 1024 / 3);
    let resp = h
        .send(post(
            "/admin/channels",
            Some(&admin),
            &[("name", "x"), ("kind", "webhook"), ("url", &huge)],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let page = text(resp).await;
    assert!(page.contains("大きすぎ"), "{page}");
    assert!(page.contains("<html"), "a page, not JSON");
}

#[tokio::test]
async fn routes_are_added_and_removed_from_the_page() {
    let h = Harness::new().await;
    let admin = h.session("admin1", Role::Admin).await;
    add_webhook(&h, &admin, "tokyo-desk", "https://h.example.jp/").await;
    let resp = h
        .send(post(
            "/admin/routes",
            Some(&admin),
            &[
                ("name", "tokyo"),
                ("channels", "tokyo-desk, nope"),
                ("prefecture", "東京都"),
            ],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(resp).await;
    assert!(
        page.contains(r#"id="err-channels""#) && page.contains("nope"),
        "{page}"
    );
    let resp = h
        .send(post(
            "/admin/routes",
            Some(&admin),
            &[
                ("name", "tokyo"),
                ("channels", "tokyo-desk"),
                ("min_severity", "critical"),
                ("rule", "reader_off"),
                ("prefecture", "東京都"),
                ("kind", "pharmacy"),
                ("maintenance", "omakase"),
            ],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let page = text(h.send(get("/admin/channels", Some(&admin))).await).await;
    assert!(page.contains(r#"data-route="tokyo""#), "{page}");
    assert!(
        page.contains("カードリーダー電源断") && page.contains("薬局") && page.contains("おまかせ")
    );
    assert_eq!(audited(&h, "notify.route_add").await, 1);
    // Removing needs the confirmation.
    let resp = h
        .send(post("/admin/routes/tokyo/delete", Some(&admin), &[]))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = h
        .send(post(
            "/admin/routes/tokyo/delete",
            Some(&admin),
            &[("confirm", "yes")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(audited(&h, "notify.route_remove").await, 1);
}

#[tokio::test]
async fn failed_deliveries_are_shown_and_an_admin_retries_them() {
    let h = Harness::new().await;
    let admin = h.session("admin1", Role::Admin).await;
    // Nothing listens there: the test send fails and says why on the page.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    add_webhook(&h, &admin, "down", &format!("http://127.0.0.1:{port}/hook")).await;
    let resp = h
        .send(post("/admin/channels/down/test", Some(&admin), &[]))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page = text(resp).await;
    assert!(
        page.contains("テスト送信に失敗しました") && page.contains("接続できません"),
        "{page}"
    );
    assert_eq!(audited(&h, "notify.channel_test").await, 1);
    let sent_id: i64 = sqlx::query_scalar(
        "INSERT INTO notify_deliveries (channel_id, channel_name, kind, state, subject, attempts)
         SELECT channel_id, name, 'event', 'sent', '送信済みのお知らせ', 1 FROM notify_channels RETURNING delivery_id",
    )
    .fetch_one(&h.pool)
    .await
    .unwrap();

    let page = text(
        h.send(get("/admin/deliveries?state=dead", Some(&admin)))
            .await,
    )
    .await;
    assert!(
        page.contains("送信不能（デッドレター）") && page.contains("接続できません"),
        "{page}"
    );
    assert!(
        page.contains("class=\"retry\""),
        "a retry button on the dead one"
    );
    assert!(!page.contains("送信済みのお知らせ"), "filtered by state");
    let dead_id: i64 =
        sqlx::query_scalar("SELECT delivery_id FROM notify_deliveries WHERE state = 'dead'")
            .fetch_one(&h.pool)
            .await
            .unwrap();
    let resp = h
        .send(post(
            &format!("/admin/deliveries/{dead_id}/retry"),
            Some(&admin),
            &[],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let state: String =
        sqlx::query_scalar("SELECT state FROM notify_deliveries WHERE delivery_id = $1")
            .bind(dead_id)
            .fetch_one(&h.pool)
            .await
            .unwrap();
    assert_eq!(state, "retrying");
    assert_eq!(audited(&h, "notify.retry").await, 1);
    // A sent message is not sent again by hand: a Japanese page says why.
    let resp = h
        .send(post(
            &format!("/admin/deliveries/{sent_id}/retry"),
            Some(&admin),
            &[],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(text(resp).await.contains("再送できません"));
    let resp = h
        .send(get("/admin/deliveries?state=bogus", Some(&admin)))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}
