//! Fuzz-ish: arbitrary datagrams (raw bytes and structurally valid messages with arbitrary
//! fields) from arbitrary sources, interleaved with time passing and application calls, never
//! panic, and every table a stranger can grow stays within its cap.

use super::*;
use crate::dht_rpc::messages::{RequestMessage, ResponseMessage};
use hyperwasm::encoding::MAX_SAFE_INTEGER;
use hyperwasm::hyperdht::messages::ipv4_bytes;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Input {
    Raw {
        from: (u32, u16),
        probe: bool,
        bytes: Vec<u8>,
    },
    /// `token`: 0 keep the message's (random or none), 1 a valid one for the source.
    Request {
        from: (u32, u16),
        msg: RequestMessage,
        valid_id: bool,
        token: u8,
    },
    /// `answer`: reuse the tid of the n-th request in flight, if any.
    Response {
        from: (u32, u16),
        msg: ResponseMessage,
        answer: Option<usize>,
    },
    /// Many PINGs from one source at once (hits the rate limit).
    Flood((u32, u16), u8),
    Advance(u64),
    Query([u8; 32]),
    Ping(u32, u16),
}

fn addr(a: (u32, u16)) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(a.0), a.1)
}

/// Sources from a small pool, so tokens, ids and rate limits interact.
fn source() -> impl Strategy<Value = (u32, u16)> {
    prop_oneof![(0x0a00_0000u32..0x0a00_0010, 1u16..5), (any::<u32>(), any::<u16>()),]
}

fn value() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(Some),
        (0x0a00_0000u32..0x0a00_0010, 1u16..5).prop_map(|a| Some(ipv4_bytes(&addr(a)).to_vec())),
        (0u32..20_000).prop_map(|d| Some(d.to_le_bytes().to_vec())),
    ]
}

fn request_msg() -> impl Strategy<Value = RequestMessage> {
    (
        any::<u16>(),
        source(),
        any::<bool>(),
        proptest::option::of(any::<[u8; 32]>()),
        any::<bool>(),
        prop_oneof![0u64..6, 0..=MAX_SAFE_INTEGER],
        proptest::option::of(any::<[u8; 32]>()),
        value(),
    )
        .prop_map(|(tid, from, with_id, token, internal, command, target, value)| RequestMessage {
            tid,
            to: addr(from),
            // A valid id for the source half the time (it then joins the table).
            id: with_id.then(|| peer::id(&addr(from))),
            token,
            internal,
            command,
            target,
            value,
        })
}

fn response_msg() -> impl Strategy<Value = ResponseMessage> {
    (
        any::<u16>(),
        source(),
        any::<bool>(),
        proptest::collection::vec(source(), 0..40),
        prop_oneof![Just(0u64), 0..=MAX_SAFE_INTEGER],
        value(),
    )
        .prop_map(|(tid, to, with_id, closer, error, value)| ResponseMessage {
            tid,
            to: addr(to),
            id: with_id.then(|| peer::id(&addr(to))),
            token: None,
            closer_nodes: closer.into_iter().map(addr).collect(),
            error,
            value,
        })
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        3 => (source(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..120))
            .prop_map(|(from, probe, bytes)| Input::Raw { from, probe, bytes }),
        6 => (source(), request_msg(), any::<bool>(), 0u8..3)
            .prop_map(|(from, msg, valid_id, token)| Input::Request { from, msg, valid_id, token }),
        4 => (source(), response_msg(), proptest::option::of(0usize..8))
            .prop_map(|(from, msg, answer)| Input::Response { from, msg, answer }),
        2 => (0u64..20_000).prop_map(Input::Advance),
        1 => (source(), 10u8..80).prop_map(|(from, n)| Input::Flood(from, n)),
        1 => any::<[u8; 32]>().prop_map(Input::Query),
        1 => (0x0a00_0000u32..0x0a00_0010, 1u16..5).prop_map(|(a, p)| Input::Ping(a, p)),
    ]
}

