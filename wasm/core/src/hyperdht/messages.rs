//! The value codecs of hyperdht (`lib/messages.js`): what travels in the `value` field of
//! dht-rpc requests and responses, inside Noise handshake messages and inside secure payloads.
//!
//! Encoding is byte-identical to JS. Decoding accepts exactly what JS accepts:
//! - **trailing bytes are ignored**, as JS `c.decode` ignores them — use [`decode`], not
//!   [`Compact::from_bytes`] (which refuses them);
//! - flags are a `uint`; unknown bits are ignored; integers are `uint`s up to 2^53 − 1 (larger
//!   ones are refused, as JS refuses them); non-minimal `uint` forms are accepted;
//! - a noise payload whose version is not 1 decodes to [`NoisePayload::incompatible`] without
//!   reading further; `lookupRawReply`'s `bump` is read only when bytes remain;
//! - the plugin name is decoded lossily (invalid UTF-8 becomes U+FFFD), as Node does.
//!
//! Where JS encodes a constant rather than the field (payload versions, `udx` version,
//! `relayThrough` flags), so do we; the decoded structs keep what the peer sent.
//!
//! Arrays refuse counts above compact-encoding's 0x100000 and counts the remaining input cannot
//! hold (every element has a minimum size), so nothing is allocated beyond the input's size.
//!
//! Addresses are `SocketAddrV4` (`ipv4Address`: 4 octets, then the port as u16 LE) and, only in
//! noise payloads, `SocketAddrV6` (`ipv6Address`: 16 octets, port u16 LE; flow info and scope
//! id are not on the wire and decode as 0).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::constants::PAYLOAD_VERSION;
use crate::encoding::{put_array, put_buffer, put_string, put_uint, Compact, DecodeError, Decoder};

/// Decodes one value from the start of `bytes`, ignoring anything after it (JS `c.decode`).
pub fn decode<T: Compact>(bytes: &[u8]) -> Result<T, DecodeError> {
    T::decode(&mut Decoder::new(bytes))
}

// ---------------------------------------------------------------------------------------------
// Addresses and arrays

/// Encoded size of an `ipv4Address`.
pub const IPV4_LEN: usize = 6;
/// Encoded size of an `ipv6Address`.
pub const IPV6_LEN: usize = 18;
/// Smallest encoded `peer`: the key and an empty address count.
const PEER_MIN_LEN: usize = 33;
/// Encoded size of a `relayInfo`.
const RELAY_INFO_LEN: usize = 2 * IPV4_LEN;

/// compact-encoding `ipv4Address` of `addr` as a fixed array (4 octets, then the port as u16
/// LE): what [`put_ipv4`] appends, for callers that hash or store it.
pub fn ipv4_bytes(addr: &SocketAddrV4) -> [u8; IPV4_LEN] {
    let [a, b, c, d] = addr.ip().octets();
    let [p0, p1] = addr.port().to_le_bytes();
    [a, b, c, d, p0, p1]
}

/// Appends compact-encoding `ipv4Address`.
pub fn put_ipv4(out: &mut Vec<u8>, addr: &SocketAddrV4) {
    out.extend_from_slice(&ipv4_bytes(addr));
}

/// Reads compact-encoding `ipv4Address`.
pub fn get_ipv4(dec: &mut Decoder<'_>) -> Result<SocketAddrV4, DecodeError> {
    let ip: [u8; 4] = dec.array()?;
    Ok(SocketAddrV4::new(Ipv4Addr::from(ip), dec.u16()?))
}

/// Appends compact-encoding `ipv6Address` (flow info and scope id are not encoded).
pub fn put_ipv6(out: &mut Vec<u8>, addr: &SocketAddrV6) {
    out.extend_from_slice(&addr.ip().octets());
    out.extend_from_slice(&addr.port().to_le_bytes());
}

/// Reads compact-encoding `ipv6Address`.
pub fn get_ipv6(dec: &mut Decoder<'_>) -> Result<SocketAddrV6, DecodeError> {
    let ip: [u8; 16] = dec.array()?;
    Ok(SocketAddrV6::new(Ipv6Addr::from(ip), dec.u16()?, 0, 0))
}

