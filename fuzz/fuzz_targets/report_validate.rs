//! The server's ingest path up to the database: protobuf decode of a
//! `SubmitReportsRequest`, `validate_batch`, and the stored JSON form of
//! each report that passed. Bad input is an error, never a panic.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use onshi_proto::v1 as pb;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = pb::SubmitReportsRequest::decode(data) else {
        return;
    };
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    if onshi_server::ingest::validate::validate_batch(&req, now).is_ok() {
        for r in &req.reports {
            let doc = onshi_server::fleet::report::ReportDoc::from(r);
            serde_json::to_vec(&doc).expect("a validated report serialises");
        }
    }
});
