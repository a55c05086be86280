//! The incident engine against a real PostgreSQL: reports committed through the real ingest
//! path, the real outbox trigger, worker and sweep, with an injected clock.

mod common;

use chrono::{DateTime, Duration, Utc};
use onshi_proto::v1 as pb;
use onshi_server::demo::{self, Fault};
use onshi_server::incidents::lifecycle::Policy;
use onshi_server::incidents::sweep::{self, OfflinePolicy};
use onshi_server::incidents::worker;
use onshi_server::ingest::store::commit_batch;
use onshi_server::sites::hours::WeekSchedule;
use onshi_server::sites::{Actor, SiteInput, SiteKind, hours_store, store};
use sqlx::PgPool;

const BY: Actor<'static> = Actor {
    actor: "test",
    remote: "",
};

async fn database() -> (common::TestDb, PgPool) {
    let db = common::TestDb::new().await;
    let pool = db.pool().await;
    onshi_server::db::migrate(&pool).await.unwrap();
    (db, pool)
}

/// A clinic with the given weekly hours (`None`: the clinic default) and an enrolled agent.
async fn clinic(pool: &PgPool, site_id: &str, week: Option<&str>) -> String {
    let mut tx = pool.begin().await.unwrap();
    store::create(
        &mut tx,
        &SiteInput {
            site_id: site_id.into(),
            name: format!("{site_id}医院"),
            kind: SiteKind::Clinic,
            ..Default::default()
        },
        BY,
    )
    .await
    .unwrap();
    if let Some(week) = week {
        hours_store::set_week(
            &mut tx,
            site_id,
            Some(&WeekSchedule::parse(week).unwrap()),
            true,
            BY,
        )
        .await
        .unwrap();
    }
    let agent_id = format!("agent-{site_id}");
    sqlx::query("INSERT INTO agents (agent_id, site_id, enrolled_at) VALUES ($1, $2, now())")
        .bind(&agent_id)
        .bind(site_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    agent_id
}

fn report(site_id: &str, agent_id: &str, seq: u64, fault: Fault) -> pb::Report {
    let mut site = demo::fleet(1).remove(0);
    site.site_id = site_id.into();
    site.reader_maker = Some(onshi_server::sites::ReaderMaker::Fujitsu);
    site.fault = fault;
    let mut r = demo::demo_report(&site, agent_id, seq);
    if fault == Fault::ReaderOff {
        // The demo switches its readers off only after a few reports; here from the first.
        r.reader.as_mut().unwrap().power = pb::PowerState::Off as i32;
    }
    r
}

async fn deliver(
    pool: &PgPool,
    site: &str,
    agent: &str,
    seq: u64,
    fault: Fault,
    at: DateTime<Utc>,
) {
    commit_batch(pool, agent, &[report(site, agent, seq, fault)], 0, at)
        .await
        .unwrap();
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    incident_id: i64,
    rule: String,
    state: String,
    count: i64,
    severity: String,
    flapping: bool,
    title: String,
}

async fn incidents(pool: &PgPool, site: &str) -> Vec<Row> {
    sqlx::query_as("SELECT incident_id, rule, state, count, severity, flapping, title FROM incidents WHERE site_id = $1 ORDER BY incident_id")
        .bind(site)
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn drain(pool: &PgPool, now: DateTime<Utc>) {
    while worker::drain_once(pool, &Policy::default(), now)
        .await
        .unwrap()
        .sites
        > 0
    {}
}

fn jst(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{text}+09:00"))
        .unwrap()
        .with_timezone(&Utc)
}

const ALWAYS: &str = "mon-sun 00:00-24:00";

#[tokio::test]
async fn one_incident_per_condition_counted_held_down_resolved_and_reopened() {
    let (_db, pool) = database().await;
    let agent = clinic(&pool, "yamada", Some(ALWAYS)).await;
    let t0 = jst("2026-12-01T08:31:00");
    for seq in 1..=3 {
        deliver(
            &pool,
            "yamada",
            &agent,
            seq,
            Fault::ReaderOff,
            t0 + Duration::minutes(seq as i64),
        )
        .await;
    }
    drain(&pool, t0 + Duration::minutes(4)).await;
    let rows = incidents(&pool, "yamada").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (
            rows[0].rule.as_str(),
            rows[0].state.as_str(),
            rows[0].severity.as_str()
        ),
        ("reader_off", "open", "critical")
    );
    // First seen in the evaluation of seq 3 (what came before was not evaluated).
    assert_eq!(rows[0].count, 1);
    for seq in 4..=5 {
        deliver(
            &pool,
            "yamada",
            &agent,
            seq,
            Fault::ReaderOff,
            t0 + Duration::minutes(seq as i64),
        )
        .await;
        drain(&pool, t0 + Duration::minutes(seq as i64)).await;
    }
    assert_eq!(incidents(&pool, "yamada").await[0].count, 3);
    // Three reports between two evaluations (the outbox keeps one entry per site): the seqs
    // still count all three.
    for seq in 6..=8 {
        deliver(
            &pool,
            "yamada",
            &agent,
            seq,
            Fault::ReaderOff,
            t0 + Duration::minutes(seq as i64),
        )
        .await;
    }
    drain(&pool, t0 + Duration::minutes(8)).await;
    assert_eq!(incidents(&pool, "yamada").await[0].count, 6);

    // Reader back on: one clean report holds, the second resolves.
    deliver(
        &pool,
        "yamada",
        &agent,
        9,
        Fault::None,
        t0 + Duration::minutes(9),
    )
    .await;
    drain(&pool, t0 + Duration::minutes(9)).await;
    assert_eq!(incidents(&pool, "yamada").await[0].state, "open");
    deliver(
        &pool,
        "yamada",
        &agent,
        10,
        Fault::None,
        t0 + Duration::minutes(10),
    )
    .await;
    drain(&pool, t0 + Duration::minutes(10)).await;
    assert_eq!(incidents(&pool, "yamada").await[0].state, "resolved");

    // Back within 24 h: the same incident re-opens; the timeline says so.
    deliver(
        &pool,
        "yamada",
        &agent,
        11,
        Fault::ReaderOff,
        t0 + Duration::minutes(30),
    )
    .await;
    drain(&pool, t0 + Duration::minutes(30)).await;
    let rows = incidents(&pool, "yamada").await;
    assert_eq!((rows.len(), rows[0].state.as_str()), (1, "open"));
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT kind FROM incident_events WHERE incident_id = $1 ORDER BY event_id",
    )
    .bind(rows[0].incident_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(kinds, ["opened", "auto_resolved", "reopened"]);
}

#[tokio::test]
async fn flapping_is_marked_and_settles() {
    let (_db, pool) = database().await;
    let agent = clinic(&pool, "flap", Some(ALWAYS)).await;
    let t0 = jst("2026-12-01T09:00:00");
    let mut seq = 0;
    for round in 0..5 {
        for fault in [Fault::ReaderOff, Fault::None, Fault::None] {
            seq += 1;
            let at = t0 + Duration::minutes(round * 5 + seq as i64 % 3);
            deliver(&pool, "flap", &agent, seq, fault, at).await;
            drain(&pool, at).await;
        }
    }
    let rows = incidents(&pool, "flap").await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].flapping, "{rows:?}");
    // An hour without a transition: the sweep lets it settle.
    sweep::sweep_once(
        &pool,
        &Policy::default(),
        &OfflinePolicy::default(),
        t0 + Duration::hours(3),
    )
    .await
    .unwrap();
    assert!(!incidents(&pool, "flap").await[0].flapping);
}

