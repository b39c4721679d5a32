//! One replication connection (JS hypercore `createProtocolStream` + corestore's
//! `replicate`): secret-stream over any byte stream, protomux on top, one `hypercore/alpha`
//! channel per shared core, and application channels beside them.
//!
//! The state machines ([`SecretStream`], [`Mux`], [`Replicator`]) do the protocol; this
//! module only moves bytes and runs the storage work they ask for. It is runtime-agnostic
//! (futures-io traits, a [`Clock`] for time), so tokio and the browser share it.
//!
//! Backpressure: bytes for the peer go to a writer task through a queue; while more than
//! [`HIGH_WATER_BYTES`] wait there, requests from the peer are parked (not answered), so a
//! peer that does not read cannot make us buffer without bound. Reading never stops,
//! which keeps two peers that both upload from deadlocking on full socket buffers.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::future::Either;
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use futures::{FutureExt, StreamExt};

use super::connection::{write_loop, yield_now};
pub use super::connection::{Clock, ConnectionError, ConnectionOptions, ConnectionStats};
use super::core_set::{CoreSet, SetEvent, SharedCore};
use super::messages::{ChannelHandshake, Data, Message, PROTOCOL, PROTOCOL_ALIAS};
use super::user_channels::{UserChannels, UserCommand, UserEvent};
use super::{Action, DownloadRange, LocalChange, PeerId, Replicator, ReplicatorOptions};
use crate::core::HypercoreError;
use crate::crypto::caps;
use crate::crypto::hash::Hash;
use crate::crypto::sign::KeyPair;
use crate::encoding::Compact;
use crate::protomux::{ChannelId, ChannelSpec, Mux, MuxEvent};
use crate::secret_stream::{SecretStream, SecretStreamEvent, SecretStreamOptions};
use crate::storage::Storage;
use crate::MaybeSend;

/// Bytes queued for the writer above which peer requests are parked.
pub const HIGH_WATER_BYTES: usize = 4 << 20;
/// Bytes waiting for a peer (small answers are not parked) beyond which it is dropped.
pub const MAX_BACKLOG_BYTES: usize = 4 * HIGH_WATER_BYTES;
/// Parked requests beyond which the peer is dropped (it asks far more than it reads).
pub const MAX_PARKED: usize = 65_536;
/// After a clean end, how long queued bytes may take to reach the peer before we give up.
const CLOSE_FLUSH_MS: u64 = 5_000;
/// Payload bytes after which a long turn hands its output to the writer.
const FLUSH_BYTES: usize = 64 << 10;
/// Most proofs stored with one write.
const MAX_APPLY_BATCH: usize = 1024;
/// Size of one transport read.
const READ_CHUNK: usize = 256 << 10;

/// What a local channel carries.
enum Role {
    Core { discovery_key: Hash, peer: Option<PeerId> },
    User { protocol: String, id: Option<Vec<u8>> },
}

/// One core on this connection.
struct CoreSession<S> {
    shared: SharedCore<S>,
    replicator: Replicator,
    channel: Option<ChannelId>,
    /// The replicator's id of the download intent it follows, and that intent.
    download: Option<(u64, DownloadRange)>,
    /// The core's wanted blocks this connection follows: block → the replicator's download id.
    wants: HashMap<u64, u64>,
}

impl<S: Storage> CoreSession<S> {
    /// Tells the core what this connection finds: whether it satisfies the download intent
    /// (see [`is_done`]) and whether the core is as long as this connection's peers. A
    /// session without peers has no say in either.
    fn report(&self, connection: u64, core: &crate::core::Hypercore<S>) -> Report {
        let has_peers = self.replicator.peers().next().is_some();
        Report {
            done: is_done(&self.replicator, self.download, core),
            caught_up: has_peers.then(|| self.replicator.is_caught_up(core)),
            connection,
        }
    }
}

/// What a session found, told to its core once the core's lock is released.
#[must_use]
struct Report {
    done: Option<bool>,
    caught_up: Option<bool>,
    connection: u64,
}

