//! The rollout pages in a real browser (headless Chromium): an administrator
//! starts a rollout from the form, sees why the monitor halted it, and
//! resumes it.

mod common;

use common::browser::Browser;
use common::updates::{
    TestKey, eventually, ok, publish, restamped, rollout_state, sign, version_plus,
};
use common::{Server, TestDb, bin};

#[tokio::test]
async fn admin_starts_a_rollout_sees_why_it_halted_and_resumes_it() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let db = TestDb::new().await;
    let server = Server::start_with_args(&db.url, &["--rollout-check-seconds", "1"]);
    let pool = db.pool().await;
    let key = TestKey::new();
    let version = version_plus(1);
    let dir = tempfile::tempdir().unwrap();
    let binary = restamped(
        &bin("onshi-agent"),
        &version,
        &dir.path().join("onshi-agent"),
    );
    let release = sign(&key, &binary, &version, "linux-x86_64", dir.path(), &[]);
    ok(publish(&server, &key, &release), "release publish");
    let state = tempfile::tempdir().unwrap();
    let agent_id = server.enroll("clinic-canary", state.path());
    let password = server.create_operator("upd-admin", "admin");

    browser
        .login(&server.http(""), "upd-admin", &password)
        .await;
    browser.goto(&server.http("/admin/updates")).await;
    browser.wait_text("#releases", &version).await;
    browser
        .type_into("textarea[name=canary_sites]", "clinic-canary")
        .await;
    browser.type_into("input[name=rings]", "100").await;
    browser.type_into("input[name=spread_minutes]", "0").await;
    browser.click("#start-rollout button[type=submit]").await;
    browser.wait_path("/admin/rollouts/").await;
    browser.wait_text("#rollout-state", "配信中").await;
    browser
        .wait_text("#rollout-state", "カナリア（指定 1 サイト）")
        .await;
    let rollout: i64 = browser
        .path()
        .await
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    // The canary PC says the release failed its trial (what e2e_updates
    // produces for real): the monitor halts the rollout by itself.
    sqlx::query(
        "INSERT INTO agent_update_events (agent_id, event_id, kind, version, from_version, reason, occurred_at, rollout_id)
         VALUES ($1, 1, 'rolled_back', $2, '0.0.1', 'the new version exited (exit status: 1) before delivering a report', now(), $3)",
    )
    .bind(&agent_id)
    .bind(&version)
    .bind(rollout)
    .execute(&pool)
    .await
    .unwrap();
    eventually("the halt", || async {
        (rollout_state(&pool, rollout).await.0 == "halted").then_some(())
    })
    .await;
    browser
        .goto(&server.http(&format!("/admin/rollouts/{rollout}")))
        .await;
    browser
        .wait_text("#halt-reason", "元のバージョンに戻りました")
        .await;
    browser.wait_text("#rollout-state", "自動停止").await;
    browser.wait_text("#events", "切り戻し").await;
    browser
        .wait_text("#timeline", "system:rollout-monitor")
        .await;
    browser
        .screenshot(
            &std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("admin-rollout-halted.png"),
        )
        .await;

    browser.click("form[action$='/resume'] button").await;
    browser.wait_text("#rollout-state", "配信中").await;
    browser.wait_text("#timeline", "再開").await;
    assert_eq!(rollout_state(&pool, rollout).await.0, "running");
    browser.close().await;
}
