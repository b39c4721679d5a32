//! The session's handling of the DHT side's reports (JS `node-proxy.js` stream events,
//! `server-proxy.js`, `handshake-proxy.js` `send`/`recv`, `signee-proxy.js`).

use hyperwasm::encoding::Compact;
use hyperwasm::hyperdht::crypto::{announce_signable, unannounce_signable};
use hyperwasm::hyperdht::messages::NoisePayload;

use super::super::codecs::{Key, Peer};
use super::super::dht_side::{Answer, AskId, DhtCommand, DhtEvent, SignKind, SignOwner, StreamId};
use super::super::messages::{
    Connection, Destroy, DestroyTarget, HandshakeRef, Message, NoiseReceive, NoiseReceiveRole, NoiseSend,
    NoiseSendRole, Open, SignRequest,
};
use super::{Direction, Hs, HsStep, PendingSign, Phase, QueryKind, Session, StreamPhase};

impl Session {
    /// One report from the DHT side.
    pub fn handle_dht(&mut self, ev: DhtEvent, now_ms: u64) {
        if self.phase == Phase::Closed {
            // Refuse what asks; ignore the rest (everything was torn down).
            match ev {
                DhtEvent::Sign { ask, .. } => self.answer(Answer::Sign { ask, signature: None }),
                DhtEvent::InitiatorMessage { ask, .. } => {
                    self.answer(Answer::InitiatorMessage { ask, msg1: None })
                }
                DhtEvent::ResponderMessage { ask, .. } => {
                    self.answer(Answer::ResponderMessage { ask, remote_payload: None })
                }
                DhtEvent::Handshake { ask, .. } => self.answer(Answer::Handshake { ask, accept: None }),
                _ => {}
            }
            return;
        }
        match ev {
            DhtEvent::QueryReply { query, reply } => {
                if self.queries.contains_key(&query) {
                    self.send(&Message::Result { id: query, data: reply.to_bytes() });
                }
            }
            DhtEvent::QueryDone { query } => {
                if self.queries.remove(&query).is_some() {
                    self.send(&Message::Finished { id: query });
                }
            }
            DhtEvent::Sign { ask, owner, kind, target, node_id, token, peer, refresh, signable } => {
                let req = self.check_sign(owner, kind, &target, &peer, refresh.is_some());
                let expected = match kind {
                    SignKind::Announce => announce_signable(&target, &node_id, &token, &peer, None),
                    SignKind::Unannounce => unannounce_signable(&target, &node_id, &token, &peer, None),
                };
                match req {
                    Some(signee) if expected == signable && !self.asks_full() => {
                        let id = self.alloc(|s, id| s.signs.contains_key(&id));
                        let deadline = now_ms.saturating_add(self.config.sign_timeout_ms);
                        let server = match owner {
                            SignOwner::Server(server) => Some(server),
                            SignOwner::Query(_) => None,
                        };
                        let public_key = peer.public_key;
                        let pending = PendingSign { ask, server, deadline, signable, public_key };
                        self.signs.insert(id, pending);
                        let r = SignRequest {
                            id,
                            signee,
                            token,
                            peer_id: Some(node_id.to_vec()),
                            relay_addresses: peer.relay_addresses,
                        };
                        self.send(&match kind {
                            SignKind::Announce => Message::SignAnnounce(r),
                            SignKind::Unannounce => Message::SignUnannounce(r),
                        });
                    }
                    _ => self.answer(Answer::Sign { ask, signature: None }),
                }
            }
            DhtEvent::InitiatorMessage { ask, stream, local_payload } => {
                self.on_initiator(ask, stream, &local_payload)
            }
            DhtEvent::ResponderMessage { ask, stream, msg2 } => {
                let h = self.streams.get(&stream).and_then(|s| s.handshake);
                match h.and_then(|h| self.handshakes.get_mut(&h).map(|hs| (h, hs))) {
                    Some((h, hs)) if matches!(hs.step, HsStep::InitAwaitMsg2) => {
                        hs.ask = Some(ask);
                        hs.step = HsStep::InitAwaitPayload;
                        self.send(&Message::NoiseReceive(NoiseReceive {
                            id: h,
                            role: NoiseReceiveRole::Initiator,
                            payload: msg2,
                        }));
                    }
                    _ => self.answer(Answer::ResponderMessage { ask, remote_payload: None }),
                }
            }
            DhtEvent::Handshake { ask, server, msg1, local_payload, peer_address: _ } => {
                let live = self.servers.get(&server).is_some_and(|s| !s.closing);
                if !live || self.asks_full() || msg1.is_empty() {
                    return self.answer(Answer::Handshake { ask, accept: None });
                }
                let h = self.alloc(|s, id| s.handshakes.contains_key(&id));
                self.handshakes.insert(
                    h,
                    Hs { ask: Some(ask), step: HsStep::RespAwaitPayload { server, local_payload } },
                );
                self.send(&Message::NoiseReceive(NoiseReceive {
                    id: h,
                    role: NoiseReceiveRole::Responder { server_alias: server.0 },
                    payload: msg1,
                }));
            }
            DhtEvent::AskDropped { ask } => {
                self.signs.retain(|_, s| s.ask != ask);
                self.handshakes.retain(|_, h| h.ask != Some(ask));
            }
            DhtEvent::Connected { stream, remote_address: _ } => self.on_dht_connected(stream),
            DhtEvent::ConnectFailed { stream, error } => {
                let pending = self.streams.get(&stream).is_some_and(|s| s.phase == StreamPhase::Pending);
                if pending {
                    self.stream_gone(stream, Some(error));
                }
            }
            DhtEvent::Listening { server, address, relay_addresses } => {
                if let Some(s) = self.servers.get_mut(&server) {
                    s.relay_addresses = relay_addresses;
                    if !s.listening {
                        s.listening = true;
                        let remote_alias = s.client_alias;
                        self.send(&Message::Listening { alias: server.0, remote_alias, address });
                    }
                }
            }
            DhtEvent::ServerClosed { server } => {
                if let Some(s) = self.servers.remove(&server) {
                    self.client_servers.remove(&s.client_alias);
                    let hs: Vec<u32> = self
                        .handshakes
                        .iter()
                        .filter(|(_, h)| match &h.step {
                            HsStep::RespAwaitPayload { server: x, .. }
                            | HsStep::RespAwaitMsg2 { server: x, .. } => *x == server,
                            _ => false,
                        })
                        .map(|(id, _)| *id)
                        .collect();
                    for id in hs {
                        if let Some(h) = self.handshakes.remove(&id) {
                            self.refuse_hs(h);
                        }
                    }
                    self.send(&Message::Closed { alias: server.0 });
                }
            }
            DhtEvent::Incoming { stream, remote_address: _ } => self.on_incoming(stream),
            DhtEvent::HandshakeFailed { stream } => {
                if self.streams.get(&stream).is_some_and(|s| s.phase == StreamPhase::Pending) {
                    self.remove_stream(stream);
                }
            }
            DhtEvent::Data { stream, data } => {
                let announced = self.streams.get(&stream).is_some_and(|s| s.phase == StreamPhase::Announced);
                if announced && !data.is_empty() {
                    self.send(&Message::Data { alias: stream.0, data: vec![data] });
                }
            }
            DhtEvent::End { stream } => {
                if self.streams.get(&stream).is_some_and(|s| s.phase == StreamPhase::Announced) {
                    self.send(&Message::End { alias: stream.0 });
                }
            }
            DhtEvent::Closed { stream, error } => self.stream_gone(stream, error),
        }
    }

