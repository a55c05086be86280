//! Validation of incoming report batches. Pure: `now` is a parameter.
//!
//! Everything an agent sends is checked before the database is touched; a
//! rejected batch stores nothing, and the error says which report and field
//! is wrong and what range is allowed.

use chrono::{DateTime, TimeZone, Utc};
use onshi_proto::v1 as pb;

use crate::error::Error;

pub const MAX_REPORTS_PER_BATCH: usize = 500;
pub const MAX_ID_LEN: usize = 64;
pub const MAX_TEXT_LEN: usize = 512;
pub const MAX_LIST_LEN: usize = 64;
/// `AgentHealth.probe_errors` limits, as documented in the contract.
pub const MAX_PROBE_ERRORS: usize = 16;
pub const MAX_PROBE_ERROR_LEN: usize = 200;
/// A TCP connect that took longer than this was not measured correctly.
pub const MAX_LATENCY_SECONDS: i64 = 120;

fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1990, 1, 1, 0, 0, 0).unwrap()
}
/// Certificates and clocks beyond this are absurd (e.g. year 10000).
fn latest_cert() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).unwrap()
}

fn invalid(seq: u64, msg: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("report seq {seq}: {msg}"))
}

/// Checks an id (agent or site): 1..=64 of `[A-Za-z0-9._-]`.
pub fn check_id(what: &str, id: &str) -> Result<(), Error> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(Error::InvalidArgument(format!(
            "{what} must be 1 to {MAX_ID_LEN} characters, got {}",
            id.len()
        )));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(Error::InvalidArgument(format!(
            "{what} may contain only A-Z a-z 0-9 . _ -"
        )));
    }
    Ok(())
}

pub fn validate_batch(req: &pb::SubmitReportsRequest, now: DateTime<Utc>) -> Result<(), Error> {
    check_id("agent_id", &req.agent_id)?;
    if req.abandoned_through > i64::MAX as u64 {
        return Err(Error::InvalidArgument(
            "abandoned_through must be below 2^63".into(),
        ));
    }
    if req.reports.is_empty() {
        return Err(Error::InvalidArgument("batch has no reports".into()));
    }
    if req.reports.len() > MAX_REPORTS_PER_BATCH {
        return Err(Error::ResourceExhausted(format!(
            "batch has {} reports; send at most {MAX_REPORTS_PER_BATCH} per call",
            req.reports.len()
        )));
    }
    for report in &req.reports {
        validate_report(&req.agent_id, report, now)?;
    }
    Ok(())
}

fn validate_report(agent_id: &str, r: &pb::Report, now: DateTime<Utc>) -> Result<(), Error> {
    let seq = r.seq;
    if seq == 0 || seq > i64::MAX as u64 {
        return Err(invalid(seq, "seq must be between 1 and 2^63-1"));
    }
    if r.agent_id != agent_id {
        return Err(invalid(
            seq,
            format!(
                "agent_id {:?} differs from the batch's {:?}",
                r.agent_id, agent_id
            ),
        ));
    }
    check_id("site_id", &r.site_id).map_err(|e| invalid(seq, e))?;
    let latest_clock = now + chrono::Duration::days(1);
    let collected = time_field(seq, "collected_at", &r.collected_at, latest_clock)?
        .ok_or_else(|| invalid(seq, "collected_at is missing"))?;
    let _ = collected;

    if let Some(host) = &r.host {
        text(seq, "host.hostname", &host.hostname, 255)?;
        text(seq, "host.os", &host.os, MAX_TEXT_LEN)?;
        text(seq, "host.agent_version", &host.agent_version, MAX_ID_LEN)?;
        time_field(seq, "host.boot_time", &host.boot_time, latest_clock)?;
        time_field(
            seq,
            "host.apps_updated_at",
            &host.apps_updated_at,
            latest_clock,
        )?;
    }
    if let Some(reader) = &r.reader {
        text(seq, "reader.device_name", &reader.device_name, MAX_TEXT_LEN)?;
        if pb::ReaderMaker::try_from(reader.maker).is_err()
            || pb::PowerState::try_from(reader.power).is_err()
        {
            return Err(invalid(
                seq,
                "reader.maker or reader.power has an unknown value",
            ));
        }
    }
    if let Some(cert) = &r.certificate {
        text(seq, "certificate.subject", &cert.subject, MAX_TEXT_LEN)?;
        text(seq, "certificate.issuer", &cert.issuer, MAX_TEXT_LEN)?;
        text(seq, "certificate.serial", &cert.serial, MAX_ID_LEN * 2)?;
        time_field(seq, "certificate.not_after", &cert.not_after, latest_cert())?;
    }
    list(seq, "accounts", r.accounts.len())?;
    for a in &r.accounts {
        if pb::AccountKind::try_from(a.kind).is_err() {
            return Err(invalid(seq, format!("accounts.kind {} is unknown", a.kind)));
        }
    }
    list(seq, "network", r.network.len())?;
    for (i, t) in r.network.iter().enumerate() {
        validate_target(seq, i, t)?;
    }
    list(seq, "shares", r.shares.len())?;
    for (i, s) in r.shares.iter().enumerate() {
        text(seq, &format!("shares[{i}].name"), &s.name, MAX_ID_LEN)?;
    }
    if let Some(ip) = &r.ip_config {
        list(seq, "ip_config.addresses", ip.addresses.len())?;
        list(seq, "ip_config.dns", ip.dns.len())?;
        text(seq, "ip_config.gateway", &ip.gateway, MAX_ID_LEN)?;
        for (i, a) in ip.addresses.iter().enumerate() {
            text(seq, &format!("ip_config.addresses[{i}]"), a, MAX_ID_LEN)?;
        }
        for (i, a) in ip.dns.iter().enumerate() {
            text(seq, &format!("ip_config.dns[{i}]"), a, MAX_ID_LEN)?;
        }
    }
    if let Some(agent) = &r.agent {
        validate_agent_health(seq, agent)?;
    }
    Ok(())
}

