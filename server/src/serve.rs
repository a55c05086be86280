//! `onshi-server serve`: gRPC (tonic, TLS) and HTTP (axum) in one process,
//! both stopped gracefully on SIGTERM / Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use onshi_proto::v1::agent_service_server::AgentServiceServer;
use onshi_proto::v1::enrollment_service_server::EnrollmentServiceServer;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cli::ServeArgs;
use crate::db::{self, PrivateCluster};
use crate::enrol::service::Enrollment;
use crate::error::Error;
use crate::ingest::conn::{AgentConn, ConnLayer};
use crate::ingest::{history, listener, service::AgentIngest};
use crate::metrics::Metrics;
use crate::portal;
use crate::tls::Pki;

/// A started server: its real addresses (ports may have been 0) and tasks.
pub struct Running {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub pool: PgPool,
    pub pki: Arc<Pki>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Result<(), Error>>>,
    private_cluster: Option<PrivateCluster>,
    signals: Option<Signals>,
}

pub async fn start(args: &ServeArgs) -> Result<Running, Error> {
    let signals = Signals::install();
    let database = db::connect(&args.db).await?;
    db::migrate(&database.pool).await?;
    let pool = database.pool;
    history::maintain(&pool, chrono::Utc::now(), args.retention_days).await?;

    let pki = Arc::new(Pki::load_or_create(
        &args.db.data_dir().join("pki"),
        &args.tls_sans,
    )?);
    let metrics = Metrics::new();
    let (shutdown, _) = watch::channel(false);

    let grpc_listener = bind(args.grpc_addr, "--grpc-addr").await?;
    let http_listener = bind(args.http_addr, "--http-addr").await?;
    let grpc_addr = grpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;

    let mut tasks = Vec::new();
    // Agent updates (docs/UPDATES.md): offers from memory, refreshed by the monitor.
    let offers = crate::updates::Offers::new(pool.clone());
    offers.refresh(chrono::Utc::now()).await?;
    let update_rpc = crate::updates::rpc::UpdateRpc::new(
        pool.clone(),
        offers.clone(),
        &args.updates,
        shutdown.subscribe(),
    );
    let writer = args.ingest.writer();
    let ingest = AgentIngest::new(
        pool.clone(),
        db::dedicated_pool(&pool, writer.writers as u32),
        metrics.clone(),
        args.agent_batches_per_minute,
        writer,
    )
    .with_updates(offers.clone());
    let limiter_handle = ingest.limiter.clone();
    let incoming = listener::incoming(
        grpc_listener,
        listener::tls_config(&pki)?,
        grpc_limits(args),
        metrics.clone(),
    );
    tasks.push(tokio::spawn(run_grpc(
        incoming,
        ingest,
        Enrollment {
            pool: pool.clone(),
            pki: pki.clone(),
        },
        update_rpc,
        metrics.clone(),
        args.max_message_bytes,
        stopped(shutdown.subscribe()),
    )?));
    let metrics_handle = metrics.clone();
    let mut state = portal::AppState::new(pool.clone(), metrics);
    state.behind_tls = args.behind_tls;
    state.escalation_mail =
        crate::escalation::send::Sender::optional(&args.escalation_mail)?.map(Arc::new);
    state.live_every = Duration::from_secs(u64::from(args.dashboard_refresh_seconds));
    tasks.push(tokio::spawn(portal::live::run_producer(
        state.clone(),
        shutdown.subscribe(),
    )));
    let app = portal::router(state);
    let http_stop = stopped(shutdown.subscribe());
    tasks.push(tokio::spawn(async move {
        axum::serve(
            http_listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(http_stop)
        .await?;
        Ok(())
    }));
    tasks.push(tokio::spawn(forget_idle_limits(
        limiter_handle,
        shutdown.subscribe(),
    )));
    let engine = args.engine();
    tasks.push(tokio::spawn(crate::incidents::engine::run_worker(
        pool.clone(),
        metrics_handle.clone(),
        engine,
        shutdown.subscribe(),
    )));
    tasks.push(tokio::spawn(crate::incidents::engine::run_sweep(
        pool.clone(),
        metrics_handle.clone(),
        engine,
        shutdown.subscribe(),
    )));
    if engine.worker == crate::incidents::engine::WorkerMode::On {
        tasks.push(tokio::spawn(crate::escalation::reminders::run(
            pool.clone(),
            shutdown.subscribe(),
        )));
    }
    tasks.push(tokio::spawn(crate::updates::monitor::run(
        pool.clone(),
        offers,
        Duration::from_secs(u64::from(args.updates.rollout_check_seconds)),
        shutdown.subscribe(),
    )));
    tasks.push(tokio::spawn(crate::notify::engine::run(
        pool.clone(),
        metrics_handle.clone(),
        args.notify(),
        shutdown.subscribe(),
    )));
    tasks.push(tokio::spawn(maintain_history(
        pool.clone(),
        args.retention_days,
        shutdown.subscribe(),
    )));
    tasks.push(tokio::spawn(crate::ingest::legacy::run(
        pool.clone(),
        args.retention_days,
        shutdown.subscribe(),
    )));

    tracing::info!(%grpc_addr, %http_addr, "onshi-server started");
    Ok(Running {
        grpc_addr,
        http_addr,
        pool,
        pki,
        shutdown,
        tasks,
        private_cluster: database.private_cluster,
        signals: Some(signals),
    })
}

impl Running {
    /// Runs until SIGTERM / Ctrl-C, then stops gracefully.
    pub async fn run_until_signal(mut self) -> Result<(), Error> {
        if let Some(signals) = self.signals.take() {
            signals.wait().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
        self.stop().await
    }

    pub async fn stop(self) -> Result<(), Error> {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            match task.await {
                Ok(result) => result?,
                Err(e) => tracing::error!(error = %e, "server task panicked"),
            }
        }
        self.pool.close().await;
        if let Some(cluster) = self.private_cluster {
            cluster.stop().await;
        }
        Ok(())
    }
}

async fn bind(addr: SocketAddr, flag: &str) -> Result<TcpListener, Error> {
    TcpListener::bind(addr).await.map_err(|e| {
        Error::InvalidArgument(format!(
            "cannot listen on {addr} ({flag}): {e}. Choose another address with {flag}"
        ))
    })
}

/// The gRPC port's limits from the flags; the connection cap defaults to a
/// share of the open-file limit (raised to its hard limit first).
fn grpc_limits(args: &ServeArgs) -> listener::Limits {
    let open_files = listener::raise_open_file_limit();
    let max = args
        .max_grpc_connections
        .unwrap_or_else(|| listener::default_max_connections(open_files));
    if max >= open_files {
        tracing::warn!(
            max_grpc_connections = max,
            open_files,
            "--max-grpc-connections is not below the open-file limit: a full gRPC port can starve the portal; lower it or raise the limit (LimitNOFILE)"
        );
    }
    tracing::info!(
        max_grpc_connections = max,
        open_files,
        "gRPC connection cap"
    );
    listener::Limits {
        handshake_timeout: Duration::from_secs(args.tls_handshake_timeout),
        idle_timeout: Duration::from_secs(args.grpc_idle_timeout),
        max_connections: usize::try_from(max).unwrap_or(usize::MAX),
    }
}

fn run_grpc<I, S>(
    incoming: I,
    ingest: AgentIngest,
    enrollment: Enrollment,
    updates: crate::updates::rpc::UpdateRpc,
    metrics: Metrics,
    max_message_bytes: usize,
    stop: S,
) -> Result<impl std::future::Future<Output = Result<(), Error>> + use<I, S>, Error>
where
    I: futures_util::Stream<Item = Result<AgentConn, std::io::Error>> + Send + 'static,
    S: std::future::Future<Output = ()> + Send + 'static,
{
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(onshi_proto::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| Error::Other(e.into()))?;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let agent_service = AgentServiceServer::new(ingest)
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes);

    let trace = tower_http::trace::TraceLayer::new_for_grpc().on_failure(
        move |failure: tower_http::classify::GrpcFailureClass,
              latency: Duration,
              _span: &tracing::Span| {
            match failure {
                tower_http::classify::GrpcFailureClass::Code(code) => {
                    let code = tonic::Code::from_i32(code.get());
                    metrics.grpc_error(code);
                    tracing::warn!(?code, ?latency, "gRPC call failed");
                }
                tower_http::classify::GrpcFailureClass::Error(e) => {
                    tracing::warn!(error = %e, "gRPC call failed");
                }
            }
        },
    );
    // TLS, the handshake timeout, TCP keepalive and the connection cap are
    // the accept loop's (ingest/listener.rs); the idle timeout is ConnLayer's.
    let mut builder = tonic::transport::Server::builder()
        .timeout(Duration::from_secs(30))
        // An agent needs one call at a time; a handful covers enrol + report.
        .concurrency_limit_per_connection(8)
        .max_concurrent_streams(16)
        // A peer that stops answering pings (gone without a FIN) is dropped.
        .http2_keepalive_interval(Some(Duration::from_secs(60)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .layer(ConnLayer)
        .layer(trace)
        .layer(tower::util::MapResponseLayer::new(
            oversize_is_resource_exhausted,
        ));
    let router = builder
        .add_service(health_service)
        .add_service(reflection)
        .add_service(agent_service)
        .add_service(EnrollmentServiceServer::new(enrollment).max_decoding_message_size(64 * 1024))
        .add_service(
            onshi_proto::v1::update_service_server::UpdateServiceServer::new(updates)
                .max_decoding_message_size(256 * 1024),
        );
    Ok(async move {
        health_reporter
            .set_serving::<AgentServiceServer<AgentIngest>>()
            .await;
        router
            .serve_with_incoming_shutdown(incoming, stop)
            .await
            .map_err(|e| Error::Other(e.into()))
    })
}

/// Drops rate-limit state of agents that went quiet, so memory stays bounded.
async fn forget_idle_limits(
    limiter: Arc<crate::ingest::service::AgentLimiter>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tokio::select! {
            _ = tick.tick() => limiter.retain_recent(),
            _ = stop.changed() => return Ok(()),
        }
    }
}

async fn maintain_history(
    pool: PgPool,
    retention_days: u32,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    tick.tick().await; // the first run happened at start-up
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = history::maintain(&pool, chrono::Utc::now(), retention_days).await {
                    tracing::error!(error = %e, "history partition maintenance failed; retrying in an hour");
                }
            }
            _ = stop.changed() => return Ok(()),
        }
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// tonic answers a message over the size limit with OUT_OF_RANGE; the
/// contract (and gRPC convention for limits) is RESOURCE_EXHAUSTED, which
/// also tells the agent not to retry the same batch unchanged.
fn oversize_is_resource_exhausted<B>(
    mut response: axum::http::Response<B>,
) -> axum::http::Response<B> {
    let headers = response.headers();
    let oversized = headers.get("grpc-status").is_some_and(|v| v == "11")
        && headers
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| m.contains("too%20large") || m.contains("too large"));
    if oversized {
        response
            .headers_mut()
            .insert("grpc-status", axum::http::HeaderValue::from_static("8"));
    }
    response
}

/// SIGTERM and SIGINT (Ctrl-C), registered when the server starts: a signal
/// that arrives right after the addresses are printed must stop the server
/// gracefully, not kill it with the default action.
pub struct Signals {
    terminate: Option<tokio::signal::unix::Signal>,
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            terminate: signal(SignalKind::terminate()).ok(),
            interrupt: signal(SignalKind::interrupt()).ok(),
        }
    }

    pub async fn wait(mut self) {
        async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            _ = next(&mut self.terminate) => {},
            _ = next(&mut self.interrupt) => {},
        }
    }
}