impl Report {
    fn send<S: Storage>(self, shared: &SharedCore<S>) {
        match self.done {
            Some(done) => shared.set_done(self.connection, done),
            None => shared.forget_connection(self.connection),
        }
        shared.set_caught_up(self.connection, self.caught_up);
    }
}

struct Connection<S, C> {
    id: u64,
    clock: C,
    cores: CoreSet<S>,
    stream: SecretStream,
    mux: Mux,
    handshake_hash: Option<[u8; 64]>,
    channels: HashMap<ChannelId, Role>,
    sessions: HashMap<Hash, CoreSession<S>>,
    peers: HashMap<PeerId, (Hash, ChannelId)>,
    next_peer: PeerId,
    replicator_options: ReplicatorOptions,
    user: Option<UserChannels>,
    parked: VecDeque<(Hash, PeerId, super::messages::Request)>,
    out: UnboundedSender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    /// Payload bytes sent through the mux since the last hand-over to the writer.
    unflushed: usize,
    /// Block bytes of proofs built for peers whose `data` has not been sent through the mux
    /// yet (the replicator queues it behind the other actions of the turn).
    serving: usize,
    /// Set when the peer is found not to read (see [`ConnectionError::PeerNotReading`]).
    overloaded: Option<&'static str>,
    stats: ConnectionStats,
}

/// Runs one replication connection over a byte stream until it ends. Errors caused by the
/// remote end only this connection; misbehaving peers of single cores are closed without
/// ending it.
pub async fn replicate<S, R, W, C>(
    cores: &CoreSet<S>,
    mut reader: R,
    mut writer: W,
    clock: C,
    mut opts: ConnectionOptions,
) -> Result<ConnectionStats, ConnectionError>
where
    S: Storage,
    R: AsyncRead + Unpin + MaybeSend,
    W: AsyncWrite + Unpin + MaybeSend,
    C: Clock,
{
    let stream_opts = SecretStreamOptions {
        keep_alive_ms: (opts.keep_alive_ms > 0).then_some(opts.keep_alive_ms),
        timeout_ms: (opts.timeout_ms > 0).then_some(opts.timeout_ms),
        ..SecretStreamOptions::default()
    };
    let stream = match opts.handshake.take() {
        Some(result) => SecretStream::from_handshake(result, stream_opts),
        None => {
            let key_pair = match opts.key_pair.take() {
                Some(k) => k,
                None => KeyPair::generate().map_err(|_| ConnectionError::KeyPair)?,
            };
            SecretStream::new(opts.is_initiator, &key_pair, stream_opts)
        }
    };
    let (id, events) = cores.subscribe();
    let (out_tx, out_rx) = unbounded::<Vec<u8>>();
    let (drained_tx, drained_rx) = unbounded::<()>();
    let queued = Arc::new(AtomicUsize::new(0));
    let mut conn = Connection {
        id,
        clock: clock.clone(),
        cores: cores.clone(),
        stream,
        mux: Mux::new(),
        handshake_hash: None,
        channels: HashMap::new(),
        sessions: HashMap::new(),
        peers: HashMap::new(),
        next_peer: 1,
        replicator_options: opts.replicator.clone(),
        user: opts.user.take(),
        parked: VecDeque::new(),
        out: out_tx,
        queued: queued.clone(),
        unflushed: 0,
        serving: 0,
        overloaded: None,
        stats: ConnectionStats::default(),
    };

    let written = Arc::new(AtomicU64::new(0));
    let write_loop = Box::pin(write_loop(&mut writer, out_rx, drained_tx, queued, written.clone()));
    let main = Box::pin(async {
        let result = conn.run(&mut reader, events, drained_rx).await;
        conn.out.close_channel();
        for session in conn.sessions.values() {
            session.shared.forget_connection(conn.id);
        }
        result
    });
    // A failed side ends the connection at once; after a clean end, what is queued gets
    // `CLOSE_FLUSH_MS` to reach a peer that may have stopped reading.
    let outcome = match futures::future::select(main, write_loop).await {
        Either::Left((Ok(()), write_loop)) => {
            let deadline = Box::pin(clock.sleep(CLOSE_FLUSH_MS));
            match futures::future::select(write_loop, deadline).await {
                Either::Left((result, _)) => result,
                Either::Right(((), _)) => Ok(()),
            }
        }
        Either::Left((Err(e), _)) => Err(e),
        Either::Right((Err(e), _)) => Err(e),
        // The writer only ends on its own when the queue closed, i.e. after `main`.
        Either::Right((Ok(()), main)) => main.await,
    };
    outcome?;
    conn.stats.bytes_out = written.load(Ordering::Acquire);
    Ok(conn.stats)
}

