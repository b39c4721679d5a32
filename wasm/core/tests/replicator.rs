//! Replication between real cores: several `Replicator`s wired by passing messages, with
//! every `Serve`/`Apply` run against `Hypercore<MemoryStorage>`.
#![allow(clippy::unwrap_used, missing_docs)]

use futures::executor::block_on;
use hyperwasm::core::{CreateOptions, Hypercore};
use hyperwasm::crypto::KeyPair;
use hyperwasm::replicator::messages::{
    Bitfield, ChannelHandshake, Data, Message, NoDataReason, Range, Request, Sync, Want,
};
use hyperwasm::replicator::{
    proof_request, Action, DownloadRange, LocalChange, PeerId, Replicator, ReplicatorError,
    ReplicatorOptions, WANT_BATCH,
};
use hyperwasm::storage::memory::MemoryStorage;
use hyperwasm::tree::proof::{ProofRequest, RequestUpgrade};
use std::collections::VecDeque;

type Core = Hypercore<MemoryStorage>;

fn block(i: u64) -> Vec<u8> {
    (0..(16 + i * 13 % 200)).map(|j| (i * 7 + j * 3) as u8).collect()
}

fn kp(n: u8) -> KeyPair {
    KeyPair::from_seed(&[n; 32])
}

fn writer(blocks: u64, compat: bool) -> Core {
    let mut core = block_on(Core::create(
        MemoryStorage::new(),
        CreateOptions { key_pair: Some(kp(1)), manifest: None, compat },
    ))
    .unwrap();
    append(&mut core, 0..blocks);
    core
}

fn append(core: &mut Core, range: std::ops::Range<u64>) {
    let batch: Vec<Vec<u8>> = range.map(block).collect();
    if !batch.is_empty() {
        block_on(core.append_batch(&batch)).unwrap();
    }
}

fn reader_of(core: &Core) -> Core {
    block_on(Core::create_remote(MemoryStorage::new(), *core.key())).unwrap()
}

fn handshake() -> ChannelHandshake {
    ChannelHandshake { seeks: true, capability: [0; 32] }
}

/// What crosses the channel: every message goes through the wire codec
/// (`Message::encode` + `Message::decode`) and must come back unchanged, so these tests
/// cover the codec with every message the replicator really sends.
fn wire(message: Message) -> Message {
    let mut payload = Vec::new();
    message.encode(&mut payload);
    let decoded = Message::decode(message.message_type(), &payload)
        .unwrap_or_else(|e| panic!("{message:?} does not decode: {e}"));
    assert_eq!(decoded, message, "codec round trip");
    decoded
}

/// One core and its replicator.
struct Node {
    core: Core,
    repl: Replicator,
    /// Serves are held instead of run (to interleave cancels).
    hold_serves: bool,
    held: Vec<(PeerId, Request)>,
    extensions: Vec<(PeerId, String, Vec<u8>)>,
    closed: Vec<(PeerId, ReplicatorError)>,
}

impl Node {
    fn new(core: Core) -> Self {
        Self::with_options(core, ReplicatorOptions::default())
    }

    fn with_options(core: Core, opts: ReplicatorOptions) -> Self {
        Node {
            core,
            repl: Replicator::with_options(opts),
            hold_serves: false,
            held: Vec::new(),
            extensions: Vec::new(),
            closed: Vec::new(),
        }
    }

    fn serve(&mut self, peer: PeerId, request: Request) {
        let result = block_on(self.core.proof(&proof_request(&request)));
        self.repl.on_proof(&self.core, peer, request, result);
    }
}

/// A channel between two nodes; each side knows it as peer `id`.
struct Link {
    a: usize,
    b: usize,
    open: bool,
}

type Tamper = Box<dyn FnMut(usize, &mut Message)>;

/// Nodes, channels and the messages in flight, delivered in order.
#[derive(Default)]
struct Net {
    nodes: Vec<Node>,
    links: Vec<Link>,
    wire: VecDeque<(usize, usize, PeerId, Message)>,
    /// Every message delivered: (from, to, message).
    log: Vec<(usize, usize, Message)>,
    /// Keep no log (throughput runs).
    quiet: bool,
    tamper: Option<Tamper>,
}

