use chrono::Duration;

use super::*;
use crate::fleet::report::{ReaderDoc, TargetDoc};
use crate::incidents::rules::{self, SiteContext};

fn now() -> DateTime<Utc> {
    "2026-12-01T01:00:00Z".parse().unwrap()
}

#[test]
fn every_rule_but_offline_has_a_section_and_problems_land_there() {
    for rule in Rule::ALL {
        assert_eq!(
            Section::of(rule).is_none(),
            rule == Rule::Offline,
            "{rule:?}"
        );
    }
    let mut doc = ReportDoc {
        reader: Some(ReaderDoc {
            maker: "almex".into(),
            power: "off".into(),
            manual_power: true,
            ..Default::default()
        }),
        network: vec![TargetDoc {
            name: "router".into(),
            address: "10.51.1.1".into(),
            reachable: false,
            error: "timeout".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    doc.host.boot_time = Some(now() - Duration::hours(30));
    doc.agent.probe_errors = vec!["shares: access denied".into()];
    let conditions = rules::evaluate(&doc, &SiteContext::unknown(now()));
    let view = sections(&doc, &conditions, now());
    assert_eq!(view.len(), Section::ALL.len());
    let get = |s| view.iter().find(|v| v.section == s).unwrap();
    let reader = get(Section::Reader);
    assert_eq!(reader.health(), Health::Critical);
    assert!(
        reader.problems[0].detail.contains("ALMEX"),
        "the rule's own advice"
    );
    assert!(
        reader
            .facts
            .iter()
            .any(|(l, v)| l == "メーカー" && v == "ALMEX")
    );
    assert!(reader.facts.iter().any(|(_, v)| v.starts_with("手動")));
    let net = get(Section::Network);
    assert!(net.facts[0].1.contains("接続できません（timeout）"));
    assert_eq!(net.problems[0].rule, Rule::NetworkUnreachable);
    assert_eq!(get(Section::Reboot).problems[0].rule, Rule::NoDailyReboot);
    let agent = get(Section::AgentHealth);
    assert!(
        agent
            .facts
            .iter()
            .any(|(_, v)| v == "shares: access denied")
    );
    assert_eq!(get(Section::Disk).health(), Health::Ok);
    assert!(get(Section::Certificate).facts[0].1.contains("報告なし"));
}
