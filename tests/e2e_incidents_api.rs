//! The incidents API and CLI end to end (issue 11 "Interfaces", "Bad input"): the real server,
//! real agents' reports over mTLS, the real worker; API tokens with roles; the CLI against the
//! same database.

mod common;

use common::{Server, TestDb};
use onshi_server::demo::{self, Fault};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ALWAYS: &str = "mon-sun 00:00-24:00";

/// The CSRF token of the page at `path` for a logged-in client.
async fn csrf(client: &reqwest::Client, server: &Server, path: &str) -> String {
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
async fn api_token(server: &Server, admin: &reqwest::Client, name: &str, role: &str) -> String {
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

fn cli(server: &Server, args: &[&str]) -> std::process::Output {
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
async fn site_with_fault(server: &Server, site_id: &str, prefecture: &str, fault: Fault) {
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
        .submit_reports(common::batch(&agent, vec![report]))
        .await
        .unwrap();
}

struct Api<'a> {
    server: &'a Server,
    http: reqwest::Client,
    token: String,
}

impl Api<'_> {
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(self.server.http(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json().await.unwrap_or(Value::Null))
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
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

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }

    /// Polls until the worker has opened an incident of `rule` at `site` (bounded; no timing
    /// is asserted).
    async fn wait_for(&self, site: &str, rule: &str) -> Value {
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

fn error_of(body: &Value) -> String {
    body["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn incidents_are_listed_acted_on_silenced_and_hours_edited_through_the_api() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let server = Server::start(&db.url);
    let admin = server.session("admin1", "admin").await;
    let _ = server.create_operator("sato", "operator");
    let _ = server.create_operator("watcher", "viewer");
    let http = reqwest::Client::new();
    let op = Api {
        server: &server,
        http: http.clone(),
        token: api_token(&server, &admin, "op1", "operator").await,
    };
    let op2 = Api {
        server: &server,
        http: http.clone(),
        token: api_token(&server, &admin, "op2", "operator").await,
    };
    let viewer = Api {
        server: &server,
        http: http.clone(),
        token: api_token(&server, &admin, "ro", "viewer").await,
    };
    let admin_api = Api {
        server: &server,
        http: http.clone(),
        token: api_token(&server, &admin, "adm", "admin").await,
    };

    site_with_fault(&server, "s-reader", "東京都", Fault::ReaderOff).await;
    site_with_fault(&server, "s-cert", "大阪府", Fault::CertExpired).await;
    let reader = op.wait_for("s-reader", "reader_off").await;
    let cert = op.wait_for("s-cert", "cert_expired").await;

    // The incident JSON carries the contract's fields and the desk answer for its part.
    for field in [
        "id",
        "site_id",
        "rule",
        "subject",
        "severity",
        "state",
        "title",
        "detail",
        "first_seen",
        "last_seen",
        "count",
        "silenced",
        "flapping",
        "assignee",
        "desk",
    ] {
        assert!(
            reader.get(field).is_some(),
            "incident lacks {field}: {reader}"
        );
    }
    assert_eq!(reader["state"], "open");
    assert_eq!(reader["silenced"], false);
    assert!(reader["desk"]["desk"].is_string(), "{reader}");
    assert!(reader["desk"]["open"].is_boolean() && reader["desk"].get("next_open").is_some());
    assert!(reader["desk"]["prepare"].is_array());

    // Filters and keyset paging: one per page, every incident once, critical first.
    let (_, all) = viewer.get("/api/v1/incidents").await;
    let total = all["incidents"].as_array().unwrap().len();
    assert!(total >= 2, "{all}");
    let mut seen = Vec::new();
    let mut path = "/api/v1/incidents?limit=1".to_owned();
    loop {
        let (status, page) = viewer.get(&path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["incidents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/incidents?limit=1&cursor={c}"),
            None => break,
        }
    }
    let expected: Vec<i64> = all["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seen, expected,
        "paging returns every incident once, in order"
    );
    let ranks: Vec<&str> = all["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["severity"].as_str().unwrap())
        .collect();
    let first_non_critical = ranks
        .iter()
        .position(|s| *s != "critical")
        .unwrap_or(ranks.len());
    assert!(
        ranks[first_non_critical..].iter().all(|s| *s != "critical"),
        "critical first: {ranks:?}"
    );
    let (_, osaka) = viewer
        .get("/api/v1/incidents?prefecture=%E5%A4%A7%E9%98%AA%E5%BA%9C")
        .await;
    assert!(
        osaka["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["site_id"] == "s-cert")
    );
    let (_, critical) = viewer
        .get("/api/v1/incidents?severity=critical&rule=cert_expired")
        .await;
    assert_eq!(critical["incidents"][0]["id"], cert["id"]);
    let (_, future) = viewer
        .get("/api/v1/incidents?since=2099-01-01T00:00:00Z")
        .await;
    assert_eq!(future["incidents"].as_array().unwrap().len(), 0);
    let (status, body) = viewer.get("/api/v1/incidents?cursor=nonsense").await;
    assert_eq!(status, 400);
    assert!(error_of(&body).contains("cursor"));
    let (status, _) = viewer.get("/api/v1/incidents?rule=no_such_rule").await;
    assert_eq!(status, 400);

    // Actions: a viewer may not; an operator acknowledges once.
    let id = reader["id"].as_i64().unwrap();
    let (status, body) = viewer
        .post(&format!("/api/v1/incidents/{id}/ack"), json!({}))
        .await;
    assert_eq!(status, 403, "{body}");
    let ack_path = format!("/api/v1/incidents/{id}/ack");
    let (a, b) = tokio::join!(
        op.post(&ack_path, json!({})),
        op2.post(&ack_path, json!({}))
    );
    let mut statuses = [a.0.as_u16(), b.0.as_u16()];
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 409],
        "two operators at once: one wins, the other is told"
    );
    let loser = if a.0 == 409 { &a.1 } else { &b.1 };
    assert!(
        error_of(loser).contains("確認済み") && error_of(loser).contains("token:op"),
        "{loser}"
    );

    let (_, detail) = op.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(detail["state"], "acknowledged");
    let version = detail["version"].as_i64().unwrap();
    let (status, body) = op
        .post(
            &format!("/api/v1/incidents/{id}/comment"),
            json!({"text": "院に電話、電源を入れてもらう", "version": version}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = op2
        .post(
            &format!("/api/v1/incidents/{id}/comment"),
            json!({"text": "こちらも対応", "version": version}),
        )
        .await;
    assert_eq!(status, 409, "a stale version is refused: {body}");
    assert!(
        error_of(&body).contains("token:op1") && error_of(&body).contains("コメント"),
        "{body}"
    );

    // Bad input: nothing is half-applied.
    let before = op.get(&format!("/api/v1/incidents/{id}")).await.1["timeline"]
        .as_array()
        .unwrap()
        .len();
    let huge = "a".repeat(1024 * 1024);
    let (status, body) = op
        .post(
            &format!("/api/v1/incidents/{id}/comment"),
            json!({"text": huge}),
        )
        .await;
    assert!(
        status == 422 || status == 413,
        "1 MB comment: {status} {body}"
    );
    let (status, body) = op
        .post(
            &format!("/api/v1/incidents/{id}/comment"),
            json!({"text": "ok\u{0}"}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(error_of(&body).contains("制御文字"), "{body}");
    let (status, body) = op
        .post(
            &format!("/api/v1/incidents/{id}/assign"),
            json!({"assignee": "nobody"}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(error_of(&body).contains("nobody"), "{body}");
    let (status, _) = op
        .post(
            &format!("/api/v1/incidents/{id}/assign"),
            json!({"assignee": "watcher"}),
        )
        .await;
    assert_eq!(status, 422, "a viewer cannot be assigned");
    let (status, _) = op
        .post(
            &format!("/api/v1/incidents/{id}/resolve"),
            json!({"reason": ""}),
        )
        .await;
    assert_eq!(status, 422, "resolving needs a reason");
    let (status, _) = op.post("/api/v1/incidents/999999/ack", json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = op
        .post(
            &format!("/api/v1/incidents/{id}/comment"),
            json!("not an object"),
        )
        .await;
    assert_eq!(status, 400);
    let after = op.get(&format!("/api/v1/incidents/{id}")).await.1["timeline"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "refused actions leave no timeline row");

    let (status, body) = op
        .post(
            &format!("/api/v1/incidents/{id}/assign"),
            json!({"assignee": "sato"}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["assignee"].as_str()),
        (200, Some("sato")),
        "{body}"
    );
    let (status, body) = op
        .post(
            &format!("/api/v1/incidents/{id}/resolve"),
            json!({"reason": "現地で電源投入を確認"}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["state"].as_str()),
        (200, Some("resolved")),
        "{body}"
    );
    let (status, body) = op
        .post(&format!("/api/v1/incidents/{id}/ack"), json!({}))
        .await;
    assert_eq!(status, 409);
    assert!(
        error_of(&body).contains("解決済み") && error_of(&body).contains("token:op1"),
        "{body}"
    );
    let (status, body) = op
        .post(
            &format!("/api/v1/incidents/{id}/reopen"),
            json!({"reason": "再発"}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["state"].as_str()),
        (200, Some("open")),
        "{body}"
    );
    let kinds: Vec<&str> = body["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "acknowledged",
            "commented",
            "assigned",
            "resolved",
            "reopened"
        ],
        "{body}"
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE target = $1 AND action LIKE 'incident.%'",
    )
    .bind(format!("incident:{id}"))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 5, "each accepted action is audited once");

    // Silences: bad ones refused in Japanese; a good one marks the incident; expiring ends it.
    let ends = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let past = (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
    for (body, field) in [
        (json!({"ends_at": ends, "reason": "x"}), "site_id"),
        (
            json!({"rule": "reader_of", "ends_at": ends, "reason": "x"}),
            "rule",
        ),
        (
            json!({"site_id": "nowhere", "ends_at": ends, "reason": "x"}),
            "site_id",
        ),
        (
            json!({"site_id": "s-cert", "ends_at": past, "reason": "x"}),
            "ends_at",
        ),
        (json!({"site_id": "s-cert", "ends_at": ends}), "reason"),
    ] {
        let (status, resp) = op.post("/api/v1/silences", body.clone()).await;
        assert_eq!(status, 422, "{body} → {resp}");
        assert!(resp["fields"][field].is_string(), "{body} → {resp}");
    }
    let (status, _) = viewer
        .post(
            "/api/v1/silences",
            json!({"site_id": "s-cert", "ends_at": ends, "reason": "工事"}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, silence) = op.post("/api/v1/silences", json!({"prefecture": "大阪府", "rule": "cert_expired", "ends_at": ends, "reason": "院内工事"})).await;
    assert_eq!(status, 201, "{silence}");
    assert_eq!(silence["created_by"], "token:op1");
    let cert_id = cert["id"].as_i64().unwrap();
    assert_eq!(
        op.get(&format!("/api/v1/incidents/{cert_id}")).await.1["silenced"],
        true
    );
    assert_eq!(
        op.get(&format!("/api/v1/incidents/{id}")).await.1["silenced"],
        false,
        "other prefecture"
    );
    let (_, list) = viewer.get("/api/v1/silences").await;
    assert_eq!(list["silences"].as_array().unwrap().len(), 1);
    let sid = silence["id"].as_i64().unwrap();
    let (status, _) = op
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/silences/{sid}"),
            json!(null),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        op.get(&format!("/api/v1/incidents/{cert_id}")).await.1["silenced"],
        false
    );
    let (status, body) = op
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/silences/{sid}"),
            json!(null),
        )
        .await;
    assert_eq!(status, 409, "{body}");

    // Business hours: admin sets the week; operators set exceptions; bad bands refused.
    let hours = "/api/v1/sites/s-cert/hours";
    let (status, body) = admin_api.get(hours).await;
    assert_eq!(
        (status.as_u16(), &body["bands"]["sun"]),
        (200, &json!(["00:00-24:00"])),
        "{body}"
    );
    assert_eq!(body["is_default"], false);
    let (status, _) = op
        .send(
            reqwest::Method::PUT,
            hours,
            json!({"week": "mon-fri 09:00-18:00"}),
        )
        .await;
    assert_eq!(status, 403, "the weekly schedule is an administrator's");
    let (status, body) = admin_api.send(reqwest::Method::PUT, hours, json!({"bands": {"mon": ["09:00-12:30", "14:00-18:00"], "sat": ["09:00-13:00"]}, "closed_on_holidays": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["bands"]["mon"], json!(["09:00-12:30", "14:00-18:00"]));
    assert!(body["description_ja"].as_str().unwrap().contains("月"));
    let (status, body) = admin_api
        .send(
            reqwest::Method::PUT,
            hours,
            json!({"bands": {"mon": ["18:00-09:00"]}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(error_of(&body).contains("終了が開始より後"), "{body}");
    let (status, body) = admin_api
        .send(
            reqwest::Method::PUT,
            hours,
            json!({"week": "mon 09:00-13:00,12:00-18:00"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(error_of(&body).contains("重なって"), "{body}");
    let exception = format!("{hours}/exceptions/2099-05-01");
    let (status, body) = op
        .send(
            reqwest::Method::PUT,
            &exception,
            json!({"open": ["10:00-12:00"], "note": "午前のみ"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["exceptions"][0]["open"], json!(["10:00-12:00"]));
    let (status, _) = op
        .send(
            reqwest::Method::PUT,
            &format!("{hours}/exceptions/2099-13-01"),
            json!({}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, body) = op
        .send(reqwest::Method::DELETE, &exception, json!(null))
        .await;
    assert_eq!(
        (status.as_u16(), body["exceptions"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{body}"
    );
    let (status, _) = op
        .send(reqwest::Method::DELETE, &exception, json!(null))
        .await;
    assert_eq!(status, 404);
    let (status, _) = admin_api.get("/api/v1/sites/nowhere/hours").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_cli_lists_incidents_silences_and_site_hours() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    site_with_fault(&server, "c-reader", "東京都", Fault::ReaderOff).await;
    let mut incidents = Vec::new();
    for _ in 0..300 {
        let out = cli(&server, &["incidents", "list", "--format", "json"]);
        incidents = serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap();
        if incidents.iter().any(|i| i["rule"] == "reader_off") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let reader = incidents
        .iter()
        .find(|i| i["rule"] == "reader_off")
        .expect("reader_off listed");
    for field in [
        "id",
        "site_id",
        "rule",
        "subject",
        "severity",
        "state",
        "first_seen",
        "last_seen",
        "count",
        "silenced",
    ] {
        assert!(reader.get(field).is_some(), "{field} missing: {reader}");
    }
    for field in ["desk", "open", "next_open"] {
        assert!(
            reader["desk"].get(field).is_some(),
            "desk.{field} missing: {reader}"
        );
    }
    let text = String::from_utf8(cli(&server, &["incidents", "list"]).stdout).unwrap();
    assert!(
        text.contains("重大度") && text.contains("c-reader"),
        "{text}"
    );
    let resolved = cli(
        &server,
        &[
            "incidents",
            "list",
            "--state",
            "resolved",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&resolved.stdout)
            .unwrap()
            .len(),
        0
    );

    // silence add / list / expire, and the bad ones.
    let out = cli(
        &server,
        &[
            "silence",
            "add",
            "--site",
            "c-reader",
            "--for",
            "2h",
            "--reason",
            "院内工事",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("サイレンス"));
    let listed: Vec<Value> =
        serde_json::from_slice(&cli(&server, &["silence", "list", "--format", "json"]).stdout)
            .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0]["created_by"]
            .as_str()
            .unwrap()
            .starts_with("cli:")
    );
    let json: Vec<Value> =
        serde_json::from_slice(&cli(&server, &["incidents", "list", "--format", "json"]).stdout)
            .unwrap();
    assert!(
        json.iter()
            .filter(|i| i["site_id"] == "c-reader")
            .all(|i| i["silenced"] == true)
    );
    let id = listed[0]["id"].to_string();
    cli(&server, &["silence", "expire", &id]);
    let listed: Vec<Value> =
        serde_json::from_slice(&cli(&server, &["silence", "list", "--format", "json"]).stdout)
            .unwrap();
    assert!(listed.is_empty());
    for bad in [
        vec!["silence", "add", "--for", "2h", "--reason", "x"],
        vec![
            "silence", "add", "--rule", "nope", "--for", "2h", "--reason", "x",
        ],
        vec![
            "silence", "add", "--site", "nowhere", "--for", "2h", "--reason", "x",
        ],
        vec![
            "silence",
            "add",
            "--site",
            "c-reader",
            "--ends",
            "2001-01-01T00:00:00+09:00",
            "--reason",
            "x",
        ],
    ] {
        let out = server.admin(&bad);
        assert!(!out.status.success(), "{bad:?} accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("error:"),
            "{bad:?}"
        );
    }

    // site hours / closed-day, audited as cli:<user>.
    let out = cli(
        &server,
        &[
            "site",
            "hours",
            "--site-id",
            "c-reader",
            "--set",
            "mon-fri 09:00-18:00; sat 09:00-13:00",
            "--holidays",
            "closed",
        ],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("月〜金 9:00〜18:00")
            && text.contains("土 9:00〜13:00")
            && text.contains("休業"),
        "{text}"
    );
    let out = cli(
        &server,
        &[
            "site",
            "closed-day",
            "--site-id",
            "c-reader",
            "--date",
            "2099-05-01",
            "--note",
            "院内研修",
        ],
    );
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("例外日 2099-05-01: 休業（院内研修）")
    );
    let out = cli(
        &server,
        &[
            "site",
            "closed-day",
            "--site-id",
            "c-reader",
            "--date",
            "2099-05-02",
            "--open",
            "10:00-12:00",
        ],
    );
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("2099-05-02: 営業")
    );
    cli(
        &server,
        &[
            "site",
            "closed-day",
            "--site-id",
            "c-reader",
            "--date",
            "2099-05-01",
            "--remove",
        ],
    );
    let text = String::from_utf8(
        cli(
            &server,
            &["site", "hours", "--site-id", "c-reader", "--default"],
        )
        .stdout,
    )
    .unwrap();
    assert!(
        text.contains("既定値") && !text.contains("2099-05-01"),
        "{text}"
    );
    let bad = server.admin(&[
        "site",
        "hours",
        "--site-id",
        "c-reader",
        "--set",
        "mon 18:00-09:00",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("終了が開始より後"));
    let pool = db.pool().await;
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE actor LIKE 'cli:%' AND action IN ('site.hours', 'site.hours_exception', 'silence.create', 'silence.expire')")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(audited >= 6, "CLI writes are audited ({audited})");
}
