//! Agent updates end to end (tests/e2e_updates.rs, tests/e2e_windows_updates.rs):
//! a test signing key, releases made from the built agent by restamping its
//! version (`onshi_agent::version::restamp`: other bytes, hash and
//! signature, the same code), signing and publishing through the real
//! `onshi-server release …` commands, rollouts through `rollout …`, and an
//! installed agent (its own copy of the binary, which it may replace)
//! running as a service.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::{Server, bin};

/// How long an update step may take on a loaded CI machine.
pub const DEADLINE: Duration = Duration::from_secs(180);

/// `onshi-server ARGS` without a database (keygen, sign).
pub fn offline(args: &[&str]) -> Output {
    Command::new(bin("onshi-server"))
        .args(args)
        .env("ONSHI_LOG", "warn")
        .output()
        .unwrap()
}

pub fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A test signing key made by `release keygen`; agents trust it through
/// their config file, the server through `--release-trusted-key`.
pub struct TestKey {
    _dir: tempfile::TempDir,
    pub secret: PathBuf,
    pub public: PathBuf,
}

impl TestKey {
    pub fn new() -> TestKey {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_str().unwrap().to_owned();
        ok(
            offline(&["release", "keygen", "--out", &out, "--name", "test"]),
            "release keygen",
        );
        TestKey {
            secret: dir.path().join("test.key"),
            public: dir.path().join("test.pub.pem"),
            _dir: dir,
        }
    }
}

/// The running agent's version and the next ones (patch + n).
pub fn version_plus(n: u64) -> String {
    let v = onshi_agent::version::get();
    let mut parts = v
        .split(['-', '+'])
        .next()
        .unwrap()
        .split('.')
        .map(|p| p.parse::<u64>().unwrap());
    let (major, minor, patch) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    format!("{major}.{minor}.{}", patch + n)
}

/// A copy of `binary` reporting `version`.
pub fn restamped(binary: &Path, version: &str, out: &Path) -> PathBuf {
    let bytes = std::fs::read(binary).unwrap();
    let new = onshi_agent::version::restamp(&bytes, version)
        .expect("the agent binary carries a version stamp");
    std::fs::write(out, new).unwrap();
    out.to_owned()
}

pub fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// A signed release: the binary and the files `release sign` wrote.
pub struct Signed {
    pub binary: PathBuf,
    pub manifest: PathBuf,
    pub signature: PathBuf,
}

pub fn sign(
    key: &TestKey,
    binary: &Path,
    version: &str,
    target: &str,
    out: &Path,
    extra: &[&str],
) -> Signed {
    let mut args = vec![
        "release",
        "sign",
        "--key",
        key.secret.to_str().unwrap(),
        "--binary",
        binary.to_str().unwrap(),
        "--version",
        version,
        "--target",
        target,
        "--out",
        out.to_str().unwrap(),
        "--notes",
        "テスト用リリース",
    ];
    args.extend_from_slice(extra);
    let text = ok(offline(&args), "release sign");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| PathBuf::from(v.trim()))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    Signed {
        binary: binary.to_owned(),
        manifest: field("manifest:"),
        signature: field("signature:"),
    }
}

/// `release publish` trusting the test key; the output whatever it is.
pub fn publish(server: &Server, key: &TestKey, release: &Signed) -> Output {
    server.admin(&[
        "release",
        "publish",
        "--manifest",
        release.manifest.to_str().unwrap(),
        "--signature",
        release.signature.to_str().unwrap(),
        "--binary",
        release.binary.to_str().unwrap(),
        "--release-trusted-key",
        key.public.to_str().unwrap(),
    ])
}

