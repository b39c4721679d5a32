//! Stream state machine edge cases, driven packet by packet.

use super::*;
use crate::udx::packet::{write_sack, Header, FLAG_SACK};
use crate::udx::BASE_PAYLOAD;
use std::net::Ipv4Addr;

const ME: u32 = 7;
const PEER: u32 = 9;
const PEER_ADDR: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 2000);

fn raw(flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    Header { flags, data_offset: 0, id: ME, rwnd: DEFAULT_RWND, seq, ack }.write(&mut v);
    v.extend_from_slice(payload);
    v
}

fn feed(s: &mut Stream, bytes: &[u8], now: u64) -> Vec<Event> {
    let mut ev = VecDeque::new();
    let p = Packet::decode(bytes).unwrap();
    s.handle_packet(PEER_ADDR, &p, now, &mut ev);
    ev.into()
}

fn drain(s: &mut Stream, now: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut ev = VecDeque::new();
    let mut buf = Vec::new();
    while s.poll_transmit(now, &mut buf, &mut ev) {
        out.push(buf.clone());
        assert!(out.len() < 100_000);
    }
    out
}

fn hdr(bytes: &[u8]) -> Header {
    Header::decode(bytes).unwrap()
}

fn connected() -> Stream {
    let mut s = Stream::new(ME, StreamConfig::default());
    s.connect(PEER, PEER_ADDR).unwrap();
    s
}

fn read_all(s: &mut Stream) -> Vec<u8> {
    let mut v = Vec::new();
    s.read(&mut v);
    v
}

#[test]
fn end_only_packet_is_acked_and_gives_eof() {
    let mut s = connected();
    let ev = feed(&mut s, &raw(FLAG_END, 0, 0, &[]), 0);
    assert_eq!(ev, vec![Event::Ended { id: ME }]);
    let out = drain(&mut s, 0);
    assert_eq!(out.len(), 1);
    let h = hdr(&out[0]);
    assert_eq!((h.flags, h.id, h.seq, h.ack), (0, PEER, 0, 1));
    // a retransmitted END is acked again, no second EOF
    let ev = feed(&mut s, &raw(FLAG_END, 0, 0, &[]), 5);
    assert!(ev.is_empty());
    assert_eq!(hdr(&drain(&mut s, 5)[0]).ack, 1);
}

#[test]
fn end_before_missing_data_waits_for_it() {
    let mut s = connected();
    assert!(feed(&mut s, &raw(FLAG_END, 2, 0, &[]), 0).is_empty());
    assert!(feed(&mut s, &raw(FLAG_DATA, 1, 0, b"world"), 0).is_empty());
    // SACK for [1, 3) while 0 is missing
    let out = drain(&mut s, 0);
    let p = Packet::decode(&out[0]).unwrap();
    assert!(p.header.has(FLAG_SACK));
    assert_eq!(p.header.ack, 0);
    assert_eq!(p.sacks().collect::<Vec<_>>(), vec![(1, 3)]);
    let ev = feed(&mut s, &raw(FLAG_DATA, 0, 0, b"hello "), 1);
    assert_eq!(ev, vec![Event::Readable { id: ME }, Event::Ended { id: ME }]);
    assert_eq!(read_all(&mut s), b"hello world");
    let h = hdr(&drain(&mut s, 1)[0]);
    assert_eq!((h.flags, h.ack), (0, 3));
    // data after END is ignored
    assert!(feed(&mut s, &raw(FLAG_DATA, 3, 0, b"late"), 2).is_empty());
    assert_eq!(s.readable(), 0);
}

#[test]
fn data_with_end_flag_in_one_packet() {
    let mut s = connected();
    let ev = feed(&mut s, &raw(FLAG_DATA | FLAG_END, 0, 0, b"bye"), 0);
    assert_eq!(ev, vec![Event::Readable { id: ME }, Event::Ended { id: ME }]);
    assert_eq!(read_all(&mut s), b"bye");
    assert_eq!(hdr(&drain(&mut s, 0)[0]).ack, 1);
}

