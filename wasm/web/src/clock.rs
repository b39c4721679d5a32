//! Time for the browser: a monotonic millisecond clock (`performance.now()`) and timers
//! (`setTimeout` as a future), the [`Clock`] a replication connection runs on.
//!
//! Both are bound as *globals*, so they work in a window and in a worker alike.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::oneshot;
use hyperwasm::replicator::Clock;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;

    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, ms: i32) -> JsValue;

    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// Longest single `setTimeout` delay (browsers fire at once above 2^31 - 1 ms).
const MAX_TIMEOUT_MS: u64 = i32::MAX as u64;

/// The browser [`Clock`]: `performance.now()` and `setTimeout`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrowserClock;

impl BrowserClock {
    /// Milliseconds since the page (or worker) started; monotonic.
    pub fn now() -> u64 {
        let now = performance_now();
        if now.is_finite() && now > 0.0 {
            now as u64
        } else {
            0
        }
    }
}

impl Clock for BrowserClock {
    type Sleep = Sleep;

    fn now_ms(&self) -> u64 {
        BrowserClock::now()
    }

    fn sleep(&self, ms: u64) -> Sleep {
        sleep(ms)
    }
}

/// A `setTimeout` as a future: resolves after (at least) `ms` milliseconds. Dropping it
/// clears the timer.
pub fn sleep(ms: u64) -> Sleep {
    let (tx, rx) = oneshot::channel::<()>();
    let callback = Closure::once(move || {
        let _ = tx.send(());
    });
    let delay = i32::try_from(ms.min(MAX_TIMEOUT_MS)).unwrap_or(i32::MAX);
    let id = set_timeout(callback.as_ref().unchecked_ref(), delay);
    Sleep { rx, id, _callback: callback }
}

/// The future of [`sleep`].
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    rx: oneshot::Receiver<()>,
    id: JsValue,
    /// Kept alive until the timer fired or was cleared.
    _callback: Closure<dyn FnMut()>,
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep").field("id", &self.id).finish()
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // The sender lives in the callback, which this future keeps alive: `Canceled`
        // cannot happen, and would mean "fired" anyway.
        Pin::new(&mut self.rx).poll(cx).map(|_| ())
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        // Clearing a timer that already fired is a no-op; after this the callback can no
        // longer be called, so dropping it is safe.
        clear_timeout(&self.id);
    }
}
