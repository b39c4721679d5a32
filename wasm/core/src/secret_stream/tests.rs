//! Unit tests of the stream state machine (Rust against Rust; the JS oracle tests are in
//! `tests/interop_secret_stream.rs` and `tests/oracle_noise.rs`).

use super::framing::write_frame;
use super::secretstream::ABYTES;
use super::*;
use crate::crypto::KeyPair;
use crate::noise::{Handshake, HandshakeResult, Pattern};
use proptest::prelude::*;

fn kp(n: u8) -> KeyPair {
    KeyPair::from_seed(&[n; 32])
}

fn pair(opts: SecretStreamOptions) -> (SecretStream, SecretStream) {
    let mut a = SecretStream::new(true, &kp(1), opts);
    let mut b = SecretStream::new(false, &kp(2), opts);
    a.start(0);
    b.start(0);
    (a, b)
}

/// Moves bytes both ways until neither side has anything to say.
fn pump(a: &mut SecretStream, b: &mut SecretStream, now: u64) {
    while a.has_outgoing() || b.has_outgoing() {
        b.on_bytes(&a.take_outgoing(), now).unwrap();
        a.on_bytes(&b.take_outgoing(), now).unwrap();
    }
}

fn messages(s: &mut SecretStream) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(e) = s.poll_event() {
        if let SecretStreamEvent::Message(m) = e {
            out.push(m);
        }
    }
    out
}

fn connected_pair() -> (SecretStream, SecretStream) {
    let (mut a, mut b) = pair(SecretStreamOptions::default());
    pump(&mut a, &mut b, 0);
    for s in [&mut a, &mut b] {
        assert!(s.is_connected());
        assert!(matches!(s.poll_event(), Some(SecretStreamEvent::Connected { .. })));
    }
    (a, b)
}

#[test]
fn handshake_and_messages_both_ways() {
    let (mut a, mut b) = pair(SecretStreamOptions::default());
    a.send(b"early").unwrap();
    b.send(b"early from b").unwrap();
    pump(&mut a, &mut b, 0);
    assert_eq!(a.remote_public_key(), Some(kp(2).public_key()));
    assert_eq!(b.remote_public_key(), Some(kp(1).public_key()));
    assert_eq!(a.handshake_hash(), b.handshake_hash());
    let hash = a.handshake_hash().unwrap();
    assert_eq!(
        a.poll_event(),
        Some(SecretStreamEvent::Connected { remote_public_key: kp(2).public_key(), handshake_hash: hash })
    );
    assert_eq!(messages(&mut a), vec![b"early from b".to_vec()]);
    assert!(matches!(b.poll_event(), Some(SecretStreamEvent::Connected { .. })));
    assert_eq!(messages(&mut b), vec![b"early".to_vec()]);
    for n in [1usize, 100, 70_000] {
        let m: Vec<u8> = (0..n).map(|i| (i * 31) as u8).collect();
        a.send(&m).unwrap();
        b.send(&m).unwrap();
        pump(&mut a, &mut b, 0);
        assert_eq!(messages(&mut b), vec![m.clone()]);
        assert_eq!(messages(&mut a), vec![m]);
    }
}

#[test]
fn ik_pattern_through_options() {
    let i_opts = SecretStreamOptions {
        pattern: Some(Pattern::IK { remote_static: kp(2).public_key() }),
        ..Default::default()
    };
    let r_opts = SecretStreamOptions { pattern: Some(Pattern::ik_responder()), ..Default::default() };
    let mut a = SecretStream::new(true, &kp(1), i_opts);
    let mut b = SecretStream::new(false, &kp(2), r_opts);
    a.start(0);
    a.send(b"x").unwrap();
    pump(&mut a, &mut b, 0);
    assert!(a.is_connected() && b.is_connected());
    assert_eq!(b.remote_public_key(), Some(kp(1).public_key()));
    b.poll_event();
    assert_eq!(messages(&mut b), vec![b"x".to_vec()]);
}

#[test]
fn from_handshake_done_elsewhere() {
    let mut i = Handshake::new(Pattern::IK { remote_static: kp(2).public_key() }, true, &kp(1), b"dht");
    let mut r = Handshake::new(Pattern::ik_responder(), false, &kp(2), b"dht");
    r.recv(&i.send(b"payload").unwrap()).unwrap();
    i.recv(&r.send(b"reply").unwrap()).unwrap();
    let (ri, rr) = (i.finish().unwrap(), r.finish().unwrap());
    let mut a = SecretStream::from_handshake(ri.clone(), SecretStreamOptions::default());
    let mut b = SecretStream::from_handshake(rr, SecretStreamOptions::default());
    assert!(a.has_outgoing() && b.has_outgoing());
    a.send(b"hi").unwrap();
    pump(&mut a, &mut b, 0);
    assert_eq!(
        b.poll_event(),
        Some(SecretStreamEvent::Connected { remote_public_key: kp(1).public_key(), handshake_hash: ri.hash })
    );
    assert_eq!(messages(&mut b), vec![b"hi".to_vec()]);
    assert!(a.is_initiator() && !b.is_initiator());
}

