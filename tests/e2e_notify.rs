//! Notifications end to end (issue 12): the real server binary routes incident changes written
//! by the incident store to a real local HTTP receiver and a real SMTP server process; kills,
//! two replicas, failures and bad input. Every wait polls for the expected state (60 s).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::incidents::cli;
use common::smtp::SmtpSink;
use common::webhook::{Answer, Receiver};
use common::{Server, TestDb};
use onshi_server::incidents::rules::{Condition, Rule};
use onshi_server::incidents::store;
use onshi_server::notify::{SystemEvent, enqueue_event};
use onshi_server::sites::{Actor, Health, SiteInput};
use sqlx::PgPool;

const SECRET: &str = "e2e-webhook-secret-0123";
/// Fast retries so that a dead letter after N tries does not take hours.
const FAST: &[&str] = &[
    "--notify-retry-base-seconds",
    "0.2",
    "--notify-retry-max-seconds",
    "1",
];
const BY: Actor<'static> = Actor {
    actor: "e2e",
    remote: "",
};

fn webhook_channel(server: &Server, name: &str, url: &str, extra: &[&str]) {
    let mut args = vec![
        "channel", "add", "--kind", "webhook", "--name", name, "--url", url, "--secret", SECRET,
    ];
    args.extend_from_slice(extra);
    cli(server, &args);
}

