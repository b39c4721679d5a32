//! [`Node`]'s events and the dispatch behind them: dht-rpc and UDX events are routed to the
//! piece that waits for them (by request, query, signature or stream), and each piece's
//! commands and events are drained into the node.

use super::announcer::AnnouncerEvent;
use super::connect::ConnectEvent;
use super::node::{reply_of, rpc_error, Node, Owner, StreamOwner};
use super::ops::{CommitResult, FindPeerResult, LookupResult, OpEvent, OpOutcome};
use super::server::{HsId, ServerEvent, ServerId};
use super::{HyperDhtError, Key, SignParts};
use crate::dht_rpc::RpcEvent;
use crate::udx;
use hyperwasm::hyperdht::messages::{NoisePayload, RelayInfo};
use std::net::SocketAddrV4;

/// A client operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// An outgoing connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A signature asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignId(pub u64);

/// Who asked for a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignOrigin {
    /// A client operation (announce, unannounce, mutable put).
    Op(OpId),
    /// A server's self-announce.
    Server(ServerId),
    /// A connection (never signs today).
    Conn(ConnId),
}

/// What a [`Node`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// dht-rpc's bootstrap finished.
    Ready,
    /// The node became persistent (it now stores records and has an id).
    Persistent,
    /// The node went back to ephemeral.
    Ephemeral,
    /// The firewall check is over: the driver may close the probe socket.
    CloseProbe,
    /// Sign `signable` with the secret key of `public_key`; answer with
    /// [`Node::provide_signature`] (or [`Node::refuse_signature`]).
    NeedSignature {
        /// Handle to answer with.
        op: SignId,
        /// Whose signature.
        public_key: Key,
        /// The 64 bytes to sign (Ed25519 detached).
        signable: [u8; 64],
        /// The operation or server that asks (a delegated key holder routes by it).
        origin: SignOrigin,
        /// What `signable` covers (announce/unannounce; `None` for a mutable put).
        parts: Option<SignParts>,
    },
    /// A LOOKUP reply of a lookup/announce/unannounce operation.
    LookupReply {
        /// Operation.
        op: OpId,
        /// The reply.
        reply: LookupResult,
    },
    /// A FIND_PEER reply.
    FindPeerReply {
        /// Operation.
        op: OpId,
        /// The reply.
        reply: FindPeerResult,
    },
    /// One announce round finished.
    Announced {
        /// Operation.
        op: OpId,
        /// The commits, or why there were none that worked.
        result: Result<Vec<CommitResult>, HyperDhtError>,
    },
    /// An operation finished.
    OpDone {
        /// Operation.
        op: OpId,
        /// Its outcome.
        result: Result<OpOutcome, HyperDhtError>,
    },
    /// Make the Noise IK msg1 (initiator, to the server's key) carrying `local_payload`; answer
    /// with [`Node::provide_initiator_message`].
    NeedInitiatorMessage {
        /// Connection.
        conn: ConnId,
        /// Our payload (UDX stream id, firewall, addresses).
        local_payload: NoisePayload,
    },
    /// The server's msg2: decrypt it and answer with [`Node::provide_remote_payload`] (or
    /// [`Node::abort`]).
    ResponderMessage {
        /// Connection.
        conn: ConnId,
        /// msg2.
        msg2: Vec<u8>,
    },
    /// The connection's UDX stream is connected; start secret-stream on it.
    Connected {
        /// Connection.
        conn: ConnId,
        /// Our stream id.
        stream: u32,
        /// The server's address.
        remote_address: SocketAddrV4,
    },
    /// The connection failed.
    ConnectFailed {
        /// Connection.
        conn: ConnId,
        /// Why.
        error: HyperDhtError,
    },
    /// A server's self-announce finished an update (the first one means it is reachable).
    ServerAnnounced {
        /// Server.
        server: ServerId,
        /// The nodes now relaying handshakes to it.
        relays: Vec<RelayInfo>,
    },
    /// A new client handshake: decrypt `msg1`, set `local_payload.error` to
    /// [`super::server::payload_error`] of the client's payload, encrypt msg2 and answer with
    /// [`Node::accept_handshake`] (or [`Node::reject_handshake`]).
    IncomingHandshake {
        /// Server.
        server: ServerId,
        /// Handshake.
        hs: HsId,
        /// The client's Noise message.
        msg1: Vec<u8>,
        /// Our payload.
        local_payload: NoisePayload,
        /// The client's address as the first relay saw it.
        peer_address: SocketAddrV4,
    },
    /// An accepted handshake's stream is connected; start secret-stream on it.
    Incoming {
        /// Server.
        server: ServerId,
        /// Handshake (whose keys the stream uses).
        hs: HsId,
        /// Our stream id.
        stream: u32,
        /// The client's address.
        remote_address: SocketAddrV4,
    },
    /// An accepted (or asked) handshake never connected; its stream is gone.
    HandshakeFailed {
        /// Server.
        server: ServerId,
        /// Handshake.
        hs: HsId,
        /// Why.
        error: HyperDhtError,
    },
    /// A server stopped (after unannouncing).
    ServerClosed {
        /// Server.
        server: ServerId,
    },
    /// Something happened on a connected stream (readable, writable, ended, message, closed).
    Stream(udx::Event),
}

