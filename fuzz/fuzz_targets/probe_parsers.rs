//! Every probe output parser on arbitrary text: the first byte picks the
//! parser, the rest is its input (seeds: agent/tests/fixtures/windows/).
//! A parser may refuse its input; it must never panic or hang.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use onshi_agent::probe::{accounts, cert, host, ipconfig, native, reader, shares};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    match which % 16 {
        0 => drop(reader::parse_pnp(&text)),
        1 => drop(reader::parse_tasklist(&text)),
        2 => drop(reader::parse_services(&text)),
        3 => drop(cert::parse("fuzz.pem", rest, now)),
        4 => drop(cert::parse_store(&text)),
        5 => drop(accounts::parse_local_users(&text)),
        6 => drop(ipconfig::parse_windows(&text)),
        7 => {
            let mut parts = text.splitn(3, '\0');
            let (a, r, d) = (parts.next(), parts.next(), parts.next());
            drop(ipconfig::parse_linux(
                a.unwrap_or(""),
                r.unwrap_or(""),
                d.unwrap_or(""),
            ));
        }
        8 => drop(shares::parse_smb_shares(&text)),
        9 => drop(host::parse_win32_os(&text)),
        10 => drop(host::parse_logical_disk(&text)),
        11 => drop(host::parse_proc_stat_btime(&text)),
        12 => drop(host::parse_os_release(&text)),
        13 => drop(host::parse_reg_query(&text)),
        14 => {
            // The native rendering of a process list reads back as tasklist's.
            let processes: Vec<(String, u32)> = text
                .split('\n')
                .enumerate()
                .map(|(i, name)| (name.to_owned(), i as u32))
                .collect();
            drop(reader::parse_tasklist(&native::tasklist_csv(&processes)));
        }
        _ => {
            let build = rest.iter().fold(0u32, |a, b| a.wrapping_mul(31) ^ *b as u32);
            drop(native::caption(&text, build));
        }
    }
});
