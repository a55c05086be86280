//! The オン資 client certificate: subject, issuer, serial and expiry from the
//! Windows certificate store (`Get-ChildItem Cert:\...\My`) or from a
//! certificate file (`--cert-file`, PEM or DER); and whether the file placed
//! on the desktop at installation is still there (guide 1-7-2). Only public
//! certificate fields are read; a private key or a .p12 is never opened.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ps;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CertInfo {
    /// "store:LocalMachine\My", "file:/path" ...
    pub source: String,
    pub present: bool,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_after: Option<DateTime<Utc>>,
    pub days_left: Option<i64>,
    /// None when the desktop was not looked at (Linux without --cert-file).
    pub desktop_file_present: Option<bool>,
    /// Names of the certificate files found on the desktop.
    pub desktop_files: Vec<String>,
    pub backup_confirmed: bool,
    pub error: String,
}

impl CertInfo {
    fn empty(source: String) -> Self {
        CertInfo {
            source,
            present: false,
            subject: String::new(),
            issuer: String::new(),
            serial: String::new(),
            not_after: None,
            days_left: None,
            desktop_file_present: None,
            desktop_files: Vec::new(),
            backup_confirmed: false,
            error: String::new(),
        }
    }
}

/// The certificate file at `path` (missing file: `present = false`).
pub fn from_file(path: &str, read: Result<Vec<u8>, String>, now: DateTime<Utc>) -> CertInfo {
    match read {
        Ok(bytes) => parse(path, &bytes, now),
        Err(e) => CertInfo {
            error: e,
            ..CertInfo::empty(format!("file:{path}"))
        },
    }
}

/// Parses a PEM or DER certificate.
pub fn parse(path: &str, bytes: &[u8], now: DateTime<Utc>) -> CertInfo {
    let mut info = CertInfo {
        present: true,
        ..CertInfo::empty(format!("file:{path}"))
    };
    let der = match x509_parser::pem::parse_x509_pem(bytes) {
        Ok((_, pem)) => pem.contents,
        Err(_) => bytes.to_vec(),
    };
    match x509_parser::parse_x509_certificate(&der) {
        Ok((_, cert)) => {
            info.subject = cert.subject().to_string();
            info.issuer = cert.issuer().to_string();
            info.serial = cert.raw_serial_as_string();
            info.not_after = DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0);
            info.days_left = info.not_after.map(|t| (t - now).num_days());
        }
        Err(e) => info.error = format!("not an X.509 certificate: {e}"),
    }
    info
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreCert {
    pub store: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub friendly_name: String,
    pub not_after: Option<DateTime<Utc>>,
}

/// `Get-ChildItem Cert:\LocalMachine\My | Select-Object Subject,Issuer,
/// SerialNumber,NotBefore,NotAfter,Thumbprint,FriendlyName,HasPrivateKey |
/// ConvertTo-Json`, optionally with a `PSParentPath`/`Store` column when
/// several stores are listed together.
pub fn parse_store(text: &str) -> Result<Vec<StoreCert>, String> {
    Ok(ps::items(text)?
        .iter()
        .map(|v| {
            let parent = ps::text(v, "PSParentPath");
            let store = parent.rsplit("::").next().unwrap_or_default().to_owned();
            StoreCert {
                store: if store.is_empty() {
                    ps::text(v, "Store")
                } else {
                    store
                },
                subject: ps::text(v, "Subject"),
                issuer: ps::text(v, "Issuer"),
                serial: ps::text(v, "SerialNumber"),
                friendly_name: ps::text(v, "FriendlyName"),
                not_after: ps::date(v, "NotAfter"),
            }
        })
        .collect())
}

