//! A deterministic in-memory UDP network for the sans-IO state machines: a simulated clock,
//! 5–40 ms latency per datagram, optional random loss, simple NATs, the second (probe) socket
//! of a firewall check, and an optional tap of every datagram sent. Everything that varies is
//! drawn from one xorshift generator seeded by the test, so a run is a function of its seed.
//!
//! It carries the dht-rpc simulation (many `Rpc`s, `dht_rpc::sim`) and the HyperDHT one
//! (`Node`s with key holders, `relay/tests/hyperdht_sim`): each wraps its state machine in a
//! [`Host`] and adds it at an address with [`SimNet::add`].

use crate::dht_rpc::SocketKind;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::SocketAddrV4;

/// A state machine on the network (the quinn-proto style surface of `Rpc` and `Node`, plus a
/// hook that takes its events).
pub trait Host {
    /// A datagram arrived on `socket` from `from`.
    fn handle_datagram(&mut self, from: SocketAddrV4, socket: SocketKind, bytes: &[u8], now_ms: u64);
    /// The next datagram to send, written into `buf`: its destination and the socket it
    /// leaves from.
    fn poll_transmit_into(&mut self, buf: &mut Vec<u8>) -> Option<(SocketAddrV4, SocketKind)>;
    /// When [`Host::handle_timeout`] must run next.
    fn poll_timeout(&self) -> Option<u64>;
    /// Runs what is due at `now_ms`.
    fn handle_timeout(&mut self, now_ms: u64);
    /// Takes and handles the queued events (answering one may queue datagrams); `true` if
    /// anything happened, so the network polls the hosts again.
    fn poll_events(&mut self, now_ms: u64) -> bool;
}

/// How a host's main socket looks from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Public: its datagrams come from its bound address, and anyone reaches it there.
    Open,
    /// Its datagrams come from (and only reach it at) its bound port + 1.
    Remapping,
    /// Public address as bound, but a datagram reaches the main socket only from an address
    /// the host sent to before (a filtering NAT; the probe socket is not filtered).
    Filtering,
}

/// One datagram as a host sent it (before loss).
#[derive(Debug, Clone)]
pub struct Tapped {
    /// Destination.
    pub to: SocketAddrV4,
    /// The datagram.
    pub bytes: Vec<u8>,
}

/// Where a host is and what it contacted.
struct Link {
    addr: SocketAddrV4,
    nat: Nat,
    contacted: HashSet<SocketAddrV4>,
}

/// A datagram on the wire: (delivery time, sequence, destination host, its socket, source,
/// bytes); the sequence number keeps equal times in sending order.
type InFlight = (u64, u64, usize, SocketKind, SocketAddrV4, Vec<u8>);

/// The network and its hosts.
pub struct SimNet<H> {
    /// The simulated clock (ms).
    pub now: u64,
    /// The hosts, by index (the order of [`SimNet::add`]).
    pub nodes: Vec<H>,
    links: Vec<Link>,
    /// Public address → (host, socket).
    routes: HashMap<SocketAddrV4, (usize, SocketKind)>,
    queue: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    rng: u64,
    scratch: Vec<u8>,
    /// Datagrams lost at random, per mille.
    pub loss_per_mille: u64,
    /// Record every datagram sent into [`SimNet::tap`].
    pub tapping: bool,
    /// Datagrams sent while [`SimNet::tapping`].
    pub tap: Vec<Tapped>,
    /// Datagrams delivered.
    pub delivered: u64,
    /// Datagrams lost (at random or filtered by a NAT).
    pub lost: u64,
}

/// The address a host's probe socket sends from.
pub fn probe_addr(addr: SocketAddrV4) -> SocketAddrV4 {
    SocketAddrV4::new(*addr.ip(), addr.port().wrapping_add(20_000))
}

fn public_addr(addr: SocketAddrV4, nat: Nat) -> SocketAddrV4 {
    match nat {
        Nat::Open | Nat::Filtering => addr,
        Nat::Remapping => SocketAddrV4::new(*addr.ip(), addr.port().wrapping_add(1)),
    }
}

