//! The driver's side of the connections: moves bytes between each UDX stream of the `Node`
//! and the buffers its [`Connection`](super::Connection) shares (see `conn.rs` for the
//! bounds).
//!
//! - out: the application's bytes are swapped out of the shared buffer whole and written to
//!   the endpoint; what the send buffer refused waits here for `Writable`, and nothing more
//!   is taken meanwhile. Once everything is written and the application shut down, END.
//! - in: on `Readable` (and when a drained reader pokes), in-order bytes are read while the
//!   reader has room; `Ended` becomes EOF once every byte before it was handed over. A stream
//!   that closed cleanly (both sides ended) may still hold bytes the reader had no room for:
//!   its slot stays and is drained as the reader makes room; EOF follows the last byte.
//! - release: both halves dropped without shutdown → DESTROY; after shutdown the stream is
//!   left to finish (reads discarded) until it closes.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use crate::hyperdht::node::Node;
use crate::udx::{self, UdxError};

use super::conn::{Poke, Shared, StreamError};

/// Bytes read from the endpoint per `stream_read` call are reserved up front.
const READ_RESERVE: usize = 64 * 1024;

struct Slot {
    shared: Arc<Shared>,
    /// Taken from the application, not yet accepted by the endpoint, from `pos`.
    pending: Vec<u8>,
    pos: usize,
    end_requested: bool,
    end_sent: bool,
    remote_ended: bool,
    eof_given: bool,
    /// The stream closed cleanly; unread bytes still wait in the endpoint.
    closed: bool,
}

/// Every connected stream the driver serves.
#[derive(Default)]
pub(crate) struct Streams {
    slots: HashMap<u32, Slot>,
}

/// A UDX close reason as the `io::Error` the application sees (JS codes in the message).
fn close_error(e: &UdxError) -> StreamError {
    let kind = match e {
        UdxError::TimedOut => io::ErrorKind::TimedOut,
        UdxError::Reset => io::ErrorKind::ConnectionReset,
        _ => io::ErrorKind::BrokenPipe,
    };
    StreamError::new(kind, format!("{e} ({})", e.code()))
}

impl Streams {
    /// Starts serving stream `id`; returns the buffers for its `Connection`.
    pub(crate) fn open(&mut self, id: u32, poke: Poke) -> Arc<Shared> {
        let shared = Shared::new(id, poke);
        let slot = Slot {
            shared: shared.clone(),
            pending: Vec::new(),
            pos: 0,
            end_requested: false,
            end_sent: false,
            remote_ended: false,
            eof_given: false,
            closed: false,
        };
        self.slots.insert(id, slot);
        shared
    }

    /// A UDX event of the node.
    pub(crate) fn on_event(&mut self, node: &mut Node, ev: &udx::Event) {
        match ev {
            udx::Event::Readable { id } => self.pump_in(node, *id),
            udx::Event::Writable { id } => self.pump_out(node, *id),
            udx::Event::Ended { id } => {
                if let Some(s) = self.slots.get_mut(id) {
                    s.remote_ended = true;
                }
                self.pump_in(node, *id);
            }
            udx::Event::Closed { id, error: None } => {
                // Both sides ended: bytes the reader had no room for yet are still readable.
                if let Some(s) = self.slots.get_mut(id) {
                    s.closed = true;
                    s.shared.mark_closed();
                }
                self.pump_in(node, *id);
            }
            udx::Event::Closed { id, error: Some(e) } => {
                self.pump_in(node, *id);
                if let Some(s) = self.slots.remove(id) {
                    s.shared.close(Some(close_error(e)));
                }
            }
            udx::Event::Firewall { .. } | udx::Event::Message { .. } => {}
        }
    }

    /// The application touched stream `id`'s buffers.
    pub(crate) fn on_poke(&mut self, node: &mut Node, id: u32) {
        let Some(s) = self.slots.get(&id) else { return };
        s.shared.clear_poke();
        self.pump_out(node, id);
        self.pump_in(node, id);
    }

    fn pump_out(&mut self, node: &mut Node, id: u32) {
        let Some(s) = self.slots.get_mut(&id) else { return };
        loop {
            if s.pos < s.pending.len() {
                s.pos += node.stream_write(id, &s.pending[s.pos..]);
                if s.pos < s.pending.len() {
                    return; // Writable follows.
                }
            }
            s.pending.clear();
            s.pos = 0;
            if s.end_requested {
                if !s.end_sent {
                    s.end_sent = true;
                    node.stream_end(id);
                }
                return;
            }
            let taken = s.shared.take_send(&mut s.pending);
            if taken.released && !taken.end {
                // Dropped without shutdown: JS `destroy()`.
                node.stream_destroy(id);
                if let Some(s) = self.slots.remove(&id) {
                    s.shared.close(None);
                }
                return;
            }
            s.end_requested = taken.end;
            if s.pending.is_empty() && !s.end_requested {
                return;
            }
        }
    }

    fn pump_in(&mut self, node: &mut Node, id: u32) {
        let Some(s) = self.slots.get_mut(&id) else { return };
        let mut drained = false;
        while s.shared.recv_room() {
            let mut buf = Vec::with_capacity(READ_RESERVE);
            if node.stream_read(id, &mut buf) == 0 {
                drained = true;
                break;
            }
            s.shared.push_recv(buf);
        }
        if drained && (s.remote_ended || s.closed) && !s.eof_given {
            s.eof_given = true;
            s.shared.remote_end();
        }
        if drained && s.closed {
            if let Some(s) = self.slots.remove(&id) {
                s.shared.close(None);
            }
        }
    }

    /// Fails every stream (the node is going away).
    pub(crate) fn close_all(&mut self, node: &mut Node) {
        for (id, s) in self.slots.drain() {
            node.stream_destroy(id);
            s.shared.close(Some(StreamError::new(io::ErrorKind::BrokenPipe, "node destroyed (DESTROYED)")));
        }
    }
}
