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
        &[
            "--rollout-check-seconds",
            "1",
            "--agent-batches-per-minute",
            "600",
        ],
    )
}

/// A release of the built agent that reports `version`.
fn agent_release(key: &TestKey, version: &str, dir: &std::path::Path) -> Signed {
    let binary = restamped(
        &bin("onshi-agent"),
        version,
        &dir.join(format!("onshi-agent-{version}")),
    );
    sign(key, &binary, version, LINUX, dir, &[])
}

/// Acked seq of an agent, once it moved `more` reports past `from`.
async fn reports_past(pool: &sqlx::PgPool, agent: &Installed, from: i64, more: i64) -> i64 {
    eventually(
        &format!("{} to deliver {more} more reports", agent.site),
        || async {
            let (_, acked) = agent_row(pool, &agent.agent_id).await;
            (acked >= from + more).then_some(acked)
        },
    )
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
    assert_eq!(
        sha256(&canary.exe),
        sha256(&r1.binary),
        "installed binary replaced"
    );
    let previous = canary.state.join("update/previous/onshi-agent");
    assert_eq!(sha256(&previous), original, "the previous binary is kept");
    let kinds: Vec<String> = update_events(&pool, &canary.agent_id)
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(kinds, ["staged", "applied"], "{}", canary.log_text());

    // The open site staged it but keeps the old binary while it is open.
    eventually("the open site to stage the release", || async {
        let events = update_events(&pool, &open.agent_id).await;
        events.iter().any(|e| e.0 == "staged").then_some(())
    })
    .await;
    let (_, acked) = agent_row(&pool, &open.agent_id).await;
    reports_past(&pool, &open, acked, 5).await;
    assert_eq!(
        agent_row(&pool, &open.agent_id).await.0,
        old,
        "no swap in business hours"
    );
    assert_eq!(sha256(&open.exe), original);

    // The site outside the canary keeps reporting, is offered nothing.
    let (_, acked) = agent_row(&pool, &later.agent_id).await;
    reports_past(&pool, &later, acked, 3).await;
    assert_eq!(agent_row(&pool, &later.agent_id).await.0, old);
    assert!(update_events(&pool, &later.agent_id).await.is_empty());

    ok(
        server.admin(&["rollout", "widen", "--id", &rollout.to_string()]),
        "rollout widen",
    );
    eventually("the widened ring to reach the other site", || async {
        let events = update_events(&pool, &later.agent_id).await;
        let applied = events.iter().any(|e| e.0 == "applied");
        (applied && agent_row(&pool, &later.agent_id).await.0 == v1).then_some(())
    })
    .await;
    assert_eq!(sha256(&later.exe), sha256(&r1.binary));
    assert_eq!(
        agent_row(&pool, &open.agent_id).await.0,
        old,
        "still open, still waiting"
    );

    // An administrator forces the next release: the open site swaps now.
    // The canary takes it too, from the updated agent that runs from its
    // staging directory: it replaces the installed binary it does not run.
    let r2 = agent_release(&key, &v2, releases.path());
    ok(publish(&server, &key, &r2), "release publish");
    let forced = start_rollout(&server, &v2, LINUX, "upd-open,upd-canary", &["--force-now"]);
    assert_eq!(
        rollout_state(&pool, rollout).await.0,
        "completed",
        "superseded at 100 %"
    );
    eventually("the forced swap at the open site", || async {
        let events = update_events(&pool, &open.agent_id).await;
        let applied = events.iter().any(|e| e.0 == "applied" && e.1 == v2);
        (applied && agent_row(&pool, &open.agent_id).await.0 == v2).then_some(())
    })
    .await;
    assert_eq!(sha256(&open.exe), sha256(&r2.binary));
    eventually("the canary's second update", || async {
        let events = update_events(&pool, &canary.agent_id).await;
        events
            .iter()
            .any(|e| e.0 == "applied" && e.1 == v2)
            .then_some(())
    })
    .await;
    assert_eq!(sha256(&canary.exe), sha256(&r2.binary));
    assert_eq!(agent_row(&pool, &canary.agent_id).await.0, v2);
    let status = ok(
        server.admin(&["rollout", "status", "--id", &forced.to_string()]),
        "rollout status",
    );
    assert!(status.contains("2 applied"), "{status}");
    drop((canary, open, later));
    let _ = DEADLINE;
}

