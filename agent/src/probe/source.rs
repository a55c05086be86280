//! Where probes get their raw input: live from this PC (run a command, read
//! a file, each with its own timeout) or replayed from a directory of
//! recorded Windows outputs (`--probe-source DIR`). Parsing happens
//! elsewhere, in pure functions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::native::Native;

/// Raw text and the kind of system that produced it: the parser to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raw {
    Windows(String),
    Unix(String),
}

#[derive(Debug, Clone)]
pub enum Cmd {
    Run { program: String, args: Vec<String> },
    Read(PathBuf),
}

/// One raw input of a probe.
#[derive(Debug, Clone)]
pub struct Collector {
    /// Short name used in errors, e.g. "pnp".
    pub name: &'static str,
    /// File name of its recording in a replay directory.
    pub fixture: &'static str,
    /// The recorded command: how its fixture was made, and what runs on
    /// Windows with `windows_collectors = "commands"`.
    pub windows: Option<Cmd>,
    /// The Win32 collector answering in the same format (the default).
    #[cfg_attr(not(windows), allow(dead_code))] // read only on Windows
    pub native: Option<Native>,
    pub unix: Option<Cmd>,
}

/// How Windows questions are asked: through the Win32 API (default; a few
/// milliseconds of CPU) or by running the recorded PowerShell/`reg`/
/// `tasklist` commands (0.3–0.6 s of CPU per PowerShell start; kept to
/// compare the two on a PC where an answer looks wrong).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum WindowsCollectors {
    #[default]
    Native,
    Commands,
}

/// A Windows PowerShell command whose output is UTF-8 JSON (the console
/// code page of a Japanese Windows is CP932 otherwise).
pub fn powershell(script: &str) -> Cmd {
    Cmd::Run {
        program: "powershell.exe".into(),
        args: vec![
            "-NoProfile".into(),
            "-NonInteractive".into(),
            "-ExecutionPolicy".into(),
            "Bypass".into(),
            "-Command".into(),
            format!(
                "$ProgressPreference='SilentlyContinue'; [Console]::OutputEncoding=[Text.Encoding]::UTF8; {script}"
            ),
        ],
    }
}

pub fn run(program: &str, args: &[&str]) -> Cmd {
    Cmd::Run {
        program: program.into(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("not available on this system")]
    Unavailable,
    #[error("no answer within {0} ms")]
    Timeout(u128),
    #[error("{0}")]
    Failed(String),
}

#[derive(Debug, Clone)]
pub enum Source {
    Live(WindowsCollectors),
    Replay(PathBuf),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Live(WindowsCollectors::Native) => "live".into(),
            Source::Live(WindowsCollectors::Commands) => "live:commands".into(),
            Source::Replay(dir) => format!("replay:{}", dir.display()),
        }
    }

    pub fn is_replay(&self) -> bool {
        matches!(self, Source::Replay(_))
    }

    pub async fn fetch(&self, c: &Collector, timeout: Duration) -> Result<Raw, FetchError> {
        match self {
            Source::Replay(dir) => match std::fs::read(dir.join(c.fixture)) {
                Ok(bytes) => Ok(Raw::Windows(decode_text(&bytes))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(FetchError::Unavailable),
                Err(e) => Err(FetchError::Failed(e.to_string())),
            },
            Source::Live(how) if cfg!(windows) => {
                #[cfg(windows)]
                if let (WindowsCollectors::Native, Some(native)) = (how, &c.native) {
                    return collect_native(native.clone(), timeout).await;
                }
                let _ = how;
                let cmd = c.windows.as_ref().ok_or(FetchError::Unavailable)?;
                execute(cmd, timeout).await.map(Raw::Windows)
            }
            Source::Live(_) => {
                let cmd = c.unix.as_ref().ok_or(FetchError::Unavailable)?;
                execute(cmd, timeout).await.map(Raw::Unix)
            }
        }
    }

    /// Facts about files: the live file system, or `files.json` of a replay.
    pub fn files(&self) -> Files {
        match self {
            Source::Live(_) => Files::Live,
            Source::Replay(dir) => {
                let entries = std::fs::read(dir.join("files.json"))
                    .ok()
                    .and_then(|b| serde_json::from_str::<Vec<FileEntry>>(&decode_text(&b)).ok())
                    .unwrap_or_default();
                Files::Replay(entries)
            }
        }
    }
}

/// A Win32 collector on a blocking thread, with the command timeout.
#[cfg(windows)]
async fn collect_native(native: Native, timeout: Duration) -> Result<Raw, FetchError> {
    let key = format!("{native:?}");
    blocking_call(key, timeout, move || native.collect(Utc::now()))
        .await
        .map(Raw::Windows)
}

