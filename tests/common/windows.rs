//! The Windows build of `onshi-agent` (x86_64-pc-windows-gnu) run under Wine
//! on this Linux machine, for tests/e2e_windows_agent.rs. What this does and
//! does not prove is in docs/windows-testing.md.
//!
//! Once per test binary: `cargo build` the agent for Windows into
//! `target/windows` (its own target directory: the `cargo test` that runs us
//! holds the lock on `target/debug`, so building there would wait forever),
//! compile the bcryptprimitives.dll shim (tests/wine/) next to the .exe, and
//! create one Wine prefix, `target/windows/wineprefix`, that every test
//! shares (Wine processes can use one prefix concurrently).

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{Server, agent_id};

pub const TARGET: &str = "x86_64-pc-windows-gnu";
const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";
/// The longest one agent command may take under Wine. Usually seconds (the
/// first one after the prefix is created a few more), but `install` under
/// Wine's Task Scheduler took over 120 s on a 2-core machine at load 10: a
/// limit for a hung command, not a measure of speed.
const COMMAND_LIMIT: Duration = Duration::from_secs(360);

/// The Windows agent, built and ready to run under Wine.
pub struct WindowsAgent {
    /// `target/windows/x86_64-pc-windows-gnu/debug/onshi-agent.exe`
    pub exe: PathBuf,
    /// The agent's unit and integration test programs built for Windows.
    pub unit_tests: Vec<PathBuf>,
    /// The Wine launcher (`/usr/lib/wine/wine64` on Debian).
    pub wine: PathBuf,
    pub prefix: PathBuf,
}

enum Unavailable {
    /// A tool is not installed: skip, except in CI.
    Missing(String),
    /// Installed but the build or Wine failed: always a test failure.
    Broken(String),
}

static AGENT: OnceLock<Result<WindowsAgent, Unavailable>> = OnceLock::new();

