//! The notification admin pages in a real browser (headless Chromium): add a webhook channel
//! (a wrong URL is shown at its field), send a test to a real receiver, see a failed channel's
//! dead letter on the deliveries page and resend it. Every step waits for the next page.

mod common;

use std::time::{Duration, Instant};

use common::browser::Browser;
use common::webhook::Receiver;
use common::{Server, TestDb};

const SECRET: &str = "browser-webhook-secret-01";

async fn add_channel(browser: &Browser, name: &str, url: &str) {
    browser
        .type_into("form.channel-form input[name=name]", name)
        .await;
    browser
        .type_into("form.channel-form input[name=url]", url)
        .await;
    browser
        .type_into("form.channel-form input[name=secret]", SECRET)
        .await;
    browser.click("form.channel-form button[type=submit]").await;
}

#[tokio::test]
async fn admin_adds_a_channel_tests_it_and_resends_a_dead_letter() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let pool = db.pool().await;
    let receiver = Receiver::start(&[]).await;
    let password = server.create_operator("ops-admin", "admin");
    browser
        .login(&server.http(""), "ops-admin", &password)
        .await;

    browser.click_link("通知チャネル").await;
    browser.wait_path("/admin/channels").await;
    browser
        .wait_text("table.channels", "チャネルはありません")
        .await;

    // A URL without a scheme: the page comes back with the reason at the field.
    add_channel(&browser, "ops", "hooks.example.jp/onshi").await;
    browser.wait_text("#err-url", "正しくありません").await;
    // Fixed: the channel is listed.
    add_channel(&browser, "ops", &receiver.url).await;
    browser
        .wait_text(r#"tr[data-channel="ops"]"#, "Webhook")
        .await;

    browser.click(r#"tr[data-channel="ops"] button.test"#).await;
    browser.wait_text("p.notice", "テスト送信しました").await;
    let got = receiver.wait_for(1).await;
    assert!(got[0].signature_valid(SECRET), "{:?}", got[0]);
    assert_eq!(got[0].json()["kind"], "test");

    // A channel nobody listens at: the test fails and says why.
    let nowhere = format!("http://127.0.0.1:{}/hook", common::free_port());
    add_channel(&browser, "down", &nowhere).await;
    browser
        .wait_text(r#"tr[data-channel="down"]"#, "Webhook")
        .await;
    browser
        .click(r#"tr[data-channel="down"] button.test"#)
        .await;
    browser.wait_text("p.error", "接続できません").await;

    // The deliveries page shows the dead letter with its reason; the admin resends it.
    browser.click_link("送信履歴").await;
    browser.wait_path("/admin/deliveries").await;
    browser
        .wait_text(r#"tr[data-state="dead"]"#, "接続できません")
        .await;
    browser.wait_text(r#"tr[data-state="sent"]"#, "ops").await;
    browser.click(r#"tr[data-state="dead"] button.retry"#).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // Resent by the admin, then tried once more by a sender (and dead again: nobody listens).
        let (retried, attempts, state): (Option<String>, i32, String) = sqlx::query_as(
            "SELECT retried_by, attempts, state FROM notify_deliveries WHERE channel_name = 'down'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if retried.as_deref() == Some("user:ops-admin") && attempts == 1 && state == "dead" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the resend was not recorded: {retried:?} {attempts} {state}\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.close().await;
}
