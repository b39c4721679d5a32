//! Range, peek, history and diff reads of a plan (see `runPlan` in `tests/js/lib/bee-ops.mjs`).
use futures::StreamExt;
use hyperwasm::bee::{HistoryKind, HistoryOptions, RangeOptions};
use serde_json::{json, Map, Value};

use super::{entry_json, list, opt_entry_json, opt_unhex, Bee};

/// JS `rangeOpts`: hex bounds, `reverse`, `limit`.
fn range_opts(r: &Value) -> RangeOptions {
    RangeOptions {
        gt: opt_unhex(&r["gt"]),
        gte: opt_unhex(&r["gte"]),
        lt: opt_unhex(&r["lt"]),
        lte: opt_unhex(&r["lte"]),
        reverse: r["reverse"].as_bool().unwrap_or(false),
        limit: r["limit"].as_u64().map(|l| l as usize),
    }
}

/// JS `historyOpts`: seq bounds, `reverse`, `limit`.
fn history_opts(h: &Value) -> HistoryOptions {
    HistoryOptions {
        gt: h["gt"].as_i64(),
        gte: h["gte"].as_i64(),
        lt: h["lt"].as_i64(),
        lte: h["lte"].as_i64(),
        reverse: h["reverse"].as_bool().unwrap_or(false),
        limit: h["limit"].as_u64().map(|l| l as usize),
        live: false,
    }
}

/// The items of a stream as JSON, or `{"error"}` at the first error.
async fn collect<T>(
    s: impl futures::Stream<Item = Result<T, hyperwasm::bee::BeeError>>,
    f: impl Fn(T) -> Value,
) -> Value {
    let mut s = std::pin::pin!(s);
    let mut out = Vec::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(x) => out.push(f(x)),
            Err(e) => return json!({ "error": e.to_string() }),
        }
    }
    Value::Array(out)
}

pub(super) async fn reads(bee: &Bee, plan: &Value, out: &mut Map<String, Value>) {
    if let Some(rs) = list(plan, "ranges") {
        let mut v = Vec::new();
        for r in rs {
            v.push(collect(bee.range(range_opts(r)).into_stream(), |e| entry_json(&e)).await);
        }
        out.insert("ranges".into(), Value::Array(v));
    }
    if let Some(rs) = list(plan, "peeks") {
        let mut v = Vec::new();
        for r in rs {
            let got = bee.peek(range_opts(r)).await;
            v.push(got.map_or_else(|e| json!({ "error": e.to_string() }), |e| opt_entry_json(e.as_ref())));
        }
        out.insert("peeks".into(), Value::Array(v));
    }
    if let Some(hs) = list(plan, "history") {
        let mut v = Vec::new();
        for h in hs {
            v.push(
                collect(bee.history(history_opts(h)).into_stream(), |e| {
                    let kind = if e.kind == HistoryKind::Del { "del" } else { "put" };
                    let entry = hyperwasm::bee::Entry { seq: e.seq, key: e.key, value: e.value };
                    let mut j = entry_json(&entry);
                    j["type"] = json!(kind);
                    j
                })
                .await,
            );
        }
        out.insert("history".into(), Value::Array(v));
    }
    if let Some(ds) = list(plan, "diffs") {
        let mut v = Vec::new();
        for d in ds {
            let other = d["version"].as_u64().unwrap_or(1);
            let s = bee.diff(other, range_opts(&d["range"])).into_stream();
            v.push(
                collect(s, |d| json!({ "left": opt_entry_json(d.left.as_ref()), "right": opt_entry_json(d.right.as_ref()) }))
                    .await,
            );
        }
        out.insert("diffs".into(), Value::Array(v));
    }
}
