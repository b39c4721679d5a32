//! Whole replication connections: two `CoreSet`s joined by an in-memory byte pipe, each end
//! running `replicate` (secret-stream, protomux, `hypercore/alpha`, user channels), and
//! hand-made peers that speak the wire protocol directly to misbehave in precise ways.
//!
//! Everything runs on one current-thread tokio runtime; the pipes are tokio duplex streams
//! seen as futures-io streams. Nothing waits on wall-clock time except the overall timeout.
#![cfg(not(target_arch = "wasm32"))] // tokio is a native-only dev-dependency
#![allow(clippy::unwrap_used, missing_docs)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyperwasm::core::{CreateOptions, Hypercore};
use hyperwasm::crypto::{caps, Hash, KeyPair};
use hyperwasm::encoding::Compact;
use hyperwasm::protomux::{ChannelId, ChannelSpec, Mux, MuxEvent};
use hyperwasm::replicator::messages::{ChannelHandshake, Data, Message, Range, Request, Sync};
use hyperwasm::replicator::messages::{PROTOCOL, PROTOCOL_ALIAS};
use hyperwasm::replicator::protocol_stream::HIGH_WATER_BYTES;
use hyperwasm::replicator::{
    proof_request, user_channels, ConnectionError, ConnectionOptions, DownloadRange, SharedCore, UserEvent,
    UserHandle,
};
use hyperwasm::secret_stream::{SecretStream, SecretStreamEvent, SecretStreamOptions};
use hyperwasm::storage::memory::MemoryStorage;
use hyperwasm::tree::proof::{RequestIndex, RequestUpgrade};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

type Core = Hypercore<MemoryStorage>;
type Shared = SharedCore<MemoryStorage>;

mod pipes;
use pipes::{connect, connect_with, run_for, spawn_end, Outcome, Set, Tap, PIPE_BYTES};

/// Runs one test, failing after 15 s.
fn run(test: impl Future<Output = ()>) {
    run_for(Duration::from_secs(15), test);
}

/// Options carrying a user-channel end; returns the application's handle too.
fn with_user(is_initiator: bool) -> (ConnectionOptions, UserHandle) {
    let (handle, channels) = user_channels();
    let mut opts = ConnectionOptions::new(is_initiator);
    opts.user = Some(channels);
    (opts, handle)
}

// ---------------------------------------------------------------------------------------------
// Cores
// ---------------------------------------------------------------------------------------------

fn block(i: u64) -> Vec<u8> {
    (0..(16 + i * 13 % 200)).map(|j| (i * 7 + j * 3) as u8).collect()
}

async fn writer_core(seed: u8, compat: bool, blocks: std::ops::Range<u64>) -> Core {
    let key_pair = KeyPair::from_seed(&[seed; 32]);
    let opts = CreateOptions { key_pair: Some(key_pair), manifest: None, compat };
    let mut core = Core::create(MemoryStorage::new(), opts).await.unwrap();
    let batch: Vec<Vec<u8>> = blocks.map(block).collect();
    if !batch.is_empty() {
        core.append_batch(&batch).await.unwrap();
    }
    core
}

async fn remote_core(key: Hash) -> Core {
    Core::create_remote(MemoryStorage::new(), key).await.unwrap()
}

/// A set holding one writable core of `n` blocks.
async fn writer_set(seed: u8, compat: bool, n: u64) -> (Set, Shared) {
    let set = Set::new();
    let core = set.insert(writer_core(seed, compat, 0..n).await);
    (set, core)
}

/// A set holding an empty replica of `of`, downloading everything (live).
async fn reader_set(of: &Shared) -> (Set, Shared) {
    let set = Set::new();
    let core = set.insert(remote_core(of.key()).await);
    core.download(DownloadRange::live());
    (set, core)
}

/// Waits until `core`'s contiguous length is `n`.
async fn wait_contiguous(core: &Shared, n: u64) {
    let mut seen = 0;
    loop {
        if core.info().await.contiguous_length >= n {
            assert_eq!(core.info().await.contiguous_length, n);
            return;
        }
        seen = core.changed(seen).await;
    }
}

/// Same fork, length, tree hash and blocks `range`.
async fn assert_same(w: &Shared, r: &Shared, range: std::ops::Range<u64>) {
    let (wi, ri) = (w.info().await, r.info().await);
    assert_eq!((wi.fork, wi.length, wi.byte_length), (ri.fork, ri.length, ri.byte_length));
    let wh = w.with(|c| c.tree().hash()).await;
    let rh = r.with(|c| c.tree().hash()).await;
    assert_eq!(wh, rh, "tree hashes differ");
    for i in range {
        assert_eq!(r.get(i).await.unwrap(), w.get(i).await.unwrap(), "block {i}");
    }
}

/// Nothing was stored on a replica that started empty.
async fn assert_untouched(core: &Shared) {
    let info = core.info().await;
    assert_eq!(
        (info.length, info.contiguous_length, info.blocks_stored, info.fork),
        (0, 0, 0, 0),
        "{info:?}"
    );
    assert_eq!(core.with(|c| (c.tree().length, c.has(0))).await, (0, false));
}

