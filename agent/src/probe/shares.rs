//! The SMB shares the receipt computer uses: `face`, `req`, `res`, and
//! `Onseikyu` at home-visit nursing stations (guide 1-4-2, 2-8-1).

use serde::Serialize;

use super::ps;
use super::source::Files;

#[derive(Debug, Clone, PartialEq)]
pub struct SmbShare {
    pub name: String,
    pub path: String,
    pub online: bool,
}

/// `Get-SmbShare | Select-Object Name,Path,Description,ShareState,ShareType,Special | ConvertTo-Json`
pub fn parse_smb_shares(text: &str) -> Result<Vec<SmbShare>, String> {
    Ok(ps::items(text)?
        .iter()
        .map(|v| SmbShare {
            name: ps::text(v, "Name"),
            path: ps::text(v, "Path"),
            // ShareState: 0 Pending, 1 Online, 2 Offline.
            online: ps::enumeration(
                v,
                "ShareState",
                &[(0, "Pending"), (1, "Online"), (2, "Offline")],
            ) == "Online",
        })
        .collect())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShareStatus {
    pub name: String,
    /// The share is defined and its folder exists.
    pub exists: bool,
    /// Online for the network.
    pub shared: bool,
    pub path: String,
}

/// The expected shares (names compare case-insensitively, as SMB does).
pub fn check(expected: &[String], shares: &[SmbShare], files: &Files) -> Vec<ShareStatus> {
    expected
        .iter()
        .map(
            |name| match shares.iter().find(|s| s.name.eq_ignore_ascii_case(name)) {
                Some(s) => ShareStatus {
                    name: name.clone(),
                    exists: s.path.is_empty() || files.stat(&s.path).is_some_and(|f| f.is_dir),
                    shared: s.online,
                    path: s.path.clone(),
                },
                None => ShareStatus {
                    name: name.clone(),
                    exists: false,
                    shared: false,
                    path: String::new(),
                },
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::source::FileEntry;

    #[test]
    fn present_offline_missing_and_folder_gone() {
        let text = r#"[{"Name":"ADMIN$","Path":"C:\\Windows","ShareState":1,"Special":true},
            {"Name":"FACE","Path":"C:\\OQS\\face","ShareState":1},
            {"Name":"req","Path":"C:\\OQS\\req","ShareState":"Offline"},
            {"Name":"res","Path":"C:\\OQS\\res","ShareState":1}]"#;
        let shares = parse_smb_shares(text).unwrap();
        let files = Files::Replay(vec![
            FileEntry {
                path: r"C:\OQS\face".into(),
                dir: true,
                modified: None,
                content: None,
            },
            FileEntry {
                path: r"C:\OQS\req".into(),
                dir: true,
                modified: None,
                content: None,
            },
        ]);
        let want: Vec<String> = ["face", "req", "res", "Onseikyu"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let got: Vec<(bool, bool)> = check(&want, &shares, &files)
            .iter()
            .map(|s| (s.exists, s.shared))
            .collect();
        assert_eq!(
            got,
            [(true, true), (true, false), (false, true), (false, false)]
        );
    }
}
