//! Reading the spool at start-up: merge the marks, index pending reports,
//! and repair damaged segments (skip, count, log, rewrite without the damage).

use std::collections::VecDeque;
use std::path::Path;

use super::record::{self, Kind, Marks, Record};
use super::write::write_atomically;
use super::{Entry, Segment, segment_path};

pub(super) struct Loaded {
    pub segments: Vec<Segment>,
    pub pending: VecDeque<Entry>,
    pub marks: Marks,
}

/// What pass 1 keeps of one segment: record positions, no payloads, so a
/// full spool is never held in memory at once.
struct Seen {
    id: u64,
    bytes: u64,
    items: Vec<Item>,
    damaged: bool,
}

enum Item {
    Report {
        seq: u64,
        offset: u64,
        len: u32,
        low_value: bool,
    },
    Damage {
        offset: u64,
        len: u64,
        at_tail: bool,
    },
}

pub(super) fn load(dir: &Path, ids: &[u64]) -> Loaded {
    let mut marks = Marks::default();
    let mut seen = Vec::new();
    let mut unreadable = 0u64;
    for &id in ids {
        let path = segment_path(dir, id);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "spool: segment unreadable; removed and counted as corrupt");
                let _ = std::fs::remove_file(&path);
                unreadable += 1;
                continue;
            }
        };
        let scan = record::scan(&data);
        let mut items: Vec<(u64, Item)> = Vec::new();
        for f in &scan.records {
            marks.merge(&f.record.marks);
            if f.record.kind == Kind::Report {
                marks.last_seq = marks.last_seq.max(f.record.seq);
                items.push((
                    f.offset as u64,
                    Item::Report {
                        seq: f.record.seq,
                        offset: f.offset as u64,
                        len: f.len as u32,
                        low_value: f.record.low_value,
                    },
                ));
            }
        }
        for d in &scan.damage {
            items.push((
                d.offset as u64,
                Item::Damage {
                    offset: d.offset as u64,
                    len: d.len as u64,
                    at_tail: d.at_tail,
                },
            ));
        }
        items.sort_by_key(|(offset, _)| *offset);
        seen.push(Seen {
            id,
            bytes: data.len() as u64,
            items: items.into_iter().map(|(_, i)| i).collect(),
            damaged: !scan.damage.is_empty(),
        });
    }

    // How many reports each damaged stretch cost: the pending seqs missing
    // between its readable neighbours — only seqs really lost: none when the
    // damage was a mark or an already acknowledged report. Damage after the
    // last readable report is not counted here: a torn write was never
    // durable (its seq is free again), and a rotten tail the state file
    // remembers is counted by `Spool::note_seqs_used_through`.
    let settled = marks.settled;
    let mut lost_per_segment = vec![0u64; seen.len()];
    let mut prev_seq = 0u64;
    let mut open_damage: Vec<(usize, u64)> = Vec::new(); // (segment index, prev seq)
    for (si, s) in seen.iter().enumerate() {
        for item in &s.items {
            match item {
                Item::Report { seq, .. } => {
                    for (dsi, before) in open_damage.drain(..) {
                        let missing = seq.saturating_sub(before.max(settled) + 1);
                        lost_per_segment[dsi] += missing;
                    }
                    prev_seq = prev_seq.max(*seq);
                }
                Item::Damage {
                    offset,
                    len,
                    at_tail,
                } => {
                    tracing::error!(
                        segment = s.id,
                        offset,
                        len,
                        torn_write = at_tail,
                        "spool: damaged record skipped (counted in the next report)"
                    );
                    open_damage.push((si, prev_seq));
                }
            }
        }
    }

    let mut segments = Vec::new();
    let mut pending = VecDeque::new();
    let mut last_pending = settled;
    marks.corrupt_total += unreadable;
    for (si, s) in seen.into_iter().enumerate() {
        marks.corrupt_total += lost_per_segment[si];
        let (bytes, offsets) = if s.damaged {
            match repair(dir, &s, marks) {
                Ok(r) => r,
                Err(e) => {
                    // Still usable as read: the damage is skipped again next
                    // time, and counted again; better than stopping.
                    tracing::error!(segment = s.id, error = %e, "spool: could not rewrite damaged segment");
                    (s.bytes, report_offsets(&s))
                }
            }
        } else {
            (s.bytes, report_offsets(&s))
        };
        let mut max_seq = 0;
        for (item, offset) in s
            .items
            .iter()
            .filter(|i| matches!(i, Item::Report { .. }))
            .zip(offsets)
        {
            let Item::Report {
                seq,
                len,
                low_value,
                ..
            } = *item
            else {
                continue;
            };
            max_seq = max_seq.max(seq);
            // Strictly increasing: a seq seen twice is delivered once.
            if seq > last_pending {
                pending.push_back(Entry {
                    seq,
                    segment: s.id,
                    offset,
                    len,
                    low_value,
                });
                last_pending = seq;
            }
        }
        segments.push(Segment {
            id: s.id,
            bytes,
            max_seq,
        });
    }
    Loaded {
        segments,
        pending,
        marks,
    }
}

fn report_offsets(s: &Seen) -> Vec<u64> {
    s.items
        .iter()
        .filter_map(|i| match i {
            Item::Report { offset, .. } => Some(*offset),
            Item::Damage { .. } => None,
        })
        .collect()
}

/// Rewrites a segment with its readable records only, plus a mark that
/// carries the corruption count: removal and count change in one rename.
/// Returns the new size and the new offsets of its reports.
fn repair(dir: &Path, s: &Seen, marks: Marks) -> std::io::Result<(u64, Vec<u64>)> {
    let path = segment_path(dir, s.id);
    let data = std::fs::read(&path)?;
    let scan = record::scan(&data);
    let mut out = Vec::with_capacity(data.len());
    let mut offsets = Vec::new();
    for f in &scan.records {
        if f.record.kind == Kind::Report {
            offsets.push(out.len() as u64);
        }
        out.extend_from_slice(&data[f.offset..f.offset + f.len]);
    }
    out.extend(record::encode(&Record::mark(marks)));
    write_atomically(&path, &out)?;
    tracing::warn!(
        segment = s.id,
        "spool: damaged segment rewritten without the damaged records"
    );
    Ok((out.len() as u64, offsets))
}
