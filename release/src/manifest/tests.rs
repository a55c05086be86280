use super::*;

fn elf() -> Vec<u8> {
    let mut h = vec![0u8; 256];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2;
    h[5] = 1;
    h[18..20].copy_from_slice(&0x3Eu16.to_le_bytes());
    h.extend_from_slice(b"the rest of the agent");
    h
}

fn input(version: &str) -> ManifestInput {
    ManifestInput {
        version: version.into(),
        target: Target::LinuxX86_64,
        min_server_version: "0.1.0".into(),
        notes: "読み取り機の検出を改善".into(),
        rollback: false,
    }
}

fn signed(key: &SecretKey) -> (Vec<u8>, SignedManifest) {
    let binary = elf();
    let manifest = Manifest::for_binary(&binary, input("0.2.0"), Utc::now()).unwrap();
    (binary, SignedManifest::sign(&manifest, key))
}

fn trusting(key: &SecretKey) -> TrustedKeys {
    let mut keys = TrustedKeys::none();
    keys.add(key.public());
    keys
}

#[test]
fn a_signed_manifest_verifies_and_describes_its_binary() {
    let key = SecretKey::generate();
    let (binary, signed) = signed(&key);
    let manifest = signed.verify(&trusting(&key)).unwrap();
    assert_eq!(manifest.version, "0.2.0");
    assert_eq!(manifest.size, binary.len() as u64);
    assert_eq!(manifest.sha256, sha256_hex(&binary));
    assert_eq!(manifest.notes, "読み取り機の検出を改善");
    assert_eq!(manifest.check_binary(&binary), Ok(()));
    // Through the files `release sign` writes and `release publish` reads.
    let again =
        SignedManifest::from_files(signed.manifest.clone(), &signed.signature_text()).unwrap();
    assert_eq!(again, signed);
    assert_eq!(again.verify(&trusting(&key)).unwrap(), manifest);
}

#[test]
fn any_changed_byte_of_the_manifest_or_signature_is_refused() {
    let key = SecretKey::generate();
    let (_, signed) = signed(&key);
    let keys = trusting(&key);
    for i in 0..signed.manifest.len() {
        let mut tampered = signed.clone();
        tampered.manifest[i] ^= 0x01;
        assert!(
            matches!(
                tampered.verify(&keys),
                Err(ReleaseError::BadSignature { .. })
            ),
            "byte {i} changed"
        );
    }
    for i in 0..signed.signature.len() {
        let mut tampered = signed.clone();
        tampered.signature[i] ^= 0x80;
        assert!(
            tampered.verify(&keys).is_err(),
            "signature byte {i} changed"
        );
    }
    let mut truncated = signed.clone();
    truncated.signature.pop();
    assert!(truncated.verify(&keys).is_err());
    let mut appended = signed.clone();
    appended.manifest.push(b' ');
    assert!(appended.verify(&keys).is_err());
}

#[test]
fn only_trusted_keys_count_and_the_id_cannot_be_swapped() {
    let key = SecretKey::generate();
    let other = SecretKey::generate();
    let (_, signed) = signed(&key);
    let err = signed.verify(&trusting(&other)).unwrap_err();
    assert!(matches!(err, ReleaseError::UnknownKey { .. }), "{err}");
    assert!(signed.verify(&TrustedKeys::none()).is_err());
    // Claiming a trusted key's id does not make another key's signature pass.
    let mut claimed = signed.clone();
    claimed.key_id = other.public().id().to_owned();
    assert!(matches!(
        claimed.verify(&trusting(&other)),
        Err(ReleaseError::BadSignature { .. })
    ));
    // A signature made without the manifest context is not a manifest signature.
    let mut raw = signed.clone();
    raw.signature = key.sign(&signed.manifest);
    assert!(raw.verify(&trusting(&key)).is_err());
}

#[test]
fn a_valid_signature_over_a_bad_manifest_is_still_refused() {
    let key = SecretKey::generate();
    let keys = trusting(&key);
    let sign_bytes = |bytes: &[u8]| SignedManifest {
        manifest: bytes.to_vec(),
        key_id: key.public().id().to_owned(),
        signature: key.sign(&signed_message(bytes)),
    };
    let (_, good) = signed(&key);
    let text = String::from_utf8(good.manifest.clone()).unwrap();
    for (bad, what) in [
        (text.replace("\"format\": 1", "\"format\": 2"), "format 2"),
        (text.replace("\"0.2.0\"", "\"two\""), "version"),
        (text.replace("linux-x86_64", "beos-ppc"), "target"),
        ("{}".to_owned(), "empty"),
        ("not json".to_owned(), "garbage"),
    ] {
        assert!(sign_bytes(bad.as_bytes()).verify(&keys).is_err(), "{what}");
    }
    let err = sign_bytes(text.replace("\"format\": 1", "\"format\": 2").as_bytes())
        .verify(&keys)
        .unwrap_err();
    assert_eq!(err, ReleaseError::UnsupportedFormat(2));
    let mut manifest = Manifest::parse(&good.manifest).unwrap();
    manifest.sha256 = "ABC".into();
    assert!(sign_bytes(&manifest.to_bytes()).verify(&keys).is_err());
    // Unknown fields of a later signer are ignored, not refused.
    let extra = text.replacen('{', "{\n  \"channel\": \"stable\",", 1);
    assert!(sign_bytes(extra.as_bytes()).verify(&keys).is_ok());
}

#[test]
fn binaries_that_do_not_match_are_refused() {
    let key = SecretKey::generate();
    let (binary, signed) = signed(&key);
    let manifest = signed.verify(&trusting(&key)).unwrap();
    let truncated = &binary[..binary.len() - 1];
    assert!(matches!(
        manifest.check_binary(truncated),
        Err(ReleaseError::SizeMismatch { .. })
    ));
    let mut altered = binary.clone();
    *altered.last_mut().unwrap() ^= 1;
    assert!(matches!(
        manifest.check_binary(&altered),
        Err(ReleaseError::HashMismatch { .. })
    ));
    // Signing refuses what is not an executable of the target.
    assert!(Manifest::for_binary(b"#!/bin/sh\n", input("0.2.0"), Utc::now()).is_err());
    assert!(Manifest::for_binary(&binary, input("v2"), Utc::now()).is_err());
    let mut bad_min = input("0.2.0");
    bad_min.min_server_version = "soon".into();
    assert!(Manifest::for_binary(&binary, bad_min, Utc::now()).is_err());
}

#[test]
fn signature_files_that_do_not_parse_are_refused() {
    assert!(SignedManifest::from_files(vec![], "").is_err());
    assert!(
        SignedManifest::from_files(
            vec![],
            "{\"format\":1,\"key_id\":\"x\",\"signature\":\"zz\"}"
        )
        .is_err()
    );
    assert!(
        SignedManifest::from_files(
            vec![],
            "{\"format\":9,\"key_id\":\"x\",\"signature\":\"00\"}"
        )
        .is_err()
    );
}
