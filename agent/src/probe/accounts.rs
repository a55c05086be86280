//! Account-change risk (guide 1-4-1-1, domain.md §3): the Windows account
//! NTT East created, and the 顔認証 / 連携 system accounts, compared with the
//! baseline taken at the first run.
//!
//! Never a password or its hash: the Windows account is judged by
//! `PasswordLastSet`, name, enabled and existence; the system accounts by a
//! keyed fingerprint (HMAC-SHA256 with a random per-agent key kept in the
//! state directory) of the configuration files where the software keeps
//! them. The fingerprint and the file contents never leave the PC; only the
//! "changed" flags are reported.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ps;
use super::source::Files;

#[derive(Debug, Clone, PartialEq)]
pub struct LocalUser {
    pub name: String,
    pub sid: String,
    pub enabled: bool,
    pub password_last_set: Option<DateTime<Utc>>,
    pub last_logon: Option<DateTime<Utc>>,
}

/// `Get-LocalUser | Select-Object Name,SID,Enabled,PasswordLastSet,LastLogon,Description | ConvertTo-Json`
pub fn parse_local_users(text: &str) -> Result<Vec<LocalUser>, String> {
    Ok(ps::items(text)?
        .iter()
        .map(|v| LocalUser {
            name: ps::text(v, "Name"),
            sid: ps::text(v, "SID"),
            enabled: ps::boolean(v, "Enabled").unwrap_or(false),
            password_last_set: ps::date(v, "PasswordLastSet"),
            last_logon: ps::date(v, "LastLogon"),
        })
        .collect())
}

/// Built-in accounts by RID: Administrator, Guest, DefaultAccount,
/// WDAGUtilityAccount. Their names are localised, their RIDs are not.
fn built_in(sid: &str) -> bool {
    ["-500", "-501", "-503", "-504"]
        .iter()
        .any(|rid| sid.ends_with(rid))
}

/// The NTT-created account: by configured name, else the baseline's SID
/// (survives a rename), else the only enabled non-built-in account (the most
/// recently used when there are several).
pub fn pick_windows_account<'a>(
    users: &'a [LocalUser],
    configured: Option<&str>,
    baseline_sid: Option<&str>,
) -> Option<&'a LocalUser> {
    if let Some(sid) = baseline_sid {
        return users.iter().find(|u| u.sid == sid);
    }
    if let Some(name) = configured {
        return users.iter().find(|u| u.name.eq_ignore_ascii_case(name));
    }
    users
        .iter()
        .filter(|u| u.enabled && !built_in(&u.sid))
        .max_by_key(|u| u.last_logon)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowsBaseline {
    pub sid: String,
    pub name: String,
    pub enabled: bool,
    pub password_last_set: Option<DateTime<Utc>>,
}

