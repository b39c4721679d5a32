//! Core manifests: who may sign a core, and the key derived from them (hypercore
//! `lib/messages.js` `manifest`/`manifestv0`/`signer`/`prologue`, `lib/verifier.js`
//! `createManifest`, `manifestHash`, `isCompat`, `defaultSignerManifest`).
//!
//! Wire layout, version ≥ 1: `uint version ‖ uint flags ‖ uint hashId ‖ uint quorum ‖
//! array(signer) ‖ [prologue] ‖ [array(fixed32) linked] ‖ [buffer userData]`, flags bit 0
//! allowPatch, bit 1 prologue, bit 2 linked, bit 3 userData. Version 0 (legacy) is
//! `uint 0 ‖ uint hashId ‖ uint type` followed by a static prologue hash (type 0), one signer
//! (type 1) or `uint flags ‖ uint quorum ‖ array(signer)` (type 2).
//!
//! JS 11.39.5 decodes versions up to **3** (`version > 3` throws), so [`MAX_VERSION`] is 3;
//! versions 2 and 3 share one layout.

use crate::crypto::caps;
use crate::crypto::hash::{blake2b_batch, Hash};
use crate::encoding::{put_array, put_buffer, put_uint, Compact, DecodeError, Decoder};

/// Highest manifest version the JS decoder accepts.
pub const MAX_VERSION: u8 = 3;

const FLAG_PATCH: u64 = 1;
const FLAG_PROLOGUE: u64 = 2;
const FLAG_LINKED: u64 = 4;
const FLAG_USER_DATA: u64 = 8;

/// Why a manifest could not be decoded or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The bytes are truncated or otherwise malformed compact-encoding.
    #[error("manifest decoding failed: {0}")]
    Decode(#[from] DecodeError),
    /// A version above [`MAX_VERSION`] (JS: "Unknown version").
    #[error("unknown manifest version {0}")]
    UnknownVersion(u64),
    /// A hash id other than 0 = BLAKE2b (JS: "Unknown hash id").
    #[error("unknown hash id {0}")]
    UnknownHash(u64),
    /// A signature id other than 0 = Ed25519 (JS: "Unknown signature id").
    #[error("unknown signature id {0}")]
    UnknownSignature(u64),
    /// A version-0 manifest type other than 0, 1, 2 (JS: "Unknown type").
    #[error("unknown version 0 manifest type {0}")]
    UnknownType(u64),
    /// `create_manifest` input JS refuses with `BAD_ARGUMENT`.
    #[error("bad manifest: {0}")]
    BadArgument(&'static str),
}

impl ManifestError {
    /// The JS error code: `BAD_ARGUMENT` for rejected input, `DECODING_ERROR` for bad bytes
    /// (JS throws plain `Error`s from the codec; hypercore reports them as decoding failures).
    pub fn code(&self) -> &'static str {
        match self {
            ManifestError::BadArgument(_) => "BAD_ARGUMENT",
            _ => "DECODING_ERROR",
        }
    }
}

/// The tree hash algorithm (hash id 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HashAlgorithm {
    /// BLAKE2b-256, the only one hypercore supports.
    #[default]
    Blake2b,
}

/// The signature algorithm of a signer (signature id 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignatureAlgorithm {
    /// Ed25519, the only one hypercore supports.
    #[default]
    Ed25519,
}

/// One declared signer of a core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signer {
    /// Signature algorithm.
    pub signature: SignatureAlgorithm,
    /// Signing namespace (the signable context of version-0 manifests).
    pub namespace: Hash,
    /// Ed25519 public key.
    pub public_key: [u8; 32],
}

impl Signer {
    /// An Ed25519 signer in `DEFAULT_NAMESPACE`.
    pub fn new(public_key: [u8; 32]) -> Self {
        Signer::with_namespace(public_key, *caps::default_namespace())
    }

    /// An Ed25519 signer in `namespace`.
    pub fn with_namespace(public_key: [u8; 32], namespace: Hash) -> Self {
        Signer { signature: SignatureAlgorithm::Ed25519, namespace, public_key }
    }
}

impl Compact for Signer {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uint(out, 0);
        out.extend_from_slice(&self.namespace);
        out.extend_from_slice(&self.public_key);
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        decode_signer(dec).map_err(into_decode_error)
    }
}

