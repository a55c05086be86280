//! The live dashboard: one dashboard snapshot per server process, shared by every browser.
//!
//! - [`Hub`] keeps the latest [`Frame`] in a `watch` channel. A page or a stream that finds it
//!   older than the refresh interval computes a new one, one computation at a time (the
//!   others wait and take it), so 200 browsers cost one set of queries, not 200.
//! - [`run_producer`] refreshes it every `--dashboard-refresh-seconds` while at least one
//!   browser listens (less often if a snapshot takes more than a fifth of that), and closes
//!   every stream on graceful shutdown.
//! - `GET /events` ([`events`]) is a Server-Sent Events stream: the sections that changed since
//!   the last event this browser got, and the "as of" time. No database connection is held per
//!   client (the guard's session check is the only query); keep-alive comments keep proxies
//!   from closing an idle stream. A stream ends after [`MAX_STREAM`] and the browser
//!   reconnects, so a logout, a disabled account or an expired session stops it within
//!   minutes; listening does not count as activity for the idle timeout (`portal::guard`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::{Mutex, watch};

use super::AppState;
use super::dashboard::{self, Frame};
use crate::error::Error;

/// Default refresh interval of the dashboard snapshot.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(5);
/// A stream ends after this long; the browser reconnects (and the guard checks the session).
pub const MAX_STREAM: Duration = Duration::from_secs(5 * 60);
/// Comment lines on an idle stream, below the usual 60 s proxy read timeout.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Browsers wait this long before reconnecting after a stream ends.
pub const RETRY: Duration = Duration::from_secs(5);

type Latest = Option<Arc<Frame>>;

/// The shared snapshot of one server process.
#[derive(Clone)]
pub struct Hub {
    latest: Arc<watch::Sender<Latest>>,
    /// Held while a snapshot is computed: one computation at a time.
    computing: Arc<Mutex<()>>,
    closed: Arc<watch::Sender<bool>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        Self {
            latest: Arc::new(watch::Sender::new(None)),
            computing: Arc::new(Mutex::new(())),
            closed: Arc::new(watch::Sender::new(false)),
        }
    }

    fn current(&self, max_age: Duration) -> Option<Arc<Frame>> {
        let frame = self.latest.borrow().clone()?;
        let age = chrono::Utc::now() - frame.as_of();
        (age.to_std().unwrap_or_default() < max_age).then_some(frame)
    }

    /// The latest frame if it is younger than `max_age`, else a new one, published to every
    /// listener.
    pub async fn fresh(&self, state: &AppState, max_age: Duration) -> Result<Arc<Frame>, Error> {
        if let Some(frame) = self.current(max_age) {
            return Ok(frame);
        }
        let _computing = self.computing.lock().await;
        // Someone else may have computed it while we waited.
        if let Some(frame) = self.current(max_age) {
            return Ok(frame);
        }
        let started = std::time::Instant::now();
        let frame = Arc::new(dashboard::compute(state).await?);
        let metrics = &state.metrics.console;
        metrics
            .snapshot_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.snapshots.inc();
        self.latest.send_replace(Some(frame.clone()));
        Ok(frame)
    }

    /// The frame for a page load: the latest if it is younger than three intervals (its
    /// "as of" time is on the page, and the live stream brings the next one within seconds),
    /// refreshed in the background when older than one; else a new one, waited for.
    pub async fn for_page(&self, state: &AppState) -> Result<Arc<Frame>, Error> {
        let Some(frame) = self.current(state.live_every * 3) else {
            return self.fresh(state, state.live_every).await;
        };
        if self.current(state.live_every).is_none() && self.computing.try_lock().is_ok() {
            let (hub, state) = (self.clone(), state.clone());
            tokio::spawn(async move {
                if let Err(e) = hub.fresh(&state, state.live_every).await {
                    tracing::warn!(error = %e, "dashboard snapshot failed; the page showed the previous one");
                }
            });
        }
        Ok(frame)
    }

    /// Browsers listening now.
    pub fn listeners(&self) -> usize {
        self.latest.receiver_count()
    }

    /// Ends every stream (graceful shutdown): axum waits for open responses to finish.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }
}

/// At most this share of the time goes into computing snapshots: a snapshot that takes
/// longer than a fifth of the interval (a slow database, a very large fleet) stretches the
/// interval instead of keeping the database busy.
const MAX_BUSY_SHARE: u32 = 5;

