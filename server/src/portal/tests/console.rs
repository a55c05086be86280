//! The console (issue 13): a site's state from its incidents (one definition for the counts,
//! the list and its filter) and the dashboard. The fixture `fleet` is shared with `live.rs`.

use axum::http::{StatusCode, header};

use super::{Harness, get, text};
use crate::auth::Role;
use crate::fleet::query::SILENCED_SQL;
use crate::incidents::rules::Rule;
use crate::incidents::silence::{self, Silence, Target};
use crate::sites::SiteKind;

/// A site row (name = id unless given), optionally with a last report `minutes_ago`.
pub async fn site(h: &Harness, id: &str, minutes_ago: Option<i32>) {
    sqlx::query("INSERT INTO sites (site_id, name, prefecture) VALUES ($1, $1, '東京都')")
        .bind(id)
        .execute(&h.pool)
        .await
        .unwrap();
    if let Some(minutes) = minutes_ago {
        // Raw findings say critical everywhere: the state must not follow them.
        sqlx::query(
            "INSERT INTO site_state (site_id, agent_id, seq, collected_at, received_at, health, report)
             VALUES ($1, 'a-' || $1, 1, now() - make_interval(mins => $2),
                     now() - make_interval(mins => $2), 'critical', '{}')",
        )
        .bind(id)
        .bind(minutes)
        .execute(&h.pool)
        .await
        .unwrap();
    }
}

/// An incident at `site`; returns its id.
pub async fn incident(h: &Harness, site: &str, rule: &str, severity: &str, state: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO incidents (site_id, rule, subject, severity, state, title, first_seen, last_seen)
         VALUES ($1, $2, $1 || $2 || $3 || $4, $3, $4, $2 || ' at ' || $1, now(), now())
         RETURNING incident_id",
    )
    .bind(site)
    .bind(rule)
    .bind(severity)
    .bind(state)
    .fetch_one(&h.pool)
    .await
    .unwrap()
}

/// The fleet of the state tests: every state, and the traps of the old definition.
pub async fn fleet(h: &Harness) {
    for (id, minutes) in [
        ("a-critical", Some(1)),
        ("b-warning", Some(1)),
        ("c-findings-only", Some(1)),
        ("d-silenced", Some(1)),
        ("e-acknowledged", Some(1)),
        ("f-resolved", Some(1)),
        ("g-info", Some(1)),
        ("h-silent", Some(120)),
        ("i-closed", Some(600)),
        ("j-never", None),
        ("k-never-with-incident", None),
    ] {
        site(h, id, minutes).await;
    }
    incident(h, "a-critical", "reader_off", "critical", "open").await;
    incident(h, "a-critical", "no_daily_reboot", "warning", "open").await;
    incident(h, "b-warning", "no_daily_reboot", "warning", "open").await;
    incident(h, "d-silenced", "reader_off", "critical", "open").await;
    incident(
        h,
        "e-acknowledged",
        "cert_expired",
        "critical",
        "acknowledged",
    )
    .await;
    incident(h, "f-resolved", "reader_off", "critical", "resolved").await;
    incident(h, "g-info", "screen_lock_disabled", "info", "open").await;
    incident(h, "h-silent", "offline", "critical", "open").await;
    incident(h, "i-closed", "cert_expired", "critical", "open").await;
    incident(
        h,
        "k-never-with-incident",
        "cert_missing",
        "critical",
        "open",
    )
    .await;
    sqlx::query(
        "INSERT INTO silences (site_id, rule, starts_at, ends_at, reason, created_by)
         VALUES ('d-silenced', 'reader_off', now() - interval '1 hour', now() + interval '1 hour', '工事', 'test')",
    )
    .execute(&h.pool)
    .await
    .unwrap();
}

const EXPECTED: [(&str, &str); 11] = [
    ("a-critical", "critical"),
    ("b-warning", "warning"),
    ("c-findings-only", "ok"),
    ("d-silenced", "ok"),
    ("e-acknowledged", "critical"),
    ("f-resolved", "ok"),
    ("g-info", "ok"),
    ("h-silent", "silent"),
    ("i-closed", "closed"),
    ("j-never", "never_reported"),
    ("k-never-with-incident", "never_reported"),
];

