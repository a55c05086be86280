//! Native Windows collectors: the same questions the recorded PowerShell
//! commands answer, asked of the Win32 API directly (`win32.rs`), because a
//! PowerShell start costs 0.3–0.6 s of CPU and the agent's budget is 0.05 %
//! of one core (30 ms a minute). The answer is rendered in exactly the text
//! the recorded command prints (`ConvertTo-Json` of PowerShell 5.1, `reg
//! query`, `tasklist /fo csv`), so one set of parsers — tested against real
//! recordings in `agent/tests/fixtures/windows/` — reads both, and a replay
//! directory can be recorded with either.
//!
//! This file is the pure half: plain records in, text out, tested on any OS.
// Elsewhere than Windows only the tests below call the renderers.
#![cfg_attr(not(windows), allow(dead_code))]

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Which native collector answers a [`super::source::Collector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Native {
    Os,
    Disk,
    Pnp,
    Processes,
    Services,
    /// Store locations like `LocalMachine\My`.
    Certificates(Vec<String>),
    Users,
    Shares,
    IpConfig,
    /// All values of one registry key, e.g. `HKU\S-1-5-21-...\Control Panel\Desktop`.
    Registry(String),
}

impl Native {
    /// Asks Windows and renders the answer as the recorded command would.
    #[cfg(windows)]
    pub fn collect(&self, now: DateTime<Utc>) -> Result<String, String> {
        use super::win32;
        Ok(match self {
            Native::Os => os_json(&win32::os(now)?),
            Native::Disk => {
                let (drive, free, size) = win32::disk()?;
                disk_json(&drive, free, size)
            }
            Native::Pnp => pnp_json(&win32::devices()?),
            Native::Processes => tasklist_csv(&win32::processes()?),
            Native::Services => services_json(&win32::services()?),
            Native::Certificates(stores) => certs_json(&win32::certificates(stores)?),
            Native::Users => users_json(&win32::users()?, now),
            Native::Shares => shares_json(&win32::shares()?),
            Native::IpConfig => ipconfig_json(&win32::adapters()?),
            Native::Registry(key) => reg_query_text(key, &win32::registry_values(key)?),
        })
    }
}

/// `\/Date(ms)\/` as PowerShell 5.1 writes a `DateTime` (serde writes the
/// slash unescaped; the parser accepts both).
fn ps_date(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| {
        Value::String(format!("/Date({})/", t.timestamp_millis()))
    })
}

/// `ConvertTo-Json` prints a lone object, not an array of one; the parsers
/// accept both, so always print the array.
fn array(items: Vec<Value>) -> String {
    Value::Array(items).to_string()
}

pub struct OsRecord {
    pub computer_name: String,
    /// `ProductName` of `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`.
    pub product_name: String,
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    pub boot_time: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

/// Windows 11 still says "Windows 10" in `ProductName`; the build number
/// tells them apart (22000 was the first Windows 11 build), as
/// `Win32_OperatingSystem.Caption` does.
pub fn caption(product_name: &str, build: u32) -> String {
    let name = if build >= 22000 {
        product_name.replacen("Windows 10", "Windows 11", 1)
    } else {
        product_name.to_owned()
    };
    if name.starts_with("Microsoft ") || name.is_empty() {
        name
    } else {
        format!("Microsoft {name}")
    }
}

/// As `Get-CimInstance Win32_OperatingSystem | Select-Object Caption,Version,
/// BuildNumber,CSName,OSArchitecture,LastBootUpTime,LocalDateTime`.
pub fn os_json(r: &OsRecord) -> String {
    array(vec![json!({
        "Caption": caption(&r.product_name, r.build),
        "Version": format!("{}.{}.{}", r.major, r.minor, r.build),
        "BuildNumber": r.build.to_string(),
        "CSName": r.computer_name,
        "OSArchitecture": "64-bit",
        "LastBootUpTime": ps_date(r.boot_time),
        "LocalDateTime": ps_date(Some(r.now)),
    })])
}

/// As `Get-CimInstance Win32_LogicalDisk -Filter "DeviceID='C:'"`.
pub fn disk_json(drive: &str, free: u64, size: u64) -> String {
    array(vec![
        json!({ "DeviceID": drive, "FreeSpace": free, "Size": size }),
    ])
}

pub struct DeviceRecord {
    pub class: String,
    pub friendly_name: String,
    pub instance_id: String,
    pub manufacturer: String,
    /// False: Windows remembers the device but it is not connected (or not
    /// powered): `CM_Get_DevNode_Status` answers CR_NO_SUCH_DEVINST.
    pub present: bool,
    /// The device's problem code (`CM_PROB_*`) when it has one.
    pub problem: Option<u32>,
}

/// `Get-PnpDevice`'s Status: Unknown when absent, Error with a problem
/// code, else OK.
pub fn pnp_status(present: bool, problem: Option<u32>) -> &'static str {
    match (present, problem) {
        (false, _) => "Unknown",
        (true, Some(p)) if p != 0 => "Error",
        _ => "OK",
    }
}

