//! A diff against a handle pinned to a fork the core has left reads that handle's snapshot
//! (JS `createDiffStream(otherBee)`): after a truncation it fails with
//! `SNAPSHOT_NOT_AVAILABLE` instead of silently diffing against the new fork.
#![allow(clippy::unwrap_used, missing_docs)]
mod bee_support;
use bee_support::*;
use hyperwasm::bee::RangeOptions;

#[test]
fn diff_with_a_handle_of_a_left_fork_is_snapshot_not_available() {
    now(async {
        let bee = bee_of(&[header()]).await;
        bee.put(b"k", b"old").await.unwrap();
        let previous = bee.snapshot().await; // version 2, fork 0
        bee.core().truncate(1).await.unwrap();
        bee.put(b"k", b"new").await.unwrap(); // version 2 again, fork 1
        let current = bee.snapshot().await;
        let err = current.diff_with(&previous, RangeOptions::default()).next().await.unwrap_err();
        assert_eq!(err.code(), "SNAPSHOT_NOT_AVAILABLE", "{err}");
        let err = previous.get(b"k").await.unwrap_err();
        assert_eq!(err.code(), "SNAPSHOT_NOT_AVAILABLE", "{err}");
        // A per-call no-wait view keeps the checkout's fork.
        let err = previous.with_wait(false).get(b"k").await.unwrap_err();
        assert_eq!(err.code(), "SNAPSHOT_NOT_AVAILABLE", "{err}");
    });
}
