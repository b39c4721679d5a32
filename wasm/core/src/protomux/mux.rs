//! The [`Mux`] state machine (JS `Protomux` and its `Channel`s).

use std::collections::{BTreeMap, VecDeque};

use super::frame::{put_close, put_open, put_reject, BatchBuilder, BatchEntries, OpenMessage};
use super::frame::{TYPE_BATCH, TYPE_CLOSE, TYPE_OPEN, TYPE_REJECT};
use super::{ChannelId, ChannelSpec, MuxError, MuxEvent, MuxLimits, MAX_BUFFERED};
use crate::encoding::{put_uint, uint_len, Decoder};

/// JS `byteSize`: what one buffered message counts for, besides its payload.
const MESSAGE_OVERHEAD: usize = 512;
/// Batches inside batches: JS never sends them but would decode them; we allow this much.
const MAX_BATCH_DEPTH: usize = 4;

/// Index of an [`Info`] in `Mux::infos`.
type InfoIdx = usize;

/// JS `info`: the channels of one (protocol, id) pair, reachable from its key and aliases.
#[derive(Debug, Default)]
struct Info {
    /// Every key mapping to this info (primary first).
    keys: Vec<Vec<u8>>,
    /// Local channels open (not closed) under this pair.
    opened: u32,
    /// Remote ids that opened and wait for our answer, oldest first.
    incoming: VecDeque<u32>,
    /// Local ids we opened that wait for the remote's open (or reject), oldest first.
    outgoing: VecDeque<u32>,
}

/// A remote channel id in use.
#[derive(Debug)]
enum Remote {
    /// The remote opened; the app has not answered yet.
    Pending { info: InfoIdx, handshake: Vec<u8>, messages: Vec<(u64, Vec<u8>)>, held: usize },
    /// Paired with this local id.
    Paired(u32),
}

/// A local channel id.
#[derive(Debug)]
enum Local {
    /// In `Mux::free`.
    Free,
    /// Open; `remote` is the remote id once paired (0 before).
    Open { info: InfoIdx, remote: u32 },
    /// Closed. The id is reusable once the remote answered our open (`awaiting` is `None`:
    /// JS keeps it out of `_free` until then) and the app saw the `Closed` event (so a new
    /// channel never shares an id with events still queued for an old one).
    Closed { awaiting: Option<InfoIdx>, event_queued: bool },
}

/// A protomux session over one message stream. See the [module docs](super).
#[derive(Debug, Default)]
pub struct Mux {
    limits: MuxLimits,
    /// By local id − 1.
    local: Vec<Local>,
    /// Reusable local ids, taken last-in first-out as JS does.
    free: Vec<u32>,
    /// By remote id − 1; `None` = unused (JS `null`).
    remote: Vec<Option<Remote>>,
    infos: Vec<Option<Info>>,
    free_infos: Vec<InfoIdx>,
    keys: BTreeMap<Vec<u8>, InfoIdx>,
    corked: u32,
    batch: Option<BatchBuilder>,
    scratch: Vec<u8>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<MuxEvent>,
    /// Messages buffered for pending channels, JS accounting (`_buffered`).
    buffered: usize,
    /// What the pending opens themselves hold.
    held_opens: usize,
}

/// The lookup key of a (protocol, id) pair (JS `toKey`; an empty id is no id).
fn key(protocol: &str, id: Option<&[u8]>) -> Vec<u8> {
    let id = id.unwrap_or_default();
    let mut k = Vec::with_capacity(uint_len(protocol.len() as u64) + protocol.len() + id.len());
    put_uint(&mut k, protocol.len() as u64);
    k.extend_from_slice(protocol.as_bytes());
    k.extend_from_slice(id);
    k
}

impl Mux {
    /// A mux with the default [`MuxLimits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A mux with the given limits on what the remote may make us hold.
    pub fn with_limits(limits: MuxLimits) -> Self {
        Mux { limits, ..Self::default() }
    }

    // ------------------------------------------------------------------------------------------
    // Local API

