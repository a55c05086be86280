//! The incidents CLI end to end (issue 11): `incidents list`, `silence add|list|expire`,
//! `site hours`, `site closed-day`, against the real server's database.

mod common;

use common::incidents::{cli, site_with_fault};
use common::{Server, TestDb};
use onshi_server::demo::Fault;
use serde_json::Value;

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