/// `c.array(enc)` whose elements take at least `min_len` bytes: the count is checked against
/// the JS limit and against what the input can still hold before anything is allocated.
fn get_array<'a, T>(
    dec: &mut Decoder<'a>,
    min_len: usize,
    mut item: impl FnMut(&mut Decoder<'a>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let n = dec.array_len()?;
    let needed = n.saturating_mul(min_len);
    if needed > dec.remaining() {
        return Err(DecodeError::Truncated { offset: dec.position(), needed: needed - dec.remaining() });
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(item(dec)?);
    }
    Ok(out)
}

/// Appends `c.array(ipv4Address)`.
pub fn put_ipv4_array(out: &mut Vec<u8>, addrs: &[SocketAddrV4]) {
    put_array(out, addrs, put_ipv4);
}

/// Reads `c.array(ipv4Address)`.
pub fn get_ipv4_array(dec: &mut Decoder<'_>) -> Result<Vec<SocketAddrV4>, DecodeError> {
    get_array(dec, IPV4_LEN, get_ipv4)
}

fn put_ipv6_array(out: &mut Vec<u8>, addrs: &[SocketAddrV6]) {
    put_array(out, addrs, put_ipv6);
}

fn get_ipv6_array(dec: &mut Decoder<'_>) -> Result<Vec<SocketAddrV6>, DecodeError> {
    get_array(dec, IPV6_LEN, get_ipv6)
}

fn flag(set: bool, bit: u64) -> u64 {
    if set {
        bit
    } else {
        0
    }
}

// ---------------------------------------------------------------------------------------------
// Records: peer, lookupRawReply, announce

/// `peer`: a public key and the relays (DHT nodes) it can be reached through.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Peer {
    /// The peer's Ed25519 public key.
    pub public_key: [u8; 32],
    /// Nodes holding its self-announce.
    pub relay_addresses: Vec<SocketAddrV4>,
}

impl Compact for Peer {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.public_key);
        put_ipv4_array(out, &self.relay_addresses);
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Peer { public_key: dec.array()?, relay_addresses: get_ipv4_array(dec)? })
    }
}

/// `peers` (`c.array(peer)`): appends the count and each peer.
pub fn put_peers(out: &mut Vec<u8>, peers: &[Peer]) {
    put_array(out, peers, |out, p| p.encode(out));
}

/// Reads `peers` (`c.array(peer)`).
pub fn get_peers(dec: &mut Decoder<'_>) -> Result<Vec<Peer>, DecodeError> {
    get_array(dec, PEER_MIN_LEN, Peer::decode)
}

/// `lookupRawReply`: the records a node stores for a topic, and its bump counter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LookupRawReply {
    /// Stored records.
    pub peers: Vec<Peer>,
    /// The topic's bump value; 0 when the (older) replier left it out.
    pub bump: u64,
}

impl LookupRawReply {
    /// Encodes a reply from records stored already encoded (JS encodes `c.array(c.raw)`):
    /// the count, each record's bytes as they are, then `bump`.
    pub fn encode_raw<R: AsRef<[u8]>>(records: &[R], bump: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_uint(&mut out, records.len() as u64);
        for r in records {
            out.extend_from_slice(r.as_ref());
        }
        put_uint(&mut out, bump);
        out
    }
}

impl Compact for LookupRawReply {
    fn encode(&self, out: &mut Vec<u8>) {
        put_peers(out, &self.peers);
        put_uint(out, self.bump);
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let peers = get_peers(dec)?;
        let bump = if dec.is_empty() { 0 } else { dec.uint()? };
        Ok(LookupRawReply { peers, bump })
    }
}

/// `announce`: the value of ANNOUNCE and UNANNOUNCE requests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Announce {
    /// The record (flag 1).
    pub peer: Option<Peer>,
    /// A refresh token (flag 2).
    pub refresh: Option<[u8; 32]>,
    /// The record's signature (flag 4).
    pub signature: Option<[u8; 64]>,
    /// Bump value (flag 8, sent only when non-zero).
    pub bump: u64,
}