#[tokio::test]
async fn severity_rises_and_sticky_spool_loss_waits_for_an_operator() {
    let (_db, pool) = database().await;
    let agent = clinic(&pool, "cert", Some(ALWAYS)).await;
    let now = Utc::now();
    let mut r = report("cert", &agent, 1, Fault::None);
    r.certificate.as_mut().unwrap().not_after = Some(prost_types::Timestamp {
        seconds: (now + Duration::days(20)).timestamp(),
        nanos: 0,
    });
    r.certificate.as_mut().unwrap().serial = "CERT1".into();
    r.agent.as_mut().unwrap().spool_dropped = 4;
    commit_batch(&pool, &agent, &[r.clone()], 0, now)
        .await
        .unwrap();
    drain(&pool, now).await;
    let rows = incidents(&pool, "cert").await;
    let rules: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.rule.as_str(), r.severity.as_str()))
        .collect();
    assert_eq!(
        rules,
        [
            ("cert_expiring", "warning"),
            ("agent_spool_loss", "warning")
        ]
    );
    // Six days on the certificate is at the 7-day threshold: critical, same incident.
    r.seq = 2;
    r.certificate.as_mut().unwrap().not_after = Some(prost_types::Timestamp {
        seconds: (now + Duration::days(6)).timestamp(),
        nanos: 0,
    });
    r.agent.as_mut().unwrap().spool_dropped = 0;
    commit_batch(&pool, &agent, &[r.clone()], 0, now)
        .await
        .unwrap();
    drain(&pool, now).await;
    for seq in 3..=5 {
        r.seq = seq;
        commit_batch(&pool, &agent, &[r.clone()], 0, now)
            .await
            .unwrap();
        drain(&pool, now + Duration::minutes(seq as i64)).await;
    }
    let rows = incidents(&pool, "cert").await;
    assert_eq!(
        (rows[0].severity.as_str(), rows[0].state.as_str()),
        ("critical", "open")
    );
    // The loss was said once, four reports ago: still open until an operator resolves it.
    assert_eq!(
        (rows[1].rule.as_str(), rows[1].state.as_str()),
        ("agent_spool_loss", "open")
    );
    assert_eq!(rows.len(), 2);
}

