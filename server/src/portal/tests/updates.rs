//! Agent updates: the admin pages (who may, CSRF, the form's Japanese
//! messages, every step audited, the halt reason shown) and the monitor
//! against real rows (cohorts from agents, incidents and update events).

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use onshi_release::{Manifest, ManifestInput, SecretKey, SignedManifest, Target, TrustedKeys};

use super::{Harness, get, post, text};
use crate::auth::Role;
use crate::sites::Actor;
use crate::updates::releases::{self, Bundle};
use crate::updates::{monitor, rollout_store};

fn elf() -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2;
    h[5] = 1;
    h[18..20].copy_from_slice(&0x3Eu16.to_le_bytes());
    h
}

/// Publishes a release signed by a fresh key; returns its id.
async fn release(h: &Harness, version: &str) -> i64 {
    let key = SecretKey::generate();
    let binary = elf();
    let input = ManifestInput {
        version: version.into(),
        target: Target::LinuxX86_64,
        min_server_version: String::new(),
        notes: "検出を改善".into(),
        rollback: false,
    };
    let manifest = Manifest::for_binary(&binary, input, Utc::now()).unwrap();
    let mut keys = TrustedKeys::none();
    keys.add(key.public());
    let bundle = Bundle {
        signed: SignedManifest::sign(&manifest, &key),
        binary,
    };
    releases::publish(
        &h.pool,
        &bundle,
        &keys,
        Actor {
            actor: "test",
            remote: "",
        },
    )
    .await
    .unwrap()
    .release_id
}

