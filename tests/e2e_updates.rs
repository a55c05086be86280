//! Agent updates end to end on Linux (docs/UPDATES.md): the real server, the
//! real `release` and `rollout` commands, real agents installed with their
//! own binary and running as services; real PostgreSQL, gRPC over mTLS.

mod common;

use common::updates::{
    DEADLINE, Installed, Signed, TestKey, agent_row, eventually, ok, publish, restamped,
    rollout_state, set_hours, sha256, sign, start_rollout, update_events, version_plus,
};
use common::{Server, TestDb, bin};

const LINUX: &str = "linux-x86_64";

fn start_server(db: &TestDb) -> Server {
    Server::start_with_args(
        &db.url,
        &["--rollout-check-seconds", "1", "--agent-batches-per-minute", "600"],
    )
}

/// A release of the built agent that reports `version`.
fn agent_release(key: &TestKey, version: &str, dir: &std::path::Path) -> Signed {
    let binary = restamped(&bin("onshi-agent"), version, &dir.join(format!("onshi-agent-{version}")));
    sign(key, &binary, version, LINUX, dir, &[])
}

/// Acked seq of an agent, once it moved `more` reports past `from`.
async fn reports_past(pool: &sqlx::PgPool, agent: &Installed, from: i64, more: i64) -> i64 {
    eventually(&format!("{} to deliver {more} more reports", agent.site), || async {
        let (_, acked) = agent_row(pool, &agent.agent_id).await;
        (acked >= from + more).then_some(acked)
    })
    .await
}

#[tokio::test]
async fn canary_agents_update_at_the_right_hour_and_the_rest_wait_for_the_ring() {
    let db = TestDb::new().await;
    let server = start_server(&db);
    let pool = db.pool().await;
    let key = TestKey::new();
    let old = onshi_agent::version::get().to_owned();
    let (v1, v2) = (version_plus(1), version_plus(2));
    let releases = tempfile::tempdir().unwrap();

    // Canary, closed now: swaps. Canary, open around the clock: stages, waits.
    // Not in the canary: nothing until the ring widens.
    let mut canary = Installed::new(&server, &key, "upd-canary");
    let mut open = Installed::new(&server, &key, "upd-open");
    let mut later = Installed::new(&server, &key, "upd-later");
    set_hours(&server, "upd-canary", false);
    set_hours(&server, "upd-open", true);
    set_hours(&server, "upd-later", false);
    let original = sha256(&canary.exe);
    for a in [&mut canary, &mut open, &mut later] {
        a.start(&server);
    }

    let r1 = agent_release(&key, &v1, releases.path());
    ok(publish(&server, &key, &r1), "release publish");
    let rollout = start_rollout(&server, &v1, LINUX, "upd-canary,upd-open", &[]);

    eventually("the canary to report the new version", || async {
        (agent_row(&pool, &canary.agent_id).await.0 == v1).then_some(())
    })
    .await;
    // `applied` is said once the old agent swapped the installed binary.
    eventually("the canary's applied event", || async {
        let events = update_events(&pool, &canary.agent_id).await;
        events.iter().any(|e| e.0 == "applied").then_some(())
    })
    .await;
    assert_eq!(sha256(&canary.exe), sha256(&r1.binary), "installed binary replaced");
    let previous = canary.state.join("update/previous/onshi-agent");
    assert_eq!(sha256(&previous), original, "the previous binary is kept");
    let kinds: Vec<String> = update_events(&pool, &canary.agent_id).await.into_iter().map(|e| e.0).collect();
    assert_eq!(kinds, ["staged", "applied"], "{}", canary.log_text());

    // The open site staged it but keeps the old binary while it is open.
    eventually("the open site to stage the release", || async {
        let events = update_events(&pool, &open.agent_id).await;
        events.iter().any(|e| e.0 == "staged").then_some(())
    })
    .await;
    let (_, acked) = agent_row(&pool, &open.agent_id).await;
    reports_past(&pool, &open, acked, 5).await;
    assert_eq!(agent_row(&pool, &open.agent_id).await.0, old, "no swap in business hours");
    assert_eq!(sha256(&open.exe), original);

    // The site outside the canary keeps reporting, is offered nothing.
    let (_, acked) = agent_row(&pool, &later.agent_id).await;
    reports_past(&pool, &later, acked, 3).await;
    assert_eq!(agent_row(&pool, &later.agent_id).await.0, old);
    assert!(update_events(&pool, &later.agent_id).await.is_empty());

    ok(server.admin(&["rollout", "widen", "--id", &rollout.to_string()]), "rollout widen");
    eventually("the widened ring to reach the other site", || async {
        let events = update_events(&pool, &later.agent_id).await;
        let applied = events.iter().any(|e| e.0 == "applied");
        (applied && agent_row(&pool, &later.agent_id).await.0 == v1).then_some(())
    })
    .await;
    assert_eq!(sha256(&later.exe), sha256(&r1.binary));
    assert_eq!(agent_row(&pool, &open.agent_id).await.0, old, "still open, still waiting");

    // An administrator forces the next release: the open site swaps now.
    let r2 = agent_release(&key, &v2, releases.path());
    ok(publish(&server, &key, &r2), "release publish");
    let forced = start_rollout(&server, &v2, LINUX, "upd-open", &["--force-now"]);
    assert_eq!(rollout_state(&pool, rollout).await.0, "completed", "superseded at 100 %");
    eventually("the forced swap at the open site", || async {
        let events = update_events(&pool, &open.agent_id).await;
        let applied = events.iter().any(|e| e.0 == "applied" && e.1 == v2);
        (applied && agent_row(&pool, &open.agent_id).await.0 == v2).then_some(())
    })
    .await;
    assert_eq!(sha256(&open.exe), sha256(&r2.binary));
    let status = ok(server.admin(&["rollout", "status", "--id", &forced.to_string()]), "rollout status");
    assert!(status.contains("1 applied"), "{status}");
    drop((canary, open, later));
    let _ = DEADLINE;
}
