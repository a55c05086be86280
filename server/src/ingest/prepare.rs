//! A validated batch turned into the rows ingest writes: the lean history row of every report
//! (protobuf bytes, health, the typed columns of the contract in docs/SCALING.md) and the
//! `site_state` row of the batch's newest report. Pure (`now` is a parameter) and done in the
//! gRPC handler, before the batch is queued, so the writer's open transaction only sends rows.

use chrono::{DateTime, Utc};
use onshi_proto::v1 as pb;
use prost::Message;

use crate::error::Error;
use crate::fleet::health::{self, Health};
use crate::fleet::report::{ReportDoc, timestamp};
use crate::sites::ReaderPower;

/// One `report_history` row. The array columns are PostgreSQL array literals (built here,
/// outside the transaction): a multi-row `unnest` cannot carry one array per row otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub seq: i64,
    pub site_id: String,
    pub collected_at: DateTime<Utc>,
    pub health: Health,
    /// The validated `onshi.v1.Report`, protobuf-encoded.
    pub report: Vec<u8>,
    pub reader_power: Option<ReaderPower>,
    pub boot_time: Option<DateTime<Utc>>,
    pub targets: TargetArrays,
    pub probe_errors: i16,
}

/// `target_names`, `target_reachable`, `target_latency_ms` as array literals, in report order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetArrays {
    pub names: String,
    pub reachable: String,
    pub latency_ms: String,
}

/// The `site_state` row a report would write (JSON form of `fleet::report`).
#[derive(Debug, Clone, PartialEq)]
pub struct StateRow {
    pub seq: i64,
    pub site_id: String,
    pub collected_at: DateTime<Utc>,
    pub health: Health,
    pub findings: String,
    pub report: String,
}

/// A batch ready for the writer.
#[derive(Debug, Clone)]
pub struct PreparedBatch {
    pub agent_id: String,
    /// `Host.agent_version` of the batch's last report ('' keeps the stored one).
    pub agent_version: String,
    pub abandoned_through: u64,
    /// Receipt time: history partition and health evaluation.
    pub now: DateTime<Utc>,
    /// One per report, in batch order (a repeated seq appears twice; the store keeps the first).
    pub rows: Vec<HistoryRow>,
    /// The `site_state` candidate: the batch's highest seq. Written only if that report is
    /// stored now; a lower report of the same batch never replaces the state, since a higher
    /// seq of this agent was stored earlier (state never goes backwards).
    pub newest: Option<StateRow>,
}

impl PreparedBatch {
    /// Reports in the batch (a group's size is counted in reports).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The site the batch is about (every report is checked against the agent's site).
    pub fn site_id(&self) -> &str {
        self.rows.first().map_or("", |r| r.site_id.as_str())
    }
}

/// Prepares a batch that `validate::validate_batch` accepted.
pub fn batch(
    agent_id: String,
    reports: &[pb::Report],
    abandoned_through: u64,
    now: DateTime<Utc>,
) -> Result<PreparedBatch, Error> {
    let newest = reports.iter().max_by_key(|r| r.seq);
    let mut rows = Vec::with_capacity(reports.len());
    let mut state = None;
    for r in reports {
        let doc = ReportDoc::from(r);
        let findings = health::evaluate(&doc, now);
        let health = health::overall(&findings);
        let row = history_row(r, &doc, health, now);
        if newest.is_some_and(|n| std::ptr::eq(n, r)) {
            state = Some(StateRow {
                seq: row.seq,
                site_id: row.site_id.clone(),
                collected_at: row.collected_at,
                health,
                findings: serde_json::to_string(&findings).map_err(anyhow::Error::from)?,
                report: serde_json::to_string(&doc).map_err(anyhow::Error::from)?,
            });
        }
        rows.push(row);
    }
    Ok(PreparedBatch {
        agent_id,
        agent_version: reports
            .last()
            .and_then(|r| r.host.as_ref())
            .map(|h| h.agent_version.clone())
            .unwrap_or_default(),
        abandoned_through,
        now,
        rows,
        newest: state,
    })
}

/// The history row of one report.
pub fn history_row(
    r: &pb::Report,
    doc: &ReportDoc,
    health: Health,
    now: DateTime<Utc>,
) -> HistoryRow {
    HistoryRow {
        seq: r.seq as i64,
        site_id: r.site_id.clone(),
        collected_at: doc.collected_at.unwrap_or(now),
        health,
        report: r.encode_to_vec(),
        reader_power: reader_power(r.reader.as_ref()),
        boot_time: r.host.as_ref().and_then(|h| timestamp(&h.boot_time)),
        targets: target_arrays(&r.network),
        probe_errors: r.agent.as_ref().map_or(0, |a| {
            i16::try_from(a.probe_errors.len()).unwrap_or(i16::MAX)
        }),
    }
}

/// NULL (None) when the site has no reader or the power is unknown.
pub fn reader_power(reader: Option<&pb::CardReader>) -> Option<ReaderPower> {
    let reader = reader?;
    if reader.maker() == pb::ReaderMaker::None {
        return None;
    }
    match reader.power() {
        pb::PowerState::On => Some(ReaderPower::On),
        pb::PowerState::Off => Some(ReaderPower::Off),
        pb::PowerState::Absent => Some(ReaderPower::Absent),
        pb::PowerState::Unspecified => None,
    }
}