impl Compact for Announce {
    fn encode(&self, out: &mut Vec<u8>) {
        let flags = flag(self.peer.is_some(), 1)
            | flag(self.refresh.is_some(), 2)
            | flag(self.signature.is_some(), 4)
            | flag(self.bump != 0, 8);
        put_uint(out, flags);
        if let Some(p) = &self.peer {
            p.encode(out);
        }
        if let Some(r) = &self.refresh {
            out.extend_from_slice(r);
        }
        if let Some(s) = &self.signature {
            out.extend_from_slice(s);
        }
        if self.bump != 0 {
            put_uint(out, self.bump);
        }
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let flags = dec.uint()?;
        Ok(Announce {
            peer: if flags & 1 != 0 { Some(Peer::decode(dec)?) } else { None },
            refresh: if flags & 2 != 0 { Some(dec.array()?) } else { None },
            signature: if flags & 4 != 0 { Some(dec.array()?) } else { None },
            bump: if flags & 8 != 0 { dec.uint()? } else { 0 },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Mutable values

/// `mutableSignable`: what a mutable value's signature covers (hashed first, see
/// [`super::crypto::mutable_signable`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MutableSignable {
    /// Sequence number.
    pub seq: u64,
    /// The value.
    pub value: Vec<u8>,
}

impl Compact for MutableSignable {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uint(out, self.seq);
        put_buffer(out, &self.value);
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(MutableSignable { seq: dec.uint()?, value: dec.buffer()?.to_vec() })
    }
}

/// `mutablePutRequest`: the value of MUTABLE_PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutablePutRequest {
    /// The signer; the request's target is `BLAKE2b-256(public_key)`.
    pub public_key: [u8; 32],
    /// Sequence number.
    pub seq: u64,
    /// The value.
    pub value: Vec<u8>,
    /// Signature over [`super::crypto::mutable_signable`].
    pub signature: [u8; 64],
}

impl Compact for MutablePutRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.public_key);
        put_uint(out, self.seq);
        put_buffer(out, &self.value);
        out.extend_from_slice(&self.signature);
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(MutablePutRequest {
            public_key: dec.array()?,
            seq: dec.uint()?,
            value: dec.buffer()?.to_vec(),
            signature: dec.array()?,
        })
    }
}

/// `mutableGetResponse`: the value of a MUTABLE_GET reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutableGetResponse {
    /// Sequence number.
    pub seq: u64,
    /// The value.
    pub value: Vec<u8>,
    /// Signature over [`super::crypto::mutable_signable`].
    pub signature: [u8; 64],
}

impl Compact for MutableGetResponse {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uint(out, self.seq);
        put_buffer(out, &self.value);
        out.extend_from_slice(&self.signature);
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(MutableGetResponse { seq: dec.uint()?, value: dec.buffer()?.to_vec(), signature: dec.array()? })
    }
}

// ---------------------------------------------------------------------------------------------
// Routed values: handshake, holepunch

/// `handshake`: the value of PEER_HANDSHAKE requests and replies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handshake {
    /// Routing mode ([`super::constants::mode`]).
    pub mode: u64,
    /// The Noise message.
    pub noise: Vec<u8>,
    /// The other peer's address as a relay saw it (flag 1).
    pub peer_address: Option<SocketAddrV4>,
    /// The first relay, when a second relay forwards (flag 2).
    pub relay_address: Option<SocketAddrV4>,
}

impl Compact for Handshake {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uint(out, flag(self.peer_address.is_some(), 1) | flag(self.relay_address.is_some(), 2));
        put_uint(out, self.mode);
        put_buffer(out, &self.noise);
        if let Some(a) = &self.peer_address {
            put_ipv4(out, a);
        }
        if let Some(a) = &self.relay_address {
            put_ipv4(out, a);
        }
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let flags = dec.uint()?;
        Ok(Handshake {
            mode: dec.uint()?,
            noise: dec.buffer()?.to_vec(),
            peer_address: if flags & 1 != 0 { Some(get_ipv4(dec)?) } else { None },
            relay_address: if flags & 2 != 0 { Some(get_ipv4(dec)?) } else { None },
        })
    }
}

