//! Delegated operations on a Rust loopback testnet: the test holds the keys and answers the
//! node's asks with the real Noise IK (`noise_wrap`) and Ed25519 code, as a relay client would;
//! the other side uses the driver's local keys. Bytes then flow through an `EncryptedStream`
//! the test builds from its own handshake result.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyperwasm::crypto::KeyPair;
use hyperwasm::hyperdht::crypto::hash;
use hyperwasm::hyperdht::noise_wrap::{check_server_payload, reply_error, NoiseWrap, NoiseWrapResult};
use hyperwasm_relay::commands::dht::testnet::Testnet;
use hyperwasm_relay::dht::delegate::SignKind;
use hyperwasm_relay::dht::{Ask, Asked, Delegate, Dht, DhtConfig, EncryptedStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

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

/// What the key holder saw and made.
#[derive(Default)]
struct Seen {
    signs: Vec<(SignKind, [u8; 32])>,
    /// Handshake results by handshake id (responder) or under `u64::MAX` (initiator).
    results: HashMap<u64, NoiseWrapResult>,
    peer_addresses: Vec<SocketAddrV4>,
}

/// Answers asks with `key_pair`, as a relay client does: checks what it signs, runs Noise IK.
/// `expected_target`: what a signature's target must be. `refuse`: answer every sign with
/// a refusal.
fn key_holder(
    key_pair: KeyPair,
    remote: Option<[u8; 32]>,
    expected_target: [u8; 32],
    refuse: bool,
) -> (Delegate, Arc<Mutex<Seen>>) {
    let (tx, mut rx) = mpsc::channel::<Asked>(16);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let out = seen.clone();
    tokio::spawn(async move {
        let mut initiator: Option<NoiseWrap> = None;
        while let Some(Asked { tag, ask }) = rx.recv().await {
            assert_eq!(tag, 7);
            match ask {
                Ask::Sign { parts, public_key, signable, reply } => {
                    assert_eq!(public_key, key_pair.public_key());
                    assert_eq!(parts.peer.public_key, key_pair.public_key());
                    assert_eq!(parts.target, expected_target);
                    assert_eq!(parts.signable(), signable, "the signable must be recomputable");
                    seen.lock().unwrap().signs.push((parts.kind, parts.node_id));
                    let _ = reply.send((!refuse).then(|| key_pair.sign(&signable)));
                }
                Ask::InitiatorMessage { local_payload, reply } => {
                    let mut w = NoiseWrap::initiator(&key_pair, remote.unwrap());
                    let msg1 = w.send(&local_payload).unwrap();
                    initiator = Some(w);
                    let _ = reply.send(Some(msg1));
                }
                Ask::ResponderMessage { msg2, reply } => {
                    let mut w = initiator.take().unwrap();
                    let payload = w.recv(&msg2).unwrap();
                    check_server_payload(&payload).unwrap();
                    seen.lock().unwrap().results.insert(u64::MAX, w.finish().unwrap());
                    let _ = reply.send(Some(payload));
                }
                Ask::Handshake { hs, msg1, mut local_payload, peer_address, reply } => {
                    let mut w = NoiseWrap::responder(&key_pair);
                    let remote_payload = w.recv(&msg1).unwrap();
                    local_payload.error = reply_error(&remote_payload);
                    let msg2 = w.send(&local_payload).unwrap();
                    let mut s = seen.lock().unwrap();
                    s.results.insert(hs, w.finish().unwrap());
                    s.peer_addresses.push(peer_address);
                    let _ = reply.send(Some((msg2, remote_payload)));
                }
            }
        }
    });
    (Delegate { tag: 7, asks: tx }, out)
}

async fn exchange<A, B>(mut a: A, mut b: B)
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let expect = big.clone();
    let writer = tokio::spawn(async move {
        a.write_all(&big).await.unwrap();
        a.shutdown().await.unwrap();
        let mut back = Vec::new();
        a.read_to_end(&mut back).await.unwrap();
        back
    });
    let mut got = Vec::new();
    timeout(LIMIT, b.read_to_end(&mut got)).await.unwrap().unwrap();
    assert_eq!(got, expect);
    b.write_all(b"thanks").await.unwrap();
    b.shutdown().await.unwrap();
    let back = timeout(LIMIT, writer).await.unwrap().unwrap();
    assert_eq!(back, b"thanks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegated_connect_to_a_local_server() {
    let tn = Testnet::start(3, Ipv4Addr::LOCALHOST, 0, Vec::new()).await.unwrap();
    let (a, b) = (client(&tn).await, client(&tn).await);
    let server_kp = kp(1);
    let mut server = b.listen(&server_kp).await.unwrap();
    let (delegate, seen) = key_holder(kp(2), Some(server_kp.public_key()), [0; 32], false);
    let conn =
        timeout(LIMIT, a.connect_delegated(server_kp.public_key(), kp(2).public_key(), Vec::new(), delegate))
            .await
            .unwrap()
            .unwrap();
    assert!(conn.info().is_initiator);
    assert_eq!(conn.info().remote_public_key, Some(server_kp.public_key()));
    assert_eq!(conn.info().public_key, kp(2).public_key());
    let incoming = timeout(LIMIT, server.accept()).await.unwrap().unwrap();
    assert_eq!(incoming.remote_public_key(), kp(2).public_key());

    let result = seen.lock().unwrap().results.remove(&u64::MAX).expect("the delegate finished the handshake");
    assert_eq!(result.handshake.remote_public_key, server_kp.public_key());
    // The test's own keys drive secret-stream over the relay's raw bytes.
    exchange(EncryptedStream::new(conn, result.handshake), incoming.encrypted()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegated_listen_accepts_a_local_client() {
    let tn = Testnet::start(3, Ipv4Addr::LOCALHOST, 0, Vec::new()).await.unwrap();
    let (a, b) = (client(&tn).await, client(&tn).await);
    let server_kp = kp(3);
    let target = hash(&server_kp.public_key());
    let (delegate, seen) = key_holder(server_kp.clone(), None, target, false);
    let mut server =
        timeout(LIMIT, b.listen_delegated(server_kp.public_key(), delegate)).await.unwrap().unwrap();
    {
        let s = seen.lock().unwrap();
        assert!(!s.signs.is_empty(), "the self-announce asked for signatures");
        assert!(s.signs.iter().all(|(k, _)| *k == SignKind::Announce));
    }
    assert!(!server.relay_addresses().await.is_empty());

    let conn = timeout(LIMIT, a.connect(server_kp.public_key(), &kp(4), Vec::new())).await.unwrap().unwrap();
    let incoming = timeout(LIMIT, server.accept()).await.unwrap().unwrap();
    let info = incoming.info().clone();
    assert!(!info.is_initiator);
    assert_eq!(info.public_key, server_kp.public_key());
    assert_eq!(info.remote_public_key, None, "the relay cannot know the client's key");
    let hs = info.handshake_id.expect("an incoming connection names its handshake");
    let result = seen.lock().unwrap().results.remove(&hs).expect("the delegate answered that handshake");
    assert_eq!(result.handshake.remote_public_key, kp(4).public_key());
    assert_eq!(seen.lock().unwrap().peer_addresses.len(), 1);
    exchange(conn.encrypted(), EncryptedStream::new(incoming, result.handshake)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegated_announce_is_found_and_a_refusal_stores_nothing() {
    let tn = Testnet::start(3, Ipv4Addr::LOCALHOST, 0, Vec::new()).await.unwrap();
    let a = client(&tn).await;
    let topic = [9u8; 32];
    let relays = vec![SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1234)];

    // Refused: the lookup phase runs, every commit is skipped (the announce fails, or ends
    // with nothing stored).
    let (refusing, seen) = key_holder(kp(6), None, topic, true);
    let done = timeout(LIMIT, a.announce_delegated(topic, kp(6).public_key(), relays.clone(), refusing))
        .await
        .unwrap();
    assert!(!seen.lock().unwrap().signs.is_empty());
    if let Ok(done) = done {
        assert!(done.commits.iter().all(|c| c.result != Ok(0)), "{:?}", done.commits);
    }

    let (delegate, seen) = key_holder(kp(5), None, topic, false);
    let done = timeout(LIMIT, a.announce_delegated(topic, kp(5).public_key(), relays.clone(), delegate))
        .await
        .unwrap()
        .unwrap();
    assert!(done.commits.iter().any(|c| c.result == Ok(0)), "{:?}", done.commits);
    let signed = seen.lock().unwrap().signs.len();
    assert!(signed >= done.commits.len());

    let found = timeout(LIMIT, a.lookup(topic).unwrap().collect()).await.unwrap().unwrap();
    let peers: Vec<_> = found.iter().flat_map(|r| r.peers.iter()).collect();
    assert!(peers.iter().any(|p| p.public_key == kp(5).public_key() && p.relay_addresses == relays));
    assert!(!peers.iter().any(|p| p.public_key == kp(6).public_key()), "a refused record was stored");

    let (delegate, seen) = key_holder(kp(5), None, topic, false);
    let un =
        timeout(LIMIT, a.unannounce_delegated(topic, kp(5).public_key(), delegate)).await.unwrap().unwrap();
    eprintln!("unannounce {:?}", un.commits);
    assert!(seen.lock().unwrap().signs.iter().all(|(k, _)| *k == SignKind::Unannounce));
    let found = timeout(LIMIT, a.lookup(topic).unwrap().collect()).await.unwrap().unwrap();
    assert!(found.iter().all(|r| r.peers.iter().all(|p| p.public_key != kp(5).public_key())));
}

/// A `listen_delegated` dropped before its first self-announce resolved (a relay client that
/// unlistened early) must not leave its server registered in the node: once that announce
/// ends, nobody waits for the answer and the key holder closes the server, so the key can be
/// listened on again. (Before the fix the server stayed forever: KEYPAIR_ALREADY_USED.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_listen_before_its_first_announce_closes_the_server() {
    let tn = Testnet::start(3, Ipv4Addr::LOCALHOST, 0, Vec::new()).await.unwrap();
    let b = client(&tn).await;
    let server_kp = kp(8);
    // A delegate that holds the first sign ask until the listen was dropped.
    let (tx, mut rx) = mpsc::channel::<Asked>(64);
    let listening = {
        let b = b.clone();
        let pk = server_kp.public_key();
        tokio::spawn(async move { b.listen_delegated(pk, Delegate { tag: 7, asks: tx }).await })
    };
    let first = timeout(LIMIT, rx.recv()).await.unwrap().expect("the self-announce asks to sign");
    assert!(matches!(first.ask, Ask::Sign { .. }));
    listening.abort();
    assert!(listening.await.unwrap_err().is_cancelled(), "the listen had not resolved yet");
    // Now refuse every sign: the self-announce ends without anyone waiting for the listen.
    drop(first);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });

    let target = hash(&server_kp.public_key());
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let (delegate, _seen) = key_holder(server_kp.clone(), None, target, false);
        match b.listen_delegated(server_kp.public_key(), delegate).await {
            Ok(server) => {
                assert_eq!(server.public_key(), server_kp.public_key());
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), "KEYPAIR_ALREADY_USED", "{e}");
                assert!(tokio::time::Instant::now() < deadline, "the abandoned server was never closed");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}
