//! `MaybeSend` / `MaybeSync`: `Send`/`Sync` on native targets, nothing on wasm32, so one
//! async trait serves tokio (multi-threaded) and the browser (single-threaded, `!Send` futures).

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    /// `Send` on native targets; implemented by every type on wasm32.
    pub trait MaybeSend: Send {}
    impl<T: Send + ?Sized> MaybeSend for T {}
    /// `Sync` on native targets; implemented by every type on wasm32.
    pub trait MaybeSync: Sync {}
    impl<T: Sync + ?Sized> MaybeSync for T {}
}

#[cfg(target_arch = "wasm32")]
mod imp {
    /// `Send` on native targets; implemented by every type on wasm32.
    pub trait MaybeSend {}
    impl<T: ?Sized> MaybeSend for T {}
    /// `Sync` on native targets; implemented by every type on wasm32.
    pub trait MaybeSync {}
    impl<T: ?Sized> MaybeSync for T {}
}

pub use imp::{MaybeSend, MaybeSync};