    /// Which signee a record may be signed for, if it is one the client asked for.
    fn check_sign(
        &self,
        owner: SignOwner,
        kind: SignKind,
        target: &Key,
        peer: &Peer,
        refresh: bool,
    ) -> Option<u32> {
        if refresh {
            return None; // the JS client's signable has no refresh part
        }
        match owner {
            SignOwner::Query(q) => {
                let query = self.queries.get(&q)?;
                let kind_ok = match query.kind {
                    QueryKind::Lookup => false,
                    QueryKind::Announce => true,
                    QueryKind::Unannounce => kind == SignKind::Unannounce,
                };
                (kind_ok && query.topic == *target && query.public_key == peer.public_key).then_some(q)
            }
            SignOwner::Server(s) => {
                let server = self.servers.get(&s)?;
                let ok = server.public_key == peer.public_key
                    && crate::hyperdht::hash(&server.public_key) == *target;
                ok.then_some(server.client_alias)
            }
        }
    }

    fn on_initiator(&mut self, ask: AskId, stream: StreamId, local_payload: &NoisePayload) {
        let client_alias = match self.streams.get(&stream) {
            Some(s)
                if s.direction == Direction::Outgoing
                    && s.phase == StreamPhase::Pending
                    && !self.asks_full() =>
            {
                s.client_alias
            }
            _ => None,
        };
        let Some(remote_stream_alias) = client_alias else {
            return self.answer(Answer::InitiatorMessage { ask, msg1: None });
        };
        // A new attempt replaces the previous handshake of this connect.
        if let Some(old) = self.streams.get_mut(&stream).and_then(|s| s.handshake.take()) {
            if let Some(hs) = self.handshakes.remove(&old) {
                self.refuse_hs(hs);
            }
        }
        let h = self.alloc(|s, id| s.handshakes.contains_key(&id));
        self.handshakes.insert(h, Hs { ask: Some(ask), step: HsStep::InitAwaitMsg1 });
        if let Some(s) = self.streams.get_mut(&stream) {
            s.handshake = Some(h);
        }
        self.send(&Message::NoiseSend(NoiseSend {
            id: h,
            role: NoiseSendRole::Initiator { remote_stream_alias },
            payload: local_payload.to_bytes(),
        }));
    }

