//! The portal in a real browser (headless Chromium through chromedriver):
//! log in, see the fleet, register a site, issue an enrolment token.

mod common;

use common::browser::Browser;
use common::{Server, TestDb, run_agent_once};
use fantoccini::Locator;

#[tokio::test]
async fn operator_logs_in_sees_the_fleet_and_enrols_a_site() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let state = tempfile::tempdir().unwrap();
    let out = run_agent_once(
        &server,
        state.path(),
        "clinic-browser",
        &["--target", "dead=127.0.0.1:9"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let password = server.create_operator("ops-admin", "admin");

    // Not logged in: the portal sends us to the login page.
    browser.goto(&server.http("/")).await;
    browser.wait_path("/login").await;
    browser.type_into("input[name=username]", "ops-admin").await;
    browser.type_into("input[name=password]", "wrong password").await;
    browser.click("button[type=submit]").await;
    // The answer is another /login page: wait for its error, not the old form.
    browser
        .wait_text("p.error", "ユーザ名またはパスワードが違います")
        .await;

    browser.type_into("input[name=username]", "ops-admin").await;
    browser.type_into("input[name=password]", &password).await;
    browser.click("button[type=submit]").await;

    // The fleet: the reporting site is red (its router target is down).
    let row = browser
        .wait_css(r#"tr[data-site-id="clinic-browser"]"#)
        .await;
    assert_eq!(
        row.attr("data-state").await.unwrap().as_deref(),
        Some("critical")
    );
    assert!(row.text().await.unwrap().contains("異常"));

    // The admin menu fits on one line on a 1280px-wide screen.
    browser.client.set_window_size(1280, 900).await.unwrap();
    let items = browser
        .client
        .find_all(Locator::Css("nav.menu > a, nav.menu .who, nav.menu button"))
        .await
        .unwrap();
    assert!(items.len() >= 8, "admin menu items: {}", items.len());
    let (mut top, mut bottom) = (f64::MAX, f64::MIN);
    for item in &items {
        let (_, y, _, h) = item.rectangle().await.unwrap();
        top = top.min(y);
        bottom = bottom.max(y + h);
    }
    let (_, _, _, one_line) = items[0].rectangle().await.unwrap();
    assert!(
        bottom - top < one_line * 1.5,
        "menu wraps at 1280px: spans {top}..{bottom}, one line is {one_line}"
    );

    // Register a site and issue its one-time enrolment token.
    browser.click_link("サイト登録").await;
    browser.wait_path("/admin/sites").await;
    browser.type_into("input[name=site_id]", "clinic-new").await;
    browser.type_into("input[name=name]", "新宿テストクリニック").await;
    browser.click("form.card button[type=submit]").await;
    browser
        .wait_text(r#"tr[data-site-id="clinic-new"]"#, "新宿テストクリニック")
        .await;
    browser
        .click(r#"tr[data-site-id="clinic-new"] button"#)
        .await;
    let secret = browser.wait_css("#secret").await.text().await.unwrap();
    assert_eq!(secret.trim().len(), 64, "token shown once: {secret}");

    // Log out: the portal is closed again.
    browser.click("nav.menu button.link").await;
    browser.wait_path("/login").await;
    browser.goto(&server.http("/")).await;
    browser.wait_path("/login").await;
    browser.close().await;
}
