//! Probes: each one reads a file or runs a check, then a pure parser turns
//! what it read into plain data. `Snapshot` is what `onshi-agent probe`
//! prints; `to_report` turns it into the wire report.

mod cert;
mod host;
mod network;

use std::time::Duration;

use chrono::{DateTime, Utc};
use onshi_proto::v1 as pb;
use serde::Serialize;

use crate::cli::ProbeConfig;

#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub collected_at: DateTime<Utc>,
    pub host: host::HostInfo,
    /// Not observable on Linux: the face-auth reader is a Windows device.
    pub reader: Option<()>,
    pub certificate: Option<cert::CertInfo>,
    /// Account baselines are Windows-only; empty here.
    pub accounts: Vec<()>,
    pub network: network::NetworkInfo,
}

pub async fn collect(config: &ProbeConfig) -> Snapshot {
    let timeout = Duration::from_secs_f64(config.probe_timeout.clamp(0.1, 60.0));
    Snapshot {
        collected_at: Utc::now(),
        host: host::collect(),
        reader: None,
        certificate: config.cert_file.as_deref().map(cert::collect),
        accounts: Vec::new(),
        network: network::collect(&config.targets, timeout).await,
    }
}

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// The wire report for this snapshot. Only observations go out: no file
/// contents, no secrets.
pub fn to_report(s: &Snapshot, agent_id: &str, site_id: &str, seq: u64) -> pb::Report {
    pb::Report {
        seq,
        agent_id: agent_id.to_owned(),
        site_id: site_id.to_owned(),
        collected_at: Some(ts(s.collected_at)),
        schema_version: 1,
        host: Some(pb::Host {
            hostname: s.host.hostname.clone(),
            os: s.host.os.clone(),
            boot_time: s.host.boot_time.map(ts),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            screen_lock: None,
            disk_free_bytes: 0,
            apps_updated_at: None,
        }),
        reader: None,
        certificate: s.certificate.as_ref().map(|c| pb::ClientCertificate {
            present: c.present,
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            serial: c.serial.clone(),
            not_after: c.not_after.map(ts),
            desktop_file_present: c.present,
            backup_seen: false,
        }),
        accounts: Vec::new(),
        network: s
            .network
            .targets
            .iter()
            .map(|t| pb::NetworkTarget {
                name: t.name.clone(),
                address: t.address.clone(),
                reachable: t.reachable,
                latency: t.latency_ms.map(|ms| {
                    let d = Duration::from_secs_f64(ms / 1000.0);
                    prost_types::Duration {
                        seconds: d.as_secs() as i64,
                        nanos: d.subsec_nanos() as i32,
                    }
                }),
                error: t.error.clone(),
            })
            .collect(),
        shares: Vec::new(),
        ip_config: None,
        agent: None,
    }
}