impl Node {
    /// Routes every pending dht-rpc and UDX event until nothing moves.
    pub(super) fn process(&mut self) {
        if self.destroyed {
            return;
        }
        loop {
            let mut moved = false;
            while let Some(ev) = self.rpc.poll_event() {
                moved = true;
                self.on_rpc_event(ev);
            }
            while let Some(ev) = self.udx.poll_event() {
                moved = true;
                self.on_udx_event(ev);
            }
            if !moved {
                break;
            }
        }
    }

    fn on_rpc_event(&mut self, ev: RpcEvent) {
        let now = self.now_ms;
        match ev {
            RpcEvent::Ready => self.events.push_back(Event::Ready),
            RpcEvent::Persistent => self.events.push_back(Event::Persistent),
            RpcEvent::Ephemeral => self.events.push_back(Event::Ephemeral),
            RpcEvent::CloseProbe => self.events.push_back(Event::CloseProbe),
            RpcEvent::Request(req) => self.on_request(req),
            RpcEvent::Response { id, response } => {
                let Some(owner) = self.requests.remove(&id) else { return };
                let r = reply_of(&response);
                match owner {
                    Owner::Op(o, k) => {
                        if let Some(op) = self.ops.get_mut(&o) {
                            op.on_response(k, &r, now);
                        }
                        self.flush_op(o);
                    }
                    Owner::Conn(c, k) => {
                        if let Some(conn) = self.conns.get_mut(&c) {
                            conn.on_response(k, &r, now);
                        }
                        self.flush_conn(c);
                    }
                    Owner::Server(s, k) => {
                        if let Some(srv) = self.servers.get_mut(&s) {
                            srv.announcer.on_response(k, &r, now);
                        }
                        self.flush_server(s);
                    }
                }
            }
            RpcEvent::RequestFailed { id, error } => {
                let Some(owner) = self.requests.remove(&id) else { return };
                let e = rpc_error(&error);
                match owner {
                    Owner::Op(o, k) => {
                        if let Some(op) = self.ops.get_mut(&o) {
                            op.on_request_failed(k, e, now);
                        }
                        self.flush_op(o);
                    }
                    Owner::Conn(c, k) => {
                        if let Some(conn) = self.conns.get_mut(&c) {
                            conn.on_request_failed(k, now);
                        }
                        self.flush_conn(c);
                    }
                    Owner::Server(s, k) => {
                        if let Some(srv) = self.servers.get_mut(&s) {
                            srv.announcer.on_request_failed(k, e, now);
                        }
                        self.flush_server(s);
                    }
                }
            }
            RpcEvent::QueryReply { id, reply } => {
                let Some(owner) = self.queries.get(&id).copied() else { return };
                let r = reply_of(&reply);
                match owner {
                    Owner::Op(o, k) => {
                        if let Some(op) = self.ops.get_mut(&o) {
                            op.on_query_reply(k, &r);
                        }
                        self.flush_op(o);
                    }
                    Owner::Conn(c, k) => {
                        if let Some(conn) = self.conns.get_mut(&c) {
                            conn.on_query_reply(k, &r, now);
                        }
                        self.flush_conn(c);
                    }
                    Owner::Server(..) => {}
                }
            }
            RpcEvent::QueryDone { id, closest, error } => {
                let Some(owner) = self.queries.remove(&id) else { return };
                self.query_ids.remove(&owner);
                let closest: Vec<_> = closest.iter().map(reply_of).collect();
                match owner {
                    Owner::Op(o, k) => {
                        if let Some(op) = self.ops.get_mut(&o) {
                            op.on_query_done(k, &closest, error.as_ref().map(rpc_error), now);
                        }
                        self.flush_op(o);
                    }
                    Owner::Conn(c, k) => {
                        if let Some(conn) = self.conns.get_mut(&c) {
                            conn.on_query_done(k, now);
                        }
                        self.flush_conn(c);
                    }
                    Owner::Server(s, k) => {
                        let own = self.public_address();
                        if let Some(srv) = self.servers.get_mut(&s) {
                            srv.announcer.on_query_done(k, &closest, own);
                        }
                        self.flush_server(s);
                    }
                }
            }
        }
    }

