//! Shared harness for the end-to-end tests: a fresh database per test, the
//! real `onshi-server` binary on free ports, TLS clients that trust its CA.
#![allow(dead_code)]

pub mod browser;
pub mod history;
pub mod incidents;
pub mod smtp;
pub mod updates;
pub mod webhook;
pub mod windows;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use onshi_proto::v1::agent_service_client::AgentServiceClient;
use sqlx::{Connection, PgConnection, PgPool};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

/// Where tests find PostgreSQL: `ONSHI_TEST_DATABASE_URL`, else `DATABASE_URL`,
/// else the local default. Each test gets its own database on that server.
pub fn admin_url() -> String {
    std::env::var("ONSHI_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub struct TestDb {
    pub url: String,
    name: String,
}

impl TestDb {
    pub async fn new() -> Self {
        let name = format!("onshi_test_{:016x}", rand::random::<u64>());
        let admin = admin_url();
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!(
                "tests need PostgreSQL at {admin} ({e}). Start it (e.g. `pg_ctlcluster 15 main start`) \
                 or set ONSHI_TEST_DATABASE_URL; .ci/run does this for you"
            )
        });
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let url = replace_db(&admin, &name);
        Self { url, name }
    }

    pub async fn pool(&self) -> PgPool {
        PgPool::connect(&self.url).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = admin_url();
        let name = self.name.clone();
        // Drop runs outside async: use a short-lived runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            })
        })
        .join();
    }
}

fn replace_db(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map(|(b, q)| (b, Some(q)))
        .unwrap_or((url, None));
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Path of a workspace binary. `cargo test --workspace` builds them; a test
/// run of this package alone does not, so a missing or stale binary is an
/// error that says what to run (a nested cargo build would wait forever on
/// the outer cargo's lock).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf(); // target/debug
    let path = dir.join(name);
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `cargo test --workspace` (or `cargo build --workspace` first)",
                path.display()
            )
        });
    // Cargo's dep-info lists exactly the sources the binary was built from.
    let deps = std::fs::read_to_string(dir.join(format!("{name}.d"))).unwrap_or_default();
    let stale = deps
        .split_once(": ")
        .map(|(_, list)| {
            list.split_whitespace()
                .any(|dep| modified_after(Path::new(dep), built))
        })
        .unwrap_or(false);
    assert!(
        !stale,
        "{} is older than its sources: run `cargo build --workspace` or `cargo test --workspace`",
        path.display()
    );
    path
}

fn modified_after(path: &Path, t: std::time::SystemTime) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|m| m > t)
}

