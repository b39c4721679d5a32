//! The write queue of a JS `Hyperbee` (shared by its subs and checkouts): call order is write
//! order, and concurrent single writes are group-committed.
//!
//! `put`/`del` only *queue* their operation (synchronously, in call order) and return a
//! promise; one drainer task per bee runs the queue. Every plain operation (no `cas`) queued
//! by the time the drainer gets to it goes into **one** Rust batch in
//! [`separate_blocks`](hyperwasm::bee::Batch::separate_blocks) mode: each operation writes the
//! block JS hyperbee writes for that call on its own (byte for byte), and one flush appends
//! them all: one signed head, one IndexedDB transaction. An `await`-each-put loop still costs
//! one transaction per put; puts issued without awaiting each one (`Promise.all`, event
//! handlers firing during a write) share one. A group holds at most [`MAX_GROUP_OPS`]
//! operations and [`MAX_GROUP_BYTES`] of keys and values. If anything in a group fails
//! (reading the tree, the append), nothing of it is written and every promise of the group
//! rejects with that error.
//!
//! Operations with `cas`, and every operation of a bee opened with `alwaysDuplicate: false`,
//! run alone (a vetoed write leaves marks a separate call would not). Batches
//! (`db.batch()`) and `close()` take a [`WriteTicket`]: their turn comes after everything queued
//! before them, and writes queued after them wait until they drop their [`WriteTurn`].

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use futures::channel::oneshot;
use hyperwasm::bee::encoding::prefixed;
use hyperwasm::bee::{BeeError, Entry};
use js_sys::Promise;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{spawn_local, JsFuture};

use crate::bee_codec::Codecs;
use crate::error::closed;
use crate::hyperbee::{bee_error, CasCall, Opening, Root};

/// Most operations in one group commit.
pub const MAX_GROUP_OPS: usize = 4096;

/// Most key and value bytes in one group commit (an operation larger than this goes alone).
pub const MAX_GROUP_BYTES: usize = 8 << 20;

/// A `cas` callback with what it needs to build its arguments.
pub(crate) struct CasArgs {
    pub(crate) f: js_sys::Function,
    pub(crate) codecs: Codecs,
    pub(crate) key: JsValue,
    pub(crate) value: JsValue,
}

/// One queued `put` or `del`.
pub(crate) struct WriteOp {
    /// The handle it was called on (main bee, sub, checkout).
    pub(crate) bee: Opening,
    /// Encoded key, without the sub prefix.
    pub(crate) key: Vec<u8>,
    /// Encoded value (`None`: a put without value).
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) del: bool,
    pub(crate) cas: Option<CasArgs>,
    pub(crate) done: oneshot::Sender<Result<(), JsValue>>,
}

impl WriteOp {
    fn bytes(&self) -> usize {
        self.key.len() + self.value.as_ref().map_or(0, Vec::len)
    }
}

enum Job {
    Write(WriteOp),
    /// An exclusive turn: the drainer sends `go`, then waits until `done` is dropped.
    Barrier {
        go: oneshot::Sender<()>,
        done: oneshot::Receiver<()>,
    },
}

/// A place in the write order for a batch or `close()` (see the module docs).
pub(crate) struct WriteTicket {
    go: oneshot::Receiver<()>,
    done: oneshot::Sender<()>,
}

/// Held while a batch (or `close()`) has its turn; dropping it lets later writes run.
pub(crate) struct WriteTurn {
    _done: oneshot::Sender<()>,
}

impl WriteTicket {
    /// Resolves once every write queued before this ticket is done.
    pub(crate) async fn wait(self) -> WriteTurn {
        let _ = self.go.await;
        WriteTurn { _done: self.done }
    }
}

/// The queue and its drainer's state.
#[derive(Default)]
pub(crate) struct Writer {
    queue: RefCell<VecDeque<Job>>,
    draining: Cell<bool>,
    /// How many appends the queue's writes used (group commits and lone writes).
    pub(crate) appends: Cell<u64>,
}

impl Root {
    fn push(self: &Rc<Self>, job: Job) {
        self.writer.queue.borrow_mut().push_back(job);
        if !self.writer.draining.replace(true) {
            spawn_local(drain(self.clone()));
        }
    }

    /// Queues a write; the promise settles once it is stored (or failed).
    pub(crate) fn write(self: &Rc<Self>, op: WriteOp) {
        self.push(Job::Write(op));
    }