    /// Opens a channel, or answers a [`MuxEvent::RemoteOpen`] for the same pair (the protocol
    /// or one of the aliases, and the id). Sends the `open` at once; the channel is fully open
    /// when [`MuxEvent::Opened`] comes (at once here when answering a remote open).
    ///
    /// Fails with [`MuxError::AlreadyOpen`] when a channel of this pair is open locally.
    pub fn open(&mut self, spec: ChannelSpec<'_>) -> Result<ChannelId, MuxError> {
        let id = spec.id.filter(|id| !id.is_empty());
        let info_idx = self.info_for_local(spec.protocol, spec.aliases, id);
        let already = self.info(info_idx).is_some_and(|info| info.opened > 0);
        let local_id = match already {
            true => Err(MuxError::AlreadyOpen { protocol: spec.protocol.to_owned() }),
            false => self.alloc_local(),
        };
        let local_id = match local_id {
            Ok(local_id) => local_id,
            Err(e) => {
                self.gc(info_idx);
                return Err(e);
            }
        };
        let mut incoming = None;
        if let Some(info) = self.info(info_idx) {
            info.opened += 1;
            incoming = info.incoming.pop_front();
            if incoming.is_none() {
                info.outgoing.push_back(local_id);
            }
        }
        self.set_local(local_id, Local::Open { info: info_idx, remote: incoming.unwrap_or(0) });
        let len = 24 + spec.protocol.len() + id.map_or(0, <[u8]>::len) + spec.handshake.len();
        self.write(0, len, |out| put_open(out, local_id, spec.protocol, id, spec.handshake));

        let channel = ChannelId(local_id);
        if let Some(remote_id) = incoming {
            let slot = self.remote_mut(remote_id);
            if let Some(Some(Remote::Pending { handshake, messages, held, .. })) =
                slot.map(|s| s.replace(Remote::Paired(local_id)))
            {
                self.held_opens -= held;
                self.events.push_back(MuxEvent::Opened { channel, handshake });
                for (message_type, payload) in messages {
                    self.buffered -= MESSAGE_OVERHEAD + payload.len();
                    self.events.push_back(MuxEvent::Message { channel, message_type, payload });
                }
            }
        }
        Ok(channel)
    }

    /// Refuses the oldest unanswered [`MuxEvent::RemoteOpen`] of this (protocol, id): its
    /// buffered messages are dropped and the remote gets a `reject`. No-op if there is none.
    pub fn reject(&mut self, protocol: &str, id: Option<&[u8]>) {
        let Some(&info_idx) = self.keys.get(&key(protocol, id.filter(|id| !id.is_empty()))) else {
            return;
        };
        let Some(remote_id) = self.info(info_idx).and_then(|info| info.incoming.pop_front()) else {
            return;
        };
        self.drop_pending(remote_id);
        self.write(0, 8, |out| put_reject(out, remote_id));
        self.gc(info_idx);
    }

    /// Closes a channel: sends `close` and queues [`MuxEvent::Closed`] with `remote: false`.
    /// Events still queued for the channel (messages, its opening) are dropped, as JS stops
    /// delivering at once. No-op if the channel is not open.
    pub fn close(&mut self, channel: ChannelId) {
        if !self.is_open(channel) {
            return;
        }
        self.write(0, 8, |out| put_close(out, channel.0));
        self.events.retain(|e| match e {
            MuxEvent::Opened { channel: c, .. } | MuxEvent::Message { channel: c, .. } => *c != channel,
            _ => true,
        });
        self.close_local(channel.0, false);
    }

    /// Sends one message on an open channel (paired or not yet: the remote buffers it).
    /// Fails with [`MuxError::ChannelClosed`] if the channel is not open.
    pub fn send(&mut self, channel: ChannelId, message_type: u64, payload: &[u8]) -> Result<(), MuxError> {
        self.check_open(channel)?;
        let len = uint_len(message_type) + payload.len();
        match &mut self.batch {
            Some(batch) => {
                let out = &mut self.out;
                let buf = batch.entry(channel.0, len, |frame| out.push_back(frame));
                put_uint(buf, message_type);
                buf.extend_from_slice(payload);
            }
            None => {
                let mut frame = Vec::with_capacity(uint_len(u64::from(channel.0)) + len);
                put_uint(&mut frame, u64::from(channel.0));
                put_uint(&mut frame, message_type);
                frame.extend_from_slice(payload);
                self.out.push_back(frame);
            }
        }
        Ok(())
    }

