//! Login throttling per address and per account, forced password change, and what an
//! administrator can do about a locked or forgotten account.

use axum::http::{StatusCode, header};

use super::{Harness, get, post, post_from, text};
use crate::auth::Role;
use crate::auth::operators::PasswordOrigin;
use crate::auth::throttle::{ADDRESS_LIMIT, PAIR_LIMIT};

fn location(resp: &axum::http::Response<axum::body::Body>) -> String {
    resp.headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn guessing_from_one_address_does_not_lock_the_account_for_others() {
    let h = Harness::new().await;
    let password = h
        .operator("demo-admin", Role::Admin, PasswordOrigin::Chosen)
        .await;
    let attacker = [203, 0, 113, 9];
    let login_from = |ip: [u8; 4], pw: &str| {
        post_from(
            ip,
            "/login",
            None,
            &[("username", "demo-admin"), ("password", pw)],
        )
    };
    for _ in 0..PAIR_LIMIT {
        let resp = h.send(login_from(attacker, "guess guess guess")).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    // The attacker's address is now refused, even with the right password...
    let resp = h.send(login_from(attacker, &password)).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(text(resp).await.contains("この接続元からのログイン"));
    // ...while the operator at the clinic desk logs in as usual.
    let resp = h.send(login_from([192, 0, 2, 1], &password)).await;
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "not locked for others"
    );

    // Spraying many accounts from one address stops that address, locking no account.
    let sprayer = [198, 51, 100, 7];
    for i in 0..ADDRESS_LIMIT {
        let name = format!("user{i}");
        let req = post_from(
            sprayer,
            "/login",
            None,
            &[("username", &name), ("password", "x")],
        );
        h.send(req).await;
    }
    let resp = h.send(login_from(sprayer, &password)).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let locked: bool = sqlx::query_scalar(
        "SELECT locked_until IS NOT NULL FROM operators WHERE username = 'demo-admin'",
    )
    .fetch_one(&h.pool)
    .await
    .unwrap();
    assert!(!locked);

    // A name with a bidi override never reaches the audit log as such.
    let resp = h
        .send(post(
            "/login",
            None,
            &[("username", "demo\u{202E}nimda"), ("password", "x")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let raw: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE actor LIKE '%' || chr(8238) || '%'",
    )
    .fetch_one(&h.pool)
    .await
    .unwrap();
    assert_eq!(raw, 0);
}

#[tokio::test]
async fn a_one_time_password_must_be_changed_before_anything_else() {
    let h = Harness::new().await;
    let one_time = h
        .operator("newbie", Role::Operator, PasswordOrigin::OneTime)
        .await;
    let s = h.login("newbie", &one_time).await;
    let resp = h.send(get("/", Some(&s))).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/account/password");
    let resp = h.send(get("/account/password", Some(&s))).await;
    assert!(
        text(resp)
            .await
            .contains("一時パスワードでログインしました")
    );
    let resp = h
        .send(post(
            "/account/password",
            Some(&s),
            &[
                ("current", &one_time),
                ("new", "my own long passphrase"),
                ("confirm", "my own long passphrase"),
            ],
        ))
        .await;
    assert!(text(resp).await.contains("パスワードを変更しました"));
    let resp = h.send(get("/", Some(&s))).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_admin_unlocks_disables_resets_and_changes_roles() {
    let h = Harness::new().await;
    let admin = h.session("boss", Role::Admin).await;
    let password = h
        .operator("clerk", Role::Viewer, PasswordOrigin::Chosen)
        .await;
    for _ in 0..PAIR_LIMIT {
        h.send(post(
            "/login",
            None,
            &[("username", "clerk"), ("password", "wrong wrong")],
        ))
        .await;
    }
    let resp = h
        .send(post(
            "/login",
            None,
            &[("username", "clerk"), ("password", &password)],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let page = text(h.send(get("/admin/operators", Some(&admin))).await).await;
    assert!(page.contains("ロック解除"), "{page}");
    let resp = h
        .send(post("/admin/operators/clerk/unlock", Some(&admin), &[]))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let clerk = h.login("clerk", &password).await;

    // Role change applies at the next request; disabling ends the session.
    let resp = h
        .send(post(
            "/admin/operators/clerk/role",
            Some(&admin),
            &[("role", "admin")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        h.send(get("/admin/audit", Some(&clerk))).await.status(),
        200
    );
    h.send(post("/admin/operators/clerk/disable", Some(&admin), &[]))
        .await;
    let resp = h.send(get("/", Some(&clerk))).await;
    assert!(location(&resp).starts_with("/login"));
    let resp = h
        .send(post(
            "/login",
            None,
            &[("username", "clerk"), ("password", &password)],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    h.send(post("/admin/operators/clerk/enable", Some(&admin), &[]))
        .await;

    // A reset shows a one-time password once; it works and must be changed.
    let resp = h
        .send(post(
            "/admin/operators/clerk/password-reset",
            Some(&admin),
            &[],
        ))
        .await;
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
    let page = text(resp).await;
    let start = page.find(r#"id="secret">"#).unwrap() + r#"id="secret">"#.len();
    let end = start + page[start..].find('<').unwrap();
    let one_time = page[start..end].trim().to_owned();
    let again = h.login("clerk", &one_time).await;
    let resp = h.send(get("/", Some(&again))).await;
    assert_eq!(location(&resp), "/account/password");

    // An admin cannot lock themselves out.
    let resp = h
        .send(post("/admin/operators/boss/disable", Some(&admin), &[]))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(resp).await.contains("自分自身"));
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE target = 'user:clerk' ORDER BY audit_id",
    )
    .fetch_all(&h.pool)
    .await
    .unwrap();
    for a in [
        "operator.unlock",
        "operator.role",
        "operator.disable",
        "operator.enable",
        "operator.password_reset",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}
