//! One accepted gRPC connection after its TLS handshake: the IO type given to
//! tonic, closed when it has carried no call for the idle timeout, and the
//! tower layer that tells it when calls run.
//!
//! HTTP/2 keepalive pings keep a live but unused connection busy at the
//! socket level, so "idle" cannot be read from the bytes on the wire; it is
//! counted in calls instead (as gRPC's own `MAX_CONNECTION_IDLE` does).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_rustls::server::TlsStream;
use tonic::transport::server::{Connected, TcpConnectInfo, TlsConnectInfo};

use super::listener::Slot;

/// Calls in flight on one connection, and when the last one ended.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<(usize, Instant)>,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new((0, Instant::now())),
        })
    }

    fn begin(self: &Arc<Self>) -> CallGuard {
        self.lock().0 += 1;
        CallGuard(self.clone())
    }

    /// When the connection became idle; `None` while a call runs.
    fn idle_since(&self) -> Option<Instant> {
        let (in_flight, last) = *self.lock();
        (in_flight == 0).then_some(last)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, Instant)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct CallGuard(Arc<Activity>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.0 = state.0.saturating_sub(1);
        state.1 = Instant::now();
    }
}

/// What tonic puts in every request's extensions for this connection.
#[derive(Clone, Debug)]
pub struct AgentConnInfo {
    /// tonic's own TLS info (remote address, verified peer certificates);
    /// `ConnLayer` re-inserts it so `Request::peer_certs` keeps working.
    tls: TlsConnectInfo<TcpConnectInfo>,
    activity: Arc<Activity>,
}

pub struct AgentConn {
    tls: TlsStream<TcpStream>,
    info: AgentConnInfo,
    idle_timeout: Duration,
    idle_check: Pin<Box<Sleep>>,
    /// Released (and counted down) when tonic drops the connection.
    _slot: Slot,
}

impl AgentConn {
    pub fn new(tls: TlsStream<TcpStream>, slot: Slot, idle_timeout: Duration) -> Self {
        let info = AgentConnInfo {
            tls: tls.connect_info(),
            activity: Activity::new(),
        };
        Self {
            tls,
            info,
            idle_timeout,
            idle_check: Box::pin(tokio::time::sleep(idle_timeout)),
            _slot: slot,
        }
    }

    /// True once the connection has had no call for the idle timeout. The
    /// timer wakes the connection's task, which then reads (and sees EOF).
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.idle_check.as_mut().poll(cx).is_pending() {
                return false;
            }
            let now = Instant::now();
            let deadline = match self.info.activity.idle_since() {
                Some(since) => since + self.idle_timeout,
                None => now + self.idle_timeout,
            };
            if deadline <= now {
                return true;
            }
            self.idle_check.as_mut().reset(deadline);
        }
    }
}

impl Connected for AgentConn {
    type ConnectInfo = AgentConnInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for AgentConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.idle_expired(cx) {
            tracing::debug!(
                remote = ?this.info.tls.get_ref().remote_addr(),
                "closing idle gRPC connection"
            );
            // End of stream: hyper closes the connection (no call is open).
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for AgentConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tls).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tls).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tls.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_shutdown(cx)
    }
}

/// Marks each call on its connection (for the idle timeout) and exposes
/// tonic's `TlsConnectInfo`, from which `enrol::service::peer_agent_id` reads
/// the verified client certificate.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnLayer;

impl<S> tower::Layer<S> for ConnLayer {
    type Service = ConnService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConnService { inner }
    }
}

#[derive(Clone, Debug)]
pub struct ConnService<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B> tower::Service<axum::http::Request<B>> for ConnService<S>
where
    S: tower::Service<axum::http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: axum::http::Request<B>) -> Self::Future {
        let info = request.extensions().get::<AgentConnInfo>().cloned();
        let guard = info.map(|info| {
            request.extensions_mut().insert(info.tls);
            info.activity.begin()
        });
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await;
            drop(guard);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_only_when_no_call_runs() {
        let activity = Activity::new();
        assert!(activity.idle_since().is_some());
        let first = activity.begin();
        let second = activity.begin();
        assert_eq!(activity.idle_since(), None);
        drop(first);
        assert_eq!(activity.idle_since(), None, "one call still runs");
        drop(second);
        assert!(activity.idle_since().is_some());
    }
}
