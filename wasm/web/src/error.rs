//! Rust errors → JS `Error` objects carrying hypercore's `err.code`.
//!
//! Every promise the exported classes reject is rejected with a real `Error` (so stack traces
//! and `instanceof Error` work) whose `.code` is [`HypercoreError::code`], the same string JS
//! hypercore would throw (`SESSION_NOT_WRITABLE`, `BAD_ARGUMENT`, `SESSION_CLOSED`, …).

use hyperwasm::core::HypercoreError;
use hyperwasm::storage::StorageError;
use wasm_bindgen::JsValue;

/// A JS `Error` with `message` and `.code = code`.
pub fn js_error(code: &str, message: &str) -> JsValue {
    let err = js_sys::Error::new(message);
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&err, &JsValue::from_str("code"), &JsValue::from_str(code));
    err.into()
}

/// A [`HypercoreError`] as a JS `Error` with `.code` = [`HypercoreError::code`].
pub fn core_error(e: &HypercoreError) -> JsValue {
    js_error(e.code(), &format!("{}: {e}", e.code()))
}

/// A [`StorageError`] as a JS `Error` (through [`HypercoreError::Storage`], same code).
pub fn storage_error(e: StorageError) -> JsValue {
    core_error(&HypercoreError::Storage(e))
}

/// `BAD_ARGUMENT` for malformed arguments coming from JS.
pub fn bad_argument(message: &str) -> JsValue {
    core_error(&HypercoreError::BadArgument(message.to_string()))
}

/// `SESSION_CLOSED` for calls after `close()`.
pub fn closed() -> JsValue {
    core_error(&HypercoreError::Storage(StorageError::Closed))
}
