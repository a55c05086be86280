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
        /// The record's `dropped_total + corrupt_total`: every loss counted
        /// before it was written.
        accounted: u64,
    },
    /// A mark that accounts for every seq up to `through`: the start of a
    /// segment, the end of a rewritten one.
    Through { through: u64, accounted: u64 },
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
            let offset = f.offset as u64;
            match f.record.kind {
                Kind::Report => {
                    marks.last_seq = marks.last_seq.max(f.record.seq);
                    items.push((
                        offset,
                        Item::Report {
                            seq: f.record.seq,
                            offset,
                            len: f.len as u32,
                            low_value: f.record.low_value,
                            accounted: accounted(&f.record.marks),
                        },
                    ));
                }
                Kind::Mark if f.record.seq > 0 => items.push((
                    offset,
                    Item::Through {
                        through: f.record.seq,
                        accounted: accounted(&f.record.marks),
                    },
                )),
                Kind::Mark => {}
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

    let gaps = count_lost(&seen, marks.settled);
    let mut segments = Vec::new();
    let mut pending = VecDeque::new();
    let mut last_pending = marks.settled;
    marks.corrupt_total += unreadable;
    for (si, s) in seen.into_iter().enumerate() {
        marks.corrupt_total += gaps.lost[si];
        // A damaged segment is rewritten without the damage; one whose end
        // is followed by lost seqs gets a mark saying they are counted. Either
        // way the mark accounts through the gap, so it is counted once.
        let (bytes, offsets) = if s.damaged || gaps.lost[si] > 0 {
            match repair(dir, &s, marks, gaps.through[si]) {
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

/// Seqs lost per segment, and the seq each segment accounts through.
struct Gaps {
    lost: Vec<u64>,
    through: Vec<u64>,
}

fn accounted(marks: &Marks) -> u64 {
    marks.dropped_total + marks.corrupt_total
}

/// How many reports each damaged stretch, and each segment end cut away,
/// cost: the pending seqs missing before the next readable record that names
/// a seq, less the losses the spool had counted in between (reports a full
/// disk kept from being written, compacted ones, a gap an earlier start
/// counted) — only seqs really lost: none when the damage was a mark or an
/// already acknowledged report.
///
/// A report names its own seq; a `Through` mark (the start of every segment,
/// the end of a rewritten one) names the seq everything before it accounts
/// for, so a segment cut exactly between two records, which shows no damage,
/// is found at the next segment's start. Damage after the last such record is
/// not counted here: a torn write was never durable (its seq is free again),
/// and a rotten tail the state file remembers is counted by
/// `Spool::note_seqs_used_through`. A spool written before `Through` marks
/// existed is counted as before: at damage only.
fn count_lost(seen: &[Seen], settled: u64) -> Gaps {
    let mut gaps = Gaps {
        lost: vec![0; seen.len()],
        through: vec![0; seen.len()],
    };
    let mut prev_seq = 0u64;
    let mut prev_accounted: Option<u64> = None;
    let mut first_damage: Option<usize> = None;
    // A gap is owned by the segment of the seq before it: a mark at that
    // segment's end lies inside the gap (within one segment, the repair
    // removes the damage and the gap no longer counts).
    let mut last_seq_segment: Option<usize> = None;
    for (si, s) in seen.iter().enumerate() {
        for item in &s.items {
            let (seq, end, accounted, evaluate) = match *item {
                Item::Report { seq, accounted, .. } => {
                    (seq, seq.saturating_sub(1), accounted, first_damage.is_some())
                }
                Item::Through {
                    through,
                    accounted,
                } => (through, through, accounted, true),
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
                    first_damage.get_or_insert(si);
                    continue;
                }
            };
            if let Some(o) = last_seq_segment.or(first_damage).filter(|_| evaluate) {
                let missing = end.saturating_sub(prev_seq.max(settled));
                // Nothing to compare with at the head of the spool: a mark
                // there trusts what was counted, damage counts every gap.
                let explained = match (prev_accounted, item) {
                    (Some(before), _) => accounted.saturating_sub(before),
                    (None, Item::Through { .. }) => accounted,
                    (None, _) => 0,
                };
                let lost = missing.saturating_sub(explained);
                if lost > 0 {
                    gaps.lost[o] += lost;
                    gaps.through[o] = gaps.through[o].max(end);
                }
            }
            first_damage = None;
            prev_seq = prev_seq.max(seq);
            prev_accounted = Some(accounted);
            gaps.through[si] = gaps.through[si].max(seq);
            last_seq_segment = Some(si);
        }
    }
    gaps
}

fn report_offsets(s: &Seen) -> Vec<u64> {
    s.items
        .iter()
        .filter_map(|i| match i {
            Item::Report { offset, .. } => Some(*offset),
            Item::Damage { .. } | Item::Through { .. } => None,
        })
        .collect()
}

/// Rewrites a segment with its readable records only, plus a mark that
/// carries the corruption count and accounts through `through`: removal and
/// count change in one rename.
/// Returns the new size and the new offsets of its reports.
fn repair(dir: &Path, s: &Seen, marks: Marks, through: u64) -> std::io::Result<(u64, Vec<u64>)> {
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
    out.extend(record::encode(&Record::mark_through(marks, through)));
    write_atomically(&path, &out)?;
    tracing::warn!(
        segment = s.id,
        "spool: damaged segment rewritten without the damaged records"
    );
    Ok((out.len() as u64, offsets))
}