#[test]
fn destroy_closes_with_econnreset_unless_old() {
    let mut s = connected();
    feed(&mut s, &raw(FLAG_DATA, 0, 0, b"x"), 0);
    // seq below ack: stale, ignored
    let ev = feed(&mut s, &raw(FLAG_DESTROY, 0, 0, &[]), 0);
    assert!(!ev.contains(&Event::Closed { id: ME, error: Some(UdxError::Reset) }));
    assert!(!s.is_closed());
    let ev = feed(&mut s, &raw(FLAG_DESTROY, 1, 0, &[]), 0);
    assert_eq!(ev, vec![Event::Closed { id: ME, error: Some(UdxError::Reset) }]);
    assert_eq!(UdxError::Reset.code(), "ECONNRESET");
    assert!(s.is_removable());
    assert!(drain(&mut s, 0).is_empty());
}

#[test]
fn local_destroy_sends_destroy_with_next_seq() {
    let mut s = connected();
    s.write(b"abc");
    let out = drain(&mut s, 0);
    assert_eq!(hdr(&out[0]).seq, 0);
    let mut ev = VecDeque::new();
    let (to, pkt) = s.destroy(&mut ev).unwrap();
    assert_eq!(to, PEER_ADDR);
    let h = hdr(&pkt);
    assert_eq!((h.flags, h.id, h.seq), (FLAG_DESTROY, PEER, 1));
    assert_eq!(ev, VecDeque::from(vec![Event::Closed { id: ME, error: None }]));
    assert!(s.destroy(&mut ev).is_none());
    // unconnected: nothing to send
    let mut u = Stream::new(1, StreamConfig::default());
    assert!(u.destroy(&mut ev).is_none());
}

#[test]
fn heartbeat_is_answered_without_consuming_seq() {
    let mut s = connected();
    feed(&mut s, &raw(FLAG_DATA, 0, 0, b"a"), 0);
    drain(&mut s, 0);
    let ev = feed(&mut s, &raw(FLAG_HEARTBEAT, 1, 0, &[]), 1);
    assert!(ev.is_empty());
    let out = drain(&mut s, 1);
    assert_eq!(out.len(), 1);
    let h = hdr(&out[0]);
    assert_eq!((h.flags, h.seq, h.ack), (0, 0, 1));
}

#[test]
fn duplicates_and_old_packets_are_acked_not_redelivered() {
    let mut s = connected();
    feed(&mut s, &raw(FLAG_DATA, 0, 0, b"one"), 0);
    feed(&mut s, &raw(FLAG_DATA, 0, 0, b"one"), 0);
    feed(&mut s, &raw(FLAG_DATA, 2, 0, b"three"), 0);
    feed(&mut s, &raw(FLAG_DATA, 2, 0, b"three"), 0);
    let out = drain(&mut s, 0);
    // one batch → one ACK (a SACK: 2 is held)
    assert_eq!(out.len(), 1);
    assert_eq!(s.info().reorder_packets, 1);
    feed(&mut s, &raw(FLAG_DATA, 1, 0, b"two"), 1);
    assert_eq!(read_all(&mut s), b"onetwothree");
    feed(&mut s, &raw(FLAG_DATA, 1, 0, b"two"), 2);
    let out = drain(&mut s, 2);
    assert_eq!(hdr(&out[0]).ack, 3);
    assert_eq!(s.readable(), 0);
}

#[test]
fn data_offset_padding_is_skipped() {
    let mut s = connected();
    let mut v = Vec::new();
    Header { flags: FLAG_DATA, data_offset: 4, id: ME, rwnd: 1, seq: 0, ack: 0 }.write(&mut v);
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(b"payload");
    feed(&mut s, &v, 0);
    assert_eq!(read_all(&mut s), b"payload");
}

#[test]
fn message_is_unordered_and_consumes_no_seq() {
    let mut s = connected();
    let ev = feed(&mut s, &raw(FLAG_MESSAGE, 5, 0, b"dgram"), 0);
    assert_eq!(ev, vec![Event::Message { id: ME, data: b"dgram".to_vec() }]);
    assert!(drain(&mut s, 0).is_empty(), "messages are not acked");
    s.send_message(b"hi").unwrap();
    let out = drain(&mut s, 0);
    let p = Packet::decode(&out[0]).unwrap();
    assert_eq!((p.header.flags, p.header.seq, p.payload), (FLAG_MESSAGE, 0, &b"hi"[..]));
    assert_eq!(s.info().seq, 0);
    assert_eq!(s.send_message(&[0; MAX_MESSAGE + 1]), Err(UdxError::MessageTooLarge));
}