#[tokio::test]
async fn a_sites_state_follows_its_open_unsilenced_incidents_everywhere() {
    let h = Harness::new().await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    fleet(&h).await;

    // The JSON API: every site with its state, and the counts.
    let api: serde_json::Value =
        serde_json::from_str(&text(h.send(get("/api/v1/sites", Some(&viewer))).await).await)
            .unwrap();
    for (id, status) in EXPECTED {
        let site = api["sites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["site_id"] == id)
            .unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(site["status"], status, "{id}");
    }
    let summary = &api["summary"];
    assert_eq!(
        (
            summary["critical"].as_i64(),
            summary["warning"].as_i64(),
            summary["ok"].as_i64(),
            summary["silent"].as_i64(),
            summary["closed"].as_i64(),
            summary["never_reported"].as_i64(),
            summary["total"].as_i64()
        ),
        (
            Some(2),
            Some(1),
            Some(4),
            Some(1),
            Some(1),
            Some(2),
            Some(11)
        )
    );

    // The list filtered by each state holds exactly the sites of that state (its index hint
    // never drops one), and every row shows the same state.
    for state in [
        "critical",
        "warning",
        "ok",
        "silent",
        "closed",
        "never_reported",
    ] {
        let page = text(
            h.send(get(&format!("/sites?state={state}"), Some(&viewer)))
                .await,
        )
        .await;
        for (id, status) in EXPECTED {
            let row = format!(r#"data-site-id="{id}""#);
            assert_eq!(page.contains(&row), status == state, "{id} in {state}");
        }
        for row in page.split(r#"data-status=""#).skip(1) {
            assert!(row.starts_with(&format!(r#"{state}""#)), "{state}: {row}");
        }
    }

    // The dashboard counts the same, each count linking to its filtered list.
    let page = text(h.send(get("/", Some(&viewer))).await).await;
    for (key, n) in [
        ("critical", 2),
        ("warning", 1),
        ("ok", 4),
        ("silent", 1),
        ("closed", 1),
        ("never_reported", 2),
    ] {
        let tile =
            format!(r#"data-key="{key}"><a href="/sites?state={key}"><span class="n">{n}</span>"#);
        assert!(page.contains(&tile), "{tile}\n{page}");
    }
}

#[tokio::test]
async fn the_silence_sql_agrees_with_silence_matches() {
    let h = Harness::new().await;
    for (id, prefecture, kind) in [
        ("s1", "東京都", "clinic"),
        ("s2", "大阪府", "pharmacy"),
        ("s3", "東京都", "home_nursing"),
    ] {
        sqlx::query("INSERT INTO sites (site_id, name, prefecture, kind) VALUES ($1, $1, $2, $3)")
            .bind(id)
            .bind(prefecture)
            .bind(kind)
            .execute(&h.pool)
            .await
            .unwrap();
        for rule in ["reader_off", "offline", "cert_expired"] {
            incident(&h, id, rule, "critical", "open").await;
        }
    }
    let now = chrono::Utc::now();
    let hour = chrono::Duration::hours(1);
    let windows = [
        (now - hour, now + hour),
        (now + hour, now + hour * 2),
        (now - hour * 2, now - hour),
    ];
    let sites = [None, Some("s1"), Some("s2")];
    let rules = [None, Some(Rule::ReaderOff), Some(Rule::Offline)];
    let prefectures = [None, Some("東京都")];
    let kinds = [None, Some(SiteKind::HomeNursing)];
    let mut cases = 0;
    for (starts_at, ends_at) in windows {
        for site in sites {
            for rule in rules {
                for prefecture in prefectures {
                    for kind in kinds {
                        let s = Silence {
                            id: 0,
                            site_id: site.map(str::to_owned),
                            rule,
                            prefecture: prefecture.map(str::to_owned),
                            kind,
                            starts_at,
                            ends_at,
                            reason: "r".into(),
                            created_by: "t".into(),
                            created_at: now,
                        };
                        check_silence(&h, &s, now).await;
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, 3 * 3 * 3 * 2 * 2);
}

/// With only `s` in the table, SQL and Rust agree for every incident.
async fn check_silence(h: &Harness, s: &Silence, now: chrono::DateTime<chrono::Utc>) {
    let mut tx = h.pool.begin().await.unwrap();
    sqlx::query("DELETE FROM silences")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO silences (site_id, rule, prefecture, kind, starts_at, ends_at, reason, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, 'r', 't')",
    )
    .bind(&s.site_id)
    .bind(s.rule)
    .bind(&s.prefecture)
    .bind(s.kind)
    .bind(s.starts_at)
    .bind(s.ends_at)
    .execute(&mut *tx)
    .await
    .unwrap();
    let rows: Vec<(String, Rule, String, SiteKind, bool)> = sqlx::query_as(&format!(
        "SELECT i.site_id, i.rule, si.prefecture, si.kind, {SILENCED_SQL}
         FROM incidents i JOIN sites si USING (site_id)"
    ))
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    for (site_id, rule, prefecture, kind, in_sql) in rows {
        let target = Target {
            site_id: &site_id,
            rule,
            prefecture: &prefecture,
            kind,
        };
        assert_eq!(
            silence::matches(s, &target, now),
            in_sql,
            "{s:?} vs {site_id} {rule:?}"
        );
    }
}

#[tokio::test]
async fn the_dashboard_shows_what_to_act_on_and_links_to_it() {
    let h = Harness::new().await;
    let viewer = h.session("viewer1", Role::Viewer).await;
    fleet(&h).await;
    let expiring = incident(&h, "b-warning", "cert_expiring", "warning", "open").await;
    sqlx::query(
        "UPDATE incidents SET evidence = '{\"threshold_days\": 30}' WHERE incident_id = $1",
    )
    .bind(expiring)
    .execute(&h.pool)
    .await
    .unwrap();
    let far = incident(&h, "c-findings-only", "cert_expiring", "info", "open").await;
    sqlx::query(
        "UPDATE incidents SET evidence = '{\"threshold_days\": 60}' WHERE incident_id = $1",
    )
    .bind(far)
    .execute(&h.pool)
    .await
    .unwrap();

    let resp = h.send(get("/", Some(&viewer))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
    let page = text(resp).await;
    // Incidents by severity link to the incident list; silenced ones are counted apart.
    assert!(
        page.contains(r#"href="/incidents?severity=critical"><span class="n">5</span>"#),
        "{page}"
    );
    assert!(page.contains("サイレンス中 <a href=\"/incidents?silenced=true\">1 件</a>"));
    // By rule: カードリーダー電源断 ×1 (the silenced one is not counted).
    assert!(page.contains(r#"<tr data-rule="reader_off"><td><a href="/incidents?rule=reader_off">カードリーダー電源断</a></td><td class="num">×1</td>"#), "{page}");
    // The short lists: certificates within 30 days (not the 60-day one), readers, silent sites.
    let cards = &page[page.find(r#"id="card-certificates""#).unwrap()..];
    let certs = &cards[..cards.find(r#"id="card-readers""#).unwrap()];
    assert!(certs.contains("3 件"), "{certs}");
    assert!(
        certs.contains(r#"href="/sites/e-acknowledged""#)
            && certs.contains(r#"href="/sites/b-warning""#)
    );
    assert!(!certs.contains("c-findings-only"));
    let readers = &cards
        [cards.find(r#"id="card-readers""#).unwrap()..cards.find(r#"id="card-silent""#).unwrap()];
    assert!(readers.contains(r#"href="/sites/a-critical""#) && !readers.contains("d-silenced"));
    let silent = &cards[cards.find(r#"id="card-silent""#).unwrap()..];
    assert!(silent.contains(r#"href="/sites/h-silent""#) && silent.contains("最終受信"));
    // The newest incidents, silenced ones marked.
    assert!(page.contains(r#"<table class="list newest">"#));
    assert!(page.contains("サイレンス中</span>"));
    // Complete without a script; the script and the stylesheet are content-hashed.
    assert!(page.contains(r#"data-live-src="/events""#));
    assert!(page.contains(&format!(
        r#"<script src="{}" defer>"#,
        crate::portal::assets::url("live.js")
    )));
    assert!(page.contains(&format!(
        r#"href="{}""#,
        crate::portal::assets::url("portal.css")
    )));
    assert!(!page.contains("<script>"), "no inline script (CSP)");
    // The header: global search, menu, operator; no admin menu for a viewer.
    assert!(
        page.contains(r#"<form class="global-search" role="search" method="get" action="/sites">"#)
    );
    assert!(page.contains(r#"<a href="/" aria-current="page">ダッシュボード</a>"#));
    assert!(page.contains("viewer1（閲覧者）"), "{page}");
    assert!(!page.contains("admin-menu"));
}