impl From<&LocalUser> for WindowsBaseline {
    fn from(u: &LocalUser) -> Self {
        WindowsBaseline {
            sid: u.sid.clone(),
            name: u.name.clone(),
            enabled: u.enabled,
            password_last_set: u.password_last_set,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Windows,
    FaceAuth,
    Linkage,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountStatus {
    pub kind: AccountKind,
    /// The Windows account's current name (shown on site; not sent).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub baseline_known: bool,
    pub password_changed: bool,
    pub renamed: bool,
    pub disabled: bool,
    pub removed: bool,
    pub config_changed: bool,
}

impl AccountStatus {
    fn new(kind: AccountKind) -> Self {
        AccountStatus {
            kind,
            name: String::new(),
            baseline_known: false,
            password_changed: false,
            renamed: false,
            disabled: false,
            removed: false,
            config_changed: false,
        }
    }
}

pub fn compare_windows(
    baseline: Option<&WindowsBaseline>,
    now: Option<&LocalUser>,
) -> AccountStatus {
    let mut s = AccountStatus::new(AccountKind::Windows);
    s.name = now.map(|u| u.name.clone()).unwrap_or_default();
    let Some(b) = baseline else { return s };
    s.baseline_known = true;
    match now {
        None => s.removed = true,
        Some(u) => {
            s.password_changed = password_changed(b.password_last_set, u.password_last_set);
            s.renamed = !u.name.eq_ignore_ascii_case(&b.name);
            s.disabled = b.enabled && !u.enabled;
        }
    }
    s
}

/// Windows keeps the time a password was set to the second, but the
/// native collector derives it from the password's age (whole seconds, read
/// a moment later), so the same password can read a second or two apart. A
/// real change moves it by far more than two minutes.
fn password_changed(baseline: Option<DateTime<Utc>>, now: Option<DateTime<Utc>>) -> bool {
    match (baseline, now) {
        (Some(b), Some(n)) => (n - b).num_seconds().abs() > 120,
        (b, n) => b != n,
    }
}

pub fn compare_fingerprint(
    kind: AccountKind,
    baseline: Option<&str>,
    now: Option<&str>,
) -> AccountStatus {
    let mut s = AccountStatus::new(kind);
    if let Some(b) = baseline {
        s.baseline_known = true;
        match now {
            Some(n) => s.config_changed = n != b,
            None => s.removed = true,
        }
    }
    s
}

/// Keyed fingerprint of the files at `paths` (a folder stands for its
/// files). None when none of them exists: the software is not installed.
pub fn fingerprint(key: &[u8], files: &Files, paths: &[String]) -> Option<String> {
    let mut parts: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    let mut any = false;
    for p in paths {
        match files.stat(p) {
            Some(f) if f.is_dir => {
                any = true;
                for (child, facts) in files.list(p) {
                    if !facts.is_dir {
                        let bytes = files.read(&child);
                        parts.push((child.to_lowercase(), bytes));
                    }
                }
            }
            Some(_) => {
                any = true;
                parts.push((p.to_lowercase(), files.read(p)));
            }
            None => parts.push((p.to_lowercase(), None)),
        }
    }
    any.then(|| hmac_hex(key, &parts))
}

fn hmac_hex(key: &[u8], parts: &[(String, Option<Vec<u8>>)]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut ctx = ring::hmac::Context::with_key(&key);
    for (path, bytes) in parts {
        ctx.update(path.as_bytes());
        match bytes {
            Some(b) => {
                ctx.update(&[0]);
                ctx.update(&(b.len() as u64).to_le_bytes());
                ctx.update(b);
            }
            None => ctx.update(&[1]),
        }
    }
    ctx.sign()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::source::FileEntry;

    fn user(name: &str, sid: &str, enabled: bool, pls: &str, logon: &str) -> LocalUser {
        LocalUser {
            name: name.into(),
            sid: sid.into(),
            enabled,
            password_last_set: pls.parse().ok(),
            last_logon: logon.parse().ok(),
        }
    }

    #[test]
    fn picks_the_installed_account_not_built_ins() {
        let users = [
            user("Administrator", "S-1-5-21-9-500", false, "", ""),
            user(
                "onshi",
                "S-1-5-21-9-1001",
                true,
                "2024-06-01T00:00:00Z",
                "2024-11-25T00:00:00Z",
            ),
            user(
                "staff",
                "S-1-5-21-9-1002",
                true,
                "2024-06-01T00:00:00Z",
                "2024-10-01T00:00:00Z",
            ),
        ];
        assert_eq!(
            pick_windows_account(&users, None, None).unwrap().name,
            "onshi"
        );
        assert_eq!(
            pick_windows_account(&users, Some("STAFF"), None)
                .unwrap()
                .name,
            "staff"
        );
        assert_eq!(
            pick_windows_account(&users, None, Some("S-1-5-21-9-1002"))
                .unwrap()
                .name,
            "staff"
        );
        assert!(pick_windows_account(&users, None, Some("S-1-5-21-9-1999")).is_none());
    }

    #[test]
    fn detects_password_rename_disable_and_removal() {
        let before = user("onshi", "S-1", true, "2024-06-01T00:00:00Z", "");
        let b = WindowsBaseline::from(&before);
        let same = compare_windows(Some(&b), Some(&before));
        assert!(
            same.baseline_known
                && !same.password_changed
                && !same.renamed
                && !same.disabled
                && !same.removed
        );
        let changed = compare_windows(
            Some(&b),
            Some(&user("onshi2", "S-1", false, "2024-11-20T00:00:00Z", "")),
        );
        assert!(changed.password_changed && changed.renamed && changed.disabled);
        assert!(compare_windows(Some(&b), None).removed);
        assert!(!compare_windows(None, Some(&before)).baseline_known);

        // The native collector's reading of the same password, a second off:
        // not a change; five minutes off is one; "must change" is one too.
        let jitter = user("onshi", "S-1", true, "2024-06-01T00:00:01Z", "");
        assert!(!compare_windows(Some(&b), Some(&jitter)).password_changed);
        let later = user("onshi", "S-1", true, "2024-06-01T00:05:00Z", "");
        assert!(compare_windows(Some(&b), Some(&later)).password_changed);
        let mut must_change = before.clone();
        must_change.password_last_set = None;
        assert!(compare_windows(Some(&b), Some(&must_change)).password_changed);
    }

    #[test]
    fn fingerprint_is_keyed_and_sees_any_change() {
        let files = |pw: &str| {
            Files::Replay(vec![FileEntry {
                path: r"C:\OQS\OQSComApp\config\account.xml".into(),
                dir: false,
                modified: None,
                content: Some(format!("<user>renkei</user><password>{pw}</password>")),
            }])
        };
        let paths = vec![
            r"C:\OQS\OQSComApp\config".to_owned(),
            r"C:\missing.ini".to_owned(),
        ];
        let a = fingerprint(b"key-1", &files("secret-a"), &paths).unwrap();
        assert_eq!(a.len(), 64);
        assert_eq!(
            fingerprint(b"key-1", &files("secret-a"), &paths).unwrap(),
            a,
            "stable"
        );
        assert_ne!(
            fingerprint(b"key-1", &files("secret-b"), &paths).unwrap(),
            a,
            "a changed password changes it"
        );
        assert_ne!(
            fingerprint(b"key-2", &files("secret-a"), &paths).unwrap(),
            a,
            "keyed per agent"
        );
        assert!(!a.contains("secret"));
        assert_eq!(
            fingerprint(b"k", &Files::Replay(vec![]), &paths),
            None,
            "not installed"
        );
        let s = compare_fingerprint(AccountKind::Linkage, Some(&a), None);
        assert!(s.removed);
    }
}
