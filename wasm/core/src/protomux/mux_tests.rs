//! Unit tests of [`Mux`]: two muxes wired back to back, and hand-made frames.

use super::*;

fn spec<'a>(protocol: &'a str, id: Option<&'a [u8]>, handshake: &'a [u8]) -> ChannelSpec<'a> {
    ChannelSpec { protocol, aliases: &[], id, handshake }
}

fn frames(m: &mut Mux) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| m.poll_transmit()).collect()
}

fn hex_frames(m: &mut Mux) -> Vec<String> {
    frames(m).iter().map(hex::encode).collect()
}

fn events(m: &mut Mux) -> Vec<MuxEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

/// Delivers frames both ways until neither side has anything to send.
fn pump(a: &mut Mux, b: &mut Mux) {
    loop {
        let fa = frames(a);
        let fb = frames(b);
        if fa.is_empty() && fb.is_empty() {
            return;
        }
        for f in fa {
            b.on_message(&f).unwrap();
        }
        for f in fb {
            a.on_message(&f).unwrap();
        }
    }
}

fn feed(m: &mut Mux, hex_frame: &str) -> Result<(), MuxError> {
    m.on_message(&hex::decode(hex_frame).unwrap())
}

fn opened(channel: u32, handshake: &[u8]) -> MuxEvent {
    MuxEvent::Opened { channel: ChannelId(channel), handshake: handshake.to_vec() }
}

fn msg(channel: u32, message_type: u64, payload: &[u8]) -> MuxEvent {
    MuxEvent::Message { channel: ChannelId(channel), message_type, payload: payload.to_vec() }
}

fn closed(channel: u32, remote: bool) -> MuxEvent {
    MuxEvent::Closed { channel: ChannelId(channel), remote }
}

fn remote_open(protocol: &str, id: Option<&[u8]>) -> MuxEvent {
    MuxEvent::RemoteOpen { protocol: protocol.to_owned(), id: id.map(<[u8]>::to_vec) }
}

#[test]
fn both_sides_open_then_exchange_and_close() {
    let (mut a, mut b) = (Mux::new(), Mux::new());
    let ca = a.open(spec("p", Some(b"id"), b"ha")).unwrap();
    assert_eq!(ca, ChannelId(1));
    assert_eq!(hex_frames(&mut a), ["0001010170026964".to_owned() + "6861"]);
    a.open(spec("p", Some(b"id"), b"")).unwrap_err();
    let cb = b.open(spec("p", Some(b"id"), b"hb")).unwrap();
    feed(&mut b, "00010101700269646861").unwrap();
    assert_eq!(events(&mut b), [opened(1, b"ha")]);
    assert!(b.is_fully_open(cb) && !a.is_fully_open(ca));
    pump(&mut a, &mut b);
    assert_eq!(events(&mut a), [opened(1, b"hb")]);

    a.send(ca, 2, b"xy").unwrap();
    assert_eq!(hex_frames(&mut a), ["01027879"]);
    b.on_message(&hex::decode("01027879").unwrap()).unwrap();
    b.send_with(cb, 300, 1, |out| out.push(9)).unwrap();
    pump(&mut a, &mut b);
    assert_eq!(events(&mut b), [msg(1, 2, b"xy")]);
    assert_eq!(events(&mut a), [msg(1, 300, &[9])]);

    a.close(ca);
    assert_eq!(hex_frames(&mut a), ["000301"]);
    assert_eq!(a.send(ca, 0, b""), Err(MuxError::ChannelClosed(ca)));
    feed(&mut b, "000301").unwrap();
    assert_eq!(events(&mut a), [closed(1, false)]);
    assert_eq!(events(&mut b), [closed(1, true)]);
    assert!(a.is_idle() && b.is_idle());
    // Both ids are free again: the next channel on each side takes id 1.
    assert_eq!(a.open(spec("q", None, b"")).unwrap(), ChannelId(1));
    assert_eq!(b.open(spec("q", None, b"")).unwrap(), ChannelId(1));
    pump(&mut a, &mut b);
    assert_eq!(events(&mut a), [opened(1, b"")]);
}

#[test]
fn remote_open_buffers_until_answered() {
    let (mut a, mut b) = (Mux::new(), Mux::new());
    let ca = a.open(spec("p", None, b"h")).unwrap();
    a.send(ca, 0, b"early").unwrap();
    a.send(ca, 1, b"").unwrap();
    pump(&mut a, &mut b);
    assert_eq!(events(&mut b), [remote_open("p", None)]);
    assert!(!b.is_paused());
    let cb = b.open(spec("p", None, b"k")).unwrap();
    assert_eq!(events(&mut b), [opened(cb.0, b"h"), msg(cb.0, 0, b"early"), msg(cb.0, 1, b"")]);
    pump(&mut a, &mut b);
    assert_eq!(events(&mut a), [opened(ca.0, b"k")]);
}

