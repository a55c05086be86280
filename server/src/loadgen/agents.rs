//! The simulated agents: enrolled directly (a real client certificate from the servers' CA,
//! an `agents` row), each with its own HTTP/2 connection over mTLS, sending batches in seq
//! order and retrying a batch until it is acknowledged, as the real agent does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use onshi_proto::v1 as pb;
use onshi_proto::v1::agent_service_client::AgentServiceClient;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::LoadgenArgs;
use super::stats::Stats;
use crate::demo::{self, DemoSite};
use crate::error::Error;
use crate::tls::Pki;

/// Attempts per batch before an agent of the load generator gives up.
const MAX_ATTEMPTS: u32 = 30;

pub struct SimAgent {
    pub agent_id: String,
    pub site: DemoSite,
    pub endpoint: Endpoint,
}

/// Enrols one agent per site (one statement for the rows; certificates issued on the
/// blocking pool), spread over the servers' addresses.
pub async fn enrol(
    pool: &PgPool,
    pki: Arc<Pki>,
    sites: Vec<DemoSite>,
    run_id: &str,
    grpc_addrs: &[String],
) -> Result<Vec<SimAgent>, Error> {
    let ids: Vec<String> = sites
        .iter()
        .map(|s| format!("load-{run_id}-{}", s.site_id))
        .collect();
    let site_ids: Vec<&str> = sites.iter().map(|s| s.site_id.as_str()).collect();
    sqlx::query(
        "INSERT INTO agents (agent_id, site_id, enrolled_at)
         SELECT a, s, now() FROM unnest($1::text[], $2::text[]) AS u(a, s)
         ON CONFLICT (agent_id) DO UPDATE SET revoked_at = NULL",
    )
    .bind(&ids)
    .bind(&site_ids)
    .execute(pool)
    .await?;
    let mut work = JoinSet::new();
    for (chunk, (ids, sites)) in ids.chunks(256).zip(sites.chunks(256)).enumerate() {
        let pki = pki.clone();
        let (ids, sites) = (ids.to_vec(), sites.to_vec());
        let addrs = grpc_addrs.to_vec();
        work.spawn_blocking(move || -> Result<Vec<SimAgent>, Error> {
            ids.into_iter()
                .zip(sites)
                .enumerate()
                .map(|(i, (agent_id, site))| {
                    let addr = &addrs[(chunk * 256 + i) % addrs.len()];
                    let endpoint = endpoint(&pki, &agent_id, addr)?;
                    Ok(SimAgent {
                        agent_id,
                        site,
                        endpoint,
                    })
                })
                .collect()
        });
    }
    let mut agents = Vec::with_capacity(site_ids.len());
    while let Some(joined) = work.join_next().await {
        agents.extend(joined.map_err(|e| Error::Other(e.into()))??);
    }
    Ok(agents)
}

fn endpoint(pki: &Pki, agent_id: &str, addr: &str) -> Result<Endpoint, Error> {
    let (key, cert) = pki.issue_agent_identity(agent_id)?;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca_cert_pem))
        .identity(Identity::from_pem(cert.pem, key))
        .domain_name("localhost");
    Endpoint::from_shared(format!("https://{addr}"))
        .map_err(|e| Error::Other(e.into()))?
        .tls_config(tls)
        .map_err(|e| Error::Other(e.into()))
}

/// Opens every agent's connection (TLS handshake) before the clock starts, 64 at a time.
pub async fn connect_all(agents: &[SimAgent]) -> Result<Vec<Channel>, Error> {
    let mut channels = Vec::with_capacity(agents.len());
    for chunk in agents.chunks(64) {
        let mut set = JoinSet::new();
        for (i, a) in chunk.iter().enumerate() {
            let endpoint = a.endpoint.clone();
            set.spawn(async move { (i, endpoint.connect().await) });
        }
        let mut opened: Vec<(usize, Channel)> = Vec::with_capacity(chunk.len());
        while let Some(joined) = set.join_next().await {
            let (i, channel) = joined.map_err(|e| Error::Other(e.into()))?;
            opened.push((i, channel.map_err(|e| Error::Other(e.into()))?));
        }
        opened.sort_by_key(|(i, _)| *i);
        channels.extend(opened.into_iter().map(|(_, c)| c));
    }
    Ok(channels)
}