    /// Like [`send`](Self::send), with the payload appended by `encode` straight into the
    /// outgoing frame (through a reused scratch buffer while corked). `capacity` is a hint of
    /// the payload size, reserved up front.
    pub fn send_with(
        &mut self,
        channel: ChannelId,
        message_type: u64,
        capacity: usize,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), MuxError> {
        self.check_open(channel)?;
        self.write(channel.0, capacity + 9, |out| {
            put_uint(out, message_type);
            encode(out);
        });
        Ok(())
    }

    /// Starts (or nests) collecting outgoing frames into one batch frame (JS `cork`).
    pub fn cork(&mut self) {
        self.corked += 1;
        if self.corked == 1 {
            self.batch = Some(BatchBuilder::default());
        }
    }

    /// Ends one [`cork`](Self::cork); the outermost sends the batch (JS `uncork`).
    pub fn uncork(&mut self) {
        if self.corked == 0 {
            return;
        }
        self.corked -= 1;
        if self.corked == 0 {
            if let Some(frame) = self.batch.take().and_then(|mut b| b.finish()) {
                self.out.push_back(frame);
            }
        }
    }

    /// Whether frames are being collected into a batch.
    pub fn is_corked(&self) -> bool {
        self.corked > 0
    }

    /// Whether the channel is open locally (opened and not closed; maybe not yet paired).
    pub fn is_open(&self, channel: ChannelId) -> bool {
        self.local_open(channel).is_some()
    }

    /// Whether the channel is open on both sides (its [`MuxEvent::Opened`] was queued).
    pub fn is_fully_open(&self, channel: ChannelId) -> bool {
        self.local_open(channel).is_some_and(|(_, remote)| remote != 0)
    }

    /// Whether a channel of this (protocol, id) is open locally (JS `mux.opened`).
    pub fn opened(&self, protocol: &str, id: Option<&[u8]>) -> bool {
        let k = key(protocol, id.filter(|id| !id.is_empty()));
        self.keys
            .get(&k)
            .and_then(|&i| self.infos.get(i))
            .is_some_and(|info| info.as_ref().is_some_and(|info| info.opened > 0))
    }

    /// No local channel is open or waiting on the remote (JS `isIdle`).
    pub fn is_idle(&self) -> bool {
        self.local.iter().all(|l| !matches!(l, Local::Open { .. } | Local::Closed { awaiting: Some(_), .. }))
    }

    /// Messages buffered for unanswered remote opens exceed JS `MAX_BUFFERED` (32 KiB): JS
    /// pauses the stream here; a driver may stop reading until the app answers the opens.
    pub fn is_paused(&self) -> bool {
        self.buffered > MAX_BUFFERED
    }

