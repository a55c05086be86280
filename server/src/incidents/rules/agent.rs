//! The agent's own health: a silent or blind agent must never pass for a healthy site.

use super::{Condition, Rule};
use crate::fleet::report::ReportDoc;
use crate::sites::Health;

/// Probes that failed: those sections of the report are unobserved, not healthy.
pub fn probe_errors(doc: &ReportDoc) -> Option<Condition> {
    let errors = &doc.agent.probe_errors;
    (!errors.is_empty()).then(|| {
        Condition::new(
            Rule::AgentProbeErrors,
            Health::Warning,
            format!("エージェントの点検が{}件失敗しています", errors.len()),
            format!(
                "該当する項目は確認できていません: {}。オン資PCで `onshi-agent probe` を実行して原因を確認してください",
                errors.join(" / ")
            ),
        )
        .evidence(serde_json::json!({ "probe_errors": errors }))
    })
}

/// Reports the agent could not keep (full spool, damaged records). Said once; the incident
/// stays until an operator resolves it (`Rule::auto_resolves`).
pub fn spool_loss(doc: &ReportDoc) -> Option<Condition> {
    let a = &doc.agent;
    (a.spool_dropped > 0 || a.spool_corrupt > 0 || a.spool_rejected > 0).then(|| {
        Condition::new(
            Rule::AgentSpoolLoss,
            Health::Warning,
            format!(
                "エージェントの送信待ちデータが失われました（破棄 {} 件、破損 {} 件、サーバーが拒否 {} 件）",
                a.spool_dropped, a.spool_corrupt, a.spool_rejected
            ),
            "オン資PCのディスク空き容量と、停止していた期間を確認してください。確認したら手動で解決にしてください",
        )
        .evidence(serde_json::json!({
            "dropped": a.spool_dropped, "corrupt": a.spool_corrupt, "rejected": a.spool_rejected,
        }))
    })
}
