//! The version this binary reports (`host.agent_version`) and updates from.
//!
//! It is a fixed-size stamp in the binary's data, `ONSHI-AGENT-VERSION:`
//! followed by the version and NUL padding, read at run time (a volatile
//! read, so no optimisation folds it into the code). A build stamps the
//! crate's version; the release tooling and the update tests can restamp a
//! copy of a built binary with another version without rebuilding it
//! (`tests/common/updates.rs`): its bytes, hash and signature then differ
//! like those of any other release.

use std::sync::OnceLock;

/// What precedes the version in the stamp.
pub const MARKER: &[u8] = b"ONSHI-AGENT-VERSION:";
/// Size of the whole stamp (marker, version, NUL padding).
pub const STAMP_BYTES: usize = 64;

const fn stamp() -> [u8; STAMP_BYTES] {
    let version = env!("CARGO_PKG_VERSION").as_bytes();
    let mut out = [0u8; STAMP_BYTES];
    let mut i = 0;
    while i < MARKER.len() {
        out[i] = MARKER[i];
        i += 1;
    }
    let mut j = 0;
    while j < version.len() {
        out[MARKER.len() + j] = version[j];
        j += 1;
    }
    out
}

#[used]
static STAMP: [u8; STAMP_BYTES] = stamp();

/// The running binary's version.
pub fn get() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        // SAFETY: STAMP is a valid, aligned, initialised static of this type.
        let stamp: [u8; STAMP_BYTES] = unsafe { std::ptr::read_volatile(&STAMP) };
        parse(&stamp).unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned())
    })
}

/// The version in a stamp, if it is one.
pub fn parse(stamp: &[u8]) -> Option<String> {
    let rest = stamp.strip_prefix(MARKER)?;
    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    let text = std::str::from_utf8(&rest[..end]).ok()?;
    (!text.is_empty()).then(|| text.to_owned())
}

/// Replaces the version stamp in a binary's bytes; `None` when the binary
/// has no stamp or the version does not fit.
pub fn restamp(binary: &[u8], version: &str) -> Option<Vec<u8>> {
    if MARKER.len() + version.len() >= STAMP_BYTES || version.contains('\0') {
        return None;
    }
    // The marker also appears alone (the constant `parse` uses): the stamp
    // is the one occurrence followed by a version and NUL padding.
    let mut stamps = (0..binary.len().saturating_sub(STAMP_BYTES - 1))
        .filter(|&i| binary[i..].starts_with(MARKER))
        .filter(|&i| is_stamp(&binary[i..i + STAMP_BYTES]));
    let at = stamps.next()?;
    if stamps.next().is_some() {
        return None;
    }
    let mut out = binary.to_vec();
    let slot = out.get_mut(at..at + STAMP_BYTES)?;
    slot.fill(0);
    slot[..MARKER.len()].copy_from_slice(MARKER);
    slot[MARKER.len()..MARKER.len() + version.len()].copy_from_slice(version.as_bytes());
    Some(out)
}

/// A marker, a version of digits, dots, letters, `-` and `+`, then NULs.
fn is_stamp(slot: &[u8]) -> bool {
    let rest = &slot[MARKER.len()..];
    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    end > 0
        && rest[..end]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b".-+".contains(b))
        && rest[end..].iter().all(|b| *b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_build_reports_its_crate_version() {
        assert_eq!(get(), env!("CARGO_PKG_VERSION"));
        assert_eq!(parse(&stamp()).as_deref(), Some(env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn a_copy_can_be_restamped() {
        let mut binary = b"code...".to_vec();
        binary.extend_from_slice(MARKER);
        binary.extend_from_slice(b"other data that is not a version stamp at all.........");
        binary.extend_from_slice(&stamp());
        binary.extend_from_slice(b"...more");
        let new = restamp(&binary, "0.9.1").unwrap();
        assert_eq!(new.len(), binary.len());
        let stamps: Vec<String> = (0..new.len() - STAMP_BYTES)
            .filter(|&i| new[i..].starts_with(MARKER) && is_stamp(&new[i..i + STAMP_BYTES]))
            .filter_map(|i| parse(&new[i..i + STAMP_BYTES]))
            .collect();
        assert_eq!(stamps, ["0.9.1"]);
        assert!(
            new.windows(20).any(|w| w == b"other data that is n"),
            "the rest untouched"
        );
        assert!(new.ends_with(b"...more"));
        assert_eq!(restamp(b"no stamp here", "1.0.0"), None);
        assert_eq!(restamp(&binary, &"9".repeat(60)), None);
        let mut twice = binary.clone();
        twice.extend_from_slice(&stamp());
        assert_eq!(restamp(&twice, "0.9.1"), None, "ambiguous");
    }
}