async fn audited(h: &Harness, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(&h.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn only_admins_start_and_steer_rollouts_and_every_step_is_audited() {
    let h = Harness::new().await;
    let admin = h.session("upd-admin", Role::Admin).await;
    let operator = h.session("upd-operator", Role::Operator).await;
    let id = release(&h, "0.9.0").await;
    assert_eq!(
        h.send(get("/admin/updates", Some(&operator)))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let page = text(h.send(get("/admin/updates", Some(&admin))).await).await;
    assert!(
        page.contains("0.9.0") && page.contains("検出を改善") && page.contains("Linux (x86_64)"),
        "{page}"
    );

    let form = |canary: &'static str| {
        vec![
            ("release_id", id.to_string()),
            ("canary_sites", canary.to_owned()),
            ("rings", "50,100".into()),
        ]
    };
    let fields =
        |f: &[(&'static str, String)]| f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
    let owned = fields(&form(""));
    let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resp = h
        .send(post("/admin/rollouts", Some(&admin), &borrowed))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(resp).await.contains("カナリアが空です"));
    let resp = h
        .send(post("/admin/rollouts", Some(&operator), &borrowed))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let owned = fields(&form("clinic-a\nclinic-b"));
    let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Canary sites must exist (a typo would reach no one).
    let resp = h
        .send(post("/admin/rollouts", Some(&admin), &borrowed))
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(resp).await;
    assert!(
        page.contains("clinic-a、clinic-b は登録されていません"),
        "{page}"
    );
    assert!(
        page.contains("clinic-a\nclinic-b</textarea>"),
        "what was typed is kept"
    );
    for site in ["clinic-a", "clinic-b"] {
        sqlx::query("INSERT INTO sites (site_id, name) VALUES ($1, $1)")
            .bind(site)
            .execute(&h.pool)
            .await
            .unwrap();
    }
    let mut no_csrf = post("/admin/rollouts", None, &borrowed);
    no_csrf.headers_mut().insert(
        axum::http::header::COOKIE,
        get("/", Some(&admin)).headers()[axum::http::header::COOKIE].clone(),
    );
    assert_eq!(
        h.send(no_csrf).await.status(),
        StatusCode::FORBIDDEN,
        "CSRF"
    );
    let resp = h
        .send(post("/admin/rollouts", Some(&admin), &borrowed))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let rollout: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    let page = text(h.send(get(&location, Some(&admin))).await).await;
    assert!(
        page.contains("配信中") && page.contains("カナリア（指定 2 サイト）"),
        "{page}"
    );
    // A second live rollout of the same target is refused with what to do.
    let resp = h
        .send(post("/admin/rollouts", Some(&admin), &borrowed))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(
        text(resp)
            .await
            .contains("全サイトまで広げるか中止してから")
    );

    let step = |action: &str| format!("/admin/rollouts/{rollout}/{action}");
    assert_eq!(
        h.send(post(&step("pause"), Some(&admin), &[]))
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let resp = h.send(post(&step("widen"), Some(&admin), &[])).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(text(resp).await.contains("再開してから広げてください"));
    assert_eq!(
        h.send(post(&step("resume"), Some(&admin), &[]))
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        h.send(post(&step("widen"), Some(&admin), &[]))
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let resp = h.send(post(&step("abort"), Some(&admin), &[])).await;
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "abort needs its confirmation"
    );
    assert_eq!(
        h.send(post(&step("abort"), Some(&admin), &[("confirm", "yes")]))
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let page = text(h.send(get(&location, Some(&admin))).await).await;
    assert!(
        page.contains("中止") && !page.contains("/abort\""),
        "no actions on an aborted rollout"
    );
    for (action, n) in [
        ("rollout.start", 1),
        ("rollout.pause", 1),
        ("rollout.resume", 1),
        ("rollout.widen", 1),
        ("rollout.abort", 1),
    ] {
        assert_eq!(audited(&h, action).await, n, "{action}");
    }
    let actor: String =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE action = 'rollout.widen'")
            .fetch_one(&h.pool)
            .await
            .unwrap();
    assert_eq!(actor, "user:upd-admin");
}

/// Sites, agents on versions, and open incidents for some of them.
async fn fleet(h: &Harness, agents: &[(&str, &str, Option<&str>)]) {
    for (id, version, incident) in agents {
        sqlx::query("INSERT INTO sites (site_id, name) VALUES ($1, $1)")
            .bind(id)
            .execute(&h.pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO agents (agent_id, site_id, agent_version) VALUES ($1, $1, $2)")
            .bind(id)
            .bind(version)
            .execute(&h.pool)
            .await
            .unwrap();
        if let Some(rule) = incident {
            sqlx::query(
                "INSERT INTO incidents (site_id, rule, severity, state, title, first_seen, last_seen)
                 VALUES ($1, $2, 'critical', 'open', 't', now(), now())",
            )
            .bind(id)
            .bind(rule)
            .execute(&h.pool)
            .await
            .unwrap();
        }
    }
}

#[tokio::test]
async fn the_monitor_halts_when_the_new_version_goes_silent_more_than_the_old_one() {
    let h = Harness::new().await;
    let id = release(&h, "0.9.0").await;
    let new = |n: usize, incident: Option<&'static str>| (format!("new-{n}"), "0.9.0", incident);
    let old = |n: usize, incident: Option<&'static str>| (format!("old-{n}"), "0.8.0", incident);
    let mut rows: Vec<(String, &str, Option<&str>)> = Vec::new();
    for n in 0..10 {
        rows.push(new(n, (n < 3).then_some("offline")));
    }
    for n in 0..40 {
        rows.push(old(
            n,
            (n < 2)
                .then_some("offline")
                .or((n == 5).then_some("agent_probe_errors")),
        ));
    }
    let refs: Vec<(&str, &str, Option<&str>)> =
        rows.iter().map(|(a, b, c)| (a.as_str(), *b, *c)).collect();
    fleet(&h, &refs).await;
    let rings = crate::updates::rollout::Rings::new(vec!["new-0".into()], 0.0, vec![]).unwrap();
    let new_rollout = rollout_store::NewRollout {
        release_id: id,
        rings,
        spread_minutes: 0,
        force_swap: false,
        halt_margin_points: 10,
        max_rollback_percent: 5,
    };
    let now = Utc::now();
    let row = rollout_store::start(
        &h.pool,
        &new_rollout,
        Actor {
            actor: "test",
            remote: "",
        },
        now - Duration::minutes(5),
    )
    .await
    .unwrap();
    let health = monitor::measure(&h.pool, &row, now).await.unwrap();
    assert_eq!((health.new.agents, health.new.silent), (10, 3));
    assert_eq!(
        (
            health.old.agents,
            health.old.silent,
            health.old.probe_errors
        ),
        (40, 2, 1)
    );
    assert_eq!(
        monitor::check_all(&h.pool, now).await.unwrap(),
        [row.rollout_id]
    );
    let halted = rollout_store::get(&h.pool, row.rollout_id).await.unwrap();
    assert_eq!(halted.state, crate::updates::RolloutState::Halted);
    let reason = halted.halt_reason.unwrap();
    assert!(
        reason.contains("0.9.0 の PC の 30%（10 台中 3 台）が営業時間中に報告が止まっています"),
        "{reason}"
    );
    // Checked again (another replica, the next tick): halted once.
    assert!(monitor::check_all(&h.pool, now).await.unwrap().is_empty());
    assert_eq!(audited(&h, "rollout.halt").await, 1);
    let owed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notify_events WHERE event_kind = 'rollout_halted'",
    )
    .fetch_one(&h.pool)
    .await
    .unwrap();
    assert_eq!(owed, 1, "said in a notification, in the same transaction");

    let admin = h.session("upd-admin2", Role::Admin).await;
    let page = text(
        h.send(get(
            &format!("/admin/rollouts/{}", row.rollout_id),
            Some(&admin),
        ))
        .await,
    )
    .await;
    assert!(
        page.contains("自動停止") && page.contains("停止理由: 0.9.0 の PC の 30%"),
        "{page}"
    );
    assert!(
        page.contains("/resume") && !page.contains("/widen"),
        "resume offered, widen not"
    );
}
