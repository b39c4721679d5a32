//! The node's asks of a JS-compat session's delegated operations: each gets an [`AskId`] and
//! goes to the session as a [`DhtEvent`]; the session's answers resolve the ask's `oneshot`.

use hyperwasm::hyperdht::messages::NoisePayload;
use tokio::sync::oneshot;

use crate::dht::delegate::{Ask, Asked, SignKind as NodeSignKind};

use super::{
    Answer, AskId, DhtEvent, Driver, ServerId, SignKind, SignOwner, StreamId, ACCEPT_TIMEOUT_MS, TAG_QUERY,
    TAG_SERVER,
};

/// Where an ask's answer goes.
pub(super) enum Reply {
    Sign(oneshot::Sender<Option<[u8; 64]>>),
    Msg1(oneshot::Sender<Option<Vec<u8>>>),
    Remote(oneshot::Sender<Option<NoisePayload>>),
    Hs(u64, oneshot::Sender<Option<(Vec<u8>, NoisePayload)>>),
}

impl Reply {
    fn is_closed(&self) -> bool {
        match self {
            Reply::Sign(t) => t.is_closed(),
            Reply::Msg1(t) => t.is_closed(),
            Reply::Remote(t) => t.is_closed(),
            Reply::Hs(_, t) => t.is_closed(),
        }
    }
}

impl Driver {
    pub(super) fn answer(&mut self, a: Answer) {
        let ask = match &a {
            Answer::Sign { ask, .. }
            | Answer::InitiatorMessage { ask, .. }
            | Answer::ResponderMessage { ask, .. }
            | Answer::Handshake { ask, .. } => *ask,
        };
        let Some(reply) = self.replies.remove(&ask) else { return };
        match (reply, a) {
            (Reply::Sign(tx), Answer::Sign { signature, .. }) => {
                let _ = tx.send(signature);
            }
            (Reply::Msg1(tx), Answer::InitiatorMessage { msg1, .. }) => {
                let _ = tx.send(msg1);
            }
            (Reply::Remote(tx), Answer::ResponderMessage { remote_payload, .. }) => {
                let _ = tx.send(remote_payload.map(|p| *p));
            }
            (Reply::Hs(hs, tx), Answer::Handshake { accept, .. }) => {
                let server = self.hs_server.remove(&hs);
                match (accept, server) {
                    (Some(acc), Some(server)) => {
                        let acc = *acc;
                        let deadline = self.now().saturating_add(ACCEPT_TIMEOUT_MS);
                        self.accepted.insert(hs, (acc.stream, server, deadline));
                        let _ = tx.send(Some((acc.msg2, acc.remote_payload)));
                    }
                    _ => {
                        let _ = tx.send(None);
                    }
                }
            }
            _ => {} // a mismatched answer refuses (the sender drops)
        }
    }

    pub(super) fn on_ask(&mut self, Asked { tag, ask }: Asked) {
        let id = AskId(self.next_ask);
        self.next_ask += 1;
        let now = self.now();
        let low = u32::try_from(tag & 0xffff_ffff).unwrap_or(0);
        let kind = tag & !0xffff_ffff;
        let ev = match ask {
            Ask::Sign { parts, signable, reply, .. } => {
                let owner = match kind {
                    TAG_QUERY => SignOwner::Query(low),
                    TAG_SERVER => SignOwner::Server(ServerId(low)),
                    _ => {
                        let _ = reply.send(None);
                        return;
                    }
                };
                self.replies.insert(id, Reply::Sign(reply));
                DhtEvent::Sign {
                    ask: id,
                    owner,
                    kind: match parts.kind {
                        NodeSignKind::Announce => SignKind::Announce,
                        NodeSignKind::Unannounce => SignKind::Unannounce,
                    },
                    target: parts.target,
                    node_id: parts.node_id,
                    token: parts.token,
                    peer: parts.peer,
                    refresh: parts.refresh,
                    signable,
                }
            }
            Ask::InitiatorMessage { local_payload, reply } => {
                self.replies.insert(id, Reply::Msg1(reply));
                DhtEvent::InitiatorMessage {
                    ask: id,
                    stream: StreamId(low),
                    local_payload: Box::new(local_payload),
                }
            }
            Ask::ResponderMessage { msg2, reply } => {
                self.replies.insert(id, Reply::Remote(reply));
                DhtEvent::ResponderMessage { ask: id, stream: StreamId(low), msg2 }
            }
            Ask::Handshake { hs, msg1, local_payload, peer_address, reply } => {
                self.replies.insert(id, Reply::Hs(hs, reply));
                self.hs_server.insert(hs, ServerId(low));
                DhtEvent::Handshake {
                    ask: id,
                    server: ServerId(low),
                    msg1,
                    local_payload: Box::new(local_payload),
                    peer_address,
                }
            }
        };
        self.session.handle_dht(ev, now);
        self.sweep_asks();
    }

    /// Reports the asks the node gave up on.
    pub(super) fn sweep_asks(&mut self) {
        let dropped: Vec<AskId> =
            self.replies.iter().filter(|(_, r)| r.is_closed()).map(|(id, _)| *id).collect();
        let now = self.now();
        for ask in dropped {
            if let Some(Reply::Hs(hs, _)) = self.replies.remove(&ask) {
                self.hs_server.remove(&hs);
            }
            self.session.handle_dht(DhtEvent::AskDropped { ask }, now);
        }
    }
}
