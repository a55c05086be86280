//! On-disk framing of spool records. Pure: encode a record, scan a segment's
//! bytes; no I/O.
//!
//! ```text
//! frame = magic[4] | body_len u32 LE | crc32(body_len ++ body) u32 LE | body
//! body  = kind u8 | flags u8 | seq u64 | marks 7 × u64 | [2 × u64] | payload
//! ```
//!
//! The two words in brackets (`rejected_total`, `rejected_reported`) are
//! present when flag bit 2 is set: every record written now has them, and a
//! record of an older agent (without) still reads, with both at 0.
//!
//! A mark's `seq` (0 in marks of older agents) is the seq it accounts
//! through: every seq up to it was written before the mark or counted as
//! lost. Every segment starts with one, and a rewritten segment ends with
//! one, so a segment cut exactly between two records is still found.
//!
//! Every record carries the spool's [`Marks`] as of its writing, so the state
//! after a restart is the field-wise maximum over all readable records: an ack
//! and the data it covers change in one append, and losing one record to
//! corruption only makes the state a little older (a resend the server
//! de-duplicates), never inconsistent.

/// Chosen to be unlikely in protobuf payloads; a false match still needs a
/// valid CRC to be taken for a record.
pub const MAGIC: [u8; 4] = [0xA7, b'O', b'S', 0x01];
pub const HEADER_LEN: usize = 12;
const BASE_LEN: usize = 2 + 8 + 7 * 8;
const FIXED_LEN: usize = BASE_LEN + 2 * 8;
/// A body longer than this is a corrupt length field, not a report.
pub const MAX_BODY_LEN: usize = 4 << 20;
const FLAG_LOW_VALUE: u8 = 1;
/// The record has the rejected counters.
const FLAG_REJECTED_WORDS: u8 = 2;

/// Counters that only grow; merged field-wise with `max`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    /// Highest seq ever written (or acknowledged by the server).
    pub last_seq: u64,
    /// The server's contiguous acknowledgement, as last heard.
    pub acked: u64,
    /// Every seq up to this one is acknowledged or given up: nothing at or
    /// below it is pending.
    pub settled: u64,
    pub dropped_total: u64,
    pub corrupt_total: u64,
    /// `dropped_total` / `corrupt_total` as already carried by a report.
    pub dropped_reported: u64,
    pub corrupt_reported: u64,
    /// Reports the server refused as invalid, set aside by the agent.
    pub rejected_total: u64,
    pub rejected_reported: u64,
}

impl Marks {
    pub fn merge(&mut self, other: &Marks) {
        self.last_seq = self.last_seq.max(other.last_seq);
        self.acked = self.acked.max(other.acked);
        self.settled = self.settled.max(other.settled);
        self.dropped_total = self.dropped_total.max(other.dropped_total);
        self.corrupt_total = self.corrupt_total.max(other.corrupt_total);
        self.dropped_reported = self.dropped_reported.max(other.dropped_reported);
        self.corrupt_reported = self.corrupt_reported.max(other.corrupt_reported);
        self.rejected_total = self.rejected_total.max(other.rejected_total);
        self.rejected_reported = self.rejected_reported.max(other.rejected_reported);
    }

    fn to_words(self) -> [u64; 9] {
        [
            self.last_seq,
            self.acked,
            self.settled,
            self.dropped_total,
            self.corrupt_total,
            self.dropped_reported,
            self.corrupt_reported,
            self.rejected_total,
            self.rejected_reported,
        ]
    }