/// `holepunch`: the value of PEER_HOLEPUNCH requests and replies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Holepunch {
    /// Routing mode ([`super::constants::mode`]).
    pub mode: u64,
    /// The server's holepunch slot (from its noise payload's `holepunch.id`).
    pub id: u64,
    /// A [`super::secure_payload`] box of a [`HolepunchPayload`].
    pub payload: Vec<u8>,
    /// The other peer's address as a relay saw it (flag 1).
    pub peer_address: Option<SocketAddrV4>,
}

impl Compact for Holepunch {
    fn encode(&self, out: &mut Vec<u8>) {
        put_uint(out, flag(self.peer_address.is_some(), 1));
        put_uint(out, self.mode);
        put_uint(out, self.id);
        put_buffer(out, &self.payload);
        if let Some(a) = &self.peer_address {
            put_ipv4(out, a);
        }
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let flags = dec.uint()?;
        Ok(Holepunch {
            mode: dec.uint()?,
            id: dec.uint()?,
            payload: dec.buffer()?.to_vec(),
            peer_address: if flags & 1 != 0 { Some(get_ipv4(dec)?) } else { None },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Noise payload

/// `relayInfo`: a relay holding the server's self-announce and the server as it saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayInfo {
    /// The relay node.
    pub relay_address: SocketAddrV4,
    /// The server's address as the relay saw it.
    pub peer_address: SocketAddrV4,
}

/// `holepunchInfo` (noise payload flag 1): how to reach the server's holepuncher.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HolepunchInfo {
    /// The server's holepunch slot.
    pub id: u64,
    /// Relays PEER_HOLEPUNCH can go through.
    pub relays: Vec<RelayInfo>,
}

/// `udxInfo` (noise payload flag 8): the sender's UDX stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdxInfo {
    /// Version as received (encoding always writes 1, as JS does).
    pub version: u64,
    /// Feature bit 0: the stream may move to another socket.
    pub reusable_socket: bool,
    /// The sender's UDX stream id.
    pub id: u64,
    /// Initial sequence number.
    pub seq: u64,
}

impl Default for UdxInfo {
    fn default() -> Self {
        UdxInfo { version: PAYLOAD_VERSION, reusable_socket: false, id: 0, seq: 0 }
    }
}

/// `secretStreamInfo` (noise payload flag 16): the sender runs secret-stream over UDX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretStreamInfo {
    /// Version as received (encoding always writes 1, as JS does).
    pub version: u64,
}

impl Default for SecretStreamInfo {
    fn default() -> Self {
        SecretStreamInfo { version: PAYLOAD_VERSION }
    }
}

/// `relayThroughInfo` (noise payload flag 32): connect through a blind relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayThroughInfo {
    /// Version as received (encoding always writes version 1 and flags 0, as JS does).
    pub version: u64,
    /// The blind relay's public key.
    pub public_key: [u8; 32],
    /// The pairing token.
    pub token: [u8; 32],
}

/// `noisePayload`: the plaintext inside both PEER_HANDSHAKE Noise messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoisePayload {
    /// Version as received; encoding always writes 1 (JS does). When a peer sends another
    /// version nothing else is decoded ([`NoisePayload::incompatible`]).
    pub version: u64,
    /// [`super::constants::error`] number.
    pub error: u64,
    /// [`super::constants::firewall`] kind.
    pub firewall: u64,
    /// Holepunch details (flag 1).
    pub holepunch: Option<HolepunchInfo>,
    /// IPv4 addresses to try (flag 2, sent only when non-empty).
    pub addresses4: Vec<SocketAddrV4>,
    /// IPv6 addresses to try (flag 4, sent only when non-empty).
    pub addresses6: Vec<SocketAddrV6>,
    /// UDX stream (flag 8).
    pub udx: Option<UdxInfo>,
    /// secret-stream support (flag 16).
    pub secret_stream: Option<SecretStreamInfo>,
    /// Blind relay (flag 32).
    pub relay_through: Option<RelayThroughInfo>,
    /// The server's relay addresses (flag 64, sent even when empty).
    pub relay_addresses: Option<Vec<SocketAddrV4>>,
}

