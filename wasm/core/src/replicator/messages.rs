//! The `hypercore/alpha` channel: its handshake and its ten message types (hypercore
//! `lib/messages.js` `wire.*`), in channel message-type order.
//!
//! CONTRACT (issue 3): these types are fixed; the helper "protomux" adds the codecs
//! (`Compact` impls or `encode`/`decode` fns: `Message::encode(&self, out) -> message_type`,
//! `Message::decode(message_type, payload) -> Result<Message, DecodeError>`, and
//! `ChannelHandshake` `Compact`), proven byte-identical against JS vectors.

use crate::tree::proof::{Proof, RequestIndex, RequestSeek, RequestUpgrade};

/// Protocol name of a hypercore replication channel.
pub const PROTOCOL: &str = "hypercore/alpha";
/// Older alias JS also accepts.
pub const PROTOCOL_ALIAS: &str = "hypercore";

/// `wire.handshake`: sent in the channel open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelHandshake {
    /// Sender supports seek requests (bit 0).
    pub seeks: bool,
    /// `caps.replicate(isInitiator, key, handshakeHash)`.
    pub capability: [u8; 32],
}

/// Type 0 `sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sync {
    /// Sender's fork.
    pub fork: u64,
    /// Sender's length.
    pub length: u64,
    /// Sender's view of the receiver's length (0 if forks differ).
    pub remote_length: u64,
    /// Flag 1: sender can prove an upgrade from the receiver's length.
    pub can_upgrade: bool,
    /// Flag 2.
    pub uploading: bool,
    /// Flag 4.
    pub downloading: bool,
    /// Flag 8: sender holds a (non-compat) manifest.
    pub has_manifest: bool,
    /// Flag 16: sender accepts pushed data.
    pub allow_push: bool,
}

/// Type 1 `request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Request {
    /// Request id (0 = unsolicited / fork check).
    pub id: u64,
    /// Fork the requester believes the responder is on.
    pub fork: u64,
    /// Flag 1.
    pub block: Option<RequestIndex>,
    /// Flag 2.
    pub hash: Option<RequestIndex>,
    /// Flag 4.
    pub seek: Option<RequestSeek>,
    /// Flag 8.
    pub upgrade: Option<RequestUpgrade>,
    /// Flag 16: send the manifest along.
    pub manifest: bool,
    /// Flag 32: priority (0 when the flag is absent).
    pub priority: u64,
}

/// Type 2 `cancel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancel {
    /// Id of the request to drop.
    pub request: u64,
}

/// Type 3 `data`: a proof answering `request`, maybe with the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Data {
    /// The request this answers (0 = pushed).
    pub request: u64,
    /// Fork, block, hash, seek and upgrade sections.
    pub proof: Proof,
    /// Flag 16: the encoded manifest.
    pub manifest: Option<Vec<u8>>,
}

/// `no-data` reasons (hypercore v11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoDataReason {
    /// 0: unspecified.
    Unspecified,
    /// 1: the responder does not have it.
    NotAvailable,
    /// 2: the request could not be answered (invalid).
    InvalidRequest,
    /// A reason this version does not know.
    Other(u64),
}

/// Type 4 `no-data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoData {
    /// The request this answers.
    pub request: u64,
    /// Why.
    pub reason: NoDataReason,
}

/// Types 5 `want` / 6 `unwant`: a block range of interest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    /// First block.
    pub start: u64,
    /// Number of blocks.
    pub length: u64,
    /// Any block of the range will do (v11 flag).
    pub any: bool,
}

/// Type 7 `bitfield`: which of `32 · words.len()` blocks from `start` the sender has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitfield {
    /// First block (a multiple of 32 when JS sends it).
    pub start: u64,
    /// Bit `i` = word `i >> 5`, bit `i & 31`.
    pub words: Vec<u32>,
}

/// Type 8 `range`: the sender has (or dropped) `[start, start + length)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The blocks were cleared rather than gained.
    pub drop: bool,
    /// First block.
    pub start: u64,
    /// Number of blocks.
    pub length: u64,
}

/// Type 9 `extension`: a named application message (empty name = the last name received).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// Extension name.
    pub name: String,
    /// Raw payload.
    pub message: Vec<u8>,
}

/// Any channel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// 0.
    Sync(Sync),
    /// 1.
    Request(Request),
    /// 2.
    Cancel(Cancel),
    /// 3.
    Data(Data),
    /// 4.
    NoData(NoData),
    /// 5.
    Want(Want),
    /// 6.
    Unwant(Want),
    /// 7.
    Bitfield(Bitfield),
    /// 8.
    Range(Range),
    /// 9.
    Extension(Extension),
}

impl Message {
    /// The protomux message type of this message.
    pub fn message_type(&self) -> u64 {
        match self {
            Message::Sync(_) => 0,
            Message::Request(_) => 1,
            Message::Cancel(_) => 2,
            Message::Data(_) => 3,
            Message::NoData(_) => 4,
            Message::Want(_) => 5,
            Message::Unwant(_) => 6,
            Message::Bitfield(_) => 7,
            Message::Range(_) => 8,
            Message::Extension(_) => 9,
        }
    }
}