/// Seeds the replica `r` (in `set`) from a fresh writer connection and checks the result.
async fn honest_download(set: &Set, w_set: &Set, w: &Shared, r: &Shared) {
    let n = w.info().await.length;
    let conn = connect(w_set, set);
    wait_contiguous(r, n).await;
    assert_same(w, r, 0..n).await;
    let (up, down) = conn.close().await;
    assert_eq!((up.blocks_uploaded, down.blocks_downloaded), (n, n));
    assert!(down.peers_closed.is_empty(), "{:?}", down.peers_closed);
}

// ---------------------------------------------------------------------------------------------
// Replication between two real connections
// ---------------------------------------------------------------------------------------------

async fn full_download(compat: bool) {
    const N: u64 = 300;
    let (w_set, w) = writer_set(1, compat, N).await;
    let (r_set, r) = reader_set(&w).await;
    assert_eq!(w.with(|c| c.is_compat()).await, compat);
    let conn = connect(&r_set, &w_set);
    // Done means done: every block of the writer's length is here.
    r.downloaded().await;
    assert_eq!(r.info().await.contiguous_length, N);
    assert_same(&w, &r, 0..N).await;
    assert_eq!(r.info().await.blocks_stored, N);
    let (down, up) = conn.close().await;
    assert_eq!(down.blocks_downloaded, N);
    assert_eq!(up.blocks_uploaded, N);
    assert!(down.peers_closed.is_empty() && up.peers_closed.is_empty());
    let payload: u64 = (0..N).map(|i| block(i).len() as u64).sum();
    assert!(up.bytes_out > payload && down.bytes_in > payload, "{up:?} {down:?}");
    assert!(down.bytes_in <= up.bytes_out && up.bytes_in <= down.bytes_out);
    // Each end saw the other's Noise key.
    assert!(up.remote_public_key.is_some() && down.remote_public_key.is_some());
    assert_ne!(up.remote_public_key, down.remote_public_key);
}

#[test]
fn full_download_of_a_manifest_core() {
    run(full_download(false));
}

#[test]
fn full_download_of_a_compat_core() {
    run(full_download(true));
}

/// HyperDHT connections run Noise IK while connecting; replication then starts from those keys.
#[test]
fn replicates_over_keys_from_a_handshake_done_elsewhere() {
    use hyperwasm::noise::{Handshake, Pattern};
    run(async {
        const N: u64 = 50;
        let (w_set, w) = writer_set(3, false, N).await;
        let (r_set, r) = reader_set(&w).await;
        let (client, server) = (KeyPair::from_seed(&[7; 32]), KeyPair::from_seed(&[8; 32]));
        let ik = Pattern::IK { remote_static: server.public_key() };
        let mut initiator = Handshake::new(ik, true, &client, b"prologue");
        let mut responder = Handshake::new(Pattern::ik_responder(), false, &server, b"prologue");
        let m1 = initiator.send(b"").expect("msg1");
        responder.recv(&m1).expect("read msg1");
        let m2 = responder.send(b"").expect("msg2");
        initiator.recv(&m2).expect("read msg2");
        let mut r_opts = ConnectionOptions::new(true);
        r_opts.handshake = Some(initiator.finish().expect("initiator keys"));
        let mut w_opts = ConnectionOptions::new(false);
        w_opts.handshake = Some(responder.finish().expect("responder keys"));
        let conn = connect_with(&r_set, r_opts, &w_set, w_opts);
        r.downloaded().await;
        assert_same(&w, &r, 0..N).await;
        let (down, up) = conn.close().await;
        assert_eq!((down.blocks_downloaded, up.blocks_uploaded), (N, N));
        assert_eq!(down.remote_public_key, Some(server.public_key()));
        assert_eq!(up.remote_public_key, Some(client.public_key()));
    });
}

#[test]
fn sparse_range() {
    run(async {
        let (w_set, w) = writer_set(2, false, 1000).await;
        let r_set = Set::new();
        let r = r_set.insert(remote_core(w.key()).await);
        r.download(DownloadRange::range(400, 450));
        let conn = connect(&w_set, &r_set);
        r.downloaded().await;
        let info = r.info().await;
        assert_eq!((info.length, info.blocks_stored, info.contiguous_length), (1000, 50, 0));
        for i in 400..450 {
            assert_eq!(r.get(i).await.unwrap(), Some(block(i)), "block {i}");
        }
        for i in [0, 399, 450, 999] {
            assert_eq!(r.get(i).await.unwrap(), None, "block {i} was not asked for");
        }
        assert_eq!(r.with(|c| c.tree().hash()).await, w.with(|c| c.tree().hash()).await);
        let (up, down) = conn.close().await;
        assert_eq!((up.blocks_uploaded, down.blocks_downloaded), (50, 50));
    });
}

#[test]
fn live_appends_reach_the_reader() {
    run(async {
        let (w_set, w) = writer_set(3, false, 20).await;
        let (r_set, r) = reader_set(&w).await;
        let conn = connect(&r_set, &w_set);
        wait_contiguous(&r, 20).await;
        let mut length = 20;
        for round in 0..5u64 {
            let blocks: Vec<Vec<u8>> = (length..length + 7 + round).map(block).collect();
            length = w.append_batch(&blocks).await.unwrap();
            if round % 2 == 0 {
                // Sometimes wait for the reader, sometimes let appends pile up.
                wait_contiguous(&r, length).await;
            }
        }
        w.append(&block(length)).await.unwrap();
        length += 1;
        wait_contiguous(&r, length).await;
        assert_eq!(length, 20 + 5 * 7 + 10 + 1);
        assert_same(&w, &r, 0..length).await;
        let (down, up) = conn.close().await;
        assert_eq!((down.blocks_downloaded, up.blocks_uploaded), (length, length));
    });
}

