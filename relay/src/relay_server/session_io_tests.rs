//! The session task's bookkeeping of its DHT tasks, driven by hand: events and asks queued by
//! a task that was cancelled (or closed) before its id was reused must not reach the new task.
//! The spawned tasks never run (a current-thread runtime that is not yielded to), so the
//! stale events are injected exactly where a real race would put them.

#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use hyperwasm::relay_protocol::messages::Message;

use super::*;
use crate::dht::DhtConfig;
use crate::relay_server::query_permits::QueryPermits;
use crate::relay_server::session::SessionConfig;
use tokio::sync::Semaphore;

async fn task() -> (SessionTask, mpsc::UnboundedReceiver<SocketOut>) {
    let (t, rx, _) = task_with_inbox().await;
    (t, rx)
}

async fn task_with_inbox(
) -> (SessionTask, mpsc::UnboundedReceiver<SocketOut>, mpsc::UnboundedSender<SessionIn>) {
    let mut cfg = DhtConfig::client(Vec::new());
    cfg.bind = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
    let dht = Dht::bind(cfg).await.unwrap();
    let mut session = Session::new(SessionConfig::default(), [1; 32], 0);
    while session.poll_transmit().is_some() {} // welcome
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (in_tx, inbox) = mpsc::unbounded_channel();
    let permits = QueryPermits::new(QueryPermits::global(4), Arc::new(Semaphore::new(4)));
    let t = SessionTask::new(
        session,
        (dht, permits),
        Arc::new(Metrics::default()),
        Instant::now(),
        (1, out_tx),
        inbox,
    );
    (t, out_rx, in_tx)
}

fn client(t: &mut SessionTask, m: Message) {
    let (ty, p) = m.encode();
    t.session.handle_frame(ty, &p, 1);
    t.pump();
}

fn sent(rx: &mut mpsc::UnboundedReceiver<SocketOut>) -> Vec<Message> {
    let mut v = Vec::new();
    while let Ok(SocketOut::Frame(ty, p)) = rx.try_recv() {
        let m = Message::decode(ty, &p).unwrap();
        if !matches!(m, Message::Ack { .. } | Message::Ping | Message::Pong) {
            v.push(m);
        }
    }
    v
}

fn gen_of(t: &SessionTask, key: u64) -> u64 {
    t.tasks.get(&key).map(|(g, _)| *g).unwrap()
}

#[tokio::test]
async fn a_cancelled_querys_late_events_never_reach_the_query_that_reuses_its_id() {
    let (mut t, mut rx) = task().await;
    client(&mut t, Message::Lookup { id: 5, topic: [1; 32] });
    let old = gen_of(&t, 5);
    client(&mut t, Message::Cancel { id: 5 });
    assert_eq!(sent(&mut rx), vec![Message::Done { id: 5, commits: 0 }]);
    client(&mut t, Message::Lookup { id: 5, topic: [2; 32] });
    let new = gen_of(&t, 5);
    assert_ne!(old, new);

    // What the old task queued before it was aborted arrives now.
    let from = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1);
    t.on_internal(Internal::Dht(old, DhtEvent::QueryReply { id: 5, from, peers: Vec::new() }));
    t.on_internal(Internal::Dht(old, DhtEvent::QueryDone { id: 5, commits: 3 }));
    t.pump();
    assert_eq!(sent(&mut rx), Vec::<Message>::new(), "the old query's events reached the new one");
    assert_eq!(gen_of(&t, 5), new, "a stale QueryDone removed the new query's task");
    assert_eq!(t.session.counts().2, 1);

    // The new task's own events go through, and its end removes it.
    t.on_internal(Internal::Dht(new, DhtEvent::QueryReply { id: 5, from, peers: Vec::new() }));
    t.on_internal(Internal::Dht(new, DhtEvent::QueryDone { id: 5, commits: 0 }));
    t.pump();
    assert_eq!(
        sent(&mut rx),
        vec![Message::Result { id: 5, from, peers: Vec::new() }, Message::Done { id: 5, commits: 0 }]
    );
    assert!(!t.tasks.contains_key(&5));
    t.shutdown();
}

