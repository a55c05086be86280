//! The desk routing HTTP API and its OpenAPI document, on the real server.

mod common;

use common::{Server, TestDb};

#[tokio::test]
async fn desk_api_answers_like_the_cli_and_uses_the_site_profile() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let viewer = server.session("viewer1", "viewer").await;
    let get = |path: &str| {
        let req = viewer.get(server.http(path));
        async move { req.send().await.unwrap() }
    };

    let resp =
        get("/api/v1/desk/route?part=router&router_model=NVR700&at=2026-11-28T20:00:00%2B09:00")
            .await;
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["desk"], "yamaha-router");
    assert_eq!(v["open"], false);
    assert_eq!(v["closed_reason"], "weekend");
    assert_eq!(v["next_open"], "2026-11-30T09:00:00+09:00");

    // The site's profile fills what the query leaves out.
    let out = server.admin(&[
        "site",
        "add",
        "--site-id",
        "clinic-9",
        "--name",
        "九段クリニック",
        "--router-model",
        "AT-AR1050V",
        "--maintenance",
        "omakase",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        get("/api/v1/desk/route?part=router&site_id=clinic-9&at=2026-11-30T10:00:00%2B09:00")
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(v["desk"], "omakase");
    assert_eq!(v["part_desk"], "allied-router");

    // Bad input: 400 with a message naming the parameter and the allowed values.
    let resp = get("/api/v1/desk/route?part=router").await;
    assert_eq!(resp.status(), 400);
    let msg = resp.json::<serde_json::Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("router_model") && msg.contains("NVR700"),
        "{msg}"
    );
    let resp = get("/api/v1/desk/route?part=toaster").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        get("/api/v1/desk/route?part=pc&site_id=nope")
            .await
            .status(),
        404
    );

    let v: serde_json::Value = get("/api/v1/desks?at=2026-11-30T10:00:00%2B09:00")
        .await
        .json()
        .await
        .unwrap();
    let desks = v["desks"].as_array().unwrap();
    assert_eq!(desks.len(), 14);
    let lenovo = desks.iter().find(|d| d["id"] == "lenovo-pc").unwrap();
    assert_eq!(lenovo["open_now"], true);

    // The OpenAPI document is public, valid JSON, and lists the API.
    let doc: serde_json::Value = reqwest::get(server.http("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/v1/desk/route", "/api/v1/desks", "/api/v1/sites"] {
        assert!(doc["paths"].get(path).is_some(), "{path} not documented");
    }
}