/// A prologue: the tree hash the core must have at `length`; lengths up to it need no
/// signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prologue {
    /// Tree hash at `length`.
    pub hash: Hash,
    /// Length the hash is for.
    pub length: u64,
}

/// A core manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Manifest {
    /// Format version, 0..=[`MAX_VERSION`].
    pub version: u8,
    /// Tree hash algorithm.
    pub hash: HashAlgorithm,
    /// Whether signers may sign a later length and ship the nodes to patch back to this one.
    pub allow_patch: bool,
    /// How many distinct signers must sign.
    pub quorum: u64,
    /// Declared signers; a signature names its signer by index here.
    pub signers: Vec<Signer>,
    /// Optional prologue.
    pub prologue: Option<Prologue>,
    /// Linked core keys (version ≥ 2). `Some(vec![])` is encoded (JS: `[]` is truthy).
    pub linked: Option<Vec<Hash>>,
    /// Opaque user data (version ≥ 2). `Some(vec![])` is encoded (an empty JS Buffer is truthy).
    pub user_data: Option<Vec<u8>>,
}

/// Input of [`create_manifest`], JS `Verifier.createManifest(inp)` with defaults left `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestOptions {
    /// Version; default 1, or 2 if `linked` is non-empty or `user_data` is given.
    pub version: Option<u8>,
    /// Allow patched signatures.
    pub allow_patch: bool,
    /// Quorum; default `signers.len() / 2 + 1` (0 without signers).
    pub quorum: Option<u64>,
    /// Signers: public key and namespace (default `DEFAULT_NAMESPACE`).
    pub signers: Vec<SignerOptions>,
    /// Prologue.
    pub prologue: Option<Prologue>,
    /// Linked core keys; an empty list is dropped.
    pub linked: Option<Vec<Hash>>,
    /// User data.
    pub user_data: Option<Vec<u8>>,
}

/// A signer in [`ManifestOptions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignerOptions {
    /// Ed25519 public key.
    pub public_key: [u8; 32],
    /// Namespace; default `DEFAULT_NAMESPACE`.
    pub namespace: Option<Hash>,
}

impl From<[u8; 32]> for SignerOptions {
    fn from(public_key: [u8; 32]) -> Self {
        SignerOptions { public_key, namespace: None }
    }
}

/// JS `defaultQuorum`: `n / 2 + 1` signers, 0 without signers.
pub fn default_quorum(signers: usize) -> u64 {
    if signers == 0 {
        0
    } else {
        (signers as u64 >> 1) + 1
    }
}

/// JS `Verifier.createManifest(inp)`: fills defaults and validates like JS does.
///
/// Errors (all `BAD_ARGUMENT`): a quorum above the signer count, `user_data` or non-empty
/// `linked` below version 2, a version above [`MAX_VERSION`] (JS would only fail when the
/// manifest is decoded again).
pub fn create_manifest(opts: ManifestOptions) -> Result<Manifest, ManifestError> {
    let linked = opts.linked.filter(|l| !l.is_empty());
    let version = opts.version.unwrap_or(if linked.is_some() || opts.user_data.is_some() { 2 } else { 1 });
    if version > MAX_VERSION {
        return Err(ManifestError::BadArgument("Unknown version"));
    }
    if let Some(q) = opts.quorum {
        if q > opts.signers.len() as u64 {
            return Err(ManifestError::BadArgument("Quorum should not be higher than the number of signers"));
        }
    }
    if opts.user_data.is_some() && version < 2 {
        return Err(ManifestError::BadArgument("Invalid field: userData"));
    }
    if linked.is_some() && version < 2 {
        return Err(ManifestError::BadArgument("Invalid field: linked"));
    }
    Ok(Manifest {
        version,
        hash: HashAlgorithm::Blake2b,
        allow_patch: opts.allow_patch,
        quorum: opts.quorum.unwrap_or_else(|| default_quorum(opts.signers.len())),
        signers: opts
            .signers
            .iter()
            .map(|s| Signer::with_namespace(s.public_key, s.namespace.unwrap_or(*caps::default_namespace())))
            .collect(),
        prologue: opts.prologue,
        linked,
        user_data: opts.user_data,
    })
}