/// Connects, then feeds `frame` (a whole frame) to the responder in place of the initiator's
/// header and returns the error.
fn header_error(mutate: impl FnOnce(&mut Vec<u8>, &[u8; 64])) -> SecretStreamError {
    let (mut a, mut b) = pair(SecretStreamOptions::default());
    // Handshake messages only: m1, m2, then m3 ‖ header from the initiator.
    b.on_bytes(&a.take_outgoing(), 0).unwrap();
    a.on_bytes(&b.take_outgoing(), 0).unwrap();
    let out = a.take_outgoing();
    let m3_len = 3 + 64;
    b.on_bytes(&out[..m3_len], 0).unwrap();
    let mut header = out[m3_len + 3..].to_vec();
    assert_eq!(header.len(), ID_HEADER_LEN);
    mutate(&mut header, &a.handshake_hash().unwrap());
    let mut frame = Vec::new();
    write_frame(&mut frame, &header).unwrap();
    b.on_bytes(&frame, 0).unwrap_err()
}

#[test]
fn wrong_stream_id_and_header_length() {
    assert_eq!(header_error(|h, _| h[0] ^= 1).code(), "BAD_STREAM_ID");
    assert_eq!(header_error(|h, _| h.push(0)), SecretStreamError::InvalidHeader(57));
    assert_eq!(header_error(|h, _| h.truncate(10)), SecretStreamError::InvalidHeader(10));
    // The id of the wrong role (a reflected header: what the responder itself sends).
    let err = header_error(|h, hash| h[..32].copy_from_slice(&stream_id(hash, false)));
    assert_eq!(err, SecretStreamError::BadStreamId);
    // The genuine header passes.
    let (mut a, mut b) = pair(SecretStreamOptions::default());
    pump(&mut a, &mut b, 0);
    assert!(b.is_connected());
}

#[test]
fn tampered_and_short_messages() {
    let (mut a, mut b) = connected_pair();
    a.send(b"secret").unwrap();
    let mut out = a.take_outgoing();
    let last = out.len() - 1;
    out[last] ^= 1;
    let err = b.on_bytes(&out, 0).unwrap_err();
    assert_eq!(err.code(), "DECRYPT_FAILED");
    // Sticky: every later call returns it.
    assert_eq!(b.on_bytes(&[], 0), Err(err.clone()));
    assert_eq!(b.send(b"x"), Err(err.clone()));
    assert_eq!(b.handle_timeout(1), Err(err));
    assert_eq!(b.poll_timeout(), None);

    let (_, mut b) = connected_pair();
    let mut frame = Vec::new();
    write_frame(&mut frame, &[0; 16]).unwrap();
    assert_eq!(b.on_bytes(&frame, 0), Err(SecretStreamError::InvalidMessage(16)));
}

#[test]
fn truncated_or_garbage_handshake() {
    let mut b = SecretStream::new(false, &kp(2), SecretStreamOptions::default());
    let mut frame = Vec::new();
    write_frame(&mut frame, &[7; 10]).unwrap();
    let err = b.on_bytes(&frame, 0).unwrap_err();
    assert_eq!(err.code(), "HANDSHAKE_FAILED");
    assert!(matches!(err, SecretStreamError::Handshake(crate::noise::NoiseError::Truncated)));

    // 32 bytes of garbage as an ephemeral key: refused as a point.
    let mut b = SecretStream::new(false, &kp(2), SecretStreamOptions::default());
    let mut frame = Vec::new();
    write_frame(&mut frame, &[0xff; 32]).unwrap();
    assert_eq!(b.on_bytes(&frame, 0).unwrap_err().code(), "HANDSHAKE_FAILED");

    // The initiator gets a garbage second message.
    let (mut a, _) = pair(SecretStreamOptions::default());
    a.take_outgoing();
    let mut frame = Vec::new();
    write_frame(&mut frame, &[1; 96]).unwrap();
    assert_eq!(a.on_bytes(&frame, 0).unwrap_err().code(), "HANDSHAKE_FAILED");
}

#[test]
fn oversized_message_is_refused_without_harm() {
    let (mut a, mut b) = connected_pair();
    let big = vec![0u8; MAX_MESSAGE_LEN + 1];
    let err = a.send(&big).unwrap_err();
    assert_eq!(err.code(), "MESSAGE_TOO_LARGE");
    assert!(a.error().is_none());
    a.send(b"still fine").unwrap();
    pump(&mut a, &mut b, 0);
    assert_eq!(messages(&mut b), vec![b"still fine".to_vec()]);
}

