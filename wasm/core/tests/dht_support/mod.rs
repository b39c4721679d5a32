//! Support of `oracle_hyperdht.rs`: the JSON form of hyperdht values (as `tests/js/lib/dht-codecs.mjs`
//! writes JS's), a Rust judge mirroring JS's `judge`, a seeded value generator, and the live JS
//! judge `tests/js/dht-check.mjs`.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use hyperwasm::encoding::{Compact, DecodeError, Decoder};
use hyperwasm::hyperdht::messages::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4, SocketAddrV6};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn load(name: &str) -> Value {
    let path = repo().join("tests/fixtures/dht").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("{v} is not a string"))
}

pub fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(s(v)).unwrap()
}

pub fn unhex_n<const N: usize>(v: &Value) -> [u8; N] {
    unhex(v).try_into().unwrap()
}

pub fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not a number"))
}

// ---------------------------------------------------------------------------------------------
// JSON form

fn hx(b: impl AsRef<[u8]>) -> Value {
    json!(hex::encode(b))
}

fn opt<T>(o: &Option<T>, f: impl Fn(&T) -> Value) -> Value {
    o.as_ref().map_or(Value::Null, f)
}

pub fn ip4(a: &SocketAddrV4) -> Value {
    json!(a.to_string())
}

/// JS's ipv6 host: 8 groups of lowercase hex without leading zeros, no `::` shortening.
pub fn ip6(a: &SocketAddrV6) -> Value {
    let groups: Vec<String> = a.ip().segments().iter().map(|g| format!("{g:x}")).collect();
    json!(format!("[{}]:{}", groups.join(":"), a.port()))
}

fn ip4s(list: &[SocketAddrV4]) -> Value {
    Value::Array(list.iter().map(ip4).collect())
}

pub fn peer(p: &Peer) -> Value {
    json!({ "publicKey": hx(p.public_key), "relayAddresses": ip4s(&p.relay_addresses) })
}

pub fn noise_payload(p: &NoisePayload) -> Value {
    json!({
        "version": p.version,
        "error": p.error,
        "firewall": p.firewall,
        "holepunch": opt(&p.holepunch, |h| json!({
            "id": h.id,
            "relays": h.relays.iter().map(|r| json!({
                "relayAddress": ip4(&r.relay_address), "peerAddress": ip4(&r.peer_address)
            })).collect::<Vec<_>>()
        })),
        "addresses4": ip4s(&p.addresses4),
        "addresses6": p.addresses6.iter().map(ip6).collect::<Vec<_>>(),
        "udx": opt(&p.udx, |u| json!({
            "version": u.version, "reusableSocket": u.reusable_socket, "id": u.id, "seq": u.seq
        })),
        "secretStream": opt(&p.secret_stream, |s| json!({ "version": s.version })),
        "relayThrough": opt(&p.relay_through, |r| json!({
            "version": r.version, "publicKey": hx(r.public_key), "token": hx(r.token)
        })),
        "relayAddresses": opt(&p.relay_addresses, |a| ip4s(a)),
    })
}

pub fn holepunch_payload(p: &HolepunchPayload) -> Value {
    json!({
        "error": p.error,
        "firewall": p.firewall,
        "round": p.round,
        "connected": p.connected,
        "punching": p.punching,
        "addresses": opt(&p.addresses, |a| ip4s(a)),
        "remoteAddress": opt(&p.remote_address, ip4),
        "token": opt(&p.token, |t| hx(t)),
        "remoteToken": opt(&p.remote_token, |t| hx(t)),
    })
}

fn announce(a: &Announce) -> Value {
    json!({
        "peer": opt(&a.peer, peer),
        "refresh": opt(&a.refresh, |t| hx(t)),
        "signature": opt(&a.signature, |t| hx(t)),
        "bump": a.bump,
    })
}

fn handshake(h: &Handshake) -> Value {
    json!({
        "mode": h.mode,
        "noise": hx(&h.noise),
        "peerAddress": opt(&h.peer_address, ip4),
        "relayAddress": opt(&h.relay_address, ip4),
    })
}

fn holepunch(h: &Holepunch) -> Value {
    json!({ "mode": h.mode, "id": h.id, "payload": hx(&h.payload), "peerAddress": opt(&h.peer_address, ip4) })
}

