//! `Endpoint`: every UDX stream on one socket, by local id, behind one sans-IO surface.
//!
//! The driver feeds each datagram to [`Endpoint::handle_packet`] (`false` = not UDX for a
//! live stream, so it is dht-rpc or a probe), then drains [`Endpoint::poll_transmit`] (one
//! datagram per call, streams served round-robin), [`Endpoint::poll_event`], and sleeps until
//! [`Endpoint::poll_timeout`] to call [`Endpoint::handle_timeout`]. Streams with something to
//! send sit in a ready queue and timers in an ordered set, so a call costs O(log streams),
//! not a scan.

use super::packet::{Header, Packet};
use super::stream::{Stream, StreamConfig, StreamInfo};
use super::{UdxError, HEADER_LEN};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddrV4;

/// What happened on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The first packet for an unconnected stream arrived from `from` (hyperdht learns the
    /// peer's address this way). Raised once per stream.
    Firewall {
        /// Local stream id.
        id: u32,
        /// Source of the packet.
        from: SocketAddrV4,
    },
    /// In-order bytes are waiting: call [`Endpoint::read`]. Raised again only after a read.
    Readable {
        /// Local stream id.
        id: u32,
    },
    /// The send buffer has room again after a short [`Endpoint::write`].
    Writable {
        /// Local stream id.
        id: u32,
    },
    /// The peer ended its side: no bytes follow those already readable.
    Ended {
        /// Local stream id.
        id: u32,
    },
    /// An unordered MESSAGE datagram arrived.
    Message {
        /// Local stream id.
        id: u32,
        /// Its payload.
        data: Vec<u8>,
    },
    /// The stream closed: `None` when both sides ended and everything was acked (or after a
    /// local `destroy`), else `ETIMEDOUT` / `ECONNRESET`.
    Closed {
        /// Local stream id.
        id: u32,
        /// Why, if not cleanly.
        error: Option<UdxError>,
    },
}

#[derive(Debug)]
struct Entry {
    stream: Stream,
    queued: bool,
    timer: Option<u64>,
}

/// All UDX streams of one socket.
#[derive(Debug)]
pub struct Endpoint {
    cfg: StreamConfig,
    streams: HashMap<u32, Entry>,
    events: VecDeque<Event>,
    ready: VecDeque<u32>,
    timers: BTreeSet<(u64, u32)>,
    due: Vec<u32>,
    raw: VecDeque<(SocketAddrV4, [u8; HEADER_LEN])>,
    prefix: u32,
    malformed: u64,
    /// Deterministic stream ids (tests, fuzzing): a splitmix64 state; `None`: OS randomness.
    id_seed: Option<u64>,
}

impl Default for Endpoint {
    fn default() -> Self {
        Endpoint::new()
    }
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    if getrandom::getrandom(&mut b).is_err() {
        // No OS randomness: the clock will do, ids only need to be distinct (checked by the
        // caller).
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        return (t as u32) ^ ((t >> 32) as u32).rotate_left(13);
    }
    u32::from_le_bytes(b)
}

impl Endpoint {
    /// An endpoint with default stream settings (4 MiB windows, libudx timers).
    pub fn new() -> Self {
        Endpoint::with_config(StreamConfig::default())
    }

    /// An endpoint whose streams use `cfg`.
    pub fn with_config(cfg: StreamConfig) -> Self {
        Endpoint {
            cfg,
            streams: HashMap::new(),
            events: VecDeque::new(),
            ready: VecDeque::new(),
            timers: BTreeSet::new(),
            due: Vec::new(),
            raw: VecDeque::new(),
            prefix: 15,
            malformed: 0,
            id_seed: None,
        }
    }

    /// Makes later stream ids a deterministic function of `seed` (tests and fuzzing; ids stay
    /// unique as with random ones).
    pub fn seed_stream_ids(&mut self, seed: [u8; 32]) {
        let digest = blake2b_simd::Params::new().hash_length(8).key(b"udx stream ids").hash(&seed);
        let mut state = [0u8; 8];
        state.copy_from_slice(digest.as_bytes());
        self.id_seed = Some(u64::from_le_bytes(state));
    }

    fn next_random_id(&mut self) -> u32 {
        let Some(state) = &mut self.id_seed else { return random_u32() };
        // splitmix64
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u32
    }

    /// The ids of every stream held, ascending (fuzzing and diagnostics).
    #[doc(hidden)]
    pub fn stream_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.streams.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Creates a stream with a random id whose low bits differ from every live stream's
    /// (hyperdht's `RawStreamSet` scheme); returns the id.
    pub fn create_stream(&mut self) -> u32 {
        if 2 * self.streams.len() as u64 >= self.prefix as u64 && self.prefix < u32::MAX {
            self.prefix = self.prefix.saturating_mul(2).saturating_add(1);
        }
        loop {
            let id = self.next_random_id();
            let p = self.prefix;
            if self.streams.keys().any(|k| k & p == id & p) {
                continue;
            }
            self.insert(id);
            return id;
        }
    }

    /// Creates a stream with the given id.
    pub fn create_stream_with_id(&mut self, id: u32) -> Result<(), UdxError> {
        if self.streams.contains_key(&id) {
            return Err(UdxError::IdInUse);
        }
        self.insert(id);
        Ok(())
    }

    fn insert(&mut self, id: u32) {
        self.streams.insert(id, Entry { stream: Stream::new(id, self.cfg), queued: false, timer: None });
    }