    fn on_udx_event(&mut self, ev: udx::Event) {
        let now = self.now_ms;
        // A handshake-owned stream that closed: what it held back goes with it.
        let closed = match &ev {
            udx::Event::Closed { id, .. } if self.streams.contains_key(id) => Some(*id),
            _ => None,
        };
        match ev {
            udx::Event::Firewall { id, from } => match self.streams.get(&id).copied() {
                Some(StreamOwner::Conn(c)) => {
                    if let Some(conn) = self.conns.get_mut(&c) {
                        conn.on_firewall(from);
                    }
                    self.flush_conn(c);
                }
                Some(StreamOwner::Server(s)) => {
                    if let Some(srv) = self.servers.get_mut(&s) {
                        srv.on_firewall(id, from, now);
                    }
                    self.flush_server(s);
                }
                None => {}
            },
            udx::Event::Closed { id, error } => match self.streams.remove(&id) {
                // A peer reset our stream before it was connected.
                Some(StreamOwner::Conn(c)) => {
                    if let Some(conn) = self.conns.get_mut(&c) {
                        conn.fail(HyperDhtError::PeerConnectionFailed);
                    }
                    self.flush_conn(c);
                }
                Some(StreamOwner::Server(sid)) => {
                    if let Some(srv) = self.servers.get_mut(&sid) {
                        srv.on_stream_closed(id, now);
                    }
                    self.flush_server(sid);
                }
                None => self.events.push_back(Event::Stream(udx::Event::Closed { id, error })),
            },
            // Bytes and an END that arrive before the stream is handed over (the peer connected
            // first) wait in the stream; Readable and Ended follow Connected / Incoming.
            udx::Event::Readable { id } if self.streams.contains_key(&id) => {
                self.early.entry(id).or_default().readable = true;
            }
            udx::Event::Ended { id } if self.streams.contains_key(&id) => {
                self.early.entry(id).or_default().ended = true;
            }
            other => self.events.push_back(Event::Stream(other)),
        }
        if let Some(id) = closed {
            self.early.remove(&id);
        }
    }

    /// After a Connected / Incoming event: a Readable for its stream if bytes came early, an
    /// Ended if its END did.
    fn raise_early(&mut self) {
        let stream = match self.events.back() {
            Some(Event::Connected { stream, .. }) | Some(Event::Incoming { stream, .. }) => *stream,
            _ => return,
        };
        let Some(early) = self.early.remove(&stream) else { return };
        if early.readable {
            self.events.push_back(Event::Stream(udx::Event::Readable { id: stream }));
        }
        if early.ended {
            self.events.push_back(Event::Stream(udx::Event::Ended { id: stream }));
        }
    }

