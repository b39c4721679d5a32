//! The driver task: one tokio task owns the sans-IO [`Node`], its [`BatchSocket`] (plus the
//! short-lived probe socket of a firewall check) and everything the handles wait for.
//!
//! One round: wait for a datagram batch, a command or the node's next deadline → feed it in →
//! run due timers → drain the node's events (answering the asked-for ones with the local key
//! pairs, see `keyholder.rs`) and pump the connections' buffers → send every queued datagram,
//! consecutive equal-size datagrams to one destination as one GSO send.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::dht_rpc::{RpcOptions, SocketKind};
use crate::hyperdht::node::{Event, Node, NodeOptions};

use super::handles::Command;
use super::keyholder::KeyHolder;
use super::socket::{BatchSocket, RecvBatch};
use super::streams::Streams;
use super::{DhtConfig, DhtError};

/// Largest GSO send (the kernel's UDP limit is 64 KiB).
const MAX_GSO_BYTES: usize = 60 * 1024;
/// Commands handled per round before the sockets get a turn again.
const MAX_COMMANDS_PER_ROUND: usize = 256;

/// Binds the socket and starts the task; returns its command channel and bound address.
pub(crate) fn spawn(config: DhtConfig) -> Result<(mpsc::UnboundedSender<Command>, SocketAddrV4), DhtError> {
    let bind_err = |e: std::io::Error| DhtError::Bind { kind: e.kind(), message: e.to_string() };
    let mut socket = BatchSocket::bind(config.bind).map_err(bind_err)?;
    if let Some(loss) = config.loss {
        socket.set_loss(loss);
    }
    let local = socket.local_addr().map_err(bind_err)?;
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    // On loopback the bound address is what peers reach: advertise it (firewall OPEN).
    let public_address = config.public_address.or_else(|| (local.ip().is_loopback()).then_some(local));
    let rpc = RpcOptions {
        bootstrap: config.bootstrap.clone(),
        ephemeral: config.ephemeral,
        firewalled: config.firewalled,
        host: *local.ip(),
        port: local.port(),
        rate_limit: config.rate_limit,
        max_window: config.max_window,
        ..RpcOptions::default()
    };
    let opts = NodeOptions { rpc, public_address, unix_offset_ms: unix, ..NodeOptions::default() };
    let (tx, rx) = mpsc::unbounded_channel();
    let driver = Driver {
        node: Node::new(opts, 0),
        origin: Instant::now(),
        socket,
        probe: None,
        probe_host: *config.bind.ip(),
        cmds: rx,
        holder: KeyHolder::new(tx.downgrade(), local),
        streams: Streams::default(),
        batch: RecvBatch::default(),
        probe_batch: None,
        gso: Vec::with_capacity(MAX_GSO_BYTES),
        next: Vec::with_capacity(MAX_GSO_BYTES),
        destroyed: None,
    };
    tokio::spawn(driver.run());
    Ok((tx, local))
}

/// What woke the task (short-lived: a command is moved straight out of it).
#[allow(clippy::large_enum_variant)]
enum Wake {
    Main(std::io::Result<()>),
    Probe(std::io::Result<()>),
    Command(Option<Command>),
    Timer,
}