#[test]
fn reject_closes_the_opener_and_frees_ids() {
    let (mut a, mut b) = (Mux::new(), Mux::new());
    let ca = a.open(spec("p", Some(b"x"), b"")).unwrap();
    a.send(ca, 0, b"dropped").unwrap();
    pump(&mut a, &mut b);
    assert_eq!(events(&mut b), [remote_open("p", Some(b"x"))]);
    b.reject("p", Some(b"x"));
    assert_eq!(hex_frames(&mut b), ["000201"]);
    b.reject("p", Some(b"x")); // nothing left to reject
    assert!(frames(&mut b).is_empty());
    feed(&mut a, "000201").unwrap();
    assert_eq!(events(&mut a), [closed(1, true)]);
    assert!(a.is_idle());
    // A second reject of the same id is a protocol violation (JS: "Invalid reject message").
    assert_eq!(feed(&mut a, "000201"), Err(MuxError::InvalidReject(1)));
    // Remote id 1 is free again on b; a's id 1 too.
    assert_eq!(a.open(spec("p", Some(b"x"), b"")).unwrap(), ChannelId(1));
    pump(&mut a, &mut b);
    assert_eq!(events(&mut b), [remote_open("p", Some(b"x"))]);
}

#[test]
fn remote_ids_must_grow_by_one() {
    let mut m = Mux::new();
    assert_eq!(feed(&mut m, "000100017000"), Err(MuxError::InvalidOpen(0)));
    let mut m = Mux::new();
    assert_eq!(feed(&mut m, "000102017000"), Err(MuxError::InvalidOpen(2)));
    let mut m = Mux::new();
    feed(&mut m, "000101017000").unwrap();
    // Id 1 is held (pending): opening it again is invalid.
    assert_eq!(feed(&mut m, "000101017100"), Err(MuxError::InvalidOpen(1)));
    let mut m = Mux::with_limits(MuxLimits { max_remote_channels: 1, ..MuxLimits::default() });
    feed(&mut m, "000101017000").unwrap();
    assert!(matches!(feed(&mut m, "000102017100"), Err(MuxError::TooManyChannels { id: 2, limit: 1 })));
}

#[test]
fn ignores_what_js_ignores() {
    let mut m = Mux::new();
    for f in ["", "0104aa", "00090102", "000300", "000305", "0000010101", "000000", "0000000005"] {
        feed(&mut m, f).unwrap();
    }
    assert!(events(&mut m).is_empty() && frames(&mut m).is_empty());
    for f in ["00", "01", "0000", "00fe01", "000102", "0002", "00000100", "00000105"] {
        assert!(feed(&mut m, f).is_err(), "{f}");
    }
}

#[test]
fn cork_batches_like_js() {
    let (mut a, mut b) = (Mux::new(), Mux::new());
    a.cork();
    a.cork();
    let c1 = a.open(spec("p", None, b"")).unwrap();
    let c2 = a.open(spec("q", None, b"")).unwrap();
    a.send(c1, 0, b"a").unwrap();
    a.send(c1, 1, b"").unwrap();
    a.send(c2, 0, b"b").unwrap();
    a.uncork();
    assert!(a.is_corked() && frames(&mut a).is_empty());
    a.uncork();
    a.uncork(); // extra uncorks are ignored
    let batch = hex_frames(&mut a);
    // 00 00 | ch 0: open p, open q | ch 1: "00 61", "01" | ch 2: "00 62"
    assert_eq!(
        batch,
        ["000000".to_owned()
            + "050101017000"
            + "050102017100"
            + "0001"
            + "020061"
            + "0101"
            + "0002"
            + "020062"]
    );
    b.on_message(&hex::decode(&batch[0]).unwrap()).unwrap();
    assert_eq!(events(&mut b), [remote_open("p", None), remote_open("q", None)]);
    b.open(spec("q", None, b"")).unwrap();
    b.open(spec("p", None, b"")).unwrap();
    assert_eq!(
        events(&mut b),
        [opened(1, b""), msg(1, 0, b"b"), opened(2, b""), msg(2, 0, b"a"), msg(2, 1, b"")]
    );
    // A cork with nothing sent sends nothing.
    a.cork();
    a.uncork();
    assert!(frames(&mut a).is_empty());
}

