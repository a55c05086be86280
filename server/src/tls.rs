//! The server's internal CA and its TLS certificate for the gRPC port.
//!
//! On first start the server generates a CA (`pki/ca.pem`, `pki/ca.key`, key
//! 0600) and a server certificate signed by it. Agents verify the server with
//! `ca.pem` (or its SHA-256 fingerprint). The same CA will sign agents' client
//! certificates at enrolment (mTLS, issue 4), so nothing here is demo-only.

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::error::Error;

pub struct Pki {
    pub dir: PathBuf,
    pub ca_cert_pem: String,
    ca_key_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

impl Pki {
    /// Loads the CA from `dir`, creating it on first use, and issues a fresh
    /// server certificate for `sans` (so adding a name needs only a restart).
    pub fn load_or_create(dir: &Path, sans: &[String]) -> Result<Self, Error> {
        std::fs::create_dir_all(dir)?;
        let ca_cert_path = dir.join("ca.pem");
        let ca_key_path = dir.join("ca.key");
        let (ca_cert_pem, ca_key_pem) = if ca_cert_path.exists() && ca_key_path.exists() {
            (
                std::fs::read_to_string(&ca_cert_path)?,
                std::fs::read_to_string(&ca_key_path)?,
            )
        } else {
            let (cert, key) = new_ca().map_err(tls_err)?;
            write_private(&ca_key_path, &key)?;
            std::fs::write(&ca_cert_path, &cert)?;
            tracing::info!(path = %ca_cert_path.display(), "created internal CA");
            (cert, key)
        };
        let mut pki = Self {
            dir: dir.to_owned(),
            ca_cert_pem,
            ca_key_pem,
            server_cert_pem: String::new(),
            server_key_pem: String::new(),
        };
        let (cert, key) = pki.issue_server_cert(sans).map_err(tls_err)?;
        write_private(&dir.join("server.key"), &key)?;
        std::fs::write(dir.join("server.pem"), &cert)?;
        pki.server_cert_pem = cert;
        pki.server_key_pem = key;
        Ok(pki)
    }

    /// Loads an existing CA (to issue agent identities) without issuing a server certificate:
    /// the load generator next to running servers that share the directory.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        Ok(Self {
            dir: dir.to_owned(),
            ca_cert_pem: std::fs::read_to_string(dir.join("ca.pem"))?,
            ca_key_pem: std::fs::read_to_string(dir.join("ca.key"))?,
            server_cert_pem: String::new(),
            server_key_pem: String::new(),
        })
    }

    fn issuer(&self) -> Result<Issuer<'static, KeyPair>, rcgen::Error> {
        let key = KeyPair::from_pem(&self.ca_key_pem)?;
        Issuer::from_ca_cert_pem(&self.ca_cert_pem, key)
    }

    fn issue_server_cert(&self, extra_sans: &[String]) -> Result<(String, String), rcgen::Error> {
        let mut names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        names.extend(extra_sans.iter().filter(|s| !s.is_empty()).cloned());
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName(n.clone().try_into()?)),
            })
            .collect::<Result<_, rcgen::Error>>()?;
        params
            .distinguished_name
            .push(DnType::CommonName, "onshi-server");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Onshi Fleet");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(397);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer()?)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// A certificate issued to an agent.
pub struct IssuedCert {
    pub pem: String,
    pub not_after: chrono::DateTime<chrono::Utc>,
    pub serial: String,
}

/// Agent certificates are short-lived and renewed automatically (issue 4).
pub const AGENT_CERT_DAYS: i64 = 30;

impl Pki {
    /// SHA-256 of the CA certificate (DER), hex: what `onshi-agent enroll
    /// --ca-fingerprint` checks before it sends its token.
    pub fn ca_fingerprint(&self) -> String {
        fingerprint(&self.ca_cert_pem)
    }

    /// Signs an agent's CSR. Only the public key is taken from the CSR: the
    /// subject (CN = agent id), usages and validity are ours, so an agent
    /// cannot ask for another identity.
    pub fn sign_agent_csr(&self, csr_pem: &str, agent_id: &str) -> Result<IssuedCert, Error> {
        let csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| {
            Error::InvalidArgument(format!("CSR is not a valid PEM certificate request: {e}"))
        })?;
        let mut params = agent_params(agent_id).map_err(tls_err)?;
        let serial: [u8; 16] = rand::random();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let not_after = params.not_after;
        let cert = params
            .signed_by(&csr.public_key, &self.issuer().map_err(tls_err)?)
            .map_err(tls_err)?;
        Ok(IssuedCert {
            pem: cert.pem(),
            not_after: chrono::DateTime::from_timestamp(not_after.unix_timestamp(), 0)
                .unwrap_or_default(),
            serial: hex::encode(serial),
        })
    }

    /// Key and certificate for an in-process agent (the demo fleet).
    pub fn issue_agent_identity(&self, agent_id: &str) -> Result<(String, IssuedCert), Error> {
        let key = KeyPair::generate().map_err(tls_err)?;
        let csr = CertificateParams::new(Vec::<String>::new())
            .and_then(|p| p.serialize_request(&key))
            .and_then(|c| c.pem())
            .map_err(tls_err)?;
        Ok((key.serialize_pem(), self.sign_agent_csr(&csr, agent_id)?))
    }
}

fn agent_params(agent_id: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, agent_id);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Onshi Fleet agent");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(AGENT_CERT_DAYS);
    Ok(params)
}

/// The agent id in a client certificate (its CN), as verified by TLS.
pub fn agent_id_from_cert(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_owned();
    Some(cn)
}

/// SHA-256 (hex) of the first certificate in a PEM text, over its DER.
pub fn fingerprint(cert_pem: &str) -> String {
    use sha2::Digest;
    let der = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
        .map(|(_, pem)| pem.contents)
        .unwrap_or_default();
    hex::encode(sha2::Sha256::digest(der))
}

fn new_ca() -> Result<(String, String), rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "Onshi Fleet internal CA");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Onshi Fleet");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(3650);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes a private key readable only by the service account.
fn write_private(path: &Path, pem: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(tmp, path)
}

fn tls_err(e: rcgen::Error) -> Error {
    Error::Other(anyhow::anyhow!("TLS certificate generation failed: {e}"))
}