impl Net {
    fn add(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn connect(&mut self, a: usize, b: usize) -> PeerId {
        let id = self.links.len() as PeerId + 1;
        self.links.push(Link { a, b, open: true });
        for (me, _) in [(a, b), (b, a)] {
            let n = &mut self.nodes[me];
            n.repl.add_peer(&n.core, id, &handshake());
        }
        id
    }

    /// Closes channel `id` on both sides.
    fn disconnect(&mut self, id: PeerId) {
        let link = &mut self.links[id as usize - 1];
        if !link.open {
            return;
        }
        link.open = false;
        let (a, b) = (link.a, link.b);
        for me in [a, b] {
            let n = &mut self.nodes[me];
            n.repl.remove_peer(&n.core, id);
        }
    }

    fn other(&self, me: usize, id: PeerId) -> Option<usize> {
        let link = self.links.get(id as usize - 1)?;
        if !link.open {
            return None;
        }
        Some(if link.a == me { link.b } else { link.a })
    }

    /// Runs every node's pending actions.
    fn drain(&mut self) -> bool {
        let mut any = false;
        for i in 0..self.nodes.len() {
            while let Some(action) = self.nodes[i].repl.poll_action() {
                any = true;
                self.act(i, action);
            }
        }
        any
    }

    fn act(&mut self, i: usize, action: Action) {
        match action {
            Action::Send { peer, message } => {
                let mut message = wire(message);
                if let Some(to) = self.other(i, peer) {
                    if let Some(t) = self.tamper.as_mut() {
                        t(i, &mut message);
                    }
                    self.wire.push_back((i, to, peer, message));
                }
            }
            Action::Serve { peer, request } => {
                let n = &mut self.nodes[i];
                if n.hold_serves {
                    n.held.push((peer, request));
                } else {
                    n.serve(peer, request);
                }
            }
            Action::Apply { peer, data, reorg } => {
                let n = &mut self.nodes[i];
                let result = if reorg {
                    block_on(n.core.reorg(&data.proof, data.manifest.as_deref()))
                } else {
                    block_on(n.core.apply_proof(&data.proof, data.manifest.as_deref()))
                };
                n.repl.on_applied(&n.core, peer, data.request, result);
            }
            Action::Close { peer, reason } => {
                self.nodes[i].closed.push((peer, reason));
                self.disconnect(peer);
            }
            Action::Extension { peer, name, message } => self.nodes[i].extensions.push((peer, name, message)),
        }
    }

    /// Delivers one message; false when none is in flight.
    fn deliver_one(&mut self) -> bool {
        let Some((from, to, peer, message)) = self.wire.pop_front() else { return false };
        if self.other(to, peer) != Some(from) {
            return true;
        }
        if !self.quiet {
            self.log.push((from, to, message.clone()));
        }
        let n = &mut self.nodes[to];
        n.repl.on_message(&n.core, peer, message);
        true
    }

    /// Runs until nothing moves (or `max` deliveries).
    fn run(&mut self, max: usize) -> usize {
        let mut steps = 0;
        loop {
            self.drain();
            if steps >= max || !self.deliver_one() {
                return steps;
            }
            steps += 1;
        }
    }

    fn core(&self, i: usize) -> &Core {
        &self.nodes[i].core
    }

    fn messages(&self, from: usize, to: usize) -> impl Iterator<Item = &Message> {
        self.log.iter().filter(move |(f, t, _)| *f == from && *t == to).map(|(_, _, m)| m)
    }
}

fn assert_same(a: &Core, b: &Core, range: std::ops::Range<u64>) {
    assert_eq!(a.fork(), b.fork());
    assert_eq!(a.length(), b.length());
    assert_eq!(a.tree().hash(), b.tree().hash(), "tree hashes differ");
    for i in range {
        assert_eq!(block_on(b.get(i)).unwrap(), block_on(a.get(i)).unwrap(), "block {i}");
    }
}

#[test]
fn full_download() {
    let mut net = Net::default();
    let w = net.add(Node::new(writer(300, false)));
    let r = net.add(Node::new(reader_of(net.core(w))));
    net.connect(w, r);
    let n = &mut net.nodes[r];
    n.repl.download(&n.core, DownloadRange::range(0, 300));
    net.run(100_000);
    let reader = net.core(r);
    assert_eq!(reader.length(), 300);
    assert_eq!(reader.contiguous_length(), 300);
    assert_same(net.core(w), reader, 0..300);
    assert!(net.nodes[r].repl.is_done(reader));
    assert_eq!(net.nodes[r].repl.stats().blocks_downloaded, 300);
    assert_eq!(net.nodes[w].repl.stats().blocks_uploaded, 300);
    assert!(net.nodes[r].closed.is_empty() && net.nodes[w].closed.is_empty());
    // A single sync + range opens the channel on each side.
    let first: Vec<_> = net.messages(w, r).take(2).cloned().collect();
    assert!(matches!(first[0], Message::Sync(Sync { length: 300, can_upgrade: true, .. })));
    assert_eq!(first[1], Message::Range(Range { drop: false, start: 0, length: 300 }));
}

#[test]
fn sparse_range() {
    let mut net = Net::default();
    let w = net.add(Node::new(writer(1000, false)));
    let r = net.add(Node::new(reader_of(net.core(w))));
    net.connect(w, r);
    let n = &mut net.nodes[r];
    n.repl.download(&n.core, DownloadRange::range(400, 450));
    net.run(100_000);
    let reader = net.core(r);
    assert_eq!(reader.length(), 1000);
    assert_eq!(reader.info().blocks_stored, 50);
    for i in [0, 399, 450, 999] {
        assert!(!reader.has(i), "block {i} was not asked for");
    }
    for i in 400..450 {
        assert_eq!(block_on(reader.get(i)).unwrap(), Some(block(i)));
    }
    assert!(net.nodes[r].repl.is_done(reader));
}

#[test]
fn live_appends_during_replication() {
    let mut net = Net::default();
    let w = net.add(Node::new(writer(50, false)));
    let r = net.add(Node::new(reader_of(net.core(w))));
    net.connect(w, r);
    let n = &mut net.nodes[r];
    n.repl.download(&n.core, DownloadRange::live());
    for round in 0..5u64 {
        net.run(60);
        let n = &mut net.nodes[w];
        let len = n.core.length();
        append(&mut n.core, len..len + 37 + round);
        n.repl.on_local_change(&n.core, LocalChange::Appended { length: n.core.length() });
    }
    net.run(100_000);
    let end = net.core(w).length();
    assert_eq!(end, 50 + 5 * 37 + 10);
    assert_same(net.core(w), net.core(r), 0..end);
    assert_eq!(net.core(r).contiguous_length(), end);
    assert!(net.nodes[r].repl.is_done(net.core(r)));
}

/// A second node that holds a full copy of `w`.
fn seeder(net: &mut Net, w: usize) -> usize {
    let s = net.add(Node::new(reader_of(net.core(w))));
    let id = net.connect(w, s);
    let n = &mut net.nodes[s];
    n.repl.download(&n.core, DownloadRange::live());
    net.run(1_000_000);
    net.disconnect(id);
    assert_eq!(net.core(s).contiguous_length(), net.core(w).length());
    s
}

#[test]
fn two_seeders_spread_the_blocks() {
    let mut net = Net::default();
    let w = net.add(Node::new(writer(2000, false)));
    let s = seeder(&mut net, w);
    let r = net.add(Node::with_options(
        reader_of(net.core(w)),
        ReplicatorOptions { max_inflight: 16, ..ReplicatorOptions::default() },
    ));
    let pw = net.connect(w, r);
    let ps = net.connect(s, r);
    let n = &mut net.nodes[r];
    n.repl.download(&n.core, DownloadRange::range(0, 2000));
    net.run(1_000_000);
    assert_same(net.core(w), net.core(r), 0..2000);
    let from_w = net.nodes[r].repl.peer_stats(pw).unwrap().blocks_downloaded;
    let from_s = net.nodes[r].repl.peer_stats(ps).unwrap().blocks_downloaded;
    assert_eq!(from_w + from_s, 2000);
    assert!(from_w > 500 && from_s > 500, "blocks spread: {from_w} / {from_s}");
    // Never asked twice for one block.
    assert_eq!(net.nodes[r].repl.stats().requests_sent, 2001, "2000 blocks and one upgrade");
}

#[test]
fn lying_seeder_is_closed_and_the_honest_one_finishes() {
    let mut net = Net::default();
    let w = net.add(Node::new(writer(500, false)));
    let liar = seeder(&mut net, w);
    let r = net.add(Node::with_options(
        reader_of(net.core(w)),
        ReplicatorOptions { max_inflight: 16, ..ReplicatorOptions::default() },
    ));
    let honest = net.connect(w, r);
    let bad = net.connect(liar, r);
    net.tamper = Some(Box::new(move |from, m| {
        if from == liar {
            if let Message::Data(Data { proof, .. }) = m {
                if let Some(b) = proof.block.as_mut() {
                    if let Some(x) = b.value.first_mut() {
                        *x ^= 1;
                    }
                }
            }
        }
    }));
    let n = &mut net.nodes[r];
    n.repl.download(&n.core, DownloadRange::range(0, 500));
    net.run(1_000_000);
    assert_same(net.core(w), net.core(r), 0..500);
    let closed = &net.nodes[r].closed;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].0, bad);
    assert!(matches!(closed[0].1, ReplicatorError::InvalidData(_)), "{:?}", closed[0].1);
    assert_eq!(closed[0].1.code(), "INVALID_CHECKSUM");
    assert!(net.links[honest as usize - 1].open);
    assert_eq!(net.nodes[r].repl.stats().invalid_data, 1);
}

