//! Headless Chromium driven through chromedriver (Debian's `chromium` and
//! `chromium-driver`), for the tests of pages that matter.
//!
//! Every step that changes the page waits for something only the *next* page
//! has (`click_then`, `wait_text`, `wait_path`): reading straight after a click
//! races the old page, which is what once made CI fail on a slow machine.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

/// How long a step may take on a loaded 2-core CI machine (debug build).
pub const STEP: Duration = Duration::from_secs(60);

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn chromedriver() -> Option<&'static str> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

impl Browser {
    /// A fresh browser with an empty profile, 1280×800. `None` (with a line
    /// saying what to install) when chromedriver is missing outside CI; in CI
    /// (`CI` set, as `.ci/run` does) a missing browser fails the test.
    pub async fn start() -> Option<Browser> {
        let Some(driver_path) = chromedriver() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "chromedriver missing in CI: apt-get install chromium chromium-driver"
            );
            eprintln!("SKIPPED: install chromium and chromium-driver to run the browser tests");
            return None;
        };
        let port = super::free_port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so Drop can stop Chromium's children too.
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                // This machine's network is closed: no background calls home.
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic",
                "--window-size=1280,800", "--lang=ja",
                format!("--user-data-dir={}", profile.path().display()),
            ]}),
        );
        let deadline = Instant::now() + STEP;
        let client = loop {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => panic!("chromedriver did not start: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Some(Browser {
            client,
            driver,
            _profile: profile,
        })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// Wait until the address bar's path starts with `prefix`.
    pub async fn wait_path(&self, prefix: &str) {
        let deadline = Instant::now() + STEP;
        loop {
            let path = self.path().await;
            if path.starts_with(prefix) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "still at {path}, expected {prefix}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn wait_css(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(STEP)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Wait until an element matching `css` shows `needle` in its text; return that text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + STEP;
        let mut seen = Vec::new();
        loop {
            seen.clear();
            if let Ok(elements) = self.client.find_all(Locator::Css(css)).await {
                for element in elements {
                    // The page may be replaced under us: a stale element is a retry.
                    if let Ok(text) = element.text().await {
                        if text.contains(needle) {
                            return text;
                        }
                        seen.push(text);
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {css} containing {needle:?}; seen: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.wait_css(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.wait_css(css).await.click().await.unwrap();
    }

    /// Click, then wait for an element that only the resulting page has.
    pub async fn click_then(&self, css: &str, next: &str) -> Element {
        self.click(css).await;
        self.wait_css(next).await
    }

    /// Click a link by its exact text. A link in the header's 管理 menu is shown first (the
    /// menu is a closed `<details>`).
    pub async fn click_link(&self, text: &str) {
        let _ = self
            .client
            .execute(
                "var text = arguments[0];
                 document.querySelectorAll('details.admin-menu').forEach(function (d) {
                   d.querySelectorAll('a').forEach(function (a) {
                     if (a.textContent.trim() === text) { d.open = true; }
                   });
                 });
                 return true;",
                vec![serde_json::json!(text)],
            )
            .await;
        self.client
            .wait()
            .at_most(STEP)
            .for_element(Locator::LinkText(text))
            .await
            .unwrap_or_else(|e| panic!("no link {text}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Open the header's 管理 menu (administrators) and click its entry `text`.
    pub async fn click_admin_link(&self, text: &str) {
        self.click("details.admin-menu > summary").await;
        self.wait_css("details.admin-menu[open]").await;
        self.click_link(text).await;
    }

    /// Load `url` again and again until an element matching `css` is there: for pages that
    /// show a state the server reaches on its own (an incident opened by the worker).
    pub async fn goto_until(&self, url: &str, css: &str) -> Element {
        let deadline = Instant::now() + STEP;
        loop {
            self.goto(url).await;
            if let Ok(found) = self.client.find(Locator::Css(css)).await {
                return found;
            }
            assert!(Instant::now() < deadline, "{url} never showed {css}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Log in through the form and wait until the login page is gone.
    pub async fn login(&self, base: &str, username: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.type_into("input[name=username]", username).await;
        self.type_into("input[name=password]", password).await;
        self.click("button[type=submit]").await;
        let deadline = Instant::now() + STEP;
        while self.path().await.starts_with("/login") {
            assert!(Instant::now() < deadline, "login did not leave /login");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Save a PNG of the viewport (README screenshots, failure evidence).
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// End the WebDriver session cleanly (Drop also stops the processes).
    pub async fn close(self) {
        let Browser { client, .. } = &self;
        let _ = client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and every Chromium process it started share a group.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
