//! [`RelayClient`]'s connections: dialling (Noise IK initiator), servers (Noise IK responder,
//! firewall) and the stream API with its credit (PROTOCOL.md §6–§8).

use std::net::SocketAddrV4;

use super::{Accepted, Asking, RelayClient, Server, Stream, StreamState};
use crate::crypto::KeyPair;
use crate::encoding::Compact;
use crate::hyperdht::constants::error;
use crate::hyperdht::messages::{decode, NoisePayload};
use crate::hyperdht::noise_wrap::{check_server_payload, reply_error, NoiseWrap};
use crate::relay_protocol::client_events::{ClientEvent, Firewall, HandshakeId, ServerId, StreamId};
use crate::relay_protocol::credit::StreamCredit;
use crate::relay_protocol::errors::RelayError;
use crate::relay_protocol::messages::Message;
use crate::relay_protocol::{CLIENT_ID_LIMIT, MAX_DATA_LEN};

impl RelayClient {
    // -----------------------------------------------------------------------------------------
    // Dialling

    /// Connects to `remote_public_key` as `key_pair` (through `relay_hints`, the DHT nodes
    /// that route to it, if known). Ends with [`ClientEvent::StreamOpen`] (carrying the Noise
    /// result for secret-stream) or [`ClientEvent::StreamClosed`] with the failure's code.
    pub fn connect(
        &mut self,
        remote_public_key: [u8; 32],
        key_pair: &KeyPair,
        relay_hints: Vec<SocketAddrV4>,
    ) -> Result<StreamId, RelayError> {
        let streams = &self.streams;
        let id = super::next_free(&mut self.next_stream, |id| streams.contains_key(&id), streams.len())?;
        let public_key = key_pair.public_key();
        self.send(&Message::Connect {
            stream: id,
            remote_public_key,
            public_key,
            relay_addresses: relay_hints,
        })?;
        let state = StreamState::AwaitInit { key_pair: key_pair.clone() };
        self.streams.insert(id, Stream { remote_public_key, state });
        Ok(id)
    }

    /// Ends a stream locally with `code`: tells the relay and the application.
    fn fail_stream(&mut self, id: StreamId, code: &str) -> Result<(), RelayError> {
        self.streams.remove(&id);
        self.events.push_back(ClientEvent::StreamClosed { id, code: code.to_owned() });
        self.send(&Message::Close { stream: id, code: code.to_owned() })
    }

    pub(super) fn on_noise_init(&mut self, id: StreamId, local_payload: &[u8]) -> Result<(), RelayError> {
        let Some(stream) = self.streams.get_mut(&id) else { return Ok(()) };
        let StreamState::AwaitInit { key_pair } = &stream.state else {
            return Err(RelayError::protocol("noiseInit for a stream past it"));
        };
        let payload: NoisePayload = decode(local_payload)?;
        let mut noise = Box::new(NoiseWrap::initiator(key_pair, stream.remote_public_key));
        match noise.send(&payload) {
            Ok(msg1) => {
                stream.state = StreamState::AwaitMsg2 { noise };
                self.send(&Message::NoiseMsg1 { stream: id, msg1 })
            }
            Err(e) => self.fail_stream(id, e.code()),
        }
    }

    /// The server's reply: decrypted and checked as JS `connect` does (version 1, no error,
    /// a UDX section); a failure closes the stream with its JS code.
    pub(super) fn on_noise_msg2(&mut self, id: StreamId, msg2: &[u8]) -> Result<(), RelayError> {
        let Some(Stream { remote_public_key, state }) = self.streams.remove(&id) else { return Ok(()) };
        let mut noise = match state {
            StreamState::AwaitMsg2 { noise } => noise,
            state => {
                self.streams.insert(id, Stream { remote_public_key, state });
                return Err(RelayError::protocol("noiseMsg2 for a stream not waiting for it"));
            }
        };
        let remote = noise.recv(msg2).and_then(|p| check_server_payload(&p).map(|()| p));
        match remote.and_then(|p| (*noise).finish().map(|r| (p, r))) {
            Ok((remote, result)) => {
                let state = StreamState::AwaitOpen { handshake: result.handshake };
                self.streams.insert(id, Stream { remote_public_key, state });
                self.send(&Message::NoiseRemote { stream: id, remote_payload: remote.to_bytes() })
            }
            Err(e) => self.fail_stream(id, e.code()),
        }
    }