/// Why the connection loop woke up.
enum Wake {
    Read(std::io::Result<usize>),
    SetEvent(SetEvent),
    User(Option<UserCommand>),
    Timer,
    Drained,
}

impl<S: Storage, C: Clock> Connection<S, C> {
    async fn run<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
        mut events: UnboundedReceiver<SetEvent>,
        mut drained: UnboundedReceiver<()>,
    ) -> Result<(), ConnectionError> {
        let mut buf = vec![0u8; READ_CHUNK];
        self.stream.start(self.clock.now_ms());
        let mut deadline: Option<u64> = None;
        let mut timer: Option<Pin<Box<C::Sleep>>> = None;
        loop {
            self.pump().await?;
            if self.out.is_closed() {
                return Ok(());
            }
            let next = self.stream.poll_timeout();
            if next != deadline {
                deadline = next;
                timer = next.map(|at| Box::pin(self.clock.sleep(at.saturating_sub(self.clock.now_ms()))));
            }
            let wake = {
                let timer_fut = async {
                    match timer.as_mut() {
                        Some(t) => t.await,
                        None => futures::future::pending().await,
                    }
                }
                .fuse();
                futures::pin_mut!(timer_fut);
                let user_fut = async {
                    match self.user.as_mut() {
                        Some(u) => u.commands.next().await,
                        None => futures::future::pending().await,
                    }
                }
                .fuse();
                futures::pin_mut!(user_fut);
                let mut read_fut = reader.read(&mut buf).fuse();
                futures::select_biased! {
                    _ = timer_fut => Wake::Timer,
                    ev = events.next() => match ev {
                        Some(ev) => Wake::SetEvent(ev),
                        None => Wake::Drained,
                    },
                    cmd = user_fut => Wake::User(cmd),
                    _ = drained.next() => Wake::Drained,
                    n = read_fut => Wake::Read(n),
                }
            };
            match wake {
                Wake::Read(n) => {
                    let n = n?;
                    if n == 0 {
                        return Ok(());
                    }
                    self.stats.bytes_in += n as u64;
                    self.stream.on_bytes(&buf[..n], self.clock.now_ms())?;
                }
                Wake::SetEvent(ev) => self.on_set_event(ev).await,
                Wake::User(Some(cmd)) => self.on_user_command(cmd).await,
                Wake::User(None) => self.user = None,
                Wake::Timer => {
                    deadline = None;
                    timer = None;
                    self.stream.handle_timeout(self.clock.now_ms())?;
                }
                Wake::Drained => {}
            }
        }
    }
}

impl<S: Storage, C: Clock> Connection<S, C> {
    /// Runs every state machine until nothing is left to do, then hands the bytes to the
    /// writer.
    async fn pump(&mut self) -> Result<(), ConnectionError> {
        loop {
            let mut progressed = false;
            while let Some(event) = self.stream.poll_event() {
                progressed = true;
                match event {
                    SecretStreamEvent::Connected { remote_public_key, handshake_hash } => {
                        self.stats.remote_public_key = Some(remote_public_key);
                        self.handshake_hash = Some(handshake_hash);
                        for shared in self.cores.cores() {
                            self.open_core(shared);
                        }
                    }
                    SecretStreamEvent::Message(frame) => self.mux.on_message(&frame)?,
                }
            }
            while let Some(event) = self.mux.poll_event() {
                progressed = true;
                self.on_mux_event(event).await?;
            }
            if self.run_actions().await? {
                progressed = true;
            }
            while let Some(frame) = self.mux.poll_transmit() {
                progressed = true;
                self.stream.send(&frame)?;
            }
            if !progressed {
                break;
            }
        }
        self.flush_out()
    }

