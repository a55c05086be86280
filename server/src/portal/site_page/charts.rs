//! The site page's 7-day charts as server-rendered SVG (no script, no external request): one
//! timeline with a column per hour — opening hours, reports per hour and the gaps between them,
//! reboots, reader power, and reachability and latency per network target. Pure: the history,
//! the site's hours and `now` in, SVG text out.
//!
//! Hand-written rather than a plotting crate: the charts are rows of rectangles and one line
//! per target, and the labels are Japanese; a general plotting library (plotters) would add
//! build time on our 2-core CI for little of it, and SVG text needs escaping either way.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::desk::JST;
use crate::fleet::history::{BUCKET, History, TargetHour};
use crate::sites::hours::BusinessHours;

const LEFT: f64 = 150.0;
const COL: f64 = 4.0;
const ROW: f64 = 18.0;
const GAP_Y: f64 = 6.0;
const LATENCY_ROW: f64 = 36.0;
const TOP: f64 = 20.0;

const OK: &str = "#1a7f37";
const WARN: &str = "#d97706";
const BAD: &str = "#c62828";
const ABSENT: &str = "#6d28d9";
const CLOSED: &str = "#e5e7eb";
const OPEN: &str = "#dbeafe";

/// What the page shows: the chart and its reading in words (for screen readers and a glance).
#[derive(Debug, Clone, Default)]
pub struct Charts {
    pub svg: String,
    pub summary: Vec<String>,
    pub has_data: bool,
}

/// XML text escaping for names that come from agents.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The hourly columns of the window: the start of each hour.
fn columns(h: &History) -> Vec<DateTime<Utc>> {
    let start = h.from.duration_trunc(BUCKET).unwrap_or(h.from);
    let mut out = Vec::new();
    let mut t = start;
    while t < h.to {
        out.push(t);
        t += BUCKET;
    }
    out
}

fn index_of(cols: &[DateTime<Utc>], t: DateTime<Utc>) -> Option<usize> {
    let first = *cols.first()?;
    let i = (t - first).num_minutes().div_euclid(60);
    usize::try_from(i).ok().filter(|i| *i < cols.len())
}

/// A row's label at the left.
fn label(svg: &mut String, y: f64, text: &str) {
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" class="row-label" text-anchor="end">{}</text>"#,
        LEFT - 6.0,
        y + ROW * 0.7,
        esc(text)
    );
}

fn cell(svg: &mut String, i: usize, y: f64, h: f64, colour: &str, title: &str) {
    let _ = write!(
        svg,
        r#"<rect x="{:.1}" y="{y:.1}" width="{COL}" height="{h:.1}" fill="{colour}"><title>{}</title></rect>"#,
        LEFT + i as f64 * COL,
        esc(title)
    );
}

fn hour_title(t: DateTime<Utc>) -> String {
    t.with_timezone(&JST).format("%m/%d %H時").to_string()
}

/// Day lines and labels at JST midnights.
fn days_axis(svg: &mut String, cols: &[DateTime<Utc>], height: f64) {
    for (i, t) in cols.iter().enumerate() {
        let local = t.with_timezone(&JST);
        if local.format("%H").to_string() != "00" {
            continue;
        }
        let x = LEFT + i as f64 * COL;
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{height:.1}" stroke="#9ca3af" stroke-width="0.5"/><text x="{:.1}" y="12" class="day">{}</text>"##,
            x + 2.0,
            crate::desk::when_ja(local)
                .split(' ')
                .next()
                .unwrap_or_default()
                .get(5..)
                .unwrap_or_default()
        );
    }
}