#[tokio::test]
async fn a_closed_dials_late_asks_and_failure_never_reach_the_dial_that_reuses_its_id() {
    let (mut t, mut rx) = task().await;
    let connect = || Message::Connect {
        stream: 3,
        remote_public_key: [4; 32],
        public_key: [5; 32],
        relay_addresses: Vec::new(),
    };
    client(&mut t, connect());
    let key = TAG_DIAL | 3;
    let old = gen_of(&t, key);
    client(&mut t, Message::Close { stream: 3, code: String::new() });
    client(&mut t, connect());
    let new = gen_of(&t, key);
    assert_ne!(old, new);
    assert_eq!(sent(&mut rx), Vec::<Message>::new());

    // The old dial's ask is refused (its reply dropped), not shown to the client.
    let (reply, mut answer) = oneshot::channel();
    let ask = Ask::InitiatorMessage { local_payload: NoisePayload::default(), reply };
    t.on_ask(Asked { tag: delegate_tag(key, old), ask });
    t.pump();
    assert!(answer.try_recv().is_err(), "a stale ask was kept");
    assert_eq!(sent(&mut rx), Vec::<Message>::new(), "a stale ask reached the client");
    // Its failure does not close the new dial.
    t.on_internal(Internal::Dht(old, DhtEvent::ConnectFailed { stream: 3, code: "PEER_NOT_FOUND".into() }));
    t.pump();
    assert_eq!(sent(&mut rx), Vec::<Message>::new(), "a stale failure closed the new dial");
    assert_eq!(gen_of(&t, key), new);

    // The new dial's ask and failure go through.
    let (reply, _answer) = oneshot::channel();
    let ask = Ask::InitiatorMessage { local_payload: NoisePayload::default(), reply };
    t.on_ask(Asked { tag: delegate_tag(key, new), ask });
    t.on_internal(Internal::Dht(new, DhtEvent::ConnectFailed { stream: 3, code: "PEER_NOT_FOUND".into() }));
    t.pump();
    let got = sent(&mut rx);
    assert!(
        matches!(&got[..], [Message::NoiseInit { stream: 3, .. }, Message::Close { stream: 3, code }] if code == "PEER_NOT_FOUND"),
        "{got:?}"
    );
    t.shutdown();
}

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// What the test client got so far.
#[derive(Default)]
struct Got {
    sequenced: u64,
    data: Vec<u8>,
    ungranted: u64,
    ended: bool,
}

/// Takes the relay's frames until none came for `quiet`; grants credit for the data (as a
/// client consuming it does) and, if `ack`, acknowledges everything.
async fn take(
    rx: &mut mpsc::UnboundedReceiver<SocketOut>,
    tx: &mpsc::UnboundedSender<SessionIn>,
    got: &mut Got,
    ack: bool,
    quiet: Duration,
) {
    let frame = |m: Message| {
        let (ty, p) = m.encode();
        SessionIn::Frame(1, ty, p)
    };
    while let Ok(Some(out)) = tokio::time::timeout(quiet, rx.recv()).await {
        let SocketOut::Frame(ty, p) = out else { panic!("the socket was closed: {out:?}") };
        let m = Message::decode(ty, &p).unwrap();
        if m.is_sequenced() {
            got.sequenced += 1;
        }
        match m {
            Message::Data { stream: 3, bytes } => {
                got.ungranted += bytes.len() as u64;
                got.data.extend_from_slice(&bytes);
                if got.ungranted >= 256 << 10 {
                    tx.send(frame(Message::Credit { stream: 3, bytes: std::mem::take(&mut got.ungranted) }))
                        .unwrap();
                }
                if ack {
                    tx.send(frame(Message::Ack { received: got.sequenced })).unwrap();
                }
            }
            Message::End { stream: 3 } => got.ended = true,
            _ => {}
        }
        if got.ended {
            return;
        }
    }
}