#[test]
fn before_connect_packets_are_buffered_and_acks_deferred() {
    let mut s = Stream::new(ME, StreamConfig::default());
    let ev = feed(&mut s, &raw(FLAG_DATA, 0, 0, b"early"), 0);
    assert_eq!(ev, vec![Event::Firewall { id: ME, from: PEER_ADDR }, Event::Readable { id: ME }]);
    let ev = feed(&mut s, &raw(FLAG_DATA, 1, 0, b" bird"), 0);
    assert!(ev.is_empty(), "firewall is raised once");
    assert!(!s.wants_transmit());
    assert!(drain(&mut s, 0).is_empty());
    s.connect(PEER, PEER_ADDR).unwrap();
    assert_eq!(s.connect(PEER, PEER_ADDR), Err(UdxError::AlreadyConnected));
    assert!(s.wants_transmit());
    let out = drain(&mut s, 1);
    assert_eq!(out.len(), 1);
    assert_eq!((hdr(&out[0]).id, hdr(&out[0]).ack), (PEER, 2));
    assert_eq!(read_all(&mut s), b"early bird");
}

#[test]
fn seq_wraps_around_u32_max() {
    let start = u32::MAX - 3;
    let cfg = StreamConfig { initial_ack: start, ..StreamConfig::default() };
    let mut s = Stream::new(ME, cfg);
    s.connect(PEER, PEER_ADDR).unwrap();
    // arrive out of order across the wrap: MAX-3 .. 3
    let seqs: Vec<u32> = (0..8u32).map(|i| start.wrapping_add(i)).collect();
    for &q in seqs.iter().rev() {
        feed(&mut s, &raw(FLAG_DATA, q, 0, &[q as u8]), 0);
    }
    let want: Vec<u8> = seqs.iter().map(|&q| q as u8).collect();
    assert_eq!(read_all(&mut s), want);
    assert_eq!(hdr(&drain(&mut s, 0)[0]).ack, start.wrapping_add(8));

    // and sending across the wrap: acks free the buffer
    let cfg = StreamConfig { initial_seq: start, ..StreamConfig::default() };
    let mut t = Stream::new(ME, cfg);
    t.connect(PEER, PEER_ADDR).unwrap();
    t.write(&vec![1u8; BASE_PAYLOAD * 8]);
    let out = drain(&mut t, 0);
    assert_eq!(out.len(), 8);
    assert_eq!(hdr(&out[7]).seq, 3);
    feed(&mut t, &raw(0, 0, 4, &[]), 10);
    let i = t.info();
    assert_eq!((i.in_flight, i.send_buffered, i.srtt_ms), (0, 0, 10));
}

#[test]
fn sack_validity_rules() {
    let mut s = connected();
    s.write(&vec![0u8; BASE_PAYLOAD * 10]);
    assert_eq!(drain(&mut s, 0).len(), 10);
    let sack = |blocks: &[(u32, u32)], ack: u32| {
        let mut v = raw(FLAG_SACK, 0, ack, &[]);
        for &(a, b) in blocks {
            write_sack(&mut v, a, b);
        }
        v
    };
    // start = end, start > end, end > seq, start < una (wrapped): all ignored
    feed(&mut s, &sack(&[(5, 5), (6, 4), (8, 11), (u32::MAX, 2)], 0), 1);
    assert_eq!(s.info().in_flight, 10);
    // cumulative ack 2; the block starts below it: invalid (it would ack 2 and 3)
    feed(&mut s, &sack(&[(1, 4)], 2), 1);
    assert_eq!(s.info().in_flight, 8);
    // ack beyond seq: ignored entirely, SACKs included
    feed(&mut s, &sack(&[(7, 10)], 11), 1);
    assert_eq!(s.info().in_flight, 8);
    // a valid block acks 7..10; RACK then declares 2..7 (sent earlier) lost
    feed(&mut s, &sack(&[(7, 10)], 2), 1);
    assert_eq!(s.info().in_flight, 0);
    let again: Vec<u32> = drain(&mut s, 1).iter().map(|p| hdr(p).seq).collect();
    assert_eq!(again, vec![2, 3, 4, 5, 6]);
}