impl Default for NoisePayload {
    fn default() -> Self {
        NoisePayload::incompatible(PAYLOAD_VERSION)
    }
}

impl NoisePayload {
    /// What JS decodes a payload of another `version` to: every other field at its default.
    pub fn incompatible(version: u64) -> Self {
        NoisePayload {
            version,
            error: 0,
            firewall: 0,
            holepunch: None,
            addresses4: Vec::new(),
            addresses6: Vec::new(),
            udx: None,
            secret_stream: None,
            relay_through: None,
            relay_addresses: None,
        }
    }
}

impl Compact for NoisePayload {
    fn encode(&self, out: &mut Vec<u8>) {
        let flags = flag(self.holepunch.is_some(), 1)
            | flag(!self.addresses4.is_empty(), 2)
            | flag(!self.addresses6.is_empty(), 4)
            | flag(self.udx.is_some(), 8)
            | flag(self.secret_stream.is_some(), 16)
            | flag(self.relay_through.is_some(), 32)
            | flag(self.relay_addresses.is_some(), 64);
        put_uint(out, PAYLOAD_VERSION);
        put_uint(out, flags);
        put_uint(out, self.error);
        put_uint(out, self.firewall);
        if let Some(h) = &self.holepunch {
            put_uint(out, h.id);
            put_array(out, &h.relays, |out, r| {
                put_ipv4(out, &r.relay_address);
                put_ipv4(out, &r.peer_address);
            });
        }
        if !self.addresses4.is_empty() {
            put_ipv4_array(out, &self.addresses4);
        }
        if !self.addresses6.is_empty() {
            put_ipv6_array(out, &self.addresses6);
        }
        if let Some(u) = &self.udx {
            put_uint(out, PAYLOAD_VERSION);
            put_uint(out, u64::from(u.reusable_socket));
            put_uint(out, u.id);
            put_uint(out, u.seq);
        }
        if self.secret_stream.is_some() {
            put_uint(out, PAYLOAD_VERSION);
        }
        if let Some(r) = &self.relay_through {
            put_uint(out, PAYLOAD_VERSION);
            put_uint(out, 0);
            out.extend_from_slice(&r.public_key);
            out.extend_from_slice(&r.token);
        }
        if let Some(a) = &self.relay_addresses {
            put_ipv4_array(out, a);
        }
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let version = dec.uint()?;
        if version != PAYLOAD_VERSION {
            return Ok(NoisePayload::incompatible(version));
        }
        let flags = dec.uint()?;
        let error = dec.uint()?;
        let firewall = dec.uint()?;
        let holepunch = if flags & 1 != 0 {
            let id = dec.uint()?;
            let relays = get_array(dec, RELAY_INFO_LEN, |d| {
                Ok(RelayInfo { relay_address: get_ipv4(d)?, peer_address: get_ipv4(d)? })
            })?;
            Some(HolepunchInfo { id, relays })
        } else {
            None
        };
        let addresses4 = if flags & 2 != 0 { get_ipv4_array(dec)? } else { Vec::new() };
        let addresses6 = if flags & 4 != 0 { get_ipv6_array(dec)? } else { Vec::new() };
        let udx = if flags & 8 != 0 {
            let version = dec.uint()?;
            let features = dec.uint()?;
            Some(UdxInfo { version, reusable_socket: features & 1 != 0, id: dec.uint()?, seq: dec.uint()? })
        } else {
            None
        };
        let secret_stream =
            if flags & 16 != 0 { Some(SecretStreamInfo { version: dec.uint()? }) } else { None };
        let relay_through = if flags & 32 != 0 {
            let version = dec.uint()?;
            let _flags = dec.uint()?;
            Some(RelayThroughInfo { version, public_key: dec.array()?, token: dec.array()? })
        } else {
            None
        };
        let relay_addresses = if flags & 64 != 0 { Some(get_ipv4_array(dec)?) } else { None };
        Ok(NoisePayload {
            version,
            error,
            firewall,
            holepunch,
            addresses4,
            addresses6,
            udx,
            secret_stream,
            relay_through,
            relay_addresses,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Holepunch payload

/// `holepunchPayload`: the plaintext of a PEER_HOLEPUNCH secure payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HolepunchPayload {
    /// [`super::constants::error`] number.
    pub error: u64,
    /// [`super::constants::firewall`] kind of the sender's NAT.
    pub firewall: u64,
    /// Punch round.
    pub round: u64,
    /// The sender is connected (flag 1).
    pub connected: bool,
    /// The sender is punching (flag 2).
    pub punching: bool,
    /// The sender's NAT-sampled addresses (flag 4, sent even when empty).
    pub addresses: Option<Vec<SocketAddrV4>>,
    /// The receiver's address as the sender saw it (flag 8).
    pub remote_address: Option<SocketAddrV4>,
    /// The sender's address token (flag 16).
    pub token: Option<[u8; 32]>,
    /// The receiver's token echoed (flag 32).
    pub remote_token: Option<[u8; 32]>,
}

impl Compact for HolepunchPayload {
    fn encode(&self, out: &mut Vec<u8>) {
        let flags = flag(self.connected, 1)
            | flag(self.punching, 2)
            | flag(self.addresses.is_some(), 4)
            | flag(self.remote_address.is_some(), 8)
            | flag(self.token.is_some(), 16)
            | flag(self.remote_token.is_some(), 32);
        put_uint(out, flags);
        put_uint(out, self.error);
        put_uint(out, self.firewall);
        put_uint(out, self.round);
        if let Some(a) = &self.addresses {
            put_ipv4_array(out, a);
        }
        if let Some(a) = &self.remote_address {
            put_ipv4(out, a);
        }
        if let Some(t) = &self.token {
            out.extend_from_slice(t);
        }
        if let Some(t) = &self.remote_token {
            out.extend_from_slice(t);
        }
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let flags = dec.uint()?;
        Ok(HolepunchPayload {
            error: dec.uint()?,
            firewall: dec.uint()?,
            round: dec.uint()?,
            connected: flags & 1 != 0,
            punching: flags & 2 != 0,
            addresses: if flags & 4 != 0 { Some(get_ipv4_array(dec)?) } else { None },
            remote_address: if flags & 8 != 0 { Some(get_ipv4(dec)?) } else { None },
            token: if flags & 16 != 0 { Some(dec.array()?) } else { None },
            remote_token: if flags & 32 != 0 { Some(dec.array()?) } else { None },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Plugins

/// `pluginRequest`: the value of PLUGIN requests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PluginRequest {
    /// Plugin name (decoded lossily: invalid UTF-8 becomes U+FFFD, as in Node).
    pub plugin: String,
    /// Plugin version.
    pub version: u64,
    /// Plugin command.
    pub command: u64,
    /// Request value (flag 1; an empty value is still flagged).
    pub value: Option<Vec<u8>>,
}

impl Compact for PluginRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        put_string(out, &self.plugin);
        put_uint(out, self.version);
        put_uint(out, self.command);
        put_uint(out, flag(self.value.is_some(), 1));
        if let Some(v) = &self.value {
            put_buffer(out, v);
        }
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let plugin = String::from_utf8_lossy(dec.buffer()?).into_owned();
        let version = dec.uint()?;
        let command = dec.uint()?;
        let flags = dec.uint()?;
        let value = if flags & 1 != 0 { Some(dec.buffer()?.to_vec()) } else { None };
        Ok(PluginRequest { plugin, version, command, value })
    }
}

#[cfg(test)]
#[path = "messages_tests.rs"]
mod tests;
