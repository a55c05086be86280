//! Escalation end to end (issue 12): a PC that stops reporting becomes a Lenovo mail that a
//! real SMTP server process receives once, with the guide's subject tags and a decodable
//! Japanese body; a refused recipient keeps the draft; the CLI drafts, lists, records calls
//! and tracks; an operator does it all in a real browser.

mod common;

use common::browser::Browser;
use common::incidents::{ALWAYS, Api, api_token, cli};
use common::smtp::SmtpSink;
use common::{Server, TestDb};
use onshi_server::demo::{self, Fault};
use reqwest::StatusCode;
use serde_json::{Value, json};

const FROM: &str = "オン資保守デスク <desk@onshi.example.jp>";

/// A clinic with a full profile whose PC reported once and then went quiet: the sweep, run as
/// at an hour later, opens `offline` (→ the Lenovo desk). Returns the incident.
async fn silent_pc(server: &Server, db: &TestDb, api: &Api<'_>, site_id: &str) -> Value {
    cli(
        server,
        &[
            "site",
            "add",
            "--site-id",
            site_id,
            "--name",
            "山田内科クリニック",
            "--prefecture",
            "東京都",
            "--medical-code",
            "1312345678",
            "--address",
            "東京都新宿区西新宿2-8-1",
            "--phone",
            "03-1234-5678",
            "--contact-person",
            "山田 花子",
            "--pc-serial",
            "PF3ABCDE",
            "--router-model",
            "AT-AR1050V",
            "--router-serial",
            "S/NA12345678",
        ],
    );
    cli(
        server,
        &[
            "site",
            "hours",
            "--site-id",
            site_id,
            "--set",
            ALWAYS,
            "--holidays",
            "open",
        ],
    );
    let (agent, mut client, _dir) = server.enrolled_client(site_id).await;
    let mut site = demo::fleet(1).remove(0);
    site.site_id = site_id.into();
    site.fault = Fault::None;
    client
        .submit_reports(common::batch(
            &agent,
            vec![demo::demo_report(&site, &agent, 1)],
        ))
        .await
        .unwrap();
    // The report must be evaluated first: an evaluation after the sweep would answer the
    // `offline` with that very report.
    let pool = db.pool().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let owed: i64 =
            sqlx::query_scalar("SELECT count(*) FROM incident_eval_queue WHERE site_id = $1")
                .bind(site_id)
                .fetch_one(&pool)
                .await
                .unwrap();
        if owed == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "report never evaluated"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    pool.close().await;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    cli(server, &["sweep", "--at", &later]);
    api.wait_for(site_id, "offline").await
}

/// A pharmacy open around the clock, holidays included (a reader off is a finding only while
/// the site is open), whose Fujitsu reader is off in its one report.
async fn reader_off_site(server: &Server, site_id: &str) {
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
            "大阪府",
            "--kind",
            "pharmacy",
            "--reader-maker",
            "fujitsu",
            "--router-model",
            "RTX830",
        ],
    );
    cli(
        server,
        &[
            "site",
            "hours",
            "--site-id",
            site_id,
            "--set",
            ALWAYS,
            "--holidays",
            "open",
        ],
    );
    let (agent, mut client, _dir) = server.enrolled_client(site_id).await;
    let mut site = demo::fleet(1).remove(0);
    site.site_id = site_id.into();
    site.reader_maker = Some(onshi_server::sites::ReaderMaker::Fujitsu);
    site.fault = Fault::ReaderOff;
    client
        .submit_reports(common::batch(
            &agent,
            vec![demo::demo_report(&site, &agent, 1)],
        ))
        .await
        .unwrap();
}