/// Refreshes the snapshot every `state.live_every` while someone listens, until `stop`.
pub async fn run_producer(state: AppState, mut stop: watch::Receiver<bool>) -> Result<(), Error> {
    let mut pause = state.live_every;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => {
                state.live.close();
                return Ok(());
            }
        }
        pause = state.live_every;
        if state.live.listeners() == 0 {
            continue;
        }
        let started = std::time::Instant::now();
        // Half an interval: a frame a page load made just now is reused, not recomputed.
        match state.live.fresh(&state, state.live_every / 2).await {
            Ok(_) => pause = pause.max(started.elapsed() * MAX_BUSY_SHARE),
            Err(e) => {
                tracing::warn!(error = %e, "dashboard snapshot failed; browsers keep the last one, retrying next interval")
            }
        }
    }
}

/// One browser's stream: what it was sent, until when it lasts.
struct Listener {
    first: Option<Arc<Frame>>,
    latest: watch::Receiver<Latest>,
    closed: watch::Receiver<bool>,
    sent: HashMap<&'static str, String>,
    until: tokio::time::Instant,
    _open: OpenStream,
}

/// Counts an open stream in `onshi_console_streams` while it lives.
struct OpenStream(Gauge);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

enum Wake {
    Frame(Arc<Frame>),
    Nothing,
    End,
}

impl Listener {
    /// The event for `frame`: its time and the sections this browser has not seen.
    fn event(&mut self, frame: &Frame) -> Event {
        let mut sections = serde_json::Map::new();
        for s in &frame.sections {
            if self.sent.get(s.id) != Some(&s.version) {
                self.sent.insert(s.id, s.version.clone());
                sections.insert(
                    s.id.to_owned(),
                    serde_json::json!({ "v": s.version, "html": s.html }),
                );
            }
        }
        let data = serde_json::json!({
            "as_of": frame.as_of().to_rfc3339(),
            "as_of_text": frame.as_of_text(),
            "sections": sections,
        });
        Event::default()
            .event("snapshot")
            .id(frame.as_of().timestamp_millis().to_string())
            .retry(RETRY)
            .data(data.to_string())
    }

    async fn wait(&mut self) -> Wake {
        if *self.closed.borrow() {
            return Wake::End;
        }
        tokio::select! {
            changed = self.latest.changed() => match changed {
                Ok(()) => self.latest.borrow_and_update().clone().map_or(Wake::Nothing, Wake::Frame),
                Err(_) => Wake::End,
            },
            _ = self.closed.changed() => Wake::End,
            _ = tokio::time::sleep_until(self.until) => Wake::End,
        }
    }
}

async fn next(mut l: Listener) -> Option<(Result<Event, Infallible>, Listener)> {
    if let Some(frame) = l.first.take() {
        let event = l.event(&frame);
        return Some((Ok(event), l));
    }
    loop {
        match l.wait().await {
            Wake::Frame(frame) => {
                let event = l.event(&frame);
                return Some((Ok(event), l));
            }
            Wake::Nothing => continue,
            Wake::End => return None,
        }
    }
}

fn stream(
    state: &AppState,
    first: Option<Arc<Frame>>,
) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
    let gauge = state.metrics.console.streams.clone();
    gauge.inc();
    let mut latest = state.live.latest.subscribe();
    latest.mark_unchanged();
    let listener = Listener {
        first,
        latest,
        closed: state.live.closed.subscribe(),
        sent: HashMap::new(),
        until: tokio::time::Instant::now() + MAX_STREAM,
        _open: OpenStream(gauge),
    };
    futures_util::stream::unfold(listener, next)
}

/// `GET /events`: the dashboard as Server-Sent Events (`text/event-stream`).
pub async fn events(State(state): State<AppState>) -> Response {
    // A database hiccup must not end the browser's updates: start with the last frame (or
    // none) and let the producer's next one through.
    let first = match state.live.fresh(&state, state.live_every).await {
        Ok(frame) => Some(frame),
        Err(e) => {
            tracing::warn!(error = %e, "dashboard snapshot failed at stream start; waiting for the next one");
            state.live.latest.borrow().clone()
        }
    };
    let mut response = Sse::new(stream(&state, first))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // Reverse proxies (nginx) must pass events through at once, not buffer them.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The console's metrics (`/metrics`).
#[derive(Clone, Debug)]
pub struct LiveMetrics {
    pub snapshot_seconds: Histogram,
    pub snapshots: Counter,
    pub streams: Gauge,
}

impl LiveMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            snapshot_seconds: Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            snapshots: Counter::default(),
            streams: Gauge::default(),
        };
        registry.register(
            "onshi_console_snapshot_duration_seconds",
            "Time to read and render one dashboard snapshot (shared by every browser)",
            m.snapshot_seconds.clone(),
        );
        registry.register(
            "onshi_console_snapshots",
            "Dashboard snapshots computed by this process",
            m.snapshots.clone(),
        );
        registry.register(
            "onshi_console_streams",
            "Open live dashboard streams (/events)",
            m.streams.clone(),
        );
        m
    }
}