    pub(super) fn on_open(
        &mut self,
        id: StreamId,
        remote_address: SocketAddrV4,
        credit: u64,
    ) -> Result<(), RelayError> {
        let Some(stream) = self.streams.get_mut(&id) else { return Ok(()) };
        let StreamState::AwaitOpen { handshake } = &stream.state else {
            return Err(RelayError::protocol("open for a stream not waiting for it"));
        };
        let event = ClientEvent::StreamOpen {
            id,
            remote_public_key: stream.remote_public_key,
            remote_address,
            handshake: handshake.clone(),
        };
        stream.state = open_state(id, credit);
        self.events.push_back(event);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Servers

    /// Starts a server for `key_pair` on the relay's DHT node. [`ClientEvent::Listening`]
    /// follows its first announce; each client arrives as [`ClientEvent::Incoming`].
    pub fn listen(&mut self, key_pair: &KeyPair, firewall: Firewall) -> Result<ServerId, RelayError> {
        let id = self.alloc_query_id()?;
        self.send(&Message::Listen { server: id, public_key: key_pair.public_key() })?;
        self.servers.insert(id, Server { key_pair: key_pair.clone(), firewall, unlistening: false });
        Ok(id)
    }

    /// Stops a server; [`ClientEvent::Unlistened`] follows. Unknown ids are ignored.
    pub fn unlisten(&mut self, server: ServerId) -> Result<(), RelayError> {
        match self.servers.get_mut(&server) {
            Some(s) if !s.unlistening => {
                s.unlistening = true;
                self.send(&Message::Unlisten { server })
            }
            _ => Ok(()),
        }
    }

    /// A client's handshake for one of our servers: decrypt `msg1` as IK responder, apply the
    /// firewall, answer `accept` (msg2 with hyperdht's error field) or `reject`.
    pub(super) fn on_handshake(
        &mut self,
        server: ServerId,
        hs: HandshakeId,
        peer_address: SocketAddrV4,
        msg1: &[u8],
        local_payload: &[u8],
    ) -> Result<(), RelayError> {
        if hs < CLIENT_ID_LIMIT {
            return Err(RelayError::protocol("handshake id below 2^31"));
        }
        if self.asking.contains_key(&hs) || self.accepted.contains_key(&hs) {
            return Err(RelayError::protocol("handshake id in use"));
        }
        let local_payload: NoisePayload = decode(local_payload)?;
        let full = self.asking.len() + self.accepted.len() >= self.config.max_pending_handshakes;
        let Some(srv) = self.servers.get(&server).filter(|s| !s.unlistening && !full) else {
            return self.send(&Message::Reject { hs });
        };
        let firewall = srv.firewall;
        let mut noise = Box::new(NoiseWrap::responder(&srv.key_pair));
        let (remote_payload, remote_public_key) = match (noise.recv(msg1), noise.remote_public_key()) {
            (Ok(p), Some(k)) => (p, k),
            _ => return self.send(&Message::Reject { hs }),
        };
        let deadline = self.now.saturating_add(self.config.handshake_timeout_ms);
        let asking = Asking { server, noise, local_payload, remote_payload, deadline };
        match firewall {
            Firewall::AcceptAll => self.respond(hs, asking),
            Firewall::Ask => {
                self.events.push_back(ClientEvent::FirewallRequest {
                    server,
                    hs,
                    remote_public_key,
                    remote_payload: asking.remote_payload.clone(),
                    peer_address,
                });
                self.asking.insert(hs, asking);
                Ok(())
            }
        }
    }

    /// Answers a [`ClientEvent::FirewallRequest`]. Unknown (or expired) handshakes are
    /// ignored.
    pub fn firewall_decision(&mut self, hs: HandshakeId, accept: bool) -> Result<(), RelayError> {
        match self.asking.remove(&hs) {
            Some(asking) if accept => self.respond(hs, asking),
            Some(_) => self.send(&Message::Reject { hs }),
            None => Ok(()),
        }
    }

    /// Builds msg2 from the relay's payload with the error hyperdht's server sets
    /// (`VERSION_MISMATCH`, `ABORTED` without UDX, else none) and accepts.
    fn respond(&mut self, hs: HandshakeId, asking: Asking) -> Result<(), RelayError> {
        let Asking { server, mut noise, mut local_payload, remote_payload, deadline } = asking;
        local_payload.error = reply_error(&remote_payload);
        let done = noise.send(&local_payload).and_then(|msg2| noise.finish().map(|r| (msg2, r)));
        let Ok((msg2, result)) = done else { return self.send(&Message::Reject { hs }) };
        if local_payload.error == error::NONE {
            self.accepted.insert(hs, Accepted { server, handshake: result.handshake, deadline });
        }
        self.send(&Message::Accept { hs, msg2, remote_payload: remote_payload.to_bytes() })
    }

    pub(super) fn on_incoming(
        &mut self,
        server: ServerId,
        hs: HandshakeId,
        stream: StreamId,
        remote_address: SocketAddrV4,
        credit: u64,
    ) -> Result<(), RelayError> {
        if stream < CLIENT_ID_LIMIT {
            return Err(RelayError::protocol("incoming stream id below 2^31"));
        }
        if self.streams.contains_key(&stream) {
            return Err(RelayError::protocol("incoming stream id in use"));
        }
        let Some(accepted) = self.accepted.remove(&hs).filter(|a| a.server == server) else {
            // Expired or never accepted: the relay's UDX stream has no one behind it.
            return self.send(&Message::Close { stream, code: "UNKNOWN_ID".into() });
        };
        let remote_public_key = accepted.handshake.remote_public_key;
        self.streams.insert(stream, Stream { remote_public_key, state: open_state(stream, credit) });
        self.events.push_back(ClientEvent::Incoming {
            server,
            stream,
            remote_public_key,
            remote_address,
            handshake: accepted.handshake,
        });
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Streams

    fn open_stream(&mut self, id: StreamId) -> Option<(&mut StreamCredit, &mut bool, &mut bool)> {
        match &mut self.streams.get_mut(&id)?.state {
            StreamState::Open { credit, ended_local, ended_remote } => {
                Some((credit, ended_local, ended_remote))
            }
            _ => None,
        }
    }

    pub(super) fn on_data(&mut self, id: StreamId, bytes: Vec<u8>) -> Result<(), RelayError> {
        let Some((credit, _, ended_remote)) = self.open_stream(id) else { return Ok(()) };
        if *ended_remote {
            return self.fail_stream(id, "BAD_MESSAGE");
        }
        if let Err(e) = credit.on_receive(bytes.len() as u64) {
            return self.fail_stream(id, e.code());
        }
        self.events.push_back(ClientEvent::StreamData { id, bytes });
        Ok(())
    }

    pub(super) fn on_credit(&mut self, id: StreamId, bytes: u64) {
        if let Some((credit, _, _)) = self.open_stream(id) {
            credit.on_credit(bytes);
            let available = credit.send_allowance();
            self.events.push_back(ClientEvent::StreamWritable { id, available });
        }
    }

    pub(super) fn on_end(&mut self, id: StreamId) {
        if let Some((_, _, ended_remote)) = self.open_stream(id) {
            if !*ended_remote {
                *ended_remote = true;
                self.events.push_back(ClientEvent::StreamEnded { id });
            }
        }
    }

    /// Bytes [`stream_write`](Self::stream_write) would accept now (0 for a stream that is not
    /// open or was ended).
    pub fn stream_writable(&self, id: StreamId) -> u64 {
        match self.streams.get(&id).map(|s| &s.state) {
            Some(StreamState::Open { credit, ended_local: false, .. }) => {
                let room = self.reliable.replay_room().saturating_sub(self.config.control_headroom);
                // Each data message costs its header and the replay overhead on top of bytes.
                let room = room.saturating_sub(room / MAX_DATA_LEN * 32 + 32);
                credit.send_allowance().min(room as u64)
            }
            _ => 0,
        }
    }

    /// Writes secret-stream ciphertext: accepts as much as the stream's credit and the replay
    /// buffer allow (in `data` messages of at most 64 KiB) and returns how much it accepted.
    /// Write the rest after [`ClientEvent::StreamWritable`].
    pub fn stream_write(&mut self, id: StreamId, bytes: &[u8]) -> Result<usize, RelayError> {
        if !self.streams.contains_key(&id) {
            return Err(RelayError::UnknownId(id));
        }
        if !matches!(
            self.streams.get(&id).map(|s| &s.state),
            Some(StreamState::Open { ended_local: false, .. })
        ) {
            return Err(RelayError::InvalidState("stream not open for writing"));
        }
        let n = bytes.len().min(usize::try_from(self.stream_writable(id)).unwrap_or(usize::MAX));
        for chunk in bytes[..n].chunks(MAX_DATA_LEN) {
            self.send(&Message::Data { stream: id, bytes: chunk.to_vec() })?;
            if let Some((credit, _, _)) = self.open_stream(id) {
                credit.on_send(chunk.len() as u64)?;
            }
        }
        Ok(n)
    }

    /// The application consumed `n` bytes of this stream's [`ClientEvent::StreamData`]:
    /// grants the relay more credit once half the grant was consumed.
    pub fn stream_consumed(&mut self, id: StreamId, n: u64) -> Result<(), RelayError> {
        let Some((credit, _, _)) = self.open_stream(id) else { return Ok(()) };
        match credit.on_consumed(n) {
            Some(bytes) => self.send(&Message::Credit { stream: id, bytes }),
            None => Ok(()),
        }
    }

    /// Half-closes the stream (no more writes; reading goes on).
    pub fn stream_end(&mut self, id: StreamId) -> Result<(), RelayError> {
        let Some((_, ended_local, _)) = self.open_stream(id) else { return Err(RelayError::UnknownId(id)) };
        if !*ended_local {
            *ended_local = true;
            self.send(&Message::End { stream: id })?;
        }
        Ok(())
    }

    /// Closes the stream for good (a dial in progress too); its id is free at once.
    pub fn stream_close(&mut self, id: StreamId) -> Result<(), RelayError> {
        if self.streams.remove(&id).is_some() {
            self.send(&Message::Close { stream: id, code: String::new() })?;
        }
        Ok(())
    }
}

fn open_state(id: StreamId, credit: u64) -> StreamState {
    StreamState::Open { credit: StreamCredit::new(id, credit), ended_local: false, ended_remote: false }
}
