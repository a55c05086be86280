//! Harness of the fault tests (tests/e2e_faults.rs): the real agent as a
//! child process that is killed on drop, the tally every fault test prints
//! and checks, a small tmpfs for the full-disk case.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::common::bin;

pub const SITE: &str = "clinic-faults";
/// How long SIGTERM may take before the test calls it ignored (the agent
/// stops within a second; this leaves room for a loaded CI machine).
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// A running `onshi-agent run`; killed (SIGKILL) when dropped.
pub struct Agent {
    child: Option<Child>,
    pub log: PathBuf,
}

/// `onshi-agent run` against `url` with the state in `state`, appending its
/// log to `log`. `interval` and `max_backoff` in seconds.
pub fn spawn_agent(url: &str, state: &Path, log: &Path, interval: &str, extra: &[&str]) -> Agent {
    spawn_agent_for(SITE, url, state, log, interval, extra)
}

/// `spawn_agent` for an agent of `site`.
pub fn spawn_agent_for(
    site: &str,
    url: &str,
    state: &Path,
    log: &Path,
    interval: &str,
    extra: &[&str],
) -> Agent {
    let config = state.parent().unwrap().join("agent.toml");
    if !config.exists() {
        std::fs::write(&config, "").unwrap();
    }
    let child = Command::new(bin("onshi-agent"))
        .args([
            "run",
            "--interval",
            interval,
            "--site-id",
            site,
            "--server",
            url,
        ])
        .args(extra)
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(state)
        .env("ONSHI_LOG", "info")
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::options()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        )
        .spawn()
        .unwrap();
    Agent {
        child: Some(child),
        log: log.to_owned(),
    }
}

impl Agent {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// SIGKILL: no chance to tidy up.
    pub fn kill_9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM; true when the agent exited cleanly (status 0) in time.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + STOP_LIMIT;
        while Instant::now() < deadline {
            if let Some(status) = c.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) until the agent's log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.log_text().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// One last report and delivery of everything spooled (it carries the loss
/// counts not yet said); panics unless the server acknowledged all of it.
pub fn flush(url: &str, state: &Path) {
    flush_for(SITE, url, state)
}

/// `flush` for an agent of `site`.
pub fn flush_for(site: &str, url: &str, state: &Path) {
    let config = state.parent().unwrap().join("agent.toml");
    let out = Command::new(bin("onshi-agent"))
        .args([
            "run",
            "--once",
            "--max-attempts",
            "60",
            "--max-backoff",
            "1",
        ])
        .args(["--interval", "0.1", "--site-id", site, "--server", url])
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "final delivery failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a fault did to the reports of one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Seqs the agent gave to reports (its state file's next seq − 1).
    pub produced: i64,
    /// The server's contiguous ack.
    pub acknowledged: i64,
    /// Reports in the history.
    pub stored: i64,
    /// Seqs stored more than once.
    pub duplicates: i64,
    /// Losses the agent counted and said: Σ spool_dropped + spool_corrupt
    /// + spool_rejected over the stored reports.
    pub counted: i64,
}

impl Tally {
    pub async fn of(pool: &PgPool, agent_id: &str, state: &Path) -> Tally {
        let rows: Vec<(i64, f64, f64, i64)> =
            crate::common::history::stored_reports(pool, agent_id)
                .await
                .iter()
                .map(|r| {
                    let h = r.agent_health();
                    let counted = h.spool_dropped + h.spool_corrupt + h.spool_rejected;
                    (r.seq, r.received_at, r.collected_at, counted as i64)
                })
                .collect();
        let mut duplicates = 0;
        for w in rows.windows(2) {
            if w[0].0 == w[1].0 {
                duplicates += 1;
                continue;
            }
            assert!(
                w[0].1 <= w[1].1,
                "seq {} was stored before seq {}: order not kept",
                w[1].0,
                w[0].0
            );
            assert!(
                w[0].2 < w[1].2,
                "seq {} was collected before seq {}: a seq was reused",
                w[1].0,
                w[0].0
            );
        }
        let acknowledged: i64 =
            sqlx::query_scalar("SELECT acked_seq FROM agents WHERE agent_id = $1")
                .bind(agent_id)
                .fetch_one(pool)
                .await
                .unwrap();
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(state.join("agent-state.json")).unwrap())
                .unwrap();
        Tally {
            produced: saved["next_seq"].as_i64().unwrap() - 1,
            acknowledged,
            stored: rows.len() as i64,
            duplicates,
            counted: rows.iter().map(|r| r.3).sum(),
        }
    }

    /// Prints the line docs/RELIABILITY.md quotes, then checks the
    /// guarantees: nothing lost uncounted, nothing twice, the ack at the end.
    pub fn check(&self, fault: &str) {
        eprintln!(
            "FAULT {fault}: produced={} acknowledged={} stored={} duplicates={} counted_as_lost={}",
            self.produced, self.acknowledged, self.stored, self.duplicates, self.counted
        );
        assert_eq!(self.duplicates, 0, "{fault}: a report was stored twice");
        assert_eq!(
            self.stored,
            self.produced - self.counted,
            "{fault}: stored = produced − counted as lost"
        );
        assert_eq!(
            self.acknowledged, self.produced,
            "{fault}: the ack reached the last report"
        );
    }
}

/// `onshi_reports_duplicate_total` of a running server: replays it
/// received (a resent batch).
pub async fn resent(http_addr: &str) -> u64 {
    let text = reqwest::get(format!("http://{http_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("onshi_reports_duplicate_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// A tmpfs of `size` (e.g. "512k") mounted at `path`; unmounted on drop.
/// None when this machine does not allow it (not root, no tmpfs).
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    pub fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs {
            path: path.to_owned(),
        })
    }

    /// Fills the file system up with `filler` until it refuses (ENOSPC).
    pub fn fill(&self, filler: &Path) {
        use std::io::Write;
        let mut f = std::fs::File::create(filler).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