#[test]
fn keep_alive_and_idle_timeout() {
    let opts = SecretStreamOptions { keep_alive_ms: Some(1000), timeout_ms: Some(5000), pattern: None };
    let (mut a, mut b) = pair(opts);
    assert_eq!(a.poll_timeout(), Some(5000)); // no keep-alive before the handshake
    pump(&mut a, &mut b, 10);
    // As in JS, handshake and header frames do not count as sent messages.
    assert_eq!(a.poll_timeout(), Some(1000));
    a.handle_timeout(500).unwrap();
    assert!(!a.has_outgoing());
    a.handle_timeout(1000).unwrap();
    let ka = a.take_outgoing();
    assert_eq!(ka.len(), 3 + ABYTES, "one empty message");
    b.on_bytes(&ka, 1010).unwrap();
    assert_eq!(messages(&mut b), Vec::<Vec<u8>>::new(), "keep-alives are swallowed");
    // Sending pushes the keep-alive back.
    a.handle_timeout(1500).unwrap();
    a.send(b"data").unwrap();
    assert_eq!(a.poll_timeout(), Some(2500));
    // b heard from a at 1010: idle timeout at 6010 unless something arrives (an empty
    // read is not something).
    b.on_bytes(&[], 3000).unwrap();
    b.handle_timeout(6009).unwrap();
    b.take_outgoing();
    assert_eq!(b.handle_timeout(6010), Err(SecretStreamError::Timeout));
    assert_eq!(b.error().map(|e| e.code()), Some("TIMEOUT"));
}

#[test]
fn any_split_of_a_whole_conversation() {
    let (mut a, mut b) = pair(SecretStreamOptions::default());
    let sizes = [0usize, 1, 17, 200, 5000, 3, 65_536];
    for &n in &sizes {
        a.send(&vec![n as u8; n]).unwrap();
    }
    // a's first message, then b's reply, then everything else from a, one byte at a time.
    b.on_bytes(&a.take_outgoing(), 0).unwrap();
    a.on_bytes(&b.take_outgoing(), 0).unwrap();
    let rest = a.take_outgoing();
    for chunk in rest.chunks(1) {
        b.on_bytes(chunk, 0).unwrap();
    }
    a.on_bytes(&b.take_outgoing(), 0).unwrap();
    let want: Vec<Vec<u8>> = sizes.iter().filter(|&&n| n > 0).map(|&n| vec![n as u8; n]).collect();
    b.poll_event();
    assert_eq!(messages(&mut b), want);
}

/// A connected pair without any public-key work (for the many-case property tests): both
/// sides from a made-up handshake result.
fn fast_pair() -> (SecretStream, SecretStream) {
    let result = |is_initiator: bool| HandshakeResult {
        is_initiator,
        tx: [if is_initiator { 1 } else { 2 }; 32],
        rx: [if is_initiator { 2 } else { 1 }; 32],
        hash: [9; 64],
        public_key: [is_initiator as u8; 32],
        remote_public_key: [!is_initiator as u8; 32],
    };
    let mut a = SecretStream::from_handshake(result(true), SecretStreamOptions::default());
    let mut b = SecretStream::from_handshake(result(false), SecretStreamOptions::default());
    pump(&mut a, &mut b, 0);
    assert!(a.is_connected() && b.is_connected());
    a.poll_event();
    b.poll_event();
    (a, b)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn on_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), initiator: bool) {
        let mut s = SecretStream::new(initiator, &kp(3), SecretStreamOptions::default());
        s.start(0);
        let _ = s.on_bytes(&bytes, 1);
        let _ = s.on_bytes(&bytes, 2);
        let _ = s.handle_timeout(3);
    }

    #[test]
    fn connected_stream_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let (_, mut b) = fast_pair();
        let r = b.on_bytes(&bytes, 0);
        if let Err(e) = r {
            prop_assert!(["DECRYPT_FAILED", "INVALID_MESSAGE"].contains(&e.code()), "{}", e);
        }
    }

    #[test]
    fn split_points_do_not_matter(cuts in proptest::collection::vec(any::<usize>(), 0..10), sizes in proptest::collection::vec(0usize..3000, 1..8)) {
        let (mut a, mut b) = fast_pair();
        for &n in &sizes {
            a.send(&vec![7; n]).unwrap();
        }
        let bytes = a.take_outgoing();
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.push(bytes.len());
        points.sort_unstable();
        let mut pos = 0;
        for p in points {
            b.on_bytes(&bytes[pos..p], 0).unwrap();
            pos = p;
        }
        let want: Vec<Vec<u8>> = sizes.iter().filter(|&&n| n > 0).map(|&n| vec![7; n]).collect();
        prop_assert_eq!(messages(&mut b), want);
    }
}

#[test]
fn stream_id_matches_namespaces() {
    let hash = [5u8; 64];
    let ns = namespaces();
    assert_eq!(stream_id(&hash, true), crate::crypto::hash::blake2b_keyed(&[&ns[0]], &hash));
    assert_ne!(stream_id(&hash, true), stream_id(&hash, false));
}
