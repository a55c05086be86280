//! Escalations through the real router: drafts from an incident (API and page), the checks of
//! every step, tracking to the end with timeline and audit rows, the maker and vendor
//! directories, reminders.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::{Harness, Session, from, get, post, text};
use crate::auth::Role;
use crate::incidents::lifecycle::Change;
use crate::incidents::rules::{Condition, Rule};
use crate::sites::{Actor, Health};

/// A JSON request from a logged-in browser session (cookie and CSRF header).
fn json_req(method: Method, path: &str, s: &Session, body: &Value) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::COOKIE, &s.cookie)
        .header("x-csrf-token", &s.csrf)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    req.extensions_mut().insert(from([127, 0, 0, 1]));
    req
}

async fn call(
    h: &Harness,
    method: Method,
    path: &str,
    s: &Session,
    body: Value,
) -> (StatusCode, Value) {
    let resp = h.send(json_req(method, path, s, &body)).await;
    let status = resp.status();
    let text = text(resp).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Registers demo site `i` (the profile `onshi-server demo` gives it) and opens an incident of
/// `rule` there; returns the incident's id.
async fn incident_at_demo_site(h: &Harness, i: usize, rule: Rule, subject: &str) -> i64 {
    let input = crate::demo::fleet(i as u32 + 1).remove(i).input();
    let by = Actor {
        actor: "test",
        remote: "",
    };
    let mut tx = h.pool.begin().await.unwrap();
    if crate::sites::store::get(&h.pool, &input.site_id)
        .await
        .unwrap()
        .is_none()
    {
        crate::sites::store::create(&mut tx, &input, by)
            .await
            .unwrap();
    }
    let condition = Condition {
        rule,
        subject: subject.into(),
        severity: Health::Critical,
        title: format!("{} のテスト", rule.label_ja()),
        detail: "PCの電源と起動を確認してください。".into(),
        evidence: json!({ "last_seen": "2026-03-02T10:00:00+09:00" }),
    };
    let applied = crate::incidents::store::apply(
        &mut tx,
        &input.site_id,
        &[Change::Open(condition)],
        1,
        Utc::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    applied.opened[0]
}

async fn escalation_events(h: &Harness, incident: i64) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT detail->>'action' FROM incident_events WHERE incident_id = $1 AND kind = 'escalation'
         ORDER BY event_id",
    )
    .bind(incident)
    .fetch_all(&h.pool)
    .await
    .unwrap()
}

