//! Agent updates with the Windows build under Wine (docs/windows-testing.md):
//! the .exe, installed in its own folder and running as the start-up task
//! would run it, takes a signed release from the real server, swaps its
//! running .exe (renamed aside by `self-replace`, never overwritten — Windows
//! refuses to overwrite a running .exe) and reports the new version; a
//! release that exits at once is rolled back on the PC and halts the rollout.

mod common;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use common::updates::{
    TestKey, agent_row, config_text, eventually, ok, publish, restamped, rollout_state, set_hours,
    sha256, sign, start_rollout, update_events, version_plus,
};
use common::windows::{WindowsAgent, win_path, windows_agent};
use common::{Server, TestDb};

const WINDOWS: &str = "windows-x86_64";

/// The agent installed as install.ps1 would (its own .exe, the Wine DLL
/// shim beside it), enrolled, and started as the task would start it.
struct WindowsInstall {
    dir: tempfile::TempDir,
    exe: PathBuf,
    state: PathBuf,
    log: PathBuf,
    agent_id: String,
    child: Option<Child>,
}

impl WindowsInstall {
    fn new(win: &WindowsAgent, server: &Server, key: &TestKey, site: &str) -> WindowsInstall {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let exe = bin.join("onshi-agent.exe");
        std::fs::copy(&win.exe, &exe).unwrap();
        let shim = win.exe.with_file_name("bcryptprimitives.dll");
        std::fs::copy(&shim, bin.join("bcryptprimitives.dll")).unwrap();
        let state = dir.path().join("state");
        let agent_id = win.enroll(server, site, &state);
        std::fs::write(
            dir.path().join("agent.toml"),
            config_text(&win_path(&key.public)),
        )
        .unwrap();
        WindowsInstall {
            log: dir.path().join("agent.log"),
            exe,
            state,
            agent_id,
            dir,
            child: None,
        }
    }

    fn start(&mut self, win: &WindowsAgent, server: &Server, site: &str) {
        let config = win_path(&self.dir.path().join("agent.toml"));
        let state = win_path(&self.state);
        let url = server.grpc_url();
        let args = [
            "run",
            "--config",
            &config,
            "--state-dir",
            &state,
            "--interval",
            "1",
            "--max-backoff",
            "2",
            "--site-id",
            site,
            "--server",
            &url,
        ];
        self.child = Some(win.spawn(&self.exe, &args, &self.log));
    }

    fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Processes (the agent and any child it started) whose command line
    /// names this installation.
    fn processes(&self) -> Vec<(u32, String)> {
        let needle = self
            .dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(&needle) && pid != std::process::id() {
                found.push((pid, text));
            }
        }
        found
    }

    /// Kills the agent (as `schtasks /End` would) and checks that what it
    /// started died with it (the job object); anything left is killed too.
    fn stop_and_check(&mut self) -> Vec<String> {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline && !self.processes().is_empty() {
            std::thread::sleep(Duration::from_millis(200));
        }
        let left: Vec<String> = self.processes().into_iter().map(|(_, c)| c).collect();
        for (pid, _) in self.processes() {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
        left
    }
}

impl Drop for WindowsInstall {
    fn drop(&mut self) {
        self.stop_and_check();
    }
}

fn exe_release(
    win: &WindowsAgent,
    key: &TestKey,
    version: &str,
    dir: &Path,
) -> common::updates::Signed {
    let exe = restamped(
        &win.exe,
        version,
        &dir.join(format!("onshi-agent-{version}.exe")),
    );
    sign(key, &exe, version, WINDOWS, dir, &[])
}

#[tokio::test]
async fn windows_agent_swaps_its_running_exe_and_rolls_back_a_release_that_exits_at_once_under_wine()
 {
    let Some(win) = windows_agent() else {
        return;
    };
    let db = TestDb::new().await;
    let server = Server::start_with_args(
        &db.url,
        &[
            "--rollout-check-seconds",
            "1",
            "--agent-batches-per-minute",
            "600",
        ],
    );
    let pool = db.pool().await;
    let key = TestKey::new();
    let (v1, v2) = (version_plus(1), version_plus(2));
    let releases = tempfile::tempdir().unwrap();
    let site = "upd-windows";
    let mut agent = WindowsInstall::new(win, &server, &key, site);
    set_hours(&server, site, false);
    let original = sha256(&agent.exe);
    agent.start(win, &server, site);

    let r1 = exe_release(win, &key, &v1, releases.path());
    ok(publish(&server, &key, &r1), "release publish");
    let first = start_rollout(&server, &v1, WINDOWS, site, &[]);
    eventually("the Windows agent's applied event", || async {
        let events = update_events(&pool, &agent.agent_id).await;
        events.iter().any(|e| e.0 == "applied").then_some(())
    })
    .await;
    eventually("the new version's report", || async {
        (agent_row(&pool, &agent.agent_id).await.0 == v1).then_some(())
    })
    .await;
    assert_eq!(
        sha256(&agent.exe),
        sha256(&r1.binary),
        "installed .exe replaced:\n{}",
        agent.log_text()
    );
    assert_eq!(
        sha256(&agent.state.join("update/previous/onshi-agent.exe")),
        original,
        "previous .exe kept"
    );
    // The process started from the old .exe still runs (now waiting on the
    // new one): its image was renamed aside, not overwritten.
    assert!(agent.alive(), "{}", agent.log_text());

    // A release that exits at once (a real Windows program).
    let bad_exe = releases.path().join("exits-at-once.exe");
    win.compile_c("int main(void) { return 3; }\n", &bad_exe);
    let bad = sign(&key, &bad_exe, &v2, WINDOWS, releases.path(), &[]);
    ok(publish(&server, &key, &bad), "release publish");
    ok(
        server.admin(&["rollout", "abort", "--id", &first.to_string()]),
        "rollout abort",
    );
    let second = start_rollout(&server, &v2, WINDOWS, site, &[]);
    let (state, reason) = eventually("the rollout to halt itself", || async {
        let (state, reason) = rollout_state(&pool, second).await;
        (state == "halted").then_some((state, reason))
    })
    .await;
    assert_eq!(state, "halted");
    assert!(
        reason
            .unwrap_or_default()
            .contains("元のバージョンに戻りました")
    );
    let events = update_events(&pool, &agent.agent_id).await;
    let rolled_back = events
        .iter()
        .find(|e| e.0 == "rolled_back")
        .expect("rolled_back");
    assert!(rolled_back.2.contains("exit code: 3"), "{}", rolled_back.2);
    let (_, acked) = agent_row(&pool, &agent.agent_id).await;
    eventually("reports after the rollback", || async {
        (agent_row(&pool, &agent.agent_id).await.1 >= acked + 3).then_some(())
    })
    .await;
    assert_eq!(agent_row(&pool, &agent.agent_id).await.0, v1);
    assert_eq!(
        sha256(&agent.exe),
        sha256(&r1.binary),
        "the working .exe stays installed"
    );

    let left = agent.stop_and_check();
    assert!(
        left.is_empty(),
        "processes outlived the killed agent: {left:?}"
    );
}