#[test]
fn cancelled_requests_get_no_answer() {
    let mut net = Net::default();
    let w = net.add(Node::new(writer(100, false)));
    let r = net.add(Node::new(reader_of(net.core(w))));
    net.connect(w, r);
    net.run(1000);
    assert_eq!(net.core(r).length(), 100, "upgraded");
    net.nodes[w].hold_serves = true;
    let n = &mut net.nodes[r];
    let id = n.repl.download(&n.core, DownloadRange::range(0, 20));
    net.run(1000);
    assert_eq!(net.nodes[w].held.len(), 20);
    let n = &mut net.nodes[r];
    n.repl.cancel_download(&n.core, id);
    net.run(1000);
    assert_eq!(net.nodes[r].repl.stats().cancels_sent, 20);
    let n = &mut net.nodes[w];
    for (peer, request) in std::mem::take(&mut n.held) {
        n.serve(peer, request);
    }
    let data_before = net.messages(w, r).filter(|m| matches!(m, Message::Data(_))).count();
    net.run(1000);
    let data_after = net.messages(w, r).filter(|m| matches!(m, Message::Data(_))).count();
    assert_eq!(data_before, data_after, "answers to cancelled requests are dropped");
    assert_eq!(net.core(r).info().blocks_stored, 0);

    // Data racing a cancel is ignored, not punished; a new download completes.
    net.nodes[w].hold_serves = false;
    let n = &mut net.nodes[r];
    let id = n.repl.download(&n.core, DownloadRange::range(0, 10));
    net.drain();
    while net.wire.iter().any(|(_, to, _, _)| *to == w) {
        net.deliver_one();
        net.drain();
    }
    let n = &mut net.nodes[r];
    n.repl.cancel_download(&n.core, id);
    net.run(1000);
    assert!(net.nodes[r].closed.is_empty());
    assert_eq!(net.core(r).info().blocks_stored, 0);
    let n = &mut net.nodes[r];
    n.repl.download(&n.core, DownloadRange::range(0, 100));
    net.run(100_000);
    assert_same(net.core(w), net.core(r), 0..100);
}