    /// Encrypts every pending frame and hands the bytes to the writer.
    fn flush_out(&mut self) -> Result<(), ConnectionError> {
        if let Some(why) = self.overloaded {
            return Err(ConnectionError::PeerNotReading(why));
        }
        while let Some(frame) = self.mux.poll_transmit() {
            self.stream.send(&frame)?;
        }
        self.unflushed = 0;
        if self.stream.has_outgoing() {
            let bytes = self.stream.take_outgoing();
            let queued = self.queued.fetch_add(bytes.len(), Ordering::AcqRel) + bytes.len();
            self.stats.max_queued_bytes = self.stats.max_queued_bytes.max(queued as u64);
            if queued > MAX_BACKLOG_BYTES {
                self.overloaded = Some("backlog above the limit");
            }
            // A closed queue means the writer failed; its error ends the connection.
            let _ = self.out.unbounded_send(bytes);
        }
        Ok(())
    }

    /// Bytes on their way to the peer: queued for the writer, in the mux, or answers built
    /// and not yet sent. Requests are parked while this is above [`HIGH_WATER_BYTES`].
    fn backlog(&self) -> usize {
        self.queued.load(Ordering::Acquire) + self.unflushed + self.serving
    }

    /// After a stretch of sends, lets the writer put them on the wire while we go on (the
    /// peer starts on them instead of waiting for the whole turn).
    async fn flush_if_due(&mut self) -> Result<(), ConnectionError> {
        if self.unflushed >= FLUSH_BYTES {
            self.flush_out()?;
            yield_now().await;
        }
        Ok(())
    }

    /// Opens our `hypercore/alpha` channel for a core (once per connection).
    fn open_core(&mut self, shared: SharedCore<S>) {
        let Some(hash) = self.handshake_hash else { return };
        let discovery_key = shared.discovery_key();
        if self.sessions.get(&discovery_key).is_some_and(|s| s.channel.is_some()) {
            return;
        }
        let handshake = ChannelHandshake {
            seeks: false,
            capability: caps::replicate(self.stream.is_initiator(), &shared.key(), &hash),
        };
        let spec = ChannelSpec {
            protocol: PROTOCOL,
            aliases: &[PROTOCOL_ALIAS],
            id: Some(&discovery_key),
            handshake: &handshake.to_bytes(),
        };
        let Ok(channel) = self.mux.open(spec) else { return };
        self.channels.insert(channel, Role::Core { discovery_key, peer: None });
        let options = self.replicator_options.clone();
        let session = self.sessions.entry(discovery_key).or_insert_with(|| CoreSession {
            shared,
            replicator: Replicator::with_options(options),
            download: None,
            wants: HashMap::new(),
            channel: None,
        });
        session.channel = Some(channel);
    }

