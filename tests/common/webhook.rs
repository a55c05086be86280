//! A real HTTP receiver for webhook notifications, started by the test on a free port. It
//! records every request (headers and body) and answers from a script (`500`, `hang`, …),
//! then 200. The signature is checked here, independently of the server's code.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// Never answers in time (holds the request for two minutes, then 200).
    Hang,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub idempotency_key: String,
    pub timestamp: String,
    pub signature: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Request {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// Checks `X-Onshi-Signature` as docs/notifications.md tells a receiver to:
    /// HMAC-SHA256(secret, "{X-Onshi-Timestamp}.{body}") in hex after `sha256=`.
    pub fn signature_valid(&self, secret: &str) -> bool {
        let Some(hex_sig) = self.signature.strip_prefix("sha256=") else {
            return false;
        };
        let Ok(sig) = hex::decode(hex_sig) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(self.timestamp.as_bytes());
        mac.update(b".");
        mac.update(&self.body);
        mac.verify_slice(&sig).is_ok()
    }
}

#[derive(Default)]
struct Shared {
    requests: Vec<Request>,
    script: VecDeque<Answer>,
}

pub struct Receiver {
    pub url: String,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver answering `script` in order, then 200 to everything.
    pub async fn start(script: &[Answer]) -> Receiver {
        let shared = Arc::new(Mutex::new(Shared {
            requests: Vec::new(),
            script: script.iter().copied().collect(),
        }));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, shared, task }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().unwrap().requests.clone()
    }

    /// Waits (up to 60 s) until `n` requests have arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Request> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} webhook request(s), got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(shared): State<Arc<Mutex<Shared>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let answer = {
        let mut s = shared.lock().unwrap();
        s.requests.push(Request {
            idempotency_key: header("idempotency-key"),
            timestamp: header("x-onshi-timestamp"),
            signature: header("x-onshi-signature"),
            content_type: header("content-type"),
            body: body.to_vec(),
        });
        s.script.pop_front().unwrap_or(Answer::Status(200))
    };
    match answer {
        Answer::Status(code) => StatusCode::from_u16(code).unwrap(),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            StatusCode::OK
        }
    }
}
