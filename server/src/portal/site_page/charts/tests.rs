use super::*;
use crate::fleet::history::{Gap, Hour};
use crate::sites::SiteKind;

/// Tuesday 2026-12-01 12:00 JST.
fn now() -> DateTime<Utc> {
    "2026-12-01T03:00:00Z".parse().unwrap()
}

fn history() -> History {
    let hour = |h: i64, reports, off| Hour {
        bucket: now() - Duration::hours(h),
        reports,
        reader_on: reports - off,
        reader_off: off,
        reader_absent: 0,
        probe_errors: 0,
    };
    History {
        from: now() - Duration::days(7),
        to: now(),
        hours: vec![hour(3, 60, 0), hour(2, 60, 30), hour(1, 20, 0)],
        targets: vec![TargetHour {
            bucket: now() - Duration::hours(2),
            name: "<router>".into(),
            probes: 60,
            reachable: 30,
            latency_avg: Some(12.5),
            latency_max: Some(40),
        }],
        reboots: vec![now() - Duration::hours(3)],
        gaps: vec![Gap {
            from: now() - Duration::minutes(40),
            to: now(),
        }],
    }
}

#[test]
fn the_timeline_marks_what_matters_while_open_and_escapes_names() {
    let hours = BusinessHours::default_for(SiteKind::Clinic);
    let c = timeline(&history(), &hours);
    assert!(c.has_data);
    assert!(c.svg.starts_with("<svg") && c.svg.ends_with("</svg>"));
    assert!(c.svg.contains("&lt;router&gt;") && !c.svg.contains("<router>"));
    assert!(c.svg.contains("オフ 30 件"), "reader off shown");
    assert!(c.svg.contains("30/60 回到達"));
    let text = c.summary.join(" ");
    assert!(text.contains("報告 140 件"), "{text}");
    assert!(text.contains("再起動: 1 回"), "{text}");
    assert!(text.contains("オフ・未接続だった時間: 1 時間"), "{text}");
    assert!(text.contains("最長 0時間40分"), "{text}");
    // 09:00–12:00 Tuesday is open: hours without reports before it count as silent.
    assert!(text.contains("営業時間中に報告がなかった時間"), "{text}");
    // 168 hourly columns.
    assert_eq!(columns(&history()).len(), 168);
}

#[test]
fn an_empty_history_draws_an_empty_chart() {
    let h = History {
        from: now() - Duration::days(7),
        to: now(),
        ..Default::default()
    };
    let c = timeline(&h, &BusinessHours::default_for(SiteKind::Pharmacy));
    assert!(!c.has_data);
    assert!(c.summary[0].starts_with("報告 0 件"));
}

#[test]
fn escaping_drops_control_characters() {
    assert_eq!(esc("a&b\"<\u{0}>'"), "a&amp;b&quot;&lt;&gt;&#39;");
}
