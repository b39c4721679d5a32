//! Any sequence of UDP datagrams from any sources into a HyperDHT `Node` (persistent, listening,
//! with a connection under way, so dht-rpc, the storage commands, the router, the handshake
//! flows and UDX streams are all reachable): no panic, and the node's tables stay bounded.
//!
//! Input: repeated `[source: u8][advance_ms: u8][len: u8][bytes; len]`. Sources 0–7 are eight
//! strangers; the low bit of `advance_ms`'s top set picks the probe socket.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};

use hyperwasm_relay::dht_rpc::{RpcOptions, SocketKind};
use hyperwasm_relay::hyperdht::connect::ConnectOptions;
use hyperwasm_relay::hyperdht::node::{Node, NodeOptions};
use libfuzzer_sys::fuzz_target;

fn drain(node: &mut Node) {
    while node.poll_transmit().is_some() {}
    while node.poll_event().is_some() {}
}

fuzz_target!(|data: &[u8]| {
    let host = Ipv4Addr::LOCALHOST;
    let rpc = RpcOptions {
        bootstrap: vec![SocketAddrV4::new(host, 40000)],
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
    let _ = node.listen([7; 32], now);
    let _ = node.connect(&[9; 32], ConnectOptions::default(), now);
    drain(&mut node);

    let mut rest = data;
    while let [source, advance, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        let from = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, source % 8), 40000 + u16::from(source % 3));
        let socket = if advance & 0x80 != 0 { SocketKind::Probe } else { SocketKind::Main };
        now += u64::from(advance & 0x7f) * 50;
        node.handle_datagram(from, socket, bytes, now);
        drain(&mut node);
        if node.poll_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(now);
            drain(&mut node);
        }
    }
    assert!(node.stored_records() <= 65536);
});
