//! The spool on a full disk (issue 16 §1), on a simulated disk of a fixed
//! size: every write that would not fit fails with ENOSPC, as a real one.

use super::*;

fn limits() -> Limits {
    Limits {
        max_bytes: 1 << 20,
        segment_bytes: 4096,
    }
}

fn payload(seq: u64) -> Vec<u8> {
    format!("report {seq} ").repeat(8).into_bytes()
}

fn append(s: &mut Spool, seq: u64) -> io::Result<()> {
    let loss = s.unreported_loss();
    s.append(seq, false, &payload(seq), loss)
}

fn fill(s: &mut Spool, seqs: std::ops::RangeInclusive<u64>) {
    for seq in seqs {
        append(s, seq).unwrap();
    }
}

#[test]
fn an_ack_that_cannot_be_written_is_never_resent_and_is_written_later() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    fill(&mut s, 1..=10);
    // The disk is full from here: not even a mark fits.
    s.capacity = Some(s.bytes());
    let b = s.next_batch(4, 1 << 20).unwrap().unwrap();
    assert_eq!((b.first, b.last), (1, 4));
    let err = s.ack(4).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    let b = s.next_batch(4, 1 << 20).unwrap().unwrap();
    assert_eq!(
        (b.first, b.last),
        (5, 8),
        "the acknowledged batch is not sent again"
    );
    assert!(s.ack(8).is_err());
    assert_eq!(s.acked(), 8);
    // Space again: the next ack writes the marks that were owed.
    s.capacity = None;
    s.ack(8).unwrap();
    drop(s);
    let s = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!((s.acked(), s.backlog()), (8, 2));
}

#[test]
fn a_full_disk_frees_acknowledged_segments_first_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    fill(&mut s, 1..=100);
    assert!(s.segments.len() > 3);
    s.capacity = Some(s.bytes());
    // The ack's mark does not fit, but the segments it covers can go.
    let before = s.bytes();
    s.ack(60).unwrap();
    assert!(s.bytes() < before, "acknowledged segments were deleted");
    // Room for ten more reports beyond the reserve: nothing is dropped.
    s.capacity = Some(s.bytes() + 64 * 1024 + 4 * 1024);
    fill(&mut s, 101..=110);
    assert_eq!(s.unreported_loss(), Loss::default(), "nothing dropped");
    assert_eq!(s.backlog(), 50);
}

#[test]
fn a_report_that_cannot_be_written_is_counted_and_said_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    fill(&mut s, 1..=3);
    s.capacity = Some(s.bytes());
    for seq in 4..=6 {
        assert_eq!(
            append(&mut s, seq).unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
    }
    assert_eq!(s.unreported_loss().dropped, 3);
    assert_eq!(s.last_seq(), 6, "the seqs are used: the server sees a gap");
    s.capacity = None;
    let loss = s.unreported_loss();
    s.append(7, false, &payload(7), loss).unwrap();
    assert_eq!(loss.dropped, 3, "report 7 carries the count");
    assert_eq!(s.unreported_loss().dropped, 0);
    drop(s);
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(s.last_seq(), 7);
    let mut seqs = Vec::new();
    while let Some(b) = s.next_batch(100, 1 << 20).unwrap() {
        seqs.extend(b.first..=b.last);
        s.ack(b.last).unwrap();
    }
    assert_eq!(seqs, vec![1, 2, 3, 7]);
}

#[test]
fn it_starts_on_a_full_disk_and_delivers_what_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    fill(&mut s, 1..=20);
    let full = s.bytes();
    drop(s);
    let mut s = Spool::open_with_capacity(dir.path(), limits(), full).unwrap();
    assert_eq!(s.backlog(), 20);
    let b = s.next_batch(100, 1 << 20).unwrap().unwrap();
    assert_eq!((b.first, b.last), (1, 20));
    let _ = s.ack(20);
    assert_eq!(s.backlog(), 0);

    // Not even a first segment fits: it starts all the same.
    let empty = tempfile::tempdir().unwrap();
    let mut s = Spool::open_with_capacity(empty.path(), limits(), 10).unwrap();
    assert!(append(&mut s, 1).is_err());
    assert_eq!(s.unreported_loss().dropped, 1);
}

#[test]
fn the_bound_follows_the_free_disk_and_counts_every_drop() {
    let dir = tempfile::tempdir().unwrap();
    let disk = 200 * 1024;
    let mut s = Spool::open_with_capacity(dir.path(), limits(), disk).unwrap();
    let n = 1_500;
    for seq in 1..=n {
        // Every tenth report changed something; the rest repeat it.
        let loss = s.unreported_loss();
        let low_value = seq % 10 != 1 && loss.is_none();
        s.append(seq, low_value, &payload(seq), loss)
            .unwrap_or_else(|e| panic!("seq {seq}: {e}"));
        assert!(
            s.bytes() + 64 * 1024 <= disk,
            "seq {seq}: {} bytes leave no reserve",
            s.bytes()
        );
    }
    assert!(s.segments.len() >= 4, "segments shrink with the disk");
    assert_eq!(
        s.want.dropped_total + s.backlog(),
        n,
        "every report is pending or counted as dropped"
    );
    assert!(s.want.dropped_total > 0, "the small disk made it drop");
    // Unchanged reports went first: the oldest segment keeps none.
    let oldest = s.segments[0].id;
    assert!(
        s.pending
            .iter()
            .filter(|e| e.segment == oldest)
            .all(|e| !e.low_value),
        "the oldest segment still holds unchanged reports"
    );
}

#[test]
fn damage_to_an_acknowledged_record_is_not_counted_as_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    fill(&mut s, 1..=5);
    let b = s.next_batch(2, 1 << 20).unwrap().unwrap();
    assert_eq!(b.last, 2);
    s.ack(2).unwrap();
    drop(s);
    let file = dir.path().join(format!("{:020}.seg", 1));
    let mut data = std::fs::read(&file).unwrap();
    let at = data.windows(8).position(|w| w == b"report 2").unwrap();
    data[at] ^= 1;
    std::fs::write(&file, &data).unwrap();
    let s = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(s.unreported_loss().corrupt, 0, "seq 2 was acknowledged");
    assert_eq!(s.backlog(), 3);
}

#[test]
fn seqs_the_state_file_knows_but_the_spool_lost_are_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    fill(&mut s, 1..=3);
    s.note_seqs_used_through(5).unwrap();
    assert_eq!((s.unreported_loss().corrupt, s.last_seq()), (2, 5));
    s.note_seqs_used_through(5).unwrap();
    drop(s);
    let s = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(s.unreported_loss().corrupt, 2, "durable, counted once");
}