/// Dials `stream` and, instead of the DHT, "connects" it to an in-memory pipe of `size`
/// bytes; returns the pipe's far end (the peer) with the stream open at the client.
fn dial_to_pipe(t: &mut SessionTask, stream: u32, size: usize) -> tokio::io::DuplexStream {
    let connect = Message::Connect {
        stream,
        remote_public_key: [4; 32],
        public_key: [5; 32],
        relay_addresses: Vec::new(),
    };
    client(t, connect);
    t.abort_task(TAG_DIAL | u64::from(stream));
    let (ours, peer) = tokio::io::duplex(size);
    let (r, w) = tokio::io::split(ours);
    t.start_pumps(stream, r, w);
    let remote_address = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1);
    t.session.handle_dht(DhtEvent::Opened { stream, remote_address }, 1);
    t.pump();
    peer
}

/// PROTOCOL.md §4: a client that grants credit but never acks gets at most about the replay
/// high-water mark of stream data (the relay stops reading the stream), and everything else
/// once it acks; the session is never ended for it.
#[tokio::test]
async fn a_client_that_never_acks_gets_at_most_the_high_water_mark_then_the_rest_after_acking() {
    const TOTAL: usize = 3 * REPLAY_HIGH_WATER;
    let (mut t, mut rx, tx) = task_with_inbox().await;
    // The dial "connected" to a local pipe whose far end is the peer.
    let mut peer = dial_to_pipe(&mut t, 3, 64 << 10);
    let peer_task = tokio::spawn(async move {
        let all: Vec<u8> = (0..TOTAL).map(pattern).collect();
        peer.write_all(&all).await.unwrap();
        peer.shutdown().await.unwrap();
        peer // keep the pipe open
    });
    let session = tokio::spawn(t.run());

    let mut got = Got::default();
    take(&mut rx, &tx, &mut got, false, Duration::from_millis(500)).await;
    let first = got.data.len();
    assert!(first <= REPLAY_HIGH_WATER + MAX_DATA_LEN, "{first} bytes sent to a client that never acked");
    assert!(first >= REPLAY_HIGH_WATER - (1 << 20), "only {first} bytes were sent before the mark");
    assert!(!got.ended);

    // Acking resumes the stream: everything arrives, in order, and the stream ends.
    tx.send({
        let (ty, p) = Message::Ack { received: got.sequenced }.encode();
        SessionIn::Frame(1, ty, p)
    })
    .unwrap();
    take(&mut rx, &tx, &mut got, true, Duration::from_secs(10)).await;
    assert!(got.ended, "the stream did not end after {} bytes", got.data.len());
    assert_eq!(got.data.len(), TOTAL);
    assert!(got.data.iter().enumerate().all(|(i, b)| *b == pattern(i)));
    drop(tx);
    session.await.unwrap();
    drop(peer_task.await.unwrap());
}

/// A stream whose two sides ended is released: its writer may still be flushing to the peer.
/// When the session ends, that writer goes too (a peer that never reads must not keep it).
#[tokio::test]
async fn a_released_writer_stuck_on_a_peer_that_never_reads_ends_with_the_session() {
    let (mut t, mut rx) = task().await;
    let mut peer = dial_to_pipe(&mut t, 3, 16 << 10);
    // 64 KiB for a pipe of 16 KiB nobody reads, then both sides end.
    client(&mut t, Message::Data { stream: 3, bytes: vec![1; 64 << 10] });
    client(&mut t, Message::End { stream: 3 });
    peer.shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    while let Ok(i) = t.internal.try_recv() {
        t.on_internal(i);
    }
    t.pump();
    let got = sent(&mut rx);
    assert!(got.contains(&Message::Close { stream: 3, code: String::new() }), "{got:?}");
    assert!(t.streams.is_empty());
    assert_eq!(t.released.len(), 1);

    t.shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut read = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), peer.read_to_end(&mut read)).await.unwrap().unwrap();
    assert!(read.len() < 64 << 10, "the released writer kept writing after the session ended");
}