#[test]
fn several_cores_over_one_connection_opened_on_demand() {
    run(async {
        let w_set = Set::new();
        let x = w_set.insert(writer_core(4, false, 0..120).await);
        let y = w_set.insert(writer_core(5, true, 0..80).await);
        let z = w_set.insert(writer_core(6, false, 0..10).await);
        let r_set = Set::new();
        let rx = r_set.insert(remote_core(x.key()).await);
        rx.download(DownloadRange::live());
        let conn = connect(&r_set, &w_set);
        wait_contiguous(&rx, 120).await;
        // The reader learns about `y` only now: its channel opens on the running connection
        // (the writer's first open for it was rejected).
        let ry = r_set.insert(remote_core(y.key()).await);
        ry.download(DownloadRange::live());
        wait_contiguous(&ry, 80).await;
        // Both keep following their writers.
        x.append(&block(120)).await.unwrap();
        y.append(&block(80)).await.unwrap();
        wait_contiguous(&rx, 121).await;
        wait_contiguous(&ry, 81).await;
        assert_same(&x, &rx, 0..121).await;
        assert_same(&y, &ry, 0..81).await;
        // The other way round: the reader wants a core the writer learns about later.
        let q_core = writer_core(17, false, 0..33).await;
        let rq = r_set.insert(remote_core(*q_core.key()).await);
        rq.download(DownloadRange::live());
        let q = w_set.insert(q_core);
        wait_contiguous(&rq, 33).await;
        assert_same(&q, &rq, 0..33).await;
        // `z` was never asked for and never stored anywhere on the reader side.
        assert!(r_set.get(&z.discovery_key()).is_none());
        let (down, up) = conn.close().await;
        assert_eq!(down.blocks_downloaded, 121 + 81 + 33);
        assert_eq!(up.blocks_uploaded, 121 + 81 + 33);
        assert!(down.peers_closed.is_empty() && up.peers_closed.is_empty());
    });
}

#[test]
fn relay_chain_a_to_b_to_c() {
    run(async {
        let (a_set, a) = writer_set(7, false, 400).await;
        let (b_set, b) = reader_set(&a).await;
        let (c_set, c) = reader_set(&a).await;
        // C only knows B, which starts empty and downloads from A meanwhile.
        let bc = connect(&c_set, &b_set);
        let ab = connect(&b_set, &a_set);
        wait_contiguous(&c, 400).await;
        a.append_batch(&[block(400), block(401)]).await.unwrap();
        wait_contiguous(&c, 402).await;
        assert_same(&a, &b, 0..402).await;
        assert_same(&a, &c, 0..402).await;
        let (c_stats, b_up) = bc.close().await;
        let (b_down, a_up) = ab.close().await;
        assert_eq!(c_stats.blocks_downloaded, 402, "C got every block from B");
        assert_eq!(b_up.blocks_uploaded, 402);
        assert_eq!((b_down.blocks_downloaded, a_up.blocks_uploaded), (402, 402));
        assert_eq!(c_stats.blocks_uploaded, 0);
    });
}

// ---------------------------------------------------------------------------------------------
// User channels and extensions
// ---------------------------------------------------------------------------------------------

/// The next event that is not a hypercore extension.
async fn next_user_event(handle: &mut UserHandle) -> UserEvent {
    loop {
        match handle.next_event().await.expect("connection ended") {
            UserEvent::Extension { .. } => {}
            event => return event,
        }
    }
}

/// Waits for the `Opened` of `protocol`; returns the local channel and remote handshake.
async fn opened(handle: &mut UserHandle, want: &str) -> (ChannelId, Vec<u8>) {
    match next_user_event(handle).await {
        UserEvent::Opened { channel, protocol, id, handshake } => {
            assert_eq!((protocol.as_str(), id), (want, None));
            (channel, handshake)
        }
        other => panic!("expected {want} to open, got {other:?}"),
    }
}

/// Sends 200 messages on `channel`, then checks the 200 the other side sends, in order.
async fn chat(handle: &mut UserHandle, channel: ChannelId, me: &str, other: &str) {
    const N: usize = 200;
    for i in 0..N {
        handle.send(channel, (i % 3) as u64, format!("{me} {i}").as_bytes()).unwrap();
    }
    for i in 0..N {
        match next_user_event(handle).await {
            UserEvent::Message { channel: c, message_type, payload } => {
                assert_eq!(c, channel);
                assert_eq!(message_type, (i % 3) as u64);
                assert_eq!(String::from_utf8(payload).unwrap(), format!("{other} {i}"));
            }
            event => panic!("message {i}: {event:?}"),
        }
    }
}

