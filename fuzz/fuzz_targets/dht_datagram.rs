//! Any sequence of UDP datagrams from any sources into a HyperDHT `Node` (persistent, listening,
//! with a connection under way, so dht-rpc, the storage commands, the router, the handshake
//! flows and UDX streams are all reachable): no panic, and the node's tables stay bounded.
//!
//! The target plays the key holder: incoming handshakes are accepted (or rejected, by msg1's
//! first byte) with an OPEN client payload, so their UDX streams connect to the stranger that
//! asked; the client connection gets a fixed msg1 and accepts (or aborts) any msg2. Connected
//! streams get 4 KiB written and are read whenever readable.
//!
//! Input: repeated `[source: u8][advance: u8][len: u8][bytes; len]`.
//! - `source`: bits 0–2 pick one of eight strangers (10.0.0.1–8; the first one at port 40000
//!   is the node's bootstrap), bits 3–4 its port (40000–40003). Flags: `0x20` if `bytes` is a
//!   dht-rpc request, its target becomes the server's; `0x40` it carries the token the node
//!   hands that host now; `0x80` if `bytes` is at least a UDX header, it is made one for a live
//!   stream (magic, version, id = the live stream picked by byte 4).
//! - `advance`: bits 0–6 × 50 ms pass first; bit 7 delivers on the probe socket.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};

use hyperwasm::hyperdht::constants::firewall;
use hyperwasm::hyperdht::messages::{NoisePayload, SecretStreamInfo, UdxInfo};
use hyperwasm_relay::dht_rpc::messages::{decode, Message};
use hyperwasm_relay::dht_rpc::{RpcOptions, SocketKind};
use hyperwasm_relay::hyperdht::connect::ConnectOptions;
use hyperwasm_relay::hyperdht::node::{Event, Node, NodeOptions};
use hyperwasm_relay::hyperdht::HyperDhtError;
use hyperwasm_relay::udx;
use libfuzzer_sys::fuzz_target;

const SERVER_KEY: [u8; 32] = [7; 32];

fn stranger(i: u8, port: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, i % 8 + 1), 40000 + u16::from(port % 4))
}

/// What a peer's decrypted payload says: OPEN, reachable at a stranger, UDX stream `id`.
fn peer_payload(id: u8) -> NoisePayload {
    NoisePayload {
        firewall: firewall::OPEN,
        addresses4: vec![stranger(id, 0)],
        udx: Some(UdxInfo { id: u64::from(id), ..UdxInfo::default() }),
        secret_stream: Some(SecretStreamInfo::default()),
        ..NoisePayload::default()
    }
}

/// Sends everything away and plays the key holder until the node is quiet.
fn drain(node: &mut Node, now: u64) {
    for _ in 0..64 {
        while node.poll_transmit().is_some() {}
        let Some(ev) = node.poll_event() else { return };
        let _ = match ev {
            Event::NeedSignature { op, .. } => node.provide_signature(op, [0; 64], now),
            Event::NeedInitiatorMessage { conn, .. } => node.provide_initiator_message(conn, vec![0x11; 96], now),
            Event::ResponderMessage { conn, msg2 } => match msg2.first() {
                Some(b) if b % 2 == 0 => node.provide_remote_payload(conn, &peer_payload(*b), now),
                _ => node.abort(conn, HyperDhtError::HandshakeInvalid, now),
            },
            Event::IncomingHandshake { hs, msg1, .. } => match msg1.first() {
                Some(b) if b % 2 == 0 => node.accept_handshake(hs, vec![0x22; 72], &peer_payload(*b), now),
                _ => node.reject_handshake(hs, now),
            },
            Event::Connected { stream, .. } | Event::Incoming { stream, .. } => {
                node.stream_write(stream, &[0x33; 4096]);
                Ok(())
            }
            Event::Stream(udx::Event::Readable { id }) => {
                let mut buf = Vec::new();
                node.stream_read(id, &mut buf);
                Ok(())
            }
            _ => Ok(()),
        };
    }
    while node.poll_transmit().is_some() {}
    while node.poll_event().is_some() {}
}

/// Applies the input's flags to one datagram.
fn splice(node: &Node, flags: u8, from: SocketAddrV4, bytes: &[u8]) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    if flags & 0x60 != 0 {
        if let Ok(Message::Request(mut req)) = decode(&bytes) {
            if flags & 0x20 != 0 {
                req.target = Some(hyperwasm::hyperdht::crypto::hash(&SERVER_KEY));
            }
            if flags & 0x40 != 0 {
                req.token = Some(node.rpc().current_token(*from.ip()));
            }
            bytes = req.encode();
        }
    }
    if flags & 0x80 != 0 && bytes.len() >= udx::HEADER_LEN {
        let ids = node.udx().stream_ids();
        if !ids.is_empty() {
            let id = ids[usize::from(bytes[4]) % ids.len()];
            bytes[0] = 0xff;
            bytes[1] = 0x01;
            bytes[4..8].copy_from_slice(&id.to_le_bytes());
        }
    }
    bytes
}

fuzz_target!(|data: &[u8]| {
    let host = Ipv4Addr::LOCALHOST;
    let rpc = RpcOptions {
        bootstrap: vec![stranger(0, 0)],
        ephemeral: Some(false),
        firewalled: false,
        host,
        port: 49737,
        seed: Some([1; 32]),
        ..RpcOptions::default()
    };
    let opts = NodeOptions { rpc, public_address: Some(SocketAddrV4::new(host, 49737)), ..NodeOptions::default() };
    let mut now = 1_000;
    let mut node = Node::new(opts, now);
    let _ = node.listen(SERVER_KEY, now);
    let _ = node.connect(&[9; 32], ConnectOptions::default(), now);
    drain(&mut node, now);

    let mut rest = data;
    while let [source, advance, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        let from = stranger(*source, *source >> 3);
        let socket = if advance & 0x80 != 0 { SocketKind::Probe } else { SocketKind::Main };
        now += u64::from(advance & 0x7f) * 50;
        if node.poll_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(now);
            drain(&mut node, now);
        }
        let bytes = splice(&node, *source, from, bytes);
        node.handle_datagram(from, socket, &bytes, now);
        drain(&mut node, now);
    }
    assert!(node.stored_records() <= 65536);
    assert!(node.udx().len() <= 4096, "streams: {}", node.udx().len());
});
