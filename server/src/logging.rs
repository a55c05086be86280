//! Log output: human text or one JSON object per line (`--log-format json`),
//! and the optional OpenTelemetry trace export (`--otel-endpoint`, built with
//! the `otel` cargo feature).

use clap::{Args, ValueEnum};

/// The default filter: our own crates at info, chatty dependencies quieter.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=info,h2=warn";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colours on a terminal).
    Text,
    /// One JSON object per line with the span fields (agent id, request) for
    /// a log collector (Loki, Elasticsearch, Cloud Logging).
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log line format on standard error.
    #[arg(
        long,
        env = "ONSHI_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax, e.g. `info,onshi_server::ingest=debug`).
    #[arg(long, env = "ONSHI_LOG", default_value = DEFAULT_FILTER, global = true)]
    pub log_filter: String,
    /// OTLP/gRPC endpoint for trace export (e.g. http://otel-collector:4317).
    /// Needs a server built with `--features otel`; unset: no export.
    #[arg(long, env = "ONSHI_OTEL_ENDPOINT", global = true, value_name = "URL")]
    pub otel_endpoint: Option<String>,
}

/// Installs the global subscriber. Errors name the bad setting.
pub fn init(args: &LogArgs) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = EnvFilter::try_new(&args.log_filter)
        .map_err(|e| format!("--log-filter / ONSHI_LOG が不正です ({e}): 例 `{DEFAULT_FILTER}`"))?;
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match args.log_format {
        LogFormat::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
        LogFormat::Json => fmt
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .flatten_event(true)
            .boxed(),
    };
    let registry = tracing_subscriber::registry().with(filter).with(fmt);
    match &args.otel_endpoint {
        None => registry.init(),
        Some(endpoint) => registry.with(otel_layer(endpoint)?).init(),
    }
    Ok(())
}

use tracing_subscriber::Layer as _;

/// The portal's request span, with an `x-request-id` (the caller's, or a new
/// UUID) that is also sent back, so a user's report of a failing page can be
/// found in the log.
pub fn traced_http(router: axum::Router) -> axum::Router {
    use axum::http::{HeaderName, Request};
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

    let header = HeaderName::from_static("x-request-id");
    let span = |req: &Request<axum::body::Body>| {
        let id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id = %id)
    };
    // Outermost last: the id is set before the span is made.
    router
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(span))
        .layer(SetRequestIdLayer::new(header, MakeRequestUuid))
}

#[cfg(not(feature = "otel"))]
fn otel_layer(_endpoint: &str) -> Result<tracing_subscriber::layer::Identity, String> {
    Err("--otel-endpoint / ONSHI_OTEL_ENDPOINT が指定されましたが、この onshi-server は OpenTelemetry なしでビルドされています: \
         `cargo build --release -p onshi-server --features otel` でビルドするか、設定を外してください"
        .to_owned())
}

#[cfg(feature = "otel")]
fn otel_layer<S>(endpoint: &str) -> Result<impl tracing_subscriber::Layer<S>, String>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig;

    // The tonic exporter needs the tokio runtime: main enters it before init.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| format!("--otel-endpoint {endpoint}: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("onshi-server")
        .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("onshi-server");
    opentelemetry::global::set_tracer_provider(provider);
    Ok(tracing_opentelemetry::layer().with_tracer(tracer))
}