#[test]
fn no_data_moves_the_block_to_another_peer() {
    let mut net = Net::default();
    let w = net.add(Node::new(writer(200, false)));
    let s = seeder(&mut net, w);
    let r = net.add(Node::with_options(
        reader_of(net.core(w)),
        ReplicatorOptions { max_inflight: 8, ..ReplicatorOptions::default() },
    ));
    let ps = net.connect(s, r);
    net.run(1000);
    // The seeder loses blocks it announced, without telling anyone.
    block_on(net.nodes[s].core.clear(50, 80)).unwrap();
    net.connect(w, r);
    let n = &mut net.nodes[r];
    n.repl.download(&n.core, DownloadRange::range(0, 200));
    net.run(1_000_000);
    assert_same(net.core(w), net.core(r), 0..200);
    let no_data = net
        .messages(s, r)
        .filter(|m| matches!(m, Message::NoData(n) if n.reason == NoDataReason::NotAvailable))
        .count();
    assert!(no_data > 0);
    assert_eq!(net.nodes[r].repl.stats().no_data_received as usize, no_data);
    assert!(net.nodes[r].closed.is_empty());
    assert!(net.links[ps as usize - 1].open);
}

#[test]
fn extensions_round_trip_with_name_compression() {
    let mut net = Net::default();
    let a = net.add(Node::new(writer(1, false)));
    let b = net.add(Node::new(reader_of(net.core(a))));
    let id = net.connect(a, b);
    net.run(100);
    net.nodes[a].repl.send_extension(None, "chat", b"one");
    net.nodes[a].repl.send_extension(Some(id), "chat", b"two");
    net.nodes[a].repl.send_extension(Some(id), "other", b"three");
    net.nodes[b].repl.send_extension(Some(id), "back", b"four");
    net.run(100);
    let names: Vec<_> = net
        .messages(a, b)
        .filter_map(|m| if let Message::Extension(e) = m { Some(e.name.clone()) } else { None })
        .collect();
    assert_eq!(names, ["chat", "", "other"]);
    let got: Vec<_> =
        net.nodes[b].extensions.iter().map(|(p, n, m)| (*p, n.as_str(), m.as_slice())).collect();
    assert_eq!(
        got,
        [
            (id, "chat", b"one".as_slice()),
            (id, "chat", b"two".as_slice()),
            (id, "other", b"three".as_slice())
        ]
    );
    assert_eq!(net.nodes[a].extensions, [(id, "back".to_string(), b"four".to_vec())]);
}

#[test]
fn manifest_and_compat_cores() {
    for compat in [false, true] {
        let mut net = Net::default();
        let w = net.add(Node::new(writer(64, compat)));
        let r = net.add(Node::new(reader_of(net.core(w))));
        net.connect(w, r);
        let n = &mut net.nodes[r];
        n.repl.download(&n.core, DownloadRange::live());
        net.run(100_000);
        assert_same(net.core(w), net.core(r), 0..64);
        let reader = net.core(r);
        assert_eq!(reader.is_compat(), compat);
        assert!(reader.manifest().is_some());
        assert_eq!(reader.manifest_for_peer().is_some(), !compat);
        // The upgrade asked for the manifest only when the writer announced one.
        let asked =
            net.messages(r, w)
                .find_map(|m| if let Message::Request(q) = m { Some(q.manifest) } else { None });
        assert_eq!(asked, Some(!compat));
        let sent = net.messages(w, r).find_map(|m| {
            if let Message::Data(d) = m {
                Some(d.manifest.is_some())
            } else {
                None
            }
        });
        assert_eq!(sent, Some(!compat));
    }
}

#[test]
fn core_truncated_before_download() {
    let mut net = Net::default();
    let mut core = writer(20, false);
    block_on(core.truncate(10, None)).unwrap();
    append(&mut core, 100..105);
    assert_eq!((core.fork(), core.length()), (1, 15));
    let w = net.add(Node::new(core));
    let r = net.add(Node::new(reader_of(net.core(w))));
    net.connect(w, r);
    let n = &mut net.nodes[r];
    n.repl.download(&n.core, DownloadRange::live());
    net.run(100_000);
    assert_same(net.core(w), net.core(r), 0..15);
    assert!(net.nodes[r].repl.is_done(net.core(r)));
}

