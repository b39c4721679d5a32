//! Answering a peer (hypercore `lib/replicator.js` `Peer.onrequest`, `_getProof`,
//! `_fulfillRequest`, `oncancel`, `onwant`): requests become [`Action::Serve`] and come back
//! through [`Replicator::on_proof`] as `data` or `no-data`, unless cancelled meanwhile.

use super::errors::{is_local_failure, ReplicatorError};
use super::messages::{Cancel, Data, Message, NoData, Request, Want};
use super::replicator::Replicator;
use super::wants::answer_want;
use super::{
    Action, LocalCore, PeerId, INVALID_REQUEST, MAX_INVALID_REQUESTS, MAX_PENDING_REQUESTS, MAX_REQUEST_ID,
    NOT_AVAILABLE,
};
use crate::core::HypercoreError;
use crate::tree::proof::{Proof, ProofRequest};

impl Replicator {
    pub(super) fn on_request(&mut self, core: &impl LocalCore, peer: PeerId, req: Request) {
        if req.id > MAX_REQUEST_ID {
            return self.close(core, peer, ReplicatorError::RequestIdOutOfRange(req.id));
        }
        let Some(p) = self.peers.get_mut(&peer) else { return };
        if p.serving.len() >= MAX_PENDING_REQUESTS && !p.serving.contains_key(&req.id) {
            return self.close(core, peer, ReplicatorError::TooManyRequests);
        }
        // A reused id replaces (cancels) the earlier request, as in JS.
        p.serving.insert(req.id, req);
        let available = req.fork == core.fork() && req.block.is_none_or(|b| core.has(b.index));
        if !available {
            p.serving.remove(&req.id);
            return self.answer_unavailable(core, peer, &req);
        }
        self.actions.push_back(Action::Serve { peer, request: req });
    }

    pub(super) fn on_cancel(&mut self, peer: PeerId, c: Cancel) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.serving.remove(&c.request);
        }
    }

    /// The proof for an [`Action::Serve`] (or why there is none). Dropped when the peer
    /// cancelled the request or left meanwhile.
    pub fn on_proof(
        &mut self,
        core: &impl LocalCore,
        peer: PeerId,
        request: Request,
        result: Result<Proof, HypercoreError>,
    ) {
        self.observe(core);
        let Some(p) = self.peers.get_mut(&peer) else { return };
        if p.serving.get(&request.id) != Some(&request) {
            return;
        }
        p.serving.remove(&request.id);
        match result {
            // The core moved to another fork since the request: it is no longer answerable.
            Ok(proof) if proof.fork != request.fork => self.answer_unavailable(core, peer, &request),
            Ok(proof) => {
                if proof.block.is_some() {
                    p.stats.blocks_uploaded += 1;
                    self.stats.blocks_uploaded += 1;
                }
                let manifest = if request.manifest { core.manifest_bytes() } else { None };
                self.send(peer, Message::Data(Data { request: request.id, proof, manifest }));
            }
            Err(e)
                if matches!(
                    e,
                    HypercoreError::BlockNotAvailable(_) | HypercoreError::ForkMismatch { .. }
                ) || is_local_failure(&e) =>
            {
                self.answer_unavailable(core, peer, &request)
            }
            Err(_) => {
                p.stats.invalid_requests += 1;
                self.stats.invalid_requests += 1;
                if p.stats.invalid_requests >= MAX_INVALID_REQUESTS {
                    return self.close(core, peer, ReplicatorError::TooManyInvalidRequests);
                }
                self.send(peer, Message::NoData(NoData { request: request.id, reason: INVALID_REQUEST }));
            }
        }
    }

    /// JS `_fulfillRequest` with no proof: the manifest alone when asked for and known, else
    /// `no-data` (not available).
    fn answer_unavailable(&mut self, core: &impl LocalCore, peer: PeerId, req: &Request) {
        let manifest = if req.manifest { core.manifest_bytes() } else { None };
        let message = match manifest {
            Some(manifest) => Message::Data(Data {
                request: req.id,
                proof: Proof { fork: core.fork(), ..Proof::default() },
                manifest: Some(manifest),
            }),
            None => Message::NoData(NoData { request: req.id, reason: NOT_AVAILABLE }),
        };
        self.send(peer, message);
    }

    pub(super) fn on_want(&mut self, core: &impl LocalCore, peer: PeerId, w: Want) {
        if self.out_of_range(core, peer, "want", w.start, w.length) {
            return;
        }
        let Some(p) = self.peers.get_mut(&peer) else { return };
        if !p.remote_wants.add(&w) || p.paused {
            return;
        }
        for message in answer_want(core, &w) {
            self.send(peer, message);
        }
    }

    pub(super) fn on_unwant(&mut self, peer: PeerId, w: Want) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.remote_wants.remove(&w);
        }
    }
}

/// The proof request a `request` message asks for (what [`Action::Serve`] runs).
pub fn proof_request(request: &Request) -> ProofRequest {
    ProofRequest { block: request.block, hash: request.hash, seek: request.seek, upgrade: request.upgrade }
}