/// Whole milliseconds (rounded), `None` when unreachable or not measured.
pub fn latency_ms(t: &pb::NetworkTarget) -> Option<i32> {
    let d = t.latency.as_ref().filter(|_| t.reachable)?;
    let ms = d.seconds.saturating_mul(1000) + (i64::from(d.nanos) + 500_000) / 1_000_000;
    Some(i32::try_from(ms.max(0)).unwrap_or(i32::MAX))
}

pub fn target_arrays(targets: &[pb::NetworkTarget]) -> TargetArrays {
    TargetArrays {
        names: array_literal(targets.iter().map(|t| Some(quoted(&t.name)))),
        reachable: array_literal(
            targets
                .iter()
                .map(|t| Some(if t.reachable { "t" } else { "f" }.to_owned())),
        ),
        latency_ms: array_literal(
            targets
                .iter()
                .map(|t| latency_ms(t).map(|ms| ms.to_string())),
        ),
    }
}

/// `{a,b,NULL}` from already-quoted elements (None is SQL NULL).
fn array_literal(elements: impl Iterator<Item = Option<String>>) -> String {
    let mut out = String::from("{");
    for (i, e) in elements.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(e.as_deref().unwrap_or("NULL"));
    }
    out.push('}');
    out
}

/// A text element of an array literal: always double-quoted (so `NULL`, spaces, commas and
/// braces stay text), with `"` and `\` escaped. Validation has refused NUL already.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, reachable: bool, latency: Option<(i64, i32)>) -> pb::NetworkTarget {
        pb::NetworkTarget {
            name: name.into(),
            reachable,
            latency: latency.map(|(seconds, nanos)| prost_types::Duration { seconds, nanos }),
            ..Default::default()
        }
    }

    #[test]
    fn target_arrays_keep_order_and_null_latency_when_unreachable() {
        let a = target_arrays(&[
            target("router", true, Some((0, 1_400_000))),
            target("onshi-endpoint", false, Some((0, 9_000_000))),
            target("vpn", true, None),
            target("slow", true, Some((2, 500_000))),
        ]);
        assert_eq!(a.names, r#"{"router","onshi-endpoint","vpn","slow"}"#);
        assert_eq!(a.reachable, "{t,f,t,t}");
        assert_eq!(a.latency_ms, "{1,NULL,NULL,2001}");
        assert_eq!(
            target_arrays(&[]),
            TargetArrays {
                names: "{}".into(),
                reachable: "{}".into(),
                latency_ms: "{}".into(),
            }
        );
    }

    #[test]
    fn names_that_look_like_syntax_stay_text() {
        let a = target_arrays(&[
            target("NULL", false, None),
            target(r#"a "b",{c}\d"#, false, None),
            target("", false, None),
        ]);
        assert_eq!(a.names, r#"{"NULL","a \"b\",{c}\\d",""}"#);
    }

    #[test]
    fn reader_power_is_null_without_a_reader_or_when_unknown() {
        let reader = |maker, power| pb::CardReader {
            maker: maker as i32,
            power: power as i32,
            ..Default::default()
        };
        use pb::{PowerState as P, ReaderMaker as M};
        assert_eq!(reader_power(None), None);
        assert_eq!(reader_power(Some(&reader(M::None, P::Absent))), None);
        assert_eq!(reader_power(Some(&reader(M::Canon, P::Unspecified))), None);
        assert_eq!(
            reader_power(Some(&reader(M::Fujitsu, P::Off))),
            Some(ReaderPower::Off)
        );
        assert_eq!(
            reader_power(Some(&reader(M::Unspecified, P::Absent))),
            Some(ReaderPower::Absent)
        );
    }

    #[test]
    fn a_batch_keeps_the_protobuf_and_prepares_the_newest_state() {
        let now: DateTime<Utc> = "2026-12-02T01:00:00Z".parse().unwrap();
        let report = |seq: u64| pb::Report {
            seq,
            site_id: "s1".into(),
            host: Some(pb::Host {
                agent_version: format!("1.{seq}"),
                boot_time: Some(prost_types::Timestamp {
                    seconds: 1_764_633_600,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            agent: Some(pb::AgentHealth {
                probe_errors: vec!["reader: timed out".into(), "cert: denied".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let reports = [report(5), report(7), report(6)];
        let b = batch("a1".into(), &reports, 0, now).unwrap();
        assert_eq!(b.rows.len(), 3);
        assert_eq!(b.agent_version, "1.6", "the last report's version");
        assert_eq!(b.site_id(), "s1");
        let row = &b.rows[1];
        assert_eq!(
            pb::Report::decode(row.report.as_slice()).unwrap(),
            reports[1]
        );
        assert_eq!(row.probe_errors, 2);
        assert_eq!(row.collected_at, now, "no collected_at: the receipt time");
        assert_eq!(row.boot_time, "2025-12-02T00:00:00Z".parse().ok());
        let state = b.newest.unwrap();
        assert_eq!(state.seq, 7);
        let doc: ReportDoc = serde_json::from_str(&state.report).unwrap();
        assert_eq!(doc, ReportDoc::from(&reports[1]));
    }
}