    /// Takes the next place in the write order (synchronously: call order is write order).
    pub(crate) fn ticket(self: &Rc<Self>) -> WriteTicket {
        let (go_tx, go_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        self.push(Job::Barrier { go: go_tx, done: done_rx });
        WriteTicket { go: go_rx, done: done_tx }
    }
}

/// Lets every task already woken run first (more writes can queue up meanwhile).
async fn yield_now() {
    let _ = JsFuture::from(Promise::resolve(&JsValue::UNDEFINED)).await;
}

async fn drain(root: Rc<Root>) {
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            yield_now().await;
        }
        let (group, barrier) = {
            let mut q = root.writer.queue.borrow_mut();
            let mut group: Vec<WriteOp> = Vec::new();
            let mut bytes = 0;
            let groupable = root.opts.always_duplicate;
            while let Some(Job::Write(op)) = q.front() {
                let alone = op.cas.is_some() || !groupable;
                if !group.is_empty()
                    && (alone || group.len() >= MAX_GROUP_OPS || bytes + op.bytes() > MAX_GROUP_BYTES)
                {
                    break;
                }
                let Some(Job::Write(op)) = q.pop_front() else { unreachable!("front is a write") };
                bytes += op.bytes();
                group.push(op);
                if alone {
                    break;
                }
            }
            let barrier = if group.is_empty() { q.pop_front() } else { None };
            (group, barrier)
        };
        if !group.is_empty() {
            run_group(&root, group).await;
            continue;
        }
        match barrier {
            Some(Job::Barrier { go, done }) => {
                if go.send(()).is_ok() {
                    let _ = done.await;
                }
            }
            Some(Job::Write(_)) => unreachable!("writes are taken above"),
            None => {
                root.writer.draining.set(false);
                return;
            }
        }
    }
}

/// Runs one group: a lone `cas` write, or plain writes in one separate-blocks batch.
async fn run_group(root: &Rc<Root>, group: Vec<WriteOp>) {
    if let Err(e) = root.check_open() {
        for op in group {
            let _ = op.done.send(Err(e.clone()));
        }
        return;
    }
    if group.len() == 1 && (group[0].cas.is_some() || !root.opts.always_duplicate) {
        let mut group = group;
        let op = group.pop().expect("one op");
        let r = run_alone(root, &op).await;
        let _ = op.done.send(r);
        return;
    }
    // Resolve each op's handle (a sub's prefix, a checkout's refusal) first.
    let mut ready = Vec::with_capacity(group.len());
    for op in group {
        match op.bee.clone().await {
            Ok(bee) if bee.is_checkout() || bee.options().readonly => {
                let _ = op.done.send(Err(bee_error(&BeeError::ReadOnly)));
            }
            Ok(bee) => {
                let key = prefixed(bee.prefix(), &op.key);
                ready.push((op, key));
            }
            Err(e) => {
                let _ = op.done.send(Err(e));
            }
        }
    }
    if ready.is_empty() {
        return;
    }
    let result = async {
        let main = root.main.clone().await?;
        let mut batch = main.batch().await.map_err(|e| bee_error(&e))?;
        batch.separate_blocks();
        for (op, key) in &ready {
            if op.del {
                batch.del_with(key, None).await.map_err(|e| bee_error(&e))?;
            } else {
                batch.put_with(key, op.value.as_deref(), None).await.map_err(|e| bee_error(&e))?;
            }
        }
        if !batch.is_empty() {
            root.writer.appends.set(root.writer.appends.get() + 1);
        }
        batch.flush().await.map_err(|e| bee_error(&e))
    }
    .await;
    root.refresh().await;
    for (op, _) in ready {
        let _ = op.done.send(result.clone());
    }
}

/// A write on its own handle (with its `cas`), as `Hyperbee::put_with` / `del_with` do it.
async fn run_alone(root: &Rc<Root>, op: &WriteOp) -> Result<(), JsValue> {
    let bee = op.bee.clone().await?;
    if root.check_open().is_err() {
        return Err(closed());
    }
    let before = root.core.head.borrow().length;
    let r = match &op.cas {
        Some(c) => {
            let call = CasCall {
                f: &c.f,
                codecs: &c.codecs,
                key: &c.key,
                value: &c.value,
                error: RefCell::new(None),
            };
            let check = |p: &Entry, n: &Entry| call.call(p, n);
            let r = if op.del {
                bee.del_with(&op.key, Some(&check)).await
            } else {
                bee.put_with(&op.key, op.value.as_deref(), Some(&check)).await
            };
            // An exception in cas (or a promise answer) is the error of this write.
            match call.take_error() {
                Ok(()) => r,
                Err(e) => {
                    root.refresh().await;
                    return Err(e);
                }
            }
        }
        None if op.del => bee.del_with(&op.key, None).await,
        None => bee.put_with(&op.key, op.value.as_deref(), None).await,
    };
    root.refresh().await;
    if root.core.head.borrow().length != before {
        root.writer.appends.set(root.writer.appends.get() + 1);
    }
    r.map(|_| ()).map_err(|e| bee_error(&e))
}
