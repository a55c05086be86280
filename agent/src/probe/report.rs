//! The wire report for a snapshot. Only observations go out: no file
//! contents, no fingerprints, no secrets. Text is cut to the server's limits
//! (server/src/ingest/validate.rs) so a long value never gets a report
//! rejected.

use std::time::Duration;

use chrono::{DateTime, Utc};
use onshi_proto::v1 as pb;

use super::Snapshot;
use super::accounts::AccountKind;
use super::reader::{Maker, Power};

const MAX_TEXT: usize = 512;
const MAX_NAME: usize = 64;
const MAX_LIST: usize = 64;

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// At most `max` bytes, cut at a character boundary.
pub fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn maker(m: Maker) -> pb::ReaderMaker {
    match m {
        Maker::Fujitsu => pb::ReaderMaker::Fujitsu,
        Maker::Panasonic => pb::ReaderMaker::Panasonic,
        Maker::Atlus => pb::ReaderMaker::Atlus,
        Maker::Almex => pb::ReaderMaker::Almex,
        Maker::Canon => pb::ReaderMaker::Canon,
        Maker::None => pb::ReaderMaker::None,
    }
}

fn power(p: Power) -> pb::PowerState {
    match p {
        Power::On => pb::PowerState::On,
        Power::Off => pb::PowerState::Off,
        Power::Absent => pb::PowerState::Absent,
        Power::None => pb::PowerState::Unspecified,
    }
}

pub fn to_report(s: &Snapshot, agent_id: &str, site_id: &str, seq: u64) -> pb::Report {
    let h = &s.host;
    pb::Report {
        seq,
        agent_id: agent_id.to_owned(),
        site_id: site_id.to_owned(),
        collected_at: Some(ts(s.collected_at)),
        schema_version: 1,
        host: Some(pb::Host {
            hostname: cut(&h.hostname, 255),
            os: cut(&h.os, MAX_TEXT),
            boot_time: h.boot_time.map(ts),
            agent_version: h.agent_version.to_owned(),
            screen_lock: h.screen_lock.as_ref().map(|l| pb::ScreenLock {
                known: l.known,
                enabled: l.enabled,
                secure: l.secure,
                timeout_seconds: l.timeout_seconds,
                clear_screen_installed: l.clear_screen_installed,
            }),
            disk_free_bytes: h.disk_free_bytes.unwrap_or(0),
            apps_updated_at: h.apps_updated_at.map(ts),
        }),
        reader: s.reader.as_ref().map(|r| pb::CardReader {
            maker: maker(r.maker) as i32,
            power: power(r.power) as i32,
            manual_power: r.manual_power,
            software_running: r.software_running,
            device_name: cut(&r.device_name, MAX_TEXT),
        }),
        certificate: s.certificate.as_ref().map(|c| pb::ClientCertificate {
            present: c.present,
            subject: cut(&c.subject, MAX_TEXT),
            issuer: cut(&c.issuer, MAX_TEXT),
            serial: cut(&c.serial, 128),
            not_after: c.not_after.map(ts),
            desktop_file_present: c.desktop_file_present.unwrap_or(c.present),
            backup_seen: c.backup_confirmed,
        }),
        accounts: s
            .accounts
            .iter()
            .map(|a| pb::Account {
                kind: match a.kind {
                    AccountKind::Windows => pb::AccountKind::Windows,
                    AccountKind::FaceAuth => pb::AccountKind::FaceAuth,
                    AccountKind::Linkage => pb::AccountKind::Linkage,
                } as i32,
                baseline_known: a.baseline_known,
                password_changed: a.password_changed,
                renamed: a.renamed,
                disabled: a.disabled,
                removed: a.removed,
                config_changed: a.config_changed,
            })
            .collect(),
        network: s
            .network
            .targets
            .iter()
            .take(MAX_LIST)
            .map(|t| pb::NetworkTarget {
                name: cut(&t.name, MAX_NAME),
                address: cut(&t.address, 255),
                reachable: t.reachable,
                latency: t.latency_ms.map(|ms| {
                    let d = Duration::from_secs_f64((ms / 1000.0).clamp(0.0, 120.0));
                    prost_types::Duration {
                        seconds: d.as_secs() as i64,
                        nanos: d.subsec_nanos() as i32,
                    }
                }),
                error: cut(&t.error, MAX_TEXT),
            })
            .collect(),
        shares: s
            .network
            .shares
            .iter()
            .take(MAX_LIST)
            .map(|sh| pb::Share {
                name: cut(&sh.name, MAX_NAME),
                exists: sh.exists,
                shared: sh.shared,
            })
            .collect(),
        ip_config: s.network.ip_config.as_ref().map(|c| pb::IpConfig {
            addresses: c
                .current
                .addresses
                .iter()
                .take(MAX_LIST)
                .map(|a| cut(a, MAX_NAME))
                .collect(),
            gateway: cut(&c.current.gateway, MAX_NAME),
            dns: c
                .current
                .dns
                .iter()
                .take(MAX_LIST)
                .map(|a| cut(a, MAX_NAME))
                .collect(),
            drifted: c.drifted,
        }),
        agent: Some(pb::AgentHealth {
            probe_errors: s
                .errors
                .iter()
                .take(16)
                .map(|e| cut(&format!("{}: {}", e.probe, e.error), 200))
                .collect(),
            ..Default::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_respects_characters() {
        assert_eq!(cut("顔認証", 4), "顔");
        assert_eq!(cut("abc", 10), "abc");
    }
}