struct Driver {
    node: Node,
    origin: Instant,
    socket: BatchSocket,
    probe: Option<BatchSocket>,
    probe_host: Ipv4Addr,
    cmds: mpsc::UnboundedReceiver<Command>,
    holder: KeyHolder,
    streams: Streams,
    batch: RecvBatch,
    probe_batch: Option<RecvBatch>,
    /// Datagrams for one GSO send.
    gso: Vec<u8>,
    /// The datagram just taken from the node (swapped with `gso` to start a batch).
    next: Vec<u8>,
    /// Set by `destroy()`: answered once the node is torn down.
    destroyed: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Driver {
    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn run(mut self) {
        loop {
            let now = self.now();
            if self.node.poll_timeout().is_some_and(|t| t <= now) {
                self.node.handle_timeout(now);
            }
            self.holder.handle_timeout(&mut self.node, now);
            self.drain_events();
            if let Err(e) = self.flush().await {
                crate::log!("DHT socket failed: {e}");
                break;
            }
            if self.destroyed.is_some() {
                break;
            }
            let deadline = [self.node.poll_timeout(), self.holder.poll_timeout()].into_iter().flatten().min();
            let sleep_until = deadline.map(|ms| self.origin + Duration::from_millis(ms));
            let wake = tokio::select! {
                r = self.socket.recv(&mut self.batch) => Wake::Main(r),
                r = async {
                    match (&self.probe, &mut self.probe_batch) {
                        (Some(p), Some(b)) => p.recv(b).await,
                        _ => std::future::pending().await,
                    }
                } => Wake::Probe(r),
                c = self.cmds.recv() => Wake::Command(c),
                () = async {
                    match sleep_until {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => Wake::Timer,
            };
            match wake {
                Wake::Main(Ok(())) => {
                    let now = self.now();
                    for (from, d) in self.batch.datagrams() {
                        self.node.handle_datagram(from, SocketKind::Main, d, now);
                    }
                }
                Wake::Main(Err(e)) => {
                    crate::log!("DHT socket failed: {e}");
                    break;
                }
                Wake::Probe(r) => {
                    let now = self.now();
                    match (r, &self.probe_batch) {
                        (Ok(()), Some(b)) => {
                            for (from, d) in b.datagrams() {
                                self.node.handle_datagram(from, SocketKind::Probe, d, now);
                            }
                        }
                        _ => self.close_probe(),
                    }
                }
                Wake::Command(None) => break,
                Wake::Command(Some(c)) => {
                    self.command(c);
                    for _ in 0..MAX_COMMANDS_PER_ROUND {
                        match self.cmds.try_recv() {
                            Ok(c) => self.command(c),
                            Err(_) => break,
                        }
                    }
                }
                Wake::Timer => {}
            }
        }
        self.teardown().await;
    }

    fn command(&mut self, cmd: Command) {
        let now = self.now();
        match cmd {
            Command::Poke(id) => self.streams.on_poke(&mut self.node, id),
            Command::Destroy(done) => self.destroyed = Some(done),
            other => self.holder.command(&mut self.node, other, now),
        }
    }

    /// Drains the node's events: stream events go to the stream pumps, the rest to the key
    /// holder (which may open streams for new connections).
    fn drain_events(&mut self) {
        while let Some(ev) = self.node.poll_event() {
            let now = self.now();
            match ev {
                Event::Stream(e) => self.streams.on_event(&mut self.node, &e),
                Event::CloseProbe => self.close_probe(),
                other => self.holder.on_event(&mut self.node, &mut self.streams, other, now),
            }
        }
    }

    fn close_probe(&mut self) {
        self.probe = None;
        self.probe_batch = None;
    }

    /// The node's next datagram, written into `self.next`; answering events may queue more,
    /// and so may the stream pumps, so they run before giving up.
    fn next_transmit(&mut self) -> Option<(SocketAddrV4, SocketKind)> {
        if let Some(t) = self.node.poll_transmit_into(&mut self.next) {
            return Some(t);
        }
        self.drain_events();
        self.node.poll_transmit_into(&mut self.next)
    }

    /// Sends every queued datagram; consecutive same-size datagrams to one address go out as
    /// one segmented (GSO) send. Datagrams are written into two reused buffers (`next`, `gso`):
    /// nothing is allocated per datagram.
    async fn flush(&mut self) -> std::io::Result<()> {
        let max_segments = self.socket.max_segments();
        // A datagram in `self.next` that did not fit the previous batch.
        let mut held: Option<(SocketAddrV4, SocketKind)> = None;
        loop {
            let Some((to, socket)) = held.take().or_else(|| self.next_transmit()) else { return Ok(()) };
            if socket == SocketKind::Probe {
                self.send_probe(to).await;
                continue;
            }
            std::mem::swap(&mut self.gso, &mut self.next);
            let seg = self.gso.len();
            let mut count = 1;
            while max_segments > 1 && count < max_segments && self.gso.len() + seg <= MAX_GSO_BYTES {
                let Some((next_to, next_socket)) = self.node.poll_transmit_into(&mut self.next) else {
                    break;
                };
                if next_socket != SocketKind::Main || next_to != to || self.next.len() > seg {
                    held = Some((next_to, next_socket));
                    break;
                }
                self.gso.extend_from_slice(&self.next);
                count += 1;
                if self.next.len() < seg {
                    break; // a short one ends a segmented send
                }
            }
            let segment = (count > 1).then_some(seg);
            if let Err(e) = self.socket.send(to, &self.gso, segment).await {
                if !is_transient(&e) {
                    return Err(e);
                }
            }
        }
    }

    /// Sends the datagram in `self.next` from the probe socket (opened on first use).
    async fn send_probe(&mut self, to: SocketAddrV4) {
        if self.probe.is_none() {
            match BatchSocket::bind(SocketAddrV4::new(self.probe_host, 0)) {
                Ok(p) => {
                    self.probe = Some(p);
                    self.probe_batch = Some(RecvBatch::default());
                }
                Err(e) => {
                    crate::log!("probe socket: {e}");
                    return;
                }
            }
        }
        if let Some(p) = &self.probe {
            let _ = p.send(to, &self.next, None).await;
        }
    }

    async fn teardown(&mut self) {
        self.holder.fail_all();
        self.streams.close_all(&mut self.node);
        // DESTROY packets of the streams go out before the node stops.
        let _ = self.flush().await;
        self.node.destroy();
        self.cmds.close();
        while let Ok(cmd) = self.cmds.try_recv() {
            if let Command::Destroy(done) = cmd {
                let _ = done.send(());
            }
        }
        if let Some(done) = self.destroyed.take() {
            let _ = done.send(());
        }
    }
}

/// Send errors that concern one destination, not the socket.
fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionReset | HostUnreachable | NetworkUnreachable | AddrNotAvailable
    ) || e.raw_os_error().is_some_and(|c| c == 90 /* EMSGSIZE */ || c == 1 /* EPERM */)
}
