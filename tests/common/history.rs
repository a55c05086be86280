//! Reading `report_history` in tests: the lean row (migrations/0007_lean_history.sql) keeps the
//! report as protobuf bytes, decoded here.

use onshi_proto::v1 as pb;
use prost::Message;
use sqlx::PgPool;

/// One stored report; times as epoch seconds (the tests' sqlx has no chrono).
pub struct StoredReport {
    pub seq: i64,
    pub received_at: f64,
    pub collected_at: f64,
    pub report: pb::Report,
}

impl StoredReport {
    pub fn agent_health(&self) -> pb::AgentHealth {
        self.report.agent.clone().unwrap_or_default()
    }
}

/// Every stored report of `agent_id`, by seq then commit time (a duplicate shows twice).
pub async fn stored_reports(pool: &PgPool, agent_id: &str) -> Vec<StoredReport> {
    let rows: Vec<(i64, f64, f64, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, extract(epoch FROM received_at)::float8, extract(epoch FROM collected_at)::float8,
                report
         FROM report_history WHERE agent_id = $1 ORDER BY seq, received_at",
    )
    .bind(agent_id)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(seq, received_at, collected_at, bytes)| StoredReport {
            seq,
            received_at,
            collected_at,
            report: pb::Report::decode(bytes.as_slice())
                .unwrap_or_else(|e| panic!("seq {seq}: stored report is not protobuf: {e}")),
        })
        .collect()
}
