use std::io::Write;

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

fn append(s: &mut Spool, seq: u64, low_value: bool) {
    let loss = s.unreported_loss();
    s.append(seq, low_value, &payload(seq), loss).unwrap();
}

fn drain(s: &mut Spool) -> Vec<u64> {
    let mut seqs = Vec::new();
    while let Some(b) = s.next_batch(7, 1 << 20).unwrap() {
        assert_eq!(
            b.payloads.len() as u64,
            b.last - b.first + 1,
            "a batch is consecutive"
        );
        for (i, p) in b.payloads.iter().enumerate() {
            assert_eq!(p, &payload(b.first + i as u64));
        }
        seqs.extend(b.first..=b.last);
        s.ack(b.last).unwrap();
    }
    seqs
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn reports_survive_reopen_and_leave_once_acked() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    for seq in 1..=100 {
        append(&mut s, seq, false);
    }
    assert!(
        segment_files(dir.path()).len() > 2,
        "rolled over to new segments"
    );
    drop(s);
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!((s.backlog(), s.last_seq()), (100, 100));
    let b = s.next_batch(10, 1 << 20).unwrap().unwrap();
    assert_eq!((b.first, b.last), (1, 10));
    s.ack(10).unwrap();
    drop(s);
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(s.backlog(), 90);
    assert_eq!(drain(&mut s), (11..=100).collect::<Vec<_>>());
    assert_eq!(
        segment_files(dir.path()).len(),
        1,
        "acked segments are deleted"
    );
    drop(s);
    let s = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(
        (s.backlog(), s.last_seq(), s.acked()),
        (0, 100, 100),
        "marks outlive the data"
    );
    assert_eq!(s.unreported_loss().corrupt, 0);
}

#[test]
fn a_batch_stops_at_a_seq_gap() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    for seq in [1, 2, 3, 5, 6] {
        append(&mut s, seq, false);
    }
    let b = s.next_batch(100, 1 << 20).unwrap().unwrap();
    assert_eq!((b.first, b.last), (1, 3));
    s.ack(3).unwrap();
    let b = s.next_batch(100, 1 << 20).unwrap().unwrap();
    assert_eq!((b.first, b.last), (5, 6));
}

#[test]
fn torn_tail_is_counted_once_and_the_rest_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    for seq in 1..=5 {
        append(&mut s, seq, false);
    }
    drop(s);
    let last = segment_files(dir.path()).pop().unwrap();
    let frame = record::encode(&Record {
        kind: Kind::Report,
        seq: 6,
        low_value: false,
        marks: Marks::default(),
        payload: &payload(6),
    });
    let mut f = OpenOptions::new().append(true).open(&last).unwrap();
    f.write_all(&frame[..frame.len() / 2]).unwrap();
    drop(f);

    let s = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(
        s.unreported_loss().corrupt,
        0,
        "a torn write was never durable: no seq is lost"
    );
    assert_eq!(
        s.last_seq(),
        5,
        "the torn report was never durable: its seq is free again"
    );
    drop(s);
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(
        s.unreported_loss().corrupt,
        0,
        "repaired, still nothing lost"
    );
    append(&mut s, 6, false);
    drop(s);
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(s.unreported_loss(), Loss::default());
    assert_eq!(drain(&mut s), (1..=6).collect::<Vec<_>>());
}

#[test]
fn flipped_bytes_cost_only_the_damaged_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    for seq in 1..=30 {
        append(&mut s, seq, false);
    }
    drop(s);
    let files = segment_files(dir.path());
    let victim = &files[1];
    let mut data = std::fs::read(victim).unwrap();
    let mid = data.len() / 2;
    for b in &mut data[mid..mid + 5] {
        *b ^= 0xFF;
    }
    std::fs::write(victim, &data).unwrap();

    let mut s = Spool::open(dir.path(), limits()).unwrap();
    let corrupt = s.unreported_loss().corrupt;
    let delivered = drain(&mut s);
    assert!(corrupt >= 1);
    assert_eq!(
        delivered.len() as u64 + corrupt,
        30,
        "each lost report is counted: {delivered:?}"
    );
    assert!(delivered.windows(2).all(|w| w[0] < w[1]), "in order");
    drop(s);
    let s = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(
        s.unreported_loss().corrupt,
        corrupt,
        "the repair is durable"
    );
}

