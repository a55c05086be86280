//! The few operating-system facts updates need: when the PC started, and a
//! trial child that never outlives the agent that started it (two agents on
//! one spool must never run at once).

use std::process::{Child, Command};

use chrono::{DateTime, Utc};

/// When the operating system last started, if known.
pub fn boot_time(now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    #[cfg(windows)]
    {
        // SAFETY: no preconditions; milliseconds since boot.
        let uptime_ms = unsafe { windows_sys::Win32::System::SystemInformation::GetTickCount64() };
        Some(now - chrono::Duration::milliseconds(uptime_ms as i64))
    }
    #[cfg(not(windows))]
    {
        let _ = now;
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        crate::probe::host::parse_proc_stat_btime(&stat)
    }
}

/// Asks the OS to end the child when this process ends (Linux: the parent
/// death signal, SIGTERM, so the child stops cleanly). Call before spawning.
pub fn tie_to_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before the prctl took effect.
                if libc::getppid() == 1 {
                    return Err(std::io::Error::other(
                        "the agent that started this trial is gone",
                    ));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// Keeps a spawned child tied to this process; on Windows a job object
/// that kills the child when its last handle closes (this process ending,
/// however it ends, or the guard dropped).
pub struct ChildGuard {
    #[cfg(windows)]
    job: windows_sys::Win32::Foundation::HANDLE,
}

impl ChildGuard {
    pub fn after_spawn(child: &Child) -> ChildGuard {
        #[cfg(windows)]
        {
            ChildGuard {
                job: windows_job(child),
            }
        }
        #[cfg(not(windows))]
        {
            let _ = child;
            ChildGuard {}
        }
    }
}

#[cfg(windows)]
fn windows_job(child: &Child) -> windows_sys::Win32::Foundation::HANDLE {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation,
        SetInformationJobObject,
    };
    // SAFETY: null attributes and name are allowed.
    let job = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
    if job.is_null() {
        tracing::warn!(error = %std::io::Error::last_os_error(), "CreateJobObjectW failed; the trial may outlive a killed agent");
        return job;
    }
    // SAFETY: all-zero is a valid JOBOBJECT_EXTENDED_LIMIT_INFORMATION.
    let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    // SAFETY: `info` is the structure the class names, with its size.
    let set = unsafe {
        SetInformationJobObject(
            job,
            JobObjectExtendedLimitInformation,
            (&info as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
            std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
        )
    };
    // SAFETY: `job` is ours; the child's handle is valid while `child` lives.
    let assigned = set != 0 && unsafe { AssignProcessToJobObject(job, child.as_raw_handle()) } != 0;
    if !assigned {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot tie the trial to a job object; it may outlive a killed agent");
    }
    job
}

#[cfg(windows)]
impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.job.is_null() {
            // SAFETY: the handle was created by CreateJobObjectW and is closed once.
            unsafe { windows_sys::Win32::Foundation::CloseHandle(self.job) };
        }
    }
}

/// Asks a child to stop: SIGTERM on Unix (the agent stops between
/// reports), terminate on Windows (its spool survives a kill).
pub fn ask_to_stop(child: &mut Child) {
    #[cfg(unix)]
    {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    }
    #[cfg(not(unix))]
    {
        let _ = child.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_time_is_in_the_past() {
        let now = Utc::now();
        let boot = boot_time(now);
        if cfg!(any(windows, target_os = "linux")) {
            assert!(boot.is_some_and(|b| b <= now), "{boot:?}");
        }
    }
}
