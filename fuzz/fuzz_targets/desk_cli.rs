//! `onshi-server desk …`: arbitrary arguments (NUL-separated) through the
//! real clap definition and `run_at` with a fixed clock, and `--at` parsing.
#![no_main]

use chrono::{FixedOffset, TimeZone};
use clap::Parser;
use libfuzzer_sys::fuzz_target;
use onshi_server::desk::cli::{DeskCommand, parse_at, run_at};

#[derive(Parser)]
struct Desk {
    #[command(subcommand)]
    command: DeskCommand,
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_at(&text);
    let args = std::iter::once("desk").chain(text.split('\0'));
    if let Ok(desk) = Desk::try_parse_from(args) {
        let jst = FixedOffset::east_opt(9 * 3600).unwrap();
        let now = jst.with_ymd_and_hms(2026, 5, 1, 9, 30, 0).unwrap();
        let mut out = Vec::new();
        let _ = run_at(desk.command, || now, &mut out);
    }
});