#[test]
fn garbage_files_never_stop_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("00000000000000000003.seg"),
        vec![0xAB; 10_000],
    )
    .unwrap();
    std::fs::write(dir.path().join("00000000000000000004.seg"), b"").unwrap();
    std::fs::write(
        dir.path().join("00000000000000000002.seg.tmp"),
        b"half a rewrite",
    )
    .unwrap();
    std::fs::write(dir.path().join("README"), b"not a segment").unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(
        s.unreported_loss().corrupt,
        0,
        "garbage held no seq the spool knew of"
    );
    append(&mut s, 1, false);
    assert_eq!(drain(&mut s), vec![1]);
    assert!(!dir.path().join("00000000000000000002.seg.tmp").exists());
}

#[test]
fn a_record_rotting_after_start_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    for seq in 1..=3 {
        append(&mut s, seq, false);
    }
    let file = segment_files(dir.path()).pop().unwrap();
    let mut data = std::fs::read(&file).unwrap();
    let at = data.windows(8).position(|w| w == b"report 2").unwrap();
    data[at] ^= 1;
    std::fs::write(&file, &data).unwrap();
    let b = s.next_batch(10, 1 << 20).unwrap().unwrap();
    assert_eq!((b.first, b.last), (1, 1));
    s.ack(1).unwrap();
    let b = s.next_batch(10, 1 << 20).unwrap().unwrap();
    assert_eq!((b.first, b.last), (3, 3));
    assert_eq!(s.unreported_loss().corrupt, 1);
}

#[test]
fn full_spool_drops_low_value_reports_first_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let small = Limits {
        max_bytes: 64 * 1024,
        segment_bytes: 4 * 1024,
    };
    let mut s = Spool::open(dir.path(), small).unwrap();
    let n = 2_000;
    for seq in 1..=n {
        // Every tenth report changed something; the rest repeat it.
        append(&mut s, seq, seq % 10 != 1);
        assert!(
            s.bytes() <= small.max_bytes,
            "bounded at seq {seq}: {}",
            s.bytes()
        );
    }
    let dropped = s.marks.dropped_total;
    let pending = s.backlog();
    assert_eq!(
        dropped + pending,
        n,
        "every report is pending or counted as dropped"
    );
    let seqs: Vec<u64> = s.pending.iter().map(|e| e.seq).collect();
    let oldest_high = seqs.iter().find(|seq| *seq % 10 == 1).copied().unwrap();
    assert!(
        seqs.iter()
            .filter(|seq| **seq < oldest_high + 200)
            .all(|seq| seq % 10 == 1),
        "old low-value reports went before old high-value ones: {:?}",
        &seqs[..60.min(seqs.len())]
    );
    drop(s);
    let mut s = Spool::open(dir.path(), small).unwrap();
    assert_eq!(s.want.corrupt_total, 0, "nothing is counted lost");
    assert_eq!(s.backlog(), pending, "every pending report is still there");
    assert_eq!(s.marks.dropped_total, dropped, "the drop count is durable");
    let delivered = drain(&mut s);
    assert_eq!(delivered.len() as u64, pending);
    assert!(delivered.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn giving_up_the_oldest_counts_it_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    for seq in 1..=3 {
        append(&mut s, seq, false);
    }
    assert_eq!(s.give_up_oldest().unwrap(), Some(1));
    drop(s);
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(s.unreported_loss().dropped, 1);
    assert_eq!(drain(&mut s), vec![2, 3]);
}

/// Crash at random points (drop without any shutdown, sometimes with the
/// last write torn): nothing durable is lost, nothing is delivered twice.
#[test]
fn random_crashes_lose_nothing_that_was_durable() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = |m: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % m
    };
    let mut next_seq = 1;
    let mut delivered: Vec<u64> = Vec::new();
    for _round in 0..40 {
        let mut s = Spool::open(dir.path(), limits()).unwrap();
        next_seq = next_seq.max(s.last_seq() + 1);
        for _ in 0..next(30) {
            match next(4) {
                0 => {
                    if let Some(b) = s.next_batch(5, 1 << 20).unwrap() {
                        delivered.extend(b.first..=b.last);
                        s.ack(b.last).unwrap();
                    }
                }
                _ => {
                    append(&mut s, next_seq, false);
                    next_seq += 1;
                }
            }
        }
        drop(s);
        if next(5) == 0 {
            // A torn append that never returned: its seq was never durable.
            let last = segment_files(dir.path()).pop().unwrap();
            let frame = record::encode(&Record {
                kind: Kind::Report,
                seq: next_seq,
                low_value: false,
                marks: Marks::default(),
                payload: &payload(next_seq),
            });
            let cut = 1 + next(frame.len() as u64 - 1) as usize;
            OpenOptions::new()
                .append(true)
                .open(&last)
                .unwrap()
                .write_all(&frame[..cut])
                .unwrap();
        }
    }
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    delivered.extend(drain(&mut s));
    assert_eq!(
        delivered,
        (1..next_seq).collect::<Vec<_>>(),
        "every durable report exactly once, in order"
    );
}

