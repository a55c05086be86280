use super::*;
use onshi_release::{ManifestInput, SecretKey};

fn elf() -> Vec<u8> {
    let mut h = vec![0u8; 128];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2;
    h[5] = 1;
    h[18..20].copy_from_slice(&0x3Eu16.to_le_bytes());
    h
}

fn offer(key: &SecretKey, version: &str, target: Target, rollback: bool) -> pb::UpdateOffer {
    let manifest = Manifest::for_binary(
        &elf(),
        ManifestInput {
            version: version.into(),
            target,
            min_server_version: String::new(),
            notes: String::new(),
            rollback,
        },
        Utc::now(),
    );
    // A Windows manifest for an ELF is refused by for_binary: build it by hand.
    let manifest = manifest.unwrap_or_else(|_| Manifest {
        format: 1,
        version: version.into(),
        target,
        sha256: "0".repeat(64),
        size: 1,
        min_server_version: String::new(),
        notes: String::new(),
        rollback,
        signed_at: Utc::now(),
    });
    let signed = SignedManifest::sign(&manifest, key);
    pb::UpdateOffer {
        rollout_id: 7,
        manifest: signed.manifest,
        signature: signed.signature,
        key_id: signed.key_id,
        download_after: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        swap_window_start: Some(prost_types::Timestamp {
            seconds: 1_800_000_100,
            nanos: 0,
        }),
        swap_window_end: Some(prost_types::Timestamp {
            seconds: 1_800_000_200,
            nanos: 0,
        }),
        force: false,
    }
}

fn keys(key: &SecretKey) -> TrustedKeys {
    let mut k = TrustedKeys::none();
    k.add(key.public());
    k
}

const LINUX: Target = Target::LinuxX86_64;

#[test]
fn a_signed_newer_offer_is_taken_with_its_times() {
    let key = SecretKey::generate();
    let o = offer(&key, "0.2.0", LINUX, false);
    let Verdict::Take(taken) = judge(Some(&o), &keys(&key), "0.1.0", LINUX, &[]) else {
        panic!("not taken");
    };
    assert_eq!(taken.manifest.version, "0.2.0");
    assert_eq!(taken.rollout_id, 7);
    assert_eq!(taken.step, Step::Upgrade);
    assert_eq!(taken.download_after.timestamp(), 1_800_000_000);
    assert_eq!(taken.window.map(|w| w.1.timestamp()), Some(1_800_000_200));
    assert_eq!(
        judge(None, &keys(&key), "0.1.0", LINUX, &[]),
        Verdict::NoOffer
    );
    assert_eq!(
        judge(Some(&o), &keys(&key), "0.2.0", LINUX, &[]),
        Verdict::Current
    );
    assert_eq!(
        judge(Some(&o), &keys(&key), "0.1.0", LINUX, &["0.2.0".into()]),
        Verdict::FailedBefore("0.2.0".into())
    );
}

#[test]
fn tampered_foreign_downgraded_or_other_target_offers_are_refused() {
    let key = SecretKey::generate();
    let trusted = keys(&key);
    let refused = |o: &pb::UpdateOffer| match judge(Some(o), &trusted, "0.5.0", LINUX, &[]) {
        Verdict::Refused {
            error,
            version,
            digest,
        } => {
            assert_eq!(digest, offer_digest(o));
            (error, version)
        }
        other => panic!("not refused: {other:?}"),
    };
    let mut tampered = offer(&key, "0.6.0", LINUX, false);
    let i = tampered.manifest.len() / 2;
    tampered.manifest[i] ^= 1;
    assert!(matches!(
        refused(&tampered).0,
        ReleaseError::BadSignature { .. }
    ));
    assert_eq!(refused(&tampered).1, "unverified");
    let foreign = offer(&SecretKey::generate(), "0.6.0", LINUX, false);
    assert!(matches!(
        refused(&foreign).0,
        ReleaseError::UnknownKey { .. }
    ));
    let older = offer(&key, "0.4.0", LINUX, false);
    assert_eq!(
        refused(&older),
        (
            ReleaseError::Downgrade {
                offered: "0.4.0".into(),
                running: "0.5.0".into()
            },
            "0.4.0".into()
        )
    );
    let windows = offer(&key, "0.6.0", Target::WindowsX86_64, false);
    assert!(matches!(
        refused(&windows).0,
        ReleaseError::WrongTarget { .. }
    ));
    let rollback = offer(&key, "0.4.0", LINUX, true);
    assert!(
        matches!(judge(Some(&rollback), &trusted, "0.5.0", LINUX, &[]), Verdict::Take(t) if t.step == Step::Rollback)
    );
    assert_ne!(offer_digest(&older), offer_digest(&windows));
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

#[test]
fn swaps_happen_at_start_up_while_closed_or_forced_never_during_hours() {
    let grace = Duration::minutes(15);
    let window = Some((at(10_000), at(20_000)));
    let now = at(5_000);
    let long_ago = Some(at(0));
    assert_eq!(
        swap_moment(now, long_ago, window, false, grace),
        None,
        "open, booted long ago"
    );
    assert_eq!(
        swap_moment(at(10_000), long_ago, window, false, grace),
        Some(SwapMoment::Closed)
    );
    assert_eq!(
        swap_moment(at(19_999), long_ago, window, false, grace),
        Some(SwapMoment::Closed)
    );
    assert_eq!(
        swap_moment(at(20_000), long_ago, window, false, grace),
        None,
        "reopened"
    );
    assert_eq!(
        swap_moment(now, Some(at(4_500)), window, false, grace),
        Some(SwapMoment::StartUp)
    );
    assert_eq!(
        swap_moment(now, Some(at(4_000)), window, false, grace),
        None,
        "16 min after boot"
    );
    assert_eq!(
        swap_moment(now, Some(at(6_000)), window, false, grace),
        None,
        "boot in the future"
    );
    assert_eq!(
        swap_moment(now, None, None, false, grace),
        None,
        "24 h site, boot unknown"
    );
    assert_eq!(
        swap_moment(now, None, None, true, grace),
        Some(SwapMoment::Forced)
    );
}

#[test]
fn a_full_disk_refuses_the_download_with_the_figures() {
    assert_eq!(room_for(10 << 20, Some(1 << 30)), Ok(()));
    assert_eq!(room_for(10 << 20, None), Ok(()));
    assert_eq!(
        room_for(10 << 20, Some(20 << 20)),
        Err(((10 << 20) + RESERVE_BYTES, 20 << 20))
    );
}

#[test]
fn retries_back_off_to_half_an_hour() {
    assert_eq!(retry_delay(0).as_secs(), 30);
    assert_eq!(retry_delay(1).as_secs(), 60);
    assert_eq!(retry_delay(5).as_secs(), 960);
    assert_eq!(retry_delay(6).as_secs(), 1800);
    assert_eq!(retry_delay(40).as_secs(), 1800);
}
