//! The spool's record reader on arbitrary segment bytes: every byte is
//! either inside a valid record or in a damaged stretch, and each record
//! found decodes again where it was found.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onshi_agent::spool::record;

fuzz_target!(|data: &[u8]| {
    let scan = record::scan(data);
    let covered: usize = scan.records.iter().map(|f| f.len).sum::<usize>()
        + scan.damage.iter().map(|d| d.len).sum::<usize>();
    assert_eq!(covered, data.len(), "bytes neither record nor damage");
    for f in &scan.records {
        let (again, len) = record::decode_at(data, f.offset).expect("found record decodes");
        assert_eq!((len, &again), (f.len, &f.record));
        // A record re-encodes to the same frame (new format) or reads the same.
        let encoded = record::encode(&again);
        let (round, _) = record::decode_at(&encoded, 0).expect("encoded record decodes");
        assert_eq!(round, again);
    }
});