#[test]
fn reorg_follows_the_writer_to_a_new_fork() {
    let mut net = Net::default();
    let w = net.add(Node::new(writer(40, false)));
    let r = net.add(Node::new(reader_of(net.core(w))));
    net.connect(w, r);
    let n = &mut net.nodes[r];
    n.repl.download(&n.core, DownloadRange::live());
    net.run(100_000);
    assert_same(net.core(w), net.core(r), 0..40);

    let n = &mut net.nodes[w];
    block_on(n.core.truncate(34, None)).unwrap();
    n.repl.on_local_change(&n.core, LocalChange::Truncated { length: 34, fork: 1 });
    append(&mut n.core, 1000..1010);
    n.repl.on_local_change(&n.core, LocalChange::Appended { length: 44 });
    net.run(100_000);
    let reader = net.core(r);
    assert_eq!((reader.fork(), reader.length()), (1, 44));
    assert_same(net.core(w), reader, 0..44);
    assert_eq!(net.nodes[r].repl.stats().reorgs, 1);
    assert!(net.nodes[r].closed.is_empty());
    assert!(net.nodes[r].repl.is_done(reader));
    // The writer announced its truncation at 34: the fork proof started at 33 (below its
    // length then), so 0..33 was kept and not downloaded again.
    assert_eq!(net.nodes[r].repl.stats().blocks_downloaded, 40 + (44 - 33));
}

/// A reader holding `n` blocks of a writer, both with replicators, connected.
fn replicated(n: u64) -> (Net, usize, usize) {
    let mut net = Net { quiet: true, ..Net::default() };
    let w = net.add(Node::new(writer(n, false)));
    let r = net.add(Node::new(reader_of(net.core(w))));
    net.connect(w, r);
    let node = &mut net.nodes[r];
    node.repl.download(&node.core, DownloadRange::live());
    net.run(1_000_000);
    assert_same(net.core(w), net.core(r), 0..n);
    (net, w, r)
}

#[test]
fn reorg_keeps_the_blocks_before_the_truncation() {
    // 600 lies inside the first root of the new tree (0..1024): root matching alone would
    // keep nothing, the writer's `range {drop}` lets the proof start at 599.
    let (mut net, w, r) = replicated(1000);
    let n = &mut net.nodes[w];
    block_on(n.core.truncate(600, None)).unwrap();
    n.repl.on_local_change(&n.core, LocalChange::Truncated { length: 600, fork: 1 });
    append(&mut n.core, 5000..5500);
    n.repl.on_local_change(&n.core, LocalChange::Appended { length: 1100 });
    net.run(1_000_000);
    assert_same(net.core(w), net.core(r), 0..1100);
    assert_eq!(net.nodes[r].repl.stats().blocks_downloaded, 1000 + 501);
    assert!(net.nodes[r].closed.is_empty());
}

#[test]
fn reorg_hint_that_does_not_verify_falls_back_to_a_full_proof() {
    // The writer's replicator only notices the new fork (no `Truncated`): it announces the
    // drop where its length shrank, which is past where the forks part.
    let (mut net, w, r) = replicated(40);
    net.quiet = false;
    let n = &mut net.nodes[w];
    block_on(n.core.truncate(20, None)).unwrap();
    append(&mut n.core, 700..710);
    n.repl.on_local_change(&n.core, LocalChange::Appended { length: 30 });
    net.run(1_000_000);
    assert_same(net.core(w), net.core(r), 0..30);
    assert!(net.nodes[r].closed.is_empty(), "a wrong hint is not the peer's fault");
    assert_eq!(net.nodes[r].repl.stats().reorgs, 1);
    assert_eq!(net.nodes[r].repl.stats().invalid_data, 0);
    let fork_proofs: Vec<u64> = net
        .messages(r, w)
        .filter_map(|m| match m {
            Message::Request(q) if q.fork == 1 && q.block.is_none() => q.upgrade.map(|u| u.start),
            _ => None,
        })
        .collect();
    assert_eq!(fork_proofs, [29, 0]);
}

/// Applies a core's whole tree (length `len`) as a fork proof.
fn fork_proof(core: &Core, len: u64) -> hyperwasm::tree::Proof {
    fork_proof_from(core, 0, len)
}

/// A fork proof from `start` (for a reader whose tree is believed equal up to there).
fn fork_proof_from(core: &Core, start: u64, len: u64) -> hyperwasm::tree::Proof {
    let upgrade = RequestUpgrade { start, length: len - start };
    block_on(core.proof(&ProofRequest { upgrade: Some(upgrade), ..ProofRequest::default() })).unwrap()
}

