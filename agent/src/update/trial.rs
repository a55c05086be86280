//! The swap, supervised. The agent (parent) stops its own loop, starts the
//! verified staged binary as a child with the same arguments, and waits:
//!
//! - the child delivers a report (writes `update/trial-confirmed` with its
//!   version once the server acknowledged one): the parent copies its own
//!   binary to `update/previous/`, swaps the installed binary (on Windows
//!   the running .exe is renamed aside by `self-replace`, never
//!   overwritten; on Unix an atomic rename), records `applied`, and stays
//!   as a thin waiter on the child (the service manager keeps supervising
//!   one process; the child's exit code becomes its own);
//! - the child exits, or delivers nothing within the trial timeout: the
//!   parent stops it, records `rolled_back` with the reason, never tries
//!   that version again, and carries on as before. The installed binary was
//!   never touched, so a PC is never left without a working one — even if
//!   the parent dies during the trial (power cut): the next start runs the
//!   old binary, which tries again (at most `MAX_TRIALS` times).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use chrono::Utc;
use onshi_proto::v1::UpdateEventKind as Kind;
use onshi_release::TrustedKeys;
use tokio::time::Instant;

use super::crash::Marker;
use super::download::verify_file;
use super::platform::{ChildGuard, ask_to_stop, tie_to_parent};
use super::policy::SwapMoment;
use super::state::{Dirs, MAX_TRIALS, Staged, Trial};

/// Set in the trial child's environment: the version it is expected to be.
pub const TRIAL_ENV: &str = "ONSHI_UPDATE_TRIAL";
/// The installed binary's path, handed down to children (a child runs from
/// `update/staged/`, yet its own later update must replace the installed one).
pub const EXE_ENV: &str = "ONSHI_AGENT_EXE";
/// How long a child asked to stop may take before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A swap that is due.
#[derive(Debug, Clone)]
pub struct SwapPlan {
    pub staged: Staged,
    pub moment: SwapMoment,
    pub running: String,
    pub dirs: Dirs,
    pub keys: TrustedKeys,
    pub timeout: Duration,
    pub state_dir: PathBuf,
}

pub enum Outcome {
    /// The new version runs and is installed; wait on it (`shim`).
    Handed(Child, ChildGuard),
    /// The new version failed (or could not be tried); carry on as before.
    RolledBack,
    /// Asked to stop during the trial: the trial counts as interrupted.
    Stopped,
}

/// The installed binary (see [`EXE_ENV`]).
pub fn installed_exe() -> std::io::Result<PathBuf> {
    match std::env::var_os(EXE_ENV) {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => std::env::current_exe(),
    }
}

enum Ended {
    Confirmed,
    Exited(ExitStatus),
    TimedOut,
    Stopped,
}

/// Runs the trial of `plan` (the parent's side).
pub async fn run(
    plan: SwapPlan,
    shutdown: &mut (impl std::future::Future<Output = ()> + Unpin),
) -> Outcome {
    let version = plan.staged.version.clone();
    let staged_path = plan.dirs.staged().join(&plan.staged.file);
    if let Err(why) = recheck(&plan, &staged_path) {
        return give_up(
            &plan,
            &format!("staged binary no longer matches its signed manifest: {why}"),
        );
    }
    let mut state = plan.dirs.load();
    let attempts = state
        .trial
        .as_ref()
        .filter(|t| t.version == version)
        .map_or(0, |t| t.attempts)
        + 1;
    state.trial = Some(Trial {
        version: version.clone(),
        attempts,
        started_at: Utc::now(),
    });
    let _ = std::fs::remove_file(plan.dirs.confirmed());
    if let Err(e) = plan.dirs.save(&state) {
        tracing::error!(error = %e, "cannot record the trial; not starting it");
        return Outcome::RolledBack;
    }
    let installed = match installed_exe() {
        Ok(p) => p,
        Err(e) => return give_up(&plan, &format!("cannot find the installed binary: {e}")),
    };
    let mut cmd = Command::new(&staged_path);
    cmd.args(std::env::args_os().skip(1))
        .env(TRIAL_ENV, &version)
        .env(EXE_ENV, &installed);
    tie_to_parent(&mut cmd);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return give_up(&plan, &format!("cannot start the new version: {e}")),
    };
    let guard = ChildGuard::after_spawn(&child);
    tracing::info!(%version, moment = plan.moment.as_str(), pid = child.id(), attempt = attempts, "trying the new version");
    match supervise(&plan, &mut child, shutdown).await {
        Ended::Confirmed => match swap(&plan, &installed, &staged_path) {
            Ok(()) => Outcome::Handed(child, guard),
            Err(e) => {
                stop(&mut child).await;
                give_up(
                    &plan,
                    &format!("the new version worked but the binary could not be replaced: {e}"),
                )
            }
        },
        Ended::Exited(status) => give_up(
            &plan,
            &format!("the new version exited ({status}) before delivering a report"),
        ),
        Ended::TimedOut => {
            stop(&mut child).await;
            let why = format!(
                "the new version delivered no report within {} s",
                plan.timeout.as_secs()
            );
            give_up(&plan, &why)
        }
        Ended::Stopped => {
            stop(&mut child).await;
            tracing::info!(%version, "stopped during the trial; it is tried again at the next start");
            Outcome::Stopped
        }
    }
}