    /// Closes every open channel because the stream ended (JS `_shutdown`): queues
    /// [`MuxEvent::Closed`] with `remote: true` for each, sends nothing.
    pub fn shutdown(&mut self) {
        for i in 0..self.local.len() {
            if matches!(self.local[i], Local::Open { .. }) {
                self.close_local(i as u32 + 1, true);
            }
        }
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<MuxEvent> {
        let event = self.events.pop_front()?;
        if let MuxEvent::Closed { channel, .. } = &event {
            if let Some(Local::Closed { event_queued, .. }) = self.local_mut(channel.0) {
                *event_queued = false;
            }
            self.maybe_free(channel.0);
        }
        Some(event)
    }

    /// The next outgoing frame: one secret-stream message.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    // ------------------------------------------------------------------------------------------
    // Remote input

    /// Handles one decrypted secret-stream message. An error is a protocol violation: the
    /// caller must destroy the stream (JS does). Empty messages are ignored, as JS does.
    pub fn on_message(&mut self, frame: &[u8]) -> Result<(), MuxError> {
        if frame.is_empty() {
            return Ok(());
        }
        let mut dec = Decoder::new(frame);
        let channel = dec.uint()?;
        self.dispatch(channel, dec.rest(), 0)
    }

    /// JS `_decode`: `uint type ‖ payload` for remote channel `remote_id`.
    fn dispatch(&mut self, remote_id: u64, body: &[u8], depth: usize) -> Result<(), MuxError> {
        let mut dec = Decoder::new(body);
        let message_type = dec.uint()?;
        let payload = dec.rest();
        if remote_id == 0 {
            return match message_type {
                TYPE_BATCH => self.on_batch(payload, depth),
                TYPE_OPEN => self.on_open(payload),
                TYPE_REJECT => self.on_reject(payload),
                TYPE_CLOSE => self.on_close(payload),
                _ => Ok(()), // unknown control messages are ignored
            };
        }
        let slot = usize::try_from(remote_id - 1).ok().and_then(|i| self.remote.get_mut(i));
        match slot {
            // Unknown or closed channel: JS drops it ("could just be a pipeline message").
            None | Some(None) => Ok(()),
            Some(Some(Remote::Paired(local_id))) => {
                let channel = ChannelId(*local_id);
                self.events.push_back(MuxEvent::Message { channel, message_type, payload: payload.to_vec() });
                Ok(())
            }
            Some(Some(Remote::Pending { messages, .. })) => {
                let cost = MESSAGE_OVERHEAD + payload.len();
                let held = self.buffered + self.held_opens + cost;
                if held > self.limits.max_held_bytes {
                    return Err(MuxError::BufferOverflow { held, limit: self.limits.max_held_bytes });
                }
                messages.push((message_type, payload.to_vec()));
                self.buffered += cost;
                Ok(())
            }
        }
    }

    fn on_batch(&mut self, payload: &[u8], depth: usize) -> Result<(), MuxError> {
        if depth >= MAX_BATCH_DEPTH {
            return Err(MuxError::BatchTooDeep(MAX_BATCH_DEPTH));
        }
        for entry in BatchEntries::new(payload)? {
            let (remote_id, body) = entry?;
            self.dispatch(remote_id, body, depth + 1)?;
        }
        Ok(())
    }

    fn on_open(&mut self, payload: &[u8]) -> Result<(), MuxError> {
        let open = OpenMessage::decode(payload)?;
        // JS throws on remote id 0 (its auto-reject crashes), destroying the stream.
        if open.remote_id == 0 {
            return Err(MuxError::InvalidOpen(0));
        }
        if open.remote_id > u64::from(self.limits.max_remote_channels) {
            return Err(MuxError::TooManyChannels {
                id: open.remote_id,
                limit: self.limits.max_remote_channels,
            });
        }
        let remote_id = open.remote_id as u32;
        let rid = remote_id as usize - 1;
        // The remote may take a free id or grow its ids by one.
        if rid == self.remote.len() {
            self.remote.push(None);
        }
        if rid >= self.remote.len() || self.remote[rid].is_some() {
            return Err(MuxError::InvalidOpen(open.remote_id));
        }

        let info_idx = self.info_for_remote(open.protocol, open.id);
        if let Some(local_id) = self.info(info_idx).and_then(|info| info.outgoing.pop_front()) {
            match self.local_mut(local_id) {
                Some(Local::Open { remote, .. }) => {
                    *remote = remote_id;
                    self.remote[rid] = Some(Remote::Paired(local_id));
                    let handshake = open.handshake.to_vec();
                    self.events.push_back(MuxEvent::Opened { channel: ChannelId(local_id), handshake });
                }
                Some(Local::Closed { awaiting, .. }) => {
                    // We closed before the remote answered: JS frees the id and ignores the
                    // open. We also repeat our close, so a remote that paired after our first
                    // close (JS ignores a close for an unanswered open) closes its side too.
                    *awaiting = None;
                    self.maybe_free(local_id);
                    self.write(0, 8, |out| put_close(out, local_id));
                }
                _ => {}
            }
            self.gc(info_idx);
            return Ok(());
        }

        let id_len = open.id.map_or(0, <[u8]>::len);
        let cost = MESSAGE_OVERHEAD + open.protocol.len() + id_len + open.handshake.len();
        let held = self.buffered + self.held_opens + cost;
        if held > self.limits.max_held_bytes {
            self.gc(info_idx);
            return Err(MuxError::BufferOverflow { held, limit: self.limits.max_held_bytes });
        }
        self.held_opens += cost;
        self.remote[rid] = Some(Remote::Pending {
            info: info_idx,
            handshake: open.handshake.to_vec(),
            messages: Vec::new(),
            held: cost,
        });
        if let Some(info) = self.info(info_idx) {
            info.incoming.push_back(remote_id);
        }
        self.events.push_back(MuxEvent::RemoteOpen {
            protocol: open.protocol.to_owned(),
            id: open.id.map(<[u8]>::to_vec),
        });
        Ok(())
    }

    fn on_reject(&mut self, payload: &[u8]) -> Result<(), MuxError> {
        let local_id = Decoder::new(payload).uint()?;
        let invalid = MuxError::InvalidReject(local_id);
        let slot = usize::try_from(local_id).ok().and_then(|id| id.checked_sub(1));
        let (info_idx, was_open) = match slot.and_then(|i| self.local.get(i)) {
            Some(Local::Open { info, remote: 0 }) => (*info, true),
            Some(Local::Closed { awaiting: Some(info), .. }) => (*info, false),
            _ => return Err(invalid),
        };
        let local_id = local_id as u32;
        if let Some(info) = self.info(info_idx) {
            info.outgoing.retain(|&id| id != local_id);
        }
        if was_open {
            self.close_local(local_id, true);
        }
        // The reject answers our open: the id is reusable once the app saw it closed.
        if let Some(Local::Closed { awaiting, .. }) = self.local_mut(local_id) {
            *awaiting = None;
            self.maybe_free(local_id);
        }
        self.gc(info_idx);
        Ok(())
    }

    fn on_close(&mut self, payload: &[u8]) -> Result<(), MuxError> {
        let remote_id = Decoder::new(payload).uint()?;
        let slot = usize::try_from(remote_id).ok().and_then(|id| id.checked_sub(1));
        match slot.and_then(|i| self.remote.get(i)) {
            Some(Some(Remote::Paired(local_id))) => self.close_local(*local_id, true),
            Some(Some(Remote::Pending { info, .. })) => {
                // Closed before we answered. JS ignores this (and a later answer pairs with a
                // dead channel); we reject it instead, which lets the remote reuse its id.
                let (info_idx, remote_id) = (*info, remote_id as u32);
                if let Some(info) = self.info(info_idx) {
                    info.incoming.retain(|&id| id != remote_id);
                }
                self.drop_pending(remote_id);
                self.write(0, 8, |out| put_reject(out, remote_id));
                self.gc(info_idx);
            }
            _ => {} // id 0, unknown or already closed: ignored
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------------------
    // Internals

    /// Writes a frame for local channel `local_id` (0 = control) whose body (`type ‖ payload`)
    /// `body` appends: alone, or into the batch while corked (JS `_write0` / `send`).
    fn write(&mut self, local_id: u32, capacity: usize, body: impl FnOnce(&mut Vec<u8>)) {
        match &mut self.batch {
            Some(batch) => {
                let mut scratch = std::mem::take(&mut self.scratch);
                scratch.clear();
                body(&mut scratch);
                let out = &mut self.out;
                batch
                    .entry(local_id, scratch.len(), |frame| out.push_back(frame))
                    .extend_from_slice(&scratch);
                self.scratch = scratch;
            }
            None => {
                let mut frame = Vec::with_capacity(uint_len(u64::from(local_id)) + capacity);
                put_uint(&mut frame, u64::from(local_id));
                body(&mut frame);
                self.out.push_back(frame);
            }
        }
    }

    fn local_open(&self, channel: ChannelId) -> Option<(InfoIdx, u32)> {
        let i = (channel.0 as usize).checked_sub(1)?;
        match self.local.get(i)? {
            Local::Open { info, remote } => Some((*info, *remote)),
            _ => None,
        }
    }

    fn check_open(&self, channel: ChannelId) -> Result<(), MuxError> {
        self.local_open(channel).map(|_| ()).ok_or(MuxError::ChannelClosed(channel))
    }

    /// JS `Channel._close`: the local side of an open channel ends.
    fn close_local(&mut self, local_id: u32, remote: bool) {
        let Some(&mut Local::Open { info: info_idx, remote: remote_id }) = self.local_mut(local_id) else {
            return;
        };
        let awaiting = if remote_id != 0 {
            if let Some(slot) = self.remote_mut(remote_id) {
                *slot = None;
            }
            None
        } else {
            Some(info_idx) // still in `outgoing`: the remote has not answered
        };
        self.set_local(local_id, Local::Closed { awaiting, event_queued: true });
        if let Some(info) = self.info(info_idx) {
            info.opened = info.opened.saturating_sub(1);
        }
        self.events.push_back(MuxEvent::Closed { channel: ChannelId(local_id), remote });
        self.gc(info_idx);
    }

    /// Returns a closed local id to `free` once nothing refers to it any more.
    fn maybe_free(&mut self, local_id: u32) {
        if let Some(slot @ Local::Closed { awaiting: None, event_queued: false }) = self.local_mut(local_id) {
            *slot = Local::Free;
            self.free.push(local_id);
        }
    }

    fn alloc_local(&mut self) -> Result<u32, MuxError> {
        if let Some(id) = self.free.pop() {
            return Ok(id);
        }
        let id = u32::try_from(self.local.len() + 1).map_err(|_| MuxError::OutOfIds)?;
        self.local.push(Local::Free);
        Ok(id)
    }

    fn set_local(&mut self, local_id: u32, state: Local) {
        if let Some(slot) = self.local_mut(local_id) {
            *slot = state;
        }
    }

    fn local_mut(&mut self, local_id: u32) -> Option<&mut Local> {
        self.local.get_mut((local_id as usize).checked_sub(1)?)
    }

    fn remote_mut(&mut self, remote_id: u32) -> Option<&mut Option<Remote>> {
        self.remote.get_mut((remote_id as usize).checked_sub(1)?)
    }

    /// Forgets an unanswered remote open and what was buffered for it.
    fn drop_pending(&mut self, remote_id: u32) {
        let slot = self.remote_mut(remote_id).and_then(Option::take);
        if let Some(Remote::Pending { messages, held, .. }) = slot {
            self.held_opens -= held;
            self.buffered -= messages.iter().map(|(_, p)| MESSAGE_OVERHEAD + p.len()).sum::<usize>();
        }
    }

    fn info(&mut self, idx: InfoIdx) -> Option<&mut Info> {
        self.infos.get_mut(idx).and_then(Option::as_mut)
    }

    fn new_info(&mut self, keys: Vec<Vec<u8>>) -> InfoIdx {
        let idx = match self.free_infos.pop() {
            Some(idx) => idx,
            None => {
                self.infos.push(None);
                self.infos.len() - 1
            }
        };
        for k in &keys {
            self.keys.insert(k.clone(), idx);
        }
        self.infos[idx] = Some(Info { keys, ..Info::default() });
        idx
    }

    /// JS `_get(protocol, id)` for a remote open: the pair's info, created if missing.
    fn info_for_remote(&mut self, protocol: &str, id: Option<&[u8]>) -> InfoIdx {
        let k = key(protocol, id);
        match self.keys.get(&k) {
            Some(&idx) => idx,
            None => self.new_info(vec![k]),
        }
    }

    /// JS `_get(protocol, id, aliases)` for a local open. Unlike JS, an info a remote open
    /// created under one of the aliases is found too (JS would shadow it, and reject the
    /// remote's open), and missing alias keys are added to an existing info.
    fn info_for_local(&mut self, protocol: &str, aliases: &[&str], id: Option<&[u8]>) -> InfoIdx {
        let keys: Vec<Vec<u8>> =
            std::iter::once(protocol).chain(aliases.iter().copied()).map(|p| key(p, id)).collect();
        let Some(idx) = keys.iter().find_map(|k| self.keys.get(k).copied()) else {
            return self.new_info(keys);
        };
        for k in keys {
            if !self.keys.contains_key(&k) {
                self.keys.insert(k.clone(), idx);
                if let Some(info) = self.info(idx) {
                    info.keys.push(k);
                }
            }
        }
        idx
    }

    /// JS `_gc`: forgets an info nothing refers to any more.
    fn gc(&mut self, idx: InfoIdx) {
        let unused = self
            .infos
            .get(idx)
            .and_then(Option::as_ref)
            .is_some_and(|i| i.opened == 0 && i.incoming.is_empty() && i.outgoing.is_empty());
        if !unused {
            return;
        }
        if let Some(info) = self.infos[idx].take() {
            for k in info.keys {
                if self.keys.get(&k) == Some(&idx) {
                    self.keys.remove(&k);
                }
            }
            self.free_infos.push(idx);
        }
    }
}
