//! One UDX stream as a sans-IO state machine, with libudx's wire semantics:
//!
//! - sequence numbers count packets; DATA and END packets consume one, ACKs, MESSAGEs and
//!   HEARTBEATs carry the next seq without consuming it;
//! - the receiver acks every DATA/END (the ACK goes out at the next [`Stream::poll_transmit`],
//!   so one batch of datagrams gets one ACK), with SACK blocks while it holds out-of-order
//!   packets; `ack` is cumulative (next seq expected);
//! - END consumes a seq, is acked like data and gives [`Event::Ended`] once everything before
//!   it was delivered; DESTROY (seq ≥ ack) closes with `ECONNRESET`; HEARTBEAT is answered
//!   with an ACK; MESSAGE payloads are delivered unordered as [`Event::Message`];
//! - `rwnd` advertises the free receive buffer and the peer's `rwnd` limits new packets;
//! - packets arriving before `connect` are processed (data buffered, one [`Event::Firewall`]
//!   raised) and their ACKs deferred until `connect`; once connected, packets for the id are
//!   taken from any source address (libudx checks the socket, not the address);
//! - a stream whose END was acked and that received the peer's END closes cleanly, then
//!   lingers a while answering retransmitted END/DATA with ACKs (libudx does not, and a lost
//!   final ACK would leave the peer retransmitting until it times out).

use super::endpoint::Event;
use super::mtu::Mtu;
use super::packet::{
    write_sack, Header, Packet, FLAG_DATA, FLAG_DESTROY, FLAG_END, FLAG_HEARTBEAT, FLAG_MESSAGE, FLAG_SACK,
};
use super::recovery::{Recovery, Resend, RtoConfig};
use super::reorder::Reorder;
use super::ring::ByteRing;
use super::{seq_diff, UdxError, DEFAULT_RWND, HEADER_LEN, MAX_MESSAGE, MAX_SACKS, MTU_MAX};
use std::collections::VecDeque;
use std::net::SocketAddrV4;

/// Out-of-order packets are held only this far above the cumulative ack.
const MAX_REORDER_SPAN: u32 = 32_768;
/// At most this many out-of-order packets are held.
const MAX_REORDER_PACKETS: usize = 8_192;
/// Bytes accepted beyond the advertised window (a sender may round its last packet up).
const RECV_SLACK: usize = 64 * 1024;
/// MESSAGEs queued for sending per stream.
const MAX_QUEUED_MESSAGES: usize = 64;

/// Per-stream limits and timers.
#[derive(Debug, Clone, Copy)]
pub struct StreamConfig {
    /// Receive buffer and advertised window in bytes (libudx: 4 MiB).
    pub recv_window: u32,
    /// Send buffer (unacked + unsent bytes) in bytes; `write` accepts up to this.
    pub send_buffer: usize,
    /// Lower bound of the retransmission timeout (libudx: 1000 ms).
    pub min_rto_ms: u32,
    /// Upper bound of the computed retransmission timeout (libudx: 30 s).
    pub max_rto_ms: u32,
    /// Exponential backoff of the timer stops growing at `max(rto, this)`.
    pub rto_backoff_cap_ms: u32,
    /// RTO expiries of one packet before the stream fails with `ETIMEDOUT` at the next
    /// (libudx `UDX_MAX_RTO_TIMEOUTS` = 6).
    pub max_rto_timeouts: u8,
    /// How long a cleanly closed stream keeps answering retransmitted END/DATA (default 30 s:
    /// longer than a peer with the default timers retransmits before giving up).
    pub linger_ms: u64,
    /// The first seq we send (JS `opts.seq`; hyperdht uses 0).
    pub initial_seq: u32,
    /// The first seq we expect (JS `connect(…, { ack })`; hyperdht uses 0).
    pub initial_ack: u32,
    /// Largest MTU to probe for (1500 as libudx; 1200 turns probing off). Payload per
    /// packet is the MTU − 48.
    pub max_mtu: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            recv_window: DEFAULT_RWND,
            send_buffer: DEFAULT_RWND as usize,
            min_rto_ms: 1000,
            max_rto_ms: 30_000,
            rto_backoff_cap_ms: 4_000,
            max_rto_timeouts: 6,
            linger_ms: 30_000,
            initial_seq: 0,
            initial_ack: 0,
            max_mtu: MTU_MAX,
        }
    }
}

