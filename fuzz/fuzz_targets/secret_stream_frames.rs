//! Arbitrary bytes into the secret-stream framing and state machine: the uint24 frame
//! decoder (any split, small limits), a fresh responder (the Noise handshake path) and a
//! connected responder built with `from_handshake` (the stream-id header, then messages,
//! some of them genuinely encrypted so decoding goes deep). Nothing may panic.
//!
//! Run: `cargo +nightly fuzz run secret_stream_frames` (from the repository root).
#![no_main]

use hyperwasm::crypto::KeyPair;
use hyperwasm::noise::HandshakeResult;
use hyperwasm::secret_stream::framing::write_frame;
use hyperwasm::secret_stream::secretstream::Encryptor;
use hyperwasm::secret_stream::{stream_id, FrameDecoder, FrameTooLarge, SecretStream, SecretStreamOptions};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn key_pair() -> &'static KeyPair {
    static KP: OnceLock<KeyPair> = OnceLock::new();
    KP.get_or_init(|| KeyPair::from_seed(&[7; 32]))
}

const HASH: [u8; 64] = [3; 64];
/// The initiator's sending key = the responder's receiving key.
const I_TX: [u8; 32] = [2; 32];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let step = usize::from(mode % 29) + 1;

    // The frame decoder alone, with a limit that is sometimes tiny.
    let mut decoder = FrameDecoder::with_max_frame_len(usize::from(mode) * 97);
    let mut seen = 0usize;
    for chunk in rest.chunks(step) {
        let r = decoder.decode(chunk, |frame| {
            seen += frame.len() + 3;
            Ok::<(), FrameTooLarge>(())
        });
        if r.is_err() {
            break;
        }
    }
    assert!(seen <= rest.len());

    // A fresh responder: handshake messages from the wire.
    let mut responder = SecretStream::new(false, key_pair(), SecretStreamOptions::default());
    responder.start(0);
    for (t, chunk) in rest.chunks(step).enumerate() {
        if responder.on_bytes(chunk, t as u64).is_err() {
            break;
        }
        let _ = responder.take_outgoing();
        while responder.poll_event().is_some() {}
    }

    // A connected responder: a genuine header, then frames where a leading 0xff byte asks
    // for a genuine message made from the bytes after it, anything else is raw input.
    let result = HandshakeResult {
        is_initiator: false,
        tx: [1; 32],
        rx: I_TX,
        hash: HASH,
        public_key: key_pair().public_key(),
        remote_public_key: [9; 32],
    };
    let opts = SecretStreamOptions { keep_alive_ms: Some(5), timeout_ms: Some(50), pattern: None };
    let mut stream = SecretStream::from_handshake(result, opts);
    stream.start(0);
    let header = [mode; 24];
    let mut encryptor = Encryptor::with_header(&I_TX, &header);
    let mut wire = Vec::new();
    let mut body = stream_id(&HASH, true).to_vec();
    body.extend_from_slice(&header);
    let _ = write_frame(&mut wire, &body);
    for chunk in rest.split(|&b| b == 0xfe) {
        match chunk.split_first() {
            Some((0xff, message)) => {
                let mut ct = Vec::new();
                encryptor.encrypt_into(message, &mut ct);
                let _ = write_frame(&mut wire, &ct);
            }
            _ => wire.extend_from_slice(chunk),
        }
    }
    for (t, chunk) in wire.chunks(step).enumerate() {
        let now = t as u64 * 3;
        if stream.on_bytes(chunk, now).is_err() || stream.handle_timeout(now).is_err() {
            break;
        }
        let _ = stream.send(chunk);
        let _ = stream.take_outgoing();
        while stream.poll_event().is_some() {}
    }
});