    /// Connects stream `id` to the peer's stream `remote_id` at `remote`; ACKs deferred since
    /// the first packet go out with the next transmit.
    pub fn connect(
        &mut self,
        id: u32,
        remote_id: u32,
        remote: SocketAddrV4,
        _now_ms: u64,
    ) -> Result<(), UdxError> {
        let e = self.streams.get_mut(&id).ok_or(UdxError::UnknownStream)?;
        e.stream.connect(remote_id, remote)?;
        self.after(id);
        Ok(())
    }

    /// Takes one datagram. `false`: not UDX, or not for a live stream of ours (the caller
    /// treats it as dht-rpc); `true`: consumed (malformed UDX for our id is dropped).
    pub fn handle_packet(&mut self, from: SocketAddrV4, bytes: &[u8], now_ms: u64) -> bool {
        let Some(h) = Header::decode(bytes) else { return false };
        let Some(e) = self.streams.get_mut(&h.id) else { return false };
        if !e.stream.is_live() {
            return false;
        }
        match Packet::decode(bytes) {
            Ok(p) => e.stream.handle_packet(from, &p, now_ms, &mut self.events),
            Err(_) => self.malformed += 1,
        }
        self.after(h.id);
        true
    }

    /// Queues bytes on stream `id`; returns how many the send buffer took (0 for an unknown,
    /// closed or ended stream). A short write is followed by [`Event::Writable`].
    pub fn write(&mut self, id: u32, data: &[u8]) -> usize {
        let Some(e) = self.streams.get_mut(&id) else { return 0 };
        let n = e.stream.write(data);
        self.after(id);
        n
    }

    /// Appends stream `id`'s in-order bytes to `buf`; returns how many. Reading opens the
    /// receive window again.
    pub fn read(&mut self, id: u32, buf: &mut Vec<u8>) -> usize {
        let Some(e) = self.streams.get_mut(&id) else { return 0 };
        let n = e.stream.read(buf);
        self.after(id);
        n
    }

    /// Ends stream `id`'s sending side (END after the queued bytes).
    pub fn end(&mut self, id: u32) {
        if let Some(e) = self.streams.get_mut(&id) {
            e.stream.end();
            self.after(id);
        }
    }

    /// Destroys stream `id` now: a DESTROY packet goes out if it was connected, and
    /// [`Event::Closed`] (no error) is raised if it was open.
    pub fn destroy(&mut self, id: u32) {
        if let Some(mut e) = self.streams.remove(&id) {
            if let Some(t) = e.timer {
                self.timers.remove(&(t, id));
            }
            if let Some(pkt) = e.stream.destroy(&mut self.events) {
                self.raw.push_back(pkt);
            }
        }
    }

    /// Sends an unordered MESSAGE on connected stream `id`.
    pub fn send_message(&mut self, id: u32, data: &[u8]) -> Result<(), UdxError> {
        let e = self.streams.get_mut(&id).ok_or(UdxError::UnknownStream)?;
        e.stream.send_message(data)?;
        self.after(id);
        Ok(())
    }

    /// Whether stream `id` exists (open, or closed and still lingering).
    pub fn contains(&self, id: u32) -> bool {
        self.streams.contains_key(&id)
    }

    /// Number of streams held.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether no stream is held.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// A snapshot of stream `id`.
    pub fn info(&self, id: u32) -> Option<StreamInfo> {
        self.streams.get(&id).map(|e| e.stream.info())
    }

    /// UDX datagrams for our ids dropped as malformed.
    pub fn malformed_packets(&self) -> u64 {
        self.malformed
    }

    /// Writes the next datagram into `buf` (cleared first) and returns where it goes.
    pub fn poll_transmit(&mut self, now_ms: u64, buf: &mut Vec<u8>) -> Option<SocketAddrV4> {
        if let Some((to, pkt)) = self.raw.pop_front() {
            buf.clear();
            buf.extend_from_slice(&pkt);
            return Some(to);
        }
        while let Some(id) = self.ready.pop_front() {
            let Some(e) = self.streams.get_mut(&id) else { continue };
            e.queued = false;
            let sent = e.stream.poll_transmit(now_ms, buf, &mut self.events);
            let to = e.stream.remote();
            self.after(id);
            if sent {
                return to;
            }
        }
        None
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest time [`Endpoint::handle_timeout`] must run.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers.first().map(|&(t, _)| t)
    }

    /// Runs every stream timer due at `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let mut due = std::mem::take(&mut self.due);
        while let Some(&(t, id)) = self.timers.first() {
            if t > now_ms {
                break;
            }
            self.timers.pop_first();
            if let Some(e) = self.streams.get_mut(&id) {
                e.timer = None;
            }
            due.push(id);
        }
        for &id in &due {
            if let Some(e) = self.streams.get_mut(&id) {
                e.stream.handle_timeout(now_ms, &mut self.events);
            }
            self.after(id);
        }
        due.clear();
        self.due = due;
    }

    /// Re-files stream `id` after anything touched it: removes it once closed for good,
    /// queues it for transmit, moves its timer.
    fn after(&mut self, id: u32) {
        let Some(e) = self.streams.get_mut(&id) else { return };
        if e.stream.is_removable() {
            if let Some(t) = e.timer {
                self.timers.remove(&(t, id));
            }
            self.streams.remove(&id);
            return;
        }
        if !e.queued && e.stream.wants_transmit() {
            e.queued = true;
            self.ready.push_back(id);
        }
        let t = e.stream.poll_timeout();
        if t != e.timer {
            if let Some(old) = e.timer {
                self.timers.remove(&(old, id));
            }
            if let Some(new) = t {
                self.timers.insert((new, id));
            }
            e.timer = t;
        }
    }
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;