/// The payload of the next app message, which must be of `message_type`.
async fn next_message(handle: &mut UserHandle, message_type: u64) -> Vec<u8> {
    match next_user_event(handle).await {
        UserEvent::Message { message_type: t, payload, .. } if t == message_type => payload,
        event => panic!("expected a message of type {message_type}, got {event:?}"),
    }
}

#[test]
fn user_channels_beside_replication() {
    run(async {
        const N: u64 = 1000;
        let (w_set, w) = writer_set(8, false, N).await;
        let r_set = Set::new();
        let r = r_set.insert(remote_core(w.key()).await);
        let (r_opts, mut r_app) = with_user(true);
        let (w_opts, mut w_app) = with_user(false);
        // Both sides open the app protocol, before the connection is even up.
        r_app.open("chat/1", None, b"reader hello").unwrap();
        w_app.open("chat/1", None, b"writer hello").unwrap();
        let conn = connect_with(&r_set, r_opts, &w_set, w_opts);
        let (r_chan, r_hs) = opened(&mut r_app, "chat/1").await;
        let (w_chan, w_hs) = opened(&mut w_app, "chat/1").await;
        assert_eq!((r_hs.as_slice(), w_hs.as_slice()), (&b"writer hello"[..], &b"reader hello"[..]));
        // Messages both ways while the download starts and runs.
        r.download(DownloadRange::live());
        futures::join!(
            chat(&mut r_app, r_chan, "reader", "writer"),
            chat(&mut w_app, w_chan, "writer", "reader"),
            wait_contiguous(&r, N),
        );
        assert_same(&w, &r, 0..N).await;
        // The app protocol drives the replication on the same connection: the reader asks
        // for more, the writer appends and answers with its length, the reader waits for it.
        let reader = async {
            for round in 0..5u64 {
                r_app.send(r_chan, 7, &round.to_le_bytes()).unwrap();
                let length = next_message(&mut r_app, 8).await;
                wait_contiguous(&r, u64::from_le_bytes(length.try_into().unwrap())).await;
            }
        };
        let writer = async {
            for round in 0..5u64 {
                assert_eq!(next_message(&mut w_app, 7).await, round.to_le_bytes());
                let from = w.info().await.length;
                let length = w.append_batch(&(from..from + 20).map(block).collect::<Vec<_>>()).await.unwrap();
                w_app.send(w_chan, 8, &length.to_le_bytes()).unwrap();
            }
        };
        futures::join!(reader, writer);
        let total = N + 5 * 20;
        assert_same(&w, &r, 0..total).await;
        // Closing the app channel leaves replication alone.
        r_app.close(r_chan).unwrap();
        assert_eq!(next_user_event(&mut w_app).await, UserEvent::Closed { channel: w_chan, remote: true });
        assert_eq!(next_user_event(&mut r_app).await, UserEvent::Closed { channel: r_chan, remote: false });
        w.append(&block(total)).await.unwrap();
        wait_contiguous(&r, total + 1).await;
        let (down, up) = conn.close().await;
        assert_eq!((down.blocks_downloaded, up.blocks_uploaded), (total + 1, total + 1));
        // The handles see the end of the connection.
        assert_eq!(r_app.next_event().await, None);
        assert!(r_app.send(r_chan, 0, b"late").is_err());
    });
}

#[test]
fn app_channels_the_remote_does_not_want_are_rejected() {
    run(async {
        const N: u64 = 300;
        let (w_set, w) = writer_set(9, false, N).await;
        // A writer without any user handle rejects every app protocol.
        let (r_set, r) = reader_set(&w).await;
        let (r_opts, mut r_app) = with_user(true);
        r_app.open("chat/1", Some(b"room"), b"").unwrap();
        let conn = connect_with(&r_set, r_opts, &w_set, ConnectionOptions::new(false));
        assert!(matches!(next_user_event(&mut r_app).await, UserEvent::Closed { remote: true, .. }));
        wait_contiguous(&r, N).await;
        assert_same(&w, &r, 0..N).await;
        conn.close().await;

        // A writer with a handle is asked, and refuses one protocol but takes another.
        let (r_set, r) = reader_set(&w).await;
        let (r_opts, mut r_app) = with_user(true);
        let (w_opts, mut w_app) = with_user(false);
        r_app.open("other/1", None, b"").unwrap();
        r_app.open("chat/1", None, b"hi").unwrap();
        let conn = connect_with(&r_set, r_opts, &w_set, w_opts);
        assert_eq!(
            next_user_event(&mut w_app).await,
            UserEvent::RemoteOpen { protocol: "other/1".into(), id: None }
        );
        w_app.reject("other/1", None).unwrap();
        assert_eq!(
            next_user_event(&mut w_app).await,
            UserEvent::RemoteOpen { protocol: "chat/1".into(), id: None }
        );
        w_app.open("chat/1", None, b"welcome").unwrap();
        assert!(matches!(next_user_event(&mut r_app).await, UserEvent::Closed { remote: true, .. }));
        let (r_chan, hs) = opened(&mut r_app, "chat/1").await;
        assert_eq!(hs, b"welcome");
        let (w_chan, hs) = opened(&mut w_app, "chat/1").await;
        assert_eq!(hs, b"hi");
        w_app.send(w_chan, 4, b"ok").unwrap();
        assert_eq!(
            next_user_event(&mut r_app).await,
            UserEvent::Message { channel: r_chan, message_type: 4, payload: b"ok".to_vec() }
        );
        wait_contiguous(&r, N).await;
        let (down, _) = conn.close().await;
        assert_eq!(down.blocks_downloaded, N);
    });
}

