//! Helpers for the incidents API and CLI end-to-end tests.

use onshi_server::demo::{self, Fault};
use reqwest::StatusCode;
use serde_json::Value;

use super::{Server, TestDb};

pub const ALWAYS: &str = "mon-sun 00:00-24:00";

/// The CSRF token of the page at `path` for a logged-in client.
pub async fn csrf(client: &reqwest::Client, server: &Server, path: &str) -> String {
    let page = client
        .get(server.http(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = r#"name="csrf" value=""#;
    let start = page.find(marker).expect("page has a CSRF field") + marker.len();
    page[start..start + 64].to_owned()
}

/// An API token with `role`, made by an administrator on the admin page.
pub async fn api_token(server: &Server, admin: &reqwest::Client, name: &str, role: &str) -> String {
    let token = csrf(admin, server, "/admin/tokens").await;
    let page = admin
        .post(server.http("/admin/tokens"))
        .form(&[("csrf", token.as_str()), ("name", name), ("role", role)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page.find(r#"id="secret">"#).unwrap() + r#"id="secret">"#.len();
    page[start..start + 64].to_owned()
}

pub fn cli(server: &Server, args: &[&str]) -> std::process::Output {
    let out = server.admin(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Registers a site open around the clock and delivers one report with `fault` from an
/// enrolled agent.
pub async fn site_with_fault(server: &Server, site_id: &str, prefecture: &str, fault: Fault) {
    cli(
        server,
        &[
            "site",
            "add",
            "--site-id",
            site_id,
            "--name",
            site_id,
            "--prefecture",
            prefecture,
            "--reader-maker",
            "fujitsu",
            "--router-model",
            "RTX830",
        ],
    );
    cli(
        server,
        &["site", "hours", "--site-id", site_id, "--set", ALWAYS],
    );
    let (agent, mut client, _dir) = server.enrolled_client(site_id).await;
    let mut site = demo::fleet(1).remove(0);
    site.site_id = site_id.into();
    site.reader_maker = Some(onshi_server::sites::ReaderMaker::Fujitsu);
    site.fault = fault;
    let report = demo::demo_report(&site, &agent, 1);
    client
        .submit_reports(super::batch(&agent, vec![report]))
        .await
        .unwrap();
}

pub struct Api<'a> {
    pub server: &'a Server,
    pub http: reqwest::Client,
    pub token: String,
}

impl Api<'_> {
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(self.server.http(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let resp = self
            .http
            .request(method, self.server.http(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }

    /// Polls until the worker has opened an incident of `rule` at `site` (bounded; no timing
    /// is asserted).
    pub async fn wait_for(&self, site: &str, rule: &str) -> Value {
        for _ in 0..300 {
            let (_, page) = self
                .get(&format!("/api/v1/incidents?site={site}&rule={rule}"))
                .await;
            if let Some(i) = page["incidents"].as_array().and_then(|a| a.first()) {
                return i.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no {rule} incident at {site}:\n{}", self.server.log_text());
    }
}

pub fn error_of(body: &Value) -> String {
    body["error"].as_str().unwrap_or_default().to_owned()
}

/// A server with two sites that have an incident each (`s-reader`: reader off, Tokyo;
/// `s-cert`: certificate expired, Osaka), two operators' tokens, a viewer's and an admin's.
pub struct Fixture {
    pub db: TestDb,
    pub server: Server,
    pub op: String,
    pub op2: String,
    pub viewer: String,
    pub admin: String,
    pub reader: Value,
    pub cert: Value,
}

impl Fixture {
    pub async fn start() -> Fixture {
        let db = TestDb::new().await;
        let server = Server::start(&db.url);
        let admin = server.session("admin1", "admin").await;
        let _ = server.create_operator("sato", "operator");
        let _ = server.create_operator("watcher", "viewer");
        let op = api_token(&server, &admin, "op1", "operator").await;
        let op2 = api_token(&server, &admin, "op2", "operator").await;
        let viewer = api_token(&server, &admin, "ro", "viewer").await;
        let admin = api_token(&server, &admin, "adm", "admin").await;
        site_with_fault(&server, "s-reader", "東京都", Fault::ReaderOff).await;
        site_with_fault(&server, "s-cert", "大阪府", Fault::CertExpired).await;
        let api = Api {
            server: &server,
            http: reqwest::Client::new(),
            token: op.clone(),
        };
        let reader = api.wait_for("s-reader", "reader_off").await;
        let cert = api.wait_for("s-cert", "cert_expired").await;
        Fixture {
            db,
            server,
            op,
            op2,
            viewer,
            admin,
            reader,
            cert,
        }
    }

    /// The API as the holder of `token`.
    pub fn api(&self, token: &str) -> Api<'_> {
        Api {
            server: &self.server,
            http: reqwest::Client::new(),
            token: token.to_owned(),
        }
    }
}