#[test]
fn reorg_proofs_that_do_not_verify_change_nothing() {
    let mut net = Net::default();
    let w = net.add(Node::new(writer(30, false)));
    let r = net.add(Node::new(reader_of(net.core(w))));
    net.connect(w, r);
    let n = &mut net.nodes[r];
    n.repl.download(&n.core, DownloadRange::live());
    net.run(100_000);
    let mut reader = net.nodes.pop().unwrap().core;
    let mut old = net.nodes.pop().unwrap().core;
    assert_eq!(reader.contiguous_length(), 30);
    let fork0 = fork_proof(&old, 30);
    block_on(old.truncate(20, None)).unwrap();
    append(&mut old, 500..510);
    let good = fork_proof(&old, 30);
    let storage = reader.storage().storage().clone();
    let before = storage.snapshot();

    let mut forged = good.clone();
    if let Some(u) = forged.upgrade.as_mut() {
        u.signature[0] ^= 1;
    }
    let err = block_on(reader.reorg(&forged, None)).unwrap_err();
    assert_eq!(err.code(), "INVALID_SIGNATURE");
    let err = block_on(reader.reorg(&fork0, None)).unwrap_err();
    assert_eq!(err.code(), "INVALID_OPERATION", "same fork: {err}");
    let mut tampered = good.clone();
    if let Some(u) = tampered.upgrade.as_mut() {
        u.nodes[0].hash[0] ^= 1;
    }
    assert!(block_on(reader.reorg(&tampered, None)).is_err());
    // From a length where the forks already differ: our roots there are not the writer's.
    let err = block_on(reader.reorg(&fork_proof_from(&old, 25, 30), None)).unwrap_err();
    assert_eq!(err.code(), "INVALID_SIGNATURE");
    assert_eq!(storage.snapshot(), before, "storage untouched");
    assert_eq!((reader.fork(), reader.length(), reader.contiguous_length()), (0, 30, 30));

    // Roots alone (`good`, from 0) would keep 0..16, the first root of 30; a proof from 18,
    // where the forks still agree, keeps 0..18.
    let applied = block_on(reader.reorg(&fork_proof_from(&old, 18, 30), None)).unwrap();
    assert!(applied.upgraded);
    assert_eq!(applied.shared_length, Some(18));
    assert_eq!((reader.fork(), reader.length(), reader.contiguous_length()), (1, 30, 18));
    assert_eq!(reader.tree().hash(), old.tree().hash());
    // A lower fork is refused now.
    let err = block_on(reader.reorg(&fork0, None)).unwrap_err();
    assert_eq!(err.code(), "INVALID_OPERATION");
    // The reopened core agrees.
    let again = block_on(Core::open(storage)).unwrap();
    assert_eq!(again.tree(), reader.tree());
    assert_eq!(again.contiguous_length(), 18);
    for i in 0..18 {
        assert_eq!(block_on(again.get(i)).unwrap(), Some(block(i)));
    }
    assert_eq!(block_on(again.get(18)).unwrap(), None);
}

#[test]
fn sparse_seeder_answers_wants_with_bitfields() {
    let mut net = Net::default();
    let w = net.add(Node::new(writer(300, false)));
    let s = net.add(Node::new(reader_of(net.core(w))));
    let ws = net.connect(w, s);
    for (a, b) in [(0, 10), (50, 60), (200, 230)] {
        let n = &mut net.nodes[s];
        n.repl.download(&n.core, DownloadRange::range(a, b));
    }
    net.run(100_000);
    net.disconnect(ws);
    assert_eq!(net.core(s).info().blocks_stored, 50);
    let r = net.add(Node::new(reader_of(net.core(w))));
    net.connect(s, r);
    let n = &mut net.nodes[r];
    n.repl.download(&n.core, DownloadRange::range(0, 300));
    net.run(100_000);
    let reader = net.core(r);
    assert_eq!(reader.length(), 300);
    assert_eq!(reader.info().blocks_stored, 50);
    for i in (0..10).chain(50..60).chain(200..230) {
        assert_eq!(block_on(reader.get(i)).unwrap(), Some(block(i)), "block {i}");
    }
    assert!(!net.nodes[r].repl.is_done(reader), "blocks nobody has are still wanted");
    let wants: Vec<_> =
        net.messages(r, s).filter_map(|m| if let Message::Want(w) = m { Some(*w) } else { None }).collect();
    assert_eq!(wants, [Want { start: 0, length: WANT_BATCH, any: false }]);
    assert!(net.messages(s, r).any(|m| matches!(m, Message::Bitfield(b) if b.start == 0)));
    assert!(net.nodes[r].closed.is_empty());
}

#[test]
fn too_many_invalid_requests_close_the_peer() {
    let mut seeder = Node::new(writer(10, false));
    seeder.repl.add_peer(&seeder.core, 7, &handshake());
    while seeder.repl.poll_action().is_some() {}
    for id in 1..=64u64 {
        let bad =
            Request { id, upgrade: Some(RequestUpgrade { start: 0, length: 1000 }), ..Request::default() };
        seeder.repl.on_message(&seeder.core, 7, Message::Request(bad));
        let Some(Action::Serve { peer, request }) = seeder.repl.poll_action() else { panic!("serve") };
        seeder.serve(peer, request);
        match seeder.repl.poll_action() {
            Some(Action::Send { message: Message::NoData(n), .. }) if id < 64 => {
                assert_eq!((n.request, n.reason), (id, NoDataReason::InvalidRequest));
            }
            Some(Action::Close { peer: 7, reason }) if id == 64 => {
                assert_eq!(reason, ReplicatorError::TooManyInvalidRequests);
            }
            other => panic!("request {id}: {other:?}"),
        }
    }
    assert_eq!(seeder.repl.peers().count(), 0);
}

/// A node talking to a scripted peer: the node's actions, with Serve/Apply run.
fn scripted(node: &mut Node) -> Vec<Action> {
    let mut out = Vec::new();
    while let Some(a) = node.repl.poll_action() {
        match a {
            Action::Serve { peer, request } => node.serve(peer, request),
            other => out.push(other),
        }
    }
    out
}