/// One agent: connects (now, or at a random moment of the burst window), then sends
/// batches until the plan is done or `stop` is raised; a started batch is retried until
/// acknowledged, so every report the servers stored is also counted.
pub async fn run(
    agent: SimAgent,
    channel: Option<Channel>,
    plan: Arc<LoadgenArgs>,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
) {
    let deadline = plan
        .duration
        .map(|d| Instant::now() + Duration::from_secs(d));
    let channel = match channel {
        Some(c) => c,
        None => match connect_in_burst(&agent.endpoint, &plan, &stats, &mut stop).await {
            Some(c) => c,
            None => return,
        },
    };
    stats
        .connected
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut client = AgentServiceClient::new(channel);
    let mut pace = pacing(&plan);
    let mut seq = 1u64;
    let mut sent_batches = 0u32;
    loop {
        let more = match deadline {
            Some(d) => Instant::now() < d,
            None => sent_batches < plan.batches,
        };
        if !more || *stop.borrow() {
            return;
        }
        if let Some(pace) = pace.as_mut() {
            // A paced agent may wait up to a whole period: the deadline ends the wait too.
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            tokio::select! {
                _ = pace.tick() => {}
                _ = stop.changed() => return,
                _ = tokio::time::sleep(left) => return,
            }
        }
        let reports: Vec<pb::Report> = (0..plan.batch_size)
            .map(|i| demo::demo_report(&agent.site, &agent.agent_id, seq + u64::from(i)))
            .collect();
        let request = pb::SubmitReportsRequest {
            agent_id: agent.agent_id.clone(),
            reports,
            abandoned_through: 0,
            update: None,
        };
        if !deliver(&mut client, request, &agent.agent_id, &stats).await {
            return;
        }
        seq += u64::from(plan.batch_size);
        sent_batches += 1;
    }
}

/// Each agent's share of `--rate`, started at a random phase so the fleet's sends spread
/// over the interval.
fn pacing(plan: &LoadgenArgs) -> Option<tokio::time::Interval> {
    plan.rate.map(|rate| {
        let per_agent = rate / f64::from(plan.agents.max(1)) / f64::from(plan.batch_size.max(1));
        let period = Duration::from_secs_f64(1.0 / per_agent.max(1e-3));
        let phase = period.mul_f64(rand::random::<f64>());
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    })
}

async fn connect_in_burst(
    endpoint: &Endpoint,
    plan: &LoadgenArgs,
    stats: &Stats,
    stop: &mut watch::Receiver<bool>,
) -> Option<Channel> {
    let window = plan.burst_seconds.max(1) * 1000;
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % window)) => {}
        _ = stop.changed() => return None,
    }
    loop {
        match endpoint.connect().await {
            Ok(c) => return Some(c),
            Err(_) => {
                stats
                    .errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => return None,
                }
            }
        }
    }
}

/// Sends one batch until acknowledged (same seqs again after the server's wait, as the
/// agent does); false after `MAX_ATTEMPTS` failures.
async fn deliver(
    client: &mut AgentServiceClient<Channel>,
    request: pb::SubmitReportsRequest,
    agent_id: &str,
    stats: &Stats,
) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    let mut attempts = 0;
    loop {
        let t = Instant::now();
        match client.submit_reports(request.clone()).await {
            Ok(ack) => {
                stats.acked(t.elapsed(), u64::from(ack.into_inner().stored));
                return true;
            }
            Err(status) => {
                attempts += 1;
                if attempts >= MAX_ATTEMPTS {
                    eprintln!(
                        "\nloadgen: {agent_id}: giving up after {attempts} attempts: {status}"
                    );
                    return false;
                }
                let wait = if status.code() == tonic::Code::Unavailable {
                    stats.overloaded.fetch_add(1, Relaxed);
                    retry_after(&status).unwrap_or(1)
                } else {
                    stats.errors.fetch_add(1, Relaxed);
                    1
                };
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
        }
    }
}

fn retry_after(status: &tonic::Status) -> Option<u64> {
    status
        .metadata()
        .get("retry-after-seconds")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
