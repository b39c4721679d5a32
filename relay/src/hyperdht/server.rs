//! The server side of connections (hyperdht `lib/server.js`), with the Noise reply asked for.
//!
//! A new msg1 (keyed by its bytes) gets a UDX stream and a local payload, and the key holder
//! is asked for msg2 ([`ServerEvent::IncomingHandshake`]). Every copy of that msg1 — the same
//! client tries several relays with the same bytes — is answered with the *same* reply; copies
//! that arrive while the key holder works wait for it. Once answered, the path is picked as JS:
//! the client is OPEN or came directly → connect to it now; else wait ≤ 10 s for its first UDX
//! packet (it connects to us: we advertise no holepunch info, so a JS client goes direct).
//! Entries are forgotten 10 s after they finish (JS `handshakeClearWait`), so late duplicates
//! still get the cached reply.

use super::announcer::Announcer;
use super::router::{server_handshake_answer, ServerHandshake};
use super::{hash, Answer, Cmd, HyperDhtError, Key};
use hyperwasm::hyperdht::constants::{error, firewall, PAYLOAD_VERSION};
use hyperwasm::hyperdht::messages::NoisePayload;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddrV4;

/// A listening server (node-wide id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub u64);

/// One incoming handshake (node-wide id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HsId(pub u64);

/// How long the key holder may take to answer, and how long we wait for the client's first
/// UDX packet (JS `HANDSHAKE_INITIAL_TIMEOUT`).
pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// How long a finished handshake is remembered for duplicates (JS `HANDSHAKE_CLEAR_WAIT`).
pub const HANDSHAKE_CLEAR_WAIT_MS: u64 = 10_000;
/// Handshakes tracked at once per server (new ones beyond are ignored).
pub const MAX_HANDSHAKES: usize = 1024;
/// Copies of one msg1 waiting for the key holder.
const MAX_WAITING: usize = 8;

/// The `error` a server payload must carry for the client payload it answers (JS
/// `_addHandshake`): VERSION_MISMATCH for another version, ABORTED without UDX, else NONE.
pub fn payload_error(remote: &NoisePayload) -> u64 {
    if remote.version != PAYLOAD_VERSION {
        error::VERSION_MISMATCH
    } else if remote.udx.is_none() {
        error::ABORTED
    } else {
        error::NONE
    }
}