    /// Drains every piece (after a timer pass or a signature).
    pub(super) fn flush_all(&mut self) {
        let ops: Vec<_> = self.ops.keys().copied().collect();
        for o in ops {
            self.flush_op(o);
        }
        let conns: Vec<_> = self.conns.keys().copied().collect();
        for c in conns {
            self.flush_conn(c);
        }
        let servers: Vec<_> = self.servers.keys().copied().collect();
        for s in servers {
            self.flush_server(s);
        }
    }

    pub(super) fn flush_op(&mut self, id: OpId) {
        loop {
            let Some(op) = self.ops.get_mut(&id) else { return };
            if let Some(cmd) = op.poll_cmd() {
                self.exec(|k| Owner::Op(id, k), cmd);
                continue;
            }
            let Some(ev) = op.poll_event() else { break };
            self.events.push_back(match ev {
                OpEvent::Lookup(reply) => Event::LookupReply { op: id, reply },
                OpEvent::FindPeer(reply) => Event::FindPeerReply { op: id, reply },
                OpEvent::Announced(result) => Event::Announced { op: id, result },
                OpEvent::Done(result) => Event::OpDone { op: id, result },
            });
        }
        if self.ops.get(&id).is_some_and(|o| o.is_finished()) {
            self.ops.remove(&id);
            self.forget_owner(|o| matches!(o, Owner::Op(i, _) if *i == id));
        }
    }