/// `rollout start …`; the rollout's id.
pub fn start_rollout(
    server: &Server,
    version: &str,
    target: &str,
    canary: &str,
    extra: &[&str],
) -> i64 {
    let mut args = vec![
        "rollout",
        "start",
        "--version",
        version,
        "--target",
        target,
        "--canary-sites",
        canary,
        "--rings",
        "100",
        "--spread-minutes",
        "0",
    ];
    args.extend_from_slice(extra);
    let text = ok(server.admin(&args), "rollout start");
    text.split_whitespace()
        .find_map(|w| w.strip_prefix('#'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rollout id in {text}"))
}

/// Sets a site's business hours: `closed` all week, or `open` around the clock.
pub fn set_hours(server: &Server, site: &str, open: bool) {
    let week = if open { "mon-sun 00:00-24:00" } else { "" };
    let holidays = if open { "open" } else { "closed" };
    ok(
        server.admin(&[
            "site",
            "hours",
            "--site-id",
            site,
            "--set",
            week,
            "--holidays",
            holidays,
        ]),
        "site hours",
    );
}

/// Polls `check` until it gives a value; panics with `what` after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The version an agent last reported and its acked seq.
pub async fn agent_row(pool: &PgPool, agent_id: &str) -> (String, i64) {
    sqlx::query_as("SELECT agent_version, acked_seq FROM agents WHERE agent_id = $1")
        .bind(agent_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The kinds of update event an agent sent, oldest first, with reasons.
pub async fn update_events(pool: &PgPool, agent_id: &str) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT kind, version, reason FROM agent_update_events WHERE agent_id = $1 ORDER BY occurred_at, received_at",
    )
    .bind(agent_id)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// A rollout's state and halt reason.
pub async fn rollout_state(pool: &PgPool, id: i64) -> (String, Option<String>) {
    sqlx::query_as("SELECT state, halt_reason FROM rollouts WHERE rollout_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// An agent installed as on a PC: its own copy of the binary (which an
/// update replaces), a state directory, a config that trusts the test key.
pub struct Installed {
    pub dir: tempfile::TempDir,
    pub exe: PathBuf,
    pub state: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    pub site: String,
    pub agent_id: String,
    child: Option<Child>,
}

impl Installed {
    /// Installs and enrols the Linux agent for `site`.
    pub fn new(server: &Server, key: &TestKey, site: &str) -> Installed {
        Installed::with_state(server, key, site, None)
    }

    /// The same with the state directory at `state` (e.g. a small disk).
    pub fn with_state(
        server: &Server,
        key: &TestKey,
        site: &str,
        state: Option<PathBuf>,
    ) -> Installed {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("bin").join("onshi-agent");
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        std::fs::copy(bin("onshi-agent"), &exe).unwrap();
        let state = state.unwrap_or_else(|| dir.path().join("state"));
        let config = dir.path().join("agent.toml");
        std::fs::write(&config, config_text(&key.public.display().to_string())).unwrap();
        let agent_id = server.enroll(site, &state);
        Installed {
            log: dir.path().join("agent.log"),
            exe,
            state,
            config,
            site: site.to_owned(),
            agent_id,
            dir,
            child: None,
        }
    }

    /// `bin/onshi-agent run` as the service manager would start it.
    pub fn start(&mut self, server: &Server) {
        let child = Command::new(&self.exe)
            .args([
                "run",
                "--interval",
                "1",
                "--max-backoff",
                "2",
                "--site-id",
                &self.site,
            ])
            .arg("--server")
            .arg(server.grpc_url())
            .arg("--config")
            .arg(&self.config)
            .arg("--state-dir")
            .arg(&self.state)
            .env("ONSHI_LOG", "info,h2=warn")
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(&self.log)
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGTERM and wait (the agent and any child it started stop).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline && c.try_wait().unwrap().is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The agent config of the update tests: trusts the test key, a short
/// trial, and no start-up window (the test machine may have just booted).
pub fn config_text(public_key: &str) -> String {
    config_with_trial(public_key, 120)
}

pub fn config_with_trial(public_key: &str, trial_timeout: u32) -> String {
    format!(
        "[update]\ntrusted_keys = [{}]\ntrial_timeout = {trial_timeout}\nstartup_minutes = 0\n",
        toml_string(public_key)
    )
}

fn toml_string(s: &str) -> String {
    format!("'{s}'")
}