#[test]
fn close_before_answer_is_resolved_on_both_sides() {
    // a opens then closes before b answers: b rejects the dead open, freeing a's id.
    let (mut a, mut b) = (Mux::new(), Mux::new());
    let ca = a.open(spec("p", None, b"")).unwrap();
    a.close(ca);
    assert_eq!(events(&mut a), [closed(1, false)]);
    assert!(!a.is_idle()); // id 1 waits for b's answer
    pump(&mut a, &mut b);
    assert_eq!(events(&mut b), [remote_open("p", None)]);
    assert!(a.is_idle() && b.is_idle());
    // The stale RemoteOpen answered late is a fresh open.
    b.open(spec("p", None, b"")).unwrap();
    pump(&mut a, &mut b);
    assert_eq!(events(&mut a), [remote_open("p", None)]);
    assert_eq!(a.open(spec("p", None, b"")).unwrap(), ChannelId(1));

    // b answered before seeing the close: a repeats its close so b's side ends too.
    let (mut a, mut b) = (Mux::new(), Mux::new());
    let ca = a.open(spec("p", None, b"")).unwrap();
    for f in frames(&mut a) {
        b.on_message(&f).unwrap();
    }
    b.open(spec("p", None, b"")).unwrap();
    a.close(ca);
    pump(&mut a, &mut b);
    assert_eq!(events(&mut b), [remote_open("p", None), opened(1, b""), closed(1, true)]);
    assert_eq!(events(&mut a), [closed(1, false)]);
    assert!(a.is_idle() && b.is_idle());
}

#[test]
fn local_close_drops_queued_events_and_ids_wait_for_the_closed_event() {
    let (mut a, mut b) = (Mux::new(), Mux::new());
    let ca = a.open(spec("p", None, b"")).unwrap();
    let cb = b.open(spec("p", None, b"")).unwrap();
    pump(&mut a, &mut b);
    b.send(cb, 0, b"1").unwrap();
    pump(&mut a, &mut b);
    a.close(ca);
    assert_eq!(events(&mut a), [closed(1, false)]);
    pump(&mut a, &mut b);
    assert_eq!(events(&mut b)[..2], [opened(1, b""), closed(1, true)]);

    // Remote close with the Closed event unpolled: a new channel gets another id.
    let (mut a, mut b) = (Mux::new(), Mux::new());
    let ca = a.open(spec("p", None, b"")).unwrap();
    b.open(spec("p", None, b"")).unwrap();
    pump(&mut a, &mut b);
    b.close(ChannelId(1));
    pump(&mut a, &mut b);
    let cn = a.open(spec("q", None, b"")).unwrap();
    assert_eq!(cn, ChannelId(2));
    assert_eq!(events(&mut a), [opened(ca.0, b""), closed(ca.0, true)]);
    assert_eq!(a.open(spec("r", None, b"")).unwrap(), ChannelId(1));
}

#[test]
fn buffer_limits_and_pause() {
    let mut m = Mux::with_limits(MuxLimits { max_held_bytes: 48 * 1024, ..MuxLimits::default() });
    feed(&mut m, "000101017000").unwrap();
    let big = format!("0100{}", "ab".repeat(16 * 1024));
    feed(&mut m, &big).unwrap();
    assert!(!m.is_paused());
    feed(&mut m, &big).unwrap();
    assert!(m.is_paused());
    assert!(matches!(feed(&mut m, &big), Err(MuxError::BufferOverflow { .. })));
    // Answering drains the buffer.
    m.open(spec("p", None, b"")).unwrap();
    assert!(!m.is_paused());
    assert_eq!(events(&mut m).len(), 4);
    // Rejecting drops it.
    feed(&mut m, "000102017100").unwrap();
    let big2 = big.replacen("01", "02", 1);
    feed(&mut m, &big2).unwrap();
    feed(&mut m, &big2).unwrap();
    assert!(m.is_paused());
    m.reject("q", None);
    assert!(!m.is_paused());
}

#[test]
fn aliases_pair_both_ways() {
    let (mut a, mut b) = (Mux::new(), Mux::new());
    let alpha =
        ChannelSpec { protocol: "hypercore/alpha", aliases: &["hypercore"], id: Some(b"k"), handshake: b"" };
    a.open(alpha).unwrap();
    b.open(ChannelSpec {
        protocol: "hypercore",
        aliases: &["hypercore/alpha"],
        id: Some(b"k"),
        handshake: b"",
    })
    .unwrap();
    pump(&mut a, &mut b);
    assert_eq!(events(&mut a), [opened(1, b"")]);
    assert_eq!(events(&mut b), [opened(1, b"")]);
    assert!(a.opened("hypercore", Some(b"k")) && a.opened("hypercore/alpha", Some(b"k")));

    // The remote opened under the alias first: our open under the main name answers it.
    let (mut a, mut b) = (Mux::new(), Mux::new());
    b.open(spec("hypercore", Some(b"k"), b"")).unwrap();
    pump(&mut a, &mut b);
    assert_eq!(events(&mut a), [remote_open("hypercore", Some(b"k"))]);
    a.open(alpha).unwrap();
    assert_eq!(events(&mut a), [opened(1, b"")]);
}