/// The オン資 certificate among the store's: one whose subject, issuer or
/// friendly name contains a pattern; the one valid longest when renewed
/// certificates sit side by side.
pub fn pick<'a>(certs: &'a [StoreCert], patterns: &[String]) -> Option<&'a StoreCert> {
    let hit = |c: &StoreCert| {
        patterns.iter().any(|p| {
            let p = p.to_lowercase();
            !p.is_empty()
                && [&c.subject, &c.issuer, &c.friendly_name]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&p))
        })
    };
    certs.iter().filter(|c| hit(c)).max_by_key(|c| c.not_after)
}

pub fn from_store(certs: &[StoreCert], patterns: &[String], now: DateTime<Utc>) -> CertInfo {
    match pick(certs, patterns) {
        Some(c) => CertInfo {
            present: true,
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            serial: c.serial.clone(),
            not_after: c.not_after,
            days_left: c.not_after.map(|t| (t - now).num_days()),
            ..CertInfo::empty(format!("store:{}", c.store))
        },
        None => CertInfo {
            error: format!("no certificate in the store matches {patterns:?}"),
            ..CertInfo::empty("store".into())
        },
    }
}

/// Certificate files among a desktop folder's entries, by extension.
pub fn desktop_files(entries: &[String], extensions: &[String]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|p| {
            let name = p.rsplit(['\\', '/']).next().unwrap_or(p);
            let ext = name.rsplit_once('.').map(|(_, e)| e.to_lowercase())?;
            extensions
                .iter()
                .any(|x| x.eq_ignore_ascii_case(&ext))
                .then(|| name.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A self-signed certificate, not after 2027-12-30T12:05:12Z (made once with `openssl req -x509 -days 400`).
    const PEM: &str = include_str!("../../tests/fixtures/client-cert.pem");

    #[test]
    fn reads_expiry_from_pem() {
        let now: DateTime<Utc> = "2026-11-25T00:00:00Z".parse().unwrap();
        let info = parse("x.pem", PEM.as_bytes(), now);
        assert!(info.error.is_empty(), "{}", info.error);
        assert_eq!(
            info.not_after.unwrap().to_rfc3339(),
            "2027-12-30T12:05:12+00:00"
        );
        assert_eq!(info.days_left, Some(400));
        assert!(info.subject.contains("Onshi Test Clinic"));
    }

    #[test]
    fn garbage_is_reported_not_panicked() {
        let info = parse("x.pem", b"not a certificate", Utc::now());
        assert!(info.present);
        assert!(info.error.contains("not an X.509"));
        let missing = from_file("/x.pem", Err("No such file".into()), Utc::now());
        assert!(!missing.present);
    }

    #[test]
    fn picks_the_longest_valid_matching_certificate() {
        let c = |subject: &str, year: i32| StoreCert {
            store: "LocalMachine\\My".into(),
            subject: subject.into(),
            issuer: "CN=Cybertrust Japan Managed PKI CA".into(),
            serial: year.to_string(),
            friendly_name: String::new(),
            not_after: format!("{year}-01-01T00:00:00Z").parse().ok(),
        };
        let mut other = c("CN=printer", 2030);
        other.issuer = "CN=Contoso".into();
        let certs = [c("CN=1312345678", 2025), c("CN=1312345678", 2026), other];
        let patterns = vec!["cybertrust".to_owned()];
        assert_eq!(pick(&certs, &patterns).unwrap().serial, "2026");
        let now: DateTime<Utc> = "2025-12-01T00:00:00Z".parse().unwrap();
        assert_eq!(from_store(&certs, &patterns, now).days_left, Some(31));
        assert!(!from_store(&certs, &["nothing".into()], now).present);
    }

    #[test]
    fn desktop_certificate_files_by_extension() {
        let entries = vec![
            r"C:\Users\Public\Desktop\1312345678.P12".to_owned(),
            r"C:\Users\Public\Desktop\資格確認.lnk".to_owned(),
            r"C:\Users\Public\Desktop\README".to_owned(),
        ];
        assert_eq!(
            desktop_files(&entries, &["p12".into(), "pfx".into()]),
            ["1312345678.P12"]
        );
    }
}
