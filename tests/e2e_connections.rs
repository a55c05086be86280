//! End to end: the gRPC port cannot be held by whoever connects. Real server
//! binary, real TLS, real sockets on loopback.

mod common;

use std::time::{Duration, Instant};

use common::{Server, TestDb, batch, report};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// Upper bound for the server to act; a bound on a wait, not a measurement.
const PATIENCE: Duration = Duration::from_secs(60);

async fn metrics(server: &Server) -> String {
    reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of one sample, e.g. `onshi_grpc_connections` or
/// `onshi_tls_handshake_failures_total{reason="timeout"}`.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Polls `/metrics` until `name` has `value`.
async fn wait_for_metric(server: &Server, name: &str, value: f64) {
    wait_for_sample(server, name, &format!("{value}"), |v| v == value).await
}

/// Polls `/metrics` until the sample `name` satisfies `ok`.
async fn wait_for_sample(server: &Server, name: &str, what: &str, ok: impl Fn(f64) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = metrics(server).await;
        if sample(&text, name).is_some_and(&ok) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never became {what}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads until the server closes the socket (EOF or reset); false if it
/// stays open past `PATIENCE`.
async fn closed_by_server(socket: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let read_to_end = async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // e.g. a TLS alert before the close
            }
        }
    };
    tokio::time::timeout(PATIENCE, read_to_end).await.is_ok()
}

async fn idle_sockets(server: &Server, n: usize) -> Vec<TcpStream> {
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        sockets.push(TcpStream::connect(&server.grpc_addr).await.unwrap());
    }
    sockets
}

/// A client certificate from a CA that is not the server's.
fn foreign_identity() -> Identity {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "agt-foreign");
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    Identity::from_pem(cert.pem(), key.serialize_pem())
}

/// A channel with the identity in `identity_dir`, or `None` if the server
/// does not let it connect.
async fn try_channel(server: &Server, identity: Identity) -> Option<Channel> {
    let ca = std::fs::read_to_string(server.ca_pem_path()).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .identity(identity)
        .domain_name("localhost");
    Channel::from_shared(server.grpc_url())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .ok()
}

fn enrolled_identity(dir: &std::path::Path) -> Identity {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    Identity::from_pem(read("client.pem"), read("client.key"))
}