#[tokio::test]
async fn offline_knows_the_night_sunday_holidays_and_year_end() {
    let (_db, pool) = database().await;
    let agent = clinic(&pool, "night", None).await; // clinic default: Mon–Fri 9–18, Sat 9–13
    let sweep_at = |t: &'static str| {
        let pool = pool.clone();
        async move {
            sweep::sweep_once(&pool, &Policy::default(), &OfflinePolicy::default(), jst(t))
                .await
                .unwrap()
        }
    };
    // Last report Tuesday 18:35, after closing.
    deliver(
        &pool,
        "night",
        &agent,
        1,
        Fault::None,
        jst("2026-12-01T18:35:00"),
    )
    .await;
    drain(&pool, jst("2026-12-01T18:35:00")).await;
    for quiet in ["2026-12-01T23:00:00", "2026-12-02T09:25:00"] {
        sweep_at(quiet).await;
        assert!(incidents(&pool, "night").await.is_empty(), "{quiet}");
    }
    // 9:31 on Wednesday: the PC did not start.
    sweep_at("2026-12-02T09:31:00").await;
    let rows = incidents(&pool, "night").await;
    assert_eq!((rows.len(), rows[0].rule.as_str()), (1, "offline"));
    assert!(
        rows[0].title.contains("起動していません") && rows[0].title.contains("09:00"),
        "{}",
        rows[0].title
    );
    // A second sweep does not open it twice.
    sweep_at("2026-12-02T09:32:00").await;
    assert_eq!(incidents(&pool, "night").await.len(), 1);
    // Reporting again resolves it at once.
    deliver(
        &pool,
        "night",
        &agent,
        2,
        Fault::None,
        jst("2026-12-02T09:40:00"),
    )
    .await;
    drain(&pool, jst("2026-12-02T09:40:00")).await;
    assert_eq!(incidents(&pool, "night").await[0].state, "resolved");
    // Stops at 10:00: after 15 minutes of silence, "stopped during hours" — the same incident re-opens.
    deliver(
        &pool,
        "night",
        &agent,
        3,
        Fault::None,
        jst("2026-12-02T10:00:00"),
    )
    .await;
    drain(&pool, jst("2026-12-02T10:00:00")).await;
    sweep_at("2026-12-02T10:14:00").await;
    assert_eq!(incidents(&pool, "night").await[0].state, "resolved");
    sweep_at("2026-12-02T10:16:00").await;
    let rows = incidents(&pool, "night").await;
    assert_eq!((rows.len(), rows[0].state.as_str()), (1, "open"));
    assert!(
        rows[0].title.contains("10:00から途絶えて"),
        "{}",
        rows[0].title
    );

    // Another clinic, silent since Friday evening: Saturday afternoon, Sunday, a holiday (Mon
    // 2026-11-23) and 12/31 raise nothing.
    let quiet = clinic(&pool, "holiday", None).await;
    deliver(
        &pool,
        "holiday",
        &quiet,
        1,
        Fault::None,
        jst("2026-11-20T18:05:00"),
    )
    .await;
    drain(&pool, jst("2026-11-20T18:05:00")).await;
    for t in [
        "2026-11-21T15:00:00",
        "2026-11-22T11:00:00",
        "2026-11-23T11:00:00",
    ] {
        sweep_at(t).await;
        assert!(incidents(&pool, "holiday").await.is_empty(), "{t}");
    }
    sqlx::query("UPDATE site_state SET received_at = $1 WHERE site_id = 'holiday'")
        .bind(jst("2026-12-30T18:00:00"))
        .execute(&pool)
        .await
        .unwrap();
    sweep_at("2026-12-31T11:00:00").await;
    assert!(incidents(&pool, "holiday").await.is_empty());
}

#[tokio::test]
async fn two_sweepers_at_once_open_each_incident_once() {
    let (_db, pool) = database().await;
    let mut agents = Vec::new();
    for i in 0..20 {
        let site = format!("s{i:02}");
        let agent = clinic(&pool, &site, Some(ALWAYS)).await;
        deliver(
            &pool,
            &site,
            &agent,
            1,
            Fault::None,
            jst("2026-12-02T08:00:00"),
        )
        .await;
        agents.push(site);
    }
    drain(&pool, jst("2026-12-02T08:00:00")).await;
    let at = jst("2026-12-02T11:00:00");
    let (policy, offline) = (Policy::default(), OfflinePolicy::default());
    let (a, b) = tokio::join!(
        sweep::sweep_once(&pool, &policy, &offline, at),
        sweep::sweep_once(&pool, &policy, &offline, at),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM incidents WHERE rule = 'offline'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 20);
    assert_eq!(a.applied.opened.len() + b.applied.opened.len(), 20);
}