/// As `Get-PnpDevice | Select-Object Class,FriendlyName,InstanceId,
/// Manufacturer,Status,Present`.
pub fn pnp_json(devices: &[DeviceRecord]) -> String {
    array(
        devices
            .iter()
            .map(|d| {
                json!({
                    "Class": d.class,
                    "FriendlyName": d.friendly_name,
                    "InstanceId": d.instance_id,
                    "Manufacturer": d.manufacturer,
                    "Status": pnp_status(d.present, d.problem),
                    "Present": d.present,
                })
            })
            .collect(),
    )
}

/// As `tasklist /fo csv /nh`; only the image name is read, the other
/// columns are placeholders.
pub fn tasklist_csv(processes: &[(String, u32)]) -> String {
    processes
        .iter()
        .map(|(name, pid)| {
            format!(
                "\"{}\",\"{pid}\",\"Services\",\"0\",\"0 K\"\r\n",
                name.replace('"', "")
            )
        })
        .collect()
}

pub struct ServiceRecord {
    pub name: String,
    pub display_name: String,
    /// `SERVICE_STATUS.dwCurrentState`: the same numbers as PowerShell's
    /// `ServiceControllerStatus` (1 Stopped … 4 Running … 7 Paused).
    pub state: u32,
}

/// As `Get-Service | Select-Object Name,DisplayName,Status`.
pub fn services_json(services: &[ServiceRecord]) -> String {
    array(
        services
            .iter()
            .map(|s| json!({ "Name": s.name, "DisplayName": s.display_name, "Status": s.state }))
            .collect(),
    )
}

pub struct CertRecord {
    /// e.g. `LocalMachine\My`.
    pub store: String,
    pub der: Vec<u8>,
    pub friendly_name: String,
    pub has_private_key: bool,
}

/// As `Get-ChildItem Cert:\LocalMachine\My | Select-Object PSParentPath,
/// Subject,Issuer,SerialNumber,NotBefore,NotAfter,Thumbprint,FriendlyName,
/// HasPrivateKey`. Names are written the way Windows shows them (most
/// specific part first: `CN=…, O=…, C=JP`). A certificate that does not
/// parse is listed with its thumbprint and an empty subject rather than
/// dropped, so it still shows up in the snapshot.
pub fn certs_json(certs: &[CertRecord]) -> String {
    array(
        certs
            .iter()
            .map(|c| {
                let parsed = x509_parser::parse_x509_certificate(&c.der).ok();
                let cert = parsed.as_ref().map(|(_, cert)| cert);
                let time = |t: &x509_parser::time::ASN1Time| {
                    DateTime::from_timestamp(t.timestamp(), 0)
                };
                json!({
                    "PSParentPath": format!("Microsoft.PowerShell.Security\\Certificate::{}", c.store),
                    "Subject": cert.map(|c| windows_name(c.subject())).unwrap_or_default(),
                    "Issuer": cert.map(|c| windows_name(c.issuer())).unwrap_or_default(),
                    "SerialNumber": cert.map(|c| hex::encode_upper(c.raw_serial())).unwrap_or_default(),
                    "NotBefore": ps_date(cert.and_then(|c| time(&c.validity().not_before))),
                    "NotAfter": ps_date(cert.and_then(|c| time(&c.validity().not_after))),
                    "Thumbprint": thumbprint(&c.der),
                    "FriendlyName": c.friendly_name,
                    "HasPrivateKey": c.has_private_key,
                })
            })
            .collect(),
    )
}

/// SHA-1 of the DER, as Windows names a certificate (an identifier, not a
/// security check).
pub fn thumbprint(der: &[u8]) -> String {
    hex::encode_upper(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        der,
    ))
}