/// The Windows agent, built once per test binary. `None` means the Windows
/// target, mingw-w64 or Wine is missing: the caller returns (test skipped,
/// the message says what to install). With `CI` set that panics instead:
/// CI never skips silently (.ci/run installs all three).
pub fn windows_agent() -> Option<&'static WindowsAgent> {
    match AGENT.get_or_init(prepare) {
        Ok(agent) => Some(agent),
        Err(Unavailable::Missing(what)) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{what}; CI must not skip them (.ci/run installs these)"
            );
            eprintln!("SKIPPED: {what}");
            None
        }
        Err(Unavailable::Broken(why)) => panic!("{why}"),
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo` as `cargo test` ran it (same toolchain), else the one on PATH.
fn cargo() -> PathBuf {
    std::env::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| "cargo".into())
}

/// The `rustc` next to that cargo (rustup's toolchain directory), else PATH.
fn rustc() -> PathBuf {
    let cargo = cargo();
    cargo
        .parent()
        .map(|dir| dir.join("rustc"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "rustc".into())
}

fn runs(program: impl AsRef<OsStr>, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The Rust standard library for the Windows target is installed.
fn target_installed() -> bool {
    Command::new(rustc())
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|dir| std::fs::read_dir(dir.trim()).ok())
        .is_some_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
        })
}

/// The 64-bit Wine launcher: `ONSHI_WINE`, Debian's `/usr/lib/wine/wine64`
/// (bookworm puts no `wine64` on PATH, and its `/usr/bin/wine` wants the
/// 32-bit parts), else `wine64` or `wine` on PATH (other distributions, Wine 9+).
fn find_wine() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ONSHI_WINE") {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let debian = Path::new("/usr/lib/wine/wine64");
    if debian.is_file() {
        return Some(debian.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    ["wine64", "wine"].into_iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn prepare() -> Result<WindowsAgent, Unavailable> {
    let mut missing = Vec::new();
    if !target_installed() {
        missing.push(format!(
            "the Rust target {TARGET} (install with `rustup target add {TARGET}`)"
        ));
    }
    if !runs(MINGW_GCC, &["--version"]) {
        missing.push(format!(
            "{MINGW_GCC} (install with `apt-get install gcc-mingw-w64-x86-64`)"
        ));
    }
    let wine = find_wine();
    if wine.is_none() {
        missing.push(
            "64-bit Wine (install with `apt-get install wine64`; ONSHI_WINE, if set, must name its launcher)"
                .into(),
        );
    }
    if !missing.is_empty() {
        return Err(Unavailable::Missing(format!(
            "the Windows agent tests need {}",
            missing.join(", ")
        )));
    }
    let wine = wine.unwrap();
    let target_dir = repo_root().join("target").join("windows");
    let exe = build_agent(&target_dir)?;
    build_shim(exe.parent().unwrap())?;
    let unit_tests = build_unit_tests(&target_dir)?;
    for dir in unit_tests.iter().filter_map(|t| t.parent()) {
        build_shim(dir)?;
    }
    let agent = WindowsAgent {
        exe,
        unit_tests,
        wine,
        prefix: target_dir.join("wineprefix"),
    };
    agent.init_prefix()?;
    Ok(agent)
}

/// `cargo SUBCOMMAND -p onshi-agent --target x86_64-pc-windows-gnu EXTRA`
/// into its own target directory (cargo's own freshness check: no work when
/// up to date); its output, or why it failed.
fn cargo_for_windows(
    subcommand: &str,
    extra: &[&str],
    target_dir: &Path,
) -> Result<Output, Unavailable> {
    let mut cmd = Command::new(cargo());
    cmd.args([subcommand, "-p", "onshi-agent", "--target", TARGET])
        .args(extra)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(repo_root())
        .stdin(Stdio::null());
    // `cargo test` gives us this package's CARGO_MANIFEST_DIR, CARGO_PKG_*
    // and so on. Build scripts that watch them (ring's does) would see a
    // change against a build from a shell (.ci/run's clippy, a developer's
    // `cargo build --target-dir target/windows`) and rebuild ring, rustls,
    // tonic and the agent each time the two alternate.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_EXE_")
            || matches!(
                name.as_ref(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "OUT_DIR"
            )
        {
            cmd.env_remove(name.as_ref());
        }
    }
    let out = cmd
        .output()
        .map_err(|e| Unavailable::Broken(format!("cannot run {}: {e}", cargo().display())))?;
    if !out.status.success() {
        return Err(Unavailable::Broken(format!(
            "cargo {subcommand} -p onshi-agent --target {TARGET} {} --target-dir {} failed ({}):\n{}",
            extra.join(" "),
            target_dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out)
}

/// The agent's .exe, built for Windows.
fn build_agent(target_dir: &Path) -> Result<PathBuf, Unavailable> {
    eprintln!(
        "building onshi-agent.exe for {TARGET} in {} (about a minute from clean)",
        target_dir.display()
    );
    cargo_for_windows("build", &[], target_dir)?;
    let exe = target_dir
        .join(TARGET)
        .join("debug")
        .join("onshi-agent.exe");
    if !exe.is_file() {
        return Err(Unavailable::Broken(format!(
            "cargo build succeeded but {} is missing",
            exe.display()
        )));
    }
    Ok(exe)
}

/// The agent's own test programs (unit tests and tests/*.rs), built for
/// Windows: `cargo test --no-run`, their paths from cargo's JSON messages.
fn build_unit_tests(target_dir: &Path) -> Result<Vec<PathBuf>, Unavailable> {
    let out = cargo_for_windows("test", &["--no-run", "--message-format=json"], target_dir)?;
    let tests: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["profile"]["test"] == true)
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .collect();
    if tests.is_empty() {
        return Err(Unavailable::Broken(
            "cargo test --no-run for Windows listed no test program".into(),
        ));
    }
    Ok(tests)
}

/// tests/wine/bcryptprimitives.c → bcryptprimitives.dll next to the .exe
/// (rebuilt when the source is newer). Wine 8 lacks the DLL that Rust's std
/// needs; real Windows has it.
fn build_shim(exe_dir: &Path) -> Result<(), Unavailable> {
    let source = repo_root().join("tests/wine/bcryptprimitives.c");
    let dll = exe_dir.join("bcryptprimitives.dll");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(built), Some(written)) = (modified(&dll), modified(&source))
        && built >= written
    {
        return Ok(());
    }
    // Compile to a private name, then rename: a concurrent run never loads
    // a half-written DLL.
    let tmp = exe_dir.join(format!("bcryptprimitives.{}.tmp", std::process::id()));
    let out = Command::new(MINGW_GCC)
        .args(["-shared", "-O2", "-o"])
        .arg(&tmp)
        .arg(&source)
        .arg("-ladvapi32")
        .output()
        .map_err(|e| Unavailable::Broken(format!("cannot run {MINGW_GCC}: {e}")))?;
    if !out.status.success() {
        return Err(Unavailable::Broken(format!(
            "{MINGW_GCC} {} failed:\n{}",
            source.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    std::fs::rename(&tmp, &dll)
        .map_err(|e| Unavailable::Broken(format!("cannot place {}: {e}", dll.display())))
}

/// A Windows path for a Linux path: Wine maps `Z:\` to `/`. (A plain
/// `/tmp/x` also works, but only because the current drive is Z:; it would
/// mean `C:\tmp\x` if the agent ran from inside the prefix's drive_c.)
pub fn win_path(path: &Path) -> String {
    let path = path.to_str().expect("test paths are UTF-8");
    assert!(path.starts_with('/'), "{path} is not absolute");
    format!("Z:{}", path.replace('/', "\\"))
}

/// Runs `cmd`, capturing its output; kills it and panics after `limit`.
fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

impl WindowsAgent {
    /// `wine <program>` in the shared prefix, headless and quiet.
    fn wine_command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(&self.wine);
        cmd.arg(program)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            // No Mono/Gecko installer prompts when the prefix is (re)made.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            // Headless: no Wine window ever opens on a developer's desktop.
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .current_dir(repo_root());
        cmd
    }

    /// Creates the prefix once (about 5–8 s; later runs reuse it, and Wine
    /// updates it by itself after a Wine upgrade), then makes it claim to
    /// be Windows 10 (Wine 8 makes new prefixes Windows 7; half a second).
    fn init_prefix(&self) -> Result<(), Unavailable> {
        if !self.prefix.join("system.reg").exists() {
            eprintln!("creating the Wine prefix {}", self.prefix.display());
            self.wine_tool("wineboot.exe", &["-i"], Duration::from_secs(300))?;
            if !self.prefix.join("system.reg").exists() {
                return Err(Unavailable::Broken(format!(
                    "wineboot.exe -i made no prefix in {}",
                    self.prefix.display()
                )));
            }
        }
        self.wine_tool("winecfg.exe", &["/v", "win10"], Duration::from_secs(60))
    }

    /// Runs one of Wine's own programs in the prefix; an error if it fails.
    fn wine_tool(&self, program: &str, args: &[&str], limit: Duration) -> Result<(), Unavailable> {
        let out = output_within(self.wine_command(program).args(args), limit);
        if out.status.success() {
            return Ok(());
        }
        Err(Unavailable::Broken(format!(
            "{} {program} {} (WINEPREFIX={}) failed ({}):\n{}",
            self.wine.display(),
            args.join(" "),
            self.prefix.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )))
    }

    /// A Windows program under Wine, from the repository root (where the
    /// agent's integration tests expect to find their fixtures).
    pub fn run_program(&self, program: &Path, args: &[&str]) -> Output {
        output_within(self.wine_command(program).args(args), COMMAND_LIMIT)
    }

    /// A long-running Windows program under Wine (`run` as a service would),
    /// its stderr appended to `log`. Wine's `PATH` (`WINEPATH`) includes the
    /// built .exe's directory, so programs started from elsewhere (an
    /// update's staged .exe) find the `bcryptprimitives.dll` shim there.
    pub fn spawn(&self, program: &Path, args: &[&str], log: &Path) -> std::process::Child {
        self.wine_command(program)
            .args(args)
            .env("WINEPATH", win_path(self.exe.parent().unwrap()))
            .env("ONSHI_LOG", "info,h2=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(log)
                    .unwrap(),
            )
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()))
    }

    /// Compiles a C program for Windows with mingw-w64 (already required).
    pub fn compile_c(&self, source: &str, out: &Path) {
        let c = out.with_extension("c");
        std::fs::write(&c, source).unwrap();
        let built = Command::new(MINGW_GCC)
            .arg("-o")
            .arg(out)
            .arg(&c)
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{MINGW_GCC}: {}",
            String::from_utf8_lossy(&built.stderr)
        );
    }

    /// `onshi-agent.exe ARGS` under Wine: its output, whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        output_within(self.wine_command(&self.exe).args(args), COMMAND_LIMIT)
    }

    /// `onshi-agent.exe probe --format json EXTRA`, parsed; panics (with the
    /// agent's stderr) unless it exits 0 with JSON on stdout.
    pub fn probe_json(&self, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["probe", "--format", "json"];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        assert!(
            out.status.success(),
            "onshi-agent.exe probe under Wine failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "probe printed no JSON ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Enrols `state_dir` for `site_id` with `onshi-agent.exe enroll` (key
    /// made under Wine, server CA pinned by fingerprint); returns the agent id.
    pub fn enroll(&self, server: &Server, site_id: &str, state_dir: &Path) -> String {
        let (token, fingerprint) = server.enrolment_token(site_id);
        let out = self.run(&[
            "enroll",
            "--token",
            &token,
            "--ca-fingerprint",
            &fingerprint,
            "--server",
            &server.grpc_url(),
            "--state-dir",
            &win_path(state_dir),
        ]);
        assert!(
            out.status.success(),
            "onshi-agent.exe enroll under Wine failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        agent_id(state_dir)
    }

    /// `onshi-agent.exe run --once` against `server`, enrolling `state_dir`
    /// for `site_id` first if needed (as `common::run_agent_once`).
    pub fn run_once(
        &self,
        server: &Server,
        state_dir: &Path,
        site_id: &str,
        extra: &[&str],
    ) -> Output {
        if !state_dir.join("client.pem").exists() {
            self.enroll(server, site_id, state_dir);
        }
        let mut args = vec![
            "run".to_owned(),
            "--once".into(),
            "--max-attempts".into(),
            "1".into(),
            "--interval".into(),
            "0.1".into(),
            "--site-id".into(),
            site_id.into(),
            "--server".into(),
            server.grpc_url(),
            "--state-dir".into(),
            win_path(state_dir),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&args)
    }
}
