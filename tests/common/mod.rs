//! Shared harness for the end-to-end tests: a fresh database per test, the
//! real `onshi-server` binary on free ports, TLS clients that trust its CA.
#![allow(dead_code)]

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
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
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
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
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
    let (base, query) = url.split_once('?').map(|(b, q)| (b, Some(q))).unwrap_or((url, None));
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Path of a workspace binary, building it if this test run did not.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf(); // target/debug
    let path = dir.join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--bin", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --bin {name} failed");
    }
    path
}

/// The real server binary, on free ports, with its own data directory.
pub struct Server {
    child: Child,
    pub grpc_addr: String,
    pub http_addr: String,
    pub data_dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl Server {
    pub fn start(database_url: &str) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let log = data_dir.path().join("server.log");
        let mut child = Command::new(bin("onshi-server"))
            .args(["serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir.path())
            .env("DATABASE_URL", database_url)
            .env("ONSHI_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let mut parts = line.split_whitespace();
        let (grpc_addr, http_addr) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("grpc:"), Some(g), Some("http:"), Some(h)) => (g.to_owned(), h.to_owned()),
            _ => {
                let _ = child.kill();
                panic!("server did not start: {line:?}\n{}", std::fs::read_to_string(&log).unwrap_or_default())
            }
        };
        Self { child, grpc_addr, http_addr, data_dir, log }
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

    pub async fn client(&self) -> AgentServiceClient<Channel> {
        let ca = std::fs::read_to_string(self.ca_pem_path()).unwrap();
        let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).domain_name("localhost");
        let channel = Channel::from_shared(self.grpc_url())
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap();
        AgentServiceClient::new(channel).max_encoding_message_size(64 * 1024 * 1024)
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

    /// SIGTERM, then wait: the graceful path operators use.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `onshi-agent run --once` against `server`, returning its output.
pub fn run_agent_once(server: &Server, state_dir: &Path, site_id: &str, extra: &[&str]) -> std::process::Output {
    Command::new(bin("onshi-agent"))
        .args(["run", "--once", "--max-attempts", "1", "--interval", "0.1", "--site-id", site_id])
        .arg("--server")
        .arg(server.grpc_url())
        .arg("--ca-cert")
        .arg(server.ca_pem_path())
        .arg("--state-dir")
        .arg(state_dir)
        .args(extra)
        .output()
        .unwrap()
}