/// Runs `call` on a blocking thread and waits at most `timeout`. A call
/// that hangs (a driver or service that never answers) is abandoned, not
/// killed — its thread ends when the call returns — and while it is still
/// running, the same `key` is not started again: a stuck API costs one
/// thread, not one more every minute.
#[cfg_attr(not(windows), allow(dead_code))] // Windows and tests
async fn blocking_call(
    key: String,
    timeout: Duration,
    call: impl FnOnce() -> Result<String, String> + Send + 'static,
) -> Result<String, FetchError> {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static IN_FLIGHT: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    struct Running(String);
    impl Drop for Running {
        fn drop(&mut self) {
            let mut set = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
            set.get_or_insert_with(HashSet::new).remove(&self.0);
        }
    }
    {
        let mut set = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        if !set.get_or_insert_with(HashSet::new).insert(key.clone()) {
            return Err(FetchError::Failed(
                "its previous call has not returned yet (a driver or service is not answering); \
                 not started again until it does"
                    .into(),
            ));
        }
    }
    let running = Running(key);
    let task = tokio::task::spawn_blocking(move || {
        let _running = running;
        call()
    });
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(Ok(text))) => Ok(text),
        Ok(Ok(Err(e))) => Err(FetchError::Failed(e)),
        Ok(Err(join)) => Err(FetchError::Failed(format!("collector crashed: {join}"))),
        Err(_) => Err(FetchError::Timeout(timeout.as_millis())),
    }
}

async fn execute(cmd: &Cmd, timeout: Duration) -> Result<String, FetchError> {
    match cmd {
        Cmd::Read(path) => {
            let read = tokio::fs::read(path);
            match tokio::time::timeout(timeout, read).await {
                Ok(Ok(bytes)) => Ok(decode_text(&bytes)),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(FetchError::Unavailable)
                }
                Ok(Err(e)) => Err(FetchError::Failed(format!("{}: {e}", path.display()))),
                Err(_) => Err(FetchError::Timeout(timeout.as_millis())),
            }
        }
        Cmd::Run { program, args } => {
            let child = tokio::process::Command::new(program)
                .args(args)
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true) // a probe that times out leaves nothing running
                .output();
            match tokio::time::timeout(timeout, child).await {
                Ok(Ok(out)) => {
                    let stdout = decode_text(&out.stdout);
                    if out.status.success() || !stdout.trim().is_empty() {
                        Ok(stdout)
                    } else {
                        let stderr = decode_text(&out.stderr);
                        let first = stderr
                            .lines()
                            .find(|l| !l.trim().is_empty())
                            .unwrap_or("")
                            .trim();
                        Err(FetchError::Failed(format!(
                            "{program} exited with {}: {first}",
                            out.status
                        )))
                    }
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(FetchError::Unavailable)
                }
                Ok(Err(e)) => Err(FetchError::Failed(format!("cannot run {program}: {e}"))),
                Err(_) => Err(FetchError::Timeout(timeout.as_millis())),
            }
        }
    }
}

