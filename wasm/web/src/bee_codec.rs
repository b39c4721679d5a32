//! Key and value encodings of the JS `Hyperbee` class, as JS `codecs` does them:
//!
//! | name | encode(v) | decode(bytes) |
//! |---|---|---|
//! | `binary` (default), `buffer` | `Uint8Array` as is; a string as UTF-8 | `Uint8Array` |
//! | `utf-8`, `utf8` | a string as UTF-8 (a `Uint8Array` as is) | `string` |
//! | `json` | UTF-8 of the page's own `JSON.stringify(v)` | `JSON.parse(text)` |
//! | `{ encode, decode }` | `encode(v)` must return a `Uint8Array` | `decode(Uint8Array)` |
//!
//! JSON goes through the page's `JSON.stringify` / `JSON.parse` (not a Rust JSON library) so
//! the bytes are exactly what JS hyperbee writes for the same value (number formatting, key
//! order, escapes).

use js_sys::{Function, Reflect, Uint8Array, JSON};
use wasm_bindgen::{JsCast, JsValue};

use crate::error::bad_argument;

/// One encoding (JS `codecs(name)`).
#[derive(Clone, Debug)]
pub enum Codec {
    /// Bytes as they are.
    Binary,
    /// UTF-8 text.
    Utf8,
    /// JSON text (through `JSON.stringify` / `JSON.parse`).
    Json,
    /// A user codec object with `encode(value) → Uint8Array` and `decode(Uint8Array)`.
    Custom {
        /// The codec object, `this` of the calls.
        this: JsValue,
        /// Its `encode`.
        encode: Function,
        /// Its `decode`.
        decode: Function,
    },
}

/// The key and value encodings of one bee handle.
#[derive(Clone, Debug)]
pub struct Codecs {
    /// For keys (and range bounds).
    pub key: Codec,
    /// For values.
    pub value: Codec,
}

impl Default for Codecs {
    fn default() -> Self {
        Codecs { key: Codec::Binary, value: Codec::Binary }
    }
}

impl Codecs {
    /// These codecs with `opts.keyEncoding` / `opts.valueEncoding` applied where given.
    pub fn with(&self, opts: &JsValue) -> Result<Codecs, JsValue> {
        Ok(Codecs {
            key: Codec::parse(&field(opts, "keyEncoding"))?.unwrap_or_else(|| self.key.clone()),
            value: Codec::parse(&field(opts, "valueEncoding"))?.unwrap_or_else(|| self.value.clone()),
        })
    }
}

