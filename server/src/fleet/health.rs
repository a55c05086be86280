//! Health rules: what in a report makes a site red (critical) or amber
//! (warning). Pure: `now` is a parameter. The incident engine builds on these
//! findings; the rules encode domain.md §2 (guide 1-1, 1-4, 1-7).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::report::ReportDoc;
use crate::incidents::rules::{self, Condition, SiteContext};

pub use crate::sites::model::Health;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable machine code, e.g. `cert_expired` (an incident rule).
    pub code: String,
    /// What the finding is about (certificate serial, network target, share); may be empty.
    #[serde(default)]
    pub subject: String,
    pub severity: Health,
    /// What the operator reads (Japanese), including what to do.
    pub message: String,
}

/// The findings of a report when nothing is known of the site but the time (how ingest
/// colours a report): the incident rules with an unknown site context, so there is one
/// implementation of every rule (`incidents::rules`).
pub fn evaluate(doc: &ReportDoc, now: DateTime<Utc>) -> Vec<Finding> {
    rules::evaluate(doc, &SiteContext::unknown(now))
        .into_iter()
        .map(Finding::from)
        .collect()
}

impl From<Condition> for Finding {
    fn from(c: Condition) -> Self {
        Finding {
            code: c.rule.as_str().to_owned(),
            subject: c.subject,
            severity: c.severity,
            message: format!("{}。{}", c.title, c.detail),
        }
    }
}

pub fn overall(findings: &[Finding]) -> Health {
    findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Health::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::report::{AccountDoc, CertificateDoc, ReaderDoc, TargetDoc};
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        "2026-11-25T03:00:00Z".parse().unwrap()
    }

    fn healthy() -> ReportDoc {
        ReportDoc {
            reader: Some(ReaderDoc {
                maker: "fujitsu".into(),
                power: "on".into(),
                ..Default::default()
            }),
            certificate: Some(CertificateDoc {
                present: true,
                backup_seen: true,
                desktop_file_present: true,
                not_after: Some(now() + Duration::days(365)),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn codes(doc: &ReportDoc) -> Vec<String> {
        evaluate(doc, now()).into_iter().map(|f| f.code).collect()
    }

    #[test]
    fn healthy_report_is_ok() {
        assert!(codes(&healthy()).is_empty());
        assert_eq!(overall(&evaluate(&healthy(), now())), Health::Ok);
    }

    #[test]
    fn reader_off_is_critical() {
        let mut doc = healthy();
        doc.reader.as_mut().unwrap().power = "off".into();
        let f = evaluate(&doc, now());
        assert_eq!(f[0].code, "reader_off");
        assert_eq!(overall(&f), Health::Critical);
    }

    #[test]
    fn certificate_expiry_thresholds() {
        let mut doc = healthy();
        doc.certificate.as_mut().unwrap().not_after = Some(now() + Duration::days(59));
        assert_eq!(codes(&doc), ["cert_expiring"]);
        doc.certificate.as_mut().unwrap().not_after = Some(now() + Duration::days(61));
        assert!(codes(&doc).is_empty());
        doc.certificate.as_mut().unwrap().not_after = Some(now());
        assert_eq!(codes(&doc), ["cert_expired"]);
    }

    #[test]
    fn account_change_and_unreachable_router() {
        let mut doc = healthy();
        doc.accounts.push(AccountDoc {
            kind: "linkage".into(),
            password_changed: true,
            ..Default::default()
        });
        doc.network.push(TargetDoc {
            name: "router".into(),
            reachable: false,
            ..Default::default()
        });
        assert_eq!(codes(&doc), ["account_changed", "network_unreachable"]);
    }

    #[test]
    fn uptime_over_a_day_is_a_finding() {
        let mut doc = healthy();
        doc.host.boot_time = Some(now() - Duration::hours(25));
        assert!(codes(&doc).is_empty());
        doc.host.boot_time = Some(now() - Duration::hours(27));
        assert_eq!(codes(&doc), ["no_daily_reboot"]);
    }
}
