//! TCP reachability and connect latency of network targets: the オン資
//! router, the オン資 network endpoints and any configured target.

use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct TargetResult {
    pub name: String,
    pub address: String,
    pub reachable: bool,
    pub latency_ms: Option<f64>,
    pub error: String,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub address: String,
    /// For a host check (the router): a refused connection proves the host
    /// answered, which is what matters.
    pub refused_is_up: bool,
}

pub async fn probe_all(targets: &[Target], timeout: Duration) -> Vec<TargetResult> {
    // Concurrently, so one dead target does not delay the others.
    futures_util::future::join_all(targets.iter().map(|t| probe(t, timeout))).await
}

async fn probe(t: &Target, timeout: Duration) -> TargetResult {
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&t.address)).await;
    let elapsed = || Some(started.elapsed().as_secs_f64() * 1000.0);
    let (reachable, latency_ms, error) = match outcome {
        Ok(Ok(_)) => (true, elapsed(), String::new()),
        Ok(Err(e)) if t.refused_is_up && e.kind() == std::io::ErrorKind::ConnectionRefused => {
            (true, elapsed(), "port closed (host answered)".to_owned())
        }
        Ok(Err(e)) => (false, None, e.to_string()),
        Err(_) => (
            false,
            None,
            format!("no answer within {} ms", timeout.as_millis()),
        ),
    };
    TargetResult {
        name: t.name.clone(),
        address: t.address.clone(),
        reachable,
        latency_ms,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_closed_and_refused_as_up() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap().to_string();
        // A port that was just free: nothing listens there.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let t = |name: &str, address: &str, refused_is_up| Target {
            name: name.into(),
            address: address.into(),
            refused_is_up,
        };
        let results = probe_all(
            &[
                t("open", &open, false),
                t("closed", &closed, false),
                t("router", &closed, true),
            ],
            Duration::from_secs(2),
        )
        .await;
        assert!(results[0].reachable && results[0].latency_ms.is_some());
        assert!(!results[1].reachable && !results[1].error.is_empty());
        assert!(results[2].reachable, "{:?}", results[2]);
    }
}