    fn from_words(w: [u64; 9]) -> Self {
        Marks {
            last_seq: w[0],
            acked: w[1],
            settled: w[2],
            dropped_total: w[3],
            corrupt_total: w[4],
            dropped_reported: w[5],
            corrupt_reported: w[6],
            rejected_total: w[7],
            rejected_reported: w[8],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An encoded `onshi.v1.Report`.
    Report = 1,
    /// Marks only (an ack, a drop, a repair, a new segment).
    Mark = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub kind: Kind,
    /// The report's seq; for a mark, the seq it accounts through (0: none).
    pub seq: u64,
    /// Same content as the report before it: dropped first when full.
    pub low_value: bool,
    pub marks: Marks,
    pub payload: &'a [u8],
}

impl<'a> Record<'a> {
    pub fn mark(marks: Marks) -> Self {
        Self::mark_through(marks, 0)
    }

    /// A mark that also says "every seq up to `through` is accounted for
    /// before this point of the spool" (written, dropped or counted lost):
    /// the end of a rewritten segment, so that a seq gap there is not
    /// counted again at the next start. 0 says nothing (every older mark).
    pub fn mark_through(marks: Marks, through: u64) -> Self {
        Record {
            kind: Kind::Mark,
            seq: through,
            low_value: false,
            marks,
            payload: &[],
        }
    }
}

pub fn frame_len(payload_len: usize) -> usize {
    HEADER_LEN + FIXED_LEN + payload_len
}

pub fn encode(rec: &Record) -> Vec<u8> {
    let body_len = FIXED_LEN + rec.payload.len();
    let mut out = Vec::with_capacity(HEADER_LEN + body_len);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]); // crc, filled below
    out.push(rec.kind as u8);
    let low_value = if rec.low_value { FLAG_LOW_VALUE } else { 0 };
    out.push(low_value | FLAG_REJECTED_WORDS);
    out.extend_from_slice(&rec.seq.to_le_bytes());
    for w in rec.marks.to_words() {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(rec.payload);
    let crc = checksum(&out[4..8], &out[HEADER_LEN..]);
    out[8..12].copy_from_slice(&crc.to_le_bytes());
    out
}

fn checksum(len: &[u8], body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(len);
    h.update(body);
    h.finalize()
}

/// Decodes the frame starting at `pos`, if it is whole and its CRC matches.
/// Returns the record and the frame's length.
pub fn decode_at(data: &[u8], pos: usize) -> Option<(Record<'_>, usize)> {
    let header = data.get(pos..pos.checked_add(HEADER_LEN)?)?;
    if header[..4] != MAGIC {
        return None;
    }
    let body_len = u32::from_le_bytes(header[4..8].try_into().ok()?) as usize;
    if !(BASE_LEN..=MAX_BODY_LEN).contains(&body_len) {
        return None;
    }
    let body = data.get(pos + HEADER_LEN..pos + HEADER_LEN + body_len)?;
    let crc = u32::from_le_bytes(header[8..12].try_into().ok()?);
    if checksum(&header[4..8], body) != crc {
        return None;
    }
    let kind = match body[0] {
        1 => Kind::Report,
        2 => Kind::Mark,
        _ => return None,
    };
    let flags = body[1];
    let words = if flags & FLAG_REJECTED_WORDS != 0 {
        9
    } else {
        7
    };
    let fixed = 2 + 8 + words * 8;
    if body_len < fixed {
        return None;
    }
    let word =
        |i: usize| u64::from_le_bytes(body[2 + i * 8..10 + i * 8].try_into().unwrap_or_default());
    let mut marks = [0u64; 9];
    for (i, m) in marks.iter_mut().take(words).enumerate() {
        *m = word(i + 1);
    }
    let rec = Record {
        kind,
        seq: word(0),
        low_value: flags & FLAG_LOW_VALUE != 0,
        marks: Marks::from_words(marks),
        payload: &body[fixed..],
    };
    Some((rec, HEADER_LEN + body_len))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'a> {
    pub offset: usize,
    pub len: usize,
    pub record: Record<'a>,
}

/// A stretch of bytes that is not a whole, valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damage {
    pub offset: usize,
    pub len: usize,
    /// Nothing valid follows: typically a write torn by a crash.
    pub at_tail: bool,
}

#[derive(Debug, Default)]
pub struct Scan<'a> {
    pub records: Vec<Found<'a>>,
    pub damage: Vec<Damage>,
}

/// Splits a segment into valid records and damaged stretches. A damaged
/// stretch is skipped by searching for the next frame that decodes, so one
/// bad record never hides the records after it.
pub fn scan(data: &[u8]) -> Scan<'_> {
    let mut out = Scan::default();
    let mut pos = 0;
    while pos < data.len() {
        if let Some((record, len)) = decode_at(data, pos) {
            out.records.push(Found {
                offset: pos,
                len,
                record,
            });
            pos += len;
            continue;
        }
        let next = resync(data, pos + 1);
        let end = next.unwrap_or(data.len());
        match out.damage.last_mut() {
            Some(d) if d.offset + d.len == pos => d.len += end - pos,
            _ => out.damage.push(Damage {
                offset: pos,
                len: end - pos,
                at_tail: false,
            }),
        }
        pos = end;
    }
    if let Some(d) = out.damage.last_mut() {
        d.at_tail = d.offset + d.len == data.len();
    }
    out
}