    pub(super) fn flush_conn(&mut self, id: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&id) else { return };
            if let Some(cmd) = c.poll_cmd() {
                self.exec(|k| Owner::Conn(id, k), cmd);
                continue;
            }
            let Some(ev) = c.poll_event() else { break };
            self.events.push_back(match ev {
                ConnectEvent::NeedInitiatorMessage(local_payload) => {
                    Event::NeedInitiatorMessage { conn: id, local_payload: *local_payload }
                }
                ConnectEvent::ResponderMessage(msg2) => Event::ResponderMessage { conn: id, msg2 },
                ConnectEvent::Connected { stream, remote_address } => {
                    Event::Connected { conn: id, stream, remote_address }
                }
                ConnectEvent::Failed(error) => Event::ConnectFailed { conn: id, error },
            });
            self.raise_early();
        }
        if self.conns.get(&id).is_some_and(|c| c.is_done()) {
            self.conns.remove(&id);
            self.forget_owner(|o| matches!(o, Owner::Conn(i, _) if *i == id));
        }
    }

    pub(super) fn flush_server(&mut self, id: ServerId) {
        let mut closed = false;
        loop {
            let Some(s) = self.servers.get_mut(&id) else { return };
            if let Some(cmd) = s.poll_cmd().or_else(|| s.announcer.poll_cmd()) {
                self.exec(|k| Owner::Server(id, k), cmd);
                continue;
            }
            if let Some(ev) = s.poll_event() {
                self.events.push_back(match ev {
                    ServerEvent::IncomingHandshake { hs, msg1, local_payload, peer_address } => {
                        Event::IncomingHandshake {
                            server: id,
                            hs,
                            msg1,
                            local_payload: *local_payload,
                            peer_address,
                        }
                    }
                    ServerEvent::Incoming { hs, stream, remote_address } => {
                        Event::Incoming { server: id, hs, stream, remote_address }
                    }
                    ServerEvent::HandshakeFailed { hs, error } => {
                        Event::HandshakeFailed { server: id, hs, error }
                    }
                });
                self.raise_early();
                continue;
            }
            let Some(ev) = s.announcer.poll_event() else { break };
            match ev {
                AnnouncerEvent::Updated { relays } => {
                    self.events.push_back(Event::ServerAnnounced { server: id, relays })
                }
                AnnouncerEvent::Stopped => closed = true,
            }
        }
        if closed {
            self.servers.remove(&id);
            self.hs_server.retain(|_, s| *s != id);
            self.streams.retain(|_, o| *o != StreamOwner::Server(id));
            let owned = &self.streams;
            self.early.retain(|s, _| owned.contains_key(s));
            self.forget_owner(|o| matches!(o, Owner::Server(i, _) if *i == id));
            self.events.push_back(Event::ServerClosed { server: id });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dht_rpc::messages::RequestMessage;
    use crate::dht_rpc::SocketKind;
    use crate::hyperdht::connect::ConnectOptions;
    use crate::hyperdht::node::{Early, NodeOptions};
    use crate::udx::packet::{Header, FLAG_DATA, FLAG_DESTROY, FLAG_END};
    use hyperwasm::encoding::Compact;
    use hyperwasm::hyperdht::constants::{command, mode};
    use hyperwasm::hyperdht::messages::Handshake;
    use std::net::Ipv4Addr;

    const PEER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(20, 0, 0, 1), 4000);

    fn packet(stream: u32, flags: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Header { flags, data_offset: 0, id: stream, rwnd: 1 << 20, seq, ack: 0 }.write(&mut out);
        out.extend_from_slice(payload);
        out
    }

    fn stream_events(node: &mut Node) -> usize {
        std::iter::from_fn(|| node.poll_event()).filter(|e| matches!(e, Event::Stream(_))).count()
    }

    /// Data and END for `stream` before anyone holds it: nothing is raised, both are held back.
    fn data_and_end(node: &mut Node, stream: u32) {
        node.handle_datagram(PEER, SocketKind::Main, &packet(stream, FLAG_DATA, 0, b"early"), 1);
        node.handle_datagram(PEER, SocketKind::Main, &packet(stream, FLAG_END, 1, b""), 1);
        assert_eq!(stream_events(node), 0, "nothing is raised for a stream nobody holds yet");
        assert_eq!(node.early.get(&stream), Some(&Early { readable: true, ended: true }));
    }

    #[test]
    fn what_a_client_stream_held_back_goes_when_the_peer_resets_it() {
        let mut node = Node::new(NodeOptions::default(), 0);
        let conn = node.connect(&[9; 32], ConnectOptions::default(), 0);
        let stream = *node.streams.keys().next().expect("the connection's stream");
        while node.poll_event().is_some() {}
        data_and_end(&mut node, stream);
        node.handle_datagram(PEER, SocketKind::Main, &packet(stream, FLAG_DESTROY, 2, b""), 2);
        let failed = std::iter::from_fn(|| node.poll_event())
            .any(|e| matches!(e, Event::ConnectFailed { conn: c, .. } if c == conn));
        assert!(failed);
        assert!(node.early.is_empty());
    }

    #[test]
    fn what_a_server_handshake_stream_held_back_goes_when_the_peer_resets_it() {
        let mut node = Node::new(NodeOptions::default(), 0);
        let server_key = [5; 32];
        node.listen(server_key, 0).unwrap();
        let value = Handshake {
            mode: mode::FROM_CLIENT,
            noise: vec![1; 96],
            peer_address: None,
            relay_address: None,
        };
        let req = RequestMessage {
            tid: 1,
            to: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            id: None,
            token: None,
            internal: false,
            command: command::PEER_HANDSHAKE,
            target: Some(super::super::hash(&server_key)),
            value: Some(value.to_bytes()),
        };
        node.handle_datagram(PEER, SocketKind::Main, &req.encode(), 1);
        let hs = std::iter::from_fn(|| node.poll_event()).find_map(|e| match e {
            Event::IncomingHandshake { hs, local_payload, .. } => Some((hs, local_payload)),
            _ => None,
        });
        let (_, payload) = hs.expect("the server is asked for msg2");
        let stream = payload.udx.expect("a stream for the handshake").id as u32;
        data_and_end(&mut node, stream);
        node.handle_datagram(PEER, SocketKind::Main, &packet(stream, FLAG_DESTROY, 2, b""), 2);
        let failed =
            std::iter::from_fn(|| node.poll_event()).any(|e| matches!(e, Event::HandshakeFailed { .. }));
        assert!(failed);
        assert!(node.early.is_empty());
    }
}