fn check_bounds(rpc: &Rpc, limits: &Limits) {
    let s = rpc.stats();
    assert!(s.requests_active <= limits.max_requests, "{s:?}");
    assert!(s.queries_active <= limits.max_queries);
    assert!(s.delayed_pings <= limits.max_delayed_pings);
    assert!(s.checks <= 10);
    assert!(s.repinging <= 3);
    assert!(s.rate_limited_hosts <= 64);
    assert!(s.table_size <= 256 * 20);
    assert!(s.query_seen_max <= crate::dht_rpc::query::MAX_SEEN);
    assert!(s.events_queued == 0 && s.transmits_queued == 0, "drained after every input");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn hostile_inputs_never_panic_and_stay_bounded(
        persistent in any::<bool>(),
        inputs in proptest::collection::vec(input(), 1..300),
    ) {
        let limits = Limits { max_requests: 64, max_queries: 4, max_delayed_pings: 8, max_pending_requests: 16 };
        let opts = RpcOptions {
            ephemeral: Some(!persistent),
            firewalled: !persistent,
            host: Ipv4Addr::new(10, 9, 9, 9),
            port: 4000,
            bootstrap: vec![addr((0x0a00_0001, 1)), addr((0x0a00_0002, 2))],
            limits,
            rate_limit: RateLimit { per_second: 50, burst: 20, max_hosts: 64 },
            seed: Some([3; 32]),
            ..RpcOptions::default()
        };
        let mut now = 1_000u64;
        let mut rpc = Rpc::new(opts, now);
        for input in inputs {
            match input {
                Input::Raw { from, probe, bytes } => {
                    let socket = if probe { SocketKind::Probe } else { SocketKind::Main };
                    rpc.handle_datagram(addr(from), socket, &bytes, now);
                }
                Input::Request { from, mut msg, valid_id, token } => {
                    if valid_id {
                        msg.id = Some(peer::id(&addr(from)));
                    }
                    match token {
                        0 => {}
                        1 => msg.token = Some(rpc.io.tokens.current(*addr(from).ip())),
                        _ => msg.token = None,
                    }
                    rpc.handle_datagram(addr(from), SocketKind::Main, &msg.encode(), now);
                }
                Input::Response { from, mut msg, answer } => {
                    if let Some(n) = answer {
                        let mut tids: Vec<u16> = rpc.io.iter().map(|r| r.tid).collect();
                        tids.sort();
                        if let Some(tid) = tids.get(n % tids.len().max(1)) {
                            msg.tid = *tid;
                        }
                    }
                    if msg.id.is_some() {
                        msg.id = Some(peer::id(&addr(from)));
                    }
                    rpc.handle_datagram(addr(from), SocketKind::Main, &msg.encode(), now);
                }
                Input::Flood(from, n) => {
                    for tid in 0..u16::from(n) {
                        let msg = RequestMessage {
                            tid, to: addr(from), id: None, token: None, internal: true,
                            command: crate::dht_rpc::commands::PING, target: None, value: None,
                        };
                        rpc.handle_datagram(addr(from), SocketKind::Main, &msg.encode(), now);
                    }
                }
                Input::Advance(ms) => {
                    now += ms;
                    while let Some(t) = rpc.poll_timeout() {
                        if t > now { break; }
                        rpc.handle_timeout(t);
                        while rpc.poll_transmit().is_some() {}
                        while rpc.poll_event().is_some() {}
                    }
                }
                Input::Query(target) => { rpc.query(crate::dht_rpc::QuerySpec::find_node(target), now); }
                Input::Ping(a, p) => { rpc.ping(addr((a, p)), now); }
            }
            // Answer application requests the way hyperdht would (sometimes relaying).
            while let Some(e) = rpc.poll_event() {
                if let RpcEvent::Request(req) = e {
                    if req.command % 2 == 0 {
                        rpc.reply(&req, ReplySpec::value(req.value.clone()));
                    } else {
                        rpc.relay(&req, None, addr((0x0a00_0003, 3)));
                    }
                }
            }
            while rpc.poll_transmit().is_some() {}
            check_bounds(&rpc, &limits);
        }
    }
}

/// 100 000 requests from 100 000 spoofed sources (valid ids, delayed pings, application
/// requests, DOWN_HINTs) while the driver never polls: every queue stays at its cap.
#[test]
fn flood_without_polling_stays_bounded() {
    let mut rpc = Rpc::new(
        RpcOptions {
            ephemeral: Some(false),
            firewalled: false,
            host: Ipv4Addr::new(10, 9, 9, 9),
            port: 4000,
            seed: Some([4; 32]),
            ..RpcOptions::default()
        },
        0,
    );
    let limits = Limits::default();
    for i in 0..100_000u32 {
        let from = SocketAddrV4::new(Ipv4Addr::from(0x2000_0000 + i * 7), 1000 + (i % 50) as u16);
        let (command, internal, value) = match i % 4 {
            0 => (crate::dht_rpc::commands::DELAYED_PING, true, Some(9_000u32.to_le_bytes().to_vec())),
            1 => (5, false, Some(vec![0; 64])),
            2 => (crate::dht_rpc::commands::DOWN_HINT, true, Some(ipv4_bytes(&from).to_vec())),
            _ => (crate::dht_rpc::commands::FIND_NODE, true, None),
        };
        let msg = RequestMessage {
            tid: i as u16,
            to: SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, 9), 4000),
            id: Some(peer::id(&from)),
            token: None,
            internal,
            command,
            target: Some(hyperwasm::crypto::blake2b(&i.to_le_bytes())),
            value,
        };
        rpc.handle_datagram(from, SocketKind::Main, &msg.encode(), u64::from(i / 100));
    }
    let s = rpc.stats();
    assert!(s.events_queued <= limits.max_pending_requests + 16, "{s:?}");
    assert!(s.requests_dropped > 0);
    assert!(s.transmits_queued <= 16_384);
    assert!(s.transmits_dropped > 0);
    assert_eq!(s.delayed_pings, limits.max_delayed_pings);
    assert!(s.rate_limited_hosts <= RateLimit::default().max_hosts);
    assert!(s.table_size <= 256 * 20);
    assert!(s.table_size > 100, "validated senders joined the table");
    assert!(s.checks <= 10 && s.repinging <= 3);
    assert!(s.requests_active <= limits.max_requests);
}