#[test]
fn a_sack_block_outside_the_window_costs_nothing() {
    // una = 0, seq = 10. Each pairwise wrapping check passes (una ≤ start, end ≤ seq,
    // start < end) yet the block lies outside the window: walking it took 2^31 steps.
    let mut s = connected();
    s.write(&vec![0u8; BASE_PAYLOAD * 10]);
    assert_eq!(drain(&mut s, 0).len(), 10);
    let (start, end) = (0x4000_0014u32, 0xc000_000au32);
    let mut v = raw(FLAG_SACK, 0, 0, &[]);
    write_sack(&mut v, start, end);
    let t0 = std::time::Instant::now();
    feed(&mut s, &v, 1);
    assert!(t0.elapsed() < std::time::Duration::from_secs(1), "took {:?}", t0.elapsed());
    assert_eq!(s.info().in_flight, 10);
}

#[test]
fn sack_triggers_fast_retransmit_before_rto() {
    let mut s = connected();
    s.write(&vec![3u8; BASE_PAYLOAD * 10]);
    assert_eq!(drain(&mut s, 0).len(), 10);
    // 0 was lost: the peer acks nothing cumulatively and SACKs 1..10
    let mut v = raw(FLAG_SACK, 0, 0, &[]);
    write_sack(&mut v, 1, 10);
    feed(&mut s, &v, 20);
    let out = drain(&mut s, 20);
    assert_eq!(out.len(), 1, "one retransmission");
    let h = hdr(&out[0]);
    assert_eq!((h.flags, h.seq, out[0].len()), (FLAG_DATA, 0, HEADER_LEN + BASE_PAYLOAD));
    assert_eq!(s.info().retransmits, 1);
}

#[test]
fn zero_window_then_reopen() {
    // receiver side: the advertised window shrinks as bytes wait, a read reopens it
    let cfg = StreamConfig { recv_window: 4 * BASE_PAYLOAD as u32, ..StreamConfig::default() };
    let mut r = Stream::new(ME, cfg);
    r.connect(PEER, PEER_ADDR).unwrap();
    for q in 0..4 {
        feed(&mut r, &raw(FLAG_DATA, q, 0, &[0; BASE_PAYLOAD]), 0);
    }
    let out = drain(&mut r, 0);
    assert_eq!((hdr(&out[0]).ack, hdr(&out[0]).rwnd), (4, 0));
    read_all(&mut r);
    let out = drain(&mut r, 1);
    assert_eq!(out.len(), 1, "window update after the read");
    assert_eq!(hdr(&out[0]).rwnd, 4 * BASE_PAYLOAD as u32);

    // sender side: rwnd 0 stops new data; a heartbeat probes; an update restarts it
    let mut s = connected();
    s.write(&[1u8; 3000]);
    let out = drain(&mut s, 0);
    assert_eq!(out.len(), 3);
    let mut closed = raw(0, 0, 1, &[]);
    closed[8..12].copy_from_slice(&0u32.to_le_bytes());
    feed(&mut s, &closed, 5);
    assert!(drain(&mut s, 5).is_empty(), "in-flight packets still go, nothing new");
    feed(
        &mut s,
        &{
            let mut v = raw(0, 0, 3, &[]);
            v[8..12].copy_from_slice(&0u32.to_le_bytes());
            v
        },
        6,
    );
    s.write(&[2u8; 100]);
    assert!(drain(&mut s, 6).is_empty());
    let t = s.poll_timeout().unwrap();
    let mut ev = VecDeque::new();
    s.handle_timeout(t, &mut ev);
    let out = drain(&mut s, t);
    assert_eq!(out.len(), 1);
    assert_eq!(hdr(&out[0]).flags, FLAG_HEARTBEAT);
    // the answer reopens the window
    feed(&mut s, &raw(0, 0, 3, &[]), t + 1);
    let out = drain(&mut s, t + 1);
    assert_eq!(out.len(), 1);
    assert_eq!((hdr(&out[0]).seq, out[0].len()), (3, HEADER_LEN + 100));
}