/// A snapshot of a stream's state (diagnostics and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// Local id.
    pub id: u32,
    /// The peer's id (0 before `connect`).
    pub remote_id: u32,
    /// The peer's address once connected.
    pub remote: Option<SocketAddrV4>,
    /// Smoothed RTT in ms (0 before the first sample).
    pub srtt_ms: u32,
    /// Retransmission timeout in ms (before backoff).
    pub rto_ms: u32,
    /// Congestion window in packets.
    pub cwnd: u32,
    /// Packets in flight.
    pub in_flight: u32,
    /// Next seq we send.
    pub seq: u32,
    /// Oldest seq of ours not cumulatively acked.
    pub una: u32,
    /// Next seq we expect.
    pub ack: u32,
    /// The peer's last advertised receive window.
    pub remote_rwnd: u32,
    /// Our receive window now.
    pub rwnd: u32,
    /// Bytes in the send buffer (unacked + unsent).
    pub send_buffered: usize,
    /// In-order bytes waiting for `read`.
    pub readable: usize,
    /// Out-of-order packets held.
    pub reorder_packets: usize,
    /// Current path MTU (1200 until probes succeed).
    pub mtu: usize,
    /// Packets sent again.
    pub retransmits: u64,
    /// RTO expiries.
    pub rto_count: u64,
    /// Whether the stream is closed (possibly still lingering).
    pub closed: bool,
    /// Whether the peer's END arrived (in order).
    pub remote_ended: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Open,
    Lingering { until: u64, expired: bool },
    Closed,
}

/// One stream: its send buffer, in-flight packets, receive buffer and reorder buffer.
#[derive(Debug)]
pub struct Stream {
    id: u32,
    cfg: StreamConfig,
    remote_id: u32,
    remote: Option<SocketAddrV4>,
    firewall_reported: bool,
    life: Life,
    // sending
    rec: Recovery,
    send: ByteRing,
    send_base: u64,
    next_unsent: u64,
    write_blocked: bool,
    ending: bool,
    end_seq: Option<u32>,
    local_ended: bool,
    send_rwnd: u32,
    wl: Option<(u32, u32)>,
    zwp_deadline: Option<u64>,
    heartbeat_due: bool,
    messages: VecDeque<Vec<u8>>,
    mtu: Mtu,
    last_now: u64,
    // receiving
    ack: u32,
    ack64: u64,
    recv: ByteRing,
    reorder: Reorder,
    remote_ended: bool,
    ack_pending: bool,
    last_adv_rwnd: u32,
    readable_notified: bool,
}

impl Stream {
    /// A new, unconnected stream with local id `id`.
    pub fn new(id: u32, cfg: StreamConfig) -> Self {
        let rto = RtoConfig {
            min_rto_ms: cfg.min_rto_ms,
            max_rto_ms: cfg.max_rto_ms,
            backoff_cap_ms: cfg.rto_backoff_cap_ms,
            max_timeouts: cfg.max_rto_timeouts,
        };
        Stream {
            id,
            cfg,
            remote_id: 0,
            remote: None,
            firewall_reported: false,
            life: Life::Open,
            rec: Recovery::new(cfg.initial_seq, rto),
            send: ByteRing::new(cfg.send_buffer),
            send_base: 0,
            next_unsent: 0,
            write_blocked: false,
            ending: false,
            end_seq: None,
            local_ended: false,
            send_rwnd: DEFAULT_RWND,
            wl: None,
            zwp_deadline: None,
            heartbeat_due: false,
            messages: VecDeque::new(),
            mtu: Mtu::new(cfg.max_mtu.min(MTU_MAX)),
            last_now: 0,
            ack: cfg.initial_ack,
            ack64: cfg.initial_ack as u64,
            recv: ByteRing::new(cfg.recv_window as usize + RECV_SLACK),
            reorder: Reorder::default(),
            remote_ended: false,
            ack_pending: false,
            last_adv_rwnd: cfg.recv_window,
            readable_notified: false,
        }
    }