/// JS `isCompat(key, manifest)`: exactly one signer whose public key is the core key.
pub fn is_compat(key: &[u8; 32], manifest: &Manifest) -> bool {
    manifest.signers.len() == 1 && manifest.signers[0].public_key == *key
}

/// JS `Verifier.isValidManifest(key, manifest)`: the manifest hashes to `key`.
pub fn is_valid_manifest(key: &[u8; 32], manifest: &Manifest) -> bool {
    manifest.key() == *key
}

impl Manifest {
    /// JS `Verifier.defaultSignerManifest(publicKey)` (what corestore 7 creates): version 1,
    /// quorum 1, one Ed25519 signer in `DEFAULT_NAMESPACE`, nothing else.
    pub fn default_signer(public_key: [u8; 32]) -> Self {
        Manifest {
            version: 1,
            hash: HashAlgorithm::Blake2b,
            allow_patch: false,
            quorum: 1,
            signers: vec![Signer::new(public_key)],
            prologue: None,
            linked: None,
            user_data: None,
        }
    }

    /// The core key: `BLAKE2b-256(MANIFEST ‖ encode(manifest))` (JS `manifestHash`).
    /// Compat cores use the signer's public key instead; see [`is_compat`].
    pub fn key(&self) -> Hash {
        blake2b_batch(&[caps::manifest(), &self.to_bytes()])
    }

    /// Decodes like JS `c.decode(m.manifest, bytes)`: bytes after the manifest are ignored.
    pub fn decode_bytes(bytes: &[u8]) -> Result<Self, ManifestError> {
        Self::decode_typed(&mut Decoder::new(bytes))
    }

    /// Reads one manifest, reporting unsupported algorithms and versions as typed errors.
    pub fn decode_typed(dec: &mut Decoder<'_>) -> Result<Self, ManifestError> {
        let version = dec.uint()?;
        if version == 0 {
            return decode_v0(dec);
        }
        if version > u64::from(MAX_VERSION) {
            return Err(ManifestError::UnknownVersion(version));
        }
        let flags = dec.uint()?;
        let hash = decode_hash(dec)?;
        let quorum = dec.uint()?;
        let signers = decode_signers(dec)?;
        let prologue = if flags & FLAG_PROLOGUE != 0 {
            Some(Prologue { hash: dec.array()?, length: dec.uint()? })
        } else {
            None
        };
        let linked = if flags & FLAG_LINKED != 0 { Some(dec.array_of(|d| d.array::<32>())?) } else { None };
        let user_data = if flags & FLAG_USER_DATA != 0 { Some(dec.buffer()?.to_vec()) } else { None };
        Ok(Manifest {
            version: version as u8,
            hash,
            allow_patch: flags & FLAG_PATCH != 0,
            quorum,
            signers,
            prologue,
            linked,
            user_data,
        })
    }

    fn encode_v0(&self, out: &mut Vec<u8>) {
        put_uint(out, 0); // hash id
        match &self.prologue {
            Some(p) if self.signers.is_empty() => {
                put_uint(out, 0);
                out.extend_from_slice(&p.hash);
            }
            _ if self.quorum == 1 && self.signers.len() == 1 && !self.allow_patch => {
                put_uint(out, 1);
                self.signers[0].encode(out);
            }
            _ => {
                put_uint(out, 2);
                put_uint(out, u64::from(self.allow_patch));
                put_uint(out, self.quorum);
                put_array(out, &self.signers, |o, s| s.encode(o));
            }
        }
    }
}

impl Compact for Manifest {
    /// Encodes as JS does; version 0 picks its type from the shape (prologue without signers →
    /// type 0, a single plain signer with quorum 1 → type 1, otherwise type 2).
    fn encode(&self, out: &mut Vec<u8>) {
        put_uint(out, u64::from(self.version));
        if self.version == 0 {
            return self.encode_v0(out);
        }
        let mut flags = 0;
        if self.allow_patch {
            flags |= FLAG_PATCH;
        }
        if self.prologue.is_some() {
            flags |= FLAG_PROLOGUE;
        }
        if self.linked.is_some() {
            flags |= FLAG_LINKED;
        }
        if self.user_data.is_some() {
            flags |= FLAG_USER_DATA;
        }
        put_uint(out, flags);
        put_uint(out, 0); // hash id: blake2b
        put_uint(out, self.quorum);
        put_array(out, &self.signers, |o, s| s.encode(o));
        if let Some(p) = &self.prologue {
            out.extend_from_slice(&p.hash);
            put_uint(out, p.length);
        }
        if let Some(linked) = &self.linked {
            put_array(out, linked, |o, k| o.extend_from_slice(k));
        }
        if let Some(data) = &self.user_data {
            put_buffer(out, data);
        }
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Self::decode_typed(dec).map_err(into_decode_error)
    }
}