#[tokio::test]
async fn a_release_that_exits_at_once_is_rolled_back_on_the_pc_and_halts_the_rollout() {
    let db = TestDb::new().await;
    let server = start_server(&db);
    let pool = db.pool().await;
    let key = TestKey::new();
    let old = onshi_agent::version::get().to_owned();
    let bad = version_plus(1);
    let releases = tempfile::tempdir().unwrap();
    let mut agent = Installed::new(&server, &key, "upd-bad");
    set_hours(&server, "upd-bad", false);
    // A channel for the operators (nothing listens there: the delivery is what is checked).
    ok(
        server.admin(&[
            "channel",
            "add",
            "--kind",
            "webhook",
            "--name",
            "ops",
            "--url",
            "http://127.0.0.1:9/onshi",
            "--secret",
            "0123456789abcdef0123",
        ]),
        "channel add",
    );
    let original = sha256(&agent.exe);
    agent.start(&server);

    // A real x86-64 executable that exits at once with status 1.
    let false_bin = releases.path().join("false");
    std::fs::copy("/bin/false", &false_bin).unwrap();
    let release = sign(&key, &false_bin, &bad, LINUX, releases.path(), &[]);
    ok(publish(&server, &key, &release), "release publish");
    let rollout = start_rollout(&server, &bad, LINUX, "upd-bad", &[]);

    let (state, reason) = eventually("the rollout to halt itself", || async {
        let (state, reason) = rollout_state(&pool, rollout).await;
        (state == "halted").then_some((state, reason))
    })
    .await;
    assert_eq!(state, "halted");
    let reason = reason.unwrap();
    assert!(
        reason.contains(&format!(
            "{bad} に切り替えた PC のうち 1 台が報告できず元のバージョンに戻りました"
        )),
        "{reason}"
    );

    let events = update_events(&pool, &agent.agent_id).await;
    let rolled_back = events
        .iter()
        .find(|e| e.0 == "rolled_back")
        .expect("rolled_back event");
    assert_eq!(rolled_back.1, bad);
    assert!(
        rolled_back.2.contains("exited") && rolled_back.2.contains("before delivering a report"),
        "{}",
        rolled_back.2
    );
    assert!(!events.iter().any(|e| e.0 == "applied"), "{events:?}");

    // The PC still runs and reports the old version from the untouched binary.
    let (_, acked) = agent_row(&pool, &agent.agent_id).await;
    reports_past(&pool, &agent, acked, 3).await;
    assert_eq!(agent_row(&pool, &agent.agent_id).await.0, old);
    assert_eq!(sha256(&agent.exe), original);
    assert!(
        agent
            .log_text()
            .contains("update rolled back: the previous binary stays in place")
    );

    // Shown to operators, audited, and resumable by an administrator.
    let status = ok(
        server.admin(&["rollout", "status", "--id", &rollout.to_string()]),
        "rollout status",
    );
    assert!(
        status.contains("自動停止") && status.contains("停止理由"),
        "{status}"
    );
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'rollout.halt' AND actor = 'system:rollout-monitor'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(audited, 1);
    // ...and said in a notification (the operators' channels, issue 12).
    let (subject, body): (String, String) = eventually("the halt notification", || async {
        sqlx::query_as("SELECT subject, body FROM notify_deliveries WHERE kind = 'event' AND channel_name = 'ops'")
            .fetch_optional(&pool)
            .await
            .unwrap()
    })
    .await;
    assert!(
        subject.contains(&bad) && subject.contains("自動停止"),
        "{subject}"
    );
    assert!(
        body.contains(&format!("/admin/rollouts/{rollout}")),
        "{body}"
    );
    let widen = server.admin(&["rollout", "widen", "--id", &rollout.to_string()]);
    assert!(!widen.status.success());
    assert!(String::from_utf8_lossy(&widen.stderr).contains("再開してから広げてください"));
    // The failed version is never tried again on this PC, even after a resume.
    ok(
        server.admin(&["rollout", "resume", "--id", &rollout.to_string()]),
        "rollout resume",
    );
    let (_, acked) = agent_row(&pool, &agent.agent_id).await;
    reports_past(&pool, &agent, acked, 3).await;
    let tries = update_events(&pool, &agent.agent_id)
        .await
        .iter()
        .filter(|e| e.0 == "staged")
        .count();
    assert_eq!(tries, 1);
    assert_eq!(rollout_state(&pool, rollout).await.0, "running");
}

