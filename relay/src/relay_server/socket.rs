//! One WebSocket: binary messages ↔ Protomux frames. The first channel the client opens picks
//! the protocol: `hyperwasm-relay/1` → a [`Session`] in its own task (`session_io.rs`);
//! `@hyperswarm/dht-relay` → the JS-compat session, which takes the whole socket over
//! (`js_compat_io.rs`; the hook point is [`super::js_compat_hook`]).
//! Anything else — text or empty messages, a second channel, an unknown protocol, a Protomux
//! error — closes this socket only (1003 / 1002).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use hyperwasm::protomux::{ChannelId, ChannelSpec, Mux, MuxEvent};
use hyperwasm::relay_protocol::messages::Message;
use hyperwasm::relay_protocol::{types, PROTOCOL_NAME, VERSION};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;
use warp::ws::{Message as WsMessage, WebSocket};

use super::limits::{Pending, Refused, SessionSlot, TokenBucket};
use super::query_permits::QueryPermits;
use super::session::Session;
use super::session_io::{SessionIn, SessionTask, SocketOut};
use super::{js_compat_hook, js_compat_io, Ctx};

/// What the socket is serving.
enum Serving {
    /// Waiting for the channel's `hello`.
    Hello(ChannelId),
    /// A v1 session.
    Session(ChannelId, mpsc::UnboundedSender<SessionIn>),
    /// The `@hyperswarm/dht-relay` channel is open: hand the socket to its session (which
    /// holds this slot for as long as the socket lives).
    JsCompat(ChannelId, SessionSlot),
}

/// Frames taken from the session's queue for one WebSocket flush.
const MAX_FRAMES_PER_FLUSH: usize = 256;