/// A distinguished name the way `X509Certificate2.Subject` prints it:
/// relative names in reverse order, `CN=a, OU=b, O=c, C=JP`, values with a
/// separator quoted.
pub fn windows_name(name: &x509_parser::x509::X509Name) -> String {
    let mut parts = Vec::new();
    for rdn in name.iter_rdn().collect::<Vec<_>>().into_iter().rev() {
        // A multi-valued part (rare) is joined with " + ", as Windows does.
        let mut values = Vec::new();
        for attr in rdn.iter() {
            let key = match attr.attr_type().to_id_string().as_str() {
                "2.5.4.3" => "CN".to_owned(),
                "2.5.4.6" => "C".to_owned(),
                "2.5.4.7" => "L".to_owned(),
                "2.5.4.8" => "S".to_owned(),
                "2.5.4.10" => "O".to_owned(),
                "2.5.4.11" => "OU".to_owned(),
                "2.5.4.5" => "SERIALNUMBER".to_owned(),
                "1.2.840.113549.1.9.1" => "E".to_owned(),
                other => format!("OID.{other}"),
            };
            let value = attr
                .as_str()
                .map(str::to_owned)
                .ok()
                .or_else(|| decode_wide_string(attr.attr_value().tag().0, attr.attr_value().data))
                .unwrap_or_else(|| format!("#{}", hex::encode(attr.attr_value().data)));
            let value = if value.contains([',', '+', '=', '"', ';', '<', '>', '#', '\n'])
                || value.starts_with(' ')
                || value.ends_with(' ')
            {
                format!("\"{}\"", value.replace('"', "\"\""))
            } else {
                value
            };
            values.push(format!("{key}={value}"));
        }
        parts.push(values.join(" + "));
    }
    parts.join(", ")
}

/// The string types x509-parser leaves undecoded but Windows shows as text:
/// BMPString (UTF-16BE; Japanese names in older certificates), Universal
/// (UTF-32BE), Teletex (read as Latin-1, as Windows does).
fn decode_wide_string(tag: u32, data: &[u8]) -> Option<String> {
    match tag {
        30 => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        28 => data
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        20 => Some(data.iter().map(|&b| char::from(b)).collect()),
        _ => None,
    }
}

pub struct UserRecord {
    pub name: String,
    /// `S-1-5-21-…`; empty when the name could not be looked up.
    pub sid: String,
    pub enabled: bool,
    /// Seconds since the password was last set (`usri4_password_age`); None
    /// when it must be changed at next logon (PowerShell shows no date then).
    pub password_age_secs: Option<u32>,
    /// Seconds since 1970 (`usri4_last_logon`); 0 is "never".
    pub last_logon: u32,
    pub comment: String,
}

/// As `Get-LocalUser | Select-Object Name,SID,Enabled,PasswordLastSet,
/// LastLogon,Description`. The password itself is never read: Windows only
/// tells its age.
pub fn users_json(users: &[UserRecord], now: DateTime<Utc>) -> String {
    array(
        users
            .iter()
            .map(|u| {
                // Whole seconds, read a moment after `now`: this can differ
                // from the true time by a second or so, which
                // `accounts::compare_windows` tolerates.
                let set = u
                    .password_age_secs
                    .map(|age| now - chrono::Duration::seconds(i64::from(age)));
                let last_logon = (u.last_logon > 0)
                    .then(|| DateTime::from_timestamp(i64::from(u.last_logon), 0))
                    .flatten();
                json!({
                    "Name": u.name,
                    "SID": { "Value": u.sid },
                    "Enabled": u.enabled,
                    "PasswordLastSet": ps_date(set),
                    "LastLogon": ps_date(last_logon),
                    "Description": u.comment,
                })
            })
            .collect(),
    )
}

pub struct ShareRecord {
    pub name: String,
    pub path: String,
    pub remark: String,
    /// `shi2_type` (STYPE_*; 0x80000000 marks the administrative shares).
    pub kind: u32,
}

/// As `Get-SmbShare | Select-Object Name,Path,Description,ShareState,
/// ShareType,Special`: a share `NetShareEnum` lists is online.
pub fn shares_json(shares: &[ShareRecord]) -> String {
    array(
        shares
            .iter()
            .map(|s| {
                json!({
                    "Name": s.name,
                    "Path": s.path,
                    "Description": s.remark,
                    "ShareState": 1,
                    "ShareType": s.kind,
                    "Special": s.kind & 0x8000_0000 != 0,
                })
            })
            .collect(),
    )
}

pub struct AdapterRecord {
    pub alias: String,
    pub index: u32,
    pub ipv4: Vec<String>,
    pub gateways: Vec<String>,
    pub dns: Vec<String>,
}

/// As the recorded `Get-NetIPConfiguration` projection (see collectors.rs).
pub fn ipconfig_json(adapters: &[AdapterRecord]) -> String {
    array(
        adapters
            .iter()
            .map(|a| {
                json!({
                    "InterfaceAlias": a.alias,
                    "InterfaceIndex": a.index,
                    "IPv4Address": a.ipv4,
                    "IPv4DefaultGateway": a.gateways,
                    "DNSServer": a.dns,
                })
            })
            .collect(),
    )
}

