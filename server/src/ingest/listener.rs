//! The gRPC port's accept loop, so that nobody who merely connects can hold
//! it: a cap on open connections (over it, a new one is closed at once), a
//! TLS handshake timeout, failed handshakes counted and logged (rate-limited),
//! and accept errors such as EMFILE backed off instead of spun on. The result
//! is the stream of `AgentConn`s that tonic's `serve_with_incoming` serves.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::Stream;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use super::conn::AgentConn;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::tls::Pki;

/// How often at most one warning of a kind is logged.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// File descriptors kept for everything but gRPC connections (database pool,
/// HTTP listener and its connections, logs, the private cluster's pipes).
const RESERVED_FDS: u64 = 256;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Writes at most one line per period and says how many it held back.
#[derive(Debug)]
pub struct LogEvery {
    period: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogEvery {
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(suppressed since the last line)` when a line may be written now.
    pub fn allow(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (last, suppressed) = &mut *state;
        if last.is_some_and(|t| now.duration_since(t) < self.period) {
            *suppressed += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(suppressed))
    }
}

/// Open connections against the cap; a `Slot` is one of them.
#[derive(Clone)]
struct Slots {
    open: Arc<AtomicUsize>,
    max: usize,
    metrics: Metrics,
}

pub struct Slot {
    open: Arc<AtomicUsize>,
    metrics: Metrics,
}

impl Slots {
    fn try_take(&self) -> Option<Slot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()?;
        self.metrics.grpc_connections.inc();
        Some(Slot {
            open: self.open.clone(),
            metrics: self.metrics.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.metrics.grpc_connections.dec();
    }
}

/// The server's TLS configuration: our certificate with the CA in the chain
/// (so that `enroll --ca-fingerprint` can find and pin it), client
/// certificates verified against our CA when presented, and optional at the
/// TLS layer only so that a PC without one can enrol; every other call
/// requires one (`enrol::service::peer_agent_id`).
pub fn tls_config(pki: &Pki) -> Result<Arc<rustls::ServerConfig>, Error> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        Error::Other(anyhow::anyhow!(
            "{what}: {e}; delete the pki/ directory to make new ones"
        ))
    };
    let ca: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.ca_cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| bad("unreadable CA certificate", &e))?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(ca.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(|e| bad("client certificate verifier", &e))?;
    let mut chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| bad("unreadable server certificate", &e))?;
    chain.extend(ca);
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes())
        .map_err(|e| bad("unreadable server key", &e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("TLS versions", &e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| bad("server certificate", &e))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// What the accept loop shares with each connection's handshake task.
struct Accepting {
    acceptor: TlsAcceptor,
    limits: Limits,
    metrics: Metrics,
    tx: mpsc::Sender<AgentConn>,
    /// Rate-limited warnings, one budget per kind.
    handshake_log: LogEvery,
    rejected_log: LogEvery,
    accept_log: LogEvery,
}

/// Starts accepting on `listener`; the loop ends when tonic drops the stream.
pub fn incoming(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    limits: Limits,
    metrics: Metrics,
) -> impl Stream<Item = Result<AgentConn, io::Error>> {
    let (tx, mut rx) = mpsc::channel(64);
    let shared = Arc::new(Accepting {
        acceptor: TlsAcceptor::from(tls),
        limits,
        metrics,
        tx,
        handshake_log: LogEvery::new(LOG_EVERY),
        rejected_log: LogEvery::new(LOG_EVERY),
        accept_log: LogEvery::new(LOG_EVERY),
    });
    tokio::spawn(accept_loop(listener, shared));
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|c| c.map(Ok)))
}

async fn accept_loop(listener: TcpListener, shared: Arc<Accepting>) {
    let slots = Slots {
        open: Arc::default(),
        max: shared.limits.max_connections,
        metrics: shared.metrics.clone(),
    };
    let mut pause = Backoff::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shared.tx.closed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if per_connection(&e) => continue,
            Err(e) => {
                // Out of file descriptors or memory: wait for some to free up
                // instead of spinning; the HTTP listener keeps its own.
                let wait = pause.next();
                if let Some(suppressed) = shared.accept_log.allow(Instant::now()) {
                    tracing::error!(error = %e, ?wait, suppressed, "gRPC accept failed; pausing");
                }
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        pause = Backoff::default();
        let Some(slot) = slots.try_take() else {
            shared.metrics.grpc_connections_rejected.inc();
            if let Some(suppressed) = shared.rejected_log.allow(Instant::now()) {
                tracing::warn!(
                    %peer, max = shared.limits.max_connections, suppressed,
                    "gRPC connection cap reached; closing new connections (see --max-grpc-connections)"
                );
            }
            drop(stream);
            continue;
        };
        configure(&stream);
        tokio::spawn(handshake(stream, peer, slot, shared.clone()));
    }
}

async fn handshake(stream: TcpStream, peer: SocketAddr, slot: Slot, shared: Arc<Accepting>) {
    let limits = shared.limits;
    let (reason, error) = match tokio::time::timeout(
        limits.handshake_timeout,
        shared.acceptor.accept(stream),
    )
    .await
    {
        Ok(Ok(tls)) => {
            let conn = AgentConn::new(tls, slot, limits.idle_timeout);
            let _ = shared.tx.send(conn).await;
            return;
        }
        Ok(Err(e)) => (failure_reason(&e), e.to_string()),
        Err(_) => (
            "timeout",
            format!("no handshake within {:?}", limits.handshake_timeout),
        ),
    };
    drop(slot);
    shared.metrics.handshake_failed(reason);
    if let Some(suppressed) = shared.handshake_log.allow(Instant::now()) {
        tracing::warn!(%peer, reason, %error, suppressed, "TLS handshake on the gRPC port failed");
    }
}

/// The `reason` label of `onshi_tls_handshake_failures_total`.
pub fn failure_reason(e: &io::Error) -> &'static str {
    use rustls::Error as Tls;
    match e.get_ref().and_then(|inner| inner.downcast_ref::<Tls>()) {
        Some(Tls::InvalidCertificate(_) | Tls::NoCertificatesPresented) => "client_certificate",
        // The client refused us, typically because it does not trust our CA.
        Some(Tls::AlertReceived(_)) => "alert",
        Some(
            Tls::InvalidMessage(_)
            | Tls::InappropriateMessage { .. }
            | Tls::InappropriateHandshakeMessage { .. }
            | Tls::PeerSentOversizedRecord,
        ) => "not_tls",
        Some(_) => "protocol",
        None => match e.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe => "closed",
            _ => "io",
        },
    }
}

/// Accept errors that concern one connection only: accept the next at once.
fn per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

fn configure(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    // Dead peers (a PC switched off mid-call) are found by the kernel too.
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10));
    let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive);
}

/// 50 ms doubling to 1 s.
#[derive(Debug, Default)]
struct Backoff(u32);

impl Backoff {
    fn next(&mut self) -> Duration {
        let wait = Duration::from_millis(50 << self.0.min(5)).min(Duration::from_secs(1));
        self.0 += 1;
        wait
    }
}

/// The cap used when `--max-grpc-connections` is not given: half of what
/// the open-file limit leaves after `RESERVED_FDS`, so that the HTTP port and
/// the database still get descriptors when the gRPC port is full. Each agent
/// keeps one connection (its interval is below the idle timeout), so the
/// fleet size needs the limit to match: deploy's `LimitNOFILE=262144` gives
/// 130,944.
pub fn default_max_connections(open_file_limit: u64) -> u64 {
    (open_file_limit.saturating_sub(RESERVED_FDS) / 2).max(8)
}

/// Raises the soft open-file limit to the hard one (as Go's runtime does)
/// and returns the soft limit in force.
pub fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read or write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_every_writes_one_line_per_period_with_the_count_held_back() {
        let log = LogEvery::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(log.allow(t0), Some(0));
        assert_eq!(log.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(log.allow(t0 + Duration::from_secs(9)), None);
        assert_eq!(log.allow(t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(log.allow(t0 + Duration::from_secs(11)), None);
        assert_eq!(log.allow(t0 + Duration::from_secs(30)), Some(1));
    }

    #[test]
    fn default_cap_stays_below_the_open_file_limit() {
        assert_eq!(default_max_connections(1024), 384);
        assert_eq!(default_max_connections(64), 8);
        assert_eq!(default_max_connections(262_144), 130_944);
        for limit in [300, 1024, 4096, 65_536] {
            assert!(default_max_connections(limit) + RESERVED_FDS / 2 < limit);
        }
    }

    #[test]
    fn handshake_failures_are_classified() {
        let tls = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
        let unknown_issuer =
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(failure_reason(&tls(unknown_issuer)), "client_certificate");
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA);
        assert_eq!(failure_reason(&tls(alert)), "alert");
        let garbage = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert_eq!(failure_reason(&tls(garbage)), "not_tls");
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(failure_reason(&eof), "closed");
    }

    #[test]
    fn accept_backoff_grows_to_a_second() {
        let mut b = Backoff::default();
        let waits: Vec<u128> = (0..7).map(|_| b.next().as_millis()).collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1000, 1000]);
    }
}