fn text_of(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn a_lenovo_escalation_mail_reaches_a_real_smtp_server_once() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let db = TestDb::new().await;
    let server = Server::start_with_args(
        &db.url,
        &[
            "--escalation-smtp-url",
            &sink.url(),
            "--escalation-mail-from",
            FROM,
        ],
    );
    let admin = server.session("admin1", "admin").await;
    let api = Api {
        server: &server,
        http: reqwest::Client::new(),
        token: api_token(&server, &admin, "op1", "operator").await,
    };
    let incident = silent_pc(&server, &db, &api, "clinic-yamada").await;
    let id = incident["id"].as_i64().unwrap();
    let base = format!("/api/v1/incidents/{id}/escalations");

    let (status, e) = api.post(&base, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    assert_eq!(
        (e["desk"].as_str(), e["channel"].as_str()),
        (Some("lenovo-pc"), Some("mail"))
    );
    let eid = e["id"].as_i64().unwrap();
    let (status, e) = api.post(&format!("{base}/{eid}/send"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{e}\n{}", server.log_text());
    assert_eq!(e["status"], "requested");
    assert!(
        e["due_at"].is_string() && e["send_started_at"].is_null(),
        "{e}"
    );

    let mail = sink.wait_for(1).remove(0);
    assert_eq!(mail.rcpt_tos, ["request@nmc.comsys.co.jp"]);
    assert_eq!(mail.to_header(), ["request@nmc.comsys.co.jp"]);
    assert_eq!(mail.mail_from, "desk@onshi.example.jp");
    let subject = mail.subject();
    assert!(
        subject.starts_with("【I026_01】【医療オンライン資格確認】")
            && subject.contains("山田内科クリニック"),
        "{subject}"
    );
    let body = mail.body().replace("\r\n", "\n");
    for needle in [
        "シリアル番号（PC本体に記載）\n  PF3ABCDE",
        "医療機関等名称: 山田内科クリニック",
        "医療機関等コード: 1312345678",
        "所在地: 東京都新宿区西新宿2-8-1",
        "電話番号: 03-1234-5678",
        "ご担当者: 山田 花子",
        "営業時間: 月〜日 0:00〜24:00",
        "オン資PC 停止中",
    ] {
        assert!(body.contains(needle), "{needle}\n{body}");
    }
    let message_id = mail.header("Message-ID").unwrap_or_default();
    assert!(
        message_id.contains(&format!("escalation-{eid}.incident-{id}@onshi.example.jp")),
        "{message_id}"
    );

    // Sent once: a second send is refused before any SMTP traffic.
    let (status, body) = api.post(&format!("{base}/{eid}/send"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(sink.messages().len(), 1);
    let (_, detail) = api.get(&format!("/api/v1/incidents/{id}")).await;
    let actions: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|ev| ev["kind"] == "escalation")
        .map(|ev| ev["detail"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["drafted", "sent"]);

    // A reader maker reachable only by a mail address the server refuses: a clear error,
    // the draft kept, the failure audited, and the case can go on by phone.
    reader_off_site(&server, "pharmacy-reader").await;
    let reader = api.wait_for("pharmacy-reader", "reader_off").await;
    cli(
        &server,
        &[
            "maker",
            "set",
            "--maker",
            "fujitsu",
            "--mail",
            "refuse-reader@example.jp",
        ],
    );
    let rid = reader["id"].as_i64().unwrap();
    let rbase = format!("/api/v1/incidents/{rid}/escalations");
    let (status, e) = api.post(&rbase, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    assert_eq!(
        (e["channel"].as_str(), e["to"].as_str()),
        (Some("mail"), Some("refuse-reader@example.jp"))
    );
    let reid = e["id"].as_i64().unwrap();
    let (status, body) = api.post(&format!("{rbase}/{reid}/send"), json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("550") && error.contains("下書きはそのまま"),
        "{error}"
    );
    let (_, e) = api.get(&format!("{rbase}/{reid}")).await;
    assert_eq!(e["status"], "draft");
    assert!(
        e["send_started_at"].is_null(),
        "a refusal is not an unknown outcome: {e}"
    );
    assert_eq!(sink.messages().len(), 1, "nothing delivered");
    let pool = db.pool().await;
    let failed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'escalation.send' AND outcome = 'failed'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(failed, 1);
    let (status, e) = api
        .post(
            &format!("{rbase}/{reid}/record-call"),
            json!({ "outcome": "accepted", "spoke_with": "富士通Japan 受付", "ticket": "FJ-1" }),
        )
        .await;
    assert_eq!(
        (status, e["status"].as_str()),
        (StatusCode::OK, Some("accepted")),
        "{e}"
    );
}

#[tokio::test]
async fn operators_escalate_from_the_command_line() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let admin = server.session("admin1", "admin").await;
    let api = Api {
        server: &server,
        http: reqwest::Client::new(),
        token: api_token(&server, &admin, "op1", "operator").await,
    };
    let incident = silent_pc(&server, &db, &api, "clinic-cli").await;
    let id = incident["id"].as_i64().unwrap().to_string();

    // The draft in words and in JSON, nothing stored.
    let out = cli(&server, &["escalation", "draft", "--incident", &id]);
    let text = text_of(&out);
    for needle in [
        "【依頼先】レノボPC 故障受付",
        "【宛先】request@nmc.comsys.co.jp",
        "【件名】【I026_01】【医療オンライン資格確認】",
        "PF3ABCDE",
        "窓口の状況",
    ] {
        assert!(text.contains(needle), "{needle}\n{text}");
    }
    let out = cli(
        &server,
        &[
            "escalation",
            "draft",
            "--incident",
            &id,
            "--format",
            "json",
            "--at",
            "2026-03-07T10:00:00+09:00",
        ],
    );
    let draft: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(draft["desk"], "lenovo-pc");
    assert_eq!(draft["escalation_id"], Value::Null);
    assert_eq!(draft["route"]["open"], false, "Saturday: Lenovo is closed");
    assert_eq!(draft["route"]["next_open"], "2026-03-09T09:00:00+09:00");
    assert!(draft["sheet"].as_str().unwrap().contains("今つながる窓口"));
    // Refusals exit non-zero and say why.
    let out = server.admin(&[
        "escalation",
        "draft",
        "--incident",
        &id,
        "--desk",
        "omakase",
    ]);
    assert!(!out.status.success());
    assert!(
        text_of(&out).contains("加入していません"),
        "{}",
        text_of(&out)
    );
    let out = server.admin(&[
        "escalation",
        "draft",
        "--incident",
        &id,
        "--desk",
        "allied-router",
        "--serial",
        "SER.1",
    ]);
    assert!(!out.status.success());
    assert!(
        text_of(&out).contains("「S/NA」から始まる番号"),
        "{}",
        text_of(&out)
    );

    // Saved, then sent to an SMTP server that is not there: the draft stays.
    let out = cli(
        &server,
        &["escalation", "draft", "--incident", &id, "--save"],
    );
    let text = text_of(&out);
    let eid = text
        .split_whitespace()
        .nth(1)
        .filter(|_| text.starts_with("下書き "))
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned();
    let closed = format!("smtp://127.0.0.1:{}?tls=none", common::free_port());
    let out = server.admin(&[
        "escalation",
        "send",
        "--id",
        &eid,
        "--escalation-smtp-url",
        &closed,
        "--escalation-mail-from",
        "desk@onshi.example.jp",
    ]);
    assert!(!out.status.success());
    assert!(
        text_of(&out).contains("接続できません"),
        "{}",
        text_of(&out)
    );
    let out = cli(
        &server,
        &["escalation", "list", "--incident", &id, "--format", "json"],
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["status"], "draft");

    // Phoned instead, then tracked to the end.
    let out = cli(
        &server,
        &[
            "escalation",
            "record-call",
            "--id",
            &eid,
            "--outcome",
            "accepted",
            "--spoke-with",
            "日本コムシス",
            "--ticket",
            "NC-42",
        ],
    );
    assert!(text_of(&out).contains("受付済"), "{}", text_of(&out));
    let out = server.admin(&[
        "escalation",
        "update",
        "--id",
        &eid,
        "--status",
        "visit_scheduled",
    ]);
    assert!(
        !out.status.success() && text_of(&out).contains("visit_on"),
        "{}",
        text_of(&out)
    );
    cli(
        &server,
        &[
            "escalation",
            "update",
            "--id",
            &eid,
            "--status",
            "visit_scheduled",
            "--visit-on",
            "2026-03-10",
        ],
    );
    let out = cli(
        &server,
        &[
            "escalation",
            "update",
            "--id",
            &eid,
            "--status",
            "done",
            "--note",
            "代替機で復旧",
        ],
    );
    assert!(
        text_of(&out).contains("完了") && text_of(&out).contains("NC-42"),
        "{}",
        text_of(&out)
    );
    let out = cli(&server, &["escalation", "list", "--scope", "all"]);
    assert!(text_of(&out).contains("NC-42"), "{}", text_of(&out));

    // The directories.
    let out = cli(&server, &["maker", "list"]);
    assert!(text_of(&out).contains("ALMEX\t未登録"), "{}", text_of(&out));
    let out = server.admin(&["maker", "set", "--maker", "canon", "--phone", "call me"]);
    assert!(!out.status.success() && text_of(&out).contains("数字とハイフン"));
    cli(
        &server,
        &[
            "maker",
            "set",
            "--maker",
            "canon",
            "--phone",
            "0120-222-333",
            "--weekday",
            "09:00-17:00",
            "--year-end",
            "dec29-jan3",
        ],
    );
    let out = cli(&server, &["maker", "list", "--format", "json"]);
    let makers: Value = serde_json::from_slice(&out.stdout).unwrap();
    let canon = makers
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["maker"] == "canon")
        .unwrap();
    assert_eq!(canon["desk"]["entry"]["phone"], "0120-222-333");
    cli(
        &server,
        &[
            "receipt-vendor",
            "add",
            "--name",
            "デモメディカルシステム",
            "--phone",
            "0120-111-222",
        ],
    );
    let out = cli(&server, &["receipt-vendor", "list"]);
    assert!(text_of(&out).contains("0120-111-222"));
    cli(
        &server,
        &[
            "receipt-vendor",
            "remove",
            "--name",
            "デモメディカルシステム",
        ],
    );
    let out = server.admin(&[
        "receipt-vendor",
        "remove",
        "--name",
        "デモメディカルシステム",
    ]);
    assert!(!out.status.success() && text_of(&out).contains("登録されていません"));
    let pool = db.pool().await;
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE actor LIKE 'cli:%'
           AND action IN ('escalation.draft', 'escalation.record_call', 'escalation.update',
                          'maker_desk.set', 'receipt_vendor.create', 'receipt_vendor.remove')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        audited, 7,
        "draft, call, 2 updates, maker, vendor add and remove"
    );
}

#[tokio::test]
async fn an_operator_drafts_and_sends_in_a_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let db = TestDb::new().await;
    let server = Server::start_with_args(
        &db.url,
        &[
            "--escalation-smtp-url",
            &sink.url(),
            "--escalation-mail-from",
            FROM,
        ],
    );
    let admin = server.session("admin1", "admin").await;
    let api = Api {
        server: &server,
        http: reqwest::Client::new(),
        token: api_token(&server, &admin, "op1", "operator").await,
    };
    let incident = silent_pc(&server, &db, &api, "clinic-browser").await;
    let id = incident["id"].as_i64().unwrap();
    let password = server.create_operator("sato", "operator");
    browser.login(&server.http(""), "sato", &password).await;
    browser
        .goto(&server.http(&format!("/incidents/{id}/escalations")))
        .await;
    browser.wait_text("p.proposal", "レノボPC 故障受付").await;

    // Draft: the page comes back with the case and a notice.
    browser.click("#draft-form button[type=submit]").await;
    browser.wait_text("p.notice", "下書きを作成しました").await;
    let article = browser
        .wait_css("article.escalation[data-status=draft]")
        .await;
    let eid = article.attr("id").await.unwrap().unwrap();
    // Edit the body, save, then send.
    let body = browser
        .wait_css(&format!("#{eid} textarea[name=body]"))
        .await;
    body.send_keys("\n追記: ブラウザから送信").await.unwrap();
    browser
        .click(&format!("#{eid} form.edit-form button[type=submit]"))
        .await;
    browser.wait_text("p.notice", "下書きを保存しました").await;
    browser
        .click(&format!("#{eid} form.send-form button.send"))
        .await;
    browser.wait_text("p.notice", "メールを送信しました").await;
    browser
        .wait_css(&format!("article#{eid}[data-status=requested]"))
        .await;
    let mail = sink.wait_for(1).remove(0);
    assert!(
        mail.body().contains("追記: ブラウザから送信"),
        "{}",
        mail.body()
    );

    // The ticket and the status from the update form.
    browser
        .type_into(
            &format!("#{eid} form.update-form input[name=ticket]"),
            "CS-9",
        )
        .await;
    let select = browser
        .wait_css(&format!("#{eid} form.update-form select[name=status]"))
        .await;
    select.select_by_value("accepted").await.unwrap();
    browser
        .click(&format!("#{eid} form.update-form button[type=submit]"))
        .await;
    browser
        .wait_css(&format!("article#{eid}[data-status=accepted]"))
        .await;
    browser
        .wait_text(&format!("#{eid} td.ticket"), "CS-9")
        .await;
    browser.close().await;
}