/// The next offset at or after `from` where a valid frame starts.
fn resync(data: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    while pos + HEADER_LEN <= data.len() {
        let hit = data[pos..].windows(4).position(|w| w == MAGIC)?;
        pos += hit;
        if decode_at(data, pos).is_some() {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(n: u64) -> Marks {
        Marks {
            last_seq: n,
            acked: n / 2,
            settled: n / 2,
            dropped_total: 1,
            corrupt_total: 2,
            dropped_reported: 1,
            corrupt_reported: 0,
            rejected_total: n / 3,
            rejected_reported: 0,
        }
    }

    fn report(seq: u64, payload: &[u8]) -> Vec<u8> {
        encode(&Record {
            kind: Kind::Report,
            seq,
            low_value: seq.is_multiple_of(2),
            marks: marks(seq),
            payload,
        })
    }

    #[test]
    fn round_trips() {
        let bytes = report(7, b"hello");
        let (rec, len) = decode_at(&bytes, 0).unwrap();
        assert_eq!(len, bytes.len());
        assert_eq!(len, frame_len(5));
        assert_eq!(
            (rec.kind, rec.seq, rec.low_value, rec.payload),
            (Kind::Report, 7, false, &b"hello"[..])
        );
        assert_eq!(rec.marks, marks(7));
        let m = encode(&Record::mark(marks(3)));
        assert_eq!(decode_at(&m, 0).unwrap().0.kind, Kind::Mark);
    }

    #[test]
    fn a_flipped_byte_costs_only_its_record() {
        let mut data = Vec::new();
        for seq in 1..=5 {
            data.extend(report(seq, &[seq as u8; 40]));
        }
        let one = frame_len(40);
        for i in 0..one {
            let mut bad = data.clone();
            bad[2 * one + i] ^= 0x40;
            let scan = scan(&bad);
            let seqs: Vec<u64> = scan.records.iter().map(|f| f.record.seq).collect();
            assert_eq!(seqs, vec![1, 2, 4, 5], "flip at byte {i} of record 3");
            assert_eq!(
                scan.damage,
                vec![Damage {
                    offset: 2 * one,
                    len: one,
                    at_tail: false
                }]
            );
        }
    }

    #[test]
    fn torn_tail_is_damage_at_tail() {
        let mut data = report(1, b"abc");
        let second = report(2, b"defgh");
        data.extend_from_slice(&second[..second.len() - 3]);
        let scan = scan(&data);
        assert_eq!(scan.records.len(), 1);
        assert_eq!(scan.damage.len(), 1);
        assert!(scan.damage[0].at_tail);
    }

    #[test]
    fn garbage_everywhere_never_panics() {
        let mut seed = 0x1234_5678_u64;
        for round in 0..300 {
            let mut data = Vec::new();
            for seq in 1..=4 {
                data.extend(report(seq, &vec![0xEE; (seq * 13) as usize]));
            }
            for _ in 0..(round % 7) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let at = (seed >> 33) as usize % data.len();
                data[at] = (seed >> 13) as u8;
            }
            if round % 5 == 0 {
                data.truncate((seed as usize) % data.len());
            }
            let scan = scan(&data);
            let covered: usize = scan.records.iter().map(|f| f.len).sum::<usize>()
                + scan.damage.iter().map(|d| d.len).sum::<usize>();
            assert_eq!(
                covered,
                data.len(),
                "every byte is either a record or damage"
            );
        }
    }

    #[test]
    fn a_record_of_an_older_agent_still_reads() {
        // As written before the rejected counters: 7 mark words, flag 0.
        let mut body = vec![Kind::Report as u8, 0];
        body.extend_from_slice(&9u64.to_le_bytes());
        for w in 1..=7u64 {
            body.extend_from_slice(&w.to_le_bytes());
        }
        body.extend_from_slice(b"old");
        let mut frame = MAGIC.to_vec();
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&checksum(&frame[4..8], &body).to_le_bytes());
        frame.extend_from_slice(&body);
        let (rec, len) = decode_at(&frame, 0).unwrap();
        assert_eq!(len, frame.len());
        assert_eq!((rec.seq, rec.payload), (9, &b"old"[..]));
        assert_eq!((rec.marks.last_seq, rec.marks.corrupt_reported), (1, 7));
        assert_eq!(
            (rec.marks.rejected_total, rec.marks.rejected_reported),
            (0, 0)
        );
    }

    #[test]
    fn absurd_length_is_damage_not_allocation() {
        let mut data = report(1, b"x");
        data[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let scan = scan(&data);
        assert!(scan.records.is_empty());
        assert_eq!(scan.damage[0].len, data.len());
    }
}
