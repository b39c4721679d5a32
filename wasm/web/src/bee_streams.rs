//! The read streams of the JS `Hyperbee` class (`createReadStream`, `peek`,
//! `createHistoryStream`, `createDiffStream`): JS options → the Rust iterators
//! ([`hyperwasm::bee`]`::iterators`), their entries → JS objects, served by
//! [`HyperbeeIterator`](crate::bee_iterators::JsBeeIterator).

use futures::{StreamExt, TryFutureExt};
use hyperwasm::bee::{DiffEntry, HistoryEntry, HistoryKind, HistoryOptions, RangeOptions};
use js_sys::{Object, Promise};
use wasm_bindgen::prelude::*;

use crate::bee_codec::{absent, field, Codec, Codecs};
use crate::bee_iterators::{JsBeeIterator, JsStream};
use crate::error::bad_argument;
use crate::hyperbee::{bee_error, encode_bound, entry_object, Handle, JsHyperbee};

/// JS `{ ...opts, ...range }` (range fields win), as hyperbee merges its two arguments.
pub(crate) fn merge(range: &JsValue, opts: &JsValue) -> JsValue {
    let out = Object::new();
    for src in [opts, range] {
        if src.is_object() {
            let _ = Object::assign(&out, &Object::from(src.clone()));
        }
    }
    out.into()
}

/// `limit`: a non-negative number, or none (absent or negative: JS's -1).
fn limit_of(opts: &JsValue) -> Result<Option<usize>, JsValue> {
    let v = field(opts, "limit");
    if absent(&v) {
        return Ok(None);
    }
    let n = v.as_f64().ok_or_else(|| bad_argument("limit must be a number"))?;
    Ok((n >= 0.0).then_some(n as usize))
}

/// `{ gt, gte, lt, lte, reverse, limit }` with bounds through the key encoding.
pub(crate) fn range_options(key: &Codec, opts: &JsValue) -> Result<RangeOptions, JsValue> {
    Ok(RangeOptions {
        gt: encode_bound(key, opts, "gt")?,
        gte: encode_bound(key, opts, "gte")?,
        lt: encode_bound(key, opts, "lt")?,
        lte: encode_bound(key, opts, "lte")?,
        reverse: field(opts, "reverse").is_truthy(),
        limit: limit_of(opts)?,
    })
}

/// History bounds: integers (negative = relative to the version); `since`/`end` are JS's
/// aliases of `gte`/`lt`.
fn history_options(opts: &JsValue) -> Result<HistoryOptions, JsValue> {
    let int = |name: &str| -> Result<Option<i64>, JsValue> {
        let v = field(opts, name);
        if absent(&v) {
            return Ok(None);
        }
        let n = v.as_f64().ok_or_else(|| bad_argument(&format!("{name} must be a number")))?;
        if n.fract() != 0.0 || !n.is_finite() {
            return Err(bad_argument(&format!("{name} must be an integer")));
        }
        Ok(Some(n as i64))
    };
    Ok(HistoryOptions {
        gt: int("gt")?,
        gte: int("gte")?.or(int("since")?),
        lt: int("lt")?.or(int("end")?),
        lte: int("lte")?,
        reverse: field(opts, "reverse").is_truthy(),
        limit: limit_of(opts)?,
        live: field(opts, "live").is_truthy(),
    })
}

fn history_object(e: &HistoryEntry, codecs: &Codecs) -> Result<JsValue, JsValue> {
    let kind = match e.kind {
        HistoryKind::Put => "put",
        HistoryKind::Del => "del",
    };
    let value = match &e.value {
        Some(v) => codecs.value.decode(v)?,
        None => JsValue::NULL,
    };
    Ok(crate::hyperbee::js::history(kind, e.seq as f64, &codecs.key.decode(&e.key)?, &value))
}

fn diff_object(e: &DiffEntry, codecs: &Codecs) -> Result<JsValue, JsValue> {
    let side = |x: &Option<hyperwasm::bee::Entry>| match x {
        Some(e) => entry_object(e, codecs, true),
        None => Ok(JsValue::NULL),
    };
    Ok(crate::hyperbee::js::diff(&side(&e.left)?, &side(&e.right)?))
}

impl JsHyperbee {
    fn stream_of<F>(h: &Handle, opts: JsValue, make: F) -> JsValue
    where
        F: FnOnce(crate::hyperbee::Bee) -> JsStream + 'static,
    {
        let h = h.clone();
        let stream = async move {
            let bee = h.reader_bee(&opts).await?;
            Ok::<_, JsValue>(make(bee))
        }
        .try_flatten_stream()
        .boxed_local();
        JsBeeIterator::js(stream)
    }
}

