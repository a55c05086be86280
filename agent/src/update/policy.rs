//! The agent's update rules, pure (the clock, the boot time and the free
//! space are parameters): what to make of an offer, when a swap may happen,
//! whether the disk can hold a download, how long to wait after a failure.

use chrono::{DateTime, Duration, Utc};
use onshi_proto::v1 as pb;
use onshi_release::{
    Manifest, ReleaseError, SignedManifest, Step, Target, TrustedKeys, check_update,
};
use sha2::{Digest, Sha256};

/// Kept free on the disk besides the download (spool, state, a certificate renewal).
pub const RESERVE_BYTES: u64 = 16 << 20;

/// A verified offer this agent will take.
#[derive(Debug, Clone, PartialEq)]
pub struct Offered {
    pub manifest: Manifest,
    pub signed: SignedManifest,
    pub rollout_id: u64,
    pub download_after: DateTime<Utc>,
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub force: bool,
    pub step: Step,
}

/// What to make of the server's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// No offer (none, or the rollout is paused): nothing may be swapped.
    NoOffer,
    /// The offered version is the one running.
    Current,
    /// This version failed its trial here before: never tried again.
    FailedBefore(String),
    /// Refused (signature, key, manifest, target, downgrade); `digest`
    /// identifies the offer so that it is reported once.
    Refused {
        digest: String,
        version: String,
        error: ReleaseError,
    },
    Take(Box<Offered>),
}

fn time(t: &Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.clamp(0, 999_999_999) as u32))
}

/// The digest of an offer's signed parts (to remember a refusal).
pub fn offer_digest(offer: &pb::UpdateOffer) -> String {
    let mut h = Sha256::new();
    h.update(&offer.manifest);
    h.update(&offer.signature);
    h.update(offer.key_id.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Verifies an offer with this agent's own keys (never the server's word)
/// and applies the update rule.
pub fn judge(
    offer: Option<&pb::UpdateOffer>,
    keys: &TrustedKeys,
    running: &str,
    target: Target,
    failed: &[String],
) -> Verdict {
    let Some(offer) = offer else {
        return Verdict::NoOffer;
    };
    let signed = SignedManifest {
        manifest: offer.manifest.clone(),
        key_id: offer.key_id.clone(),
        signature: offer.signature.clone(),
    };
    let refused = |version: String, error: ReleaseError| Verdict::Refused {
        digest: offer_digest(offer),
        version,
        error,
    };
    let manifest = match signed.verify(keys) {
        Ok(m) => m,
        Err(e) => return refused("unverified".into(), e),
    };
    let step = match check_update(&manifest, running, target) {
        Ok(Step::Current) => return Verdict::Current,
        Ok(step) => step,
        Err(e) => return refused(manifest.version.clone(), e),
    };
    if failed.contains(&manifest.version) {
        return Verdict::FailedBefore(manifest.version);
    }
    let window = match (time(&offer.swap_window_start), time(&offer.swap_window_end)) {
        (Some(a), Some(b)) if a < b => Some((a, b)),
        _ => None,
    };
    Verdict::Take(Box::new(Offered {
        download_after: time(&offer.download_after).unwrap_or(DateTime::UNIX_EPOCH),
        rollout_id: offer.rollout_id,
        window,
        force: offer.force,
        step,
        manifest,
        signed,
    }))
}

/// Why a swap may happen now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapMoment {
    /// The PC started a short while ago (it restarts every day, domain.md
    /// §2.1): the clinic is not using it yet.
    StartUp,
    /// The site is closed by its business hours (the server's window).
    Closed,
    /// An administrator forced it.
    Forced,
}

impl SwapMoment {
    pub fn as_str(self) -> &'static str {
        match self {
            SwapMoment::StartUp => "start-up",
            SwapMoment::Closed => "site closed",
            SwapMoment::Forced => "forced by an administrator",
        }
    }
}

/// Whether the binaries may be swapped now: never in the middle of business
/// hours unless forced.
pub fn swap_moment(
    now: DateTime<Utc>,
    boot_time: Option<DateTime<Utc>>,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    force: bool,
    startup_grace: Duration,
) -> Option<SwapMoment> {
    if force {
        return Some(SwapMoment::Forced);
    }
    if let Some(boot) = boot_time
        && boot <= now
        && now - boot <= startup_grace
    {
        return Some(SwapMoment::StartUp);
    }
    match window {
        Some((start, end)) if start <= now && now < end => Some(SwapMoment::Closed),
        _ => None,
    }
}

/// Room to stage `remaining` more bytes: `Err((needed, free))` when the disk
/// cannot take them with the reserve left. Unknown free space is taken as enough.
pub fn room_for(remaining: u64, free: Option<u64>) -> Result<(), (u64, u64)> {
    let needed = remaining.saturating_add(RESERVE_BYTES);
    match free {
        Some(free) if free < needed => Err((needed, free)),
        _ => Ok(()),
    }
}

/// Pause before the next download attempt after `failures` in a row:
/// 30 s doubling to 30 min (the server's `retry-after-seconds` wins when given).
pub fn retry_delay(failures: u32) -> std::time::Duration {
    let secs = 30u64.saturating_mul(1 << failures.min(6)).min(1800);
    std::time::Duration::from_secs(secs)
}

#[cfg(test)]
mod tests;
