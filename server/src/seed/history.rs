//! `seed --days N`: history in the lean format (migrations/0007) for the console's 7-day
//! charts at national scale, written with `COPY`, one transaction per day.
//!
//! Density (docs/BENCHMARKS.md "Seeded history"): one report per site every
//! `--history-interval-minutes` (60) while its PC is on — 08:00–19:00 JST Monday to
//! Saturday, off at night and on Sundays (guide: 朝ON 夜OFF), so the charts show the nightly
//! gaps. A real agent reports every minute; one an hour keeps 250,000 sites × 7 days at
//! ~17 M rows (~8 GB with the index) instead of ~1 G rows. The rows are built by the same
//! code as ingest's (`ingest::prepare::history_row`), from reports with a little of what
//! the charts show: reader power, router and endpoint latency, daily reboots, now and then a
//! fault.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use onshi_proto::v1 as pb;
use sqlx::PgPool;

use crate::desk::JST;
use crate::error::Error;
use crate::fleet::health;
use crate::fleet::report::ReportDoc;
use crate::ingest::history as partitions;
use crate::ingest::prepare::{self, HistoryRow};

/// Rows per `COPY` message.
const CHUNK_ROWS: usize = 20_000;

/// Fills `days` days before `now` for sites `seed-000001 …`; returns the rows written.
pub async fn seed_history(
    pool: &PgPool,
    sites: u32,
    days: u32,
    interval_minutes: u32,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    let step = Duration::minutes(i64::from(interval_minutes.max(1)));
    let mut total = 0;
    for back in (0..days).rev() {
        let day = (now - Duration::days(i64::from(back)))
            .with_timezone(&JST)
            .date_naive();
        let started = std::time::Instant::now();
        let rows = seed_day(pool, sites, day, step, now).await?;
        total += rows;
        eprintln!(
            "seed: {day}: {rows} history rows in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(total)
}

/// One JST day, in one transaction: the UTC days it touches get their partitions first.
async fn seed_day(
    pool: &PgPool,
    sites: u32,
    day: NaiveDate,
    step: Duration,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    let start = JST
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("JST has no gaps")
        .with_timezone(&Utc);
    let mut tx = pool.begin().await?;
    for d in [start.date_naive(), (start + Duration::days(1)).date_naive()] {
        partitions::create_partition(&mut tx, d).await?;
    }
    let mut copy = tx
        .copy_in_raw(
            "COPY report_history (received_at, agent_id, site_id, seq, collected_at, health,
                 report, reader_power, boot_time, target_names, target_reachable,
                 target_latency_ms, probe_errors) FROM STDIN",
        )
        .await?;
    let mut buf = String::new();
    let mut rows = 0u64;
    let mut at = start;
    while at < start + Duration::days(1) && at <= now {
        for i in 1..=sites {
            let Some(report) = report_at(i, at) else {
                continue;
            };
            let doc = ReportDoc::from(&report);
            let health = health::overall(&health::evaluate(&doc, at));
            let row = prepare::history_row(&report, &doc, health, at);
            copy_line(&mut buf, at, &report.agent_id, &row);
            rows += 1;
            if (rows as usize).is_multiple_of(CHUNK_ROWS) {
                copy.send(std::mem::take(&mut buf).into_bytes()).await?;
            }
        }
        at += step;
    }
    copy.send(buf.into_bytes()).await?;
    copy.finish().await?;
    tx.commit().await?;
    Ok(rows)
}

/// `seed-000042`, as `seed::seed` names the sites.
pub fn site_id(i: u32) -> String {
    format!("seed-{i:06}")
}

/// A stable pseudo-random number per (site, hour) (FNV-1a): the same seed gives the same rows.
fn noise(i: u32, at: DateTime<Utc>) -> u32 {
    let key = (u64::from(i) << 32) ^ (at.timestamp() as u64 / 60);
    key.to_le_bytes().iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The report site `i` sends at `at`, or `None` while its PC is off (night, Sunday).
pub fn report_at(i: u32, at: DateTime<Utc>) -> Option<pb::Report> {
    let local = at.with_timezone(&JST);
    if local.weekday() == Weekday::Sun || !(8..19).contains(&local.hour()) {
        return None;
    }
    let ts = |t: DateTime<Utc>| {
        Some(prost_types::Timestamp {
            seconds: t.timestamp(),
            nanos: 0,
        })
    };
    let n = noise(i, at);
    // Daily reboot before opening; every 40th site has not rebooted for days.
    let opened = JST
        .from_local_datetime(&local.date_naive().and_hms_opt(7, 55, 0)?)
        .single()?
        .with_timezone(&Utc);
    let boot = if i % 40 == 11 {
        opened - Duration::days(3)
    } else {
        opened
    };
    // Readers: fujitsu, panasonic, atlus, almex, canon as `seed::seed` assigns them; an
    // ALMEX or Canon reader (switched by hand) is now and then left off in the morning.
    let maker = [
        pb::ReaderMaker::Fujitsu,
        pb::ReaderMaker::Panasonic,
        pb::ReaderMaker::Atlus,
        pb::ReaderMaker::Almex,
        pb::ReaderMaker::Canon,
    ][(i % 5) as usize];
    let manual = matches!(maker, pb::ReaderMaker::Almex | pb::ReaderMaker::Canon);
    let power = if manual && local.hour() < 10 && n.is_multiple_of(7) {
        pb::PowerState::Off
    } else {
        pb::PowerState::On
    };
    let target = |name: &str, base_ms: u32, down: bool| pb::NetworkTarget {
        name: name.into(),
        address: String::new(),
        reachable: !down,
        latency: (!down).then(|| prost_types::Duration {
            seconds: 0,
            nanos: ((base_ms + n % 7) * 1_000_000) as i32,
        }),
        error: if down {
            "connection timed out".into()
        } else {
            String::new()
        },
    };
    let seq = (at.timestamp() / 60) as u64;
    Some(pb::Report {
        seq,
        agent_id: format!("agent-{}", site_id(i)),
        site_id: site_id(i),
        collected_at: ts(at),
        schema_version: 1,
        host: Some(pb::Host {
            boot_time: ts(boot),
            agent_version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        }),
        reader: Some(pb::CardReader {
            maker: maker as i32,
            power: power as i32,
            manual_power: manual,
            software_running: power == pb::PowerState::On,
            ..Default::default()
        }),
        network: vec![
            target("router", 1, n.is_multiple_of(500)),
            target("onshi-endpoint", 18, n % 200 == 1),
        ],
        agent: Some(pb::AgentHealth {
            probe_errors: if n % 300 == 2 {
                vec!["reader: timed out after 5 s".into()]
            } else {
                Vec::new()
            },
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// One row in `COPY … FROM STDIN` text format (tab-separated, `\N` for NULL).
fn copy_line(buf: &mut String, received_at: DateTime<Utc>, agent_id: &str, r: &HistoryRow) {
    use std::fmt::Write;
    let _ = write!(
        buf,
        "{}\t{}\t{}\t{}\t{}\t{}\t\\\\x",
        received_at.to_rfc3339(),
        copy_text(agent_id),
        copy_text(&r.site_id),
        r.seq,
        r.collected_at.to_rfc3339(),
        r.health.as_str(),
    );
    for b in &r.report {
        let _ = write!(buf, "{b:02x}");
    }
    let _ = writeln!(
        buf,
        "\t{}\t{}\t{}\t{}\t{}\t{}",
        r.reader_power.map_or("\\N", |p| p.as_str()),
        r.boot_time.map_or("\\N".to_owned(), |t| t.to_rfc3339()),
        copy_text(&r.targets.names),
        r.targets.reachable,
        r.targets.latency_ms,
        r.probe_errors,
    );
}

/// COPY text escaping: backslash, tab, newline and carriage return.
fn copy_text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcs_report_by_day_and_are_off_at_night_and_on_sundays() {
        let jst = |s: &str| {
            s.parse::<DateTime<chrono::FixedOffset>>()
                .unwrap()
                .with_timezone(&Utc)
        };
        assert!(
            report_at(1, jst("2026-12-02T10:00:00+09:00")).is_some(),
            "Wednesday 10:00"
        );
        assert!(
            report_at(1, jst("2026-12-02T21:00:00+09:00")).is_none(),
            "night"
        );
        assert!(
            report_at(1, jst("2026-12-06T10:00:00+09:00")).is_none(),
            "Sunday"
        );
        let r = report_at(7, jst("2026-12-02T10:00:00+09:00")).unwrap();
        assert_eq!(r.site_id, "seed-000007");
        assert_eq!(r.network.len(), 2);
        assert_eq!(
            report_at(7, jst("2026-12-02T10:00:00+09:00")),
            Some(r),
            "stable"
        );
    }

    #[test]
    fn copy_lines_escape_and_encode_bytea() {
        let at: DateTime<Utc> = "2026-12-02T01:00:00Z".parse().unwrap();
        let report = report_at(3, at).unwrap();
        let doc = ReportDoc::from(&report);
        let row = prepare::history_row(&report, &doc, health::Health::Ok, at);
        let mut buf = String::new();
        copy_line(&mut buf, at, "a\tb", &row);
        let fields: Vec<&str> = buf.trim_end().split('\t').collect();
        assert_eq!(fields.len(), 13, "{buf}");
        assert_eq!(fields[1], "a\\tb");
        assert!(fields[6].starts_with("\\\\x"));
        assert_eq!(fields[9], r#"{"router","onshi-endpoint"}"#);
    }
}