#[wasm_bindgen(js_class = Hyperbee)]
impl JsHyperbee {
    /// Entries in key order: `{ seq, key, value }`. `range`: `{ gt, gte, lt, lte, reverse,
    /// limit }` (keys in the key encoding); `opts`: `{ keyEncoding, valueEncoding, wait }`.
    /// An async iterator (`for await`); nothing is read before the first `next()`.
    #[wasm_bindgen(js_name = createReadStream, unchecked_return_type = "HyperbeeIterator")]
    pub fn create_read_stream(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeRange")] range: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeGetOptions")] opts: JsValue,
    ) -> Result<JsValue, JsValue> {
        let opts = merge(&range, &opts);
        let codecs = self.h.codecs.with(&opts)?;
        let ro = range_options(&codecs.key, &opts)?;
        Ok(Self::stream_of(&self.h, opts, move |bee| {
            bee.range(ro)
                .into_stream()
                .map(move |r| r.map_err(|e| bee_error(&e)).and_then(|e| entry_object(&e, &codecs, true)))
                .boxed_local()
        }))
    }

    /// The first entry of `range` (`{ seq, key, value }`), or `null`.
    #[wasm_bindgen(unchecked_return_type = "Promise<{ seq: number, key: any, value: any } | null>")]
    pub fn peek(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeRange")] range: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeGetOptions")] opts: JsValue,
    ) -> Promise {
        let h = self.h.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let opts = merge(&range, &opts);
            let codecs = h.codecs.with(&opts)?;
            let ro = range_options(&codecs.key, &opts)?;
            let bee = h.reader_bee(&opts).await?;
            match bee.peek(ro).await.map_err(|e| bee_error(&e))? {
                Some(e) => entry_object(&e, &codecs, true),
                None => Ok(JsValue::NULL),
            }
        })
    }

    /// Every put and deletion by seq: `{ type: 'put' | 'del', seq, key, value }`. `opts`:
    /// `{ gt, gte, lt, lte (seqs; negative = from the version), reverse, limit, live,
    /// keyEncoding, valueEncoding }`. `live` keeps following appends.
    #[wasm_bindgen(js_name = createHistoryStream, unchecked_return_type = "HyperbeeIterator")]
    pub fn create_history_stream(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeHistoryOptions")] opts: JsValue,
    ) -> Result<JsValue, JsValue> {
        let codecs = self.h.codecs.with(&opts)?;
        let ho = history_options(&opts)?;
        if ho.live && ho.reverse {
            return Err(bad_argument("Cannot have both live and reverse enabled"));
        }
        Ok(Self::stream_of(&self.h, opts, move |bee| {
            bee.history(ho)
                .into_stream()
                .map(move |r| r.map_err(|e| bee_error(&e)).and_then(|e| history_object(&e, &codecs)))
                .boxed_local()
        }))
    }

    /// What differs between this bee (left) and version `other` (right; a number or another
    /// Hyperbee handle, whose version is used): `{ left, right }` entries (null where a side
    /// has no such key), in key order. `range` as for `createReadStream`.
    #[wasm_bindgen(js_name = createDiffStream, unchecked_return_type = "HyperbeeIterator")]
    pub fn create_diff_stream(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number | Hyperbee")] other: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeRange")] range: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "HyperbeeGetOptions")] opts: JsValue,
    ) -> Result<JsValue, JsValue> {
        let opts = merge(&range, &opts);
        let codecs = self.h.codecs.with(&opts)?;
        let ro = range_options(&codecs.key, &opts)?;
        let to_js = move |r: Result<DiffEntry, hyperwasm::bee::BeeError>| {
            r.map_err(|e| bee_error(&e)).and_then(|e| diff_object(&e, &codecs))
        };
        if let Some(v) = other.as_f64() {
            let version = crate::hypercore::uint(v, "version")?.max(1);
            return Ok(Self::stream_of(&self.h, opts, move |bee| {
                bee.diff(version, ro).into_stream().map(to_js).boxed_local()
            }));
        }
        // Another Hyperbee: diff against that very handle (its version on its fork, as JS
        // `createDiffStream(otherBee)`), not a new checkout of its version.
        let other = crate::hyperbee::opening_of(&other)
            .ok_or_else(|| bad_argument("createDiffStream needs a version number or a Hyperbee"))?;
        let h = self.h.clone();
        let stream = async move {
            let bee = h.reader_bee(&opts).await?;
            let other = other.await?;
            Ok::<_, JsValue>(bee.diff_with(&other, ro).into_stream().map(to_js).boxed_local())
        }
        .try_flatten_stream()
        .boxed_local();
        Ok(JsBeeIterator::js(stream))
    }
}
