//! Admin additions of the console: business-hours defaults per kind (seeded exactly, changed
//! by an admin, used by the next sweep), site delete, silences, audit-log pages; and `/desks`.

use axum::http::{StatusCode, header};
use chrono::{DateTime, Duration, Utc};

use super::fixtures::{audit_count, history, incident, plain_site, state};
use super::{Harness, content_type, get, post, text};
use crate::auth::Role;
use crate::incidents::lifecycle::Policy;
use crate::incidents::sweep::{self, OfflinePolicy};
use crate::sites::hours::WeekSchedule;
use crate::sites::hours_defaults;
use crate::sites::{SiteKind, hours_store};

#[tokio::test]
async fn hours_defaults_are_seeded_exactly_and_the_next_sweep_uses_a_change() {
    let h = Harness::new().await;
    let admin = h.session("admin1", Role::Admin).await;
    let op = h.session("op1", Role::Operator).await;
    let mut conn = h.pool.acquire().await.unwrap();
    // The migration's seed is exactly the built-in schedule of each kind.
    for d in hours_defaults::list(&mut conn).await.unwrap() {
        assert_eq!(d.week, WeekSchedule::default_for(d.kind), "{:?}", d.kind);
        assert!(d.is_builtin());
    }
    drop(conn);

    assert_eq!(
        h.send(get("/admin/hours", Some(&op))).await.status(),
        StatusCode::FORBIDDEN
    );
    let page = text(h.send(get("/admin/hours", Some(&admin))).await).await;
    assert!(
        page.contains("月〜金 9:00〜19:00 / 土 9:00〜13:00"),
        "pharmacy: {page}"
    );

    let resp = h
        .send(post(
            "/admin/hours/pharmacy",
            Some(&admin),
            &[("week", "mon 18:00-09:00")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(resp).await;
    assert!(page.contains("終了が開始より後") && page.contains(r#"value="mon 18:00-09:00""#));
    let resp = h
        .send(post("/admin/hours/pharmacy", Some(&admin), &[("week", "")]))
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a kind closed all week"
    );
    let resp = h
        .send(post(
            "/admin/hours/shop",
            Some(&admin),
            &[("week", "mon 09:00-10:00")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // A pharmacy silent for an hour, on its kind's hours. Sunday 12:00 JST: closed by the
    // built-in default, so the sweep raises nothing...
    plain_site(&h, "ph1", "東京都").await;
    sqlx::query("UPDATE sites SET kind = 'pharmacy' WHERE site_id = 'ph1'")
        .execute(&h.pool)
        .await
        .unwrap();
    state(&h, "ph1", serde_json::json!({}), "ok").await;
    let sunday: DateTime<Utc> = "2026-12-06T03:00:00Z".parse().unwrap();
    sqlx::query("UPDATE site_state SET received_at = $1 WHERE site_id = 'ph1'")
        .bind(sunday - Duration::hours(1))
        .execute(&h.pool)
        .await
        .unwrap();
    let swept = sweep::sweep_once(
        &h.pool,
        &Policy::default(),
        &OfflinePolicy::default(),
        sunday,
    )
    .await
    .unwrap();
    assert!(swept.applied.opened.is_empty());

    // ...until an administrator opens pharmacies on Sundays: the next sweep raises `offline`.
    let resp = h
        .send(post(
            "/admin/hours/pharmacy",
            Some(&admin),
            &[("week", "mon-sun 10:00-20:00")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers()[header::LOCATION],
        "/admin/hours?saved=pharmacy"
    );
    assert_eq!(audit_count(&h, "hours.default").await, 1);
    let mut conn = h.pool.acquire().await.unwrap();
    let stored = hours_store::load(&mut conn, "ph1", sunday.date_naive())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.is_default);
    assert_eq!(
        stored.hours.week.to_text(),
        "mon 10:00-20:00; tue 10:00-20:00; wed 10:00-20:00; thu 10:00-20:00; fri 10:00-20:00; sat 10:00-20:00; sun 10:00-20:00"
    );
    drop(conn);
    let swept = sweep::sweep_once(
        &h.pool,
        &Policy::default(),
        &OfflinePolicy::default(),
        sunday,
    )
    .await
    .unwrap();
    assert_eq!(swept.applied.opened.len(), 1, "{swept:?}");

    let page = text(
        h.send(get("/admin/hours?saved=pharmacy", Some(&admin)))
            .await,
    )
    .await;
    assert!(page.contains("保存しました") && page.contains("初期値に戻す"));
    let resp = h
        .send(post(
            "/admin/hours/pharmacy",
            Some(&admin),
            &[("builtin", "on")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let mut conn = h.pool.acquire().await.unwrap();
    let d = hours_defaults::load(&mut conn).await.unwrap();
    assert_eq!(
        d.get(SiteKind::Pharmacy),
        &WeekSchedule::default_for(SiteKind::Pharmacy)
    );
}

#[tokio::test]
async fn deleting_a_site_asks_for_its_id_and_takes_what_is_only_about_it() {
    let h = Harness::new().await;
    let admin = h.session("admin1", Role::Admin).await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    plain_site(&h, "gone", "東京都").await;
    plain_site(&h, "kept", "東京都").await;
    state(&h, "gone", serde_json::json!({}), "ok").await;
    incident(&h, "gone", "reader_off", "critical", "open").await;
    history(&h, "gone", 5, Some("on"), true).await;
    history(&h, "kept", 5, Some("on"), true).await;
    crate::enrol::issue_token(&h.pool, "gone", crate::enrol::DEFAULT_TOKEN_TTL, "test")
        .await
        .unwrap();

    let resp = h.send(get("/admin/sites/gone/delete", Some(&viewer))).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let page = text(h.send(get("/admin/sites/gone/delete", Some(&admin))).await).await;
    assert!(page.contains("エージェント 1 台") && page.contains("インシデント 1 件"));
    assert!(page.contains("報告履歴 1 件") && page.contains("監査ログは削除しません"));

    let resp = h
        .send(post(
            "/admin/sites/gone/delete",
            Some(&admin),
            &[("confirm_site_id", "kept")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(resp).await.contains("サイトID「gone」をそのまま入力"));
    assert!(
        crate::sites::store::get(&h.pool, "gone")
            .await
            .unwrap()
            .is_some()
    );

    let resp = h
        .send(post(
            "/admin/sites/gone/delete",
            Some(&admin),
            &[("confirm_site_id", "gone")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let page = text(h.send(get("/admin/sites?deleted=gone", Some(&admin))).await).await;
    assert!(page.contains("サイト gone を削除しました"));
    for table in [
        "sites",
        "agents",
        "site_state",
        "incidents",
        "report_history",
        "enrolment_tokens",
    ] {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE site_id = 'gone'"
        ))
        .fetch_one(&h.pool)
        .await
        .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    let kept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM report_history WHERE site_id = 'kept'")
            .fetch_one(&h.pool)
            .await
            .unwrap();
    assert_eq!(kept, 1);
    let detail: serde_json::Value =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'site.delete'")
            .fetch_one(&h.pool)
            .await
            .unwrap();
    assert_eq!(detail["deleted"]["incidents"], 1);
    assert_eq!(detail["name"], "gone 医院");
    // Its agent is no longer enrolled: the ingest refuses it.
    assert!(
        crate::enrol::authorised_agent(&h.pool, "agent-gone")
            .await
            .is_err()
    );
    let resp = h.send(get("/admin/sites/gone/delete", Some(&admin))).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn silences_are_created_listed_and_expired_on_the_admin_page() {
    let h = Harness::new().await;
    let admin = h.session("admin1", Role::Admin).await;
    plain_site(&h, "s1", "東京都").await;
    let resp = h
        .send(post(
            "/admin/silences",
            Some(&admin),
            &[("site_id", "ghost"), ("duration", "2h"), ("reason", "工事")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(resp).await;
    assert!(
        page.contains("サイト ghost は登録されていません") && page.contains(r#"value="ghost""#)
    );
    let resp = h
        .send(post(
            "/admin/silences",
            Some(&admin),
            &[
                ("rule", "offline"),
                ("ends_at", "2020-01-01T10:00"),
                ("reason", "x"),
            ],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(resp).await.contains("終了日時は開始日時より後"));
    let resp = h
        .send(post(
            "/admin/silences",
            Some(&admin),
            &[
                ("site_id", "s1"),
                ("rule", "reader_off"),
                ("duration", "1d"),
                ("reason", "院内工事"),
            ],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(audit_count(&h, "silence.create").await, 1);
    let page = text(
        h.send(get("/admin/silences?done=created", Some(&admin)))
            .await,
    )
    .await;
    assert!(page.contains("サイト s1・ルール カードリーダー電源断") && page.contains("有効"));
    let id: i64 = sqlx::query_scalar("SELECT silence_id FROM silences")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    let expire = format!("/admin/silences/{id}/expire");
    assert_eq!(
        h.send(post(&expire, Some(&admin), &[])).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(audit_count(&h, "silence.expire").await, 1);
    let resp = h.send(post(&expire, Some(&admin), &[])).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(text(resp).await.contains("終了しています"));
    let page = text(h.send(get("/admin/silences", Some(&admin))).await).await;
    assert!(page.contains("最近終了したサイレンス") && page.contains("院内工事"));
}

#[tokio::test]
async fn the_audit_log_pages_newest_first_without_offsets() {
    let h = Harness::new().await;
    let admin = h.session("admin1", Role::Admin).await;
    for i in 0..230 {
        let e = crate::auth::audit::Entry::new("user:bulk", "test.bulk", format!("n:{i}"));
        crate::auth::audit::record_alone(&h.pool, e).await.unwrap();
    }
    let page = text(h.send(get("/admin/audit?action=test.", Some(&admin))).await).await;
    assert_eq!(page.matches(r#"data-action="test.bulk""#).count(), 100);
    assert!(page.contains("n:229") && !page.contains("n:129<"));
    let marker = "before=";
    let start = page.find(marker).unwrap() + marker.len();
    let before: String = page[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let page2 = text(
        h.send(get(
            &format!("/admin/audit?action=test.&before={before}"),
            Some(&admin),
        ))
        .await,
    )
    .await;
    assert_eq!(page2.matches(r#"data-action="test.bulk""#).count(), 100);
    assert!(page2.contains("n:129<") && page2.contains("最新の記録へ"));
    let start = page2.rfind(marker).unwrap() + marker.len();
    let before: String = page2[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let page3 = text(
        h.send(get(
            &format!("/admin/audit?action=test.&before={before}"),
            Some(&admin),
        ))
        .await,
    )
    .await;
    assert_eq!(page3.matches(r#"data-action="test.bulk""#).count(), 30);
    assert!(!page3.contains("古い記録）"), "no older page");
    let resp = h.send(get("/admin/audit?before=abc", Some(&admin))).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(text(resp).await.contains("before（ページ位置）は正の整数"));
}

#[tokio::test]
async fn the_desks_page_lists_desks_routes_like_the_cli_and_shows_holidays() {
    let h = Harness::new().await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    let page = text(h.send(get("/desks", Some(&viewer))).await).await;
    assert_eq!(page.matches(r#"<tr class="desk""#).count(), 14);
    assert!(page.contains("0800-080-4583") && page.contains("祝日"));
    assert!(page.contains("元日") && page.contains("天皇誕生日"));

    // Saturday 2026-05-09 10:00 JST: the YAMAHA desk is closed, the call center open.
    let q = "/desks?part=router&router_model=RTX830&maintenance=none&at=2026-05-09T10%3A00";
    let resp = h.send(get(q, Some(&viewer))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page = text(resp).await;
    let at = chrono::DateTime::parse_from_rfc3339("2026-05-09T10:00:00+09:00").unwrap();
    let cli = crate::desk::route(
        &crate::desk::RouteQuery {
            router_model: Some(crate::desk::RouterModel::Rtx830),
            ..crate::desk::RouteQuery::new(crate::desk::Part::Router)
        },
        &crate::desk::SiteContacts::default(),
        at,
    )
    .unwrap();
    assert!(page.contains(&format!(
        r#"<div class="desk-answer" data-desk="{}" data-open="false">"#,
        cli.desk
    )));
    let next = crate::desk::when_ja(cli.next_open.unwrap());
    assert!(page.contains(&next), "next open {next}");
    assert!(page.contains(cli.fallback_name.as_deref().unwrap()));
    assert!(page.contains("「SER.」から始まる番号"));

    let resp = h.send(get("/desks?part=router", Some(&viewer))).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(content_type(&resp).starts_with("text/html"));
    assert!(text(resp).await.contains("ルータの型番を指定してください"));
    let resp = h.send(get("/desks?year=1900", Some(&viewer))).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = h.send(get("/desks?at=tomorrow", Some(&viewer))).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(text(resp).await.contains("2026-05-01T09:00 の形"));
}

#[tokio::test]
async fn every_console_form_needs_the_sessions_csrf_token() {
    use axum::body::Body;
    use axum::http::Request;
    let h = Harness::new().await;
    let admin = h.session("admin1", Role::Admin).await;
    plain_site(&h, "s1", "東京都").await;
    let id = incident(&h, "s1", "reader_off", "critical", "open").await;
    let paths = [
        "/admin/hours/pharmacy".to_owned(),
        "/admin/silences".to_owned(),
        "/admin/silences/1/expire".to_owned(),
        "/admin/sites/s1/delete".to_owned(),
        format!("/incidents/{id}/ack"),
        format!("/incidents/{id}/assign"),
        format!("/incidents/{id}/comment"),
        format!("/incidents/{id}/resolve"),
        format!("/incidents/{id}/reopen"),
        format!("/incidents/{id}/silence"),
    ];
    for path in paths {
        let req = Request::post(&path)
            .header(header::COOKIE, &admin.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(
                "confirm_site_id=s1&week=mon%2009:00-10:00&reason=x&duration=1h",
            ))
            .unwrap();
        let resp = h.send(req).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(content_type(&resp).starts_with("text/html"), "{path}");
        assert!(text(resp).await.contains("CSRF"), "{path}");
    }
    assert!(
        crate::sites::store::get(&h.pool, "s1")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(audit_count(&h, "hours.default").await, 0);
    let state: String = sqlx::query_scalar("SELECT state FROM incidents")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!(state, "open");
}
