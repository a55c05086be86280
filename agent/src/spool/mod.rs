//! The durable spool: every report is written and fsynced here before it is
//! sent, and forgotten only once the server's ack covers it.
//!
//! Design (see docs/agent.md "Spool"):
//! - an append-only log of numbered segment files (`00000000000000000001.seg`)
//!   of CRC-framed records ([`record`]); the newest segment takes appends;
//! - every record carries the [`Marks`] (acked, settled, loss counters), so an
//!   ack is one appended record and the state after a crash is the field-wise
//!   maximum over what is readable: no separate ledger to get out of step;
//! - a pending record is indexed in memory only after its fsync returned, so
//!   the read position can never be ahead of durable data;
//! - a damaged stretch (torn write, flipped bits) is skipped up to the next
//!   valid frame, counted, logged, and the segment is rewritten without it
//!   (atomically, with the new count in the same file); never a crash;
//! - when over `max_bytes`, low-value reports of the oldest segments go first,
//!   then whole oldest segments; every loss is counted and reported upstream.

mod bound;
mod load;
pub mod record;

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::fsutil::{Perms, remove_file};
use record::{Kind, Marks, Record};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Upper bound of all segment files together.
    pub max_bytes: u64,
    /// A segment is closed for appends once it reaches this size.
    pub segment_bytes: u64,
}

impl Limits {
    /// Keeps the limits workable: at least four segments fit in the spool.
    fn sane(self) -> Self {
        let max_bytes = self.max_bytes.max(64 * 1024);
        Limits {
            max_bytes,
            segment_bytes: self.segment_bytes.clamp(4 * 1024, max_bytes / 4),
        }
    }
}

/// Losses not yet carried by a report, and the totals that a report
/// carrying them marks as reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loss {
    pub dropped: u64,
    pub corrupt: u64,
    /// Refused by the server as invalid and set aside.
    pub rejected: u64,
    dropped_total: u64,
    corrupt_total: u64,
    rejected_total: u64,
}

impl Loss {
    pub fn is_none(&self) -> bool {
        self.dropped == 0 && self.corrupt == 0 && self.rejected == 0
    }
}

/// Most reports kept in `rejected/` for support to look at.
const KEEP_REJECTED: usize = 16;

/// Reports to send together: consecutive seqs, oldest first.
#[derive(Debug)]
pub struct Batch {
    pub first: u64,
    pub last: u64,
    pub payloads: Vec<Vec<u8>>,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    bytes: u64,
    /// Highest report seq in the segment (0: none).
    max_seq: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    seq: u64,
    segment: u64,
    offset: u64,
    len: u32,
    low_value: bool,
}

