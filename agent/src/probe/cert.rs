//! The オン資 client certificate file: subject, issuer, serial, expiry.
//! Only public certificate fields are read; a private key is never opened.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CertInfo {
    pub path: String,
    pub present: bool,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_after: Option<DateTime<Utc>>,
    pub days_left: Option<i64>,
    pub error: String,
}

pub fn collect(path: &Path) -> CertInfo {
    match std::fs::read(path) {
        Ok(bytes) => parse(&path.display().to_string(), &bytes, Utc::now()),
        Err(e) => CertInfo {
            path: path.display().to_string(),
            present: false,
            subject: String::new(),
            issuer: String::new(),
            serial: String::new(),
            not_after: None,
            days_left: None,
            error: e.to_string(),
        },
    }
}

/// Parses a PEM or DER certificate.
pub fn parse(path: &str, bytes: &[u8], now: DateTime<Utc>) -> CertInfo {
    let mut info = CertInfo {
        path: path.to_owned(),
        present: true,
        subject: String::new(),
        issuer: String::new(),
        serial: String::new(),
        not_after: None,
        days_left: None,
        error: String::new(),
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
    }
}
