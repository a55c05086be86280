//! The agent's TOML config file: any text is a config or a clear error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = onshi_agent::config::parse(text);
    }
});