fn into_decode_error(e: ManifestError) -> DecodeError {
    match e {
        ManifestError::Decode(d) => d,
        other => DecodeError::invalid("manifest", other.to_string()),
    }
}

fn decode_hash(dec: &mut Decoder<'_>) -> Result<HashAlgorithm, ManifestError> {
    match dec.uint()? {
        0 => Ok(HashAlgorithm::Blake2b),
        n => Err(ManifestError::UnknownHash(n)),
    }
}

fn decode_signer(dec: &mut Decoder<'_>) -> Result<Signer, ManifestError> {
    let signature = match dec.uint()? {
        0 => SignatureAlgorithm::Ed25519,
        n => return Err(ManifestError::UnknownSignature(n)),
    };
    Ok(Signer { signature, namespace: dec.array()?, public_key: dec.array()? })
}

fn decode_signers(dec: &mut Decoder<'_>) -> Result<Vec<Signer>, ManifestError> {
    let n = dec.array_len()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(decode_signer(dec)?);
    }
    Ok(out)
}

fn decode_v0(dec: &mut Decoder<'_>) -> Result<Manifest, ManifestError> {
    let hash = decode_hash(dec)?;
    let base = Manifest {
        version: 0,
        hash,
        allow_patch: false,
        quorum: 0,
        signers: Vec::new(),
        prologue: None,
        linked: None,
        user_data: None,
    };
    match dec.uint()? {
        0 => Ok(Manifest { prologue: Some(Prologue { hash: dec.array()?, length: 0 }), ..base }),
        1 => Ok(Manifest { quorum: 1, signers: vec![decode_signer(dec)?], ..base }),
        2 => {
            let flags = dec.uint()?;
            let quorum = dec.uint()?;
            let signers = decode_signers(dec)?;
            Ok(Manifest { allow_patch: flags & 1 != 0, quorum, signers, ..base })
        }
        t => Err(ManifestError::UnknownType(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyPair;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn pk(seed: u8) -> [u8; 32] {
        KeyPair::from_seed(&[seed; 32]).public_key()
    }

    fn check(m: &Manifest, enc: &str, key: &str) {
        assert_eq!(hex::encode(m.to_bytes()), enc);
        assert_eq!(hex::encode(m.key()), key);
        assert_eq!(&Manifest::from_bytes(&h(enc)).unwrap(), m);
    }

    #[test]
    fn default_manifest_reference_vector() {
        let public_key: [u8; 32] = std::array::from_fn(|i| i as u8 + 1);
        let m = Manifest::default_signer(public_key);
        let enc = m.to_bytes();
        assert_eq!(enc.len(), 70);
        assert_eq!(enc[..6], [1, 0, 0, 1, 1, 0]);
        assert_eq!(&enc[6..38], caps::default_namespace());
        assert_eq!(enc[38..], public_key);
        assert_eq!(hex::encode(m.key()), "c15470e1e82a21770e4791d75d6f9f34ca710220e6bf78787dcb5b2665a46969");
        assert!(is_compat(&public_key, &m));
        assert!(!is_compat(&m.key(), &m));
        assert!(is_valid_manifest(&m.key(), &m));
        assert_eq!(
            create_manifest(ManifestOptions { signers: vec![public_key.into()], ..Default::default() })
                .unwrap(),
            m
        );
    }

    // Vectors printed by `Verifier.encodeManifest(Verifier.createManifest(inp))` and
    // `Verifier.manifestHash(...)` of hypercore 11.39.5; key pairs are
    // `crypto.keyPair(b4a.alloc(32, n))` for n = 1, 2, 3.
    #[test]
    fn js_vectors() {
        let ns = "4144eea531e483d54e0c14f4ca68e0644f355343ff6fcb0f005200e12cd747cb";
        let k1 = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
        let k2 = "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394";
        let k3 = "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1";
        assert_eq!(hex::encode(pk(1)), k1);
        assert_eq!(hex::encode(pk(2)), k2);
        assert_eq!(hex::encode(pk(3)), k3);
        let opts = |signers: Vec<SignerOptions>| ManifestOptions { signers, ..Default::default() };

        // { signers: [{ publicKey: k1 }] }
        let m = create_manifest(opts(vec![pk(1).into()])).unwrap();
        check(
            &m,
            &format!("010000010100{ns}{k1}"),
            "d8c3a0597903b28d751c6e0b7107775e388ec5a3cf669bdd1e7ec41b8b8f6e72",
        );

        // { version: 0, signers: [{ publicKey: k1 }] } → type 1
        let m = create_manifest(ManifestOptions { version: Some(0), ..opts(vec![pk(1).into()]) }).unwrap();
        check(
            &m,
            &format!("00000100{ns}{k1}"),
            "a945135b724f9205a06c58bee34f342ac3c77ff0c09fa54ad6220c0eb3168fa8",
        );

        // { version: 0, allowPatch: true, signers: [k1, k2] } → type 2
        let m = create_manifest(ManifestOptions {
            version: Some(0),
            allow_patch: true,
            ..opts(vec![pk(1).into(), pk(2).into()])
        })
        .unwrap();
        check(
            &m,
            &format!("00000201020200{ns}{k1}00{ns}{k2}"),
            "16c217f9a7bfadd31feb359e085250bb70605e352f7332e0f30cc9f617ad5a81",
        );

        // { version: 0, prologue: { hash: 0xcc×32, length: 0 } } → type 0
        let m = create_manifest(ManifestOptions {
            version: Some(0),
            prologue: Some(Prologue { hash: [0xcc; 32], length: 0 }),
            ..Default::default()
        })
        .unwrap();
        check(
            &m,
            &format!("000000{}", "cc".repeat(32)),
            "c5ed0ef8c56f4689d1fa9f846827a54c9008242a3cce27653c56ac64cd50b450",
        );

        // { allowPatch: true, signers: k1..k3 with namespaces 0x10, 0x11, 0x12 } → quorum 2
        let m = quorum_manifest();
        assert_eq!(m.quorum, 2);
        check(
            &m,
            &format!("010100020300{}{k1}00{}{k2}00{}{k3}", "10".repeat(32), "11".repeat(32), "12".repeat(32)),
            "3405c3e2471edbdbf60aae62b9db37e371b5f0d3a1a2741f2924854a893a0638",
        );

        // { signers: [k1], linked: [0xee×32, 0xef×32], userData: 'hello' } → version 2
        let m = create_manifest(ManifestOptions {
            linked: Some(vec![[0xee; 32], [0xef; 32]]),
            user_data: Some(b"hello".to_vec()),
            ..opts(vec![pk(1).into()])
        })
        .unwrap();
        assert_eq!(m.version, 2);
        check(
            &m,
            &format!("020c00010100{ns}{k1}02{}{}0568656c6c6f", "ee".repeat(32), "ef".repeat(32)),
            "538e79a914d0025820cb7712e813d6013f9d80d99a49060ed88d3855fc496bab",
        );

        // static core: { quorum: 0, signers: [], prologue: { hash: 0xab×32, length: 300 } }
        let m = static_manifest();
        check(
            &m,
            &format!("0102000000{}fd2c01", "ab".repeat(32)),
            "7c524d0df7521f369d297945259bbf47768e2b3b64e0e1aa4b85d6fea6bb6b84",
        );

        // { signers: [k1], prologue: { hash: 0xab×32, length: 2 } }
        let m = prologue_manifest();
        check(
            &m,
            &format!("010200010100{ns}{k1}{}02", "ab".repeat(32)),
            "1f2330a3dc9fa73acc25627ae67fc83abd896b9bf92e2da50aa62911090fd30f",
        );
    }

    pub(crate) fn quorum_manifest() -> Manifest {
        create_manifest(ManifestOptions {
            allow_patch: true,
            signers: (1..=3u8)
                .map(|i| SignerOptions { public_key: pk(i), namespace: Some([0x0f + i; 32]) })
                .collect(),
            ..Default::default()
        })
        .unwrap()
    }

    pub(crate) fn static_manifest() -> Manifest {
        create_manifest(ManifestOptions {
            quorum: Some(0),
            prologue: Some(Prologue { hash: [0xab; 32], length: 300 }),
            ..Default::default()
        })
        .unwrap()
    }

    pub(crate) fn prologue_manifest() -> Manifest {
        create_manifest(ManifestOptions {
            signers: vec![pk(1).into()],
            prologue: Some(Prologue { hash: [0xab; 32], length: 2 }),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn create_manifest_validation() {
        let err = create_manifest(ManifestOptions {
            quorum: Some(2),
            signers: vec![pk(1).into()],
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.code(), "BAD_ARGUMENT");
        let err = create_manifest(ManifestOptions {
            version: Some(1),
            user_data: Some(vec![]),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err, ManifestError::BadArgument("Invalid field: userData"));
        assert!(create_manifest(ManifestOptions {
            version: Some(1),
            linked: Some(vec![[1; 32]]),
            ..Default::default()
        })
        .is_err());
        // An empty linked list is dropped and does not force version 2.
        let m = create_manifest(ManifestOptions { linked: Some(vec![]), ..Default::default() }).unwrap();
        assert_eq!((m.version, m.linked, m.quorum), (1, None, 0));
        // Empty user data is kept (a JS Buffer is truthy) and forces version 2.
        let m = create_manifest(ManifestOptions { user_data: Some(vec![]), ..Default::default() }).unwrap();
        assert_eq!(m.version, 2);
        assert_eq!(Manifest::from_bytes(&m.to_bytes()).unwrap(), m);
        assert_eq!(default_quorum(0), 0);
        assert_eq!(default_quorum(1), 1);
        assert_eq!(default_quorum(4), 3);
        assert_eq!(default_quorum(5), 3);
    }

    #[test]
    fn rejects_unsupported() {
        let mut v = Manifest::default_signer([1; 32]).to_bytes();
        v[0] = 4;
        assert_eq!(Manifest::decode_bytes(&v), Err(ManifestError::UnknownVersion(4)));
        v[0] = 3; // JS 11.39.5 accepts version 3
        assert_eq!(Manifest::decode_bytes(&v).unwrap().version, 3);
        v[0] = 1;
        v[2] = 1;
        assert_eq!(Manifest::decode_bytes(&v), Err(ManifestError::UnknownHash(1)));
        v[2] = 0;
        v[5] = 1;
        assert_eq!(Manifest::decode_bytes(&v), Err(ManifestError::UnknownSignature(1)));
        assert_eq!(Manifest::decode_bytes(&[0, 0, 3]), Err(ManifestError::UnknownType(3)));
        v[5] = 0;
        assert!(matches!(Manifest::decode_bytes(&v[..40]), Err(ManifestError::Decode(_))));
        assert_eq!(Manifest::decode_bytes(&[0, 0, 3]).unwrap_err().code(), "DECODING_ERROR");
        assert!(Manifest::from_bytes(&[0, 0, 3]).is_err());
        // Trailing bytes: ignored by the JS-style decoder, refused by the strict one.
        let mut t = Manifest::default_signer([1; 32]).to_bytes();
        t.push(0);
        assert!(Manifest::decode_bytes(&t).is_ok());
        assert!(Manifest::from_bytes(&t).is_err());
    }

    #[test]
    fn round_trips() {
        let mut all = vec![
            quorum_manifest(),
            static_manifest(),
            prologue_manifest(),
            Manifest::default_signer([9; 32]),
        ];
        all.push(Manifest {
            version: 3,
            linked: Some(vec![]),
            user_data: Some(vec![1, 2]),
            ..quorum_manifest()
        });
        for m in all {
            assert_eq!(Manifest::from_bytes(&m.to_bytes()).unwrap(), m);
        }
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Ok(m) = Manifest::decode_bytes(&bytes) {
                // Whatever decodes re-encodes to bytes that decode to the same manifest.
                proptest::prop_assert_eq!(Manifest::decode_bytes(&m.to_bytes()).unwrap(), m);
            }
        }
    }
}
