//! Round-trip tokens (`lib/io.js token()` and the rotation in `_drain`): a token for a host is
//! `BLAKE2b-256(host as dotted-quad text, key = secret)`. Two secrets: replies carry the token of
//! the newer one, requests are accepted with either, and every 10 drains (~7.5 s) the older
//! secret is replaced, so a token stays valid for 7.5–15 s. Tokens bind the host only, not the
//! port.

use super::Token;
use hyperwasm::crypto::{blake2b, blake2b_keyed};
use std::net::Ipv4Addr;

/// Drains between rotations.
pub const ROTATE_EVERY: u32 = 10;

/// The two secrets and the rotation countdown.
#[derive(Clone)]
pub struct Tokens {
    secrets: [[u8; 32]; 2],
    countdown: u32,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").field("countdown", &self.countdown).finish_non_exhaustive()
    }
}

impl Tokens {
    /// Tokens from two secrets (random in production).
    pub fn new(older: [u8; 32], newer: [u8; 32]) -> Self {
        Tokens { secrets: [older, newer], countdown: ROTATE_EVERY }
    }

    /// `token(host, i)`: `i = 1` the current secret, `0` the previous one.
    pub fn token(&self, host: Ipv4Addr, i: usize) -> Token {
        let secret = &self.secrets[i.min(1)];
        blake2b_keyed(&[host.to_string().as_bytes()], secret)
    }

    /// The token handed out to `host` now.
    pub fn current(&self, host: Ipv4Addr) -> Token {
        self.token(host, 1)
    }

    /// Whether `token` is one of the two tokens `host` may present.
    pub fn is_valid(&self, host: Ipv4Addr, token: &Token) -> bool {
        self.token(host, 1) == *token || self.token(host, 0) == *token
    }

    /// One drain tick (every 750 ms); rotates every [`ROTATE_EVERY`] calls.
    pub fn on_drain(&mut self) {
        self.countdown = self.countdown.saturating_sub(1);
        if self.countdown == 0 {
            self.countdown = ROTATE_EVERY;
            self.rotate();
        }
    }

    /// The newer secret becomes the older one; the new newer one is the hash of the old older.
    pub fn rotate(&mut self) {
        let [older, newer] = self.secrets;
        let next = blake2b(&older);
        self.secrets = [newer, next];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_js_keyed_blake2b() {
        // JS: sodium.crypto_generichash(out, Buffer.from('127.0.0.1'), Buffer.alloc(32, 1))
        let t = Tokens::new([0; 32], [1; 32]);
        assert_eq!(
            hex::encode(t.token(Ipv4Addr::LOCALHOST, 1)),
            "ed9291f718dd75a0390cf8fd4828a9fedc3fcf919ff1f9724f33b187ecd9b461"
        );
    }

    #[test]
    fn rotation_keeps_one_generation() {
        let host = Ipv4Addr::new(10, 1, 2, 3);
        let other = Ipv4Addr::new(10, 1, 2, 4);
        let mut t = Tokens::new([3; 32], [4; 32]);
        let first = t.current(host);
        assert!(t.is_valid(host, &first));
        assert!(!t.is_valid(other, &first), "tokens are bound to the host");
        assert_ne!(t.current(other), first);
        for _ in 0..ROTATE_EVERY - 1 {
            t.on_drain();
        }
        assert_eq!(t.current(host), first, "no rotation before the 10th drain");
        t.on_drain();
        let second = t.current(host);
        assert_ne!(second, first);
        assert!(t.is_valid(host, &first), "the previous token is still accepted");
        assert_eq!(t.token(host, 0), first);
        for _ in 0..ROTATE_EVERY {
            t.on_drain();
        }
        assert!(!t.is_valid(host, &first), "two rotations later it is not");
        assert!(t.is_valid(host, &second));
        // The new secret is the hash of the dropped one (JS rotates in place).
        let mut u = Tokens::new([3; 32], [4; 32]);
        u.rotate();
        assert_eq!(u.secrets, [[4; 32], blake2b(&[3; 32])]);
    }
}
