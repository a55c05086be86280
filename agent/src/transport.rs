//! The gRPC channel to onshi-server: TLS that verifies the server with our
//! CA, and the agent's client certificate (mTLS) from enrolment. Renews the
//! certificate before it expires.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use onshi_proto::v1 as pb;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::state::Identity;
// tonic's name for a client certificate with its key.
use crate::fsutil::{Perms, write_atomically};
use tonic::transport::Identity as TlsIdentity;

/// Renew when less than this is left (certificates live 30 days).
const RENEW_BEFORE_DAYS: i64 = 10;

/// Where the server is and how to trust it.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub url: String,
    /// CA that signed the server certificate; default: the enrolled one.
    pub ca_cert: Option<PathBuf>,
    /// Name to verify in the server certificate; default: the URL's host.
    pub tls_name: Option<String>,
    /// Holds the client identity from enrolment.
    pub state_dir: PathBuf,
}

pub async fn channel(args: &ServerConfig) -> anyhow::Result<Channel> {
    let id = Identity::in_dir(&args.state_dir);
    complete_pending_renewal(&id)?;
    if !id.exists() {
        bail!(
            "this PC is not enrolled (no client certificate in {}): run `onshi-agent enroll --server URL --token TOKEN --ca-fingerprint FP` first",
            args.state_dir.display()
        );
    }
    let ca_path = args.ca_cert.clone().unwrap_or_else(|| id.ca.clone());
    let ca = std::fs::read_to_string(&ca_path).with_context(|| {
        format!(
            "cannot read CA certificate {} (--ca-cert)",
            ca_path.display()
        )
    })?;
    let cert = std::fs::read_to_string(&id.cert)
        .with_context(|| format!("cannot read {}", id.cert.display()))?;
    let key = std::fs::read_to_string(&id.key)
        .with_context(|| format!("cannot read {}", id.key.display()))?;
    let (endpoint, host) = server_endpoint(&args.url)?;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .identity(TlsIdentity::from_pem(cert, key))
        .domain_name(args.tls_name.clone().unwrap_or(host));
    Ok(endpoint
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        // Lazy: the agent starts (and spools) even while the server is down.
        .connect_lazy())
}

/// Parses `--server` and returns the endpoint with its host name (the
/// default TLS name).
pub fn server_endpoint(server: &str) -> anyhow::Result<(Endpoint, String)> {
    let endpoint = Endpoint::from_shared(server.to_owned())
        .with_context(|| format!("--server {server:?} is not a URL like https://host:50051"))?;
    let host = endpoint.uri().host().unwrap_or("localhost").to_owned();
    Ok((endpoint, host))
}

/// Finishes a renewal interrupted between its two renames (see
/// `renew_if_due`): both `.next` files were complete before the first one.
fn complete_pending_renewal(id: &Identity) -> std::io::Result<()> {
    let (key_next, cert_next) = (
        id.key.with_extension("next"),
        id.cert.with_extension("next"),
    );
    if key_next.exists() && cert_next.exists() {
        std::fs::rename(&key_next, &id.key)?;
    }
    if cert_next.exists() && !key_next.exists() {
        std::fs::rename(&cert_next, &id.cert)?;
    }
    Ok(())
}

/// The agent id the server put in the client certificate (its CN).
pub fn certificate_agent_id(state_dir: &Path) -> Option<String> {
    let pem = std::fs::read(Identity::in_dir(state_dir).cert).ok()?;
    let (_, parsed) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
    let cert = parsed.parse_x509().ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// Days until the client certificate expires, if it can be read.
pub fn days_left(state_dir: &Path) -> Option<i64> {
    let pem = std::fs::read(Identity::in_dir(state_dir).cert).ok()?;
    let (_, parsed) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
    let cert = parsed.parse_x509().ok()?;
    let not_after = cert.validity().not_after.timestamp();
    Some((not_after - chrono::Utc::now().timestamp()) / 86_400)
}

/// Renews the client certificate when it is due. Returns true when a new
/// certificate was stored (the caller then rebuilds its channel).
pub async fn renew_if_due(args: &ServerConfig, channel: Channel) -> anyhow::Result<bool> {
    match days_left(&args.state_dir) {
        Some(days) if days >= RENEW_BEFORE_DAYS => return Ok(false),
        None => return Ok(false),
        Some(_) => {}
    }
    let key = rcgen::KeyPair::generate()?;
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())?
        .serialize_request(&key)?
        .pem()?;
    let response = pb::enrollment_service_client::EnrollmentServiceClient::new(channel)
        .renew(pb::RenewRequest { csr_pem: csr })
        .await
        .map_err(|s| anyhow::anyhow!("certificate renewal refused: {}", s.message()))?
        .into_inner();
    let id = Identity::in_dir(&args.state_dir);
    // Both files are complete before either is renamed into place; a crash
    // between the renames is finished by `complete_pending_renewal`.
    write_atomically(
        &id.key.with_extension("next"),
        key.serialize_pem().as_bytes(),
        Perms::Private,
    )?;
    write_atomically(
        &id.cert.with_extension("next"),
        response.certificate_pem.as_bytes(),
        Perms::Default,
    )?;
    std::fs::rename(id.key.with_extension("next"), &id.key)?;
    std::fs::rename(id.cert.with_extension("next"), &id.cert)?;
    crate::fsutil::sync_dir(&id.cert);
    tracing::info!("client certificate renewed");
    Ok(true)
}
