//! Keeping the spool within `max_bytes`: low-value reports of the oldest
//! segments go first, then whole oldest segments. Every drop is counted in
//! the same durable step that removes the data.

use std::io;

use super::record::{self, Kind, Record};
use super::{Entry, Spool, remove_file, write_atomically};

impl Spool {
    /// Keeps the spool under `max_bytes` with `need` more bytes: first the
    /// low-value reports of the oldest segments, then whole oldest segments.
    pub(super) fn make_room(&mut self, need: u64) -> io::Result<()> {
        let fits = |s: &Self| s.bytes() + need <= s.limits.max_bytes;
        if fits(self) {
            return Ok(());
        }
        self.delete_settled()?;
        let mut i = 0;
        while !fits(self) && i + 1 < self.segments.len() {
            let id = self.segments[i].id;
            // Only segments that still hold low-value reports gain anything.
            if self.pending.iter().any(|e| e.segment == id && e.low_value) {
                self.compact(id)?;
            }
            i += 1;
        }
        while !fits(self) && self.segments.len() > 1 {
            let seg = self.segments.remove(0);
            let lost = self.pending.iter().filter(|e| e.segment == seg.id).count() as u64;
            self.marks.settled = self.marks.settled.max(seg.max_seq);
            self.marks.dropped_total += lost;
            // The loss is counted durably before the data goes.
            self.append_mark()?;
            remove_file(&self.segment_path(seg.id))?;
            self.forget_settled();
            tracing::warn!(
                segment = seg.id,
                reports = lost,
                "spool full: dropped the oldest reports"
            );
        }
        Ok(())
    }

    /// Rewrites a closed segment without its settled and low-value reports;
    /// the drop count goes into the same file, so both change at once.
    fn compact(&mut self, id: u64) -> io::Result<()> {
        let path = self.segment_path(id);
        let data = std::fs::read(&path)?;
        let scan = record::scan(&data);
        let mut marks = self.marks;
        let mut kept = Vec::new();
        for f in &scan.records {
            let r = &f.record;
            if r.kind != Kind::Report || r.seq <= marks.settled {
                continue;
            }
            if r.low_value {
                marks.dropped_total += 1;
            } else {
                kept.push(f);
            }
        }
        let dropped = marks.dropped_total - self.marks.dropped_total;
        let mut out = Vec::new();
        let mut entries = Vec::new();
        let mut max_seq = 0;
        for f in kept {
            entries.push(Entry {
                seq: f.record.seq,
                segment: id,
                offset: out.len() as u64,
                len: f.len as u32,
                low_value: false,
            });
            max_seq = f.record.seq;
            out.extend_from_slice(&data[f.offset..f.offset + f.len]);
        }
        out.extend(record::encode(&Record::mark(marks)));
        write_atomically(&path, &out)?;
        self.marks = marks;
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