    async fn on_mux_event(&mut self, event: MuxEvent) -> Result<(), ConnectionError> {
        match event {
            MuxEvent::RemoteOpen { protocol, id } => {
                let is_core = protocol == PROTOCOL || protocol == PROTOCOL_ALIAS;
                let known = id
                    .as_deref()
                    .and_then(|id| <[u8; 32]>::try_from(id).ok())
                    .and_then(|dk| self.cores.get(&dk));
                match (is_core, known, self.user.as_ref()) {
                    (true, Some(shared), _) => self.open_core(shared),
                    (false, _, Some(user)) => {
                        if user
                            .events
                            .unbounded_send(UserEvent::RemoteOpen {
                                protocol: protocol.clone(),
                                id: id.clone(),
                            })
                            .is_err()
                        {
                            self.mux.reject(&protocol, id.as_deref());
                        }
                    }
                    _ => self.mux.reject(&protocol, id.as_deref()),
                }
            }
            MuxEvent::Opened { channel, handshake } => match self.channels.get(&channel) {
                Some(Role::Core { discovery_key, .. }) => {
                    let discovery_key = *discovery_key;
                    self.on_core_opened(channel, discovery_key, &handshake).await?;
                }
                Some(Role::User { protocol, id }) => {
                    if let Some(user) = &self.user {
                        let (protocol, id) = (protocol.clone(), id.clone());
                        let _ = user.events.unbounded_send(UserEvent::Opened {
                            channel,
                            protocol,
                            id,
                            handshake,
                        });
                    }
                }
                None => self.mux.close(channel),
            },
            MuxEvent::Message { channel, message_type, payload } => match self.channels.get(&channel) {
                // Types beyond `hypercore/alpha`'s ten are ignored, as JS protomux does.
                Some(Role::Core { .. }) if !Message::is_known_type(message_type) => {}
                Some(Role::Core { discovery_key, peer: Some(peer) }) => {
                    let (discovery_key, peer) = (*discovery_key, *peer);
                    match Message::decode(message_type, &payload) {
                        Ok(message) => {
                            if let Some(session) = self.sessions.get_mut(&discovery_key) {
                                let core = session.shared.lock().await;
                                session.replicator.on_message(&*core, peer, message);
                                let report = session.report(self.id, &core);
                                drop(core);
                                report.send(&session.shared);
                            }
                        }
                        Err(e) => {
                            self.close_peer(peer, format!("undecodable message type {message_type}: {e}"))
                                .await
                        }
                    }
                }
                Some(Role::Core { .. }) => {}
                Some(Role::User { .. }) => {
                    if let Some(user) = &self.user {
                        let _ =
                            user.events.unbounded_send(UserEvent::Message { channel, message_type, payload });
                    }
                }
                None => {}
            },
            MuxEvent::Closed { channel, remote } => match self.channels.remove(&channel) {
                Some(Role::Core { discovery_key, peer }) => {
                    if let Some(peer) = peer {
                        self.peers.remove(&peer);
                    }
                    if let Some(session) = self.sessions.get_mut(&discovery_key) {
                        if let Some(peer) = peer {
                            let core = session.shared.lock().await;
                            session.replicator.remove_peer(&*core, peer);
                            let report = session.report(self.id, &core);
                            drop(core);
                            report.send(&session.shared);
                        }
                        session.channel = None;
                    }
                }
                Some(Role::User { .. }) => {
                    if let Some(user) = &self.user {
                        let _ = user.events.unbounded_send(UserEvent::Closed { channel, remote });
                    }
                }
                None => {}
            },
        }
        Ok(())
    }

    /// The remote opened our core's channel: check its capability, then add the peer.
    async fn on_core_opened(
        &mut self,
        channel: ChannelId,
        discovery_key: Hash,
        handshake: &[u8],
    ) -> Result<(), ConnectionError> {
        let Some(session) = self.sessions.get_mut(&discovery_key) else { return Ok(()) };
        let Some(hash) = self.handshake_hash else { return Ok(()) };
        let remote = match ChannelHandshake::from_bytes(handshake)
            .or_else(|_| ChannelHandshake::decode(&mut crate::encoding::Decoder::new(handshake)))
        {
            Ok(h) => h,
            Err(_) => return Err(ConnectionError::InvalidCapability),
        };
        let expected = caps::replicate(!self.stream.is_initiator(), &session.shared.key(), &hash);
        if remote.capability != expected {
            // JS destroys the whole stream here too.
            return Err(ConnectionError::InvalidCapability);
        }
        let peer = self.next_peer;
        self.next_peer += 1;
        self.peers.insert(peer, (discovery_key, channel));
        self.channels.insert(channel, Role::Core { discovery_key, peer: Some(peer) });
        let core = session.shared.lock().await;
        session.replicator.add_peer(&*core, peer, &remote);
        sync_intent(&mut session.replicator, &mut session.download, session.shared.download_intent(), &*core);
        sync_wants(&mut session.replicator, &mut session.wants, &session.shared, &core);
        let report = session.report(self.id, &core);
        drop(core);
        report.send(&session.shared);
        Ok(())
    }

