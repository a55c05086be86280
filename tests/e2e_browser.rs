//! The portal in a real browser (headless Chromium through chromedriver):
//! log in, see the fleet, register a site, issue an enrolment token.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Server, TestDb, run_agent_once};
use fantoccini::{ClientBuilder, Locator};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver() -> Option<String> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(str::to_owned)
}

#[tokio::test]
async fn operator_logs_in_sees_the_fleet_and_enrols_a_site() {
    let Some(driver_path) = chromedriver() else {
        // CI installs Chromium (.ci/run); elsewhere say what is missing.
        assert!(
            std::env::var_os("CI").is_none(),
            "chromedriver missing in CI: apt-get install chromium chromium-driver"
        );
        eprintln!("SKIPPED: install chromium and chromium-driver to run the browser test");
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

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _driver = Driver(
        Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]}),
    );
    let mut browser = None;
    for _ in 0..50 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                browser = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let browser = browser.expect("chromedriver did not start");

    // Not logged in: the portal sends us to the login page.
    browser.goto(&server.http("/")).await.unwrap();
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/login")
    );
    browser
        .find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys("ops-admin")
        .await
        .unwrap();
    browser
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys("wrong password")
        .await
        .unwrap();
    browser
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let error = browser
        .find(Locator::Css("p.error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        error.contains("ユーザ名またはパスワードが違います"),
        "{error}"
    );

    browser
        .find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys("ops-admin")
        .await
        .unwrap();
    browser
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(&password)
        .await
        .unwrap();
    browser
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // The fleet: the reporting site is red (its router target is down).
    let row = browser
        .wait()
        .for_element(Locator::Css(r#"tr[data-site-id="clinic-browser"]"#))
        .await
        .unwrap();
    assert_eq!(
        row.attr("data-state").await.unwrap().as_deref(),
        Some("critical")
    );
    assert!(row.text().await.unwrap().contains("異常"));

    // Register a site and issue its one-time enrolment token.
    browser
        .find(Locator::LinkText("サイト登録"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Css("input[name=site_id]"))
        .await
        .unwrap()
        .send_keys("clinic-new")
        .await
        .unwrap();
    browser
        .find(Locator::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys("新宿テストクリニック")
        .await
        .unwrap();
    browser
        .find(Locator::Css("form.card button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let new_row = browser
        .wait()
        .for_element(Locator::Css(r#"tr[data-site-id="clinic-new"]"#))
        .await
        .unwrap();
    assert!(
        new_row
            .text()
            .await
            .unwrap()
            .contains("新宿テストクリニック")
    );
    new_row
        .find(Locator::Css("button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let secret = browser
        .wait()
        .for_element(Locator::Id("secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(secret.trim().len(), 64, "token shown once: {secret}");

    // Log out: the portal is closed again.
    browser
        .find(Locator::Css("nav.menu button.link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.goto(&server.http("/")).await.unwrap();
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/login")
    );
    browser.close().await.unwrap();
}
