//! The servers under load: real `onshi-server serve` child processes on the same database and
//! data directory (so their memory and CPU are measured apart from the load generator's, and
//! several replicas can share the load). Each is started with the `serve` options the
//! load generator was given, on free loopback ports.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::error::Error;

/// One running replica.
pub struct ServerProcess {
    child: Child,
    pub grpc_addr: String,
    pub http_addr: String,
}

/// `serve` options taken from the load generator's own command line: every argument but
/// the load generator's own flags (`own_flags`, with whether each takes a value) and the
/// addresses and per-agent limit, which the load generator sets.
pub fn serve_args(argv: &[String], own_flags: &[(String, bool)]) -> Vec<String> {
    let replaced = [
        ("--grpc-addr", true),
        ("--http-addr", true),
        ("--agent-batches-per-minute", true),
    ];
    let skip: Vec<(&str, bool)> = own_flags
        .iter()
        .map(|(f, v)| (f.as_str(), *v))
        .chain(replaced)
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < argv.len() {
        let arg = &argv[i];
        let name = arg.split_once('=').map_or(arg.as_str(), |(n, _)| n);
        match skip.iter().find(|(f, _)| *f == name) {
            Some((_, takes_value)) => {
                // `--flag value` skips two tokens, `--flag=value` and switches one.
                i += if *takes_value && !arg.contains('=') {
                    2
                } else {
                    1
                };
            }
            None => {
                out.push(arg.clone());
                i += 1;
            }
        }
    }
    out
}

impl ServerProcess {
    /// Starts `onshi-server serve` with `args`, its log appended to `log`, and reads the
    /// addresses it prints.
    pub fn start(args: &[String], log: &Path) -> Result<Self, Error> {
        let exe = std::env::current_exe()?;
        let log_file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(log)?;
        let mut command = Command::new(exe);
        // Its own process group: Ctrl-C at the terminal reaches only the load generator, which
        // finishes the batches in flight before it stops the servers; and a server dies with
        // the load generator, even on kill -9.
        command.process_group(0);
        // SAFETY: prctl in the forked child before exec; it touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = command
            .arg("serve")
            .args(args)
            .args(["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
            // Measure the server, not the limiter: load tests lift the per-agent cap.
            .args(["--agent-batches-per-minute", "2000000000"])
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("grpc:"), Some(g), Some("http:"), Some(h)) => Ok(Self {
                grpc_addr: g.to_owned(),
                http_addr: h.to_owned(),
                child,
            }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(Error::Other(anyhow::anyhow!(
                    "the server did not start; see {}",
                    log.display()
                )))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait (the graceful path).
    pub fn stop(mut self) {
        // SAFETY: kill(2) on our own child's pid; no memory is touched.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `/proc/<pid>/status` field in MiB (`VmRSS`, `VmHWM`), 0 when unknown.
pub fn status_mib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// User + system CPU seconds a process has used (`/proc/<pid>/stat`), 0 when unknown.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command (which may contain spaces) start at state (field 3).
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15: indices 11 and 12 after the state.
    // SAFETY: sysconf only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / hz
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_args_drop_the_load_generators_own_flags() {
        let argv: Vec<String> = [
            "--agents",
            "20",
            "--burst",
            "--data-dir",
            "/tmp/x",
            "--rate=40",
            "--grpc-addr",
            "127.0.0.1:0",
            "--ingest-writers",
            "8",
        ]
        .map(String::from)
        .to_vec();
        let own = [
            ("--agents".to_owned(), true),
            ("--burst".to_owned(), false),
            ("--rate".to_owned(), true),
        ];
        assert_eq!(
            serve_args(&argv, &own),
            ["--data-dir", "/tmp/x", "--ingest-writers", "8"]
        );
    }

    #[test]
    fn this_process_has_memory_and_cpu() {
        let me = std::process::id();
        assert!(status_mib(me, "VmHWM:") > 0);
        assert!(cpu_seconds(me) >= 0.0);
        assert_eq!(status_mib(u32::MAX, "VmRSS:"), 0);
    }
}
