//! The operator console in a real browser (headless Chromium through chromedriver): the
//! dashboard updates by itself when an agent reports a reader switched off at an open site
//! (Server-Sent Events, no reload), the header's global search finds the site by part of its
//! name, and opening it leads to `/sites/{site_id}`.
//!
//! With `ONSHI_SCREENSHOTS=1`, `console_screenshots` also saves the dashboard and the site
//! list of a small varied fleet to `docs/screenshots/` (install `fonts-noto-cjk` first so
//! the Japanese text is readable).

mod common;

use common::browser::Browser;
use common::incidents::{ALWAYS, cli};
use common::{Server, TestDb};
use onshi_proto::v1::agent_service_client::AgentServiceClient;
use onshi_server::demo::{self, DemoSite, Fault};
use onshi_server::sites::{Maintenance, ReaderMaker, RouterModel, SiteKind};
use tonic::transport::Channel;

/// A registered site open around the clock, with an enrolled agent.
struct Clinic {
    site: DemoSite,
    agent: String,
    client: AgentServiceClient<Channel>,
    seq: u64,
    _identity: tempfile::TempDir,
}

impl Clinic {
    async fn register(
        server: &Server,
        site_id: &str,
        name: &str,
        prefecture: &'static str,
    ) -> Clinic {
        // A profile as operators keep it: code, address, phone, contact, subscription.
        let n = site_id.len() + name.chars().count();
        let code = format!("13{:08}", 1_000_000 + n * 7919);
        let phone = format!("0{}-{:04}-{:04}", 3 + n % 7, 1000 + n * 37, 2000 + n * 101);
        let address = format!("中央区本町{}-{}", 1 + n % 9, 1 + n % 20);
        let mut args = vec![
            "site",
            "add",
            "--site-id",
            site_id,
            "--name",
            name,
            "--prefecture",
            prefecture,
            "--reader-maker",
            "fujitsu",
            "--router-model",
            "RTX830",
            "--phone",
            &phone,
            "--medical-code",
            &code,
            "--address",
            &address,
            "--contact-person",
            "受付 佐藤",
        ];
        if !n.is_multiple_of(3) {
            args.extend(["--maintenance", "omakase", "--omakase-dial", "0120-000-000"]);
        }
        cli(server, &args);
        cli(
            server,
            &["site", "hours", "--site-id", site_id, "--set", ALWAYS],
        );
        let (agent, client, identity) = server.enrolled_client(site_id).await;
        let site = DemoSite {
            site_id: site_id.into(),
            name: name.into(),
            prefecture,
            kind: SiteKind::Clinic,
            reader_maker: Some(ReaderMaker::Fujitsu),
            router_model: RouterModel::Rtx830,
            maintenance: Maintenance::Omakase,
            fault: Fault::None,
        };
        Clinic {
            site,
            agent,
            client,
            seq: 0,
            _identity: identity,
        }
    }

