//! The plain-data types of the [`super::Rpc`] surface: handles, requests in and out, replies,
//! events and statistics.

use super::errors::RpcError;
use super::io::IoStats;
use super::{commands, NodeId, SocketKind, Token};
use std::net::SocketAddrV4;

/// Handle of a request made with [`Rpc::request`](super::Rpc::request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Handle of a query made with [`Rpc::query`](super::Rpc::query).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(pub u64);

/// A request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRequest {
    /// Destination.
    pub to: SocketAddrV4,
    /// Token the destination handed us earlier.
    pub token: Option<Token>,
    /// dht-rpc's own command.
    pub internal: bool,
    /// Command number.
    pub command: u64,
    /// Target key.
    pub target: Option<[u8; 32]>,
    /// Payload.
    pub value: Option<Vec<u8>>,
    /// Retry 3 times (JS default) or not at all (JS `retry: false`).
    pub retry: bool,
    /// Per-attempt timeout instead of the node's default.
    pub timeout_ms: Option<u64>,
    /// Socket to send from.
    pub socket: SocketKind,
}

impl OutgoingRequest {
    /// An application (non-internal) command to `to`, everything else default.
    pub fn new(to: SocketAddrV4, command: u64) -> Self {
        OutgoingRequest {
            to,
            token: None,
            internal: false,
            command,
            target: None,
            value: None,
            retry: true,
            timeout_ms: None,
            socket: SocketKind::Main,
        }
    }

    /// An internal PING.
    pub fn ping(to: SocketAddrV4) -> Self {
        OutgoingRequest { internal: true, ..OutgoingRequest::new(to, commands::PING) }
    }
}

/// A request someone sent us (non-internal commands reach the application as
/// [`RpcEvent::Request`]). Plain data: it can be answered with [`Rpc::reply`](super::Rpc::reply) or forwarded with
/// [`Rpc::relay`](super::Rpc::relay) any time later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingRequest {
    /// Transaction id (the reply must carry it).
    pub tid: u16,
    /// UDP source.
    pub from: SocketAddrV4,
    /// Socket it arrived on (replies leave from it).
    pub socket: SocketKind,
    /// Our address as the sender addressed it.
    pub to: SocketAddrV4,
    /// The sender's id, if it sent one that matches `from`.
    pub remote_id: Option<NodeId>,
    /// The token it presented — only ever a valid one (invalid tokens are refused before).
    pub token: Option<Token>,
    /// dht-rpc's own command.
    pub internal: bool,
    /// Command number.
    pub command: u64,
    /// Target key.
    pub target: Option<[u8; 32]>,
    /// Payload.
    pub value: Option<Vec<u8>>,
}

/// How to answer an [`IncomingRequest`] (JS `req.reply(value, opts)` / `req.error(code, opts)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplySpec {
    /// Payload.
    pub value: Option<Vec<u8>>,
    /// Error code (0 = none).
    pub error: u64,
    /// Attach a token for the destination host.
    pub token: bool,
    /// Attach the closest nodes to the request's target (if it had one).
    pub closer_nodes: bool,
    /// Send to this address instead of the requester (hyperdht relaying).
    pub to: Option<SocketAddrV4>,
    /// Send from this socket instead of the one the request arrived on.
    pub socket: Option<SocketKind>,
}

impl ReplySpec {
    /// `req.reply(value)`: token and closer nodes included.
    pub fn value(value: Option<Vec<u8>>) -> Self {
        ReplySpec { value, error: 0, token: true, closer_nodes: true, to: None, socket: None }
    }

    /// `req.error(code)`: closer nodes included, no token.
    pub fn error(code: u64) -> Self {
        ReplySpec { value: None, error: code, token: false, closer_nodes: true, to: None, socket: None }
    }

    /// Sets whether a token is attached.
    pub fn with_token(mut self, on: bool) -> Self {
        self.token = on;
        self
    }

    /// Sets whether closer nodes are attached.
    pub fn with_closer_nodes(mut self, on: bool) -> Self {
        self.closer_nodes = on;
        self
    }

