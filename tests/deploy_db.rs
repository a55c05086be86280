//! Operations on the database, end to end with the real binary and a real
//! PostgreSQL: two replicas migrating at once, and the backup / restore
//! procedure of docs/OPERATIONS.md (pg_dump + `onshi-server backup`, then
//! pg_restore + `onshi-server restore` into fresh places, then serve).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, TestDb, batch, bin, report};
use sqlx::Connection;

/// CRC-32 (IEEE), as sqlx uses to derive its migration lock id.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn db_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap().split('?').next().unwrap()
}

async fn waiting_advisory_locks(conn: &mut sqlx::PgConnection, db: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
         WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = $1",
    )
    .bind(db)
    .fetch_one(conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn two_migrators_at_once_both_succeed_and_apply_each_migration_once() {
    let db = TestDb::new().await;
    let name = db_name(&db.url).to_owned();
    // Hold the migration lock ourselves so both migrators are provably
    // waiting on the same lock before either can start.
    let lock_id = 0x3d32_ad9e_i64 * i64::from(crc32(name.as_bytes()));
    let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(lock_id)
        .execute(&mut holder)
        .await
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let spawn = || {
        Command::new(bin("onshi-server"))
            .arg("migrate")
            .arg("--data-dir")
            .arg(data.path())
            .env("DATABASE_URL", &db.url)
            .env("ONSHI_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    let deadline = Instant::now() + Duration::from_secs(60);
    while waiting_advisory_locks(&mut holder, &name).await < 2 {
        assert!(
            Instant::now() < deadline,
            "the two migrators never waited on the lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(lock_id)
        .execute(&mut holder)
        .await
        .unwrap();
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (applied, ok): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE success) FROM _sqlx_migrations")
            .fetch_one(&mut holder)
            .await
            .unwrap();
    let expected = onshi_server::db::MIGRATOR.iter().count() as i64;
    assert_eq!((applied, ok), (expected, expected));
}

/// pg_dump / pg_restore from PATH; None (skip) on a developer machine
/// without them, a failure in CI.
fn pg_tools() -> Option<()> {
    let found = ["pg_dump", "pg_restore"].iter().all(|tool| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "pg_dump/pg_restore are missing: apt-get install postgresql-client"
        );
        eprintln!("skipping: pg_dump/pg_restore not installed (apt-get install postgresql-client)");
        return None;
    }
    Some(())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn server_cmd(args: &[&str], database_url: &str, data_dir: &Path) -> Command {
    let mut cmd = Command::new(bin("onshi-server"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("DATABASE_URL", database_url)
        .env("ONSHI_LOG", "warn");
    cmd
}

#[tokio::test]
async fn restored_dump_and_ca_serve_the_same_fleet() {
    if pg_tools().is_none() {
        return;
    }
    // 1. A running fleet: an operator, a site, an enrolled agent that reported.
    let original_db = TestDb::new().await;
    let original = Server::start(&original_db.url);
    let password = original.create_operator("restore-admin", "admin");
    let (agent, mut client, agent_dir) = original.enrolled_client("clinic-restore").await;
    client
        .submit_reports(batch(&agent, vec![report(&agent, "clinic-restore", 1)]))
        .await
        .unwrap();
    let fingerprint =
        onshi_server::tls::fingerprint(&std::fs::read_to_string(original.ca_pem_path()).unwrap());

    // 2. Backup, as docs/OPERATIONS.md writes it.
    let backup = tempfile::tempdir().unwrap();
    let dump = backup.path().join("onshi.dump");
    run(Command::new("pg_dump")
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(&dump)
        .arg(&original.database_url));
    let ca_backup = backup.path().join("ca");
    let printed = run(&mut server_cmd(
        &["backup", "--out", ca_backup.to_str().unwrap()],
        &original.database_url,
        original.data_dir.path(),
    ));
    assert!(printed.contains(&fingerprint), "{printed}");
    drop(original);

    // 3. Restore into a fresh database and a fresh data directory.
    let restored_db = TestDb::new().await;
    run(Command::new("pg_restore")
        .args(["--no-owner", "--exit-on-error", "--dbname"])
        .arg(&restored_db.url)
        .arg(&dump));
    let data = tempfile::tempdir().unwrap();
    run(&mut server_cmd(
        &["restore", "--from", ca_backup.to_str().unwrap()],
        &restored_db.url,
        data.path(),
    ));

    // 4. Serve it: the operator logs in, the site is there, the agent's
    //    certificate from before the disaster is still accepted.
    let restored = Server::start_with(&restored_db.url, "127.0.0.1:0", data);
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .post(restored.http("/login"))
        .form(&[
            ("username", "restore-admin"),
            ("password", &password),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303, "restored operator cannot log in");
    let sites = http
        .get(restored.http("/admin/sites"))
        .send()
        .await
        .unwrap();
    assert_eq!(sites.status(), 200);
    assert!(sites.text().await.unwrap().contains("clinic-restore"));
    let mut client = restored.client_for(agent_dir.path()).await;
    let ack = client
        .submit_reports(batch(&agent, vec![report(&agent, "clinic-restore", 2)]))
        .await
        .expect("the enrolled agent is refused after the restore")
        .into_inner();
    assert_eq!(
        ack.acked_seq, 2,
        "seq 1 survived the restore, so 2 is contiguous"
    );

    // 5. Restoring a different CA over it is refused without --replace.
    let other_server = Server::start(&restored_db.url);
    let refused = server_cmd(
        &[
            "restore",
            "--from",
            other_server.data_dir.path().join("pki").to_str().unwrap(),
        ],
        &restored_db.url,
        restored.data_dir.path(),
    )
    .output()
    .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--replace"));
}

#[tokio::test]
async fn rollout_script_issues_a_working_token_per_site() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url);
    let _ = server.admin(&["site", "add", "--site-id", "clinic-old", "--name", "既存"]);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("sites.csv");
    std::fs::write(
        &csv,
        "site_id,name,prefecture,kind,pc\r\nclinic-old,既存,東京都,clinic,pc-old\r\npharm-new,新薬局,大阪府,pharmacy,pc-new\r\n",
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rollout/site-tokens.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&csv)
        .env("ONSHI_SERVER_BIN", bin("onshi-server"))
        .env("DATABASE_URL", &db.url)
        .env("ONSHI_DATA_DIR", server.data_dir.path())
        .env("ONSHI_LOG", "warn")
        .output()
        .unwrap();
    let tokens = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{tokens}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<&str>> = tokens
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{tokens}");
    assert_eq!((rows[1][0], rows[1][1]), ("pharm-new", "pc-new"));
    // The new site's token enrols a real agent.
    let state = tempfile::tempdir().unwrap();
    let enrolled = Command::new(bin("onshi-agent"))
        .args([
            "enroll",
            "--token",
            rows[1][2],
            "--ca-fingerprint",
            rows[1][3],
        ])
        .arg("--server")
        .arg(server.grpc_url())
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .unwrap();
    assert!(
        enrolled.status.success(),
        "{}",
        String::from_utf8_lossy(&enrolled.stderr)
    );
    let pool = db.pool().await;
    let sites: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sites WHERE site_id IN ('clinic-old', 'pharm-new')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(sites, 2);
}
