//! The raw inputs: which command or file answers each question on Windows
//! and on Linux, and under which name a replay directory holds its
//! recording. How to record a fixture: run the Windows command shown here
//! and save its output (docs/agent.md, "Recording fixtures").

use super::native::Native;
use super::source::{Cmd, Collector, powershell, run};

/// A Windows question with its recorded command and the native collector
/// that answers it in the same format (`native.rs`).
fn ps_json(name: &'static str, fixture: &'static str, script: &str, native: Native) -> Collector {
    Collector {
        name,
        fixture,
        windows: Some(powershell(&format!("{script} | ConvertTo-Json -Compress"))),
        native: Some(native),
        unix: None,
    }
}

pub fn os() -> Collector {
    ps_json(
        "os",
        "os.json",
        "Get-CimInstance Win32_OperatingSystem | Select-Object Caption,Version,BuildNumber,CSName,OSArchitecture,LastBootUpTime,LocalDateTime",
        Native::Os,
    )
}

pub fn disk() -> Collector {
    ps_json(
        "disk",
        "disk.json",
        "Get-CimInstance Win32_LogicalDisk -Filter \"DeviceID='$env:SystemDrive'\" | Select-Object DeviceID,FreeSpace,Size",
        Native::Disk,
    )
}

pub fn pnp() -> Collector {
    ps_json(
        "pnp",
        "pnp.json",
        "Get-PnpDevice | Select-Object Class,FriendlyName,InstanceId,Manufacturer,Status,Present",
        Native::Pnp,
    )
}

pub fn tasklist() -> Collector {
    Collector {
        name: "tasklist",
        fixture: "tasklist.csv",
        windows: Some(run("tasklist", &["/fo", "csv", "/nh"])),
        native: Some(Native::Processes),
        unix: None,
    }
}

pub fn services() -> Collector {
    ps_json(
        "services",
        "services.json",
        "Get-Service | Select-Object Name,DisplayName,Status,StartType",
        Native::Services,
    )
}

/// `stores` like `LocalMachine\My`; anything but letters and one
/// backslash is refused so configuration cannot inject a command.
pub fn certificates(stores: &[String]) -> Collector {
    let mut stores: Vec<String> = stores
        .iter()
        .filter(|s| {
            s.chars().all(|c| c.is_ascii_alphanumeric() || c == '\\')
                && s.matches('\\').count() == 1
        })
        .cloned()
        .collect();
    if stores.is_empty() {
        stores.push(r"LocalMachine\My".to_owned());
    }
    let paths = stores
        .iter()
        .map(|s| format!("Cert:\\{s}"))
        .collect::<Vec<_>>()
        .join(",");
    ps_json(
        "certificates",
        "certs.json",
        &format!(
            "Get-ChildItem {paths} -ErrorAction SilentlyContinue | Select-Object PSParentPath,Subject,Issuer,SerialNumber,NotBefore,NotAfter,Thumbprint,FriendlyName,HasPrivateKey"
        ),
        Native::Certificates(stores),
    )
}

pub fn local_users() -> Collector {
    ps_json(
        "users",
        "users.json",
        "Get-LocalUser | Select-Object Name,SID,Enabled,PasswordLastSet,LastLogon,Description",
        Native::Users,
    )
}

pub fn smb_shares() -> Collector {
    ps_json(
        "shares",
        "shares.json",
        "Get-SmbShare | Select-Object Name,Path,Description,ShareState,ShareType,Special",
        Native::Shares,
    )
}

pub fn ip_configuration() -> Collector {
    ps_json(
        "ipconfig",
        "ipconfig.json",
        "Get-NetIPConfiguration | ForEach-Object { [pscustomobject]@{ InterfaceAlias=$_.InterfaceAlias; InterfaceIndex=$_.InterfaceIndex; IPv4Address=@($_.IPv4Address.IPAddress); IPv4DefaultGateway=@($_.IPv4DefaultGateway.NextHop); DNSServer=@($_.DNSServer.ServerAddresses) } }",
        Native::IpConfig,
    )
}

/// The agent runs as SYSTEM: the user's settings are under HKU\<SID>.
fn user_hive(sid: Option<&str>) -> String {
    match sid.filter(|s| {
        s.starts_with("S-1-")
            && s.chars()
                .all(|c| c.is_ascii_digit() || c == '-' || c == 'S')
    }) {
        Some(sid) => format!("HKU\\{sid}"),
        None => "HKCU".to_owned(),
    }
}

pub fn screen_saver(sid: Option<&str>) -> Collector {
    let key = format!("{}\\Control Panel\\Desktop", user_hive(sid));
    Collector {
        name: "screensaver",
        fixture: "screensaver.txt",
        windows: Some(run("reg", &["query", &key])),
        native: Some(Native::Registry(key)),
        unix: None,
    }
}

pub fn screen_saver_policy(sid: Option<&str>) -> Collector {
    let key = format!(
        "{}\\Software\\Policies\\Microsoft\\Windows\\Control Panel\\Desktop",
        user_hive(sid)
    );
    Collector {
        name: "screensaver-policy",
        fixture: "screensaver-policy.txt",
        windows: Some(run("reg", &["query", &key])),
        native: Some(Native::Registry(key)),
        unix: None,
    }
}

pub fn linux_file(name: &'static str, path: &str) -> Collector {
    Collector {
        name,
        fixture: "linux-only",
        windows: None,
        native: None,
        unix: Some(Cmd::Read(path.into())),
    }
}

pub fn linux_ip_addr() -> Collector {
    Collector {
        name: "ip-addr",
        fixture: "linux-only",
        windows: None,
        native: None,
        unix: Some(run("ip", &["-o", "addr", "show"])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_cannot_inject_into_commands() {
        let c = certificates(&[
            "LocalMachine\\My; Remove-Item C:\\".into(),
            "CurrentUser\\My".into(),
        ]);
        let Some(Cmd::Run { args, .. }) = c.windows else {
            panic!()
        };
        let script = args.last().unwrap();
        assert!(script.contains(r"Cert:\CurrentUser\My") && !script.contains("Remove-Item"));
        assert_eq!(
            user_hive(Some("S-1-5-21-1-2-3-1001")),
            "HKU\\S-1-5-21-1-2-3-1001"
        );
        assert_eq!(user_hive(Some("S-1-5; reg delete")), "HKCU");
    }
}
