//! Unit tests of `validate` (pure: no database).

use super::*;

fn now() -> DateTime<Utc> {
    "2026-11-25T03:00:00Z".parse().unwrap()
}

fn ts(d: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: d.timestamp(),
        nanos: 0,
    })
}

fn batch() -> pb::SubmitReportsRequest {
    pb::SubmitReportsRequest {
        agent_id: "agent-1".into(),
        reports: vec![pb::Report {
            seq: 1,
            agent_id: "agent-1".into(),
            site_id: "site-1".into(),
            collected_at: ts(now()),
            ..Default::default()
        }],
        abandoned_through: 0,
        update: None,
    }
}

fn message(req: &pb::SubmitReportsRequest) -> String {
    validate_batch(req, now()).unwrap_err().to_string()
}

#[test]
fn minimal_report_is_valid() {
    validate_batch(&batch(), now()).unwrap();
}

#[test]
fn negative_latency_is_rejected_with_field_name() {
    let mut req = batch();
    req.reports[0].network.push(pb::NetworkTarget {
        name: "router".into(),
        latency: Some(prost_types::Duration {
            seconds: -1,
            nanos: 0,
        }),
        ..Default::default()
    });
    assert!(message(&req).contains("network[0].latency is negative"));
}

#[test]
fn year_10000_certificate_is_rejected() {
    let mut req = batch();
    req.reports[0].certificate = Some(pb::ClientCertificate {
        not_after: Some(prost_types::Timestamp {
            seconds: 253_402_300_800,
            nanos: 0,
        }),
        ..Default::default()
    });
    assert!(message(&req).contains("certificate.not_after is out of range"));
}

#[test]
fn oversized_string_and_bad_ids() {
    let mut req = batch();
    req.reports[0].host = Some(pb::Host {
        hostname: "x".repeat(300),
        ..Default::default()
    });
    assert!(message(&req).contains("host.hostname is 300 bytes"));
    let mut req = batch();
    req.reports[0].agent_id = "other".into();
    assert!(message(&req).contains("differs"));
    let mut req = batch();
    req.reports[0].site_id = "site 1; DROP".into();
    assert!(message(&req).contains("site_id may contain only"));
    let mut req = batch();
    req.reports[0].seq = 0;
    assert!(message(&req).contains("seq must be"));
}

#[test]
fn missing_collected_at_and_empty_batch() {
    let mut req = batch();
    req.reports[0].collected_at = None;
    assert!(message(&req).contains("collected_at is missing"));
    req.reports.clear();
    assert!(message(&req).contains("no reports"));
}

#[test]
fn too_many_reports_is_resource_exhausted() {
    let mut req = batch();
    req.reports = (1..=MAX_REPORTS_PER_BATCH as u64 + 1)
        .map(|seq| pb::Report {
            seq,
            ..req.reports[0].clone()
        })
        .collect();
    assert!(matches!(
        validate_batch(&req, now()),
        Err(Error::ResourceExhausted(_))
    ));
}

/// One report with a NUL in `field`; the message must name exactly it.
fn with_nul(field: &str) -> pb::SubmitReportsRequest {
    let nul = "pc\u{0}x".to_owned();
    let mut req = batch();
    let r = &mut req.reports[0];
    match field {
        "host.hostname" => {
            r.host = Some(pb::Host {
                hostname: nul,
                ..Default::default()
            })
        }
        "host.os" => {
            r.host = Some(pb::Host {
                os: nul,
                ..Default::default()
            })
        }
        "host.agent_version" => {
            r.host = Some(pb::Host {
                agent_version: nul,
                ..Default::default()
            })
        }
        "reader.device_name" => {
            r.reader = Some(pb::CardReader {
                device_name: nul,
                ..Default::default()
            })
        }
        "certificate.subject" => {
            r.certificate = Some(pb::ClientCertificate {
                subject: nul,
                ..Default::default()
            })
        }
        "certificate.issuer" => {
            r.certificate = Some(pb::ClientCertificate {
                issuer: nul,
                ..Default::default()
            })
        }
        "certificate.serial" => {
            r.certificate = Some(pb::ClientCertificate {
                serial: nul,
                ..Default::default()
            })
        }
        "network[0].name" => r.network.push(pb::NetworkTarget {
            name: nul,
            ..Default::default()
        }),
        "network[0].address" => r.network.push(pb::NetworkTarget {
            address: nul,
            ..Default::default()
        }),
        "network[0].error" => r.network.push(pb::NetworkTarget {
            error: nul,
            ..Default::default()
        }),
        "shares[0].name" => r.shares.push(pb::Share {
            name: nul,
            ..Default::default()
        }),
        "ip_config.gateway" => {
            r.ip_config = Some(pb::IpConfig {
                gateway: nul,
                ..Default::default()
            })
        }
        "ip_config.addresses[0]" => {
            r.ip_config = Some(pb::IpConfig {
                addresses: vec![nul],
                ..Default::default()
            })
        }
        "ip_config.dns[1]" => {
            r.ip_config = Some(pb::IpConfig {
                dns: vec!["10.0.0.1".into(), nul],
                ..Default::default()
            })
        }
        "agent.probe_errors[0]" => {
            r.agent = Some(pb::AgentHealth {
                probe_errors: vec![nul],
                ..Default::default()
            })
        }
        other => panic!("no case for {other}"),
    }
    req
}

#[test]
fn nul_in_any_string_is_refused_naming_the_field() {
    for field in [
        "host.hostname",
        "host.os",
        "host.agent_version",
        "reader.device_name",
        "certificate.subject",
        "certificate.issuer",
        "certificate.serial",
        "network[0].name",
        "network[0].address",
        "network[0].error",
        "shares[0].name",
        "ip_config.gateway",
        "ip_config.addresses[0]",
        "ip_config.dns[1]",
        "agent.probe_errors[0]",
    ] {
        let err = validate_batch(&with_nul(field), now()).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{field}: {err:?}");
        assert_eq!(
            err.to_string(),
            format!("report seq 1: {field} contains a NUL character")
        );
    }
}

#[test]
fn probe_errors_limits_are_enforced() {
    let mut req = batch();
    req.reports[0].agent = Some(pb::AgentHealth {
        probe_errors: vec!["reader: timed out".into(); MAX_PROBE_ERRORS],
        ..Default::default()
    });
    validate_batch(&req, now()).unwrap();
    req.reports[0]
        .agent
        .as_mut()
        .unwrap()
        .probe_errors
        .push("one more".into());
    assert!(message(&req).contains("agent.probe_errors has 17 entries; at most 16"));
    req.reports[0].agent = Some(pb::AgentHealth {
        probe_errors: vec!["x".repeat(MAX_PROBE_ERROR_LEN + 1)],
        ..Default::default()
    });
    assert!(message(&req).contains("agent.probe_errors[0] is 201 bytes; at most 200"));
}

#[test]
fn timestamp_nanos_out_of_range_is_named() {
    for nanos in [-1, 1_000_000_000] {
        let mut req = batch();
        req.reports[0].collected_at.as_mut().unwrap().nanos = nanos;
        let msg = message(&req);
        assert!(
            msg.contains(&format!(
                "collected_at has nanos={nanos}; nanos must be between 0 and 999999999"
            )),
            "{msg}"
        );
        assert!(!msg.contains("out of range"), "{msg}");
    }
    let mut req = batch();
    req.reports[0].network.push(pb::NetworkTarget {
        latency: Some(prost_types::Duration {
            seconds: 0,
            nanos: 1_000_000_000,
        }),
        ..Default::default()
    });
    assert!(message(&req).contains("network[0].latency has nanos=1000000000"));
}
