//! `manifests.json`: manifest encodings, keys, discovery keys, compat detection, decoding
//! (including the JS quirks) and `createManifest` rejections, checked against the JS oracle.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{load, manifest_json};
use hyperwasm::core::manifest::{
    create_manifest, default_quorum, is_compat, is_valid_manifest, Manifest, ManifestError, ManifestOptions,
    SignerOptions,
};
use hyperwasm::crypto::caps;
use hyperwasm::crypto::hash::discovery_key;
use hyperwasm::encoding::{Compact, DecodeError};
use hyperwasm::testing::fixtures::{unhex, unhex_n, KeyPairJson, ManifestJson};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Constants {
    #[serde(rename = "MANIFEST")]
    manifest: String,
    #[serde(rename = "DEFAULT_NAMESPACE")]
    default_namespace: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Valid {
    name: String,
    via_create_manifest: bool,
    manifest: ManifestJson,
    encoding: String,
    key: String,
    discovery_key: String,
    compat_key: Option<String>,
    decoded: serde_json::Value,
    is_compat: Option<bool>,
    hypercore_key_from_public_key: Option<String>,
}

#[derive(Deserialize)]
struct DecodeCase {
    name: String,
    encoding: String,
    ok: bool,
    error: Option<String>,
    decoded: Option<serde_json::Value>,
    key: Option<String>,
}

#[derive(Deserialize)]
struct CreateError {
    name: String,
    ok: bool,
    code: String,
    error: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestsFile {
    constants: Constants,
    key_pairs: Vec<KeyPairJson>,
    valid: Vec<Valid>,
    decode_cases: Vec<DecodeCase>,
    create_errors: Vec<CreateError>,
}

fn file() -> ManifestsFile {
    load("manifests.json")
}

/// The `createManifest` input that yields `m`, leaving out every field equal to its default
/// so that the defaulting logic is exercised.
fn options_for(m: &Manifest) -> ManifestOptions {
    let inferred_version = if m.linked.is_some() || m.user_data.is_some() { 2 } else { 1 };
    ManifestOptions {
        version: (m.version != inferred_version).then_some(m.version),
        allow_patch: m.allow_patch,
        quorum: (m.quorum != default_quorum(m.signers.len())).then_some(m.quorum),
        signers: m
            .signers
            .iter()
            .map(|s| SignerOptions {
                public_key: s.public_key,
                namespace: (s.namespace != *caps::default_namespace()).then_some(s.namespace),
            })
            .collect(),
        prologue: m.prologue,
        linked: m.linked.clone(),
        user_data: m.user_data.clone(),
    }
}

/// The message JS throws for a decoding failure (`c.decode(messages.manifest, …)`).
fn js_message(e: &ManifestError) -> String {
    match e {
        ManifestError::Decode(DecodeError::Truncated { .. }) => "Out of bounds".into(),
        ManifestError::Decode(DecodeError::ArrayTooLarge(_)) => "Array is too big".into(),
        ManifestError::UnknownVersion(v) => format!("Unknown version: {v}"),
        ManifestError::UnknownHash(v) => format!("Unknown hash id: {v}"),
        ManifestError::UnknownSignature(v) => format!("Unknown signature id: {v}"),
        ManifestError::UnknownType(v) => format!("Unknown type: {v}"),
        other => format!("unmapped Rust error: {other:?}"),
    }
}

#[test]
fn constants_and_key_pairs() {
    let f = file();
    assert_eq!(hex::encode(caps::manifest()), f.constants.manifest);
    assert_eq!(hex::encode(caps::default_namespace()), f.constants.default_namespace);
    assert!(!f.key_pairs.is_empty());
    for kp in &f.key_pairs {
        let k = hyperwasm::crypto::KeyPair::from_seed(&[kp.seed_byte; 32]);
        assert_eq!(hex::encode(k.public_key()), kp.public_key);
        assert_eq!(hex::encode(k.secret_key()), kp.secret_key);
    }
}

#[test]
fn valid_manifests() {
    let f = file();
    let mut checked = 0usize;
    for v in &f.valid {
        let name = &v.name;
        let direct = v.manifest.manifest();
        let m = if v.via_create_manifest {
            let created = create_manifest(options_for(&direct)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(created, direct, "{name}: createManifest defaults");
            created
        } else {
            direct
        };

        // Encoding byte for byte.
        let encoding = m.to_bytes();
        assert_eq!(hex::encode(&encoding), v.encoding, "{name}: encoding");

        // Key: the manifest hash, except for compat cores where it is the public key.
        let key: [u8; 32] = unhex_n(&v.key);
        if v.is_compat == Some(true) {
            assert_eq!(key, m.signers[0].public_key, "{name}: compat key");
            assert!(is_compat(&key, &m), "{name}: isCompat");
            assert!(!is_valid_manifest(&key, &m));
        } else {
            assert_eq!(hex::encode(m.key()), v.key, "{name}: key");
            assert!(is_valid_manifest(&key, &m), "{name}");
            assert!(!is_compat(&key, &m), "{name}: not compat under its manifest key");
        }
        assert_eq!(hex::encode(discovery_key(&key)), v.discovery_key, "{name}: discovery key");

        if let Some(ck) = &v.compat_key {
            // `Hypercore.key(manifest, {compat: true})` = the single signer's public key.
            assert_eq!(m.signers.len(), 1, "{name}");
            assert_eq!(hex::encode(m.signers[0].public_key), *ck, "{name}: compat key");
            assert!(is_compat(&unhex_n(ck), &m), "{name}");
        }
        if let Some(from_pk) = &v.hypercore_key_from_public_key {
            // `Hypercore.key(publicKeyBuffer)` = key of the default single-signer manifest.
            let pk = m.signers[0].public_key;
            assert_eq!(hex::encode(Manifest::default_signer(pk).key()), *from_pk, "{name}");
            let created = create_manifest(ManifestOptions { signers: vec![pk.into()], ..Default::default() });
            assert_eq!(hex::encode(created.unwrap().key()), *from_pk, "{name}");
        }

        // Round trip: decode(encoding) equals JS's `decoded`, strictly and leniently.
        let bytes = unhex(&v.encoding);
        let decoded = Manifest::decode_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(manifest_json(&decoded), v.decoded, "{name}: decoded");
        assert_eq!(Manifest::from_bytes(&bytes).unwrap(), decoded, "{name}: strict decode");
        assert_eq!(decoded.to_bytes(), bytes, "{name}: re-encoding");
        checked += 1;
    }
    assert!(checked > 0);
    assert_eq!(checked, f.valid.len());
    assert_eq!(checked, 16, "the README lists 16 valid manifests");
}

#[test]
fn decode_cases() {
    let f = file();
    let mut checked = 0usize;
    for c in &f.decode_cases {
        let name = &c.name;
        let bytes = unhex(&c.encoding);
        let got = Manifest::decode_bytes(&bytes);
        assert_eq!(got.is_ok(), c.ok, "{name}: JS ok={} Rust {got:?}", c.ok);
        match got {
            Ok(m) => {
                assert_eq!(Some(&manifest_json(&m)), c.decoded.as_ref(), "{name}: decoded");
                assert_eq!(Some(hex::encode(m.key())), c.key, "{name}: key");
            }
            Err(e) => {
                assert_eq!(Some(js_message(&e)), c.error, "{name}: error");
                assert_eq!(e.code(), "DECODING_ERROR");
            }
        }
        checked += 1;
    }
    assert!(checked > 0);
    assert_eq!(checked, f.decode_cases.len());

    // JS quirks, reproduced by `decode_bytes`: version 3 decodes (only `> 3` is rejected) …
    let v3 = f.decode_cases.iter().find(|c| c.name == "version-3").unwrap();
    assert!(v3.ok);
    assert_eq!(Manifest::decode_bytes(&unhex(&v3.encoding)).unwrap().version, 3);
    // … and trailing bytes are ignored by `c.decode`. The strict `Compact::from_bytes` is
    // deliberately stricter (whole-buffer values everywhere else in the crate) and rejects them;
    // the key a core is opened with comes from the lenient path, as in JS.
    let trailing = f.decode_cases.iter().find(|c| c.name == "trailing-bytes").unwrap();
    assert!(trailing.ok);
    assert_eq!(Manifest::from_bytes(&unhex(&trailing.encoding)), Err(DecodeError::TrailingBytes(1)));
}

#[test]
fn create_errors() {
    let f = file();
    let kp1: [u8; 32] = unhex_n(&f.key_pairs[0].public_key);
    let one_signer = || vec![SignerOptions::from(kp1)];
    let mut checked = 0usize;
    for c in &f.create_errors {
        assert!(!c.ok, "{}", c.name);
        assert_eq!(c.code, "BAD_ARGUMENT");
        // Inputs as in tests/js/gen-fixtures.mjs `createErr(...)`.
        let input = match c.name.as_str() {
            "quorum-above-signers" => {
                Some(ManifestOptions { quorum: Some(2), signers: one_signer(), ..Default::default() })
            }
            "userData-in-v1" => Some(ManifestOptions {
                version: Some(1),
                signers: one_signer(),
                user_data: Some(b"x".to_vec()),
                ..Default::default()
            }),
            "linked-in-v1" => Some(ManifestOptions {
                version: Some(1),
                signers: one_signer(),
                linked: Some(vec![[0; 32]]),
                ..Default::default()
            }),
            // `hash: 'sha256'` and a 31-byte prologue hash cannot be expressed: `HashAlgorithm`
            // has only BLAKE2b and `Prologue::hash` is `[u8; 32]`. The wire equivalent (a hash
            // id other than 0) is rejected in `decode_cases` (`unknown-hash-id`).
            "bad-hash" | "bad-prologue" => None,
            other => panic!("unexpected createErrors entry {other}"),
        };
        if let Some(input) = input {
            match create_manifest(input) {
                Err(e @ ManifestError::BadArgument(msg)) => {
                    assert_eq!(e.code(), c.code, "{}", c.name);
                    assert_eq!(format!("BAD_ARGUMENT: {msg}"), c.error, "{}", c.name);
                }
                other => panic!("{}: expected BAD_ARGUMENT, got {other:?}", c.name),
            }
        }
        checked += 1;
    }
    assert!(checked > 0);
    assert_eq!(checked, f.create_errors.len());
}
