//! The spool's writes: marks made durable, appends with fsync, new
//! segments, deletion of settled ones. Every write goes through here, so a
//! full disk is met in one place.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use super::record::{self, Record};
use super::{Segment, Spool};
use crate::fsutil::{Perms, remove_file};

impl Spool {
    /// Makes `want` durable (one mark record) unless it already is. On a
    /// full disk, first frees what the server already has (segments it
    /// acknowledged), then tries once more.
    pub(super) fn persist(&mut self) -> io::Result<()> {
        if self.want == self.marks {
            return Ok(());
        }
        let bytes = record::encode(&Record::mark(self.want));
        let first = self.write_active(&bytes);
        let result = match first {
            Err(e) if is_disk_full(&e) && self.segments.len() > 1 => {
                self.delete_settled(self.want.acked)?;
                self.write_active(&bytes)
            }
            other => other,
        };
        result.map(|_| {
            self.marks = self.want;
        })
    }

    /// Appends and fsyncs to the active segment (made first if there is
    /// none); returns the offset written at. On failure the segment is cut
    /// back so that no half record stays behind.
    pub(super) fn write_active(&mut self, bytes: &[u8]) -> io::Result<u64> {
        if self.segments.is_empty() {
            self.start_segment(1, self.want.last_seq)?;
        }
        self.check_capacity(bytes.len() as u64)?;
        let segment = self.segments.last_mut().expect("an active segment");
        let active = self.active.as_mut().expect("an open active segment");
        let offset = segment.bytes;
        let result = active.write_all(bytes).and_then(|()| active.sync_data());
        if let Err(e) = result {
            let _ = active.set_len(offset);
            return Err(e);
        }
        segment.bytes += bytes.len() as u64;
        Ok(offset)
    }

    /// Creates segment `id`, starting with a mark that accounts for every
    /// seq up to `through` (written before it, or counted as lost), and
    /// makes it active. A start knows the end before it: a segment cut
    /// exactly between two records is found there.
    pub(super) fn start_segment(&mut self, id: u64, through: u64) -> io::Result<()> {
        let bytes = record::encode(&Record::mark_through(self.want, through));
        self.check_capacity(bytes.len() as u64)?;
        let path = self.segment_path(id);
        write_atomically(&path, &bytes)?;
        self.active = Some(OpenOptions::new().append(true).open(&path)?);
        self.segments.push(Segment {
            id,
            bytes: bytes.len() as u64,
            max_seq: 0,
        });
        self.marks = self.want;
        Ok(())
    }

    /// Removes older segments whose reports are all settled up to `bound`.
    /// The active segment holds the latest marks, so nothing else is lost
    /// with them.
    pub(super) fn delete_settled(&mut self, bound: u64) -> io::Result<()> {
        while self.segments.len() > 1 && self.segments[0].max_seq <= bound {
            let id = self.segments[0].id;
            remove_file(&self.segment_path(id))?;
            self.segments.remove(0);
        }
        Ok(())
    }

    /// Tests: refuses a write that would not fit the simulated disk.
    pub(super) fn check_capacity(&self, _more: u64) -> io::Result<()> {
        #[cfg(test)]
        if let Some(cap) = self.capacity
            && self.bytes() + _more > cap
        {
            return Err(io::Error::from_raw_os_error(DISK_FULL));
        }
        Ok(())
    }
}

/// The OS's own "disk full" code, so the simulated disk fails like the real one on each OS.
#[cfg(all(test, unix))]
const DISK_FULL: i32 = 28; // ENOSPC
#[cfg(all(test, windows))]
const DISK_FULL: i32 = 112; // ERROR_DISK_FULL

/// ENOSPC (Unix) / ERROR_DISK_FULL, ERROR_HANDLE_DISK_FULL (Windows): std
/// maps all three to `StorageFull`.
pub(super) fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull
}

/// Segment files: never private (reports carry no secret), always atomic.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    crate::fsutil::write_atomically(path, bytes, Perms::Default)
}