    /// The local id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether `connect` was called.
    pub fn is_connected(&self) -> bool {
        self.remote.is_some()
    }

    /// Whether the stream closed (it may still linger to answer retransmissions).
    pub fn is_closed(&self) -> bool {
        self.life != Life::Open
    }

    /// Whether the endpoint can forget the stream.
    pub fn is_removable(&self) -> bool {
        match self.life {
            Life::Open => false,
            Life::Lingering { expired, .. } => expired && self.recv.is_empty(),
            Life::Closed => true,
        }
    }

    /// Whether the stream still owns its id for incoming packets.
    pub fn is_live(&self) -> bool {
        self.life != Life::Closed
    }

    /// Connects to the peer's stream `remote_id` at `remote`. Deferred ACKs go out next.
    pub fn connect(&mut self, remote_id: u32, remote: SocketAddrV4) -> Result<(), UdxError> {
        if self.life != Life::Open {
            return Err(UdxError::UnknownStream);
        }
        if self.remote.is_some() {
            return Err(UdxError::AlreadyConnected);
        }
        self.remote_id = remote_id;
        self.remote = Some(remote);
        self.update_zwp(self.last_now);
        Ok(())
    }

    /// Where packets go (once connected).
    pub fn remote(&self) -> Option<SocketAddrV4> {
        self.remote
    }