    fn on_dht_connected(&mut self, stream: StreamId) {
        let Some(s) = self.streams.get_mut(&stream) else { return };
        if s.direction != Direction::Outgoing || s.phase != StreamPhase::Pending {
            return;
        }
        // The client finds its handshake keys by this id: without one there is nothing to open.
        let (Some(h), Some(remote_alias)) = (s.handshake, s.client_alias) else {
            self.commands.push_back(DhtCommand::Destroy { stream });
            return self.stream_gone(stream, Some("HANDSHAKE_INCOMPLETE".into()));
        };
        s.phase = StreamPhase::Announced;
        self.handshakes.remove(&h);
        self.send(&Message::Open(Open { alias: stream.0, remote_alias, handshake: HandshakeRef::Id(h) }));
    }

    fn on_incoming(&mut self, stream: StreamId) {
        let Some(s) = self.streams.get_mut(&stream) else { return };
        let Direction::Incoming(server) = s.direction else { return };
        if s.phase != StreamPhase::Pending {
            return;
        }
        let (Some(h), true) = (s.handshake, self.servers.contains_key(&server)) else {
            // Its server is gone: the client could not take it.
            self.remove_stream(stream);
            return self.commands.push_back(DhtCommand::Destroy { stream });
        };
        s.phase = StreamPhase::Announced;
        let remote_public_key = s.remote_public_key;
        self.send(&Message::Connection(Connection {
            alias: stream.0,
            server_alias: server.0,
            remote_public_key,
            handshake: HandshakeRef::Id(h),
        }));
    }

    /// The stream is gone on the DHT side: tell the client with the right `paired` flag.
    fn stream_gone(&mut self, stream: StreamId, error: Option<String>) {
        let Some(s) = self.remove_stream(stream) else { return };
        let target = match (s.phase, s.direction, s.client_alias) {
            (StreamPhase::Announced, _, _) => DestroyTarget::Paired { alias: stream.0 },
            (StreamPhase::Pending, Direction::Outgoing, Some(remote_alias)) => {
                DestroyTarget::Unpaired { remote_alias }
            }
            // An incoming stream the client never heard of.
            _ => return,
        };
        let error = error.filter(|e| !e.is_empty()).or_else(|| {
            (target != DestroyTarget::Paired { alias: stream.0 })
                .then(|| "PEER_CONNECTION_FAILED".to_string())
        });
        self.send(&Message::Destroy(Destroy { target, error }));
    }
}