/// The real server binary, on free ports, with its own data directory.
pub struct Server {
    child: Child,
    pub database_url: String,
    pub grpc_addr: String,
    pub http_addr: String,
    pub data_dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl Server {
    pub fn start(database_url: &str) -> Self {
        Self::start_with_args(database_url, &[])
    }

    /// Starts the server with extra `serve` options.
    pub fn start_with_args(database_url: &str, extra: &[&str]) -> Self {
        Self::spawn(
            database_url,
            "127.0.0.1:0",
            tempfile::tempdir().unwrap(),
            extra,
        )
    }

    /// Spawns `onshi-server serve` and reads the addresses it prints. The log
    /// is appended to, so a restarted server keeps one log.
    fn spawn(
        database_url: &str,
        grpc_addr: &str,
        data_dir: tempfile::TempDir,
        extra: &[&str],
    ) -> Self {
        let log = data_dir.path().join("server.log");
        let mut child = Command::new(bin("onshi-server"))
            .args([
                "serve",
                "--grpc-addr",
                grpc_addr,
                "--http-addr",
                "127.0.0.1:0",
            ])
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir.path())
            .env("DATABASE_URL", database_url)
            .env("ONSHI_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(
                std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mut parts = line.split_whitespace();
        let (grpc_addr, http_addr) = match (parts.next(), parts.next(), parts.next(), parts.next())
        {
            (Some("grpc:"), Some(g), Some("http:"), Some(h)) => (g.to_owned(), h.to_owned()),
            _ => {
                let _ = child.kill();
                panic!(
                    "server did not start: {line:?}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            }
        };
        Self {
            child,
            database_url: database_url.to_owned(),
            grpc_addr,
            http_addr,
            data_dir,
            log,
        }
    }

    /// Runs an `onshi-server` admin subcommand against this server's
    /// database and data directory.
    pub fn admin(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin("onshi-server"))
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .env("DATABASE_URL", &self.database_url)
            .env("ONSHI_LOG", "warn")
            .output()
            .unwrap()
    }

    /// Creates an operator with a known password via `onshi-server admin create`.
    pub fn create_operator(&self, username: &str, role: &str) -> String {
        let password = format!("pw-{username}-correct-horse");
        let mut child = Command::new(bin("onshi-server"))
            .args([
                "admin",
                "create",
                "--username",
                username,
                "--role",
                role,
                "--password-stdin",
            ])
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .env("DATABASE_URL", &self.database_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "admin create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        password
    }

    /// An HTTP client logged in as a new operator with `role`.
    pub async fn session(&self, username: &str, role: &str) -> reqwest::Client {
        let password = self.create_operator(username, role);
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = client
            .post(self.http("/login"))
            .form(&[
                ("username", username),
                ("password", password.as_str()),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "login as {username} failed");
        client
    }

    /// Registers `site_id` (if new) and returns a fresh enrolment token and
    /// the CA fingerprint, as an administrator would get them.
    pub fn enrolment_token(&self, site_id: &str) -> (String, String) {
        let _ = self.admin(&["site", "add", "--site-id", site_id, "--name", site_id]);
        let out = self.admin(&["site", "token", "--site-id", site_id]);
        assert!(
            out.status.success(),
            "site token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        };
        (field("token:"), field("ca-fingerprint:"))
    }

    /// Enrols an agent state directory for `site_id` with the real
    /// `onshi-agent enroll`; returns the agent id.
    pub fn enroll(&self, site_id: &str, state_dir: &Path) -> String {
        let (token, fingerprint) = self.enrolment_token(site_id);
        let out = Command::new(bin("onshi-agent"))
            .args([
                "enroll",
                "--token",
                &token,
                "--ca-fingerprint",
                &fingerprint,
            ])
            .arg("--server")
            .arg(self.grpc_url())
            .arg("--state-dir")
            .arg(state_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "enroll failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        agent_id(state_dir)
    }

    /// A TLS channel that trusts the server's CA, presenting the client
    /// identity enrolled in `identity_dir` (mTLS) if one is given.
    pub async fn channel(&self, identity_dir: Option<&Path>) -> Channel {
        let ca = std::fs::read_to_string(self.ca_pem_path()).unwrap();
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .domain_name("localhost");
        if let Some(dir) = identity_dir {
            let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
            tls = tls.identity(tonic::transport::Identity::from_pem(
                read("client.pem"),
                read("client.key"),
            ));
        }
        Channel::from_shared(self.grpc_url())
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// A gRPC client with the identity enrolled in `state_dir` (mTLS).
    pub async fn client_for(&self, state_dir: &Path) -> AgentServiceClient<Channel> {
        AgentServiceClient::new(self.channel(Some(state_dir)).await)
            .max_encoding_message_size(64 * 1024 * 1024)
    }

    /// Enrols a fresh identity for `site_id` and returns (agent id, client).
    pub async fn enrolled_client(
        &self,
        site_id: &str,
    ) -> (String, AgentServiceClient<Channel>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let agent_id = self.enroll(site_id, dir.path());
        let client = self.client_for(dir.path()).await;
        (agent_id, client, dir)
    }

    pub fn ca_pem_path(&self) -> PathBuf {
        self.data_dir.path().join("pki").join("ca.pem")
    }

    pub fn grpc_url(&self) -> String {
        format!("https://{}", self.grpc_addr)
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }

    /// A TLS client without a client certificate (not enrolled).
    pub async fn anonymous_client(&self) -> AgentServiceClient<Channel> {
        AgentServiceClient::new(self.channel(None).await)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the server log contains `needle` (logs are flushed async).
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.log_text().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// SIGKILL, then wait: the server dies wherever it is.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait: the graceful path operators use.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal valid report; `collected_at` rises with `seq`.
pub fn report(agent: &str, site: &str, seq: u64) -> onshi_proto::v1::Report {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    onshi_proto::v1::Report {
        seq,
        agent_id: agent.into(),
        site_id: site.into(),
        collected_at: Some(prost_types::Timestamp {
            seconds: now - 100 + seq as i64,
            nanos: 0,
        }),
        schema_version: 1,
        host: Some(onshi_proto::v1::Host {
            hostname: format!("pc-{seq}"),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn batch(
    agent: &str,
    reports: Vec<onshi_proto::v1::Report>,
) -> onshi_proto::v1::SubmitReportsRequest {
    onshi_proto::v1::SubmitReportsRequest {
        agent_id: agent.into(),
        reports,
        abandoned_through: 0,
        update: None,
    }
}

/// The agent id stored in an agent state directory.
pub fn agent_id(state_dir: &Path) -> String {
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_dir.join("agent-state.json")).unwrap())
            .unwrap();
    state["agent_id"].as_str().unwrap().to_owned()
}

/// Runs `onshi-agent run --once` against `server` (enrolling the state
/// directory for `site_id` first if needed), returning its output.
pub fn run_agent_once(
    server: &Server,
    state_dir: &Path,
    site_id: &str,
    extra: &[&str],
) -> std::process::Output {
    if !state_dir.join("client.pem").exists() {
        server.enroll(site_id, state_dir);
    }
    Command::new(bin("onshi-agent"))
        .args([
            "run",
            "--once",
            "--max-attempts",
            "1",
            "--interval",
            "0.1",
            "--site-id",
            site_id,
        ])
        .arg("--server")
        .arg(server.grpc_url())
        .arg("--state-dir")
        .arg(state_dir)
        .args(extra)
        .output()
        .unwrap()
}

/// A TCP port on 127.0.0.1 that nothing listens on when this returns.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts the server on a fixed gRPC address with an existing data
    /// directory (so the same CA): agents spooling against that address
    /// while nothing listened there then reach it.
    pub fn start_with(database_url: &str, grpc_addr: &str, data_dir: tempfile::TempDir) -> Self {
        Self::spawn(database_url, grpc_addr, data_dir, &[])
    }

    /// Stops the server (SIGTERM) and hands back its data directory.
    pub fn stop_keep_data(mut self) -> tempfile::TempDir {
        self.terminate();
        std::mem::replace(&mut self.data_dir, tempfile::tempdir().unwrap())
    }
}

impl Server {
    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.http("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}