/// A registry value as `reg query` prints it.
pub enum RegValue {
    Text(String),
    Dword(u32),
}

/// Long root names, as `reg query` prints the key.
pub fn long_root(key: &str) -> String {
    let (root, rest) = key.split_once('\\').unwrap_or((key, ""));
    let root = match root.to_ascii_uppercase().as_str() {
        "HKU" => "HKEY_USERS",
        "HKCU" => "HKEY_CURRENT_USER",
        "HKLM" => "HKEY_LOCAL_MACHINE",
        _ => return key.to_owned(),
    };
    if rest.is_empty() {
        root.to_owned()
    } else {
        format!("{root}\\{rest}")
    }
}

/// As `reg query "<key>"`: the key, then one indented line per value.
pub fn reg_query_text(key: &str, values: &[(String, RegValue)]) -> String {
    let mut out = format!("\r\n{}\r\n", long_root(key));
    for (name, value) in values {
        let (kind, data) = match value {
            RegValue::Text(s) => ("REG_SZ", s.clone()),
            RegValue::Dword(d) => ("REG_DWORD", format!("{d:#x}")),
        };
        out.push_str(&format!("    {name}    {kind}    {data}\r\n"));
    }
    out.push_str("\r\n");
    out
}

/// UTF-16 (possibly NUL-terminated) to a Rust string.
pub fn wide_to_string(wide: &[u16]) -> String {
    let end = wide.iter().position(|&c| c == 0).unwrap_or(wide.len());
    String::from_utf16_lossy(&wide[..end])
}

#[cfg(test)]
mod tests {
    //! Each renderer is read back by the parser of the recorded command: the
    //! native path and the fixtures go through the same code.
    use super::*;
    use crate::probe::{accounts, cert, host, ipconfig, reader, shares};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn os_and_disk_read_back() {
        let os = OsRecord {
            computer_name: "ONSHI-PC03".into(),
            product_name: "Windows 10 Pro".into(),
            major: 10,
            minor: 0,
            build: 22631,
            boot_time: Some(at("2026-11-24T23:00:00Z")),
            now: at("2026-11-25T09:00:00Z"),
        };
        let facts = host::parse_win32_os(&os_json(&os)).unwrap();
        assert_eq!(facts.hostname, "ONSHI-PC03");
        assert_eq!(facts.os, "Microsoft Windows 11 Pro 10.0.22631");
        assert_eq!(facts.boot_time, Some(at("2026-11-24T23:00:00Z")));
        assert_eq!(caption("Windows 10 Pro", 19045), "Microsoft Windows 10 Pro");
        assert_eq!(
            host::parse_logical_disk(&disk_json("C:", 5, 10)).unwrap(),
            (5, 10)
        );
    }

