//! `onshi-server healthcheck`: a container HEALTHCHECK without curl (the
//! from-scratch image has nothing but the server binary). Plain HTTP/1.0 GET
//! on loopback; exit 0 on a 200 answer.

use std::time::Duration;

use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::Error;

#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// The server's HTTP listen address, as given to `serve` (0.0.0.0 is
    /// asked on this host).
    #[arg(long, env = "ONSHI_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: String,
    /// Path to ask (`/healthz` liveness, `/readyz` readiness).
    #[arg(long, default_value = "/healthz")]
    pub path: String,
}

/// Returns the status line when the answer is not 200.
pub async fn run(args: &HealthcheckArgs) -> Result<(), Error> {
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(&args.http_addr).await?;
        let request = format!(
            "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: onshi-healthcheck\r\n\r\n",
            args.path, args.http_addr
        );
        stream.write_all(request.as_bytes()).await?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&head[..n]).into_owned())
    };
    let answer = tokio::time::timeout(Duration::from_secs(5), ask)
        .await
        .map_err(|_| {
            Error::Other(anyhow::anyhow!(
                "{} did not answer within 5 s",
                args.http_addr
            ))
        })??;
    let status = answer.lines().next().unwrap_or_default().to_owned();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(Error::Other(anyhow::anyhow!(
            "http://{}{} answered {status:?}",
            args.http_addr,
            args.path
        )))
    }
}
