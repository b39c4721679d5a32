//! Arbitrary protomux frames into a `Mux` whose application answers every remote open (opening
//! or rejecting it), sends and closes as the input says: no input may panic, and every error
//! must be a protocol violation.
#![no_main]

use hyperwasm::protomux::{ChannelSpec, Mux, MuxEvent, MuxLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = MuxLimits { max_remote_channels: 64, max_held_bytes: 64 * 1024 };
    let mut mux = Mux::with_limits(limits);
    let _ = mux.open(ChannelSpec { protocol: "p", aliases: &["q"], id: None, handshake: b"h" });
    // Input: (control byte, length byte, frame bytes)*.
    let mut rest = data;
    while let [control, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (frame, next) = tail.split_at(n);
        rest = next;
        if control & 0x80 != 0 {
            mux.cork();
        }
        if let Err(e) = mux.on_message(frame) {
            assert!(e.is_protocol_violation(), "{e}");
            return;
        }
        while let Some(event) = mux.poll_event() {
            match event {
                MuxEvent::RemoteOpen { protocol, id } if control & 1 == 0 => {
                    let spec = ChannelSpec { protocol: &protocol, aliases: &[], id: id.as_deref(), handshake: b"" };
                    if mux.open(spec).is_err() {
                        mux.reject(&protocol, id.as_deref());
                    }
                }
                MuxEvent::RemoteOpen { protocol, id } => mux.reject(&protocol, id.as_deref()),
                MuxEvent::Opened { channel, .. } | MuxEvent::Message { channel, .. } => {
                    if control & 2 != 0 {
                        let _ = mux.send(channel, u64::from(*control), frame);
                    }
                    if control & 4 != 0 {
                        mux.close(channel);
                    }
                }
                MuxEvent::Closed { channel, .. } => assert!(!mux.is_open(channel)),
            }
        }
        if control & 0x80 != 0 {
            mux.uncork();
        }
        while mux.poll_transmit().is_some() {}
    }
});
