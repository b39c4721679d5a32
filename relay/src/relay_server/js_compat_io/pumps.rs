//! The tasks around a JS-compat session: the socket writer (reporting flushed bytes) and each
//! stream's UDX reader and writer pumps.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::stream::SplitSink;
use futures::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Notify};
use warp::ws::{Message as WsMessage, WebSocket};

use crate::dht::{ReadHalf, WriteHalf};

use super::{Internal, ReadEv, StreamId, WriterIn, READ_CHUNK};

pub(super) fn io_code(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut => "ETIMEDOUT",
        _ => "ECONNRESET",
    }
    .to_string()
}

/// Writes frames to the socket, reporting how many session bytes each batch flushed.
pub(super) async fn write_socket(
    mut sink: SplitSink<WebSocket, WsMessage>,
    mut rx: mpsc::UnboundedReceiver<WriterIn>,
    flushed: mpsc::UnboundedSender<usize>,
) {
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut done = 0usize;
        let mut close = None;
        let mut batched = 0;
        while let Some(item) = next.take() {
            match item {
                WriterIn::Frames(frames, len) => {
                    for f in frames {
                        if sink.feed(WsMessage::binary(f)).await.is_err() {
                            return;
                        }
                    }
                    done += len;
                }
                WriterIn::Close(code, reason) => {
                    close = Some((code, reason));
                    break;
                }
            }
            batched += 1;
            if batched < 64 {
                next = rx.try_recv().ok();
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
        let _ = flushed.send(done);
        if let Some((code, reason)) = close {
            let _ = sink.send(WsMessage::close_with(code, reason)).await;
            return;
        }
    }
}

pub(super) async fn read_pump(
    stream: StreamId,
    mut read: ReadHalf,
    mut paused: watch::Receiver<bool>,
    tx: mpsc::Sender<ReadEv>,
) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        if paused.wait_for(|p| !*p).await.is_err() {
            return;
        }
        let ev = match read.read(&mut buf).await {
            Ok(0) => ReadEv::Eof(stream),
            Ok(n) => ReadEv::Data(stream, buf[..n].to_vec()),
            Err(e) => ReadEv::Failed(stream, io_code(&e)),
        };
        let last = !matches!(ev, ReadEv::Data(..));
        if tx.send(ev).await.is_err() || last {
            return;
        }
    }
}

pub(super) async fn write_pump(
    stream: StreamId,
    mut write: WriteHalf,
    mut writes: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    pending: Arc<AtomicU64>,
    backlog: Arc<Notify>,
    tx: mpsc::UnboundedSender<Internal>,
) {
    while let Some(op) = writes.recv().await {
        match op {
            Some(bytes) => {
                let r = write.write_all(&bytes).await;
                pending.fetch_sub(bytes.len() as u64, Ordering::AcqRel);
                backlog.notify_one();
                if let Err(e) = r {
                    let _ = tx.send(Internal::WriteFailed(stream, io_code(&e)));
                    return;
                }
            }
            None => {
                let _ = write.shutdown().await;
                let _ = tx.send(Internal::WriteEnded(stream));
                return;
            }
        }
    }
}
