//! Two server replicas on one database behind an L4 (TCP passthrough) balancer, as in
//! production (docs/SCALING.md): real agents spread over both; one replica is killed with
//! `kill -9` while they deliver. Its agents reconnect through the balancer to the other, and
//! nothing is lost, nothing doubled (issue 14 "Beyond one machine", issue 16 §2).

mod common;
mod faults;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Server, TestDb};
use faults::{Tally, flush_for, spawn_agent_for};
use tokio::net::{TcpListener, TcpStream};

/// Round-robin TCP passthrough to the replicas that accept a connection (mTLS ends at the
/// server, as behind a production L4 balancer).
struct Balancer {
    addr: String,
    handled: Arc<[AtomicUsize; 2]>,
}

impl Balancer {
    async fn start(backends: [String; 2]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let handled: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let counts = handled.clone();
        tokio::spawn(async move {
            let next = AtomicUsize::new(0);
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let first = next.fetch_add(1, Ordering::Relaxed);
                let backends = backends.clone();
                let counts = counts.clone();
                tokio::spawn(async move {
                    for k in 0..2 {
                        let i = (first + k) % 2;
                        if let Ok(mut server) = TcpStream::connect(&backends[i]).await {
                            counts[i].fetch_add(1, Ordering::Relaxed);
                            let mut client = client;
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            return;
                        }
                    }
                });
            }
        });
        Balancer { addr, handled }
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

async fn ingested(server: &Server) -> f64 {
    let Ok(resp) = reqwest::get(server.http("/metrics")).await else {
        return 0.0;
    };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .find_map(|l| {
            l.strip_prefix("onshi_reports_ingested_total ")?
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_mid_load_loses_and_doubles_nothing() {
    let db = TestDb::new().await;
    let mut a = Server::start(&db.url);
    // The second replica gets the same CA (as replicas mount the same secret).
    let dir_b = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir_b.path().join("pki")).unwrap();
    for f in ["ca.pem", "ca.key"] {
        std::fs::copy(
            a.data_dir.path().join("pki").join(f),
            dir_b.path().join("pki").join(f),
        )
        .unwrap();
    }
    let b = Server::start_with(&db.url, "127.0.0.1:0", dir_b);
    let balancer = Balancer::start([a.grpc_addr.clone(), b.grpc_addr.clone()]).await;

    let root = tempfile::tempdir().unwrap();
    let sites = ["replica-1", "replica-2", "replica-3", "replica-4"];
    let mut agents = Vec::new();
    for site in sites {
        let state = root.path().join(site).join("state");
        let agent_id = a.enroll(site, &state);
        let log = root.path().join(format!("{site}.log"));
        let agent = spawn_agent_for(
            site,
            &balancer.url(),
            &state,
            &log,
            "0.05",
            &["--max-backoff", "1"],
        );
        agents.push((site, agent_id, state, agent));
    }

    // Both replicas serve before one dies.
    let deadline = Instant::now() + Duration::from_secs(60);
    while ingested(&a).await < 5.0 || ingested(&b).await < 5.0 {
        assert!(
            Instant::now() < deadline,
            "both replicas should take reports"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.kill9();
    let after_kill = ingested(&b).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while ingested(&b).await < after_kill + 40.0 {
        assert!(
            Instant::now() < deadline,
            "the surviving replica should take the load"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let pool = db.pool().await;
    let stopped = AtomicBool::new(true);
    for (site, agent_id, state, mut agent) in agents {
        stopped.fetch_and(agent.terminate(), Ordering::Relaxed);
        flush_for(site, &balancer.url(), &state);
        let t = Tally::of(&pool, &agent_id, &state).await;
        t.check(&format!("replica kill -9 ({site})"));
        assert_eq!(t.counted, 0, "{site}: a replica's death loses nothing");
    }
    assert!(stopped.load(Ordering::Relaxed), "SIGTERM ignored");
    assert!(
        balancer.handled[0].load(Ordering::Relaxed) > 0
            && balancer.handled[1].load(Ordering::Relaxed) > 0,
        "agents were spread over both replicas"
    );
    drop(b);
}