fn validate_target(seq: u64, i: usize, t: &pb::NetworkTarget) -> Result<(), Error> {
    text(seq, &format!("network[{i}].name"), &t.name, MAX_ID_LEN)?;
    text(seq, &format!("network[{i}].address"), &t.address, 255)?;
    text(seq, &format!("network[{i}].error"), &t.error, MAX_TEXT_LEN)?;
    if let Some(d) = &t.latency {
        if d.seconds < 0 || d.nanos < 0 {
            return Err(invalid(
                seq,
                format!(
                    "network[{i}].latency is negative; it must be between 0 and {MAX_LATENCY_SECONDS} s"
                ),
            ));
        }
        if d.nanos >= 1_000_000_000 {
            return Err(invalid(
                seq,
                format!(
                    "network[{i}].latency has nanos={}; nanos must be between 0 and 999999999",
                    d.nanos
                ),
            ));
        }
        if d.seconds > MAX_LATENCY_SECONDS {
            return Err(invalid(
                seq,
                format!(
                    "network[{i}].latency is out of range; it must be between 0 and {MAX_LATENCY_SECONDS} s"
                ),
            ));
        }
    }
    Ok(())
}

fn validate_agent_health(seq: u64, agent: &pb::AgentHealth) -> Result<(), Error> {
    if agent.probe_errors.len() > MAX_PROBE_ERRORS {
        return Err(invalid(
            seq,
            format!(
                "agent.probe_errors has {} entries; at most {MAX_PROBE_ERRORS} are allowed",
                agent.probe_errors.len()
            ),
        ));
    }
    for (i, e) in agent.probe_errors.iter().enumerate() {
        text(
            seq,
            &format!("agent.probe_errors[{i}]"),
            e,
            MAX_PROBE_ERROR_LEN,
        )?;
    }
    Ok(())
}

/// Every string of a report passes here. NUL is refused because PostgreSQL
/// cannot store it in text or jsonb: accepted, it would fail the commit on
/// every retry and block all later reports of that PC.
fn text(seq: u64, field: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.contains('\0') {
        return Err(invalid(seq, format!("{field} contains a NUL character")));
    }
    if value.len() > max {
        return Err(invalid(
            seq,
            format!(
                "{field} is {} bytes; at most {max} are allowed",
                value.len()
            ),
        ));
    }
    Ok(())
}

fn list(seq: u64, field: &str, len: usize) -> Result<(), Error> {
    if len > MAX_LIST_LEN {
        return Err(invalid(
            seq,
            format!("{field} has {len} entries; at most {MAX_LIST_LEN} are allowed"),
        ));
    }
    Ok(())
}

fn time_field(
    seq: u64,
    field: &str,
    ts: &Option<prost_types::Timestamp>,
    latest: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let Some(t) = ts else { return Ok(None) };
    let Some(nanos) = u32::try_from(t.nanos).ok().filter(|n| *n < 1_000_000_000) else {
        return Err(invalid(
            seq,
            format!(
                "{field} has nanos={}; nanos must be between 0 and 999999999",
                t.nanos
            ),
        ));
    };
    let parsed =
        DateTime::from_timestamp(t.seconds, nanos).filter(|d| *d >= earliest() && *d <= latest);
    match parsed {
        Some(d) => Ok(Some(d)),
        None => Err(invalid(
            seq,
            format!(
                "{field} is out of range (seconds={}); it must be between {} and {}",
                t.seconds,
                earliest().format("%Y-%m-%d"),
                latest.format("%Y-%m-%d")
            ),
        )),
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
