//! The portal's static files — the stylesheet and the small scripts — embedded in the binary
//! and served at content-hashed URLs (`/static/portal.<hash>.css`), so a browser may keep them
//! for a year and still never runs an old script after an upgrade. No build step: the hash is
//! computed from the embedded bytes once, at first use. Pages name a file through [`url`]
//! (`{{ crate::portal::assets::url("portal.css") }}` in a template).
//!
//! A request with another hash (a page from the previous version, during a rolling upgrade)
//! or none still gets the current file, but marked `no-cache`: only the exact URL is immutable.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Embedded files: name, content type, bytes.
const FILES: [(&str, &str, &[u8]); 2] = [
    (
        "portal.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/portal.css"),
    ),
    (
        "live.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/live.js"),
    ),
];

/// Hex digits of the content hash in a URL (64 bits: no collision between two versions).
const HASH_CHARS: usize = 16;

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    /// `portal.<hash>.css`.
    hashed: String,
}

/// `stem.hash.ext` for `stem.ext`.
fn hashed_name(name: &str, bytes: &[u8]) -> String {
    let hash = &hex::encode(Sha256::digest(bytes))[..HASH_CHARS];
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{name}.{hash}"),
    }
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(name, content_type, bytes)| Asset {
            name,
            content_type,
            bytes,
            hashed: hashed_name(name, bytes),
        })
        .collect()
});

/// The URL of an embedded file, e.g. `/static/portal.3f2a….css`. An unknown name (a typo in a
/// template) gives its plain URL, which answers 404, and is logged.
pub fn url(name: &str) -> String {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => format!("/static/{}", a.hashed),
        None => {
            tracing::error!(name, "template names an asset that is not embedded");
            format!("/static/{name}")
        }
    }
}

/// The name of `file` without its hash: `portal.abc.css` → `portal.css`; a name without a
/// hash is returned as is.
fn base_name(file: &str) -> String {
    let mut parts: Vec<&str> = file.split('.').collect();
    if parts.len() >= 3 {
        parts.remove(parts.len() - 2);
    }
    parts.join(".")
}

/// `GET /static/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    let asset = ASSETS
        .iter()
        .find(|a| a.hashed == file || a.name == file || a.name == base_name(&file));
    let Some(asset) = asset else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let cache = if asset.hashed == file {
        IMMUTABLE
    } else {
        "no-cache"
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        asset.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_the_content_hash_and_every_file_is_reachable() {
        for (name, _, bytes) in FILES {
            let url = url(name);
            let file = url.strip_prefix("/static/").unwrap();
            assert_eq!(file, hashed_name(name, bytes));
            assert_eq!(base_name(file), name);
            assert_ne!(file, name);
        }
        assert_eq!(hashed_name("a.css", b"x"), hashed_name("a.css", b"x"));
        assert_ne!(hashed_name("a.css", b"x"), hashed_name("a.css", b"y"));
        assert_eq!(base_name("live.js"), "live.js");
        assert_eq!(url("nope.css"), "/static/nope.css");
    }
}