    /// Sends to `to` instead of the requester.
    pub fn to(mut self, to: SocketAddrV4) -> Self {
        self.to = Some(to);
        self
    }
}

/// A reply to one of our requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Transaction id.
    pub tid: u16,
    /// UDP source (may differ from the node asked when the request was relayed).
    pub from: SocketAddrV4,
    /// The responder's id, if it sent one matching `from`.
    pub from_id: Option<NodeId>,
    /// Our address as the responder saw it.
    pub to: SocketAddrV4,
    /// Token to present in a later request to this host.
    pub token: Option<Token>,
    /// Nodes closer to the target.
    pub closer_nodes: Vec<SocketAddrV4>,
    /// Error code (0 = none).
    pub error: u64,
    /// Payload.
    pub value: Option<Vec<u8>>,
    /// Socket it arrived on.
    pub socket: SocketKind,
    /// Milliseconds since the request was created.
    pub rtt_ms: u64,
}

/// What the node reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcEvent {
    /// The bootstrap query finished (JS `ready`).
    Ready,
    /// The node has an id now and sends it (JS `persistent`).
    Persistent,
    /// An adaptive node woke from sleep and went back to ephemeral (JS `ephemeral`).
    Ephemeral,
    /// The firewall check is over: the driver may close the probe socket.
    CloseProbe,
    /// A non-internal request for the application.
    Request(IncomingRequest),
    /// A reply to [`Rpc::request`](super::Rpc::request).
    Response {
        /// Which request.
        id: RequestId,
        /// The reply.
        response: Response,
    },
    /// [`Rpc::request`](super::Rpc::request) failed.
    RequestFailed {
        /// Which request.
        id: RequestId,
        /// Why.
        error: RpcError,
    },
    /// A query got an error-free reply.
    QueryReply {
        /// Which query.
        id: QueryId,
        /// The reply.
        reply: Response,
    },
    /// A query finished.
    QueryDone {
        /// Which query.
        id: QueryId,
        /// Up to k error-free replies from id-bearing nodes, closest to the target first.
        closest: Vec<Response>,
        /// Set if the query could not run (overloaded, destroyed).
        error: Option<RpcError>,
    },
}

/// Counters and sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpcStats {
    /// Request counters.
    pub io: IoStats,
    /// Requests in flight or queued.
    pub requests_active: usize,
    /// Of those, waiting for the congestion window.
    pub requests_queued: usize,
    /// Queries running.
    pub queries_active: usize,
    /// Queries started.
    pub queries_total: u64,
    /// Largest address memory of a running query.
    pub query_seen_max: usize,
    /// Routing table size.
    pub table_size: usize,
    /// Requests received and handled.
    pub incoming_requests: u64,
    /// Of those, internal ones by command (PING … DELAYED_PING).
    pub incoming_internal: [u64; 5],
    /// Requests dropped by the per-host rate limit.
    pub rate_limited: u64,
    /// Datagrams that did not decode (or came from port 0).
    pub malformed: u64,
    /// Responses matching no request.
    pub unmatched_responses: u64,
    /// Requests refused for a bad token.
    pub invalid_tokens: u64,
    /// Application requests dropped because [`Limits::max_pending_requests`](super::Limits::max_pending_requests) were undelivered.
    pub requests_dropped: u64,
    /// DELAYED_PING replies waiting.
    pub delayed_pings: usize,
    /// DELAYED_PINGs dropped at the cap.
    pub delayed_pings_dropped: u64,
    /// Liveness checks (DOWN_HINT, ping tick) in flight.
    pub checks: usize,
    /// Full-row re-pings in flight.
    pub repinging: usize,
    /// Hosts the rate limiter tracks.
    pub rate_limited_hosts: usize,
    /// Events not yet polled.
    pub events_queued: usize,
    /// Datagrams not yet polled.
    pub transmits_queued: usize,
    /// Datagrams dropped because the driver did not poll.
    pub transmits_dropped: u64,
}