    async fn close_peer(&mut self, peer: PeerId, reason: String) {
        if let Some((discovery_key, channel)) = self.peers.remove(&peer) {
            self.stats.peers_closed.push(reason);
            if let Some(session) = self.sessions.get_mut(&discovery_key) {
                let core = session.shared.lock().await;
                session.replicator.remove_peer(&*core, peer);
                let report = session.report(self.id, &core);
                drop(core);
                report.send(&session.shared);
                session.channel = None;
            }
            self.channels.remove(&channel);
            self.mux.close(channel);
        }
    }

    /// Runs every replicator's pending actions; true if any ran. Consecutive proofs to apply
    /// are stored with one write (`Hypercore::apply_proofs`); messages queued between them
    /// go out at once.
    async fn run_actions(&mut self) -> Result<bool, ConnectionError> {
        let mut ran = false;
        let keys: Vec<Hash> = self.sessions.keys().copied().collect();
        for discovery_key in keys {
            let mut applies: Vec<(PeerId, Data)> = Vec::new();
            loop {
                let next = self.sessions.get_mut(&discovery_key).and_then(|s| s.replicator.poll_action());
                let Some(action) = next else {
                    if applies.is_empty() {
                        break;
                    }
                    // Applying may queue more actions (new requests): go round again.
                    self.apply_batch(discovery_key, std::mem::take(&mut applies), false).await;
                    continue;
                };
                ran = true;
                match action {
                    Action::Apply { peer, data, reorg: false } => {
                        if applies.len() == MAX_APPLY_BATCH {
                            self.apply_batch(discovery_key, std::mem::take(&mut applies), false).await;
                        }
                        applies.push((peer, data));
                    }
                    Action::Send { .. } => {
                        self.run_action(discovery_key, action).await;
                        self.flush_if_due().await?;
                    }
                    action => {
                        if !applies.is_empty() {
                            self.apply_batch(discovery_key, std::mem::take(&mut applies), false).await;
                        }
                        self.run_action(discovery_key, action).await;
                    }
                }
            }
        }
        // Every replicator queue is empty: the answers built so far are in the mux.
        self.serving = 0;
        // Answer parked requests once the writer has room again.
        while self.backlog() < HIGH_WATER_BYTES {
            let Some((discovery_key, peer, request)) = self.parked.pop_front() else { break };
            ran = true;
            self.serve(discovery_key, peer, request).await;
            self.flush_if_due().await?;
        }
        Ok(ran)
    }

    async fn run_action(&mut self, discovery_key: Hash, action: Action) {
        match action {
            Action::Send { peer, message } => {
                if let Message::Data(data) = &message {
                    self.serving = self.serving.saturating_sub(block_bytes(&data.proof));
                }
                let Some(&(_, channel)) = self.peers.get(&peer) else { return };
                let mut payload = Vec::with_capacity(message.size_hint());
                message.encode(&mut payload);
                self.unflushed += payload.len();
                let _ = self.mux.send(channel, message.message_type(), &payload);
            }
            Action::Serve { peer, request } => {
                if self.backlog() >= HIGH_WATER_BYTES || !self.parked.is_empty() {
                    if self.parked.len() >= MAX_PARKED {
                        self.overloaded = Some("too many parked requests");
                        return;
                    }
                    self.parked.push_back((discovery_key, peer, request));
                } else {
                    self.serve(discovery_key, peer, request).await;
                }
            }
            Action::Apply { peer, data, reorg } => {
                self.apply_batch(discovery_key, vec![(peer, data)], reorg).await
            }
            Action::Close { peer, reason } => self.close_peer(peer, reason.to_string()).await,
            Action::Extension { peer: _, name, message } => {
                if let Some(user) = &self.user {
                    let _ = user.events.unbounded_send(UserEvent::Extension { discovery_key, name, message });
                }
            }
        }
    }

