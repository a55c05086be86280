//! Running as a service. Windows: a Task Scheduler task that starts at boot
//! as SYSTEM, below normal priority, without the default 72 h time limit,
//! restarted every minute after a failure. (A scheduled task needs no
//! service wrapper in the binary: the same `run` command works everywhere.)
//! Linux: deploy/systemd/onshi-agent.service.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

pub const TASK_NAME: &str = "OnshiAgent";

#[derive(Debug, Clone, clap::Args)]
pub struct InstallArgs {
    /// Log file of the task (default: next to the config file, agent.log).
    #[arg(long)]
    pub task_log_file: Option<PathBuf>,
    /// Register the task without starting it now.
    #[arg(long)]
    pub no_start: bool,
}

fn not_windows(what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "`onshi-agent {what}` manages the Windows start-up task and works only on Windows; \
         on Linux install deploy/systemd/onshi-agent.service (see docs/agent.md)"
    )
}

pub fn install(args: &InstallArgs, config: Option<&Path>) -> anyhow::Result<()> {
    if !cfg!(windows) {
        return Err(not_windows("install"));
    }
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let config = config
        .map(Path::to_owned)
        .unwrap_or_else(crate::config::default_path);
    if !config.exists() {
        bail!(
            "config file {} does not exist: write it first (docs/agent.md, deploy/agent.example.toml)",
            config.display()
        );
    }
    crate::config::load(Some(&config))?;
    let log = args
        .task_log_file
        .clone()
        .unwrap_or_else(|| config.with_file_name("agent.log"));
    let xml = task_xml(&exe, &config, &log);
    let file = std::env::temp_dir().join("onshi-agent-task.xml");
    // Task Scheduler reads task XML as UTF-16 with a byte order mark.
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(xml.encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(&file, bytes).with_context(|| format!("cannot write {}", file.display()))?;
    let created = schtasks(&[
        "/Create",
        "/TN",
        TASK_NAME,
        "/XML",
        &file.to_string_lossy(),
        "/F",
    ]);
    let _ = std::fs::remove_file(&file);
    created?;
    // Task Scheduler can accept a definition and store less of it (a
    // policy, an old schema, Wine): read back what it kept, and leave no
    // half-made task that would never start the agent.
    let stored = schtasks(&["/Query", "/TN", TASK_NAME, "/XML"]).unwrap_or_default();
    if let Err(missing) = check_stored_task(&stored, &exe) {
        let _ = schtasks(&["/Delete", "/TN", TASK_NAME, "/F"]);
        bail!(
            "Task Scheduler did not store the task {TASK_NAME} as asked ({missing}), so the agent \
             would not start at boot; the task was removed again. Run `schtasks /Create /TN {TASK_NAME} \
             /XML <file>` by hand as Administrator to see Windows' message, and check group \
             policies that restrict scheduled tasks"
        );
    }
    if !args.no_start {
        schtasks(&["/Run", "/TN", TASK_NAME])?;
    }
    println!(
        "installed task {TASK_NAME}: {} run --config {}",
        exe.display(),
        config.display()
    );
    Ok(())
}

pub fn uninstall() -> anyhow::Result<()> {
    if !cfg!(windows) {
        return Err(not_windows("uninstall"));
    }
    // Not running is fine; a missing task is reported by /Delete.
    let _ = schtasks(&["/End", "/TN", TASK_NAME]);
    schtasks(&["/Delete", "/TN", TASK_NAME, "/F"])?;
    println!("removed task {TASK_NAME}");
    Ok(())
}

/// Runs schtasks.exe; its standard output on success.
fn schtasks(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("schtasks.exe")
        .args(args)
        .output()
        .context("cannot run schtasks.exe")?;
    let stdout = crate::probe::source::decode_text(&out.stdout);
    if !out.status.success() {
        let stderr = crate::probe::source::decode_text(&out.stderr);
        let said = [stderr.trim(), stdout.trim()]
            .into_iter()
            .find(|t| !t.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                format!("no message; does the task exist? `schtasks /Query /TN {TASK_NAME}`")
            });
        bail!(
            "schtasks {} failed ({}): {said}",
            args.join(" "),
            out.status
        );
    }
    Ok(stdout)
}