#[tokio::test]
async fn connections_that_never_finish_tls_are_closed_counted_and_logged() {
    let db = TestDb::new().await;
    let server = Server::start_with_args(&db.url, &["--tls-handshake-timeout", "1"]);

    let mut idle = idle_sockets(&server, 40).await;
    let mut garbage = TcpStream::connect(&server.grpc_addr).await.unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: onshi\r\n\r\n")
        .await
        .unwrap();
    let foreign = match try_channel(&server, foreign_identity()).await {
        None => true,
        Some(ch) => onshi_proto::v1::agent_service_client::AgentServiceClient::new(ch)
            .submit_reports(batch("agt-foreign", vec![report("agt-foreign", "s", 1)]))
            .await
            .is_err(),
    };
    assert!(foreign, "a client certificate from another CA is refused");

    for socket in &mut idle {
        assert!(closed_by_server(socket).await, "an idle socket stayed open");
    }
    assert!(
        closed_by_server(&mut garbage).await,
        "garbage was not closed"
    );

    let failures = "onshi_tls_handshake_failures_total";
    wait_for_metric(&server, &format!("{failures}{{reason=\"timeout\"}}"), 40.0).await;
    wait_for_metric(&server, &format!("{failures}{{reason=\"not_tls\"}}"), 1.0).await;
    // The client may try twice (TLS 1.3 reports the refusal after its side
    // of the handshake is done, so its call reconnects once).
    let foreign = format!("{failures}{{reason=\"client_certificate\"}}");
    wait_for_sample(&server, &foreign, "at least 1", |v| v >= 1.0).await;
    wait_for_metric(&server, "onshi_grpc_connections", 0.0).await;

    // Logged, but not one line per failure.
    assert!(server.wait_for_log("TLS handshake on the gRPC port failed"));
    let lines = server
        .log_text()
        .lines()
        .filter(|l| l.contains("TLS handshake on the gRPC port failed"))
        .count();
    assert!(
        lines < 10,
        "{lines} lines for 42 failures: not rate-limited"
    );

    // An enrolled agent is served as before.
    let (a, mut client, _identity) = server.enrolled_client("s-conn").await;
    let ack = client
        .submit_reports(batch(&a, vec![report(&a, "s-conn", 1)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.acked_seq, 1);
}

#[tokio::test]
async fn a_full_grpc_port_leaves_the_portal_serving_and_frees_up_again() {
    let db = TestDb::new().await;
    // A long handshake timeout: the idle sockets stay until the test drops them.
    let server = Server::start_with_args(
        &db.url,
        &[
            "--max-grpc-connections",
            "20",
            "--tls-handshake-timeout",
            "600",
        ],
    );
    let state = tempfile::tempdir().unwrap();
    let agent = server.enroll("s-full", state.path());
    wait_for_metric(&server, "onshi_grpc_connections", 0.0).await;

    let idle = idle_sockets(&server, 30).await;
    wait_for_metric(&server, "onshi_grpc_connections", 20.0).await;
    wait_for_metric(&server, "onshi_grpc_connections_rejected_total", 10.0).await;

    // The portal answers while the gRPC port is full; an agent is turned away.
    let health = reqwest::get(server.http("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let turned_away = match try_channel(&server, enrolled_identity(state.path())).await {
        None => true,
        Some(ch) => onshi_proto::v1::agent_service_client::AgentServiceClient::new(ch)
            .submit_reports(batch(&agent, vec![report(&agent, "s-full", 1)]))
            .await
            .is_err(),
    };
    assert!(turned_away, "a connection over the cap is closed");
    assert!(server.wait_for_log("gRPC connection cap reached"));

    // Once the idle sockets are gone, the agent is served.
    drop(idle);
    wait_for_metric(&server, "onshi_grpc_connections", 0.0).await;
    let channel = try_channel(&server, enrolled_identity(state.path()))
        .await
        .expect("the agent connects once the port has room");
    let ack = onshi_proto::v1::agent_service_client::AgentServiceClient::new(channel)
        .submit_reports(batch(&agent, vec![report(&agent, "s-full", 1)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.acked_seq, 1);
}

#[tokio::test]
async fn a_connection_without_calls_is_closed_after_the_idle_timeout() {
    let db = TestDb::new().await;
    let server = Server::start_with_args(&db.url, &["--grpc-idle-timeout", "1"]);
    let (a, mut client, _identity) = server.enrolled_client("s-idle").await;
    let ack = client
        .submit_reports(batch(&a, vec![report(&a, "s-idle", 1)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.acked_seq, 1);

    // The client keeps its channel; the server closes the unused connection.
    wait_for_metric(&server, "onshi_grpc_connections", 0.0).await;

    // The channel reconnects for the next batch (an agent retries
    // UNAVAILABLE, which a call racing the close may get).
    let mut acked = None;
    for _ in 0..3 {
        match client
            .submit_reports(batch(&a, vec![report(&a, "s-idle", 2)]))
            .await
        {
            Ok(ack) => {
                acked = Some(ack.into_inner().acked_seq);
                break;
            }
            Err(status) => assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}"),
        }
    }
    assert_eq!(acked, Some(2));
}

/// `onshi-server serve` under an open-file limit of `limit` (soft and hard),
/// with the default connection cap. Returns the child and its addresses.
fn serve_with_open_file_limit(
    database_url: &str,
    data_dir: &std::path::Path,
    limit: u32,
) -> (ChildGuard, String, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
        .arg(common::bin("onshi-server"))
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env("DATABASE_URL", database_url)
        .env("ONSHI_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(data_dir.join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let guard = ChildGuard(child);
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert!(
        parts.len() == 4 && parts[0] == "grpc:",
        "server did not start: {line:?} {}",
        std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default()
    );
    (guard, parts[1].to_owned(), parts[3].to_owned())
}

struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_default_cap_keeps_descriptors_for_the_portal() {
    let db = TestDb::new().await;
    let data = tempfile::tempdir().unwrap();
    // 400 descriptors: the default cap is (400 - 256) / 2 = 72.
    let (_server, grpc, http) = serve_with_open_file_limit(&db.url, data.path(), 400);
    let mut sockets = Vec::new();
    for _ in 0..500 {
        sockets.push(TcpStream::connect(&grpc).await.unwrap());
    }
    let deadline = Instant::now() + PATIENCE;
    let text = loop {
        let text = reqwest::get(format!("http://{http}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let rejected = sample(&text, "onshi_grpc_connections_rejected_total");
        if rejected == Some(500.0 - 72.0) || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        sample(&text, "onshi_grpc_connections"),
        Some(72.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "onshi_grpc_connections_rejected_total"),
        Some(428.0),
        "{text}"
    );
    // 500 connection attempts on a process with 400 descriptors: the portal
    // still has its own.
    let health = reqwest::get(format!("http://{http}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(format!("http://{http}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200, "the database pool still connects");
    drop(sockets);
}
