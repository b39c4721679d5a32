//! Key and value encodings (JS `codecs`: `binary`, `utf-8`, `json`) and the sub-database key
//! prefix (JS `prefixEncoding`, `encRange`).
//!
//! The Rust API of [`super::Hyperbee`] takes and returns bytes; these turn strings and JSON
//! into the bytes JS writes. JSON is encoded with `serde_json` (compact, like
//! `JSON.stringify`); numbers that are not integers may print differently from JS (`1.0` vs
//! `1`), so the browser binding encodes JSON with the page's own `JSON.stringify`.

use super::errors::BeeError;

/// A JS `codecs` encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// Bytes as they are (`binary`, the default).
    #[default]
    Binary,
    /// UTF-8 text (`utf-8`, `utf8`).
    Utf8,
    /// JSON text in UTF-8 (`json`).
    Json,
}

/// A value in one of the [`Encoding`]s.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// Text.
    Text(String),
    /// A JSON value.
    Json(serde_json::Value),
}

impl Encoding {
    /// The encoding JS `codecs(name)` picks for `name` (`None` for names we do not support).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "binary" | "buffer" => Some(Encoding::Binary),
            "utf-8" | "utf8" | "string" => Some(Encoding::Utf8),
            "json" => Some(Encoding::Json),
            _ => None,
        }
    }

    /// Encodes `value` (which must match the encoding; text is accepted by every encoding as
    /// JS `enc()` accepts strings).
    pub fn encode(&self, value: &Value) -> Result<Vec<u8>, BeeError> {
        match (self, value) {
            (Encoding::Json, v) => {
                let json = match v {
                    Value::Json(j) => j.clone(),
                    Value::Text(t) => serde_json::Value::String(t.clone()),
                    Value::Bytes(_) => return Err(BeeError::Encoding("json encoding of raw bytes".into())),
                };
                serde_json::to_vec(&json).map_err(|e| BeeError::Encoding(e.to_string()))
            }
            (_, Value::Bytes(b)) => Ok(b.clone()),
            (_, Value::Text(t)) => Ok(t.as_bytes().to_vec()),
            (_, Value::Json(_)) => Err(BeeError::Encoding("a JSON value needs the json encoding".into())),
        }
    }

    /// Decodes stored bytes.
    pub fn decode(&self, bytes: &[u8]) -> Result<Value, BeeError> {
        match self {
            Encoding::Binary => Ok(Value::Bytes(bytes.to_vec())),
            Encoding::Utf8 => Ok(Value::Text(String::from_utf8_lossy(bytes).into_owned())),
            Encoding::Json => serde_json::from_slice(bytes)
                .map(Value::Json)
                .map_err(|e| BeeError::Encoding(format!("invalid JSON: {e}"))),
        }
    }
}

/// The prefix of sub-database `name` under `parent` (JS `sub`: `parent ‖ name ‖ sep`).
pub fn sub_prefix(parent: &[u8], name: &[u8], sep: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(parent.len() + name.len() + sep.len());
    p.extend_from_slice(parent);
    p.extend_from_slice(name);
    p.extend_from_slice(sep);
    p
}

/// `prefix ‖ key`.
pub fn prefixed(prefix: &[u8], key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + key.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(key);
    k
}

/// The key without the sub prefix (JS `prefixEncoding.decode`: slices the prefix length off).
pub fn strip_prefix<'a>(prefix: &[u8], key: &'a [u8]) -> &'a [u8] {
    key.get(prefix.len()..).unwrap_or_default()
}

/// A range's bounds, encoded (JS `encRange`): for a sub without a lower bound, `gt = prefix ‖
/// 0x00` (JS `enc(e, SEP)` through the prefix encoding); without an upper bound, `lt = prefix`
/// with its last byte incremented (JS `bump(enc(e, EMPTY))`, a byte 0xff wraps to 0x00).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodedRange {
    /// Exclusive lower bound.
    pub gt: Option<Vec<u8>>,
    /// Inclusive lower bound.
    pub gte: Option<Vec<u8>>,
    /// Exclusive upper bound.
    pub lt: Option<Vec<u8>>,
    /// Inclusive upper bound.
    pub lte: Option<Vec<u8>>,
}

impl EncodedRange {
    /// Applies the sub prefix to user bounds (`prefix` empty for the main bee).
    pub fn new(
        prefix: &[u8],
        gt: Option<&[u8]>,
        gte: Option<&[u8]>,
        lt: Option<&[u8]>,
        lte: Option<&[u8]>,
    ) -> Self {
        let enc = |k: Option<&[u8]>| k.map(|k| prefixed(prefix, k));
        let mut r = EncodedRange { gt: enc(gt), gte: enc(gte), lt: enc(lt), lte: enc(lte) };
        if !prefix.is_empty() {
            // JS tests `!opts.gt && !opts.gte`: an empty buffer bound is still truthy.
            if r.gt.is_none() && r.gte.is_none() {
                r.gt = Some(prefixed(prefix, &[0]));
            }
            if r.lt.is_none() && r.lte.is_none() {
                let mut bumped = prefix.to_vec();
                if let Some(last) = bumped.last_mut() {
                    *last = last.wrapping_add(1);
                }
                r.lt = Some(bumped);
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip() {
        let j = Encoding::Json.encode(&Value::Json(serde_json::json!({"a": [1, "x"]}))).unwrap();
        assert_eq!(j, br#"{"a":[1,"x"]}"#);
        assert_eq!(Encoding::Json.decode(&j).unwrap(), Value::Json(serde_json::json!({"a": [1, "x"]})));
        assert_eq!(Encoding::Utf8.encode(&Value::Text("é".into())).unwrap(), "é".as_bytes());
        assert!(Encoding::Json.decode(b"{").is_err());
        assert_eq!(Encoding::from_name("utf8"), Some(Encoding::Utf8));
    }

    #[test]
    fn sub_ranges_match_js() {
        let p = sub_prefix(b"", b"a", &[0]);
        let r = EncodedRange::new(&p, None, None, None, None);
        assert_eq!(r.gt.unwrap(), b"a\0\0");
        assert_eq!(r.lt.unwrap(), b"a\x01");
        let r = EncodedRange::new(&p, None, Some(b"k"), Some(b"m"), None);
        assert_eq!(r.gte.unwrap(), b"a\0k");
        assert_eq!(r.lt.unwrap(), b"a\0m");
    }
}