/// The whole timeline for `h`; rows are added top to bottom.
pub fn timeline(h: &History, hours: &BusinessHours) -> Charts {
    let cols = columns(h);
    let mut svg = String::new();
    let mut summary = Vec::new();
    let mut y = TOP;

    // Opening hours: a gap or a reader off means something only while open.
    let open: Vec<bool> = cols
        .iter()
        .map(|t| hours.is_open((*t + Duration::minutes(30)).with_timezone(&JST)))
        .collect();
    label(&mut svg, y, "営業時間");
    for (i, t) in cols.iter().enumerate() {
        let (colour, what) = if open[i] {
            (OPEN, "営業")
        } else {
            (CLOSED, "休業")
        };
        cell(
            &mut svg,
            i,
            y,
            ROW,
            colour,
            &format!("{} {what}", hour_title(*t)),
        );
    }
    y += ROW + GAP_Y;

    let reported = reports_row(&mut svg, &mut summary, h, &cols, &open, y);
    y += ROW + GAP_Y;
    reboots_row(&mut svg, &mut summary, h, &cols, y);
    y += ROW + GAP_Y;
    reader_row(&mut svg, &mut summary, h, &cols, &open, y);
    y += ROW + GAP_Y;
    y = targets_rows(&mut svg, &mut summary, &h.targets, &cols, y);

    let mut out = String::new();
    let width = LEFT + cols.len() as f64 * COL + 8.0;
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="history-chart" viewBox="0 0 {width:.0} {y:.0}" width="100%" role="img" aria-labelledby="history-title history-desc"><title id="history-title">直近7日間の履歴（1時間ごと）</title><desc id="history-desc">{}</desc>"#,
        esc(&summary.join(" "))
    );
    days_axis(&mut out, &cols, y);
    out.push_str(&svg);
    out.push_str("</svg>");
    Charts {
        svg: out,
        summary,
        has_data: reported > 0,
    }
}