    /// Queues bytes for sending; returns how many fit in the send buffer (0 after `end`).
    /// A short write is followed by [`Event::Writable`] when space frees.
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.life != Life::Open || self.ending {
            return 0;
        }
        let n = self.send.push(data);
        if n < data.len() {
            self.write_blocked = true;
        }
        self.update_zwp(self.last_now);
        n
    }

    /// Appends every in-order byte received to `buf`; returns how many.
    pub fn read(&mut self, buf: &mut Vec<u8>) -> usize {
        let n = self.recv.read_into(buf, usize::MAX);
        if n > 0 {
            self.readable_notified = false;
            if self.life == Life::Open && !self.remote_ended {
                let rwnd = self.rwnd();
                if rwnd >= self.last_adv_rwnd.saturating_add(self.cfg.recv_window / 4) {
                    self.ack_pending = true; // window update
                }
            }
        }
        n
    }

    /// In-order bytes waiting for `read`.
    pub fn readable(&self) -> usize {
        self.recv.len()
    }

    /// Ends the sending side: an END packet follows the queued bytes.
    pub fn end(&mut self) {
        if self.life == Life::Open {
            self.ending = true;
            self.update_zwp(self.last_now);
        }
    }

    /// Queues an unordered MESSAGE datagram.
    pub fn send_message(&mut self, data: &[u8]) -> Result<(), UdxError> {
        if self.life != Life::Open {
            return Err(UdxError::UnknownStream);
        }
        if self.remote.is_none() {
            return Err(UdxError::NotConnected);
        }
        if data.len() > MAX_MESSAGE {
            return Err(UdxError::MessageTooLarge);
        }
        if self.messages.len() >= MAX_QUEUED_MESSAGES {
            return Err(UdxError::MessageQueueFull);
        }
        self.messages.push_back(data.to_vec());
        Ok(())
    }

    /// Destroys the stream: raises `Closed` (no error) if it was open, and returns the
    /// DESTROY packet to send if it was connected.
    pub fn destroy(&mut self, ev: &mut VecDeque<Event>) -> Option<(SocketAddrV4, [u8; HEADER_LEN])> {
        let pkt = match (self.life, self.remote) {
            (Life::Open, Some(to)) => Some((to, self.header(FLAG_DESTROY, self.rec.seq).to_bytes())),
            _ => None,
        };
        if self.life == Life::Open {
            ev.push_back(Event::Closed { id: self.id, error: None });
        }
        self.life = Life::Closed;
        self.free_buffers();
        self.recv.release();
        pkt
    }

    /// Our receive window: the free part of the receive buffer.
    pub fn rwnd(&self) -> u32 {
        (self.cfg.recv_window as usize).saturating_sub(self.recv.len() + self.reorder.bytes()) as u32
    }

    /// A snapshot for diagnostics.
    pub fn info(&self) -> StreamInfo {
        StreamInfo {
            id: self.id,
            remote_id: self.remote_id,
            remote: self.remote,
            srtt_ms: self.rec.srtt,
            rto_ms: self.rec.rto,
            cwnd: self.rec.cc.window(),
            in_flight: self.rec.in_flight(),
            seq: self.rec.seq,
            una: self.rec.una,
            ack: self.ack,
            remote_rwnd: self.send_rwnd,
            rwnd: self.rwnd(),
            send_buffered: self.send.len(),
            readable: self.recv.len(),
            reorder_packets: self.reorder.len(),
            mtu: self.mtu.mtu(),
            retransmits: self.rec.retransmits,
            rto_count: self.rec.rto_count,
            closed: self.is_closed(),
            remote_ended: self.remote_ended,
        }
    }

    // ---- receiving ------------------------------------------------------------------------

    /// Processes one packet addressed to this stream.
    pub fn handle_packet(
        &mut self,
        from: SocketAddrV4,
        pkt: &Packet<'_>,
        now: u64,
        ev: &mut VecDeque<Event>,
    ) {
        let h = pkt.header;
        let data_or_end = h.flags & (FLAG_DATA | FLAG_END) != 0;
        self.last_now = now;
        match self.life {
            Life::Closed => return,
            Life::Lingering { .. } => {
                if data_or_end || h.has(FLAG_HEARTBEAT) {
                    self.ack_pending = true;
                }
                return;
            }
            Life::Open => {}
        }
        if self.remote.is_none() && !self.firewall_reported {
            self.firewall_reported = true;
            ev.push_back(Event::Firewall { id: self.id, from });
        }
        if h.has(FLAG_HEARTBEAT) {
            self.ack_pending = true;
            return;
        }
        if seq_diff(h.seq, self.ack) >= 0 {
            if data_or_end && !self.remote_ended {
                self.accept(h.seq, h.flags & (FLAG_DATA | FLAG_END), pkt.payload, ev);
            }
            if h.has(FLAG_DESTROY) {
                self.close(Some(UdxError::Reset), ev);
                return;
            }
        }
        if data_or_end {
            self.ack_pending = true;
        }
        if h.has(FLAG_MESSAGE) {
            ev.push_back(Event::Message { id: self.id, data: pkt.payload.to_vec() });
        }
        self.drain_reorder(ev);
        self.on_ack(&h, pkt, now, ev);
        self.maybe_close(now, ev);
    }

    fn recv_space(&self) -> usize {
        self.recv.free().saturating_sub(self.reorder.bytes())
    }

    fn accept(&mut self, seq: u32, flags: u8, payload: &[u8], ev: &mut VecDeque<Event>) {
        if payload.len() > self.recv_space() {
            return; // no room: dropped, the sender retransmits
        }
        let off = seq.wrapping_sub(self.ack);
        if off == 0 {
            self.deliver(flags, payload, ev);
            return;
        }
        let key = self.ack64 + off as u64;
        if off >= MAX_REORDER_SPAN || self.reorder.len() >= MAX_REORDER_PACKETS || self.reorder.contains(key)
        {
            return;
        }
        self.reorder.insert(key, flags, payload);
    }

    fn deliver(&mut self, flags: u8, data: &[u8], ev: &mut VecDeque<Event>) {
        if flags & FLAG_DATA != 0 && !data.is_empty() {
            self.recv.push(data);
            if !self.readable_notified {
                self.readable_notified = true;
                ev.push_back(Event::Readable { id: self.id });
            }
        }
        self.ack = self.ack.wrapping_add(1);
        self.ack64 += 1;
        if flags & FLAG_END != 0 {
            self.remote_ended = true;
            self.reorder.clear();
            ev.push_back(Event::Ended { id: self.id });
        }
    }

    fn drain_reorder(&mut self, ev: &mut VecDeque<Event>) {
        while !self.remote_ended {
            let Some(held) = self.reorder.pop_front(self.ack64) else { break };
            self.deliver(held.flags, &held.data, ev);
            self.reorder.recycle(held.data);
        }
    }

    fn on_ack(&mut self, h: &Header, pkt: &Packet<'_>, now: u64, ev: &mut VecDeque<Event>) {
        let una_before = self.rec.una;
        // TCP-style window update: only from packets at least as new as the last one used.
        if seq_diff(h.ack, self.rec.seq) <= 0 && seq_diff(h.ack, una_before) >= 0 {
            let newer = match self.wl {
                None => true,
                Some((wl1, wl2)) => seq_diff(wl1, h.seq) < 0 || (wl1 == h.seq && seq_diff(wl2, h.ack) <= 0),
            };
            if newer {
                self.send_rwnd = h.rwnd;
                self.wl = Some((h.seq, h.ack));
            }
        }
        let out = self.rec.on_ack(h.ack, pkt.sacks(), now);
        if out.newly_acked > 0 {
            self.mtu.on_path_confirmed();
        }
        self.sync_mtu();
        if out.una_advanced {
            let keep_from = self.rec.front_start().unwrap_or(self.next_unsent);
            self.send.consume((keep_from - self.send_base) as usize);
            self.send_base = keep_from;
            if let Some(end) = self.end_seq {
                if seq_diff(self.rec.una, end) > 0 {
                    self.local_ended = true;
                }
            }
            if self.write_blocked && self.send.free() >= (self.send.limit() / 4).max(1) {
                self.write_blocked = false;
                ev.push_back(Event::Writable { id: self.id });
            }
        }
        self.update_zwp(now);
    }

    /// Arms the zero-window probe when the peer's window is closed, nothing is in flight and
    /// something waits to be sent; disarms it otherwise.
    fn update_zwp(&mut self, now: u64) {
        let stalled = self.life == Life::Open
            && self.remote.is_some()
            && self.send_rwnd == 0
            && self.rec.all_acked()
            && self.new_data_pending();
        if !stalled {
            self.zwp_deadline = None;
        } else if self.zwp_deadline.is_none() {
            self.zwp_deadline = Some(now + self.rec.rto as u64);
        }
    }

    fn sync_mtu(&mut self) {
        if let Some(acked) = self.rec.take_probe_result() {
            self.mtu.on_probe_result(acked);
        }
    }

    /// The peer ended and acked every packet we sent except the one carrying our END.
    fn only_our_end_unacked(&self) -> bool {
        self.remote_ended
            && self.end_seq.is_some_and(|end| self.rec.una == end && self.rec.seq == end.wrapping_add(1))
    }

    fn maybe_close(&mut self, now: u64, ev: &mut VecDeque<Event>) {
        if self.life == Life::Open && self.local_ended && self.remote_ended && !self.ack_pending {
            self.life = Life::Lingering { until: now + self.cfg.linger_ms, expired: false };
            self.free_buffers();
            ev.push_back(Event::Closed { id: self.id, error: None });
        }
    }

    fn close(&mut self, error: Option<UdxError>, ev: &mut VecDeque<Event>) {
        if self.life == Life::Open {
            ev.push_back(Event::Closed { id: self.id, error });
        }
        self.life = Life::Closed;
        self.free_buffers();
        self.recv.release();
    }

    fn free_buffers(&mut self) {
        self.rec.clear();
        self.send.release();
        self.reorder.clear();
        self.messages.clear();
        self.zwp_deadline = None;
        self.heartbeat_due = false;
    }

    // ---- timers ---------------------------------------------------------------------------

    /// The earliest time [`Stream::handle_timeout`] wants to run.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.life {
            Life::Open => [self.rec.next_timeout(), self.zwp_deadline].into_iter().flatten().min(),
            Life::Lingering { until, expired: false } => Some(until),
            _ => None,
        }
    }

    /// Runs the timers due at `now` (retransmission, loss detection, probes, linger).
    pub fn handle_timeout(&mut self, now: u64, ev: &mut VecDeque<Event>) {
        self.last_now = now;
        match self.life {
            Life::Open => {
                if let Err(e) = self.rec.on_timeout(now) {
                    // libudx does not linger after a clean close: once the peer has ended and
                    // acked everything but our last (END) packet, an ack of it lost for good is
                    // the peer having closed (it cannot close before it has our END), not a
                    // failure. The peer's END and all our data before it were delivered.
                    let error = (!self.only_our_end_unacked()).then_some(e);
                    self.close(error, ev);
                    return;
                }
                self.sync_mtu();
                if self.zwp_deadline.is_some_and(|d| d <= now) {
                    self.heartbeat_due = true;
                    self.zwp_deadline = Some(now + 2 * self.rec.rto as u64);
                }
            }
            Life::Lingering { until, .. } if until <= now => {
                self.life = Life::Lingering { until, expired: true };
            }
            _ => {}
        }
    }

    // ---- sending --------------------------------------------------------------------------

    fn new_data_pending(&self) -> bool {
        self.next_unsent < self.send_base + self.send.len() as u64 || (self.ending && self.end_seq.is_none())
    }

    fn rwnd_packets(&self) -> u32 {
        if self.send_rwnd == 0 {
            0
        } else {
            (self.send_rwnd / self.mtu.payload() as u32).max(1)
        }
    }

    /// Whether [`Stream::poll_transmit`] would produce a packet now.
    pub fn wants_transmit(&self) -> bool {
        if self.remote.is_none() {
            return false;
        }
        match self.life {
            Life::Closed => false,
            Life::Lingering { .. } => self.ack_pending,
            Life::Open => {
                self.ack_pending
                    || !self.messages.is_empty()
                    || self.rec.tlp_fire
                    || self.heartbeat_due
                    || self.rec.can_retransmit()
                    || (self.new_data_pending() && self.rec.can_send_new(self.rwnd_packets()))
            }
        }
    }

    fn header(&self, flags: u8, seq: u32) -> Header {
        Header { flags, data_offset: 0, id: self.remote_id, rwnd: self.rwnd(), seq, ack: self.ack }
    }

    fn write_header(&mut self, buf: &mut Vec<u8>, flags: u8, seq: u32) {
        self.write_header_padded(buf, flags, seq, 0);
    }

    /// Header plus `pad` zero bytes announced in `data_offset`.
    fn write_header_padded(&mut self, buf: &mut Vec<u8>, flags: u8, seq: u32, pad: u8) {
        let mut h = self.header(flags, seq);
        h.data_offset = pad;
        self.last_adv_rwnd = h.rwnd;
        h.write(buf);
        buf.resize(buf.len() + pad as usize, 0);
    }

    /// Writes the next packet into `buf` (cleared first); `false` when there is nothing to
    /// send. Order: tail loss probe, ACK (unless a data packet can carry it and no SACK is
    /// needed), MESSAGE, retransmission, new data, zero-window probe.
    pub fn poll_transmit(&mut self, now: u64, buf: &mut Vec<u8>, ev: &mut VecDeque<Event>) -> bool {
        buf.clear();
        self.last_now = now;
        if self.remote.is_none() {
            return false;
        }
        match self.life {
            Life::Closed => return false,
            Life::Lingering { .. } => {
                if !self.ack_pending {
                    return false;
                }
                self.write_ack(buf);
                return true;
            }
            Life::Open => {}
        }
        if self.rec.tlp_fire {
            if self.new_data_pending() && self.send_rwnd > 0 {
                self.send_new(now, buf, false);
                self.rec.on_tail_probe_sent();
                return true;
            }
            if let Some(r) = self.rec.take_tail_probe(now) {
                self.send_again(r, buf);
                self.rec.on_tail_probe_sent();
                self.sync_mtu();
                return true;
            }
            self.rec.tlp_fire = false;
        }
        let can_new = self.new_data_pending() && self.rec.can_send_new(self.rwnd_packets());
        let data_ready = can_new || self.rec.can_retransmit();
        if self.ack_pending && (!self.reorder.is_empty() || !data_ready) {
            self.write_ack(buf);
            self.maybe_close(now, ev);
            return true;
        }
        if let Some(msg) = self.messages.pop_front() {
            let seq = self.rec.seq;
            self.write_header(buf, FLAG_MESSAGE, seq);
            buf.extend_from_slice(&msg);
            return true;
        }
        if self.rec.can_retransmit() {
            if let Some(r) = self.rec.take_retransmit(now) {
                self.send_again(r, buf);
                return true;
            }
        }
        if can_new {
            self.send_new(now, buf, true);
            return true;
        }
        if self.heartbeat_due {
            self.heartbeat_due = false;
            let seq = self.rec.seq;
            self.write_header(buf, FLAG_HEARTBEAT, seq);
            return true;
        }
        self.update_zwp(now);
        false
    }

    fn write_ack(&mut self, buf: &mut Vec<u8>) {
        self.ack_pending = false;
        let nsacks = self.reorder.ranges(MAX_SACKS).count();
        let seq = self.rec.seq;
        self.write_header(buf, if nsacks > 0 { FLAG_SACK } else { 0 }, seq);
        for (start, end) in self.reorder.ranges(MAX_SACKS) {
            write_sack(buf, start as u32, end as u32);
        }
    }

    /// Sends the next unsent bytes (and END once they are all out); `may_probe`: the packet
    /// may be padded as an MTU probe (not for tail loss probes).
    fn send_new(&mut self, now: u64, buf: &mut Vec<u8>, may_probe: bool) {
        let send_end = self.send_base + self.send.len() as u64;
        let len = (send_end - self.next_unsent).min(self.mtu.payload() as u64);
        let mut flags = if len > 0 { FLAG_DATA } else { 0 };
        if self.ending && self.end_seq.is_none() && self.next_unsent + len == send_end {
            flags |= FLAG_END;
        }
        let pad = if may_probe { self.mtu.probe_padding(len as usize).unwrap_or(0) } else { 0 };
        let start = self.next_unsent;
        let seq = self.rec.on_send_new(start, len as u16, flags, pad > 0, now);
        if flags & FLAG_END != 0 {
            self.end_seq = Some(seq);
        }
        self.next_unsent += len;
        self.ack_pending = false; // the header carries the cumulative ack
        self.write_header_padded(buf, flags, seq, pad);
        self.send.copy_to((start - self.send_base) as usize, len as usize, buf);
    }

    fn send_again(&mut self, r: Resend, buf: &mut Vec<u8>) {
        self.ack_pending = false;
        self.write_header(buf, r.flags, r.seq);
        self.send.copy_to((r.start - self.send_base) as usize, r.len as usize, buf);
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
