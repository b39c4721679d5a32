//! The WebSocket relay's integration tests: an in-process relay on a given DHT, and hand-built
//! Protomux frames over a raw WebSocket (one binary message = one frame, as PROTOCOL.md §1).

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hyperwasm::relay_protocol::messages::Message;
use hyperwasm_relay::relay_server::{start, RelayArgs, Running};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as Ws;

/// How long one message may take.
pub const WS_LIMIT: Duration = Duration::from_secs(30);
/// The v1 protocol's channel name.
pub const V1: &str = "hyperwasm-relay/1";

/// A client's WebSocket.
pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A relay on loopback bootstrapped from `bootstrap` (`HOST:PORT,…`), its DHT node ready.
pub async fn relay_on(bootstrap: &str) -> Running {
    let mut args = RelayArgs::defaults(SocketAddr::from(([127, 0, 0, 1], 0)));
    args.bootstrap = bootstrap.split(',').map(str::to_string).collect();
    args.dht_bind = "127.0.0.1:0".parse().unwrap();
    args.web_root = std::env::temp_dir();
    args.drain_secs = 2;
    let running = start(args).await.unwrap();
    timeout(WS_LIMIT, running.dht.ready()).await.unwrap().unwrap();
    running
}

/// The Protomux `open` of channel `name` as our channel 1, built by hand: channel 0 · type 1
/// (open) · local id 1 · string protocol · empty id · no handshake.
pub fn open_frame(name: &str) -> Vec<u8> {
    let mut f = vec![0, 1, 1, name.len() as u8];
    f.extend_from_slice(name.as_bytes());
    f.push(0);
    f
}

/// A message on our channel 1: `1 · type · payload` (every v1 type fits one varint byte).
pub fn frame(m: &Message) -> Vec<u8> {
    let (t, p) = m.encode();
    let mut f = vec![1, t as u8];
    f.extend_from_slice(&p);
    f
}

/// Sends one v1 message.
pub async fn send(ws: &mut Socket, m: &Message) {
    ws.send(Ws::Binary(frame(m))).await.unwrap();
}

/// The next v1 message from the relay (skipping its channel open).
pub async fn recv(ws: &mut Socket) -> Message {
    loop {
        let msg = timeout(WS_LIMIT, ws.next()).await.expect("a message in time").unwrap().unwrap();
        let Ws::Binary(b) = msg else { panic!("unexpected {msg:?}") };
        match b.first() {
            Some(0) => {
                assert_eq!(b.get(1), Some(&1), "the relay only opens its channel: {b:?}");
                continue;
            }
            Some(1) => return Message::decode(u64::from(b[1]), &b[2..]).unwrap(),
            _ => panic!("frame on an unknown channel: {b:?}"),
        }
    }
}