#[test]
fn six_rto_timeouts_then_etimedout() {
    let mut s = connected();
    s.write(b"nobody listens");
    assert_eq!(drain(&mut s, 0).len(), 1);
    let mut ev = VecDeque::new();
    let mut resends = Vec::new();
    let mut now = 0;
    while let Some(t) = s.poll_timeout() {
        now = t;
        s.handle_timeout(now, &mut ev);
        for p in drain(&mut s, now) {
            assert_eq!(hdr(&p).seq, 0);
            resends.push(now);
        }
        assert!(now < 1_000_000);
    }
    // 1 s, then doubling to the 4 s cap
    assert_eq!(resends, vec![1000, 3000, 7000, 11000, 15000, 19000]);
    assert_eq!(now, 23000);
    assert_eq!(ev, VecDeque::from(vec![Event::Closed { id: ME, error: Some(UdxError::TimedOut) }]));
    assert_eq!(UdxError::TimedOut.code(), "ETIMEDOUT");
}

#[test]
fn progress_resets_the_backoff() {
    let mut s = connected();
    s.write(&[0u8; 2 * BASE_PAYLOAD]);
    assert_eq!(drain(&mut s, 0).len(), 2);
    let mut ev = VecDeque::new();
    s.handle_timeout(1000, &mut ev);
    assert_eq!(drain(&mut s, 1000).len(), 1, "cwnd 1 after RTO: only the head");
    feed(&mut s, &raw(0, 0, 1, &[]), 1100);
    // the second packet goes out again; the timer restarts from the base RTO
    assert_eq!(hdr(&drain(&mut s, 1100)[0]).seq, 1);
    assert_eq!(s.poll_timeout(), Some(2100));
}

/// libudx closes without lingering: when its ack of our END is lost after it ended, nobody will
/// ever ack our END again. That is a clean close (the peer had everything), not ETIMEDOUT; an
/// END whose data the peer has not acked still times out.
#[test]
fn a_lost_ack_of_our_end_after_the_peer_ended_is_a_clean_close() {
    let run = |peer_acks_data: bool| {
        let mut s = connected();
        s.write(b"first");
        assert_eq!(drain(&mut s, 0).len(), 1);
        // the peer acks our data (or not) and ends its side
        let ack = u32::from(peer_acks_data);
        feed(&mut s, &raw(FLAG_END, 0, ack, &[]), 5);
        s.end();
        let out = drain(&mut s, 10);
        assert!(out.iter().any(|p| hdr(p).flags & FLAG_END != 0));
        // ...and then says nothing more, whatever we retransmit
        let mut ev = VecDeque::new();
        while let Some(now) = s.poll_timeout() {
            s.handle_timeout(now, &mut ev);
            drain(&mut s, now);
            assert!(now < 1_000_000);
        }
        ev.into_iter().filter(|e| matches!(e, Event::Closed { .. })).collect::<Vec<_>>()
    };
    assert_eq!(run(true), vec![Event::Closed { id: ME, error: None }]);
    assert_eq!(run(false), vec![Event::Closed { id: ME, error: Some(UdxError::TimedOut) }]);
}

#[test]
fn end_both_ways_closes_and_lingers() {
    let mut s = connected();
    s.write(b"last words");
    s.end();
    let out = drain(&mut s, 0);
    assert_eq!(out.len(), 1);
    assert_eq!(hdr(&out[0]).flags, FLAG_DATA | FLAG_END);
    assert_eq!(s.write(b"more"), 0);
    // the peer acks our END and sends its own
    let ev = feed(&mut s, &raw(FLAG_END, 0, 1, &[]), 10);
    assert_eq!(ev, vec![Event::Ended { id: ME }]);
    let mut evq = VecDeque::new();
    let mut buf = Vec::new();
    assert!(s.poll_transmit(10, &mut buf, &mut evq));
    assert_eq!(hdr(&buf).ack, 1);
    assert_eq!(evq, VecDeque::from(vec![Event::Closed { id: ME, error: None }]));
    assert!(s.is_closed() && !s.is_removable());
    // a retransmitted END (our ACK was lost) is answered while lingering
    feed(&mut s, &raw(FLAG_END, 0, 1, &[]), 1000);
    let out = drain(&mut s, 1000);
    assert_eq!(hdr(&out[0]).ack, 1);
    let t = s.poll_timeout().unwrap();
    s.handle_timeout(t, &mut evq);
    assert!(s.is_removable());
}