async fn audit_actions(h: &Harness) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action LIKE 'escalation.%' ORDER BY audit_id",
    )
    .fetch_all(&h.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_pc_incident_becomes_a_lenovo_draft_tracked_to_its_end() {
    let h = Harness::new().await;
    let op = h.session("op1", Role::Operator).await;
    let id = incident_at_demo_site(&h, 0, Rule::Offline, "").await;
    let base = format!("/api/v1/incidents/{id}/escalations");

    let (status, e) = call(&h, Method::POST, &base, &op, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    assert_eq!(e["desk"], "lenovo-pc");
    assert_eq!(e["channel"], "mail");
    assert_eq!(e["status"], "draft");
    assert_eq!(e["to"], "request@nmc.comsys.co.jp");
    let subject = e["subject"].as_str().unwrap();
    assert!(subject.contains("【I026_01】") && subject.contains("【医療オンライン資格確認】"));
    assert!(e["body"].as_str().unwrap().contains("PF000001"));
    assert!(e["sheet"].as_str().unwrap().contains("050-3823-0119"));
    let eid = e["id"].as_i64().unwrap();
    let one = format!("{base}/{eid}");

    // Once per desk: a second live draft to Lenovo is refused.
    let (status, body) = call(&h, Method::POST, &base, &op, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"].as_str().unwrap().contains("既にあります"));

    // Header injection in the subject, a 10 MB body, an early status: refused, nothing changed.
    let (status, body) = call(
        &h,
        Method::PATCH,
        &one,
        &op,
        json!({ "subject": "【I026_01】故障\r\nBcc: all@example.com" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["fields"]["subject"].as_str().unwrap().contains("改行"),
        "{body}"
    );
    let huge = "あ".repeat(10 * 1024 * 1024 / 3);
    let (status, body) = call(&h, Method::PATCH, &one, &op, json!({ "body": huge })).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let (status, body) = call(
        &h,
        Method::PATCH,
        &one,
        &op,
        json!({ "status": "accepted" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["fields"]["status"]
            .as_str()
            .unwrap()
            .contains("下書き")
    );
    let (status, body) = call(&h, Method::PATCH, &one, &op, json!({ "subject": "PC故障" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["fields"]["subject"]
            .as_str()
            .unwrap()
            .contains("【I026_01】")
    );
    // A real edit is kept.
    let (status, e) = call(
        &h,
        Method::PATCH,
        &one,
        &op,
        json!({ "body": format!("{}\n追記: 至急お願いします。", e["body"].as_str().unwrap()) }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    assert!(e["body"].as_str().unwrap().ends_with("至急お願いします。"));

    // Mail is not configured in this harness: a clear 502, the draft kept.
    let (status, body) = call(&h, Method::POST, &format!("{one}/send"), &op, json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("--escalation-smtp-url"),
        "{body}"
    );

    // The operator phones Lenovo instead: 依頼済 with a due time.
    let (status, e) = call(
        &h,
        Method::POST,
        &format!("{one}/record-call"),
        &op,
        json!({ "outcome": "callback", "spoke_with": "日本コムシス 山田様" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    assert_eq!(e["status"], "requested");
    assert!(e["due_at"].is_string() && e["reminder"].is_null(), "{e}");
    assert_eq!(e["calls"][0]["spoke_with"], "日本コムシス 山田様");
    // The text is fixed once requested.
    let (status, _) = call(&h, Method::PATCH, &one, &op, json!({ "body": "別の本文" })).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Ticket, then the status along the path; a visit needs its date; no way back.
    let (_, e) = call(
        &h,
        Method::PATCH,
        &one,
        &op,
        json!({ "ticket": "CS-20260302-001" }),
    )
    .await;
    assert_eq!(
        (e["ticket"].as_str(), e["status"].as_str()),
        (Some("CS-20260302-001"), Some("requested"))
    );
    assert!(e["answered_at"].is_string());
    for step in ["accepted", "parts_ordered"] {
        let (status, e) = call(&h, Method::PATCH, &one, &op, json!({ "status": step })).await;
        assert_eq!((status, e["status"].as_str()), (StatusCode::OK, Some(step)));
    }
    let (status, body) = call(
        &h,
        Method::PATCH,
        &one,
        &op,
        json!({ "status": "visit_scheduled" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["fields"]["status"]
            .as_str()
            .unwrap()
            .contains("visit_on")
    );
    let (status, e) = call(
        &h,
        Method::PATCH,
        &one,
        &op,
        json!({ "status": "visit_scheduled", "visit_on": "2026-03-10", "note": "午前中に訪問" }),
    )
    .await;
    assert_eq!(
        (status, e["visit_on"].as_str()),
        (StatusCode::OK, Some("2026-03-10"))
    );
    let (status, _) = call(
        &h,
        Method::PATCH,
        &one,
        &op,
        json!({ "status": "accepted" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, e) = call(&h, Method::PATCH, &one, &op, json!({ "status": "done" })).await;
    assert_eq!(
        (status, e["status_label"].as_str()),
        (StatusCode::OK, Some("完了"))
    );
    assert!(e["next_statuses"].as_array().unwrap().is_empty());
    let (status, _) = call(&h, Method::PATCH, &one, &op, json!({ "ticket": "X" })).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Every step in the timeline and the audit log, refusals nowhere.
    assert_eq!(
        escalation_events(&h, id).await,
        [
            "drafted",
            "updated",
            "call_recorded",
            "updated",
            "updated",
            "updated",
            "updated",
            "updated"
        ]
    );
    let audit = audit_actions(&h).await;
    assert_eq!(audit.first().map(String::as_str), Some("escalation.draft"));
    assert!(audit.contains(&"escalation.record_call".to_owned()));
    assert_eq!(
        audit.iter().filter(|a| *a == "escalation.update").count(),
        6
    );
    // Closed: a new draft to the same desk is possible again.
    let (status, _) = call(&h, Method::POST, &base, &op, json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn desks_without_a_contract_and_wrong_serials_are_refused() {
    let h = Harness::new().await;
    let op = h.session("op1", Role::Operator).await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    // demo-0001: not subscribed to おまかせ, router AT-AR1050V.
    let id = incident_at_demo_site(&h, 0, Rule::NetworkUnreachable, "router").await;
    let base = format!("/api/v1/incidents/{id}/escalations");
    let (status, body) = call(&h, Method::POST, &base, &op, json!({ "desk": "omakase" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["fields"]["desk"]
            .as_str()
            .unwrap()
            .contains("加入していません"),
        "{body}"
    );
    let (status, body) = call(&h, Method::POST, &base, &op, json!({ "serial": "SER.123" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let serial = body["fields"]["serial"].as_str().unwrap();
    assert!(serial.contains("「S/NA」から始まる番号"), "{serial}");
    let (status, body) = call(
        &h,
        Method::POST,
        &base,
        &op,
        json!({ "desk": "yamaha-router" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["fields"]["desk"]
            .as_str()
            .unwrap()
            .contains("アライドテレシス")
    );
    let (status, _) = call(&h, Method::POST, &base, &op, json!({ "desk": "teapot" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM escalations")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing stored");

    // The routed desk: Allied's call sheet.
    let (status, e) = call(&h, Method::POST, &base, &op, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    assert_eq!(
        (e["desk"].as_str(), e["channel"].as_str()),
        (Some("allied-router"), Some("phone"))
    );
    assert_eq!(e["serial"], "S/NA00000001");
    assert!(e["desk_now"]["state_ja"].is_string());

    // Viewers read, never write; a mail send on a phone desk is refused.
    let (status, list) = call(&h, Method::GET, &base, &viewer, Value::Null).await;
    assert_eq!(
        (status, list["escalations"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    let (status, _) = call(
        &h,
        Method::POST,
        &base,
        &viewer,
        json!({ "desk": "lenovo-pc" }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let eid = e["id"].as_i64().unwrap();
    let (status, body) = call(
        &h,
        Method::POST,
        &format!("{base}/{eid}/send"),
        &op,
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"].as_str().unwrap().contains("電話"));
    // A resolved incident takes no new draft.
    sqlx::query(
        "UPDATE incidents SET state = 'resolved', resolved_at = now() WHERE incident_id = $1",
    )
    .bind(id)
    .execute(&h.pool)
    .await
    .unwrap();
    let (status, _) = call(&h, Method::POST, &base, &op, json!({ "desk": "lenovo-pc" })).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn the_page_proposes_the_desk_and_tracks_the_case() {
    let h = Harness::new().await;
    let admin = h.session("admin1", Role::Admin).await;
    let op = h.session("op1", Role::Operator).await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    // demo-0001 has a Fujitsu reader; the maker directory starts empty.
    let id = incident_at_demo_site(&h, 0, Rule::ReaderOff, "").await;
    let path = format!("/incidents/{id}/escalations");
    let page = text(h.send(get(&path, Some(&op))).await).await;
    assert!(
        page.contains("未登録") && page.contains(r#"href="/admin/makers""#),
        "{page}"
    );
    assert!(page.contains(r#"<option value="card-reader-maker" selected>"#));

    // An admin registers Fujitsu's desk; a bad phone is refused at its field first.
    let resp = h
        .send(post(
            "/admin/makers/fujitsu",
            Some(&admin),
            &[("phone", "call us")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(resp).await.contains("数字とハイフン"));
    let resp = h
        .send(post(
            "/admin/makers/fujitsu",
            Some(&admin),
            &[
                ("name", "富士通Japan 顔認証リーダー窓口"),
                ("phone", "0120-000-001"),
                ("weekday", "09:00-17:00"),
                ("year_end", "dec29-jan3"),
            ],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let makers = text(h.send(get("/admin/makers", Some(&admin))).await).await;
    assert!(makers.contains("0120-000-001") && makers.contains("平日 9:00〜17:00"));
    assert_eq!(
        h.send(get("/admin/makers", Some(&op))).await.status(),
        StatusCode::FORBIDDEN
    );

    let page = text(h.send(get(&path, Some(&op))).await).await;
    assert!(page.contains("富士通Japan 顔認証リーダー窓口") && page.contains("0120-000-001"));
    // The form drafts it; no CSRF token, no draft.
    let mut no_csrf = post(&path, None, &[("desk", "card-reader-maker")]);
    no_csrf
        .headers_mut()
        .insert(header::COOKIE, op.cookie.parse().unwrap());
    assert_eq!(h.send(no_csrf).await.status(), StatusCode::FORBIDDEN);
    let resp = h
        .send(post(
            &path,
            Some(&op),
            &[("desk", "card-reader-maker"), ("serial", "")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = resp.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(to.starts_with(&format!("{path}?done=drafted#esc-")), "{to}");
    let eid: i64 = to.rsplit("esc-").next().unwrap().parse().unwrap();
    let page = text(h.send(get(&to, Some(&op))).await).await;
    assert!(page.contains("下書きを作成しました"));
    assert!(page.contains(&format!(r#"id="esc-{eid}" data-status="draft""#)));
    assert!(page.contains("/record-call") && page.contains("電話の記録"));

    // The call: accepted with a ticket; an impossible date is shown at its field.
    let call_path = format!("{path}/{eid}/record-call");
    let resp = h
        .send(post(
            &call_path,
            Some(&op),
            &[("outcome", "accepted"), ("at", "2099-01-01T10:00")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(resp).await.contains("未来"));
    let resp = h
        .send(post(
            &call_path,
            Some(&op),
            &[
                ("outcome", "accepted"),
                ("spoke_with", "佐藤様"),
                ("ticket", "FJ-77"),
                ("note", ""),
            ],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let page = text(h.send(get(&path, Some(&viewer))).await).await;
    assert!(
        page.contains(r#"data-status="accepted""#) && page.contains("FJ-77"),
        "{page}"
    );
    assert!(!page.contains("/record-call"), "viewers get no forms");
    // The status form: 完了.
    let resp = h
        .send(post(
            &format!("{path}/{eid}/update"),
            Some(&op),
            &[
                ("status", "done"),
                ("ticket", "FJ-77"),
                ("visit_on", ""),
                ("note", "交換済み"),
            ],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let page = text(h.send(get(&path, Some(&op))).await).await;
    assert!(page.contains(r#"data-status="done""#));
    // A 10 MB note is refused before it reaches the handler.
    let huge = "x".repeat(10 * 1024 * 1024);
    let resp = h
        .send(post(
            &call_path,
            Some(&op),
            &[("outcome", "other"), ("note", &huge)],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(text(resp).await.contains("大きすぎます"));
    assert_eq!(
        escalation_events(&h, id).await,
        ["drafted", "call_recorded", "updated"]
    );
}

#[tokio::test]
async fn the_receipt_vendor_directory_is_kept_by_admins() {
    let h = Harness::new().await;
    let admin = h.session("admin1", Role::Admin).await;
    let op = h.session("op1", Role::Operator).await;
    let resp = h
        .send(post(
            "/admin/receipt-vendors",
            Some(&admin),
            &[("name", "ABCレセコン"), ("mail", "not a mail")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(resp).await;
    assert!(page.contains("メールアドレスの形") && page.contains(r#"value="ABCレセコン""#));
    let form = [
        ("name", "ABCレセコン"),
        ("phone", "0120-555-555"),
        ("weekday", "09:00-18:00"),
    ];
    let resp = h
        .send(post("/admin/receipt-vendors", Some(&admin), &form))
        .await;
    assert_eq!(
        resp.headers()[header::LOCATION],
        "/admin/receipt-vendors?done=added"
    );
    // The same name in another case replaces it.
    let resp = h
        .send(post(
            "/admin/receipt-vendors",
            Some(&admin),
            &[("name", "abcレセコン"), ("phone", "0120-666-666")],
        ))
        .await;
    assert_eq!(
        resp.headers()[header::LOCATION],
        "/admin/receipt-vendors?done=replaced"
    );
    let page = text(h.send(get("/admin/receipt-vendors", Some(&admin))).await).await;
    assert!(page.contains("0120-666-666") && !page.contains("0120-555-555"));

    // A site naming that vendor without a contact of its own gets the directory's.
    let id = incident_at_demo_site(&h, 0, Rule::ShareMissing, "face").await;
    sqlx::query("UPDATE sites SET receipt_vendor = 'ABCレセコン', receipt_vendor_contact = ''")
        .execute(&h.pool)
        .await
        .unwrap();
    let (status, e) = call(
        &h,
        Method::POST,
        &format!("/api/v1/incidents/{id}/escalations"),
        &op,
        json!({ "desk": "receipt-vendor" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    assert_eq!(e["to"], "0120-666-666");

    let resp = h
        .send(post(
            "/admin/receipt-vendors/remove",
            Some(&admin),
            &[("name", "ABCレセコン")],
        ))
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "needs the confirmation"
    );
    let resp = h
        .send(post(
            "/admin/receipt-vendors/remove",
            Some(&admin),
            &[("name", "ABCレセコン"), ("confirm", "yes")],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action LIKE 'receipt_vendor.%' ORDER BY audit_id",
    )
    .fetch_all(&h.pool)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "receipt_vendor.create",
            "receipt_vendor.update",
            "receipt_vendor.remove"
        ]
    );
}

#[tokio::test]
async fn a_late_desk_gets_one_reminder() {
    let h = Harness::new().await;
    let op = h.session("op1", Role::Operator).await;
    let id = incident_at_demo_site(&h, 0, Rule::AccountChanged, "windows").await;
    let base = format!("/api/v1/incidents/{id}/escalations");
    let (_, e) = call(&h, Method::POST, &base, &op, json!({})).await;
    assert_eq!(e["desk"], "ntt-east-onshi", "{e}");
    let eid = e["id"].as_i64().unwrap();
    // Called ten days ago: NTT East's next business day is long over.
    let at = (Utc::now() - Duration::days(10)).with_timezone(&crate::desk::JST);
    let (status, e) = call(
        &h,
        Method::POST,
        &format!("{base}/{eid}/record-call"),
        &op,
        json!({ "outcome": "callback", "at": at.to_rfc3339() }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    assert_eq!(e["reminder"]["kind"], "no_answer", "{e}");
    assert!(
        e["reminder"]["message"]
            .as_str()
            .unwrap()
            .contains("回答がありません")
    );

    let now = Utc::now();
    assert_eq!(
        crate::escalation::reminders::pass(&h.pool, now)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        crate::escalation::reminders::pass(&h.pool, now)
            .await
            .unwrap(),
        0,
        "once"
    );
    assert_eq!(
        escalation_events(&h, id).await,
        ["drafted", "call_recorded", "reminder"]
    );
    let actor: String = sqlx::query_scalar(
        "SELECT actor FROM incident_events WHERE kind = 'escalation' ORDER BY event_id DESC LIMIT 1",
    )
    .fetch_one(&h.pool)
    .await
    .unwrap();
    assert_eq!(actor, "system");
    // The reminder is owed to the notification channels, once, with it.
    let owed: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT event_kind, severity, subject FROM notify_events WHERE kind = 'event'",
    )
    .fetch_all(&h.pool)
    .await
    .unwrap();
    assert_eq!(owed.len(), 1, "{owed:?}");
    assert_eq!(
        (owed[0].0.as_str(), owed[0].1.as_str()),
        ("escalation_reminder", "warning")
    );
    assert!(owed[0].2.contains("【催促】"), "{owed:?}");
    // An answer (a ticket) ends the reminder.
    let (_, e) = call(
        &h,
        Method::PATCH,
        &format!("{base}/{eid}"),
        &op,
        json!({ "ticket": "N-1" }),
    )
    .await;
    assert!(e["reminder"].is_null(), "{e}");
}

#[test]
fn the_summary_partial_renders_for_the_incident_page() {
    use askama::Template;

    use crate::portal::filters;

    #[derive(Template)]
    #[template(
        source = r#"<section id="escalations">{% include "escalations_summary.html" %}</section>"#,
        ext = "html"
    )]
    struct Probe {
        incident_id: i64,
        escalations: Vec<crate::escalation::query::Escalation>,
    }
    let _ = filters::jst_text(None);
    let html = Probe {
        incident_id: 7,
        escalations: Vec::new(),
    }
    .render()
    .unwrap();
    assert!(
        html.contains(r#"href="/incidents/7/escalations""#),
        "{html}"
    );
    assert!(html.contains("まだありません"));
}
