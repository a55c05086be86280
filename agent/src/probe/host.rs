//! Host facts: name, OS, last boot (guide 1-1: reboot daily), free disk,
//! screen-saver lock (guide 1-1-1, 1-6), and when the オン資 apps last
//! updated themselves (guide 1-4: they stop after an account or network
//! change).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::ps;
use super::source::Files;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HostInfo {
    pub hostname: String,
    pub os: String,
    pub boot_time: Option<DateTime<Utc>>,
    pub uptime_hours: Option<i64>,
    /// Booted within the last 24 h (None when the boot time is unknown).
    pub rebooted_within_24h: Option<bool>,
    pub screen_lock: Option<ScreenLock>,
    pub disk_free_bytes: Option<u64>,
    pub disk_total_bytes: Option<u64>,
    pub apps_updated_at: Option<DateTime<Utc>>,
    pub agent_version: &'static str,
}

impl Default for HostInfo {
    fn default() -> Self {
        Self::new()
    }
}

impl HostInfo {
    pub fn new() -> Self {
        HostInfo {
            hostname: String::new(),
            os: String::new(),
            boot_time: None,
            uptime_hours: None,
            rebooted_within_24h: None,
            screen_lock: None,
            disk_free_bytes: None,
            disk_total_bytes: None,
            apps_updated_at: None,
            agent_version: crate::version::get(),
        }
    }

