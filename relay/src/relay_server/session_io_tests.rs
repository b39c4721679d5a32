//! The session task's bookkeeping of its DHT tasks, driven by hand: events and asks queued by
//! a task that was cancelled (or closed) before its id was reused must not reach the new task.
//! The spawned tasks never run (a current-thread runtime that is not yielded to), so the
//! stale events are injected exactly where a real race would put them.

#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddrV4};

use hyperwasm::relay_protocol::messages::Message;

use super::*;
use crate::dht::DhtConfig;
use crate::relay_server::session::SessionConfig;

async fn task() -> (SessionTask, mpsc::UnboundedReceiver<SocketOut>) {
    let mut cfg = DhtConfig::client(Vec::new());
    cfg.bind = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
    let dht = Dht::bind(cfg).await.unwrap();
    let mut session = Session::new(SessionConfig::default(), [1; 32], 0);
    while session.poll_transmit().is_some() {} // welcome
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (_in_tx, inbox) = mpsc::unbounded_channel();
    let permits = Arc::new(Semaphore::new(4));
    let t = SessionTask::new(
        session,
        (dht, permits),
        Arc::new(Metrics::default()),
        Instant::now(),
        (1, out_tx),
        inbox,
    );
    (t, out_rx)
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