/// The next hypercore extension event.
async fn next_extension(handle: &mut UserHandle) -> (Hash, String, Vec<u8>) {
    loop {
        if let UserEvent::Extension { discovery_key, name, message } =
            handle.next_event().await.expect("connection ended")
        {
            return (discovery_key, name, message);
        }
    }
}

#[test]
fn extension_messages_reach_the_other_side() {
    run(async {
        let (w_set, w) = writer_set(10, false, 50).await;
        let (r_set, r) = reader_set(&w).await;
        let (r_opts, mut r_app) = with_user(true);
        let (w_opts, mut w_app) = with_user(false);
        let conn = connect_with(&r_set, r_opts, &w_set, w_opts);
        // Once the reader has blocks, both ends have the other as a peer of the core.
        wait_contiguous(&r, 50).await;
        let dk = w.discovery_key();
        w_app.extension(dk, "ping", b"one").unwrap();
        w_app.extension(dk, "ping", b"two").unwrap();
        w_app.extension(dk, "other", b"").unwrap();
        r_app.extension(dk, "pong", &[0, 255, 7]).unwrap();
        assert_eq!(next_extension(&mut r_app).await, (dk, "ping".into(), b"one".to_vec()));
        assert_eq!(next_extension(&mut r_app).await, (dk, "ping".into(), b"two".to_vec()));
        assert_eq!(next_extension(&mut r_app).await, (dk, "other".into(), Vec::new()));
        assert_eq!(next_extension(&mut w_app).await, (dk, "pong".into(), vec![0, 255, 7]));
        // An extension for a core the connection does not share goes nowhere.
        r_app.extension([9; 32], "ghost", b"x").unwrap();
        r_app.extension(dk, "after", b"y").unwrap();
        assert_eq!(next_extension(&mut w_app).await, (dk, "after".into(), b"y".to_vec()));
        conn.close().await;
    });
}

// ---------------------------------------------------------------------------------------------
// Hand-made peers
// ---------------------------------------------------------------------------------------------

/// A peer driven by hand: a secret stream and a mux over one pipe end, nothing else.
struct RawPeer {
    io: DuplexStream,
    stream: SecretStream,
    mux: Mux,
    handshake_hash: [u8; 64],
    buf: Vec<u8>,
    /// Bytes written to the pipe.
    written: u64,
}

impl RawPeer {
    /// Dials (Noise initiator) and runs the handshake.
    async fn connect(io: DuplexStream) -> RawPeer {
        let key_pair = KeyPair::generate().unwrap();
        let mut stream = SecretStream::new(true, &key_pair, SecretStreamOptions::default());
        stream.start(0);
        let mut peer = RawPeer {
            io,
            stream,
            mux: Mux::new(),
            handshake_hash: [0; 64],
            buf: vec![0; 64 << 10],
            written: 0,
        };
        peer.write_out().await;
        loop {
            let n = peer.io.read(&mut peer.buf).await.unwrap();
            assert!(n > 0, "closed during the handshake");
            peer.stream.on_bytes(&peer.buf[..n], 0).unwrap();
            peer.write_out().await;
            if let Some(hash) = peer.stream.handshake_hash().filter(|_| peer.stream.is_connected()) {
                peer.handshake_hash = hash;
                peer.pull_events().unwrap();
                return peer;
            }
        }
    }