/// Events of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// A new msg1: decrypt it, set `local_payload.error` to [`payload_error`] of the client's
    /// payload, encrypt msg2 and accept (or reject) the handshake.
    IncomingHandshake {
        /// The handshake.
        hs: HsId,
        /// The client's Noise message.
        msg1: Vec<u8>,
        /// Our payload (UDX stream id, firewall, addresses, relays).
        local_payload: Box<NoisePayload>,
        /// The client's address as the first relay (or we) saw it.
        peer_address: SocketAddrV4,
    },
    /// A handshake's stream is connected to the client.
    Incoming {
        /// The handshake (whose keys the stream uses).
        hs: HsId,
        /// Our stream id.
        stream: u32,
        /// The client's address.
        remote_address: SocketAddrV4,
    },
    /// An accepted handshake never connected (its stream is destroyed).
    HandshakeFailed {
        /// The handshake.
        hs: HsId,
        /// Why.
        error: HyperDhtError,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HsState {
    /// Waiting for the key holder.
    Asked,
    /// Answered; waiting for the client's first UDX packet.
    AwaitingClient,
    /// Finished (connected, rejected or failed); kept for duplicates until `clear_at`.
    Finished,
}

/// A request waiting for a handshake's reply, with how to route the reply.
#[derive(Debug, Clone)]
struct Waiting<W> {
    req: W,
    route: ServerHandshake,
    from: SocketAddrV4,
}

#[derive(Debug)]
struct Hs<W> {
    id: HsId,
    stream: u32,
    client_address: SocketAddrV4,
    direct: bool,
    state: HsState,
    reply: Option<Vec<u8>>,
    remote_id: Option<u32>,
    waiting: Vec<Waiting<W>>,
    firewall_from: Option<SocketAddrV4>,
    deadline: u64,
}

/// A new handshake for [`Server::begin`].
#[derive(Debug)]
pub struct NewHandshake<W> {
    /// Its node-wide id.
    pub id: HsId,
    /// How it was routed to us.
    pub route: ServerHandshake,
    /// The request's UDP source.
    pub from: SocketAddrV4,
    /// The request, to answer later.
    pub req: W,
    /// The UDX stream created for it.
    pub stream: u32,
    /// Our payload (carrying `stream`).
    pub local_payload: NoisePayload,
}

/// What to do with an incoming handshake for this server.
#[derive(Debug)]
pub enum HsAction<W> {
    /// Known msg1: answer these requests (possibly none: still waiting, or rejected).
    Answers(Vec<(W, Answer)>),
    /// A new msg1: create a stream and call [`Server::begin`].
    New(W),
}

/// A listening server: its announcer and its handshakes. `W` is the caller's request handle.
#[derive(Debug)]
pub struct Server<W> {
    public_key: Key,
    target: Key,
    /// The server's self-announce.
    pub announcer: Announcer,
    handshakes: HashMap<Key, Hs<W>>,
    by_id: HashMap<HsId, Key>,
    events: VecDeque<ServerEvent>,
    cmds: VecDeque<Cmd<u64>>,
}

impl<W> Server<W> {
    /// A server for `public_key`; its announcer starts at once.
    pub fn new(public_key: Key) -> Self {
        let target = hash(&public_key);
        Server {
            public_key,
            target,
            announcer: Announcer::new(public_key, target),
            handshakes: HashMap::new(),
            by_id: HashMap::new(),
            events: VecDeque::new(),
            cmds: VecDeque::new(),
        }
    }

    /// The server's key.
    pub fn public_key(&self) -> &Key {
        &self.public_key
    }

    /// `hash(public_key)`.
    pub fn target(&self) -> &Key {
        &self.target
    }

    /// Handshakes tracked.
    pub fn handshake_count(&self) -> usize {
        self.handshakes.len()
    }

    /// Whether `hs` belongs to this server.
    pub fn has(&self, hs: HsId) -> bool {
        self.by_id.contains_key(&hs)
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Next stream command (connect, destroy).
    pub fn poll_cmd(&mut self) -> Option<Cmd<u64>> {
        self.cmds.pop_front()
    }

    /// A routed handshake for us arrived as request `req` from `from`.
    pub fn on_handshake(&mut self, route: ServerHandshake, from: SocketAddrV4, req: W) -> HsAction<W> {
        let key = hash(&route.noise);
        let Some(hs) = self.handshakes.get_mut(&key) else {
            return HsAction::New(req);
        };
        match (&hs.reply, hs.state) {
            (Some(reply), _) => {
                let answer = server_handshake_answer(&route, from, reply);
                HsAction::Answers(vec![(req, answer)])
            }
            (None, HsState::Asked) => {
                if hs.waiting.len() < MAX_WAITING {
                    hs.waiting.push(Waiting { req, route, from });
                }
                HsAction::Answers(Vec::new())
            }
            (None, _) => HsAction::Answers(Vec::new()),
        }
    }

    /// Whether another handshake can be taken.
    pub fn can_begin(&self) -> bool {
        self.handshakes.len() < MAX_HANDSHAKES
    }

    /// Starts a new handshake: `stream` was created for it and `local_payload` carries its id.
    pub fn begin(&mut self, new: NewHandshake<W>, now_ms: u64) {
        let NewHandshake { id, route, from, req, stream, local_payload } = new;
        let key = hash(&route.noise);
        let client_address = route.peer_address.unwrap_or(from);
        let direct = route.peer_address.is_none();
        let msg1 = route.noise.clone();
        let hs = Hs {
            id,
            stream,
            client_address,
            direct,
            state: HsState::Asked,
            reply: None,
            remote_id: None,
            waiting: vec![Waiting { req, route, from }],
            firewall_from: None,
            deadline: now_ms + HANDSHAKE_TIMEOUT_MS,
        };
        self.handshakes.insert(key, hs);
        self.by_id.insert(id, key);
        self.events.push_back(ServerEvent::IncomingHandshake {
            hs: id,
            msg1,
            local_payload: Box::new(local_payload),
            peer_address: client_address,
        });
    }

    /// The key holder's answer: `msg2` and the client's decrypted payload. Returns the
    /// requests to answer (every copy of msg1 so far gets the same reply).
    pub fn accept(
        &mut self,
        id: HsId,
        msg2: Vec<u8>,
        remote_payload: &NoisePayload,
        now_ms: u64,
    ) -> Result<Vec<(W, Answer)>, HyperDhtError> {
        let key = *self.by_id.get(&id).ok_or(HyperDhtError::UnknownId)?;
        let hs = self.handshakes.get_mut(&key).ok_or(HyperDhtError::UnknownId)?;
        if hs.state != HsState::Asked {
            return Err(HyperDhtError::UnknownId);
        }
        let answers: Vec<(W, Answer)> = hs
            .waiting
            .drain(..)
            .map(|w| {
                let a = server_handshake_answer(&w.route, w.from, &msg2);
                (w.req, a)
            })
            .collect();
        hs.reply = Some(msg2);
        let remote_id = remote_payload.udx.and_then(|u| u32::try_from(u.id).ok());
        if payload_error(remote_payload) != error::NONE || remote_id.is_none() {
            // The reply carries the error; nothing to connect.
            hs.state = HsState::Finished;
            hs.deadline = now_ms + HANDSHAKE_CLEAR_WAIT_MS;
            self.cmds.push_back(Cmd::StreamDestroy(hs.stream));
            return Ok(answers);
        }
        hs.remote_id = remote_id;
        hs.state = HsState::AwaitingClient;
        hs.deadline = now_ms + HANDSHAKE_TIMEOUT_MS;
        if remote_payload.firewall == firewall::OPEN || hs.direct {
            let to = hs.client_address;
            self.connect(key, to, now_ms);
        } else if let Some(from) = hs.firewall_from {
            self.connect(key, from, now_ms);
        }
        Ok(answers)
    }

    /// The key holder refused the handshake (or could not read msg1): stay silent.
    pub fn reject(&mut self, id: HsId, now_ms: u64) -> Result<(), HyperDhtError> {
        let key = *self.by_id.get(&id).ok_or(HyperDhtError::UnknownId)?;
        let hs = self.handshakes.get_mut(&key).ok_or(HyperDhtError::UnknownId)?;
        if hs.state != HsState::Asked {
            return Err(HyperDhtError::UnknownId);
        }
        hs.state = HsState::Finished;
        hs.waiting.clear();
        hs.deadline = now_ms + HANDSHAKE_CLEAR_WAIT_MS;
        self.cmds.push_back(Cmd::StreamDestroy(hs.stream));
        Ok(())
    }

    fn connect(&mut self, key: Key, to: SocketAddrV4, now_ms: u64) {
        let Some(hs) = self.handshakes.get_mut(&key) else { return };
        let Some(remote_id) = hs.remote_id else { return };
        hs.state = HsState::Finished;
        hs.deadline = now_ms + HANDSHAKE_CLEAR_WAIT_MS;
        self.cmds.push_back(Cmd::StreamConnect { stream: hs.stream, remote_id, to });
        self.events.push_back(ServerEvent::Incoming { hs: hs.id, stream: hs.stream, remote_address: to });
    }

    /// A UDX packet for `stream` came from `from` before the stream was connected. Returns
    /// whether the stream is one of ours.
    pub fn on_firewall(&mut self, stream: u32, from: SocketAddrV4, now_ms: u64) -> bool {
        let Some((key, state)) =
            self.handshakes.iter().find(|(_, h)| h.stream == stream).map(|(k, h)| (*k, h.state))
        else {
            return false;
        };
        match state {
            HsState::AwaitingClient => self.connect(key, from, now_ms),
            HsState::Asked => {
                if let Some(h) = self.handshakes.get_mut(&key) {
                    h.firewall_from = Some(from);
                }
            }
            HsState::Finished => {}
        }
        true
    }

    /// Earliest handshake deadline.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.handshakes.values().map(|h| h.deadline).min()
    }

    /// Fails handshakes whose time is up and forgets finished ones after the clear wait.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let due: Vec<Key> =
            self.handshakes.iter().filter(|(_, h)| now_ms >= h.deadline).map(|(k, _)| *k).collect();
        for key in due {
            let Some(hs) = self.handshakes.get_mut(&key) else { continue };
            match hs.state {
                HsState::Asked | HsState::AwaitingClient => {
                    let error = if hs.state == HsState::Asked {
                        HyperDhtError::HandshakeUnfinished
                    } else {
                        HyperDhtError::HolepunchAborted
                    };
                    hs.state = HsState::Finished;
                    hs.waiting.clear();
                    hs.deadline = now_ms + HANDSHAKE_CLEAR_WAIT_MS;
                    self.cmds.push_back(Cmd::StreamDestroy(hs.stream));
                    self.events.push_back(ServerEvent::HandshakeFailed { hs: hs.id, error });
                }
                HsState::Finished => {
                    let id = hs.id;
                    self.handshakes.remove(&key);
                    self.by_id.remove(&id);
                }
            }
        }
    }

    /// Stops: destroys the streams of unfinished handshakes and starts unannouncing.
    pub fn close(&mut self) {
        for hs in self.handshakes.values_mut() {
            if hs.state != HsState::Finished {
                hs.state = HsState::Finished;
                hs.waiting.clear();
                self.cmds.push_back(Cmd::StreamDestroy(hs.stream));
            }
        }
        self.announcer.stop();
    }
}
