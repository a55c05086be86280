//! TCP reachability and connect latency of configured targets.

use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct NetworkInfo {
    pub targets: Vec<TargetResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetResult {
    pub name: String,
    pub address: String,
    pub reachable: bool,
    pub latency_ms: Option<f64>,
    pub error: String,
}

pub async fn collect(targets: &[(String, String)], timeout: Duration) -> NetworkInfo {
    let probes = targets
        .iter()
        .map(|(name, address)| probe(name, address, timeout));
    // Concurrently, so one dead target does not delay the others.
    NetworkInfo {
        targets: futures_util::future::join_all(probes).await,
    }
}

async fn probe(name: &str, address: &str, timeout: Duration) -> TargetResult {
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await;
    let (reachable, latency_ms, error) = match outcome {
        Ok(Ok(_)) => (
            true,
            Some(started.elapsed().as_secs_f64() * 1000.0),
            String::new(),
        ),
        Ok(Err(e)) => (false, None, e.to_string()),
        Err(_) => (
            false,
            None,
            format!("no answer within {} ms", timeout.as_millis()),
        ),
    };
    TargetResult {
        name: name.to_owned(),
        address: address.to_owned(),
        reachable,
        latency_ms,
        error,
    }
}
