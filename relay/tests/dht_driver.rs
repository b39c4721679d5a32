//! The tokio driver's own mechanics, in one process on a Rust loopback testnet: backpressure
//! both ways, half-close, destroy semantics, error codes. (Interop with JS is
//! `interop_dht.rs`; these check what JS cannot see: bounded buffers, handle lifetimes.)

#![allow(clippy::unwrap_used)]

use hyperwasm::crypto::KeyPair;
use hyperwasm_relay::commands::dht::testnet::Testnet;
use hyperwasm_relay::dht::{Dht, DhtConfig};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

async fn testnet() -> Testnet {
    Testnet::start(3, Ipv4Addr::LOCALHOST, 0, Vec::new()).await.unwrap()
}

async fn client(tn: &Testnet) -> Dht {
    let mut cfg = DhtConfig::client(tn.bootstrap.clone());
    cfg.bind = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
    let dht = Dht::bind(cfg).await.unwrap();
    timeout(LIMIT, dht.ready()).await.unwrap().unwrap();
    dht
}

fn kp(seed: u8) -> KeyPair {
    KeyPair::from_seed(&[seed; 32])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_stops_the_writer_then_everything_arrives() {
    let tn = testnet().await;
    let (a, b) = (client(&tn).await, client(&tn).await);
    let mut server = b.listen(&kp(1)).await.unwrap();
    let conn = timeout(LIMIT, a.connect(kp(1).public_key(), &kp(2), Vec::new())).await.unwrap().unwrap();
    let incoming = timeout(LIMIT, server.accept()).await.unwrap().unwrap();
    assert_eq!(incoming.remote_public_key(), kp(2).public_key());
    assert_eq!(conn.remote_public_key(), kp(1).public_key());

    // The server does not read: the writer must stall after a bounded amount.
    let mut w = conn.encrypted();
    let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    let mut accepted = 0usize;
    while let Ok(r) = timeout(Duration::from_millis(500), w.write_all(&chunk)).await {
        r.unwrap();
        accepted += chunk.len();
        assert!(accepted < 64 << 20, "no backpressure after {accepted} bytes");
    }
    // Buffers on the way: ours, the UDX send buffer and window, the peer's, secret-stream's.
    assert!(accepted > 1 << 20, "stalled too early: {accepted}");

    // Now the server reads everything, in order.
    let mut r = incoming.encrypted();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        got
    });
    let writer = tokio::spawn(async move {
        w.write_all(&chunk).await.unwrap();
        w.shutdown().await.unwrap();
        w
    });
    let w = timeout(LIMIT, writer).await.unwrap().unwrap();
    let got = timeout(LIMIT, reader).await.unwrap().unwrap();
    assert_eq!(got.len(), accepted + 65536);
    assert!(got.chunks(65536).all(|c| c.iter().enumerate().all(|(i, &x)| x == (i % 251) as u8)));
    drop(w);
    tn.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_then_reply_and_drop_without_shutdown_resets() {
    let tn = testnet().await;
    let (a, b) = (client(&tn).await, client(&tn).await);
    let mut server = b.listen(&kp(3)).await.unwrap();
    let conn = timeout(LIMIT, a.connect(kp(3).public_key(), &kp(4), Vec::new())).await.unwrap().unwrap();
    let mut s = timeout(LIMIT, server.accept()).await.unwrap().unwrap().encrypted();
    let mut c = conn.encrypted();

    // Client ends its side; the server reads to EOF, answers, ends.
    c.write_all(b"question").await.unwrap();
    c.shutdown().await.unwrap();
    let mut q = Vec::new();
    timeout(LIMIT, s.read_to_end(&mut q)).await.unwrap().unwrap();
    assert_eq!(q, b"question");
    s.write_all(b"answer").await.unwrap();
    s.shutdown().await.unwrap();
    let mut ans = Vec::new();
    timeout(LIMIT, c.read_to_end(&mut ans)).await.unwrap().unwrap();
    assert_eq!(ans, b"answer");

    // A second connection dropped without shutdown: the peer's read fails (UDX DESTROY).
    let conn2 = timeout(LIMIT, a.connect(kp(3).public_key(), &kp(5), Vec::new())).await.unwrap().unwrap();
    let mut s2 = timeout(LIMIT, server.accept()).await.unwrap().unwrap();
    drop(conn2);
    let mut buf = [0u8; 16];
    let err = timeout(LIMIT, s2.read(&mut buf)).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    tn.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_js_codes_and_destroy_ends_everything() {
    let tn = testnet().await;
    let (a, b) = (client(&tn).await, client(&tn).await);

    // Nobody listens on this key.
    let err = timeout(LIMIT, a.connect(kp(9).public_key(), &kp(10), Vec::new())).await.unwrap().unwrap_err();
    assert_eq!(err.code(), "PEER_NOT_FOUND", "{err}");

    // One server per key pair per node.
    let mut server = b.listen(&kp(6)).await.unwrap();
    assert!(!server.relay_addresses().await.is_empty(), "listen resolves after the self-announce");
    assert_eq!(b.listen(&kp(6)).await.unwrap_err().code(), "KEYPAIR_ALREADY_USED");

    // Destroy: the open connection fails, accept ends, later calls say DESTROYED.
    let conn = timeout(LIMIT, a.connect(kp(6).public_key(), &kp(7), Vec::new())).await.unwrap().unwrap();
    let _incoming = timeout(LIMIT, server.accept()).await.unwrap().unwrap();
    let (mut r, _w) = conn.into_split();
    a.destroy().await;
    let mut buf = [0u8; 8];
    assert!(timeout(LIMIT, r.read(&mut buf)).await.unwrap().is_err());
    assert_eq!(a.info().await.unwrap_err().code(), "DESTROYED");
    assert_eq!(a.lookup([1; 32]).map(|_| ()).unwrap_err().code(), "DESTROYED");
    b.destroy().await;
    assert!(timeout(LIMIT, server.accept()).await.unwrap().is_none());
    tn.destroy().await;
}

fn digest(bytes: &[u8]) -> String {
    hex::encode(blake2b_simd::Params::new().hash_length(32).hash(bytes).as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_still_gets_every_byte_after_both_sides_ended() {
    const N: usize = 5_000_000;
    let tn = testnet().await;
    let (a, b) = (client(&tn).await, client(&tn).await);
    let mut server = b.listen(&kp(11)).await.unwrap();
    let conn = timeout(LIMIT, a.connect(kp(11).public_key(), &kp(12), Vec::new())).await.unwrap().unwrap();
    let incoming = timeout(LIMIT, server.accept()).await.unwrap().unwrap();
    let data: Vec<u8> = (0..N).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let want = digest(&data);

    // The server sends 5 MB and ends; the client ends at once, then reads a little and stalls
    // while everything (more than its 2 MiB connection buffer) arrives and the stream closes
    // cleanly underneath it.
    let mut s = incoming.encrypted();
    let writer = tokio::spawn(async move {
        s.write_all(&data).await.unwrap();
        s.shutdown().await.unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        s
    });
    let mut c = conn.encrypted();
    c.shutdown().await.unwrap();
    let mut got = vec![0u8; 1024];
    let n = timeout(LIMIT, c.read(&mut got)).await.unwrap().unwrap();
    got.truncate(n);
    let _s = timeout(LIMIT, writer).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    timeout(LIMIT, c.read_to_end(&mut got)).await.unwrap().unwrap();
    assert_eq!(got.len(), N, "bytes lost under a clean close");
    assert_eq!(digest(&got), want);
    tn.destroy().await;
}