/// Rust's verdict on `bytes` as `codec`: the decoded value's JSON form and its re-encoding.
pub fn judge(codec: &str, bytes: &[u8]) -> Result<(Value, Vec<u8>), DecodeError> {
    fn via<T: Compact>(bytes: &[u8], f: impl Fn(&T) -> Value) -> Result<(Value, Vec<u8>), DecodeError> {
        let v: T = decode(bytes)?;
        Ok((f(&v), v.to_bytes()))
    }
    let mut dec = Decoder::new(bytes);
    let mut out = Vec::new();
    match codec {
        "ipv4" => {
            let a = get_ipv4(&mut dec)?;
            put_ipv4(&mut out, &a);
            Ok((ip4(&a), out))
        }
        "ipv6" => {
            let a = get_ipv6(&mut dec)?;
            put_ipv6(&mut out, &a);
            Ok((ip6(&a), out))
        }
        "peers" => {
            let list = get_peers(&mut dec)?;
            put_peers(&mut out, &list);
            Ok((Value::Array(list.iter().map(peer).collect()), out))
        }
        "peer" => via::<Peer>(bytes, peer),
        "lookupRawReply" => via::<LookupRawReply>(
            bytes,
            |r| json!({ "peers": r.peers.iter().map(peer).collect::<Vec<_>>(), "bump": r.bump }),
        ),
        "announce" => via::<Announce>(bytes, announce),
        "mutableSignable" => {
            via::<MutableSignable>(bytes, |m| json!({ "seq": m.seq, "value": hx(&m.value) }))
        }
        "mutablePutRequest" => via::<MutablePutRequest>(
            bytes,
            |m| json!({ "publicKey": hx(m.public_key), "seq": m.seq, "value": hx(&m.value), "signature": hx(m.signature) }),
        ),
        "mutableGetResponse" => via::<MutableGetResponse>(
            bytes,
            |m| json!({ "seq": m.seq, "value": hx(&m.value), "signature": hx(m.signature) }),
        ),
        "handshake" => via::<Handshake>(bytes, handshake),
        "holepunch" => via::<Holepunch>(bytes, holepunch),
        "noisePayload" => via::<NoisePayload>(bytes, noise_payload),
        "holepunchPayload" => via::<HolepunchPayload>(bytes, holepunch_payload),
        "pluginRequest" => via::<PluginRequest>(
            bytes,
            |p| json!({ "plugin": p.plugin, "version": p.version, "command": p.command, "value": opt(&p.value, |t| hx(t)) }),
        ),
        other => panic!("unknown codec {other}"),
    }
}

pub const CODECS: [&str; 14] = [
    "ipv4",
    "ipv6",
    "peer",
    "peers",
    "lookupRawReply",
    "announce",
    "mutableSignable",
    "mutablePutRequest",
    "mutableGetResponse",
    "handshake",
    "holepunch",
    "noisePayload",
    "holepunchPayload",
    "pluginRequest",
];

// ---------------------------------------------------------------------------------------------
// Seeded values (xorshift64*): Rust makes them, JS judges them.

pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Self {
        Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }

    /// A `uint` of every encoded width, at most 2^53 − 1; `small` keeps it below 0xfd.
    pub fn uint(&mut self, small: bool) -> u64 {
        let cap =
            if small { 0xfc } else { [0xfc, 0xffff, 0xffff_ffff, (1 << 53) - 1][self.below(4) as usize] };
        self.next() % (cap + 1)
    }

    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.iter_mut().for_each(|b| *b = self.next() as u8);
        out
    }

    pub fn vec(&mut self, max: u64) -> Vec<u8> {
        (0..self.below(max + 1)).map(|_| self.next() as u8).collect()
    }

    pub fn v4(&mut self) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(self.next() as u32), self.next() as u16)
    }

    pub fn v4s(&mut self, max: u64) -> Vec<SocketAddrV4> {
        (0..self.below(max + 1)).map(|_| self.v4()).collect()
    }

    pub fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.coin() {
            Some(f(self))
        } else {
            None
        }
    }

    pub fn peer(&mut self) -> Peer {
        Peer { public_key: self.bytes(), relay_addresses: self.v4s(4) }
    }

    /// A noise payload as a JS peer would send it (version 1 everywhere); `small` keeps
    /// error and firewall below 0xfd, which JS's encoder needs.
    pub fn noise_payload(&mut self, small: bool) -> NoisePayload {
        NoisePayload {
            version: 1,
            error: self.uint(small),
            firewall: self.uint(small),
            holepunch: self.opt(|g| HolepunchInfo {
                id: g.uint(false),
                relays: (0..g.below(4))
                    .map(|_| RelayInfo { relay_address: g.v4(), peer_address: g.v4() })
                    .collect(),
            }),
            addresses4: self.v4s(3),
            addresses6: (0..self.below(3))
                .map(|_| SocketAddrV6::new(self.bytes::<16>().into(), self.next() as u16, 0, 0))
                .collect(),
            udx: self.opt(|g| UdxInfo {
                version: 1,
                reusable_socket: g.coin(),
                id: g.uint(false),
                seq: g.uint(false),
            }),
            secret_stream: self.opt(|_| SecretStreamInfo::default()),
            relay_through: self.opt(|g| RelayThroughInfo {
                version: 1,
                public_key: g.bytes(),
                token: g.bytes(),
            }),
            relay_addresses: self.opt(|g| g.v4s(3)),
        }
    }

    pub fn holepunch_payload(&mut self) -> HolepunchPayload {
        HolepunchPayload {
            error: self.uint(false),
            firewall: self.uint(false),
            round: self.uint(false),
            connected: self.coin(),
            punching: self.coin(),
            addresses: self.opt(|g| g.v4s(3)),
            remote_address: self.opt(|g| g.v4()),
            token: self.opt(|g| g.bytes()),
            remote_token: self.opt(|g| g.bytes()),
        }
    }

    /// One encoded value of `codec` and its JSON form.
    pub fn value(&mut self, codec: &str) -> (Vec<u8>, Value) {
        let bytes = match codec {
            "ipv4" => {
                let mut out = Vec::new();
                put_ipv4(&mut out, &self.v4());
                out
            }
            "ipv6" => {
                let mut out = Vec::new();
                put_ipv6(&mut out, &SocketAddrV6::new(self.bytes::<16>().into(), self.next() as u16, 0, 0));
                out
            }
            "peer" => self.peer().to_bytes(),
            "peers" => {
                let list: Vec<Peer> = (0..self.below(4)).map(|_| self.peer()).collect();
                let mut out = Vec::new();
                put_peers(&mut out, &list);
                out
            }
            "lookupRawReply" => LookupRawReply {
                peers: (0..self.below(4)).map(|_| self.peer()).collect(),
                bump: self.uint(false),
            }
            .to_bytes(),
            "announce" => Announce {
                peer: self.opt(Gen::peer),
                refresh: self.opt(|g| g.bytes()),
                signature: self.opt(|g| g.bytes()),
                bump: if self.coin() { self.uint(false) } else { 0 },
            }
            .to_bytes(),
            "mutableSignable" => MutableSignable { seq: self.uint(false), value: self.vec(300) }.to_bytes(),
            "mutablePutRequest" => MutablePutRequest {
                public_key: self.bytes(),
                seq: self.uint(false),
                value: self.vec(300),
                signature: self.bytes(),
            }
            .to_bytes(),
            "mutableGetResponse" => {
                MutableGetResponse { seq: self.uint(false), value: self.vec(300), signature: self.bytes() }
                    .to_bytes()
            }
            "handshake" => Handshake {
                mode: self.uint(false),
                noise: self.vec(200),
                peer_address: self.opt(Gen::v4),
                relay_address: self.opt(Gen::v4),
            }
            .to_bytes(),
            "holepunch" => Holepunch {
                mode: self.uint(false),
                id: self.uint(false),
                payload: self.vec(200),
                peer_address: self.opt(Gen::v4),
            }
            .to_bytes(),
            "noisePayload" => self.noise_payload(false).to_bytes(),
            "holepunchPayload" => self.holepunch_payload().to_bytes(),
            "pluginRequest" => {
                let names =
                    ["", "x", "plügïn-🚀", "日本語のプラグイン", "a-rather-long-plugin-name-of-forty-chars"];
                PluginRequest {
                    plugin: names[self.below(names.len() as u64) as usize].to_string(),
                    version: self.uint(false),
                    command: self.uint(false),
                    value: self.opt(|g| g.vec(100)),
                }
                .to_bytes()
            }
            other => panic!("unknown codec {other}"),
        };
        let json = judge(codec, &bytes).unwrap().0;
        (bytes, json)
    }
}

// ---------------------------------------------------------------------------------------------
// The live JS judge

pub struct JsJudge {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl JsJudge {
    /// Starts `tests/js/dht-check.mjs`. Fails the test if node is missing (`make setup` installs it).
    pub fn spawn() -> Self {
        let mut child = Command::new("node")
            .arg(repo().join("tests/js/dht-check.mjs"))
            .current_dir(repo().join("tests/js"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        JsJudge { child, stdin, stdout }
    }

    pub fn ask(&mut self, req: Value) -> Value {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{req}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let answer: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("JS answered {line:?}: {e}"));
        assert!(answer.get("fatal").is_none(), "JS failed on {req}: {answer}");
        answer
    }
}

impl Drop for JsJudge {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF: the script ends
        let _ = self.child.wait();
    }
}
