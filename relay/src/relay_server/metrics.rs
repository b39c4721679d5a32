//! The relay's counters and gauges, rendered as Prometheus text for `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hyperwasm::relay_protocol::messages::Message;

/// Most distinct error codes counted (codes come from our own code, but stay bounded).
const MAX_CODES: usize = 64;

/// Counters and gauges shared by every session.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Live sessions (attached or in their grace period; the caps count the same sessions).
    pub sessions: AtomicU64,
    /// Open WebSockets.
    pub sockets: AtomicU64,
    /// Live streams.
    pub streams: AtomicU64,
    /// Queries started.
    pub queries: AtomicU64,
    /// Payload bytes received from clients.
    pub bytes_in: AtomicU64,
    /// Payload bytes sent to clients.
    pub bytes_out: AtomicU64,
    /// Bytes `@hyperswarm/dht-relay` sessions queued for their clients and not yet written to
    /// their sockets (each session keeps its share bounded).
    pub js_compat_queued_bytes: AtomicU64,
    /// WebSocket upgrades refused, by reason (`origin`, `per_ip`, `sessions`, `draining`); also
    /// new sessions refused at `hello` / the JS channel's open (`per_ip`, `sessions`: the
    /// socket got in as a possible resume).
    refused: Mutex<BTreeMap<&'static str, u64>>,
    /// `error` messages sent, by code.
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// Counts an upgrade refused for `reason`.
    pub fn refuse(&self, reason: &'static str) {
        *self.refused.lock().unwrap_or_else(|e| e.into_inner()).entry(reason).or_default() += 1;
    }

    /// Counts an `error` message by its code (`payload` = the message's encoded payload).
    pub fn count_error(&self, payload: &[u8]) {
        let code = match Message::decode(hyperwasm::relay_protocol::types::ERROR, payload) {
            Ok(Message::Error { code, .. }) => code,
            _ => return,
        };
        self.count_code(&code);
    }

    /// Counts an error code.
    pub fn count_code(&self, code: &str) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = errors.get_mut(code) {
            *n += 1;
        } else if errors.len() < MAX_CODES {
            errors.insert(code.to_string(), 1);
        }
    }

    /// Prometheus text exposition (version 0.0.4).
    pub fn render(&self, dht_ready: bool) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        gauge(&mut out, "hyperwasm_relay_sessions", "Live relay sessions.", get(&self.sessions));
        gauge(&mut out, "hyperwasm_relay_sockets", "Open WebSockets.", get(&self.sockets));
        gauge(&mut out, "hyperwasm_relay_streams", "Live relayed streams.", get(&self.streams));
        gauge(
            &mut out,
            "hyperwasm_relay_dht_ready",
            "Whether the DHT node is bootstrapped.",
            u64::from(dht_ready),
        );
        gauge(
            &mut out,
            "hyperwasm_relay_js_compat_queued_bytes",
            "Bytes queued for dht-relay clients, not yet written to their sockets.",
            get(&self.js_compat_queued_bytes),
        );
        counter(&mut out, "hyperwasm_relay_queries_total", "Queries started.", get(&self.queries));
        counter(
            &mut out,
            "hyperwasm_relay_bytes_in_total",
            "Payload bytes from clients.",
            get(&self.bytes_in),
        );
        counter(
            &mut out,
            "hyperwasm_relay_bytes_out_total",
            "Payload bytes to clients.",
            get(&self.bytes_out),
        );
        let _ = writeln!(out, "# HELP hyperwasm_relay_refused_total WebSocket upgrades refused, by reason.");
        let _ = writeln!(out, "# TYPE hyperwasm_relay_refused_total counter");
        for (reason, n) in self.refused.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "hyperwasm_relay_refused_total{{reason=\"{reason}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP hyperwasm_relay_errors_total Error messages sent, by code.");
        let _ = writeln!(out, "# TYPE hyperwasm_relay_errors_total counter");
        for (code, n) in self.errors.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let code: String = code.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let _ = writeln!(out, "hyperwasm_relay_errors_total{{code=\"{code}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.sessions.store(2, Ordering::Relaxed);
        m.refuse("origin");
        m.refuse("origin");
        let (_, p) =
            Message::Error { reference: 0, code: "BAD_MESSAGE".into(), message: String::new() }.encode();
        m.count_error(&p);
        let text = m.render(true);
        assert!(text.contains("\nhyperwasm_relay_sessions 2\n"), "{text}");
        assert!(text.contains("hyperwasm_relay_dht_ready 1"));
        assert!(text.contains("hyperwasm_relay_refused_total{reason=\"origin\"} 2"));
        assert!(text.contains("hyperwasm_relay_errors_total{code=\"BAD_MESSAGE\"} 1"));
        // Every sample line is `name[{labels}] value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = line.rsplit_once(' ').unwrap_or(("", ""));
            assert!(v.parse::<u64>().is_ok(), "{line}");
        }
    }
}