#[test]
fn a_rejected_report_is_set_aside_counted_once_and_never_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    for seq in 1..=3 {
        append(&mut s, seq, false);
    }
    assert_eq!(s.set_aside_oldest(&payload(1)).unwrap(), Some(1));
    assert_eq!(s.unreported_loss().rejected, 1);
    assert_eq!(
        std::fs::read(dir.path().join("rejected").join(format!("{:020}.pb", 1))).unwrap(),
        payload(1),
        "a copy is kept for support"
    );
    drop(s);
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    let loss = s.unreported_loss();
    assert_eq!(
        (loss.rejected, loss.dropped),
        (1, 0),
        "durable, and not a drop"
    );
    assert_eq!(drain(&mut s), vec![2, 3]);
    // The next report carries the count; after it, nothing is unreported.
    s.append(4, false, &payload(4), loss).unwrap();
    assert_eq!(s.unreported_loss().rejected, 0);
}

/// A middle segment cut exactly at a record boundary shows no damage: the
/// reports it lost are found by the seq gap to the next segment.
#[test]
fn a_middle_segment_cut_at_a_record_boundary_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    for seq in 1..=60 {
        append(&mut s, seq, false);
    }
    drop(s);
    let files = segment_files(dir.path());
    assert!(files.len() >= 3, "{files:?}");
    let victim = &files[files.len() / 2];
    let data = std::fs::read(victim).unwrap();
    let scan = record::scan(&data);
    let reports: Vec<_> = scan
        .records
        .iter()
        .filter(|f| f.record.kind == Kind::Report)
        .collect();
    assert!(reports.len() >= 3);
    // Keep the first report record whole; cut where the second-to-last starts.
    let cut = reports[reports.len() - 2].offset;
    let cut_away = reports.len() as u64 - (reports.len() as u64 - 2);
    std::fs::write(victim, &data[..cut]).unwrap();

    let mut s = Spool::open(dir.path(), limits()).unwrap();
    let corrupt = s.unreported_loss().corrupt;
    let delivered = drain(&mut s);
    assert_eq!(corrupt, cut_away, "the cut-away reports are counted");
    assert_eq!(
        delivered.len() as u64 + corrupt,
        60,
        "each lost report is counted: {delivered:?}"
    );
    drop(s);
    let s = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(s.want.corrupt_total, corrupt, "counted once, not at every start");
}

/// The same cut, found again at every start until the segment goes: it is
/// counted the first time only, also while its reports are still pending.
#[test]
fn a_cut_found_at_start_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    for seq in 1..=60 {
        append(&mut s, seq, false);
    }
    drop(s);
    let files = segment_files(dir.path());
    let victim = &files[1];
    let data = std::fs::read(victim).unwrap();
    let scan = record::scan(&data);
    let last = scan
        .records
        .iter()
        .rfind(|f| f.record.kind == Kind::Report)
        .unwrap();
    std::fs::write(victim, &data[..last.offset]).unwrap();
    let first = Spool::open(dir.path(), limits()).unwrap().want.corrupt_total;
    assert_eq!(first, 1);
    for _ in 0..3 {
        let s = Spool::open(dir.path(), limits()).unwrap();
        assert_eq!(s.want.corrupt_total, 1);
        assert_eq!(s.backlog(), 59);
    }
}

/// Reports that could not be written (a full disk) leave seq gaps, at
/// segment boundaries too; they are counted as dropped, not again as corrupt.
#[test]
fn gaps_of_dropped_reports_are_not_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    for i in 1..=60 {
        // Two reports before each one could not be written (`append` failed).
        s.want.dropped_total += 2;
        append(&mut s, 3 * i, false);
    }
    assert!(segment_files(dir.path()).len() >= 3);
    drop(s);
    let mut s = Spool::open(dir.path(), limits()).unwrap();
    assert_eq!(s.unreported_loss().corrupt, 0);
    assert_eq!(drain(&mut s).len(), 60);
}