impl<H: Host> SimNet<H> {
    /// An empty network at time 1 000 000 ms; `seed` drives latency, loss and host seeds.
    pub fn new(seed: u64, loss_per_mille: u64) -> Self {
        SimNet {
            now: 1_000_000,
            nodes: Vec::new(),
            links: Vec::new(),
            routes: HashMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            rng: seed | 1,
            scratch: Vec::new(),
            loss_per_mille,
            tapping: false,
            tap: Vec::new(),
            delivered: 0,
            lost: 0,
        }
    }

    /// The next number of the network's generator (xorshift64).
    pub fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// A 32-byte seed for a new host's own randomness (its first 8 bytes from [`SimNet::rand`]).
    pub fn host_seed(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&self.rand().to_le_bytes());
        seed
    }

    /// Adds `host`, bound to `addr` behind `nat`; sends what it queued. Returns its index.
    pub fn add(&mut self, host: H, addr: SocketAddrV4, nat: Nat) -> usize {
        let i = self.nodes.len();
        self.routes.insert(public_addr(addr, nat), (i, SocketKind::Main));
        self.routes.insert(probe_addr(addr), (i, SocketKind::Probe));
        self.nodes.push(host);
        self.links.push(Link { addr, nat, contacted: HashSet::new() });
        self.flush();
        i
    }

    /// Host `i`'s bound address.
    pub fn addr(&self, i: usize) -> SocketAddrV4 {
        self.links[i].addr
    }

    /// Host `i`'s main socket as others see it.
    pub fn public_addr(&self, i: usize) -> SocketAddrV4 {
        public_addr(self.links[i].addr, self.links[i].nat)
    }

    /// Delivers `bytes` to host `to`'s main socket 1 ms from now, as if sent from `from`.
    pub fn inject(&mut self, from: SocketAddrV4, to: usize, bytes: Vec<u8>) {
        self.seq += 1;
        self.queue.push(Reverse((self.now + 1, self.seq, to, SocketKind::Main, from, bytes)));
    }

    /// Moves every host's datagrams onto the wire and lets the hosts handle their events,
    /// until all are quiet.
    pub fn flush(&mut self) {
        let mut buf = std::mem::take(&mut self.scratch);
        loop {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while let Some((to, socket)) = self.nodes[i].poll_transmit_into(&mut buf) {
                    moved = true;
                    self.send(i, to, socket, &buf);
                }
                let now = self.now;
                moved |= self.nodes[i].poll_events(now);
            }
            if !moved {
                break;
            }
        }
        self.scratch = buf;
    }

    fn send(&mut self, i: usize, to: SocketAddrV4, socket: SocketKind, bytes: &[u8]) {
        let link = &mut self.links[i];
        let from = match socket {
            SocketKind::Probe => probe_addr(link.addr),
            SocketKind::Main => public_addr(link.addr, link.nat),
        };
        link.contacted.insert(to);
        if self.tapping {
            self.tap.push(Tapped { to, bytes: bytes.to_vec() });
        }
        if self.rand() % 1000 < self.loss_per_mille {
            self.lost += 1;
            return;
        }
        let Some(&(dest, dest_socket)) = self.routes.get(&to) else { return };
        let at = self.now + 5 + self.rand() % 35;
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, dest, dest_socket, from, bytes.to_vec())));
    }

    /// Advances the clock to `until`, delivering datagrams and firing timers in time order.
    pub fn run_to(&mut self, until: u64) {
        loop {
            self.flush();
            let next_packet = self.queue.peek().map(|Reverse(p)| p.0);
            let next_timer = self.nodes.iter().filter_map(Host::poll_timeout).min();
            match [next_packet, next_timer].into_iter().flatten().min() {
                Some(next) if next <= until => self.now = self.now.max(next),
                _ => {
                    self.now = until;
                    return;
                }
            }
            while self.queue.peek().is_some_and(|Reverse(p)| p.0 <= self.now) {
                let Some(Reverse((_, _, to, socket, from, bytes))) = self.queue.pop() else { break };
                let link = &self.links[to];
                if link.nat == Nat::Filtering && socket == SocketKind::Main && !link.contacted.contains(&from)
                {
                    self.lost += 1;
                    continue;
                }
                self.delivered += 1;
                self.nodes[to].handle_datagram(from, socket, &bytes, self.now);
            }
            let now = self.now;
            for n in &mut self.nodes {
                if n.poll_timeout().is_some_and(|t| t <= now) {
                    n.handle_timeout(now);
                }
            }
        }
    }

    /// Runs the network for `ms` of simulated time.
    pub fn run(&mut self, ms: u64) {
        self.run_to(self.now + ms);
    }

    /// Runs until `pred` holds (checked every 10 ms), at most `ms`; whether it held.
    pub fn run_until(&mut self, ms: u64, mut pred: impl FnMut(&Self) -> bool) -> bool {
        let end = self.now + ms;
        while self.now < end {
            if pred(self) {
                return true;
            }
            self.run(10);
        }
        pred(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// Echoes every datagram back to its sender once; counts what it got.
    #[derive(Default)]
    struct Echo {
        out: Vec<(SocketAddrV4, Vec<u8>)>,
        got: Vec<(SocketAddrV4, SocketKind, Vec<u8>, u64)>,
    }

    impl Host for Echo {
        fn handle_datagram(&mut self, from: SocketAddrV4, socket: SocketKind, bytes: &[u8], now_ms: u64) {
            self.got.push((from, socket, bytes.to_vec(), now_ms));
            if bytes.first() == Some(&b'?') {
                self.out.push((from, b"!".to_vec()));
            }
        }
        fn poll_transmit_into(&mut self, buf: &mut Vec<u8>) -> Option<(SocketAddrV4, SocketKind)> {
            let (to, bytes) = self.out.pop()?;
            *buf = bytes;
            Some((to, SocketKind::Main))
        }
        fn poll_timeout(&self) -> Option<u64> {
            None
        }
        fn handle_timeout(&mut self, _now_ms: u64) {}
        fn poll_events(&mut self, _now_ms: u64) -> bool {
            false
        }
    }

    fn at(i: u8) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, i), 1000)
    }

    #[test]
    fn latency_nats_and_filtering() {
        let mut net = SimNet::new(7, 0);
        let open = net.add(Echo::default(), at(1), Nat::Open);
        let remapped = net.add(Echo::default(), at(2), Nat::Remapping);
        let filtered = net.add(Echo::default(), at(3), Nat::Filtering);
        assert_eq!(net.public_addr(remapped), SocketAddrV4::new(*at(2).ip(), 1001));
        net.tapping = true;
        // Unsolicited datagrams: the filtering NAT drops one, the others arrive within 5..40 ms.
        let t0 = net.now;
        let to = net.public_addr(remapped);
        net.nodes[open].out.push((to, b"?".to_vec()));
        net.nodes[open].out.push((at(3), b"x".to_vec()));
        net.flush();
        net.run(100);
        let (from, socket, bytes, when) = net.nodes[remapped].got[0].clone();
        assert_eq!((from, socket, bytes), (at(1), SocketKind::Main, b"?".to_vec()));
        assert!((t0 + 5..t0 + 40).contains(&when));
        assert_eq!(net.nodes[open].got[0].0, net.public_addr(remapped), "the reply comes from port + 1");
        assert!(net.nodes[filtered].got.is_empty());
        assert_eq!((net.delivered, net.lost, net.tap.len()), (2, 1, 3));
        // Once it sent to an address, that address gets through.
        net.nodes[filtered].out.push((at(1), b"hello".to_vec()));
        net.flush();
        net.inject(at(1), filtered, b"back".to_vec());
        net.run(100);
        assert_eq!(net.nodes[filtered].got.len(), 1);
        assert!(net.run_until(1000, |n| n.nodes[open].got.len() == 2));
    }

    #[test]
    fn loss_is_applied_and_repeatable() {
        let run = |seed| {
            let mut net = SimNet::new(seed, 300);
            let a = net.add(Echo::default(), at(1), Nat::Open);
            net.add(Echo::default(), at(2), Nat::Open);
            for _ in 0..1000 {
                net.nodes[a].out.push((at(2), b"x".to_vec()));
            }
            net.run(100);
            (net.delivered, net.lost)
        };
        let (delivered, lost) = run(3);
        assert_eq!(delivered + lost, 1000);
        assert!((200..400).contains(&lost), "{lost} of 1000 lost at 30%");
        assert_eq!(run(3), (delivered, lost));
        assert_ne!(run(4), (delivered, lost));
    }
}