pub struct Spool {
    dir: PathBuf,
    limits: Limits,
    /// Ascending ids; the last one is active (takes appends).
    segments: Vec<Segment>,
    active: File,
    pending: VecDeque<Entry>,
    marks: Marks,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`. Damaged records are skipped,
    /// counted and repaired here; only an unusable directory is an error.
    pub fn open(dir: &Path, limits: Limits) -> io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        let limits = limits.sane();
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.ends_with(".tmp") {
                // An interrupted rewrite: the original is still in place.
                let _ = std::fs::remove_file(&path);
            } else if let Some(id) = name
                .strip_suffix(".seg")
                .and_then(|s| s.parse::<u64>().ok())
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        let mut loaded = load::load(dir, &ids);
        if loaded.segments.is_empty() {
            let bytes = record::encode(&Record::mark(loaded.marks));
            write_atomically(&segment_path(dir, 1), &bytes)?;
            loaded.segments.push(Segment {
                id: 1,
                bytes: bytes.len() as u64,
                max_seq: 0,
            });
        }
        let newest = loaded.segments.last().map(|s| s.id).unwrap_or(1);
        let active = OpenOptions::new()
            .append(true)
            .open(segment_path(dir, newest))?;
        let mut spool = Spool {
            dir: dir.to_owned(),
            limits,
            segments: loaded.segments,
            active,
            pending: loaded.pending,
            marks: loaded.marks,
        };
        // The newest segment now holds the merged state, so any older
        // segment can go once its reports are settled.
        spool.append_mark()?;
        spool.delete_settled()?;
        spool.make_room(0)?;
        Ok(spool)
    }

    pub fn last_seq(&self) -> u64 {
        self.marks.last_seq
    }

    /// The server's contiguous ack as last recorded.
    pub fn acked(&self) -> u64 {
        self.marks.acked
    }

    pub fn backlog(&self) -> u64 {
        self.pending.len() as u64
    }

    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Losses since the last report that carried them.
    pub fn unreported_loss(&self) -> Loss {
        let m = &self.marks;
        Loss {
            dropped: m.dropped_total.saturating_sub(m.dropped_reported),
            corrupt: m.corrupt_total.saturating_sub(m.corrupt_reported),
            rejected: m.rejected_total.saturating_sub(m.rejected_reported),
            dropped_total: m.dropped_total,
            corrupt_total: m.corrupt_total,
            rejected_total: m.rejected_total,
        }
    }

    /// Writes a report durably (fsync) before returning. `loss` is what the
    /// report carries, from [`Spool::unreported_loss`] when it was built.
    pub fn append(
        &mut self,
        seq: u64,
        low_value: bool,
        payload: &[u8],
        loss: Loss,
    ) -> io::Result<()> {
        let len = record::frame_len(payload.len()) as u64;
        // Room for the report and for the mark that opens a new segment.
        self.make_room(len + record::frame_len(0) as u64)?;
        let active_bytes = self.segments.last().map(|s| s.bytes).unwrap_or(0);
        if active_bytes + len > self.limits.segment_bytes
            && active_bytes > record::frame_len(0) as u64
        {
            let next = self.segments.last().map(|s| s.id + 1).unwrap_or(1);
            self.start_segment(next)?;
        }
        let mut marks = self.marks;
        marks.last_seq = marks.last_seq.max(seq);
        marks.dropped_reported = marks.dropped_reported.max(loss.dropped_total);
        marks.corrupt_reported = marks.corrupt_reported.max(loss.corrupt_total);
        marks.rejected_reported = marks.rejected_reported.max(loss.rejected_total);
        let bytes = record::encode(&Record {
            kind: Kind::Report,
            seq,
            low_value,
            marks,
            payload,
        });
        let offset = self.write_active(&bytes)?;
        self.marks = marks;
        let segment = self.segments.last_mut().expect("an active segment");
        segment.max_seq = segment.max_seq.max(seq);
        if seq > self.marks.settled {
            self.pending.push_back(Entry {
                seq,
                segment: segment.id,
                offset,
                len: bytes.len() as u32,
                low_value,
            });
        }
        Ok(())
    }

    /// The oldest pending reports with consecutive seqs, read back from disk
    /// and checked. A record that went bad on disk since it was written is
    /// counted as corrupt and skipped.
    pub fn next_batch(
        &mut self,
        max_reports: usize,
        max_bytes: usize,
    ) -> io::Result<Option<Batch>> {
        loop {
            let Some(first) = self.pending.front().copied() else {
                return Ok(None);
            };
            let mut payloads = Vec::new();
            let mut size = 0usize;
            let mut last = first.seq;
            let mut file: Option<(u64, File)> = None;
            let mut bad: Option<u64> = None;
            for e in self.pending.iter().take(max_reports.max(1)) {
                if !payloads.is_empty() && (e.seq != last + 1 || size + e.len as usize > max_bytes)
                {
                    break;
                }
                let f = match &mut file {
                    Some((id, f)) if *id == e.segment => f,
                    _ => {
                        &mut file
                            .insert((e.segment, File::open(self.segment_path(e.segment))?))
                            .1
                    }
                };
                match read_record(f, e) {
                    Some(payload) => {
                        size += e.len as usize;
                        last = e.seq;
                        payloads.push(payload);
                    }
                    None => {
                        bad = Some(e.seq);
                        break;
                    }
                }
            }
            if !payloads.is_empty() {
                return Ok(Some(Batch {
                    first: first.seq,
                    last,
                    payloads,
                }));
            }
            let seq = bad.unwrap_or(first.seq);
            tracing::error!(
                seq,
                "spool: stored report no longer passes its checksum; skipped and counted as corrupt"
            );
            self.pending.pop_front();
            self.marks.corrupt_total += 1;
            self.append_mark()?;
        }
    }

    /// Records the server's contiguous ack and forgets what it covers.
    pub fn ack(&mut self, acked: u64) -> io::Result<()> {
        let before = self.marks;
        self.marks.acked = self.marks.acked.max(acked);
        self.marks.settled = self.marks.settled.max(acked);
        self.marks.last_seq = self.marks.last_seq.max(acked);
        if self.marks == before {
            return Ok(());
        }
        self.append_mark()?;
        self.forget_settled();
        self.delete_settled()
    }

    /// Gives up the oldest pending report (the server rejects it for good);
    /// it is counted as dropped. Returns its seq.
    pub fn give_up_oldest(&mut self) -> io::Result<Option<u64>> {
        let Some(e) = self.pending.front().copied() else {
            return Ok(None);
        };
        self.marks.settled = self.marks.settled.max(e.seq);
        self.marks.dropped_total += 1;
        self.append_mark()?;
        self.forget_settled();
        Ok(Some(e.seq))
    }

    /// Sets the oldest pending report aside: the server refused it as
    /// permanently invalid. A copy goes to `rejected/SEQ.pb` (the newest
    /// few are kept, best effort) for support; it is counted as rejected
    /// and never sent again.
    pub fn set_aside_oldest(&mut self, payload: &[u8]) -> io::Result<Option<u64>> {
        let Some(e) = self.pending.front().copied() else {
            return Ok(None);
        };
        self.keep_rejected(e.seq, payload);
        self.marks.settled = self.marks.settled.max(e.seq);
        self.marks.rejected_total += 1;
        self.append_mark()?;
        self.forget_settled();
        Ok(Some(e.seq))
    }

    fn keep_rejected(&self, seq: u64, payload: &[u8]) {
        let dir = self.dir.join("rejected");
        let kept = std::fs::create_dir_all(&dir).and_then(|()| {
            crate::fsutil::write_atomically(
                &dir.join(format!("{seq:020}.pb")),
                payload,
                Perms::Default,
            )
        });
        if let Err(e) = kept {
            tracing::warn!(seq, error = %e, "cannot keep a copy of the rejected report");
            return;
        }
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        names.sort();
        let excess = names.len().saturating_sub(KEEP_REJECTED);
        for old in &names[..excess] {
            let _ = std::fs::remove_file(old);
        }
    }

    fn forget_settled(&mut self) {
        while self
            .pending
            .front()
            .is_some_and(|e| e.seq <= self.marks.settled)
        {
            self.pending.pop_front();
        }
    }

    fn segment_path(&self, id: u64) -> PathBuf {
        segment_path(&self.dir, id)
    }

    /// Appends a mark with the current state to the active segment.
    fn append_mark(&mut self) -> io::Result<()> {
        let bytes = record::encode(&Record::mark(self.marks));
        self.write_active(&bytes).map(|_| ())
    }

    /// Appends and fsyncs; returns the offset written at. On failure the
    /// segment is cut back so that no half record stays behind.
    fn write_active(&mut self, bytes: &[u8]) -> io::Result<u64> {
        let segment = self.segments.last_mut().expect("an active segment");
        let offset = segment.bytes;
        let result = self
            .active
            .write_all(bytes)
            .and_then(|()| self.active.sync_data());
        if let Err(e) = result {
            let _ = self.active.set_len(offset);
            return Err(e);
        }
        segment.bytes += bytes.len() as u64;
        Ok(offset)
    }

    /// Creates segment `id`, starting with a mark, and makes it active.
    fn start_segment(&mut self, id: u64) -> io::Result<()> {
        let bytes = record::encode(&Record::mark(self.marks));
        let path = self.segment_path(id);
        write_atomically(&path, &bytes)?;
        self.active = OpenOptions::new().append(true).open(&path)?;
        self.segments.push(Segment {
            id,
            bytes: bytes.len() as u64,
            max_seq: 0,
        });
        Ok(())
    }

    /// Removes older segments whose reports are all settled. The active
    /// segment holds the latest marks, so nothing else is lost with them.
    fn delete_settled(&mut self) -> io::Result<()> {
        while self.segments.len() > 1 && self.segments[0].max_seq <= self.marks.settled {
            let id = self.segments[0].id;
            remove_file(&self.segment_path(id))?;
            self.segments.remove(0);
        }
        Ok(())
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn read_record(file: &mut File, e: &Entry) -> Option<Vec<u8>> {
    let mut buf = vec![0; e.len as usize];
    file.seek(SeekFrom::Start(e.offset)).ok()?;
    file.read_exact(&mut buf).ok()?;
    let (rec, _) = record::decode_at(&buf, 0)?;
    (rec.kind == Kind::Report && rec.seq == e.seq).then(|| rec.payload.to_vec())
}

/// Segment files: never private (reports carry no secret), always atomic.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    crate::fsutil::write_atomically(path, bytes, Perms::Default)
}

#[cfg(test)]
mod tests;