async fn site(pool: &PgPool, id: &str) {
    let mut tx = pool.begin().await.unwrap();
    onshi_server::sites::store::create(
        &mut tx,
        &SiteInput {
            site_id: id.into(),
            name: format!("{id}医院"),
            prefecture: "東京都".into(),
            ..Default::default()
        },
        BY,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Opens an incident through the incident store, as the sweep does, in its own transaction.
async fn open(pool: &PgPool, site: &str, rule: Rule, severity: Health) -> i64 {
    let condition = Condition {
        rule,
        subject: String::new(),
        severity,
        title: "カードリーダーの電源が入っていません".into(),
        detail: String::new(),
        evidence: serde_json::Value::Null,
    };
    let mut tx = pool.begin().await.unwrap();
    let ids = store::open_many(&mut tx, &[(site.into(), 1, condition)], Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    ids[0]
}

async fn event(pool: &PgPool, subject: &str) {
    let mut tx = pool.begin().await.unwrap();
    enqueue_event(
        &mut tx,
        &SystemEvent {
            kind: "rollout_halted".into(),
            subject: subject.into(),
            body: "失敗率が上がったため自動で停止しました。管理画面で理由を確認してください。"
                .into(),
            severity: Health::Critical,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Delivery {
    delivery_id: i64,
    channel_name: String,
    kind: String,
    state: String,
    idempotency_key: sqlx::types::Uuid,
    attempts: i32,
    last_error: Option<String>,
}

async fn deliveries(pool: &PgPool) -> Vec<Delivery> {
    sqlx::query_as(
        "SELECT delivery_id, channel_name, kind, state, idempotency_key, attempts, last_error
         FROM notify_deliveries ORDER BY delivery_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Polls until `done` holds for the deliveries (60 s), returning them.
async fn wait_deliveries(
    pool: &PgPool,
    what: &str,
    done: impl Fn(&[Delivery]) -> bool,
) -> Vec<Delivery> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = deliveries(pool).await;
        if done(&rows) {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn fresh_signature(r: &common::webhook::Request) {
    assert!(r.signature_valid(SECRET), "bad signature: {r:?}");
    assert!(
        !r.signature_valid("another-secret-0000"),
        "signature must depend on the secret"
    );
    let ts: i64 = r.timestamp.parse().expect("X-Onshi-Timestamp");
    assert!((Utc::now().timestamp() - ts).abs() < 600, "timestamp {ts}");
    assert_eq!(r.content_type, "application/json; charset=utf-8");
    assert_eq!(
        r.json()["id"],
        r.idempotency_key,
        "the body's id is the Idempotency-Key"
    );
}

async fn metrics(server: &Server) -> String {
    reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn thirty_incidents_are_one_signed_message_and_their_resolution_another() {
    let db = TestDb::new().await;
    let server = Server::start_with_args(&db.url, FAST);
    let pool = db.pool().await;
    let receiver = Receiver::start(&[]).await;
    webhook_channel(&server, "ops", &receiver.url, &["--group-seconds", "3"]);
    let mut ids = Vec::new();
    for n in 0..30 {
        let s = format!("clinic-{n:02}");
        site(&pool, &s).await;
        ids.push(open(&pool, &s, Rule::ReaderOff, Health::Critical).await);
    }
    let rows = wait_deliveries(&pool, "the grouped message sent", |r| {
        r.len() == 1 && r[0].state == "sent"
    })
    .await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1, "30 incidents, one message");
    fresh_signature(&got[0]);
    assert_eq!(got[0].idempotency_key, rows[0].idempotency_key.to_string());
    let doc = got[0].json();
    assert_eq!(doc["kind"], "opened");
    assert_eq!(doc["channel"], "ops");
    assert_eq!(doc["incident_count"], 30);
    assert_eq!(doc["incidents"].as_array().unwrap().len(), 30);
    let title = doc["title"].as_str().unwrap();
    assert!(
        title.ends_with("— 30 サイトでカードリーダー電源断"),
        "{title}"
    );
    assert!(
        doc["text"].as_str().unwrap().contains("clinic-07医院"),
        "{doc}"
    );

    // Resolved (as the worker resolves them): one resolution message to the channel that heard.
    let mut tx = pool.begin().await.unwrap();
    for id in &ids {
        store::resolve(&mut tx, *id, "system", "条件が解消しました", Utc::now())
            .await
            .unwrap();
        store::event(
            &mut tx,
            *id,
            "auto_resolved",
            "system",
            serde_json::json!({}),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    wait_deliveries(&pool, "the resolution sent", |r| {
        r.len() == 2 && r.iter().all(|d| d.state == "sent")
    })
    .await;
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2);
    fresh_signature(&got[1]);
    assert_ne!(got[0].idempotency_key, got[1].idempotency_key);
    let doc = got[1].json();
    assert_eq!(doc["kind"], "resolved");
    assert_eq!(doc["incident_count"], 30);
    assert!(
        doc["subject"].as_str().unwrap().starts_with("【解消】"),
        "{doc}"
    );

    let text = metrics(&server).await;
    assert!(
        text.contains("onshi_notifications_sent_total{channel=\"ops\"} 2"),
        "{text}"
    );
    assert!(text.contains("onshi_notification_outbox_age_seconds"), "{text}");
    let out = cli(&server, &["channel", "deliveries", "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["state"], "sent");
    assert_eq!(listed[1]["incidents"], 30);
}

#[tokio::test]
async fn a_500_is_retried_with_the_same_key_and_n_failures_dead_letter() {
    let db = TestDb::new().await;
    let server = Server::start_with_args(&db.url, FAST);
    let pool = db.pool().await;
    let flaky = Receiver::start(&[Answer::Status(500)]).await;
    let broken = Receiver::start(&[Answer::Status(500); 3]).await;
    webhook_channel(
        &server,
        "flaky",
        &flaky.url,
        &["--min-severity", "critical"],
    );
    webhook_channel(&server, "broken", &broken.url, &["--max-attempts", "3"]);
    event(&pool, "更新 1.4.2 のロールアウトを停止しました").await;

    let rows = wait_deliveries(&pool, "one sent, one dead-lettered", |r| {
        r.len() == 2
            && r.iter()
                .any(|d| d.channel_name == "flaky" && d.state == "sent")
            && r.iter()
                .any(|d| d.channel_name == "broken" && d.state == "dead")
    })
    .await;
    let sent = rows.iter().find(|d| d.channel_name == "flaky").unwrap();
    assert_eq!(sent.attempts, 2, "500, then 200");
    let got = flaky.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].idempotency_key, got[1].idempotency_key,
        "a retry is the same message"
    );
    got.iter().for_each(fresh_signature);

    let dead = rows.iter().find(|d| d.channel_name == "broken").unwrap();
    assert_eq!(dead.attempts, 3);
    let error = dead.last_error.as_deref().unwrap();
    assert!(error.contains("HTTP 500"), "{error}");
    assert_eq!(broken.requests().len(), 3);
    let listed = cli(&server, &["channel", "deliveries", "--state", "dead"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("broken") && listed.contains("HTTP 500"),
        "{listed}"
    );
    let text = metrics(&server).await;
    assert!(
        text.contains("onshi_notifications_dead_lettered_total{channel=\"broken\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("onshi_notifications_failed_total{channel=\"broken\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("onshi_notifications_failed_total{channel=\"flaky\"} 1"),
        "{text}"
    );

    // The admin retries it (the receiver now answers 200): sent, with the same key again.
    let id = dead.delivery_id.to_string();
    cli(&server, &["channel", "retry", "--delivery", &id]);
    wait_deliveries(&pool, "the retried message sent", |r| {
        r.iter()
            .any(|d| d.channel_name == "broken" && d.state == "sent")
    })
    .await;
    let got = broken.requests();
    assert_eq!(got.len(), 4);
    assert!(
        got.iter()
            .all(|r| r.idempotency_key == got[0].idempotency_key)
    );
    // A sent message cannot be sent again by hand.
    let again = server.admin(&["channel", "retry", "--delivery", &id]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("再送できません"), "{err}");
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'notify.retry'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn a_server_killed_mid_send_sends_again_once_with_the_same_key() {
    let db = TestDb::new().await;
    let mut first = Server::start_with_args(&db.url, FAST);
    let pool = db.pool().await;
    // The first request is held open: the server is killed while it waits for the answer.
    let receiver = Receiver::start(&[Answer::Hang]).await;
    webhook_channel(&first, "ops", &receiver.url, &["--timeout-seconds", "2"]);
    event(&pool, "更新のロールアウトを停止しました").await;
    receiver.wait_for(1).await;
    first.kill9();

    let _second = Server::start_with_args(&db.url, FAST);
    let rows = wait_deliveries(&pool, "the message sent by the second server", |r| {
        r.len() == 1 && r[0].state == "sent"
    })
    .await;
    let got = receiver.requests();
    assert_eq!(got.len(), 2, "sent again once, not more: {got:?}");
    assert_eq!(got[0].idempotency_key, got[1].idempotency_key);
    assert_eq!(got[1].idempotency_key, rows[0].idempotency_key.to_string());
    assert_eq!(got[0].body, got[1].body, "the same message");
    assert_eq!(rows[0].attempts, 2);
}

#[tokio::test]
async fn two_servers_drain_one_outbox_and_send_each_message_once() {
    let db = TestDb::new().await;
    let a = Server::start_with_args(&db.url, FAST);
    let pool = db.pool().await;
    let receiver = Receiver::start(&[]).await;
    webhook_channel(&a, "ops", &receiver.url, &[]);
    let b = Server::start_with_args(&db.url, FAST);
    for n in 0..40 {
        event(&pool, &format!("お知らせ {n}")).await;
    }
    wait_deliveries(&pool, "40 messages sent", |r| {
        r.len() == 40 && r.iter().all(|d| d.state == "sent")
    })
    .await;
    let got = receiver.requests();
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for r in &got {
        fresh_signature(r);
        *per_key.entry(r.idempotency_key.clone()).or_default() += 1;
    }
    assert_eq!(per_key.len(), 40, "every message arrived");
    assert!(
        per_key.values().all(|n| *n == 1),
        "each exactly once: {per_key:?}"
    );
    assert_eq!(got.len(), 40);
    drop((a, b));
}

#[tokio::test]
async fn smtp_channel_mails_the_japanese_message_and_a_refused_recipient_is_dead_lettered() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let db = TestDb::new().await;
    let server = Server::start_with_args(&db.url, FAST);
    let pool = db.pool().await;
    let smtp = |name: &str, to: &str| {
        cli(
            &server,
            &[
                "channel",
                "add",
                "--kind",
                "smtp",
                "--name",
                name,
                "--smtp-url",
                &sink.url(),
                "--from",
                "Onshi Fleet 監視 <fleet@example.jp>",
                "--to",
                to,
                "--group-seconds",
                "1",
            ],
        );
    };
    smtp("mail", "ops@example.jp,desk@example.jp");
    smtp("bad-mail", "refuse-me@example.jp");

    let out = cli(&server, &["channel", "test", "--name", "mail"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("送信しました"));
    let test_mail = sink.wait_for(1).remove(0);
    assert!(
        test_mail.subject().starts_with("【テスト】"),
        "{}",
        test_mail.subject()
    );
    let refused = server.admin(&["channel", "test", "--name", "bad-mail"]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("拒否") && why.contains("550"), "{why}");

    site(&pool, "yamada").await;
    open(&pool, "yamada", Rule::ReaderOff, Health::Critical).await;
    let rows = wait_deliveries(&pool, "mail sent, refused one dead-lettered", |r| {
        r.iter()
            .any(|d| d.channel_name == "mail" && d.kind == "opened" && d.state == "sent")
            && r.iter()
                .any(|d| d.channel_name == "bad-mail" && d.kind == "opened" && d.state == "dead")
    })
    .await;
    let mails = sink.wait_for(2);
    assert_eq!(mails.len(), 2, "the refused recipient got nothing");
    let m = &mails[1];
    assert_eq!(m.rcpt_tos, ["ops@example.jp", "desk@example.jp"]);
    assert_eq!(m.mail_from, "fleet@example.jp");
    let subject = m.subject();
    assert!(subject.starts_with("【異常】"), "{subject}");
    assert!(
        subject.ends_with("— yamada医院でカードリーダー電源断"),
        "{subject}"
    );
    let body = m.body();
    assert!(body.contains("yamada医院（東京都・"), "{body}");
    assert!(
        body.contains("カードリーダーの電源が入っていません"),
        "{body}"
    );
    let sent = rows
        .iter()
        .find(|d| d.channel_name == "mail" && d.kind == "opened")
        .unwrap();
    assert_eq!(
        m.header("Message-ID").as_deref(),
        Some(format!("<{}@onshi-fleet>", sent.idempotency_key).as_str())
    );
    let dead = rows
        .iter()
        .find(|d| d.channel_name == "bad-mail" && d.kind == "opened")
        .unwrap();
    assert_eq!(
        dead.attempts, 1,
        "a refused recipient is not retried blindly"
    );
    assert!(
        dead.last_error
            .as_deref()
            .unwrap()
            .contains("refuse-me@example.jp")
    );
}

#[tokio::test]
async fn bad_input_is_refused_clearly_and_the_worker_keeps_going() {
    let db = TestDb::new().await;
    let server = Server::start_with_args(&db.url, FAST);
    let pool = db.pool().await;
    let refused = |args: &[&str], needle: &str| {
        let out = server.admin(args);
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    let hook = [
        "channel", "add", "--kind", "webhook", "--name", "x", "--secret", SECRET,
    ];
    refused(
        &[&hook[..], &["--url", "hooks.example.jp/onshi"]].concat(),
        "URL",
    );
    refused(
        &[&hook[..], &["--url", "ftp://hooks.example.jp/"]].concat(),
        "http:// か https://",
    );
    refused(
        &[
            "channel",
            "add",
            "--kind",
            "webhook",
            "--name",
            "x",
            "--url",
            "https://h.example.jp/",
            "--secret",
            "short",
        ],
        "16文字以上",
    );
    refused(
        &[
            "channel",
            "add",
            "--kind",
            "smtp",
            "--name",
            "m",
            "--smtp-url",
            "smtp://127.0.0.1:25",
            "--from",
            "a@example.jp\r\nBcc: victim@example.jp",
            "--to",
            "ops@example.jp",
        ],
        "制御文字",
    );
    refused(
        &[
            "channel",
            "add",
            "--kind",
            "smtp",
            "--name",
            "m",
            "--smtp-url",
            "smtp://u:p@relay:25",
            "--from",
            "a@example.jp",
            "--to",
            "b@example.jp",
        ],
        "tls=required",
    );
    refused(
        &["route", "add", "--name", "r", "--channel", "nope"],
        "nope",
    );
    refused(
        &[
            "route",
            "add",
            "--name",
            "r",
            "--channel",
            "nope",
            "--rule",
            "reader_of",
        ],
        "reader_of",
    );
    let channels: i64 = sqlx::query_scalar("SELECT count(*) FROM notify_channels")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(channels, 0, "nothing half-made");

    // A 10 MB event body is refused before anything is stored.
    let mut tx = pool.begin().await.unwrap();
    let huge = SystemEvent {
        kind: "rollout_halted".into(),
        subject: "停止".into(),
        body: "あ".repeat(10 * 1024 * 1024 / 3),
        severity: Health::Critical,
    };
    let err = enqueue_event(&mut tx, &huge).await.unwrap_err();
    assert!(err.to_string().contains("大きすぎます"), "{err}");
    drop(tx);

    // An unreachable receiver: its message waits for a retry with the reason; the other
    // channel's message goes out regardless.
    let receiver = Receiver::start(&[]).await;
    let nowhere = format!("http://127.0.0.1:{}/hook", common::free_port());
    webhook_channel(&server, "down", &nowhere, &[]);
    webhook_channel(&server, "up", &receiver.url, &[]);
    event(&pool, "更新を停止しました").await;
    let rows = wait_deliveries(&pool, "up sent, down failing", |r| {
        r.iter()
            .any(|d| d.channel_name == "up" && d.state == "sent")
            && r.iter()
                .any(|d| d.channel_name == "down" && d.attempts >= 1 && d.last_error.is_some())
    })
    .await;
    let down = rows.iter().find(|d| d.channel_name == "down").unwrap();
    assert_ne!(down.state, "sent");
    assert!(
        down.last_error
            .as_deref()
            .unwrap()
            .contains("接続できません"),
        "{down:?}"
    );
    assert_eq!(receiver.requests().len(), 1);
}
