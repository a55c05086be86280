//! Host facts Linux can answer: hostname, OS, boot time.

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct HostInfo {
    pub hostname: String,
    pub os: String,
    pub boot_time: Option<DateTime<Utc>>,
    pub uptime_hours: Option<i64>,
    pub agent_version: &'static str,
}

pub fn collect() -> HostInfo {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let boot_time = parse_proc_stat_btime(&read("/proc/stat"));
    HostInfo {
        hostname: read("/proc/sys/kernel/hostname").trim().to_owned(),
        os: parse_os_release(&read("/etc/os-release"))
            .unwrap_or_else(|| std::env::consts::OS.to_owned()),
        boot_time,
        uptime_hours: boot_time.map(|b| (Utc::now() - b).num_hours()),
        agent_version: env!("CARGO_PKG_VERSION"),
    }
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
}