    /// Verifies and stores several proofs with one storage write (a fork proof alone, with
    /// `Hypercore::reorg`), then reports each and announces what changed.
    async fn apply_batch(&mut self, discovery_key: Hash, applies: Vec<(PeerId, Data)>, reorg: bool) {
        let Some(session) = self.sessions.get_mut(&discovery_key) else { return };
        let mut core = session.shared.lock().await;
        let before = (core.length(), core.fork());
        let proofs: Vec<(&crate::tree::proof::Proof, Option<&[u8]>)> =
            applies.iter().map(|(_, d)| (&d.proof, d.manifest.as_deref())).collect();
        let results = match (reorg, proofs.as_slice()) {
            (true, [(proof, manifest)]) => vec![core.reorg(proof, *manifest).await],
            _ => core.apply_proofs(&proofs).await,
        };
        let after = (core.length(), core.fork());
        let mut blocks = Vec::new();
        for ((peer, data), result) in applies.iter().zip(results) {
            if let Ok(applied) = &result {
                blocks.extend(applied.block);
            }
            session.replicator.on_applied(&*core, *peer, data.request, result);
        }
        let report = session.report(self.id, &core);
        drop(core);
        self.stats.blocks_downloaded += blocks.len() as u64;
        if after != before {
            let change = if after.1 != before.1 {
                LocalChange::Truncated { length: after.0, fork: after.1 }
            } else {
                LocalChange::Appended { length: after.0 }
            };
            session.shared.notify(change, self.id);
        }
        blocks.sort_unstable();
        let mut runs = blocks.into_iter().peekable();
        while let Some(start) = runs.next() {
            let mut end = start + 1;
            while runs.peek() == Some(&end) {
                runs.next();
                end += 1;
            }
            session.shared.notify(LocalChange::Downloaded { start, end }, self.id);
        }
        report.send(&session.shared);
    }

    async fn serve(&mut self, discovery_key: Hash, peer: PeerId, request: super::messages::Request) {
        let Some(session) = self.sessions.get_mut(&discovery_key) else { return };
        let core = session.shared.lock().await;
        let result: Result<_, HypercoreError> = core.proof(&super::proof_request(&request)).await;
        if let Ok(proof) = &result {
            self.stats.blocks_uploaded += u64::from(proof.block.is_some());
            self.serving += block_bytes(proof);
        }
        session.replicator.on_proof(&*core, peer, request, result);
    }

    async fn on_set_event(&mut self, event: SetEvent) {
        match event {
            SetEvent::Inserted(discovery_key) => {
                if let Some(shared) = self.cores.get(&discovery_key) {
                    self.open_core(shared);
                }
            }
            SetEvent::Changed { discovery_key, change, origin } => {
                if origin == self.id {
                    return;
                }
                if let Some(session) = self.sessions.get_mut(&discovery_key) {
                    let core = session.shared.lock().await;
                    session.replicator.on_local_change(&*core, change);
                    let report = session.report(self.id, &core);
                    drop(core);
                    report.send(&session.shared);
                }
            }
            SetEvent::Download(discovery_key) => {
                if let Some(session) = self.sessions.get_mut(&discovery_key) {
                    let core = session.shared.lock().await;
                    let intent = session.shared.download_intent();
                    sync_intent(&mut session.replicator, &mut session.download, intent, &*core);
                    let report = session.report(self.id, &core);
                    drop(core);
                    report.send(&session.shared);
                }
            }
            SetEvent::Wants(discovery_key) => {
                if let Some(session) = self.sessions.get_mut(&discovery_key) {
                    let core = session.shared.lock().await;
                    sync_wants(&mut session.replicator, &mut session.wants, &session.shared, &core);
                    let report = session.report(self.id, &core);
                    drop(core);
                    report.send(&session.shared);
                }
            }
        }
    }