#[test]
fn short_write_then_writable() {
    let cfg = StreamConfig { send_buffer: 4 * BASE_PAYLOAD, ..StreamConfig::default() };
    let mut s = Stream::new(ME, cfg);
    s.connect(PEER, PEER_ADDR).unwrap();
    assert_eq!(s.write(&[0u8; 5 * BASE_PAYLOAD]), 4 * BASE_PAYLOAD);
    assert_eq!(drain(&mut s, 0).len(), 4);
    assert_eq!(s.write(&[0u8; 10]), 0);
    let ev = feed(&mut s, &raw(0, 0, 2, &[]), 5);
    assert_eq!(ev, vec![Event::Writable { id: ME }]);
    assert_eq!(s.write(&[0u8; 5 * BASE_PAYLOAD]), 2 * BASE_PAYLOAD);
}

#[test]
fn reorder_buffer_is_bounded() {
    let mut s = connected();
    // far above the ack: not held
    feed(&mut s, &raw(FLAG_DATA, MAX_REORDER_SPAN, 0, b"far"), 0);
    assert_eq!(s.info().reorder_packets, 0);
    for q in 1..(MAX_REORDER_PACKETS as u32 + 100) {
        feed(&mut s, &raw(FLAG_DATA, q, 0, b"x"), 0);
    }
    assert_eq!(s.info().reorder_packets, MAX_REORDER_PACKETS);
    // SACK blocks are capped at 50 (only one run here)
    let out = drain(&mut s, 0);
    assert_eq!(Packet::decode(&out[0]).unwrap().sack_count(), 1);
    // bytes beyond the window are refused
    let mut t = Stream::new(ME, StreamConfig { recv_window: 1000, ..StreamConfig::default() });
    feed(&mut t, &raw(FLAG_DATA, 1, 0, &vec![0; 70_000]), 0);
    assert_eq!(t.info().reorder_packets, 0);
}

#[test]
fn many_holes_give_at_most_50_sack_blocks() {
    let mut s = connected();
    for q in (1..300).step_by(2) {
        feed(&mut s, &raw(FLAG_DATA, q, 0, b"x"), 0);
    }
    let out = drain(&mut s, 0);
    let p = Packet::decode(&out[0]).unwrap();
    assert_eq!(p.sack_count(), MAX_SACKS);
    assert_eq!(p.sacks().next(), Some((1, 2)));
    assert_eq!(p.sacks().last(), Some((99, 100)));
}