/// `opts[name]`, `undefined` when `opts` is not an object.
pub fn field(opts: &JsValue, name: &str) -> JsValue {
    if opts.is_object() {
        Reflect::get(opts, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// Whether `v` is `undefined` or `null`.
pub fn absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

/// A `Uint8Array` or a string (as UTF-8), as JS `b4a.from` takes them.
pub fn bytes_or_string(v: &JsValue, what: &str) -> Result<Vec<u8>, JsValue> {
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        Ok(a.to_vec())
    } else if let Some(s) = v.as_string() {
        Ok(s.into_bytes())
    } else if let Some(b) = v.dyn_ref::<js_sys::ArrayBuffer>() {
        Ok(Uint8Array::new(b).to_vec())
    } else {
        Err(bad_argument(&format!("{what} must be a Uint8Array or a string")))
    }
}

impl Codec {
    /// `undefined`/`null` → `None` (inherit); a name; or an `{ encode, decode }` object.
    pub fn parse(v: &JsValue) -> Result<Option<Codec>, JsValue> {
        if absent(v) {
            return Ok(None);
        }
        if let Some(name) = v.as_string() {
            return match name.as_str() {
                "binary" | "buffer" => Ok(Some(Codec::Binary)),
                "utf-8" | "utf8" | "string" => Ok(Some(Codec::Utf8)),
                "json" => Ok(Some(Codec::Json)),
                _ => Err(bad_argument(&format!(
                    "unknown encoding '{name}' (binary, utf-8 and json are built in; pass {{ encode, decode }} for others)"
                ))),
            };
        }
        let encode = field(v, "encode").dyn_into::<Function>();
        let decode = field(v, "decode").dyn_into::<Function>();
        match (encode, decode) {
            (Ok(encode), Ok(decode)) => Ok(Some(Codec::Custom { this: v.clone(), encode, decode })),
            _ => Err(bad_argument("an encoding is a name or an object with encode and decode functions")),
        }
    }

    /// The bytes of `v` (`what` names it in errors: "key", "value").
    pub fn encode(&self, v: &JsValue, what: &str) -> Result<Vec<u8>, JsValue> {
        match self {
            Codec::Binary | Codec::Utf8 => bytes_or_string(v, what),
            Codec::Json => {
                let text = JSON::stringify(v).map_err(|e| encoding_error(what, &e))?;
                text.as_string().map(String::into_bytes).ok_or_else(|| {
                    bad_argument(&format!("{what} has no JSON form (JSON.stringify returned undefined)"))
                })
            }
            Codec::Custom { this, encode, .. } => {
                let out = encode.call1(this, v).map_err(|e| encoding_error(what, &e))?;
                bytes_or_string(&out, &format!("the encoding's encode({what})"))
            }
        }
    }

    /// The JS value of stored bytes.
    pub fn decode(&self, bytes: &[u8]) -> Result<JsValue, JsValue> {
        match self {
            Codec::Binary => Ok(Uint8Array::from(bytes).into()),
            Codec::Utf8 => Ok(JsValue::from_str(&String::from_utf8_lossy(bytes))),
            Codec::Json => JSON::parse(&String::from_utf8_lossy(bytes)).map_err(|e| decoding_error(&e)),
            Codec::Custom { this, decode, .. } => {
                decode.call1(this, &Uint8Array::from(bytes).into()).map_err(|e| decoding_error(&e))
            }
        }
    }
}

fn message_of(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_default()
}

fn encoding_error(what: &str, e: &JsValue) -> JsValue {
    bad_argument(&format!("cannot encode the {what}: {}", message_of(e)))
}

fn decoding_error(e: &JsValue) -> JsValue {
    crate::error::js_error("DECODING_ERROR", &format!("DECODING_ERROR: {}", message_of(e)))
}

#[wasm_bindgen::prelude::wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** A key or value encoding: a built-in name or a codec object. */
export type HyperbeeEncoding =
  | 'binary' | 'buffer' | 'utf-8' | 'utf8' | 'string' | 'json'
  | { encode(value: any): Uint8Array | string, decode(bytes: Uint8Array): any };
export interface HyperbeeEncodingOptions { keyEncoding?: HyperbeeEncoding, valueEncoding?: HyperbeeEncoding }
export interface HyperbeeOptions extends HyperbeeEncodingOptions {
  metadata?: { contentFeed?: Uint8Array | null, userData?: Uint8Array | null },
  readonly?: boolean, sep?: Uint8Array | string, alwaysDuplicate?: boolean, wait?: boolean, cacheBytes?: number
}
/** `wait: false`: fail with BLOCK_NOT_AVAILABLE instead of fetching from peers; `update: false`: do not wait for a replica's connections to catch up first. */
export interface HyperbeeGetOptions extends HyperbeeEncodingOptions { wait?: boolean, update?: boolean }
export interface HyperbeeEntry { seq: number, key: any, value: any }
export interface HyperbeePutOptions extends HyperbeeEncodingOptions {
  cas?: (prev: HyperbeeEntry, next: HyperbeeEntry) => boolean
}
export interface HyperbeeSubOptions extends HyperbeeEncodingOptions { sep?: Uint8Array | string }
export interface HyperbeeRange { gt?: any, gte?: any, lt?: any, lte?: any, reverse?: boolean, limit?: number }
export interface HyperbeeHistoryOptions extends HyperbeeEncodingOptions {
  gt?: number, gte?: number, lt?: number, lte?: number, since?: number, end?: number,
  reverse?: boolean, limit?: number, live?: boolean
}
"#;