#[test]
fn protocol_violations_close_only_the_offender() {
    let cases: Vec<(Message, &str)> = vec![
        (Message::Data(Data { request: 100_000, ..Data::default() }), "INVALID_OPERATION"),
        (Message::Range(Range { drop: false, start: 1 << 53, length: 1 }), "BAD_ARGUMENT"),
        (Message::Bitfield(Bitfield { start: u64::MAX - 31, words: vec![1] }), "BAD_ARGUMENT"),
        (Message::Sync(Sync { length: u64::MAX, ..Sync::default() }), "BAD_ARGUMENT"),
        (Message::Request(Request { id: 1 << 40, ..Request::default() }), "INVALID_OPERATION"),
        (Message::Want(Want { start: u64::MAX, length: 2, any: false }), "BAD_ARGUMENT"),
    ];
    for (bad, code) in cases {
        let mut net = Net::default();
        let w = net.add(Node::new(writer(100, false)));
        let r = net.add(Node::new(reader_of(net.core(w))));
        let good = net.connect(w, r);
        let n = &mut net.nodes[r];
        n.repl.download(&n.core, DownloadRange::range(0, 100));
        net.run(30);
        // A third, hostile peer on the reader.
        let n = &mut net.nodes[r];
        n.repl.add_peer(&n.core, 99, &handshake());
        scripted(n);
        n.repl.on_message(&n.core, 99, bad.clone());
        let actions = scripted(n);
        let closed: Vec<_> = actions
            .iter()
            .filter_map(|a| {
                if let Action::Close { peer, reason } = a {
                    Some((*peer, reason.code()))
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(closed, [(99, code)], "{bad:?}");
        for a in actions {
            if !matches!(a, Action::Close { .. }) {
                net.act(r, a);
            }
        }
        net.run(100_000);
        assert_same(net.core(w), net.core(r), 0..100);
        assert!(net.links[good as usize - 1].open);
    }
}

#[test]
fn removed_peer_requests_are_rescheduled() {
    let mut net = Net::default();
    let w = net.add(Node::new(writer(600, false)));
    let s = seeder(&mut net, w);
    let r = net.add(Node::with_options(
        reader_of(net.core(w)),
        ReplicatorOptions { max_inflight: 32, ..ReplicatorOptions::default() },
    ));
    net.connect(w, r);
    let ps = net.connect(s, r);
    let n = &mut net.nodes[r];
    n.repl.download(&n.core, DownloadRange::range(0, 600));
    net.run(200);
    let partial = net.core(r).info().blocks_stored;
    assert!(partial > 0 && partial < 600);
    net.disconnect(ps);
    net.run(1_000_000);
    assert_same(net.core(w), net.core(r), 0..600);
    assert!(net.nodes[r].repl.is_done(net.core(r)));
}

#[test]
fn blocks_are_relayed_along_a_chain_as_they_arrive() {
    // writer — a — b: b only knows a, which is itself downloading.
    let mut net = Net::default();
    let w = net.add(Node::new(writer(700, false)));
    let a = net.add(Node::with_options(
        reader_of(net.core(w)),
        ReplicatorOptions { max_inflight: 4, ..ReplicatorOptions::default() },
    ));
    let b = net.add(Node::new(reader_of(net.core(w))));
    net.connect(w, a);
    net.connect(a, b);
    for i in [a, b] {
        let n = &mut net.nodes[i];
        n.repl.download(&n.core, DownloadRange::live());
    }
    net.run(1_000_000);
    assert_same(net.core(w), net.core(a), 0..700);
    assert_same(net.core(w), net.core(b), 0..700);
    assert!(net.nodes[b].repl.is_done(net.core(b)));
    // b wanted the batch from a, and a announced blocks one by one as it got them.
    assert!(net.messages(b, a).any(|m| matches!(m, Message::Want(_))));
    let singles = net.messages(a, b).filter(|m| matches!(m, Message::Range(r) if r.length == 1)).count();
    assert!(singles > 100, "{singles} single-block announcements");
}

#[test]
fn peer_on_an_old_fork_is_not_asked_for_blocks() {
    // A seeder that stayed on fork 0 while the writer moved on.
    let mut net = Net::default();
    let w = net.add(Node::new(writer(30, false)));
    let old = seeder(&mut net, w);
    let n = &mut net.nodes[w];
    block_on(n.core.truncate(5, None)).unwrap();
    append(&mut n.core, 900..930);
    let r = net.add(Node::new(reader_of(net.core(w))));
    net.connect(old, r);
    net.connect(w, r);
    let n = &mut net.nodes[r];
    n.repl.download(&n.core, DownloadRange::live());
    net.run(1_000_000);
    assert_same(net.core(w), net.core(r), 0..35);
    assert!(net.nodes[r].closed.is_empty());
}

/// The reader's first request to a scripted peer that claims `w`'s length.
fn first_request(reader: &mut Node, w: &Core, peer: PeerId) -> Request {
    reader.repl.add_peer(&reader.core, peer, &handshake());
    let sync = Sync {
        length: w.length(),
        can_upgrade: true,
        uploading: true,
        has_manifest: true,
        ..Sync::default()
    };
    reader.repl.on_message(&reader.core, peer, Message::Sync(sync));
    scripted(reader)
        .into_iter()
        .find_map(|a| match a {
            Action::Send { peer: p, message: Message::Request(q) } if p == peer => Some(q),
            _ => None,
        })
        .expect("a request")
}

fn answer(w: &Core, q: &Request) -> Data {
    let proof = block_on(w.proof(&proof_request(q))).unwrap();
    Data { request: q.id, proof, manifest: if q.manifest { w.manifest_for_peer() } else { None } }
}

#[test]
fn answers_that_do_not_match_their_request_close_the_peer() {
    let w = writer(10, false);
    let closed = |actions: &[Action]| {
        actions.iter().find_map(|a| {
            if let Action::Close { peer, reason } = a {
                Some((*peer, reason.clone()))
            } else {
                None
            }
        })
    };

    // A block nobody asked for.
    let mut r = Node::new(reader_of(&w));
    let q = first_request(&mut r, &w, 5);
    assert_eq!(q.upgrade, Some(RequestUpgrade { start: 0, length: 10 }));
    let wrong = ProofRequest {
        block: Some(hyperwasm::tree::proof::RequestIndex { index: 3, nodes: 0 }),
        upgrade: q.upgrade,
        ..ProofRequest::default()
    };
    let proof = block_on(w.proof(&wrong)).unwrap();
    r.repl.on_message(
        &r.core,
        5,
        Message::Data(Data { request: q.id, proof, manifest: w.manifest_for_peer() }),
    );
    assert_eq!(closed(&scripted(&mut r)), Some((5, ReplicatorError::MismatchedData(q.id))));

    // The same answer twice.
    let mut r = Node::new(reader_of(&w));
    let q = first_request(&mut r, &w, 5);
    let data = answer(&w, &q);
    r.repl.on_message(&r.core, 5, Message::Data(data.clone()));
    let apply = scripted(&mut r);
    assert!(matches!(apply.as_slice(), [Action::Apply { .. }, ..]), "{apply:?}");
    r.repl.on_message(&r.core, 5, Message::Data(data.clone()));
    assert_eq!(closed(&scripted(&mut r)), Some((5, ReplicatorError::MismatchedData(q.id))));

    // Another peer's request id is not for it to answer (ignored, as JS does).
    let mut r = Node::new(reader_of(&w));
    let q = first_request(&mut r, &w, 5);
    r.repl.add_peer(&r.core, 6, &handshake());
    scripted(&mut r);
    r.repl.on_message(&r.core, 6, Message::Data(answer(&w, &q)));
    assert!(scripted(&mut r).is_empty());
    // The right peer's answer is applied.
    r.repl.on_message(&r.core, 5, Message::Data(answer(&w, &q)));
    for a in scripted(&mut r) {
        if let Action::Apply { peer, data, .. } = a {
            let result = block_on(r.core.apply_proof(&data.proof, data.manifest.as_deref()));
            r.repl.on_applied(&r.core, peer, data.request, result);
        }
    }
    assert_eq!(r.core.length(), 10);
}

#[test]
fn huge_announcements_are_cheap_and_legal() {
    // A peer claiming a huge length and announcing a huge range costs nothing; bitfields
    // beyond its length are ignored.
    let w = writer(10, false);
    let mut r = Node::new(reader_of(&w));
    r.repl.add_peer(&r.core, 1, &handshake());
    let sync = Sync { length: 1 << 50, uploading: true, ..Sync::default() };
    r.repl.on_message(&r.core, 1, Message::Sync(sync));
    r.repl.on_message(&r.core, 1, Message::Range(Range { drop: false, start: 7, length: (1 << 50) - 7 }));
    r.repl.on_message(
        &r.core,
        1,
        Message::Bitfield(Bitfield { start: (1 << 50) + 64, words: vec![u32::MAX; 1000] }),
    );
    r.repl.on_message(&r.core, 1, Message::Range(Range { drop: true, start: 1 << 30, length: 1 << 40 }));
    assert!(scripted(&mut r).iter().all(|a| !matches!(a, Action::Close { .. })));
}

#[test]
fn upgrade_survives_a_missing_attached_block() {
    // A peer announced blocks before its length: the upgrade goes with a request for the
    // first wanted block. The peer lacks it after all: the upgrade is asked again, alone.
    let w = writer(10, false);
    let mut r = Node::new(reader_of(&w));
    r.repl.add_peer(&r.core, 1, &handshake());
    r.repl.download(&r.core, DownloadRange::live());
    r.repl.on_message(&r.core, 1, Message::Range(Range { drop: false, start: 0, length: 10 }));
    let sync = Sync { length: 10, can_upgrade: true, uploading: true, has_manifest: true, ..Sync::default() };
    r.repl.on_message(&r.core, 1, Message::Sync(sync));
    let requests = |actions: Vec<Action>| -> Vec<Request> {
        actions
            .into_iter()
            .filter_map(|a| {
                if let Action::Send { message: Message::Request(q), .. } = a {
                    Some(q)
                } else {
                    None
                }
            })
            .collect()
    };
    let first = requests(scripted(&mut r));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].block.map(|b| b.index), Some(0));
    assert!(first[0].upgrade.is_some());
    let no =
        hyperwasm::replicator::messages::NoData { request: first[0].id, reason: NoDataReason::NotAvailable };
    r.repl.on_message(&r.core, 1, Message::NoData(no));
    let again = requests(scripted(&mut r));
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].block, again[0].upgrade), (None, first[0].upgrade));
}