/// Reports per hour (bar height), hours without any while open in red; the gaps in words.
fn reports_row(
    svg: &mut String,
    summary: &mut Vec<String>,
    h: &History,
    cols: &[DateTime<Utc>],
    open: &[bool],
    y: f64,
) -> i64 {
    label(svg, y, "報告数");
    let mut counts = vec![0i64; cols.len()];
    for hour in &h.hours {
        if let Some(i) = index_of(cols, hour.bucket) {
            counts[i] += hour.reports;
        }
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut silent_open = 0;
    for (i, n) in counts.iter().enumerate() {
        let title = format!("{} 報告 {n} 件", hour_title(cols[i]));
        if *n == 0 {
            if open[i] {
                silent_open += 1;
                cell(
                    svg,
                    i,
                    y,
                    ROW,
                    BAD,
                    &format!("{title}（営業時間中に報告なし）"),
                );
            }
            continue;
        }
        let bar = (ROW * *n as f64 / max).max(2.0);
        cell(svg, i, y + ROW - bar, bar, OK, &title);
    }
    let total: i64 = counts.iter().sum();
    summary.push(format!(
        "報告 {total} 件。営業時間中に報告がなかった時間: {silent_open} 時間。"
    ));
    if let Some(longest) = h.gaps.iter().max_by_key(|g| g.to - g.from) {
        let d = longest.to - longest.from;
        summary.push(format!(
            "報告の途絶（15分超）: {} 回、最長 {}時間{}分（{}から）。",
            h.gaps.len(),
            d.num_hours(),
            d.num_minutes() % 60,
            crate::portal::filters::jst_text(Some(longest.from))
        ));
    }
    total
}

fn reboots_row(
    svg: &mut String,
    summary: &mut Vec<String>,
    h: &History,
    cols: &[DateTime<Utc>],
    y: f64,
) {
    label(svg, y, "再起動");
    for boot in &h.reboots {
        if let Some(i) = index_of(cols, *boot) {
            let title = format!("{} 起動", crate::portal::filters::jst_text(Some(*boot)));
            cell(svg, i, y, ROW, "#0b3d91", &title);
        }
    }
    summary.push(format!("再起動: {} 回。", h.reboots.len()));
}

fn reader_row(
    svg: &mut String,
    summary: &mut Vec<String>,
    h: &History,
    cols: &[DateTime<Utc>],
    open: &[bool],
    y: f64,
) {
    label(svg, y, "カードリーダー電源");
    let mut off_open = 0;
    for hour in &h.hours {
        let Some(i) = index_of(cols, hour.bucket) else {
            continue;
        };
        let known = hour.reader_on + hour.reader_off + hour.reader_absent;
        if known == 0 {
            continue;
        }
        // Stacked by share of the hour's reports: on at the bottom, off, then absent.
        let mut top = y + ROW;
        for (n, colour, what) in [
            (hour.reader_on, OK, "オン"),
            (hour.reader_off, BAD, "オフ"),
            (hour.reader_absent, ABSENT, "未接続"),
        ] {
            if n == 0 {
                continue;
            }
            let height = ROW * n as f64 / known as f64;
            top -= height;
            let title = format!("{} {what} {n} 件", hour_title(cols[i]));
            cell(svg, i, top, height, colour, &title);
        }
        if open[i] && hour.reader_off + hour.reader_absent > 0 {
            off_open += 1;
        }
    }
    summary.push(format!(
        "カードリーダーが営業時間中にオフ・未接続だった時間: {off_open} 時間。"
    ));
}

/// Per target: reachability (share of probes) and the average latency as a line.
fn targets_rows(
    svg: &mut String,
    summary: &mut Vec<String>,
    targets: &[TargetHour],
    cols: &[DateTime<Utc>],
    mut y: f64,
) -> f64 {
    let mut by_name: BTreeMap<&str, Vec<&TargetHour>> = BTreeMap::new();
    for t in targets {
        by_name.entry(t.name.as_str()).or_default().push(t);
    }
    for (name, rows) in by_name {
        label(svg, y, &format!("{name} 到達"));
        let mut down = 0;
        for t in &rows {
            let Some(i) = index_of(cols, t.bucket) else {
                continue;
            };
            let share = t.reachable as f64 / t.probes.max(1) as f64;
            let colour = match share {
                s if s >= 1.0 => OK,
                s if s > 0.0 => WARN,
                _ => BAD,
            };
            if share < 1.0 {
                down += 1;
            }
            let title = format!(
                "{} {name}: {}/{} 回到達",
                hour_title(cols[i]),
                t.reachable,
                t.probes
            );
            cell(svg, i, y, ROW, colour, &title);
        }
        y += ROW + GAP_Y;
        let max = rows.iter().filter_map(|t| t.latency_max).max().unwrap_or(0);
        label(svg, y, &format!("{name} 遅延"));
        let scale = f64::from(max.max(1));
        let points: Vec<String> = rows
            .iter()
            .filter_map(|t| {
                let i = index_of(cols, t.bucket)?;
                let ms = t.latency_avg?;
                let x = LEFT + (i as f64 + 0.5) * COL;
                Some(format!(
                    "{x:.1},{:.1}",
                    y + LATENCY_ROW - LATENCY_ROW * ms / scale
                ))
            })
            .collect();
        if !points.is_empty() {
            let _ = write!(
                svg,
                r##"<polyline points="{}" fill="none" stroke="#0b3d91" stroke-width="1"/><text x="{:.1}" y="{:.1}" class="axis">最大 {max} ms</text>"##,
                points.join(" "),
                LEFT + 2.0,
                y + 10.0
            );
        }
        y += LATENCY_ROW + GAP_Y;
        let avg: Vec<f64> = rows.iter().filter_map(|t| t.latency_avg).collect();
        let mean = if avg.is_empty() {
            "—".to_owned()
        } else {
            format!("{:.0} ms", avg.iter().sum::<f64>() / avg.len() as f64)
        };
        summary.push(format!(
            "{name}: 到達できない報告があった時間 {down} 時間、平均遅延 {mean}、最大 {max} ms。"
        ));
    }
    y
}

#[cfg(test)]
mod tests;
