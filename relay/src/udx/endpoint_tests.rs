//! Endpoint demultiplexing and two endpoints talking over a lossless in-memory wire.

use super::*;
use crate::udx::packet::{FLAG_DATA, FLAG_DESTROY};
use std::net::Ipv4Addr;

const A: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 1001);
const B: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 1002);

/// Moves every pending datagram both ways until both are quiet; returns datagrams moved.
fn pump(a: &mut Endpoint, b: &mut Endpoint, now: u64) -> usize {
    let mut buf = Vec::new();
    let mut moved = 0;
    loop {
        let mut any = false;
        while let Some(to) = a.poll_transmit(now, &mut buf) {
            assert_eq!(to, B);
            b.handle_packet(A, &buf, now);
            any = true;
            moved += 1;
        }
        while let Some(to) = b.poll_transmit(now, &mut buf) {
            assert_eq!(to, A);
            a.handle_packet(B, &buf, now);
            any = true;
            moved += 1;
        }
        if !any {
            return moved;
        }
    }
}

fn events(e: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

fn pair() -> (Endpoint, u32, Endpoint, u32) {
    let mut a = Endpoint::new();
    let mut b = Endpoint::new();
    let ia = a.create_stream();
    let ib = b.create_stream();
    a.connect(ia, ib, B, 0).unwrap();
    b.connect(ib, ia, A, 0).unwrap();
    (a, ia, b, ib)
}

#[test]
fn demux_rules() {
    let mut e = Endpoint::new();
    e.create_stream_with_id(42).unwrap();
    assert_eq!(e.create_stream_with_id(42), Err(UdxError::IdInUse));
    let mut pkt = Vec::new();
    Header { flags: FLAG_DATA, data_offset: 0, id: 42, rwnd: 0, seq: 0, ack: 0 }.write(&mut pkt);
    assert!(!e.handle_packet(A, &pkt[..19], 0), "short");
    assert!(!e.handle_packet(A, &[0x03, 0, 0], 0), "dht-rpc");
    assert!(!e.handle_packet(A, &[0], 0), "holepunch probe");
    let mut other = pkt.clone();
    other[4] = 43;
    assert!(!e.handle_packet(A, &other, 0), "unknown id");
    assert!(e.handle_packet(A, &pkt, 0));
    assert_eq!(events(&mut e), vec![Event::Firewall { id: 42, from: A }]);
    // malformed for our id: consumed and counted
    let mut bad = pkt.clone();
    bad[3] = 200;
    assert!(e.handle_packet(A, &bad, 0));
    assert_eq!(e.malformed_packets(), 1);
    // a DESTROY closes it; afterwards the id is not ours
    let mut d = Vec::new();
    Header { flags: FLAG_DESTROY, data_offset: 0, id: 42, rwnd: 0, seq: 1, ack: 0 }.write(&mut d);
    assert!(e.handle_packet(A, &d, 0));
    assert_eq!(events(&mut e), vec![Event::Closed { id: 42, error: Some(UdxError::Reset) }]);
    assert!(!e.contains(42));
    assert!(!e.handle_packet(A, &pkt, 0));
    assert_eq!(e.connect(42, 1, B, 0), Err(UdxError::UnknownStream));
}

#[test]
fn random_ids_have_unique_low_bits() {
    let mut e = Endpoint::new();
    let ids: Vec<u32> = (0..200).map(|_| e.create_stream()).collect();
    let mut seen = std::collections::HashSet::new();
    for id in &ids {
        assert!(seen.insert(*id));
    }
    assert_eq!(e.len(), 200);
}

#[test]
fn transfer_both_ways_and_close_cleanly() {
    let (mut a, ia, mut b, ib) = pair();
    let data_a: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let data_b: Vec<u8> = (0..700_000u32).map(|i| (i * 13 + 5) as u8).collect();
    let (mut wa, mut wb) = (0, 0);
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let mut now = 0;
    let mut closed = (false, false);
    let (mut ended_a, mut ended_b) = (false, false);
    while !(closed.0 && closed.1) {
        wa += a.write(ia, &data_a[wa..]);
        if wa == data_a.len() {
            a.end(ia);
        }
        wb += b.write(ib, &data_b[wb..]);
        if wb == data_b.len() {
            b.end(ib);
        }
        pump(&mut a, &mut b, now);
        b.read(ib, &mut got_b);
        a.read(ia, &mut got_a);
        for ev in events(&mut a) {
            match ev {
                Event::Ended { id } if id == ia => ended_a = true,
                Event::Closed { id, error: None } if id == ia => closed.0 = true,
                Event::Readable { .. } | Event::Writable { .. } => {}
                other => panic!("a: {other:?}"),
            }
        }
        for ev in events(&mut b) {
            match ev {
                Event::Ended { id } if id == ib => ended_b = true,
                Event::Closed { id, error: None } if id == ib => closed.1 = true,
                Event::Readable { .. } | Event::Writable { .. } => {}
                other => panic!("b: {other:?}"),
            }
        }
        now += 1;
        assert!(now < 10_000, "stuck: {:?} {:?}", a.info(ia), b.info(ib));
    }
    assert!(ended_a && ended_b);
    assert_eq!(got_b, data_a);
    assert_eq!(got_a, data_b);
    assert_eq!(a.info(ia).unwrap().retransmits, 0);
    // both linger, then forget the streams
    assert!(a.contains(ia) && b.contains(ib));
    let t = a.poll_timeout().unwrap();
    a.handle_timeout(t);
    b.handle_timeout(b.poll_timeout().unwrap());
    assert!(!a.contains(ia) && !b.contains(ib));
    assert!(a.poll_timeout().is_none() && b.is_empty());
}

#[test]
fn destroy_resets_the_peer() {
    let (mut a, ia, mut b, ib) = pair();
    a.write(ia, b"hello");
    pump(&mut a, &mut b, 0);
    a.destroy(ia);
    assert_eq!(events(&mut a), vec![Event::Closed { id: ia, error: None }]);
    assert!(!a.contains(ia));
    pump(&mut a, &mut b, 1);
    let evs = events(&mut b);
    assert_eq!(evs.last(), Some(&Event::Closed { id: ib, error: Some(UdxError::Reset) }));
    assert!(!b.contains(ib));
    assert_eq!(a.write(ia, b"x"), 0);
}

#[test]
fn firewall_then_connect_flushes_the_deferred_ack() {
    let mut a = Endpoint::new();
    let mut b = Endpoint::new();
    let ia = a.create_stream();
    let ib = b.create_stream();
    // a knows b's id (from a handshake); b learns a's address from the first packet
    a.connect(ia, ib, B, 0).unwrap();
    a.write(ia, b"first");
    let mut buf = Vec::new();
    let to = a.poll_transmit(0, &mut buf).unwrap();
    assert_eq!(to, B);
    assert!(b.handle_packet(A, &buf, 0));
    assert_eq!(events(&mut b), vec![Event::Firewall { id: ib, from: A }, Event::Readable { id: ib }]);
    assert!(b.poll_transmit(0, &mut buf).is_none(), "no ACK before connect");
    b.connect(ib, ia, A, 5).unwrap();
    assert!(b.poll_transmit(5, &mut buf).is_some());
    a.handle_packet(B, &buf, 5);
    assert_eq!(a.info(ia).unwrap().in_flight, 0);
    let mut got = Vec::new();
    b.read(ib, &mut got);
    assert_eq!(got, b"first");
}

#[test]
fn timers_are_tracked_per_stream() {
    let (mut a, ia, _b, _ib) = pair();
    let ic = a.create_stream();
    a.connect(ic, 99, B, 0).unwrap();
    a.write(ia, b"x");
    let mut buf = Vec::new();
    while a.poll_transmit(0, &mut buf).is_some() {}
    a.write(ic, b"y");
    while a.poll_transmit(500, &mut buf).is_some() {}
    assert_eq!(a.poll_timeout(), Some(1000));
    a.handle_timeout(1000);
    assert_eq!(a.poll_transmit(1000, &mut buf), Some(B));
    assert_eq!(a.poll_transmit(1000, &mut buf), None);
    assert_eq!(a.poll_timeout(), Some(1500));
}

#[test]
fn seeded_stream_ids_are_deterministic_and_distinct() {
    let ids = |seed: [u8; 32]| {
        let mut e = Endpoint::new();
        e.seed_stream_ids(seed);
        (0..40).map(|_| e.create_stream()).collect::<Vec<u32>>()
    };
    let a = ids([1; 32]);
    assert_eq!(a, ids([1; 32]));
    assert_ne!(a, ids([2; 32]));
    let mut sorted = a.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), a.len());
    let mut e = Endpoint::new();
    e.seed_stream_ids([1; 32]);
    let (x, y) = (e.create_stream(), e.create_stream());
    assert_eq!(e.stream_ids(), if x < y { vec![x, y] } else { vec![y, x] });
}