#[tokio::test]
async fn a_tampered_manifest_is_refused_by_the_server_and_by_the_agent() {
    let db = TestDb::new().await;
    let server = start_server(&db);
    let pool = db.pool().await;
    let key = TestKey::new();
    let v1 = version_plus(1);
    let releases = tempfile::tempdir().unwrap();
    let release = agent_release(&key, &v1, releases.path());
    let refused = |out: std::process::Output| {
        assert!(
            !out.status.success(),
            "accepted: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    // The server: a changed manifest byte, another binary, an unknown key.
    let mut text = std::fs::read_to_string(&release.manifest).unwrap();
    text = text.replace("テスト用リリース", "改ざんされたリリース");
    let tampered_manifest = releases.path().join("tampered.manifest.json");
    std::fs::write(&tampered_manifest, text).unwrap();
    let tampered = Signed {
        manifest: tampered_manifest,
        ..clone(&release)
    };
    assert!(refused(publish(&server, &key, &tampered)).contains("signature does not verify"));
    let other_binary = Signed {
        binary: bin("onshi-agent"),
        ..clone(&release)
    };
    assert!(refused(publish(&server, &key, &other_binary)).contains("SHA-256"));
    let unknown = TestKey::new();
    assert!(refused(publish(&server, &unknown, &release)).contains("not trusted"));
    let denied: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'release.publish' AND outcome = 'denied'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(denied, 3, "each refusal is audited");
    ok(publish(&server, &key, &release), "release publish");
    let older_dir = releases.path().join("older");
    std::fs::create_dir_all(&older_dir).unwrap();
    let older = agent_release(&key, &version_plus(0), &older_dir);
    assert!(refused(publish(&server, &key, &older)).contains("not newer"));

    // The agent: the stored manifest altered behind the server's back (a
    // compromised database) is refused before anything is downloaded.
    sqlx::query("UPDATE releases SET manifest = convert_to(replace(convert_from(manifest, 'UTF8'), 'notes', 'notez'), 'UTF8') WHERE version = $1")
        .bind(&v1)
        .execute(&pool)
        .await
        .unwrap();
    let mut agent = Installed::new(&server, &key, "upd-tamper");
    set_hours(&server, "upd-tamper", false);
    let original = sha256(&agent.exe);
    agent.start(&server);
    start_rollout(&server, &v1, LINUX, "upd-tamper", &[]);
    let reason = eventually("the agent's refusal", || async {
        let events = update_events(&pool, &agent.agent_id).await;
        events.into_iter().find(|e| e.0 == "refused").map(|e| e.2)
    })
    .await;
    assert!(reason.contains("signature does not verify"), "{reason}");
    let (_, acked) = agent_row(&pool, &agent.agent_id).await;
    reports_past(&pool, &agent, acked, 3).await;
    let kinds: Vec<String> = update_events(&pool, &agent.agent_id)
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(kinds, ["refused"], "said once, nothing staged");
    assert!(
        !agent.state.join("update/staged").exists()
            || std::fs::read_dir(agent.state.join("update/staged"))
                .unwrap()
                .next()
                .is_none()
    );
    assert_eq!(sha256(&agent.exe), original);
    assert!(
        agent
            .log_text()
            .contains("update offer refused; nothing downloaded or run")
    );
}

fn clone(s: &Signed) -> Signed {
    Signed {
        binary: s.binary.clone(),
        manifest: s.manifest.clone(),
        signature: s.signature.clone(),
    }
}

#[path = "faults/mod.rs"]
mod faults;

#[tokio::test]
async fn a_download_cut_off_resumes_and_a_full_disk_is_refused() {
    let db = TestDb::new().await;
    // Slow downloads (1.5 MB/s) so that the server can be killed in the middle.
    let server = Server::start_with_args(
        &db.url,
        &[
            "--rollout-check-seconds",
            "1",
            "--agent-batches-per-minute",
            "600",
            "--update-download-bytes-per-second",
            "1500000",
        ],
    );
    let pool = db.pool().await;
    let key = TestKey::new();
    let v1 = version_plus(1);
    let releases = tempfile::tempdir().unwrap();
    let release = agent_release(&key, &v1, releases.path());
    ok(publish(&server, &key, &release), "release publish");

    let root = tempfile::tempdir().unwrap();
    let small = faults::Tmpfs::mount(&root.path().join("disk"), "4m");
    let mut full = small.as_ref().map(|disk| {
        let a = Installed::with_state(&server, &key, "upd-full", Some(disk.path.join("state")));
        set_hours(&server, "upd-full", false);
        a
    });
    let mut agent = Installed::new(&server, &key, "upd-resume");
    set_hours(&server, "upd-resume", false);
    agent.start(&server);
    if let Some(a) = full.as_mut() {
        a.start(&server);
    }
    start_rollout(&server, &v1, LINUX, "upd-resume,upd-full", &[]);

    let partial = agent
        .state
        .join(format!("update/staged/onshi-agent-{v1}.partial"));
    eventually("part of the download", || async {
        let len = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        (len > 2_000_000).then_some(())
    })
    .await;
    // The server disappears mid-download (killed) and comes back on the same address.
    let mut server = server;
    let grpc = server.grpc_addr.clone();
    server.kill9();
    let data = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    drop(server);
    let kept = std::fs::metadata(&partial).unwrap().len();
    assert!(kept < std::fs::metadata(&release.binary).unwrap().len());
    let server = Server::start_with(&db.url, &grpc, data);

    eventually("the resumed download to be applied", || async {
        let events = update_events(&pool, &agent.agent_id).await;
        events.iter().any(|e| e.0 == "applied").then_some(())
    })
    .await;
    let staged = update_events(&pool, &agent.agent_id)
        .await
        .into_iter()
        .find(|e| e.0 == "staged")
        .unwrap();
    assert!(!staged.2.contains("after 0 resumption"), "{}", staged.2);
    assert!(
        agent.log_text().contains("release download interrupted"),
        "{}",
        agent.log_text()
    );
    assert!(agent.log_text().contains("resuming the release download"));
    assert_eq!(sha256(&agent.exe), sha256(&release.binary));

    match full.as_ref() {
        Some(full) => {
            let reason = eventually("the full disk's refusal", || async {
                let events = update_events(&pool, &full.agent_id).await;
                events.into_iter().find(|e| e.0 == "refused").map(|e| e.2)
            })
            .await;
            assert!(
                reason.contains("disk too full to stage the release"),
                "{reason}"
            );
            let (_, acked) = agent_row(&pool, &full.agent_id).await;
            let after = eventually("the full-disk agent to keep reporting", || async {
                let (_, now) = agent_row(&pool, &full.agent_id).await;
                (now >= acked + 3).then_some(now)
            })
            .await;
            assert!(after >= acked + 3);
            assert!(
                full.log_text()
                    .contains("free disk space on the state directory's drive")
            );
        }
        None => eprintln!("SKIPPED (full disk part): cannot mount a tmpfs here (needs root)"),
    }
    drop(full);
    drop(small);
    drop(server);
}

#[tokio::test]
async fn a_release_that_never_reports_is_stopped_at_the_trial_timeout_and_rolled_back() {
    let db = TestDb::new().await;
    let server = start_server(&db);
    let pool = db.pool().await;
    let key = TestKey::new();
    let old = onshi_agent::version::get().to_owned();
    let silent = version_plus(1);
    let releases = tempfile::tempdir().unwrap();
    let mut agent = Installed::new(&server, &key, "upd-silent");
    std::fs::write(
        &agent.config,
        common::updates::config_with_trial(&key.public.display().to_string(), 5),
    )
    .unwrap();
    set_hours(&server, "upd-silent", false);
    let original = sha256(&agent.exe);
    agent.start(&server);

    // A real executable that runs and never reports.
    let source = releases.path().join("hang.c");
    std::fs::write(
        &source,
        "#include <unistd.h>\nint main(void) { for (;;) pause(); }\n",
    )
    .unwrap();
    let hang = releases.path().join("hang");
    let built = std::process::Command::new("cc")
        .arg("-o")
        .arg(&hang)
        .arg(&source)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let release = sign(&key, &hang, &silent, LINUX, releases.path(), &[]);
    ok(publish(&server, &key, &release), "release publish");
    let rollout = start_rollout(&server, &silent, LINUX, "upd-silent", &[]);

    let reason = eventually("the rollback after the trial timeout", || async {
        let events = update_events(&pool, &agent.agent_id).await;
        events
            .into_iter()
            .find(|e| e.0 == "rolled_back")
            .map(|e| e.2)
    })
    .await;
    assert!(
        reason.contains("delivered no report within 5 s"),
        "{reason}"
    );
    eventually("the halt", || async {
        (rollout_state(&pool, rollout).await.0 == "halted").then_some(())
    })
    .await;
    // The silent trial was stopped: nothing runs from the staging directory.
    let staged = agent.state.join("update/staged");
    eventually("the trial process to be gone", || async {
        let running = std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
            std::fs::read_link(p.path().join("exe")).is_ok_and(|exe| exe.starts_with(&staged))
        });
        (!running).then_some(())
    })
    .await;
    let (_, acked) = agent_row(&pool, &agent.agent_id).await;
    reports_past(&pool, &agent, acked, 3).await;
    assert_eq!(agent_row(&pool, &agent.agent_id).await.0, old);
    assert_eq!(sha256(&agent.exe), original);
}
