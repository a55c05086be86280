//! The console's site, incident and desk pages in a real browser (headless Chromium): a site
//! with a reader off while open; its page names the desk to call and whether it is open; the
//! operator goes to the incident, acknowledges and resolves it, and logs out. Every click waits
//! for something only the next page has. With `ONSHI_SCREENSHOTS=1` the pages are also saved
//! to docs/screenshots/ (install fonts-noto-cjk for readable Japanese).
//!
//! Also here: `onshi-server hours-default list|set` through the real binary.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::browser::{Browser, STEP};
use common::incidents::site_with_fault;
use common::{Server, TestDb};
use fantoccini::Locator;
use onshi_server::demo::Fault;
use sqlx::PgPool;

/// The id of the open `rule` incident at `site`, once the worker has opened it.
async fn open_incident(pool: &PgPool, site: &str, rule: &str, server: &Server) -> i64 {
    let deadline = Instant::now() + STEP;
    loop {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT incident_id FROM incidents WHERE site_id = $1 AND rule = $2 AND state = 'open'",
        )
        .bind(site)
        .bind(rule)
        .fetch_optional(pool)
        .await
        .unwrap();
        if let Some(id) = id {
            return id;
        }
        assert!(
            Instant::now() < deadline,
            "no open {rule} incident at {site}:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn screenshots() -> bool {
    std::env::var("ONSHI_SCREENSHOTS").is_ok_and(|v| v == "1")
}

/// The whole page as a PNG: the window grows to the page's height first.
async fn save_page(browser: &Browser, name: &str) {
    if !screenshots() {
        return;
    }
    let height = browser
        .client
        .execute("return document.documentElement.scrollHeight;", vec![])
        .await
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(800.0)
        .clamp(800.0, 4000.0);
    browser
        .client
        .set_window_size(1280, height as u32 + 120)
        .await
        .unwrap();
    browser
        .screenshot(Path::new(&format!("docs/screenshots/{name}.png")))
        .await;
    browser.client.set_window_size(1280, 800).await.unwrap();
}

/// A week of history for the screenshots: a report every 10 minutes while open, the reader
/// off one morning, the router unreachable one afternoon, a reboot each morning.
async fn week_of_history(pool: &PgPool, site: &str) {
    sqlx::query(
        "INSERT INTO report_history (received_at, agent_id, site_id, seq, collected_at, health, report,
             reader_power, boot_time, target_names, target_reachable, target_latency_ms, probe_errors)
         SELECT t, 'history', $1, 100000 + row_number() OVER (), t, 'ok', '\\x',
                CASE WHEN t BETWEEN now() - interval '2 days 3 hours' AND now() - interval '2 days 1 hour'
                     THEN 'off' ELSE 'on' END,
                date_trunc('day', t AT TIME ZONE 'Asia/Tokyo') AT TIME ZONE 'Asia/Tokyo' + interval '8 hours 50 minutes',
                ARRAY['router', 'onshi-endpoint'],
                ARRAY[NOT (t BETWEEN now() - interval '4 days 2 hours' AND now() - interval '4 days'), true],
                ARRAY[CASE WHEN t BETWEEN now() - interval '4 days 2 hours' AND now() - interval '4 days'
                           THEN NULL ELSE 2 + (extract(minute FROM t)::int % 5) END,
                      20 + (extract(hour FROM t)::int % 7) * 3],
                0
         FROM generate_series(now() - interval '7 days', now() - interval '20 minutes', interval '10 minutes') AS t
         WHERE extract(hour FROM t AT TIME ZONE 'Asia/Tokyo') BETWEEN 9 AND 17",
    )
    .bind(site)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn an_operator_finds_who_to_call_then_acknowledges_and_resolves_the_incident() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let server = Server::start(&db.url);
    // A site open around the clock whose reader is off: a critical incident.
    site_with_fault(&server, "clinic-pages", "東京都", Fault::ReaderOff).await;
    let id = open_incident(&pool, "clinic-pages", "reader_off", &server).await;
    if screenshots() {
        site_with_fault(&server, "pharmacy-cert", "大阪府", Fault::CertExpired).await;
        site_with_fault(&server, "clinic-router", "福岡県", Fault::RouterUnreachable).await;
        week_of_history(&pool, "clinic-pages").await;
    }
    let password = server.create_operator("ops1", "operator");
    browser.login(&server.http(""), "ops1", &password).await;

    // The site page: the 「今すぐ連絡」 panel names the desk and says whether it is open.
    browser.goto(&server.http("/sites/clinic-pages")).await;
    let pc = browser.wait_css(r#"#contact-now tr[data-part="pc"]"#).await;
    assert_eq!(
        pc.attr("data-desk").await.unwrap().as_deref(),
        Some("lenovo-pc")
    );
    let open = pc.attr("data-open").await.unwrap();
    let text = pc.text().await.unwrap();
    assert!(text.contains("レノボPC 故障受付"), "{text}");
    match open.as_deref() {
        Some("true") => assert!(text.contains("受付中"), "{text}"),
        Some("false") => assert!(
            text.contains("時間外") && text.contains("次の受付開始"),
            "{text}"
        ),
        other => panic!("data-open {other:?}"),
    }
    let reader = browser
        .wait_text(r#"#contact-now tr[data-part="card-reader"]"#, "富士通")
        .await;
    assert!(
        reader.contains("時間外") || reader.contains("受付中"),
        "{reader}"
    );
    let router = browser
        .wait_text(r#"#contact-now tr[data-part="router"]"#, "YAMAHA")
        .await;
    assert!(router.contains("0120-523-453"), "{router}");
    browser
        .wait_text("#reader", "オン資PCを再起動してください")
        .await;
    save_page(&browser, "site").await;

    // To the incident.
    if screenshots() {
        browser.goto(&server.http("/incidents")).await;
        browser
            .wait_css(&format!(r#"tr[data-incident-id="{id}"]"#))
            .await;
        save_page(&browser, "incidents").await;
        browser
            .goto(&server.http("/desks?part=router&router_model=RTX830"))
            .await;
        browser.wait_css(".route-answer .desk-answer").await;
        save_page(&browser, "desks").await;
        browser.goto(&server.http("/sites/clinic-pages")).await;
    }
    browser
        .click_then(
            &format!(r#"#site-incidents a[href="/incidents/{id}"]"#),
            "button#ack",
        )
        .await;
    browser.wait_path(&format!("/incidents/{id}")).await;
    browser.wait_text(".incident-state", "未対応").await;
    browser.wait_text(".desk-answer", "富士通").await;
    save_page(&browser, "incident").await;

    // Acknowledge: wait for the new state, not the old page.
    browser.click("button#ack").await;
    browser.wait_text(".incident-state", "対応中").await;
    browser.wait_text("p.notice", "確認済みにしました").await;

    // Resolve with a reason.
    browser
        .type_into(
            "#resolve-reason",
            "現地でカードリーダーの電源を入れ、復旧を確認",
        )
        .await;
    browser.click("button#resolve").await;
    browser.wait_text(".incident-state", "解決済").await;
    browser
        .wait_text("ol.timeline", "現地でカードリーダーの電源を入れ")
        .await;
    let state: String = sqlx::query_scalar("SELECT state FROM incidents WHERE incident_id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "resolved");

    // Log out: the portal is closed again.
    browser.click("nav.menu button.link").await;
    browser.wait_path("/login").await;
    browser
        .goto(&server.http(&format!("/incidents/{id}")))
        .await;
    browser.wait_path("/login").await;
    let forms = browser
        .client
        .find_all(Locator::Css("button#ack"))
        .await
        .unwrap();
    assert!(forms.is_empty());
    browser.close().await;
}

#[tokio::test]
async fn hours_default_cli_lists_and_changes_a_kinds_default() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let out = server.admin(&["hours-default", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("薬局（pharmacy）: 月〜金 9:00〜19:00 / 土 9:00〜13:00"),
        "{text}"
    );
    assert!(text.contains("（初期値）"));

    let out = server.admin(&["hours-default", "set", "--kind", "pharmacy"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--builtin のどちらか"));
    let out = server.admin(&[
        "hours-default",
        "set",
        "--kind",
        "pharmacy",
        "--set",
        "mon-sun 10:00-09:00",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("終了が開始より後"));
    let out = server.admin(&[
        "hours-default",
        "set",
        "--kind",
        "pharmacy",
        "--set",
        "mon-sat 09:00-20:00",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("薬局（pharmacy）: 月〜土 9:00〜20:00"),
        "{text}"
    );
    let pool = db.pool().await;
    let (actor, action): (String, String) =
        sqlx::query_as("SELECT actor, action FROM audit_log WHERE action = 'hours.default'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(actor.starts_with("cli:"), "{actor} {action}");
    let out = server.admin(&["hours-default", "set", "--kind", "pharmacy", "--builtin"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("月〜金 9:00〜19:00 / 土 9:00〜13:00"));
}
