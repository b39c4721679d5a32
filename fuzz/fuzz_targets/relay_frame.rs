//! Arbitrary bytes as the relay's side of a `hyperwasm-relay/1` WebSocket into a `RelayClient`
//! with live queries, a server, a dial in progress and an open stream: raw Protomux frames,
//! well-framed messages of any type with any payload (decoded by `Message::decode`), timer
//! runs, reconnects with resume and application calls. No input may panic; every error from
//! the client must be a protocol violation; nothing the relay sends makes the client buffer
//! beyond its replay bound.
#![no_main]

use hyperwasm::crypto::KeyPair;
use hyperwasm::encoding::put_uint;
use hyperwasm::protomux::{ChannelSpec, Mux, MuxEvent};
use hyperwasm::relay_protocol::client::{Firewall, RelayClient, RelayClientConfig};
use hyperwasm::relay_protocol::messages::{Limits, Message};
use hyperwasm::relay_protocol::PROTOCOL_NAME;
use libfuzzer_sys::fuzz_target;

/// Plays the relay's Protomux until the client is ready (`welcome` delivered).
fn establish(client: &mut RelayClient, now: u64, resumed: bool) -> bool {
    let mut relay = Mux::new();
    let mut channel = None;
    while let Some(frame) = client.poll_transmit() {
        if relay.on_message(&frame).is_err() {
            return false;
        }
        while let Some(event) = relay.poll_event() {
            if let MuxEvent::RemoteOpen { .. } = event {
                let spec = ChannelSpec { protocol: PROTOCOL_NAME, aliases: &[], id: None, handshake: &[] };
                channel = relay.open(spec).ok();
            }
        }
    }
    let Some(channel) = channel else { return false };
    let limits = Limits { max_streams: 8, max_servers: 8, max_queries: 8, bytes_per_second: 0 };
    let welcome = Message::Welcome { resumed, token: [7; 32], received: 0, grace_ms: 30_000, stream_credit: 4096, limits };
    let (t, p) = welcome.encode();
    let _ = relay.send(channel, t, &p);
    while let Some(frame) = relay.poll_transmit() {
        if client.handle_frame(&frame, now).is_err() {
            return false;
        }
    }
    client.is_ready()
}

fuzz_target!(|data: &[u8]| {
    let config = RelayClientConfig { max_replay_bytes: 256 * 1024, control_headroom: 16 * 1024, ..Default::default() };
    let mut client = RelayClient::new(config, 0);
    client.on_connected(0);
    if !establish(&mut client, 0, false) {
        return;
    }
    let me = KeyPair::from_seed(&[1; 32]);
    let _ = client.lookup([1; 32]);
    let _ = client.announce([2; 32], &me, vec![]);
    let _ = client.unannounce([2; 32], &me);
    let _ = client.listen(&me, Firewall::AcceptAll);
    let _ = client.listen(&KeyPair::from_seed(&[2; 32]), Firewall::Ask);
    let _ = client.connect([3; 32], &me, vec![]);
    let mut now = 0u64;

    // Input: (control byte, length byte, bytes)*.
    let mut rest = data;
    while let [control, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        let result = if control & 1 == 0 {
            // A well-framed message on the relay's channel (local id 1): type, then payload.
            let mut frame = vec![1];
            put_uint(&mut frame, u64::from(bytes.first().copied().unwrap_or(0) % 48));
            frame.extend_from_slice(bytes.get(1..).unwrap_or(&[]));
            client.handle_frame(&frame, now)
        } else {
            client.handle_frame(bytes, now)
        };
        if let Err(e) = result {
            assert!(e.is_protocol_violation(), "{e}");
            client.on_disconnected(now);
        }
        if control & 2 != 0 {
            now += u64::from(*control) * 1000;
            client.handle_timeout(now);
        }
        if control & 4 != 0 {
            let id = u32::from(*len) | if control & 8 != 0 { 1 << 31 } else { 0 };
            let _ = client.stream_write(id, bytes);
            let _ = client.stream_consumed(id, u64::from(*control));
            if control & 16 != 0 {
                let _ = client.firewall_decision(id, control & 32 != 0);
            }
        }
        if !client.is_ready() || control & 0x40 != 0 {
            client.on_disconnected(now);
            client.on_connected(now);
            if !establish(&mut client, now, control & 0x80 != 0) {
                return;
            }
        }
        while client.poll_event().is_some() {}
        while client.poll_transmit().is_some() {}
    }
});
