//! The session's check of the client's signatures: every `signature` is verified against the
//! signable the relay asked for before it reaches the DHT node (a bad one is refused here, not
//! sent to a storing node), and a server counts as its key's owner's only once a valid signature
//! of its self-announce arrived. A server whose first sign request is refused, answered with a
//! bad signature or left to time out is closed with `SIGNATURE_REFUSED`, so a session that does
//! not hold a key's secret cannot keep that key listening on this relay (others would get
//! `KEYPAIR_ALREADY_USED`) beyond one sign timeout.

use super::{AskAnswer, AskKey, Session, SessionCommand};

/// What a pending `sign` request must be answered with.
#[derive(Debug)]
pub(super) struct SignCheck {
    /// The query or server the signature is for.
    pub owner: u32,
    /// What the signature must cover.
    pub signable: [u8; 64],
    /// The key it must verify under (the record's public key).
    pub public_key: [u8; 32],
}

impl Session {
    /// The client answered `sign`: forwards the signature only if it verifies; settles the
    /// owner's proof. False when no such request waits.
    pub(super) fn on_signature(&mut self, sign: u32, signature: Option<[u8; 64]>, now: u64) -> bool {
        let check = self.sign_checks.remove(&sign);
        let valid = match (&check, &signature) {
            (Some(c), Some(sig)) => hyperwasm::crypto::sign::verify(&c.signable, sig, &c.public_key),
            _ => false,
        };
        let answer = if valid { signature } else { None };
        if !self.answer(AskKey::Sign(sign), AskAnswer::Signature(answer)) {
            return false;
        }
        if let Some(c) = check {
            self.settle_proof(c.owner, valid, now);
        }
        true
    }

    /// A `sign` request timed out (the ask is already gone).
    pub(super) fn on_sign_timeout(&mut self, sign: u32, now: u64) {
        if let Some(c) = self.sign_checks.remove(&sign) {
            self.settle_proof(c.owner, false, now);
        }
    }

    /// Marks a server proven by a valid signature, or closes an unproven one.
    fn settle_proof(&mut self, owner: u32, valid: bool, now: u64) {
        match self.servers.get_mut(&owner) {
            Some(proven) if !*proven && valid => *proven = true,
            Some(proven) if !*proven => {
                self.servers.remove(&owner);
                self.handshakes.retain(|_, (s, _, _)| *s != owner);
                self.sign_checks.retain(|_, c| c.owner != owner);
                self.cmds.push_back(SessionCommand::Unlisten { server: owner });
                let message = "the server's self-announce was not signed by its key";
                self.error(u64::from(owner), "SIGNATURE_REFUSED", message, now);
            }
            _ => {}
        }
    }
}
