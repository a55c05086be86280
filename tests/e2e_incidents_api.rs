//! The incidents API end to end (issue 11 "Interfaces", "Bad input"): the real server, real
//! agents' reports over mTLS, the real worker; API tokens with roles.

mod common;

use common::incidents::{Fixture, error_of};
use serde_json::json;

/// Incident JSON, filters, keyset paging in severity-then-age order.
#[tokio::test]
async fn incidents_carry_the_contract_fields_filter_and_page() {
    let fx = Fixture::start().await;
    let viewer = fx.api(&fx.viewer);
    let reader = fx.reader.clone();
    let cert = fx.cert.clone();
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
}

/// Every action, 409s for state and concurrency, 4xx for bad input with nothing half-applied.
#[tokio::test]
async fn operator_actions_their_conflicts_and_bad_inputs() {
    let fx = Fixture::start().await;
    let pool = fx.db.pool().await;
    let op = fx.api(&fx.op);
    let op2 = fx.api(&fx.op2);
    let viewer = fx.api(&fx.viewer);
    let reader = fx.reader.clone();
    let id = reader["id"].as_i64().unwrap();
    // Actions: a viewer may not; an operator acknowledges once.
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
}

/// Silences: bad ones refused per field; a good one marks matching incidents; expiring ends it.
#[tokio::test]
async fn silences_mark_matching_incidents_and_expire() {
    let fx = Fixture::start().await;
    let op = fx.api(&fx.op);
    let viewer = fx.api(&fx.viewer);
    let reader = fx.reader.clone();
    let cert = fx.cert.clone();
    let id = reader["id"].as_i64().unwrap();
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
}

/// Business hours: admin sets the week; operators set exceptions; bad bands refused.
#[tokio::test]
async fn business_hours_per_site() {
    let fx = Fixture::start().await;
    let op = fx.api(&fx.op);
    let admin_api = fx.api(&fx.admin);

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
    let (status, body) = admin_api
        .send(
            reqwest::Method::PUT,
            hours,
            json!({"week": "mon-fri 09:00-18:00"}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), &body["closed_on_holidays"]),
        (200, &json!(true)),
        "kept"
    );
    let (_, body) = admin_api
        .send(
            reqwest::Method::PUT,
            hours,
            json!({"default": true, "closed_on_holidays": false}),
        )
        .await;
    assert_eq!(
        (&body["is_default"], &body["closed_on_holidays"]),
        (&json!(true), &json!(false))
    );
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
