//! `ReportDoc`: the stored (JSON) form of a report, decoupled from protobuf so
//! the history stays readable when the wire contract grows.

use chrono::{DateTime, Utc};
use onshi_proto::v1 as pb;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ReportDoc {
    pub seq: u64,
    pub collected_at: Option<DateTime<Utc>>,
    pub host: HostDoc,
    pub reader: Option<ReaderDoc>,
    pub certificate: Option<CertificateDoc>,
    pub accounts: Vec<AccountDoc>,
    pub network: Vec<TargetDoc>,
    pub shares: Vec<ShareDoc>,
    pub ip_config: Option<IpConfigDoc>,
    pub agent: AgentHealthDoc,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostDoc {
    pub hostname: String,
    pub os: String,
    pub boot_time: Option<DateTime<Utc>>,
    pub agent_version: String,
    pub screen_lock: Option<ScreenLockDoc>,
    pub disk_free_bytes: u64,
    pub apps_updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ScreenLockDoc {
    pub enabled: bool,
    pub secure: bool,
    pub timeout_seconds: u32,
    pub clear_screen_installed: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ReaderDoc {
    /// fujitsu | panasonic | atlus | almex | canon | none | unknown
    pub maker: String,
    /// on | off | absent | unknown
    pub power: String,
    pub manual_power: bool,
    pub software_running: bool,
    pub device_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CertificateDoc {
    pub present: bool,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_after: Option<DateTime<Utc>>,
    pub desktop_file_present: bool,
    pub backup_seen: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AccountDoc {
    /// windows | face_auth | linkage | unknown
    pub kind: String,
    pub baseline_known: bool,
    pub password_changed: bool,
    pub renamed: bool,
    pub disabled: bool,
    pub removed: bool,
    pub config_changed: bool,
}

impl AccountDoc {
    pub fn changed(&self) -> bool {
        self.password_changed
            || self.renamed
            || self.disabled
            || self.removed
            || self.config_changed
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TargetDoc {
    pub name: String,
    pub address: String,
    pub reachable: bool,
    pub latency_ms: Option<f64>,
    pub error: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ShareDoc {
    pub name: String,
    pub exists: bool,
    pub shared: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IpConfigDoc {
    pub addresses: Vec<String>,
    pub gateway: String,
    pub dns: Vec<String>,
    pub drifted: bool,
}

/// `#[serde(default)]`: documents stored before a field existed still read.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct AgentHealthDoc {
    pub spool_dropped: u64,
    pub spool_corrupt: u64,
    pub spool_backlog: u64,
    pub spool_bytes: u64,
    /// "probe: error" lines of the probes that failed for this report: a
    /// missing section is then known to be unobserved, not healthy.
    pub probe_errors: Vec<String>,
    /// Reports the server refused as invalid and the agent set aside
    /// (absent in rows stored before the field existed).
    #[serde(default)]
    pub spool_rejected: u64,
}

pub fn timestamp(ts: &Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
}

impl From<&pb::Report> for ReportDoc {
    fn from(r: &pb::Report) -> Self {
        let host = r.host.clone().unwrap_or_default();
        ReportDoc {
            seq: r.seq,
            collected_at: timestamp(&r.collected_at),
            host: HostDoc {
                hostname: host.hostname,
                os: host.os,
                boot_time: timestamp(&host.boot_time),
                agent_version: host.agent_version,
                screen_lock: host.screen_lock.filter(|s| s.known).map(|s| ScreenLockDoc {
                    enabled: s.enabled,
                    secure: s.secure,
                    timeout_seconds: s.timeout_seconds,
                    clear_screen_installed: s.clear_screen_installed,
                }),
                disk_free_bytes: host.disk_free_bytes,
                apps_updated_at: timestamp(&host.apps_updated_at),
            },
            reader: r.reader.as_ref().map(|c| ReaderDoc {
                maker: maker_name(c.maker()).to_owned(),
                power: match c.power() {
                    pb::PowerState::On => "on",
                    pb::PowerState::Off => "off",
                    pb::PowerState::Absent => "absent",
                    pb::PowerState::Unspecified => "unknown",
                }
                .to_owned(),
                manual_power: c.manual_power,
                software_running: c.software_running,
                device_name: c.device_name.clone(),
            }),
            certificate: r.certificate.as_ref().map(|c| CertificateDoc {
                present: c.present,
                subject: c.subject.clone(),
                issuer: c.issuer.clone(),
                serial: c.serial.clone(),
                not_after: timestamp(&c.not_after),
                desktop_file_present: c.desktop_file_present,
                backup_seen: c.backup_seen,
            }),
            accounts: r
                .accounts
                .iter()
                .map(|a| AccountDoc {
                    kind: match a.kind() {
                        pb::AccountKind::Windows => "windows",
                        pb::AccountKind::FaceAuth => "face_auth",
                        pb::AccountKind::Linkage => "linkage",
                        pb::AccountKind::Unspecified => "unknown",
                    }
                    .to_owned(),
                    baseline_known: a.baseline_known,
                    password_changed: a.password_changed,
                    renamed: a.renamed,
                    disabled: a.disabled,
                    removed: a.removed,
                    config_changed: a.config_changed,
                })
                .collect(),
            network: r
                .network
                .iter()
                .map(|t| TargetDoc {
                    name: t.name.clone(),
                    address: t.address.clone(),
                    reachable: t.reachable,
                    latency_ms: t
                        .latency
                        .as_ref()
                        .filter(|_| t.reachable)
                        .map(|d| d.seconds as f64 * 1000.0 + f64::from(d.nanos) / 1e6),
                    error: t.error.clone(),
                })
                .collect(),
            shares: r
                .shares
                .iter()
                .map(|s| ShareDoc {
                    name: s.name.clone(),
                    exists: s.exists,
                    shared: s.shared,
                })
                .collect(),
            ip_config: r.ip_config.as_ref().map(|c| IpConfigDoc {
                addresses: c.addresses.clone(),
                gateway: c.gateway.clone(),
                dns: c.dns.clone(),
                drifted: c.drifted,
            }),
            agent: r
                .agent
                .as_ref()
                .map(|a| AgentHealthDoc {
                    spool_dropped: a.spool_dropped,
                    spool_corrupt: a.spool_corrupt,
                    spool_backlog: a.spool_backlog,
                    spool_bytes: a.spool_bytes,
                    probe_errors: a.probe_errors.clone(),
                    spool_rejected: a.spool_rejected,
                })
                .unwrap_or_default(),
        }
    }
}

pub fn maker_name(maker: pb::ReaderMaker) -> &'static str {
    match maker {
        pb::ReaderMaker::Fujitsu => "fujitsu",
        pb::ReaderMaker::Panasonic => "panasonic",
        pb::ReaderMaker::Atlus => "atlus",
        pb::ReaderMaker::Almex => "almex",
        pb::ReaderMaker::Canon => "canon",
        pb::ReaderMaker::None => "none",
        pb::ReaderMaker::Unspecified => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_health_keeps_probe_errors_and_reads_older_documents() {
        let report = pb::Report {
            agent: Some(pb::AgentHealth {
                spool_bytes: 4096,
                probe_errors: vec!["reader: timed out after 5 s".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let doc = ReportDoc::from(&report);
        assert_eq!(doc.agent.spool_bytes, 4096);
        assert_eq!(doc.agent.probe_errors, ["reader: timed out after 5 s"]);
        // A document stored before these fields existed.
        let old: AgentHealthDoc =
            serde_json::from_str(r#"{"spool_dropped":1,"spool_corrupt":0,"spool_backlog":2}"#)
                .unwrap();
        assert_eq!((old.spool_dropped, old.spool_bytes), (1, 0));
        assert!(old.probe_errors.is_empty());
    }
}