/// The staged file is checked against its signed manifest once more, with
/// this agent's keys, right before it runs.
fn recheck(plan: &SwapPlan, path: &Path) -> Result<(), String> {
    let signed = plan
        .staged
        .signed()
        .ok_or("the stored manifest is unreadable")?;
    let manifest = signed.verify(&plan.keys).map_err(|e| e.to_string())?;
    if manifest.version != plan.staged.version {
        return Err(format!(
            "manifest says {}, state says {}",
            manifest.version, plan.staged.version
        ));
    }
    verify_file(path, &manifest).map_err(|e| e.to_string())
}

async fn supervise(
    plan: &SwapPlan,
    child: &mut Child,
    shutdown: &mut (impl std::future::Future<Output = ()> + Unpin),
) -> Ended {
    let deadline = Instant::now() + plan.timeout;
    loop {
        if std::fs::read_to_string(plan.dirs.confirmed())
            .is_ok_and(|v| v.trim() == plan.staged.version)
        {
            return Ended::Confirmed;
        }
        match child.try_wait() {
            Ok(Some(status)) => return Ended::Exited(status),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot query the trial process"),
        }
        if Instant::now() >= deadline {
            return Ended::TimedOut;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = &mut *shutdown => return Ended::Stopped,
        }
    }
}

/// Keeps the previous binary, replaces the installed one, records `applied`.
fn swap(plan: &SwapPlan, installed: &Path, staged: &Path) -> std::io::Result<()> {
    let previous = plan.dirs.previous();
    std::fs::create_dir_all(&previous)?;
    let name = installed.file_name().unwrap_or_default();
    std::fs::copy(installed, previous.join(name))?;
    replace_installed(installed, staged)?;
    let mut state = plan.dirs.load();
    state.trial = None;
    state.staged = None;
    state.previous_version = Some(plan.running.clone());
    state.applied_rollout = plan.staged.rollout_id;
    let reason = format!(
        "swapped ({}); the new version delivered a report",
        plan.moment.as_str()
    );
    state.say(
        Kind::Applied,
        &plan.staged.version,
        &plan.running,
        &reason,
        plan.staged.rollout_id,
        Utc::now(),
    );
    plan.dirs.save(&state)?;
    Marker::at(&plan.state_dir).write(&plan.staged.version, Utc::now());
    tracing::info!(version = %plan.staged.version, previous = %plan.running, installed = %installed.display(), "update applied");
    Ok(())
}

/// Replaces the installed binary with `new`: the running one through
/// `self-replace` (Windows renames it aside), another (an agent that runs
/// from `update/staged/` after an earlier update) by an atomic rename.
fn replace_installed(installed: &Path, new: &Path) -> std::io::Result<()> {
    let running = std::env::current_exe()?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if same(installed, &running) {
        return self_replace::self_replace(new);
    }
    let tmp = crate::fsutil::tmp_path(installed);
    std::fs::copy(new, &tmp)?;
    std::fs::rename(&tmp, installed).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    crate::fsutil::sync_dir(installed);
    Ok(())
}

/// Records a failed (or impossible) trial and carries on with the old binary.
fn give_up(plan: &SwapPlan, why: &str) -> Outcome {
    let version = &plan.staged.version;
    tracing::error!(%version, reason = why, "update rolled back: the previous binary stays in place");
    let mut state = plan.dirs.load();
    state.trial = None;
    state.staged = None;
    state.remember_failed(version);
    state.say(
        Kind::RolledBack,
        version,
        &plan.running,
        why,
        plan.staged.rollout_id,
        Utc::now(),
    );
    if let Err(e) = plan.dirs.save(&state) {
        tracing::error!(error = %e, "cannot record the rollback; the version may be tried again");
    }
    let _ = std::fs::remove_file(plan.dirs.staged().join(&plan.staged.file));
    Outcome::RolledBack
}

/// Stops a child: asked first, killed after a grace period.
async fn stop(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    ask_to_stop(child);
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// After a successful swap the parent only waits on the new version and
/// exits with its exit code; a stop request is passed on.
pub async fn shim(
    mut child: Child,
    // Kept until the child has exited (Windows: its job object).
    _guard: ChildGuard,
    state_dir: &Path,
    shutdown: &mut (impl std::future::Future<Output = ()> + Unpin),
) -> i32 {
    let code = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code().unwrap_or(1),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot wait on the agent process");
                break 1;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = &mut *shutdown => {
                stop(&mut child).await;
                break 0;
            }
        }
    };
    if code == 0 {
        Marker::at(state_dir).clear();
    }
    code
}

/// Whether an interrupted trial (the parent died during it) may be tried again.
pub fn retry_interrupted(trial: &Trial) -> bool {
    trial.attempts < MAX_TRIALS
}
