//! Keeping the spool within its bound: `max_bytes`, and the free space of
//! the disk it is on (less a reserve for the state file, marks and a
//! certificate renewal). Space is freed by policy, cheapest loss first:
//! 1. acknowledged data (already on the server: no loss);
//! 2. unchanged (low-value) reports of the oldest segments, by compaction;
//! 3. whole oldest segments, whatever they hold.
//!
//! Every drop is counted, in the same durable step that removes the data
//! when the disk allows, else in the next record that can be written.

use std::io;

use super::record::{self, Kind, Record};
use super::write::write_atomically;
use super::{Entry, Spool};
use crate::fsutil::remove_file;

/// Free space left to everything else in the state directory.
const RESERVE: u64 = 64 * 1024;
/// Smallest segment, however small the disk.
const MIN_SEGMENT: u64 = 4 * 1024;

impl Spool {
    /// What the segments may occupy now: `max_bytes`, or less when the disk
    /// has less room.
    pub(super) fn budget(&self) -> u64 {
        self.disk_budget()
            .map_or(self.limits.max_bytes, |d| d.min(self.limits.max_bytes))
    }

    /// The bound the free disk sets, if known.
    fn disk_budget(&self) -> Option<u64> {
        let used = self.bytes();
        self.free_disk()
            .map(|free| used + free.saturating_sub(RESERVE))
    }

    /// Segment size: at most a quarter of the budget, so that dropping the
    /// oldest segment never has to take most of the spool at once; when the
    /// disk is what limits, at most half the reserve, so that compacting
    /// one (a rewrite beside the original) still fits.
    pub(super) fn segment_bytes(&self) -> u64 {
        let budget = self.budget();
        let mut size = self.limits.segment_bytes.min(budget / 4);
        if self
            .disk_budget()
            .is_some_and(|d| d < self.limits.max_bytes)
        {
            size = size.min(RESERVE / 2);
        }
        size.max(MIN_SEGMENT)
    }

    fn free_disk(&self) -> Option<u64> {
        #[cfg(test)]
        if let Some(cap) = self.capacity {
            return Some(cap.saturating_sub(self.bytes()));
        }
        crate::fsutil::free_space(&self.dir)
    }

    /// Makes room for `need` more bytes by the policy above.
    pub(super) fn make_room(&mut self, need: u64) -> io::Result<()> {
        let fits = |s: &Self| s.bytes() + need <= s.budget();
        if fits(self) {
            return Ok(());
        }
        // 1. What the server has: durable acks first; then acks heard but
        // not yet written (a full disk): the server keeps those reports.
        self.delete_settled(self.marks.settled)?;
        self.delete_settled(self.want.acked)?;
        let mut i = 0;
        while !fits(self) && i + 1 < self.segments.len() {
            let id = self.segments[i].id;
            // 2. Only segments that still hold low-value reports gain anything.
            if self.pending.iter().any(|e| e.segment == id && e.low_value)
                && let Err(e) = self.compact(id)
            {
                tracing::warn!(segment = id, error = %e, "spool full: cannot compact; dropping the oldest reports instead");
            }
            i += 1;
        }
        while !fits(self) && self.segments.len() > 1 {
            self.drop_oldest_segment()?;
        }
        Ok(())
    }

    /// 3. Drops the oldest segment and counts its pending reports.
    fn drop_oldest_segment(&mut self) -> io::Result<()> {
        let seg = &self.segments[0];
        let (id, max_seq) = (seg.id, seg.max_seq);
        let lost = self.pending.iter().filter(|e| e.segment == id).count() as u64;
        // Nothing below the next pending report is pending any more: what the
        // segment held is given up, and what a compaction took out of it
        // (above its last kept report) was counted as dropped then.
        let next_pending = self.pending.iter().find(|e| e.segment != id);
        let given_up = next_pending.map_or(max_seq, |e| e.seq - 1).max(max_seq);
        self.want.settled = self.want.settled.max(given_up);
        self.want.dropped_total += lost;
        // The loss is counted durably before the data goes, when the disk
        // takes one more mark; if not, the next write that succeeds does.
        if let Err(e) = self.persist() {
            tracing::warn!(error = %e, "spool full: drop count not yet written; it goes with the next record");
        }
        remove_file(&self.segment_path(id))?;
        self.segments.remove(0);
        self.forget_settled();
        tracing::warn!(
            segment = id,
            reports = lost,
            "spool full: dropped the oldest reports"
        );
        Ok(())
    }

    /// Rewrites a closed segment without its settled and low-value reports;
    /// the drop count goes into the same file, so both change at once.
    fn compact(&mut self, id: u64) -> io::Result<()> {
        let path = self.segment_path(id);
        let data = std::fs::read(&path)?;
        let scan = record::scan(&data);
        let mut marks = self.want;
        let mut kept = Vec::new();
        for f in &scan.records {
            let r = &f.record;
            if r.kind == Kind::Mark && r.seq > 0 {
                // What a mark accounts through stays where it was.
                kept.push(f);
                continue;
            }
            if r.kind != Kind::Report || r.seq <= marks.settled {
                continue;
            }
            if r.low_value {
                marks.dropped_total += 1;
            } else {
                kept.push(f);
            }
        }
        let dropped = marks.dropped_total - self.want.dropped_total;
        let mut out = Vec::new();
        let mut entries = Vec::new();
        let mut max_seq = 0;
        for f in kept {
            if f.record.kind == Kind::Report {
                entries.push(Entry {
                    seq: f.record.seq,
                    segment: id,
                    offset: out.len() as u64,
                    len: f.len as u32,
                    low_value: false,
                });
                max_seq = f.record.seq;
            }
            out.extend_from_slice(&data[f.offset..f.offset + f.len]);
        }
        // Every seq this segment held is accounted for at its end: kept,
        // or counted as dropped above (and what an earlier rewrite accounted).
        let through = scan.records.iter().map(|f| f.record.seq).max().unwrap_or(0);
        out.extend(record::encode(&Record::mark_through(marks, through)));
        // The rewrite needs room for the new copy until the rename.
        self.check_capacity(out.len() as u64)?;
        write_atomically(&path, &out)?;
        self.want = marks;
        if let Some(seg) = self.segments.iter_mut().find(|s| s.id == id) {
            seg.bytes = out.len() as u64;
            seg.max_seq = max_seq;
        }
        let at = self
            .pending
            .iter()
            .position(|e| e.segment == id)
            .unwrap_or(0);
        self.pending.retain(|e| e.segment != id);
        for (k, e) in entries.into_iter().enumerate() {
            self.pending.insert(at + k, e);
        }
        if dropped > 0 {
            tracing::warn!(
                segment = id,
                reports = dropped,
                "spool full: dropped unchanged (low-value) reports"
            );
        }
        Ok(())
    }
}
