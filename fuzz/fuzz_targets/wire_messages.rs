//! Arbitrary `hypercore/alpha` payloads: decoding never panics, and whatever decodes
//! re-encodes to bytes that decode to the same message.
#![no_main]

use hyperwasm::encoding::Compact;
use hyperwasm::replicator::messages::{ChannelHandshake, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&t, payload)) = data.split_first() else { return };
    let _ = ChannelHandshake::from_open_payload(payload);
    if let Ok(m) = Message::decode(u64::from(t % 11), payload) {
        let mut out = Vec::new();
        m.encode(&mut out);
        assert!(out.len() <= m.size_hint() || matches!(m, Message::Data(_)));
        assert_eq!(Message::decode(m.message_type(), &out).ok(), Some(m));
    }
    if let Ok(h) = ChannelHandshake::from_bytes(payload) {
        assert_eq!(ChannelHandshake::from_bytes(&h.to_bytes()).ok(), Some(h));
    }
});