    pub fn set_boot(&mut self, boot: Option<DateTime<Utc>>, now: DateTime<Utc>) {
        self.boot_time = boot;
        self.uptime_hours = boot.map(|b| (now - b).num_hours());
        self.rebooted_within_24h = boot.map(|b| now - b <= Duration::hours(24));
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OsFacts {
    pub hostname: String,
    pub os: String,
    pub boot_time: Option<DateTime<Utc>>,
}

/// `Get-CimInstance Win32_OperatingSystem | Select-Object Caption,Version,
/// BuildNumber,CSName,OSArchitecture,LastBootUpTime,LocalDateTime | ConvertTo-Json`
pub fn parse_win32_os(text: &str) -> Result<OsFacts, String> {
    let v = ps::items(text)?
        .into_iter()
        .next()
        .ok_or("no Win32_OperatingSystem instance")?;
    let caption = ps::text(&v, "Caption");
    let version = ps::text(&v, "Version");
    Ok(OsFacts {
        hostname: ps::text(&v, "CSName"),
        os: [caption.trim(), version.trim()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
        boot_time: ps::date(&v, "LastBootUpTime"),
    })
}

/// `Get-CimInstance Win32_LogicalDisk -Filter "DeviceID='C:'" | Select-Object DeviceID,FreeSpace,Size | ConvertTo-Json`
pub fn parse_logical_disk(text: &str) -> Result<(u64, u64), String> {
    let v = ps::items(text)?.into_iter().next().ok_or("no C: drive")?;
    Ok((
        ps::number(&v, "FreeSpace").ok_or("no FreeSpace")?,
        ps::number(&v, "Size").unwrap_or(0),
    ))
}

/// `btime <epoch seconds>` line of /proc/stat.
pub fn parse_proc_stat_btime(stat: &str) -> Option<DateTime<Utc>> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<i64>().ok())
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
}

/// `PRETTY_NAME="..."` of /etc/os-release.
pub fn parse_os_release(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// Free and total bytes of the file system holding `path` (Unix).
#[cfg(unix)]
pub fn disk_space(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    let frsize = s.f_frsize as u64;
    Some((s.f_bavail as u64 * frsize, s.f_blocks as u64 * frsize))
}

#[cfg(not(unix))]
pub fn disk_space(_path: &std::path::Path) -> Option<(u64, u64)> {
    None
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScreenLock {
    pub known: bool,
    /// A screen saver is active.
    pub enabled: bool,
    /// Resuming asks for the Windows password (「再開時にログオン画面に戻る」).
    pub secure: bool,
    pub timeout_seconds: u32,
    /// Set by group policy rather than by the user.
    pub by_policy: bool,
    /// Panasonic readers use ClearScreen instead (guide 1-5).
    pub clear_screen_installed: bool,
}

/// Values of one key in `reg query "<key>"` output: name (lower case) →
/// data. The layout is the same on English and Japanese Windows; only error
/// messages are localised (and CP932-encoded), and they are ignored.
pub fn parse_reg_query(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| l.starts_with("    "))
        .filter_map(|l| {
            let mut parts = l.trim_start().splitn(3, "    ");
            let name = parts.next()?.trim();
            let kind = parts.next()?.trim();
            kind.starts_with("REG_").then(|| {
                (
                    name.to_lowercase(),
                    parts.next().unwrap_or("").trim().to_owned(),
                )
            })
        })
        .collect()
}

/// Screen-saver lock from the user's `Control Panel\Desktop` key and the
/// policy key (`Software\Policies\Microsoft\Windows\Control Panel\Desktop`),
/// which wins value by value.
pub fn screen_lock(
    user: Option<&BTreeMap<String, String>>,
    policy: Option<&BTreeMap<String, String>>,
    clear_screen: bool,
) -> ScreenLock {
    let get = |name: &str| -> (Option<&String>, bool) {
        match policy.and_then(|p| p.get(name)) {
            Some(v) => (Some(v), true),
            None => (user.and_then(|u| u.get(name)), false),
        }
    };
    let (active, p1) = get("screensaveactive");
    let (secure, p2) = get("screensaverissecure");
    let (timeout, p3) = get("screensavetimeout");
    let (exe, _) = get("scrnsave.exe");
    // Windows keeps ScreenSaveActive=1 when the saver is set to "(None)";
    // then there is no SCRNSAVE.EXE and nothing ever locks.
    let enabled = active.is_some_and(|v| v == "1") && exe.is_some_and(|v| !v.is_empty());
    ScreenLock {
        known: user.is_some() || policy.is_some_and(|p| !p.is_empty()),
        enabled,
        secure: secure.is_some_and(|v| v == "1"),
        timeout_seconds: timeout.and_then(|v| v.parse().ok()).unwrap_or(0),
        by_policy: p1 || p2 || p3,
        clear_screen_installed: clear_screen,
    }
}

/// Newest modification time in the app folders (the folder itself and its
/// direct children): when the apps last updated.
pub fn apps_updated_at(files: &Files, paths: &[String]) -> Option<DateTime<Utc>> {
    paths
        .iter()
        .flat_map(|p| {
            let own = files.stat(p).and_then(|f| f.modified);
            files
                .list(p)
                .into_iter()
                .filter_map(|(_, f)| f.modified)
                .chain(own)
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_btime_and_os() {
        let stat = "cpu  1 2 3\nintr 5\nbtime 1764028800\nprocesses 10\n";
        assert_eq!(
            parse_proc_stat_btime(stat).unwrap().to_rfc3339(),
            "2025-11-25T00:00:00+00:00"
        );
        assert_eq!(parse_proc_stat_btime("cpu 1\n"), None);
        let os = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            parse_os_release(os).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(parse_os_release(""), None);
    }

    #[test]
    fn uptime_and_daily_reboot() {
        let now: DateTime<Utc> = "2024-11-26T09:00:00Z".parse().unwrap();
        let mut h = HostInfo::new();
        h.set_boot(Some(now - Duration::hours(30)), now);
        assert_eq!(
            (h.uptime_hours, h.rebooted_within_24h),
            (Some(30), Some(false))
        );
        h.set_boot(None, now);
        assert_eq!(h.rebooted_within_24h, None);
    }

    #[test]
    fn screen_saver_none_policy_and_secure() {
        let user = parse_reg_query(
            "\r\nHKEY_USERS\\S-1-5-21-1-1001\\Control Panel\\Desktop\r\n    ScreenSaveActive    REG_SZ    1\r\n    ScreenSaveTimeOut    REG_SZ    900\r\n    ScreenSaverIsSecure    REG_SZ    1\r\n    WallPaper    REG_SZ    \r\n",
        );
        assert_eq!(user.get("wallpaper").map(String::as_str), Some(""));
        let lock = screen_lock(Some(&user), None, false);
        assert!(
            lock.known && !lock.enabled,
            "no SCRNSAVE.EXE: the saver is (None)"
        );
        let policy = parse_reg_query(
            "    SCRNSAVE.EXE    REG_SZ    scrnsave.scr\n    ScreenSaveTimeOut    REG_SZ    600\n",
        );
        let lock = screen_lock(Some(&user), Some(&policy), false);
        assert!(lock.enabled && lock.secure && lock.by_policy);
        assert_eq!(lock.timeout_seconds, 600);
        assert!(!screen_lock(None, None, false).known);
    }
}
