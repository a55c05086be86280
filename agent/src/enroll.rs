//! `onshi-agent enroll`: make a key pair on this PC, send a CSR and the
//! one-time token to the server over TLS that verified the server, store the
//! client certificate. The private key never leaves the PC and is readable
//! only by the service account.

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use onshi_proto::v1 as pb;
use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::Digest;
use tonic::transport::{Certificate, ClientTlsConfig};

use crate::config::EnrollConfig;
use crate::fsutil::{Perms, write_atomically};
use crate::state::{Identity, StateFile};

pub async fn run(args: EnrollConfig) -> anyhow::Result<()> {
    let (endpoint, host) = crate::transport::server_endpoint(&args.server)?;
    let port = endpoint.uri().port_u16().unwrap_or(50051);
    let tls_name = args.tls_name.clone().unwrap_or(host.clone());
    let ca_pem = match (&args.ca_cert, &args.ca_fingerprint) {
        (Some(path), _) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --ca-cert {}", path.display()))?,
        (None, Some(fp)) => pin_ca(&host, port, &tls_name, fp).await?,
        (None, None) => bail!(
            "give --ca-fingerprint (shown with the token) or --ca-cert, so the token is never sent to an unverified server"
        ),
    };

    let key = KeyPair::generate()?;
    let csr = CertificateParams::new(Vec::<String>::new())?
        .serialize_request(&key)?
        .pem()?;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca_pem))
        .domain_name(tls_name);
    let channel = endpoint.tls_config(tls)?.connect().await.with_context(|| {
        format!(
            "cannot reach {} over TLS: check the URL, the network and the CA",
            args.server
        )
    })?;
    let mut client = pb::enrollment_service_client::EnrollmentServiceClient::new(channel);
    let response = client
        .enroll(pb::EnrollRequest {
            token: args.token.clone(),
            csr_pem: csr,
            hostname: hostname(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("enrolment refused: {}", s.message()))?
        .into_inner();

    std::fs::create_dir_all(&args.state_dir)?;
    let id = Identity::in_dir(&args.state_dir);
    write_atomically(&id.key, key.serialize_pem().as_bytes(), Perms::Private)?;
    write_atomically(
        &id.cert,
        response.certificate_pem.as_bytes(),
        Perms::Default,
    )?;
    write_atomically(&id.ca, response.ca_pem.as_bytes(), Perms::Default)?;
    let state_file = StateFile::new(&args.state_dir)?;
    let mut state = state_file.load_or_init(|| response.agent_id.clone())?;
    state.agent_id = response.agent_id.clone();
    state_file.save(&state)?;
    write_atomically(
        &args.state_dir.join("site_id"),
        response.site_id.as_bytes(),
        Perms::Default,
    )?;
    println!(
        "enrolled: agent {} for site {} (state directory {})",
        response.agent_id,
        response.site_id,
        args.state_dir.display()
    );
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Handshakes once without sending anything, and returns the CA from the
/// presented chain whose SHA-256 matches `fingerprint`.
async fn pin_ca(
    host: &str,
    port: u16,
    tls_name: &str,
    fingerprint: &str,
) -> anyhow::Result<String> {
    let wanted = fingerprint.trim().to_ascii_lowercase().replace(':', "");
    let seen = Arc::new(Mutex::new(Vec::<CertificateDer<'static>>::new()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Capture {
            seen: seen.clone(),
            provider,
        }))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .with_context(|| format!("cannot connect to {host}:{port}"))?;
    let name = ServerName::try_from(tls_name.to_owned())?;
    let _ = connector
        .connect(name, tcp)
        .await
        .context("TLS handshake with the server failed")?;
    let chain = seen
        .lock()
        .map_err(|_| anyhow::anyhow!("lock poisoned"))?
        .clone();
    for der in &chain {
        if hex::encode(sha2::Sha256::digest(der.as_ref())) == wanted {
            return Ok(pem::encode(&pem::Pem::new(
                "CERTIFICATE",
                der.as_ref().to_vec(),
            )));
        }
    }
    bail!(
        "the server's certificate chain does not contain a CA with fingerprint {wanted}: wrong server, or a copy error in --ca-fingerprint"
    )
}

/// Records the presented chain; trust is decided afterwards by fingerprint.
#[derive(Debug)]
struct Capture {
    seen: Arc<Mutex<Vec<CertificateDer<'static>>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(end_entity.clone().into_owned());
            seen.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        }
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
