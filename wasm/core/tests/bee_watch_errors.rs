//! An `EntryWatcher` whose read fails reports each failing version once: the next
//! `changed()` waits for a new change instead of failing again at once (a JS `getAndWatch`
//! loop emitting errors would otherwise spin and freeze a tab). Found by review.
#![allow(clippy::unwrap_used, missing_docs)]
mod bee_support;
use bee_support::*;
use futures::FutureExt;

#[test]
fn entry_watcher_reports_an_invalid_root_once() {
    now(async {
        let bee = bee_of(&[header()]).await;
        bee.put(b"a", b"1").await.unwrap();
        let mut w = bee.get_and_watch(b"a").await.unwrap();
        // A writer appends a block whose root level is impossible (key seq beyond itself).
        bee.core().append(&block(b"z", Some(b"v"), vec![level(&[99], &[])])).await.unwrap();
        assert_eq!(w.changed().await.unwrap_err().code(), "DECODING_ERROR");
        for i in 0..5 {
            assert!(w.changed().now_or_never().is_none(), "call {i} failed again without a new change");
        }
    });
}

#[test]
fn entry_watcher_reports_a_missing_block_once_with_wait_false() {
    use hyperwasm::bee::{BeeOptions, Hyperbee};
    now(async {
        let writer = bee_of(&[header()]).await;
        writer.put(b"a", b"1").await.unwrap();
        let bee = Hyperbee::open(writer.core().clone(), BeeOptions { wait: false, ..BeeOptions::default() })
            .await
            .unwrap();
        let mut w = bee.get_and_watch(b"a").await.unwrap();
        writer.put(b"b", b"2").await.unwrap();
        // The new root block is not local (as on a sparse replica after a remote append).
        writer.core().clear(2, 3).await.unwrap();
        assert_eq!(w.changed().now_or_never().unwrap().unwrap_err().code(), "BLOCK_NOT_AVAILABLE");
        for i in 0..5 {
            assert!(w.changed().now_or_never().is_none(), "call {i} failed again without a new change");
        }
    });
}