    /// The agent reports what it sees, with `fault`, over gRPC/mTLS.
    async fn report(&mut self, fault: Fault) {
        self.seq += 1;
        self.site.fault = fault;
        let report = demo::demo_report(&self.site, &self.agent, self.seq);
        self.client
            .submit_reports(common::batch(&self.agent, vec![report]))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_dashboard_updates_itself_and_the_global_search_opens_a_site() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let db = TestDb::new().await;
    let server = Server::start_with_args(&db.url, &["--dashboard-refresh-seconds", "1"]);
    let mut yamada =
        Clinic::register(&server, "yamada-naika", "山田内科クリニック", "東京都").await;
    let mut sakura = Clinic::register(&server, "sakura-yakkyoku", "さくら薬局", "大阪府").await;
    yamada.report(Fault::None).await;
    sakura.report(Fault::None).await;
    let password = server.create_operator("watcher", "viewer");

    browser.login(&server.http(""), "watcher", &password).await;
    browser.wait_path("/").await;
    // Both clinics report and nothing is wrong.
    browser
        .wait_text(r#"#fleet li[data-key="ok"] .n"#, "2")
        .await;
    let critical = browser
        .wait_css(r#"#fleet li[data-key="critical"] .n"#)
        .await;
    assert_eq!(critical.text().await.unwrap(), "0");
    browser.wait_text("#live-status", "自動更新中").await;
    // A mark in this page: still there after the update means the page was not reloaded.
    browser
        .client
        .execute("window.onshiMark = 'same page'; return true;", vec![])
        .await
        .unwrap();

    // Open all day, the reader is switched off: the dashboard follows by itself.
    yamada.report(Fault::ReaderOff).await;
    browser
        .wait_text(r#"#fleet li[data-key="critical"] .n"#, "1")
        .await;
    browser.wait_text("#newest", "山田内科クリニック").await;
    browser
        .wait_text("#card-readers", "山田内科クリニック")
        .await;
    let mark = browser
        .client
        .execute("return window.onshiMark || null;", vec![])
        .await
        .unwrap();
    assert_eq!(
        mark,
        serde_json::json!("same page"),
        "the page was reloaded"
    );

    // The header's search box finds the clinic by part of its name.
    browser.type_into("#global-q", "山田").await;
    browser
        .click("form.global-search button[type=submit]")
        .await;
    browser.wait_path("/sites").await;
    let row = browser.wait_css(r#"tr[data-site-id="yamada-naika"]"#).await;
    assert_eq!(
        row.attr("data-state").await.unwrap().as_deref(),
        Some("critical")
    );
    let listed = browser
        .client
        .find_all(fantoccini::Locator::Css("tr.site"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "only the clinic whose name has 山田");

    // Opening it leads to the site's page.
    browser
        .click(r#"tr[data-site-id="yamada-naika"] th.name a"#)
        .await;
    browser.wait_path("/sites/yamada-naika").await;
    browser.close().await;
}

/// `ONSHI_SCREENSHOTS=1 cargo test --test e2e_console console_screenshots`: the dashboard and
/// the site list of a small fleet with every kind of trouble, for the README.
#[tokio::test]
async fn console_screenshots() {
    if std::env::var_os("ONSHI_SCREENSHOTS").is_none() {
        eprintln!(
            "SKIPPED: set ONSHI_SCREENSHOTS=1 to write docs/screenshots/ (needs fonts-noto-cjk)"
        );
        return;
    }
    let Some(browser) = Browser::start().await else {
        return;
    };
    let db = TestDb::new().await;
    let server = Server::start_with_args(&db.url, &["--dashboard-refresh-seconds", "1"]);
    let fleet = [
        (
            "yamada-naika",
            "山田内科クリニック",
            "東京都",
            Fault::ReaderOff,
        ),
        (
            "sakura-yakkyoku",
            "さくら薬局 駅前店",
            "大阪府",
            Fault::None,
        ),
        (
            "aoba-shika",
            "あおば歯科医院",
            "宮城県",
            Fault::CertExpiring,
        ),
        (
            "tanaka-seikei",
            "田中整形外科",
            "福岡県",
            Fault::RouterUnreachable,
        ),
        (
            "hikari-houmon",
            "ひかり訪問看護ステーション",
            "愛知県",
            Fault::None,
        ),
        ("suzuki-iin", "鈴木医院", "北海道", Fault::NoReboot),
        (
            "midori-clinic",
            "みどりこどもクリニック",
            "神奈川県",
            Fault::ScreenLockOff,
        ),
        ("kato-ganka", "加藤眼科", "京都府", Fault::AccountChanged),
        ("chuo-yakkyoku", "中央調剤薬局", "広島県", Fault::None),
        ("yamamoto-hifu", "山本皮膚科", "東京都", Fault::CertExpired),
    ];
    for (id, name, prefecture, fault) in fleet {
        let mut clinic = Clinic::register(&server, id, name, prefecture).await;
        clinic.report(fault).await;
    }
    cli(
        &server,
        &[
            "site",
            "add",
            "--site-id",
            "new-site",
            "--name",
            "新規開設クリニック（設置前）",
        ],
    );
    let password = server.create_operator("ops-admin", "admin");
    browser.client.set_window_size(1280, 1000).await.unwrap();
    browser
        .login(&server.http(""), "ops-admin", &password)
        .await;
    browser.wait_path("/").await;
    browser
        .wait_text(r#"#fleet li[data-key="critical"] .n"#, "4")
        .await;
    browser.wait_text("#live-status", "自動更新中").await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    browser.screenshot(&dir.join("dashboard.png")).await;
    browser.goto(&server.http("/sites?sort=state")).await;
    browser.wait_css(r#"tr[data-site-id="yamada-naika"]"#).await;
    browser.screenshot(&dir.join("sites.png")).await;
    browser.close().await;
}