/// Why the socket stops.
struct Stop(u16, &'static str);

/// How long a socket may take to open its channel and say `hello` (or open the JS-compat
/// channel) before it is closed: until then it holds a place under the session caps.
pub const HELLO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs one WebSocket until it closes. `pending` holds its place under the session caps until
/// it becomes a session (which then holds a slot until it ends) or resumes one.
pub(crate) async fn run(ws: WebSocket, ctx: Arc<Ctx>, pending: Pending) {
    let id = ctx.next_socket.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("socket", id, ip = %pending.ip());
    serve_socket(ws, ctx, pending, id).instrument(span).await;
}

async fn serve_socket(ws: WebSocket, ctx: Arc<Ctx>, pending: Pending, id: u64) {
    let mut pending = Some(pending);
    ctx.metrics.sockets.fetch_add(1, Ordering::Relaxed);
    let opened = std::time::Instant::now();
    tracing::info!("socket opened");
    let (mut sink, mut stream) = ws.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<SocketOut>();
    let mut mux = Mux::new();
    let mut serving: Option<Serving> = None;
    let mut bucket = TokenBucket::new(ctx.session_config.bytes_per_second, ctx.now());
    let mut draining = ctx.draining.clone();
    let mut pending_close: Option<SocketOut> = None;
    let hello_deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
    let stop: Option<Stop> = loop {
        let greeted = matches!(serving, Some(Serving::Session(..)));
        tokio::select! {
            _ = tokio::time::sleep_until(hello_deadline), if !greeted => {
                break Some(Stop(1008, "no hello in time"));
            }
            msg = stream.next() => {
                let msg = match msg {
                    Some(Ok(m)) => m,
                    _ => break None,
                };
                if msg.is_close() {
                    break None;
                }
                if msg.is_ping() || msg.is_pong() {
                    continue;
                }
                if !msg.is_binary() {
                    break Some(Stop(1003, "binary messages only"));
                }
                let bytes = msg.into_bytes();
                if bytes.is_empty() {
                    break Some(Stop(1002, "empty message"));
                }
                let wait = bucket.take(bytes.len(), ctx.now());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                if mux.on_message(&bytes).is_err() {
                    break Some(Stop(1002, "bad protomux frame"));
                }
                let to = Target { socket: id, out: &out_tx, pending: &mut pending };
                if let Err(s) = handle_events(&mut mux, &mut serving, &ctx, to).await {
                    let _ = flush(&mut mux, &mut sink).await;
                    break Some(s);
                }
                if let Some(Serving::JsCompat(channel, slot)) = serving {
                    let permits = QueryPermits::new(ctx.query_permits.clone(), slot.ip_queries());
                    let handoff = js_compat_io::Handoff { mux, channel, sink, stream, bucket, permits };
                    tracing::info!(protocol = "@hyperswarm/dht-relay", "session started");
                    js_compat_io::run(handoff, ctx.clone()).await;
                    drop(slot);
                    ctx.metrics.sockets.fetch_sub(1, Ordering::Relaxed);
                    tracing::info!(ms = opened.elapsed().as_millis() as u64, "socket closed");
                    return;
                }
            }
            out = out_rx.recv() => match out {
                Some(SocketOut::Frame(t, p)) => {
                    let channel = match &serving {
                        Some(Serving::Session(c, _)) | Some(Serving::Hello(c)) => *c,
                        Some(Serving::JsCompat(..)) | None => continue,
                    };
                    if mux.send(channel, t, &p).is_err() {
                        break Some(Stop(1011, "send failed"));
                    }
                    // Frames already queued go out in the same flush (one write for a burst).
                    let mut queued = Vec::new();
                    while queued.len() < MAX_FRAMES_PER_FLUSH {
                        match out_rx.try_recv() {
                            Ok(SocketOut::Frame(t, p)) => queued.push((t, p)),
                            Ok(close @ SocketOut::Close(..)) => {
                                pending_close = Some(close);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    if queued.iter().any(|(t, p)| mux.send(channel, *t, p).is_err()) {
                        break Some(Stop(1011, "send failed"));
                    }
                    if let Some(SocketOut::Close(code, reason)) = pending_close.take() {
                        let _ = flush(&mut mux, &mut sink).await;
                        let _ = sink.send(WsMessage::close_with(code, reason)).await;
                        break None;
                    }
                }
                Some(SocketOut::Close(code, reason)) => {
                    let _ = flush(&mut mux, &mut sink).await;
                    let _ = sink.send(WsMessage::close_with(code, reason)).await;
                    break None;
                }
                None => break None,
            },
            _ = draining.changed() => {
                if matches!(serving, Some(Serving::Session(..))) {
                    continue; // the session sends RELAY_DRAINING and closes us
                }
                break Some(Stop(1001, "RELAY_DRAINING"));
            }
        }
        if flush(&mut mux, &mut sink).await.is_err() {
            break None;
        }
    };
    if let Some(Stop(code, reason)) = &stop {
        tracing::info!(code, reason, "closing the socket");
        let _ = sink.send(WsMessage::close_with(*code, *reason)).await;
    }
    if let Some(Serving::Session(_, tx)) = serving {
        let _ = tx.send(SessionIn::Detached(id));
    }
    ctx.metrics.sockets.fetch_sub(1, Ordering::Relaxed);
    tracing::info!(ms = opened.elapsed().as_millis() as u64, "socket closed");
}

async fn flush(
    mux: &mut Mux,
    sink: &mut futures::stream::SplitSink<WebSocket, WsMessage>,
) -> Result<(), warp::Error> {
    while let Some(frame) = mux.poll_transmit() {
        sink.feed(WsMessage::binary(frame)).await?;
    }
    sink.flush().await
}

/// The socket as `hello` sees it.
struct Target<'a> {
    /// Its id.
    socket: u64,
    /// Where its session's frames go.
    out: &'a mpsc::UnboundedSender<SocketOut>,
    /// Its place under the caps until it becomes (or resumes) a session.
    pending: &'a mut Option<Pending>,
}

async fn handle_events(
    mux: &mut Mux,
    serving: &mut Option<Serving>,
    ctx: &Arc<Ctx>,
    to: Target<'_>,
) -> Result<(), Stop> {
    let Target { socket, out, pending } = to;
    while let Some(ev) = mux.poll_event() {
        match ev {
            MuxEvent::RemoteOpen { protocol, id } => {
                if serving.is_some() {
                    mux.reject(&protocol, id.as_deref());
                    return Err(Stop(1002, "one channel per session"));
                }
                if protocol == js_compat_hook::PROTOCOL_NAME {
                    // A JS-compat session has no resume: it is a new session for its socket's life.
                    let slot = match pending.take().map(Pending::into_session) {
                        Some(Ok(slot)) => slot,
                        Some(Err((_, r))) => {
                            refused_session(ctx, r);
                            mux.reject(&protocol, id.as_deref());
                            return Err(Stop(1008, LIMIT_SESSIONS));
                        }
                        None => return Err(Stop(1011, "no session slot")),
                    };
                    let spec = ChannelSpec {
                        protocol: js_compat_hook::PROTOCOL_NAME,
                        id: id.as_deref(),
                        ..ChannelSpec::default()
                    };
                    let channel = mux.open(spec).map_err(|_| Stop(1002, "channel open failed"))?;
                    *serving = Some(Serving::JsCompat(channel, slot));
                    // The rest of the mux's events are the JS-compat session's.
                    return Ok(());
                }
                if protocol != PROTOCOL_NAME || id.is_some() {
                    mux.reject(&protocol, id.as_deref());
                    return Err(Stop(1002, "unknown protocol"));
                }
                let spec = ChannelSpec { protocol: PROTOCOL_NAME, ..ChannelSpec::default() };
                let channel = mux.open(spec).map_err(|_| Stop(1002, "channel open failed"))?;
                *serving = Some(Serving::Hello(channel));
            }
            MuxEvent::Opened { .. } => {}
            MuxEvent::Closed { .. } => return Err(Stop(1000, "channel closed")),
            MuxEvent::Message { message_type, payload, .. } => match serving {
                Some(Serving::Session(_, tx)) => {
                    if tx.send(SessionIn::Frame(socket, message_type, payload)).is_err() {
                        return Err(Stop(1011, "session gone"));
                    }
                }
                Some(Serving::Hello(channel)) => {
                    let channel = *channel;
                    let to = Target { socket, out, pending: &mut *pending };
                    let tx = hello(mux, channel, ctx, to, message_type, &payload).await?;
                    *serving = Some(Serving::Session(channel, tx));
                }
                Some(Serving::JsCompat(..)) => return Ok(()),
                None => return Err(Stop(1002, "message before open")),
            },
        }
    }
    Ok(())
}

/// The first message: `hello` starts or resumes a session.
async fn hello(
    mux: &mut Mux,
    channel: ChannelId,
    ctx: &Arc<Ctx>,
    to: Target<'_>,
    message_type: u64,
    payload: &[u8],
) -> Result<mpsc::UnboundedSender<SessionIn>, Stop> {
    let Target { socket, out, pending } = to;
    let mut refuse = |code: &'static str, message: &str| {
        let (t, p) = Message::Error { reference: 0, code: code.into(), message: message.into() }.encode();
        let _ = mux.send(channel, t, &p);
        ctx.metrics.count_code(code);
        Stop(1002, code)
    };
    let (version, resume) = match Message::decode(message_type, payload) {
        Ok(Message::Hello { version, resume }) if message_type == types::HELLO => (version, resume),
        _ => return Err(refuse("BAD_MESSAGE", "the first message must be hello")),
    };
    if version != VERSION {
        return Err(refuse("UNSUPPORTED_VERSION", "this relay speaks version 1"));
    }
    if let Some(r) = resume {
        let existing = ctx.registry.lock().unwrap_or_else(|e| e.into_inner()).get(&r.token).cloned();
        if let Some(tx) = existing {
            let (ok_tx, ok_rx) = oneshot::channel();
            let attach = SessionIn::Attach { socket, out: out.clone(), received: r.received, ok: ok_tx };
            if tx.send(attach).is_ok() && ok_rx.await.unwrap_or(false) {
                // The session keeps the slot it holds: this socket takes none.
                drop(pending.take());
                tracing::info!(received = r.received, "session resumed");
                return Ok(tx);
            }
        }
        tracing::info!("resume refused (unknown or expired session): a new session");
    }
    // A new session (also for an unknown or expired token: the client sees `resumed` = 0).
    let slot = match pending.take().map(Pending::into_session) {
        Some(Ok(slot)) => slot,
        Some(Err((_, r))) => {
            refused_session(ctx, r);
            let message = match r {
                Refused::Sessions => "the relay is at --max-sessions",
                Refused::PerIp => "this IP is at --max-sessions-per-ip",
            };
            let (t, p) =
                Message::Error { reference: 0, code: LIMIT_SESSIONS.into(), message: message.into() }
                    .encode();
            let _ = mux.send(channel, t, &p);
            ctx.metrics.count_code(LIMIT_SESSIONS);
            return Err(Stop(1008, LIMIT_SESSIONS));
        }
        None => return Err(Stop(1011, "no session slot")),
    };
    let mut token = [0u8; 32];
    getrandom::getrandom(&mut token).map_err(|_| Stop(1011, "no randomness"))?;
    let session = Session::new(ctx.session_config.clone(), token, ctx.now());
    let (tx, rx) = mpsc::unbounded_channel();
    ctx.registry.lock().unwrap_or_else(|e| e.into_inner()).insert(token, tx.clone());
    let task = SessionTask::new(
        session,
        (ctx.dht.clone(), QueryPermits::new(ctx.query_permits.clone(), slot.ip_queries())),
        ctx.metrics.clone(),
        ctx.origin,
        (socket, out.clone()),
        rx,
    );
    let ctx2 = ctx.clone();
    // The session outlives this socket: its own span (a short id, never the token).
    let digest = blake2b_simd::Params::new().hash_length(8).hash(&token);
    let session_id = digest.as_bytes().iter().fold(0u64, |v, b| v << 8 | u64::from(*b)) >> 16;
    tracing::info!(session = session_id, protocol = PROTOCOL_NAME, "session started");
    let span = tracing::info_span!(parent: None, "session", id = session_id);
    tokio::spawn(
        async move {
            task.run().await;
            ctx2.registry.lock().unwrap_or_else(|e| e.into_inner()).remove(&token);
            // The session's slot is free only now: it counted through its grace period.
            drop(slot);
            tracing::info!("session ended");
        }
        .instrument(span),
    );
    Ok(tx)
}

/// The error code (and close reason) of a new session refused by `--max-sessions` or
/// `--max-sessions-per-ip` after its socket got in (an upgrade at the cap may be a resume).
pub const LIMIT_SESSIONS: &str = "LIMIT_SESSIONS";

fn refused_session(ctx: &Ctx, r: Refused) {
    ctx.metrics.refuse(r.reason());
    tracing::info!(reason = r.reason(), "new session refused");
}