#[test]
fn mtu_probe_grows_payload_and_a_lost_probe_is_not_congestion() {
    let mut s = connected();
    s.write(&vec![9u8; 40_000]);
    let first = drain(&mut s, 0);
    assert!(first.iter().all(|p| p.len() == HEADER_LEN + BASE_PAYLOAD && hdr(p).data_offset == 0));
    assert_eq!(first.len(), 10);
    // the first ack confirms the path; the next full packet is a probe padded to 1452
    feed(&mut s, &raw(0, 0, 1, &[]), 10);
    let out = drain(&mut s, 10);
    let probe = &out[0];
    assert_eq!(hdr(probe).data_offset, 252);
    assert_eq!(probe.len(), 1452 - 28);
    assert_eq!(Packet::decode(probe).unwrap().payload.len(), BASE_PAYLOAD);
    assert!(out[1..].iter().all(|p| hdr(p).data_offset == 0));
    let probe_seq = hdr(probe).seq;
    // the probe is lost: everything after it is acked; it goes again unpadded and the
    // window is not cut
    let cwnd = s.info().cwnd;
    let mut sack = raw(FLAG_SACK, 0, probe_seq, &[]);
    write_sack(&mut sack, probe_seq + 1, s.info().seq);
    feed(&mut s, &sack, 20);
    assert!(s.info().cwnd >= cwnd, "probe loss is not congestion");
    let out = drain(&mut s, 20);
    let again = out.iter().find(|p| hdr(p).seq == probe_seq).unwrap();
    assert_eq!((hdr(again).data_offset, again.len()), (0, HEADER_LEN + BASE_PAYLOAD));
    // the next probe is acked: the MTU becomes 1452 and packets carry 1404 bytes
    assert!(out.iter().any(|p| hdr(p).data_offset == 252), "probing goes on");
    let upto = hdr(out.last().unwrap()).seq + 1;
    feed(&mut s, &raw(0, 0, upto, &[]), 30);
    assert_eq!(s.info().mtu, 1452);
    let out = drain(&mut s, 30);
    assert!(out.iter().any(|p| Packet::decode(p).unwrap().payload.len() == 1404));
    assert!(out.iter().all(|p| p.len() <= 1500 - 28));
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Packet { flags: u8, seq: i32, ack: i32, rwnd: u32, off: u8, sacks: Vec<(i32, i32)>, len: usize },
        Write(usize),
        Read,
        Poll,
        Advance(u64),
        End,
        Message,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u8>(), -40i32..40, -40i32..40, any::<u32>(), prop_oneof![Just(0u8), any::<u8>()],
                  proptest::collection::vec((-40i32..40, -40i32..40), 0..6), 0usize..1600)
                .prop_map(|(flags, seq, ack, rwnd, off, sacks, len)| Op::Packet { flags, seq, ack, rwnd, off, sacks, len }),
            2 => (0usize..20_000).prop_map(Op::Write),
            1 => Just(Op::Read),
            3 => Just(Op::Poll),
            1 => (0u64..5_000).prop_map(Op::Advance),
            1 => Just(Op::End),
            1 => Just(Op::Message),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]
        /// Arbitrary packets (seq/ack/SACKs near the live window, any flags, offsets, sizes)
        /// mixed with local calls never panic and keep the counters consistent.
        #[test]
        fn arbitrary_input_never_panics(connect_first in any::<bool>(), ops in proptest::collection::vec(op(), 1..120)) {
            let cfg = StreamConfig { recv_window: 20_000, send_buffer: 30_000, ..StreamConfig::default() };
            let mut s = Stream::new(ME, cfg);
            if connect_first {
                s.connect(PEER, PEER_ADDR).unwrap();
            }
            let mut ev = VecDeque::new();
            let mut buf = Vec::new();
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::Packet { flags, seq, ack, rwnd, off, sacks, len } => {
                        let i = s.info();
                        let mut v = Vec::new();
                        let h = Header {
                            flags,
                            data_offset: off,
                            id: ME,
                            rwnd,
                            seq: i.ack.wrapping_add(seq as u32),
                            ack: i.una.wrapping_add(ack as u32),
                        };
                        h.write(&mut v);
                        for (a, b) in sacks {
                            write_sack(&mut v, i.una.wrapping_add(a as u32), i.una.wrapping_add(b as u32));
                        }
                        v.resize(v.len() + len, 0xAB);
                        if let Ok(p) = Packet::decode(&v) {
                            s.handle_packet(PEER_ADDR, &p, now, &mut ev);
                        }
                    }
                    Op::Write(n) => {
                        let _ = s.write(&vec![1u8; n]);
                    }
                    Op::Read => {
                        buf.clear();
                        s.read(&mut buf);
                    }
                    Op::Poll => {
                        let mut n = 0;
                        while s.poll_transmit(now, &mut buf, &mut ev) && n < 10_000 {
                            prop_assert!(buf.len() <= 1500 - 28);
                            n += 1;
                        }
                        if !s.is_connected() && !s.is_closed() {
                            s.connect(PEER, PEER_ADDR).unwrap();
                        }
                    }
                    Op::Advance(ms) => {
                        now += ms;
                        if s.poll_timeout().is_some_and(|t| t <= now) {
                            s.handle_timeout(now, &mut ev);
                        }
                    }
                    Op::End => s.end(),
                    Op::Message => {
                        let _ = s.send_message(b"m");
                    }
                }
                let i = s.info();
                prop_assert!(i.in_flight <= i.seq.wrapping_sub(i.una));
                prop_assert!(i.readable <= 20_000 + RECV_SLACK);
                prop_assert!(i.send_buffered <= 30_000);
                prop_assert!(i.reorder_packets <= MAX_REORDER_PACKETS);
            }
        }
    }
}