    /// Decrypted messages into the mux; false if the remote broke the protocol.
    fn pull_events(&mut self) -> Result<(), String> {
        while let Some(event) = self.stream.poll_event() {
            if let SecretStreamEvent::Message(frame) = event {
                self.mux.on_message(&frame).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// Sends what the mux and stream have queued (errors ignored: the remote may be gone).
    async fn write_out(&mut self) {
        while let Some(frame) = self.mux.poll_transmit() {
            self.stream.send(&frame).unwrap();
        }
        let out = self.stream.take_outgoing();
        if !out.is_empty() && self.io.write_all(&out).await.is_ok() {
            self.written += out.len() as u64;
        }
    }

    /// The next mux event; `None` once the remote hung up.
    async fn next_event(&mut self) -> Option<MuxEvent> {
        loop {
            if let Some(event) = self.mux.poll_event() {
                return Some(event);
            }
            let n = self.io.read(&mut self.buf).await.ok()?;
            if n == 0 {
                return None;
            }
            self.stream.on_bytes(&self.buf[..n], 0).ok()?;
            self.pull_events().ok()?;
            self.write_out().await;
        }
    }

    /// Reads until the remote hangs up.
    async fn drain(&mut self) {
        while self.next_event().await.is_some() {}
    }

    /// The capability the responder expects from us for `key`.
    fn capability(&self, key: &Hash) -> Hash {
        caps::replicate(true, key, &self.handshake_hash)
    }

    /// Opens `core`'s replication channel with this handshake payload.
    async fn open_core_raw(&mut self, core: &Shared, handshake: &[u8]) -> ChannelId {
        let dk = core.discovery_key();
        let spec = ChannelSpec { protocol: PROTOCOL, aliases: &[PROTOCOL_ALIAS], id: Some(&dk), handshake };
        let channel = self.mux.open(spec).unwrap();
        self.write_out().await;
        channel
    }

    async fn open_core(&mut self, core: &Shared, capability: Hash) -> ChannelId {
        self.open_core_raw(core, &ChannelHandshake { seeks: false, capability }.to_bytes()).await
    }

    /// Waits until `channel` is open on both sides.
    async fn wait_opened(&mut self, channel: ChannelId) {
        loop {
            match self.next_event().await.expect("remote hung up") {
                MuxEvent::Opened { channel: c, .. } if c == channel => return,
                MuxEvent::Closed { channel: c, .. } if c == channel => {
                    panic!("channel closed before opening")
                }
                _ => {}
            }
        }
    }

    /// Waits for the remote to close `channel`.
    async fn wait_closed(&mut self, channel: ChannelId) {
        loop {
            match self.next_event().await.expect("remote hung up") {
                MuxEvent::Closed { channel: c, remote } if c == channel => return assert!(remote),
                _ => {}
            }
        }
    }

    /// Sends a `hypercore/alpha` message.
    async fn send(&mut self, channel: ChannelId, message: &Message) {
        let mut payload = Vec::new();
        message.encode(&mut payload);
        self.send_typed(channel, message.message_type(), &payload).await;
    }

    async fn send_typed(&mut self, channel: ChannelId, message_type: u64, payload: &[u8]) {
        self.mux.send(channel, message_type, payload).unwrap();
        self.write_out().await;
    }

    /// Sends one secret-stream message that is not made by the mux.
    async fn send_frame(&mut self, frame: &[u8]) {
        self.stream.send(frame).unwrap();
        self.write_out().await;
    }
}

/// A replica set served over a connection to a hand-made peer: returns the peer and the
/// replica's connection task.
async fn raw_connection(set: &Set) -> (RawPeer, JoinHandle<Outcome>, Arc<Mutex<Tap>>) {
    let (io_peer, io_victim) = tokio::io::duplex(PIPE_BYTES);
    let (task, tap) = spawn_end(set, io_victim, ConnectionOptions::new(false), None);
    (RawPeer::connect(io_peer).await, task, tap)
}

/// Hangs up on the replica and returns how its connection ended.
async fn hang_up(peer: RawPeer, task: JoinHandle<Outcome>) -> Outcome {
    drop(peer);
    task.await.expect("the connection task panicked")
}

/// A writer and an empty replica that wants everything.
async fn victim(seed: u8, n: u64) -> (Set, Shared, Set, Shared) {
    let (w_set, w) = writer_set(seed, false, n).await;
    let (r_set, r) = reader_set(&w).await;
    (w_set, w, r_set, r)
}

/// The proof `w` gives for `request`, as a `data` message.
async fn answer(w: &Shared, request: &Request) -> Data {
    let core = w.lock().await;
    let proof = core.proof(&proof_request(request)).await.unwrap();
    Data {
        request: request.id,
        proof,
        manifest: if request.manifest { core.manifest_for_peer() } else { None },
    }
}

/// A request for block `index`, with `nodes` tree nodes, and maybe an upgrade from 0.
fn block_request(id: u64, index: u64, nodes: u64, upgrade_to: Option<u64>) -> Request {
    Request {
        id,
        block: Some(RequestIndex { index, nodes }),
        upgrade: upgrade_to.map(|length| RequestUpgrade { start: 0, length }),
        manifest: upgrade_to.is_some(),
        ..Request::default()
    }
}

#[test]
fn invalid_capability_ends_the_connection() {
    run(async {
        let (w_set, w, r_set, r) = victim(11, 40).await;
        let bad: [fn(&RawPeer, &Hash) -> Vec<u8>; 4] = [
            // The responder's capability (a reflected handshake).
            |p, key| {
                ChannelHandshake { seeks: false, capability: caps::replicate(false, key, &p.handshake_hash) }
                    .to_bytes()
            },
            // Another core's key for the same discovery key: only the key holder can compute it.
            |p, _| ChannelHandshake { seeks: true, capability: p.capability(&[3; 32]) }.to_bytes(),
            |_, _| ChannelHandshake { seeks: false, capability: [0; 32] }.to_bytes(),
            // Not a handshake at all.
            |_, _| vec![1],
        ];
        for make in bad {
            let (mut peer, task, _) = raw_connection(&r_set).await;
            let handshake = make(&peer, &w.key());
            let channel = peer.open_core_raw(&w, &handshake).await;
            // A valid answer to a request never made, right behind the open: never applied.
            let data = answer(&w, &block_request(1, 0, 0, Some(40))).await;
            peer.send(channel, &Message::Data(data)).await;
            peer.drain().await;
            let outcome = hang_up(peer, task).await;
            assert!(matches!(outcome, Err(ConnectionError::InvalidCapability)), "{outcome:?}");
            assert_eq!(outcome.unwrap_err().code(), "INVALID_CAPABILITY");
            assert_untouched(&r).await;
        }
        honest_download(&r_set, &w_set, &w, &r).await;
    });
}

/// A tiny deterministic generator for garbage.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn invalid_protomux_frames_end_the_connection() {
    run(async {
        let (w_set, w, r_set, r) = victim(12, 30).await;
        let cases: [(&[u8], &str); 5] = [
            // open with remote id 0
            (&[0, 1, 0, 1, b'x', 0], "INVALID_OPEN"),
            // open for id 9 while the remote used none
            (&[0, 1, 9, 1, b'x', 0], "INVALID_OPEN"),
            // reject of a channel we never opened
            (&[0, 2, 7], "INVALID_REJECT"),
            // open cut short
            (&[0, 1, 1, 50, b'a'], "DECODING_ERROR"),
            // batch without its channel
            (&[0, 0], "DECODING_ERROR"),
        ];
        for (frame, code) in cases {
            let (mut peer, task, _) = raw_connection(&r_set).await;
            peer.send_frame(frame).await;
            peer.drain().await;
            match hang_up(peer, task).await {
                Err(e @ ConnectionError::Mux(_)) => assert_eq!(e.code(), code, "{frame:?}: {e}"),
                other => panic!("{frame:?}: {other:?}"),
            }
            assert_untouched(&r).await;
        }
        // Random frames: whatever they decode to, the connection ends cleanly or with a mux
        // error, never by a panic, and nothing is stored.
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut errors = 0;
        for _ in 0..12 {
            let (mut peer, task, _) = raw_connection(&r_set).await;
            for _ in 0..10 {
                let len = 2 + rng.next() as usize % 64;
                let mut frame = rng.bytes(len);
                // Mostly control messages (channel 0, types 0..3), some for channels 1 and 2.
                frame[0] %= 3;
                frame[1] %= 4;
                peer.send_frame(&frame).await;
            }
            let outcome = hang_up(peer, task).await;
            match outcome {
                Ok(stats) => assert!(stats.peers_closed.is_empty()),
                Err(ConnectionError::Mux(_)) => errors += 1,
                Err(e) => panic!("{e}"),
            }
            assert_untouched(&r).await;
        }
        assert!(errors > 6, "most random control frames are protocol violations ({errors})");
        honest_download(&r_set, &w_set, &w, &r).await;
    });
}

#[test]
fn oversized_or_corrupt_transport_frames_end_the_connection() {
    run(async {
        let (w_set, w, r_set, r) = victim(13, 30).await;
        // The largest frame the length header allows, full of garbage: held, then refused.
        let (mut peer, task, _) = raw_connection(&r_set).await;
        let len = 0xff_ffff;
        let mut frame = vec![0xff, 0xff, 0xff];
        frame.extend(XorShift(7).bytes(len));
        peer.io.write_all(&frame).await.unwrap();
        peer.drain().await;
        let outcome = hang_up(peer, task).await;
        assert_eq!(
            outcome.as_ref().map_err(ConnectionError::code).err(),
            Some("DECRYPT_FAILED"),
            "{outcome:?}"
        );
        assert_untouched(&r).await;
        // A frame too short to be a secretstream message.
        let (mut peer, task, _) = raw_connection(&r_set).await;
        peer.io.write_all(&[3, 0, 0, 1, 2, 3]).await.unwrap();
        peer.drain().await;
        let outcome = hang_up(peer, task).await;
        assert_eq!(
            outcome.as_ref().map_err(ConnectionError::code).err(),
            Some("INVALID_MESSAGE"),
            "{outcome:?}"
        );
        assert_untouched(&r).await;
        honest_download(&r_set, &w_set, &w, &r).await;
    });
}

#[test]
fn bad_replication_messages_close_only_that_peer() {
    run(async {
        let (w_set, w, r_set, r) = victim(14, 30).await;

        // An unknown message type is ignored (as JS does); then `data` for a request the
        // replica never made closes the channel, even though the proof itself is valid.
        let (mut peer, task, _) = raw_connection(&r_set).await;
        let channel = peer.open_core(&w, peer.capability(&w.key())).await;
        peer.wait_opened(channel).await;
        peer.send_typed(channel, 42, b"from the future").await;
        let data = answer(&w, &block_request(77, 0, 0, Some(30))).await;
        peer.send(channel, &Message::Data(data)).await;
        peer.wait_closed(channel).await;
        let stats = hang_up(peer, task).await.unwrap();
        assert_eq!(stats.peers_closed, ["data for unknown request 77"]);
        assert_untouched(&r).await;

        // A message that does not decode.
        let (mut peer, task, _) = raw_connection(&r_set).await;
        let channel = peer.open_core(&w, peer.capability(&w.key())).await;
        peer.wait_opened(channel).await;
        peer.send_typed(channel, 3, &[0xff, 0xff, 0xff]).await;
        peer.wait_closed(channel).await;
        let stats = hang_up(peer, task).await.unwrap();
        assert_eq!(stats.peers_closed.len(), 1);
        assert!(stats.peers_closed[0].starts_with("undecodable message type 3"), "{:?}", stats.peers_closed);
        assert_untouched(&r).await;

        // A huge `data` (a 2 MiB block) answering nothing.
        let (mut peer, task, _) = raw_connection(&r_set).await;
        let channel = peer.open_core(&w, peer.capability(&w.key())).await;
        peer.wait_opened(channel).await;
        let mut data = answer(&w, &block_request(5, 0, 0, Some(30))).await;
        data.proof.block.as_mut().unwrap().value = vec![1; 2 << 20];
        peer.send(channel, &Message::Data(data)).await;
        peer.wait_closed(channel).await;
        let stats = hang_up(peer, task).await.unwrap();
        assert_eq!(stats.peers_closed, ["data for unknown request 5"]);
        assert_untouched(&r).await;

        honest_download(&r_set, &w_set, &w, &r).await;
    });
}

#[test]
fn forged_block_is_not_stored_and_an_honest_peer_finishes() {
    run(async {
        const N: u64 = 30;
        let (w_set, w, r_set, r) = victim(15, N).await;
        let (mut peer, task, _) = raw_connection(&r_set).await;
        let channel = peer.open_core(&w, peer.capability(&w.key())).await;
        peer.wait_opened(channel).await;
        // Claim the whole core, then answer the replica's first block request with a
        // tampered block (under a genuine upgrade).
        let range = Range { drop: false, start: 0, length: N };
        peer.send(channel, &Message::Range(range)).await;
        let sync =
            Sync { length: N, can_upgrade: true, uploading: true, has_manifest: true, ..Sync::default() };
        peer.send(channel, &Message::Sync(sync)).await;
        let request = loop {
            match peer.next_event().await.expect("remote hung up") {
                MuxEvent::Message { channel: c, message_type: 1, payload } if c == channel => {
                    let Message::Request(q) = Message::decode(1, &payload).unwrap() else { unreachable!() };
                    break q;
                }
                _ => {}
            }
        };
        assert!(request.block.is_some() && request.upgrade.is_some(), "{request:?}");
        let mut data = answer(&w, &request).await;
        data.proof.block.as_mut().unwrap().value[0] ^= 1;
        peer.send(channel, &Message::Data(data)).await;
        peer.wait_closed(channel).await;
        let stats = hang_up(peer, task).await.unwrap();
        assert_eq!(stats.peers_closed.len(), 1, "{:?}", stats.peers_closed);
        assert!(stats.peers_closed[0].starts_with("peer sent invalid data"), "{:?}", stats.peers_closed);
        assert_eq!(stats.blocks_downloaded, 0);
        assert_untouched(&r).await;
        honest_download(&r_set, &w_set, &w, &r).await;
    });
}

#[test]
fn a_peer_that_does_not_read_cannot_make_us_buffer() {
    run(async {
        // 5 MiB of blocks, more than the high-water mark, in a tree of depth 7.
        const N: u64 = 128;
        const SIZE: usize = 40 << 10;
        let w_set = Set::new();
        let mut core = Core::create(
            MemoryStorage::new(),
            CreateOptions { key_pair: Some(KeyPair::from_seed(&[16; 32])), ..CreateOptions::default() },
        )
        .await
        .unwrap();
        let blocks: Vec<Vec<u8>> = (0..N).map(|i| vec![i as u8; SIZE]).collect();
        core.append_batch(&blocks).await.unwrap();
        let w = w_set.insert(core);
        let (mut peer, task, tap) = raw_connection(&w_set).await;
        let channel = peer.open_core(&w, peer.capability(&w.key())).await;
        peer.wait_opened(channel).await;
        // Stop reading, and ask for everything.
        peer.send(channel, &Message::Request(block_request(1, 0, 0, Some(N)))).await;
        // Pipelined, as JS does: each asks for the nodes up to the root it will know.
        for i in 1..N {
            peer.send(channel, &Message::Request(block_request(i + 1, i, 7, None))).await;
        }
        // Wait until the server has read every request and gone idle, its writer stuck on
        // the full pipe.
        let written = peer.written;
        while tap.lock().unwrap().idle_at != Some(written) {
            tokio::task::yield_now().await;
        }
        // Now read: every block arrives, and verifies.
        let mut replica = remote_core(w.key()).await;
        let mut received = 0;
        while received < N {
            match peer.next_event().await.expect("server hung up") {
                MuxEvent::Message { channel: c, message_type: 3, payload } if c == channel => {
                    let Message::Data(data) = Message::decode(3, &payload).unwrap() else { unreachable!() };
                    assert_eq!(data.request, received + 1, "answers come in order");
                    replica.apply_proof(&data.proof, data.manifest.as_deref()).await.unwrap();
                    received += 1;
                }
                MuxEvent::Message { message_type: 4, payload, .. } => {
                    panic!("no-data: {:?}", Message::decode(4, &payload));
                }
                _ => {}
            }
        }
        assert_eq!((replica.length(), replica.info().blocks_stored), (N, N));
        assert_eq!(replica.get(N - 1).await.unwrap(), Some(vec![(N - 1) as u8; SIZE]));
        let stats = hang_up(peer, task).await.unwrap();
        assert_eq!(stats.blocks_uploaded, N);
        // The queue filled up to the high-water mark, and not much further.
        let (max, slack) = (stats.max_queued_bytes as usize, 4 * SIZE);
        assert!(max >= HIGH_WATER_BYTES - slack, "{max}");
        assert!(max <= HIGH_WATER_BYTES + slack, "queued {max} bytes for a peer that did not read");
    });
}