    async fn on_user_command(&mut self, command: UserCommand) {
        match command {
            UserCommand::Open { protocol, id, handshake } => {
                let spec = ChannelSpec {
                    protocol: &protocol,
                    aliases: &[],
                    id: id.as_deref(),
                    handshake: &handshake,
                };
                if let Ok(channel) = self.mux.open(spec) {
                    self.channels.insert(channel, Role::User { protocol, id });
                }
            }
            UserCommand::Reject { protocol, id } => self.mux.reject(&protocol, id.as_deref()),
            UserCommand::Send { channel, message_type, payload } => {
                if matches!(self.channels.get(&channel), Some(Role::User { .. })) {
                    let _ = self.mux.send(channel, message_type, &payload);
                }
            }
            UserCommand::Close { channel } => {
                if matches!(self.channels.get(&channel), Some(Role::User { .. })) {
                    self.mux.close(channel);
                }
            }
            UserCommand::Extension { discovery_key, name, message } => {
                if let Some(session) = self.sessions.get_mut(&discovery_key) {
                    session.replicator.send_extension(None, &name, &message);
                }
            }
        }
    }
}

/// Block payload bytes of a proof (what dominates the size of a `data` message).
fn block_bytes(proof: &crate::tree::proof::Proof) -> usize {
    proof.block.as_ref().map_or(0, |b| b.value.len())
}

/// Makes the replicator follow the core's current download intent (cancelling the one it
/// followed before, if it changed).
fn sync_intent<S: Storage>(
    replicator: &mut Replicator,
    current: &mut Option<(u64, DownloadRange)>,
    intent: Option<DownloadRange>,
    core: &crate::core::Hypercore<S>,
) {
    if current.map(|(_, r)| r) == intent {
        return;
    }
    if let Some((id, _)) = current.take() {
        replicator.cancel_download(core, id);
    }
    if let Some(range) = intent {
        *current = Some((replicator.download(core, range), range));
    }
}

/// Makes the replicator follow the core's want set: one single-block download per wanted
/// block it does not hold; downloads of blocks no longer wanted are cancelled (their
/// requests with them).
fn sync_wants<S: Storage>(
    replicator: &mut Replicator,
    current: &mut HashMap<u64, u64>,
    shared: &SharedCore<S>,
    core: &crate::core::Hypercore<S>,
) {
    shared.drop_local_wants(core);
    let wanted = shared.wanted_blocks();
    let keep: std::collections::HashSet<u64> = wanted.iter().copied().collect();
    let mut cancel = Vec::new();
    current.retain(|block, id| {
        let keep = keep.contains(block) && !core.has(*block);
        if !keep {
            cancel.push(*id);
        }
        keep
    });
    if !cancel.is_empty() {
        replicator.cancel_downloads(core, &cancel);
    }
    let new: Vec<u64> = wanted.into_iter().filter(|b| !current.contains_key(b) && !core.has(*b)).collect();
    if !new.is_empty() {
        for (block, id) in new.iter().zip(replicator.download_blocks(core, &new)) {
            current.insert(*block, id);
        }
    }
}

/// Whether this connection satisfies the core's download intent (`None`: it has no peers of
/// the core, so no say): a finite range is fully local; a whole-core intent also needs a
/// peer that told us its length. Wanted blocks do not count.
fn is_done<S: Storage>(
    replicator: &Replicator,
    download: Option<(u64, DownloadRange)>,
    core: &crate::core::Hypercore<S>,
) -> Option<bool> {
    replicator.peers().next()?;
    let Some((id, range)) = download else { return Some(false) };
    Some(
        replicator.is_download_done(core, id)
            && (range.end.is_some() || replicator.peers().any(|p| replicator.peer_length(p).is_some())),
    )
}