/// Text of a command output or file: UTF-16LE with BOM (PowerShell 5.1's
/// `Out-File`), UTF-8 with or without BOM; anything else is decoded lossily
/// so the ASCII parts (registry value names, numbers) stay usable.
pub fn decode_text(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// One file in a replay's `files.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    #[serde(default)]
    pub dir: bool,
    #[serde(default)]
    pub modified: Option<DateTime<Utc>>,
    #[serde(default)]
    pub content: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFacts {
    pub is_dir: bool,
    pub modified: Option<DateTime<Utc>>,
}

/// Largest file the agent reads (for fingerprints); larger ones are
/// fingerprinted by their first bytes only.
pub const MAX_READ: usize = 1 << 20;

pub enum Files {
    Live,
    Replay(Vec<FileEntry>),
}

impl Files {
    pub fn stat(&self, path: &str) -> Option<FileFacts> {
        match self {
            Files::Live => {
                let m = std::fs::metadata(path).ok()?;
                Some(FileFacts {
                    is_dir: m.is_dir(),
                    modified: m.modified().ok().map(DateTime::<Utc>::from),
                })
            }
            Files::Replay(entries) => {
                let key = norm(path);
                if let Some(e) = entries.iter().find(|e| norm(&e.path) == key) {
                    return Some(FileFacts {
                        is_dir: e.dir,
                        modified: e.modified,
                    });
                }
                // A folder exists when something is recorded inside it.
                let prefix = format!("{key}\\");
                entries
                    .iter()
                    .any(|e| norm(&e.path).starts_with(&prefix))
                    .then_some(FileFacts {
                        is_dir: true,
                        modified: None,
                    })
            }
        }
    }

    /// Direct children of a folder, sorted by path.
    pub fn list(&self, dir: &str) -> Vec<(String, FileFacts)> {
        let mut out: Vec<(String, FileFacts)> = match self {
            Files::Live => std::fs::read_dir(dir)
                .map(|rd| {
                    rd.flatten()
                        .filter_map(|e| {
                            let m = e.metadata().ok()?;
                            let facts = FileFacts {
                                is_dir: m.is_dir(),
                                modified: m.modified().ok().map(DateTime::<Utc>::from),
                            };
                            Some((e.path().to_string_lossy().into_owned(), facts))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Files::Replay(entries) => {
                let prefix = format!("{}\\", norm(dir));
                entries
                    .iter()
                    .filter(|e| {
                        let p = norm(&e.path);
                        p.strip_prefix(&prefix)
                            .is_some_and(|rest| !rest.is_empty() && !rest.contains('\\'))
                    })
                    .map(|e| {
                        (
                            e.path.clone(),
                            FileFacts {
                                is_dir: e.dir,
                                modified: e.modified,
                            },
                        )
                    })
                    .collect()
            }
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Contents of a file (at most [`MAX_READ`] bytes).
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        match self {
            Files::Live => {
                use std::io::Read;
                let mut buf = Vec::new();
                std::fs::File::open(Path::new(path))
                    .ok()?
                    .take(MAX_READ as u64)
                    .read_to_end(&mut buf)
                    .ok()?;
                Some(buf)
            }
            Files::Replay(entries) => {
                let key = norm(path);
                entries
                    .iter()
                    .find(|e| norm(&e.path) == key && !e.dir)
                    .map(|e| e.content.clone().unwrap_or_default().into_bytes())
            }
        }
    }
}

/// Windows paths compare case-insensitively, with either slash.
fn norm(path: &str) -> String {
    path.replace('/', "\\")
        .trim_end_matches('\\')
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_utf16_bom_utf8_bom_and_cp932_lossily() {
        let mut utf16 = vec![0xFF, 0xFE];
        for u in "顔認証 OK".encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode_text(&utf16), "顔認証 OK");
        assert_eq!(decode_text("\u{feff}[1]".as_bytes()), "[1]");
        // "エラー: ..." in CP932 followed by ASCII.
        let cp932 = [0x83, 0x47, 0x83, 0x89, 0x81, 0x5B, b':', b' ', b'x'];
        assert!(decode_text(&cp932).ends_with(": x"));
    }

    #[test]
    fn replayed_files_answer_stat_list_and_read() {
        let files = Files::Replay(vec![
            FileEntry {
                path: r"C:\FaceAuthReader\ClearScreen\ClearScreen.exe".into(),
                dir: false,
                modified: None,
                content: None,
            },
            FileEntry {
                path: r"C:\OQS\OQSComApp\config\app.ini".into(),
                dir: false,
                modified: None,
                content: Some("a=1".into()),
            },
        ]);
        assert!(files.stat(r"c:\faceauthreader\clearscreen").unwrap().is_dir);
        assert!(files.stat(r"C:\FaceAuthReader\Missing").is_none());
        assert_eq!(files.list(r"C:\OQS\OQSComApp\config").len(), 1);
        assert_eq!(files.list(r"C:\OQS").len(), 0, "only direct children");
        assert_eq!(
            files.read(r"C:/OQS/OQSComApp/config/app.ini").unwrap(),
            b"a=1"
        );
    }

    #[tokio::test]
    async fn a_hanging_call_is_abandoned_and_not_started_again_until_it_returns() {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let hang = move || {
            let _ = wait.recv();
            Ok("late".to_owned())
        };
        let t = Duration::from_millis(100);
        let key = || "test-hang".to_owned();
        assert_eq!(
            blocking_call(key(), t, hang).await,
            Err(FetchError::Timeout(100))
        );
        let again = blocking_call(key(), t, || Ok("x".into())).await;
        assert!(
            matches!(&again, Err(FetchError::Failed(m)) if m.contains("previous call")),
            "{again:?}"
        );
        assert_eq!(
            blocking_call("other".into(), t, || Ok("y".into())).await,
            Ok("y".into()),
            "other collectors still run"
        );
        release.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match blocking_call(key(), t, || Ok("back".into())).await {
                Ok(text) => break assert_eq!(text, "back"),
                Err(_) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("never ran again: {e}"),
            }
        }
        assert_eq!(
            blocking_call(key(), t, || Err("no".into())).await,
            Err(FetchError::Failed("no".into()))
        );
    }

    #[tokio::test]
    async fn a_hanging_command_times_out_and_a_missing_one_is_unavailable() {
        if cfg!(windows) {
            return;
        }
        let c = Collector {
            name: "sleep",
            fixture: "x",
            windows: None,
            native: None,
            unix: Some(run("sleep", &["5"])),
        };
        let started = std::time::Instant::now();
        let err = Source::Live(WindowsCollectors::Native)
            .fetch(&c, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(err, FetchError::Timeout(200));
        assert!(started.elapsed() < Duration::from_secs(2));
        let c = Collector {
            name: "none",
            fixture: "x",
            windows: None,
            native: None,
            unix: Some(run("/nonexistent/probe", &[])),
        };
        assert_eq!(
            Source::Live(WindowsCollectors::Native)
                .fetch(&c, Duration::from_secs(1))
                .await
                .unwrap_err(),
            FetchError::Unavailable
        );
    }
}