/// What a stored task (`schtasks /Query /XML`) must still have for the
/// agent to start at boot as SYSTEM and come back after a failure; the
/// missing parts otherwise. Pure, so it is tested on Linux.
pub fn check_stored_task(stored: &str, exe: &Path) -> Result<(), String> {
    let exe_name = exe
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    // schtasks may write UTF-16 without a byte order mark to a pipe; the
    // parts looked for are ASCII, so dropping NULs reads them either way.
    let lower = stored.replace('\0', "").to_lowercase();
    let missing: Vec<&str> = [
        ("the boot trigger", lower.contains("<boottrigger")),
        (
            "the SYSTEM account",
            lower.contains("<userid>s-1-5-18</userid>")
                || lower.contains("<userid>system</userid>")
                || lower.contains("\\system</userid>"),
        ),
        (
            "the command",
            !exe_name.is_empty() && lower.contains("<command>") && lower.contains(&exe_name),
        ),
        (
            "the restart on failure",
            lower.contains("<restartonfailure>"),
        ),
    ]
    .into_iter()
    .filter(|(_, present)| !present)
    .map(|(what, _)| what)
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("missing: {}", missing.join(", ")))
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The task definition. Pure, so it is tested on Linux.
pub fn task_xml(exe: &Path, config: &Path, log: &Path) -> String {
    let args = format!(
        "run --config \"{}\" --log-file \"{}\"",
        config.display(),
        log.display()
    );
    format!(
        r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.4" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>Onshi Fleet agent: watches the オン資PC and reports to the maintenance provider.</Description>
    <URI>\{TASK_NAME}</URI>
  </RegistrationInfo>
  <Triggers>
    <BootTrigger>
      <Enabled>true</Enabled>
      <Delay>PT30S</Delay>
    </BootTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>S-1-5-18</UserId>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <Priority>7</Priority>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>999</Count>
    </RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{}</Command>
      <Arguments>{}</Arguments>
    </Exec>
  </Actions>
</Task>
"#,
        xml_escape(&exe.display().to_string()),
        xml_escape(&args),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_runs_as_system_at_boot_forever_and_restarts() {
        let xml = task_xml(
            Path::new(r"C:\Program Files\OnshiAgent\onshi-agent.exe"),
            Path::new(r"C:\ProgramData\OnshiAgent\agent.toml"),
            Path::new(r"C:\ProgramData\OnshiAgent\R&D <log>.txt"),
        );
        for needle in [
            "<UserId>S-1-5-18</UserId>",
            "<BootTrigger>",
            "<ExecutionTimeLimit>PT0S</ExecutionTimeLimit>",
            "<RestartOnFailure>",
            r"<Command>C:\Program Files\OnshiAgent\onshi-agent.exe</Command>",
            r#"run --config &quot;C:\ProgramData\OnshiAgent\agent.toml&quot;"#,
            "R&amp;D &lt;log&gt;.txt",
        ] {
            assert!(xml.contains(needle), "{needle} missing in\n{xml}");
        }
    }

    #[test]
    fn a_task_stored_without_its_essentials_is_refused() {
        let exe = Path::new(r"C:\Program Files\OnshiAgent\onshi-agent.exe");
        let asked = task_xml(exe, Path::new(r"C:\a.toml"), Path::new(r"C:\a.log"));
        assert_eq!(check_stored_task(&asked, exe), Ok(()));
        // What Wine 8 keeps of it: no trigger, no principal, no command.
        let wine = r#"<Task><Triggers/><Principals><Principal id="Author"/></Principals><Actions><Exec/></Actions></Task>"#;
        assert_eq!(
            check_stored_task(wine, exe).unwrap_err(),
            "missing: the boot trigger, the SYSTEM account, the command, the restart on failure"
        );
        assert!(check_stored_task("", exe).is_err(), "nothing read back");
        let utf16_without_bom: String = asked.chars().flat_map(|c| [c, '\0']).collect();
        assert_eq!(check_stored_task(&utf16_without_bom, exe), Ok(()));
    }

    #[test]
    fn elsewhere_install_says_what_to_do() {
        if cfg!(windows) {
            return;
        }
        let err = install(
            &InstallArgs {
                task_log_file: None,
                no_start: true,
            },
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("systemd"), "{err}");
        assert!(
            uninstall()
                .unwrap_err()
                .to_string()
                .contains("only on Windows")
        );
    }
}