#[test]
fn shutdown_closes_everything() {
    let mut m = Mux::new();
    m.open(spec("p", None, b"")).unwrap();
    m.open(spec("q", None, b"")).unwrap();
    frames(&mut m);
    m.shutdown();
    assert_eq!(events(&mut m), [closed(1, true), closed(2, true)]);
    assert!(frames(&mut m).is_empty());
}

/// Two protocols beside each other over one pair of muxes, one of them opened on demand the
/// way corestore does: the side that holds the core answers each remote open for a
/// discovery key it knows and rejects the others.
#[test]
fn two_protocols_side_by_side_with_open_on_demand() {
    let (mut a, mut b) = (Mux::new(), Mux::new());
    let known: [&[u8]; 2] = [b"core-1", b"core-2"];
    let chat_a = a.open(spec("chat", None, b"hello")).unwrap();
    let chat_b = b.open(spec("chat", None, b"hi")).unwrap();
    a.cork();
    let mut cores_a = Vec::new();
    for dk in [&b"core-1"[..], b"core-2", b"core-3"] {
        let c = a.open(ChannelSpec {
            protocol: "hypercore/alpha",
            aliases: &["hypercore"],
            id: Some(dk),
            handshake: b"",
        });
        let c = c.unwrap();
        a.send(c, 0, dk).unwrap();
        cores_a.push(c);
    }
    a.send(chat_a, 7, b"chat on a").unwrap();
    a.uncork();
    let mut b_cores = Vec::new();
    let mut b_log = Vec::new();
    let mut a_log = Vec::new();
    for _ in 0..4 {
        pump(&mut a, &mut b);
        while let Some(e) = b.poll_event() {
            match e {
                MuxEvent::RemoteOpen { protocol, id } => {
                    let id = id.unwrap();
                    if protocol == "hypercore/alpha" && known.contains(&&id[..]) {
                        let spec = ChannelSpec {
                            protocol: &protocol,
                            aliases: &["hypercore"],
                            id: Some(&id),
                            handshake: b"",
                        };
                        b_cores.push(b.open(spec).unwrap());
                    } else {
                        b.reject(&protocol, Some(&id));
                    }
                }
                MuxEvent::Message { channel, message_type: 0, payload } if b_cores.contains(&channel) => {
                    b.send(channel, 1, &payload).unwrap();
                }
                MuxEvent::Opened { channel, .. } if b_cores.contains(&channel) => {}
                other => b_log.push(other),
            }
        }
        a_log.extend(events(&mut a));
    }
    assert_eq!(b_log, [opened(chat_b.0, b"hello"), msg(chat_b.0, 7, b"chat on a")]);
    assert_eq!(
        a_log,
        [
            opened(chat_a.0, b"hi"),
            opened(cores_a[0].0, b""),
            opened(cores_a[1].0, b""),
            closed(cores_a[2].0, true),
            msg(cores_a[0].0, 1, b"core-1"),
            msg(cores_a[1].0, 1, b"core-2"),
        ]
    );
    // The chat channel is unaffected by the core channels coming and going.
    b.send(chat_b, 7, b"chat on b").unwrap();
    pump(&mut a, &mut b);
    assert_eq!(events(&mut a), [msg(chat_a.0, 7, b"chat on b")]);
}

proptest::proptest! {
    #[test]
    fn on_message_never_panics(frames in proptest::collection::vec(proptest::collection::vec(0u8..8, 0..24), 0..12)) {
        let mut m = Mux::with_limits(MuxLimits { max_remote_channels: 8, max_held_bytes: 4096 });
        let _ = m.open(spec("\u{1}", None, b""));
        for f in frames {
            if m.on_message(&f).is_err() {
                break;
            }
            while let Some(e) = m.poll_event() {
                if let MuxEvent::RemoteOpen { protocol, id } = e {
                    let _ = m.open(spec(&protocol, id.as_deref(), b""));
                }
            }
        }
    }

    #[test]
    fn on_message_never_panics_on_any_bytes(frame in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
        let _ = Mux::new().on_message(&frame);
    }
}
