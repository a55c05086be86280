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
mod write;

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::fsutil::Perms;
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
    /// Ascending ids; the last one is active (takes appends). Empty only
    /// when not even a first segment could be written (a full disk).
    segments: Vec<Segment>,
    active: Option<File>,
    pending: VecDeque<Entry>,
    /// The marks as last written durably.
    marks: Marks,
    /// The marks as they should be: every change lands here first and is
    /// copied to `marks` only once a record carrying it is fsynced. On a
    /// full disk `want` runs ahead; the next write that succeeds carries it.
    want: Marks,
    /// Tests: a simulated disk of this many bytes for the segments.
    #[cfg(test)]
    capacity: Option<u64>,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`. Damaged records are skipped,
    /// counted and repaired here; only an unusable directory is an error —
    /// a full disk is not: the spool then works with what it has.
    pub fn open(dir: &Path, limits: Limits) -> io::Result<Spool> {
        Self::open_on(dir, limits, None)
    }

    /// Tests: opens the spool on a simulated disk of `capacity` bytes.
    #[cfg(test)]
    pub fn open_with_capacity(dir: &Path, limits: Limits, capacity: u64) -> io::Result<Spool> {
        Self::open_on(dir, limits, Some(capacity))
    }

    fn open_on(dir: &Path, limits: Limits, _capacity: Option<u64>) -> io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
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
        let loaded = load::load(dir, &ids);
        let active = match loaded.segments.last() {
            Some(s) => Some(
                OpenOptions::new()
                    .append(true)
                    .open(segment_path(dir, s.id))?,
            ),
            None => None,
        };
        let mut spool = Spool {
            dir: dir.to_owned(),
            limits: limits.sane(),
            segments: loaded.segments,
            active,
            pending: loaded.pending,
            // Not known to be in one record yet: written below.
            marks: Marks::default(),
            want: loaded.marks,
            #[cfg(test)]
            capacity: _capacity,
        };
        // The newest segment then holds the merged state, so any older
        // segment can go once its reports are settled.
        match spool.persist() {
            Ok(()) => spool.delete_settled(spool.marks.settled)?,
            Err(e) => {
                tracing::error!(error = %e, "spool: cannot write to the spool (disk full?); starting with what it holds")
            }
        }
        if let Err(e) = spool.make_room(0) {
            tracing::error!(error = %e, "spool: cannot free space at start");
        }
        Ok(spool)
    }

    pub fn last_seq(&self) -> u64 {
        self.want.last_seq
    }

    /// The server's contiguous ack as last recorded.
    pub fn acked(&self) -> u64 {
        self.want.acked
    }

    pub fn backlog(&self) -> u64 {
        self.pending.len() as u64
    }

    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Losses since the last report that carried them.
    pub fn unreported_loss(&self) -> Loss {
        let m = &self.want;
        Loss {
            dropped: m.dropped_total.saturating_sub(m.dropped_reported),
            corrupt: m.corrupt_total.saturating_sub(m.corrupt_reported),
            rejected: m.rejected_total.saturating_sub(m.rejected_reported),
            dropped_total: m.dropped_total,
            corrupt_total: m.corrupt_total,
            rejected_total: m.rejected_total,
        }
    }

    /// Seqs up to `seq` were given to reports (the state file says so) but
    /// the spool has no trace of those above its last one: records lost
    /// after they were written (a rotten or vanished tail). Counted as
    /// corrupt, once, and never reused.
    pub fn note_seqs_used_through(&mut self, seq: u64) -> io::Result<()> {
        if seq <= self.want.last_seq {
            return Ok(());
        }
        let lost = seq - self.want.last_seq;
        tracing::error!(
            lost,
            through = seq,
            "spool: reports the state file counts are not in the spool; counted as corrupt"
        );
        self.want.corrupt_total += lost;
        self.want.last_seq = seq;
        self.persist()
    }

    /// Writes a report durably (fsync) before returning. `loss` is what the
    /// report carries, from [`Spool::unreported_loss`] when it was built.
    /// On failure the seq stays used and the report is counted as dropped
    /// (said upstream by the next report that can be written).
    pub fn append(
        &mut self,
        seq: u64,
        low_value: bool,
        payload: &[u8],
        loss: Loss,
    ) -> io::Result<()> {
        self.want.last_seq = self.want.last_seq.max(seq);
        let result = self.try_append(seq, low_value, payload, loss);
        if result.is_err() {
            self.want.dropped_total += 1;
        }
        result
    }

    fn try_append(
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
        if self.segments.is_empty()
            || (active_bytes + len > self.segment_bytes()
                && active_bytes > record::frame_len(0) as u64)
        {
            let next = self.segments.last().map(|s| s.id + 1).unwrap_or(1);
            // Every seq before this one went through `append` (written or
            // counted as dropped) or was counted lost at start-up.
            self.start_segment(next, seq - 1)?;
        }
        let mut marks = self.want;
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
        self.want = marks;
        self.marks = marks;
        let segment = self.segments.last_mut().expect("an active segment");
        segment.max_seq = segment.max_seq.max(seq);
        if seq > self.want.settled {
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
            self.want.corrupt_total += 1;
            self.persist()?;
        }
    }

    /// Records the server's contiguous ack and forgets what it covers. The
    /// acknowledged reports leave the send queue at once, even when the
    /// mark cannot be written (a full disk): an acknowledged batch is never
    /// sent again; the mark is written by the next write that succeeds.
    pub fn ack(&mut self, acked: u64) -> io::Result<()> {
        self.want.acked = self.want.acked.max(acked);
        self.want.settled = self.want.settled.max(acked);
        self.want.last_seq = self.want.last_seq.max(acked);
        self.forget_settled();
        self.persist()?;
        self.delete_settled(self.marks.settled)
    }

    /// Gives up the oldest pending report (it cannot be decoded); it is
    /// counted as dropped. Returns its seq.
    pub fn give_up_oldest(&mut self) -> io::Result<Option<u64>> {
        let Some(e) = self.pending.front().copied() else {
            return Ok(None);
        };
        self.want.settled = self.want.settled.max(e.seq);
        self.want.dropped_total += 1;
        self.forget_settled();
        self.persist()?;
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
        self.want.settled = self.want.settled.max(e.seq);
        self.want.rejected_total += 1;
        self.forget_settled();
        self.persist()?;
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
            .is_some_and(|e| e.seq <= self.want.settled)
        {
            self.pending.pop_front();
        }
    }

    fn segment_path(&self, id: u64) -> PathBuf {
        segment_path(&self.dir, id)
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

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_disk_full;