    #[test]
    fn devices_read_back_with_status_and_presence() {
        let devices = [
            DeviceRecord {
                class: "Camera".into(),
                friendly_name: "顔認証カメラ".into(),
                instance_id: r"USB\VID_04C5&PID_1234\5&1".into(),
                manufacturer: "FUJITSU".into(),
                present: false,
                problem: None,
            },
            DeviceRecord {
                class: "USB".into(),
                friendly_name: "Reader".into(),
                instance_id: r"USB\VID_0BDA&PID_0001\1".into(),
                manufacturer: String::new(),
                present: true,
                problem: Some(43),
            },
        ];
        let back = reader::parse_pnp(&pnp_json(&devices)).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].name, "顔認証カメラ");
        assert_eq!(
            (back[0].present, back[0].status.as_str()),
            (false, "Unknown")
        );
        assert_eq!((back[1].present, back[1].status.as_str()), (true, "Error"));
        assert_eq!(pnp_status(true, Some(0)), "OK");
    }

    #[test]
    fn processes_and_services_read_back() {
        let csv = tasklist_csv(&[("FaceAuth.exe".into(), 4120), ("a\"b.exe".into(), 1)]);
        assert_eq!(reader::parse_tasklist(&csv), vec!["faceauth.exe", "ab.exe"]);
        let services = reader::parse_services(&services_json(&[ServiceRecord {
            name: "OQSDistroService".into(),
            display_name: "OQS".into(),
            state: 4,
        }]))
        .unwrap();
        assert!(services[0].running);
    }

    #[test]
    fn certificates_read_back_with_windows_names() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        // Encoded C, O, CN (rcgen's default name has a CN already).
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CountryName, "JP");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Onshi, Clinic");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "1312345680");
        params.not_after = rcgen::date_time_ymd(2027, 3, 31);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x2D, 0x9E, 0x01]));
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let json = certs_json(&[
            CertRecord {
                store: r"LocalMachine\My".into(),
                der: der.clone(),
                friendly_name: "オン資".into(),
                has_private_key: true,
            },
            CertRecord {
                store: r"LocalMachine\My".into(),
                der: vec![1, 2, 3],
                friendly_name: String::new(),
                has_private_key: false,
            },
        ]);
        let back = cert::parse_store(&json).unwrap();
        assert_eq!(back[0].store, r"LocalMachine\My");
        assert_eq!(back[0].subject, "CN=1312345680, O=\"Onshi, Clinic\", C=JP");
        assert_eq!(back[0].serial, "2D9E01");
        assert_eq!(back[0].friendly_name, "オン資");
        assert_eq!(
            back[0].not_after.map(|t| t.date_naive().to_string()),
            Some("2027-03-31".into())
        );
        assert_eq!(back[1].subject, "", "unparsable certificate still listed");
        assert_eq!(
            thumbprint(b"abc"),
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
        // 支払基金 as BMPString and as UniversalString.
        let bmp: Vec<u8> = "支払基金"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(decode_wide_string(30, &bmp).as_deref(), Some("支払基金"));
        let utf32: Vec<u8> = "支払"
            .chars()
            .flat_map(|c| (c as u32).to_be_bytes())
            .collect();
        assert_eq!(decode_wide_string(28, &utf32).as_deref(), Some("支払"));
        assert_eq!(decode_wide_string(4, b"x"), None);
    }

    #[test]
    fn users_read_back_with_password_age_as_a_date() {
        let now = at("2026-11-25T09:00:30Z");
        let json = users_json(
            &[
                UserRecord {
                    name: "onshi".into(),
                    sid: "S-1-5-21-1-2-3-1001".into(),
                    enabled: true,
                    password_age_secs: Some(86_400),
                    last_logon: 1_795_600_000,
                    comment: String::new(),
                },
                UserRecord {
                    name: "must-change".into(),
                    sid: "S-1-5-21-1-2-3-1002".into(),
                    enabled: true,
                    password_age_secs: None,
                    last_logon: 0,
                    comment: String::new(),
                },
            ],
            now,
        );
        let users = accounts::parse_local_users(&json).unwrap();
        assert_eq!(users[0].sid, "S-1-5-21-1-2-3-1001");
        assert!(users[0].enabled);
        assert_eq!(users[0].password_last_set, Some(at("2026-11-24T09:00:30Z")));
        assert_eq!(
            users[0].last_logon,
            DateTime::from_timestamp(1_795_600_000, 0)
        );
        assert_eq!(
            (users[1].password_last_set, users[1].last_logon),
            (None, None)
        );
    }

    #[test]
    fn shares_adapters_and_registry_read_back() {
        let list = shares::parse_smb_shares(&shares_json(&[
            ShareRecord {
                name: "face".into(),
                path: r"C:\OQS\face".into(),
                remark: String::new(),
                kind: 0,
            },
            ShareRecord {
                name: "C$".into(),
                path: r"C:\".into(),
                remark: "Default share".into(),
                kind: 0x8000_0000,
            },
        ]))
        .unwrap();
        assert_eq!((list[0].name.as_str(), list[0].online), ("face", true));

        let ip = ipconfig::parse_windows(&ipconfig_json(&[AdapterRecord {
            alias: "イーサネット".into(),
            index: 12,
            ipv4: vec!["10.51.1.2".into()],
            gateways: vec!["10.51.1.1".into()],
            dns: vec!["10.51.1.1".into(), "fec0:0:0:ffff::1".into()],
        }]))
        .unwrap();
        assert_eq!(ip.gateway, "10.51.1.1");
        assert_eq!(ip.addresses, vec!["10.51.1.2"]);

        let text = reg_query_text(
            r"HKU\S-1-5-21-1\Control Panel\Desktop",
            &[
                ("ScreenSaveActive".into(), RegValue::Text("1".into())),
                (
                    "SCRNSAVE.EXE".into(),
                    RegValue::Text(r"C:\Windows\system32\scrnsave.scr".into()),
                ),
                ("PaintDesktopVersion".into(), RegValue::Dword(0)),
            ],
        );
        assert!(text.contains("HKEY_USERS\\S-1-5-21-1\\Control Panel\\Desktop\r\n"));
        let values = host::parse_reg_query(&text);
        assert_eq!(values["screensaveactive"], "1");
        assert_eq!(values["scrnsave.exe"], r"C:\Windows\system32\scrnsave.scr");
        assert_eq!(values["paintdesktopversion"], "0x0");
        assert_eq!(wide_to_string(&[104, 105, 0, 120]), "hi");
    }
}
