//! The wire against the JS oracle: `tests/fixtures/wire/messages.json` (hypercore/alpha
//! message codecs), `tests/fixtures/wire/protomux.json` (transcripts of two JS Protomux peers,
//! replayed with our `Mux` in place of either side, byte for byte), and a live JS Protomux
//! (`tests/js/check-mux-frames.mjs`) decoding what our `Mux` sends.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use hyperwasm::encoding::{Compact, DecodeError};
use hyperwasm::protomux::frame::BatchEntries;
use hyperwasm::protomux::{ChannelId, ChannelSpec, Mux, MuxEvent};
use hyperwasm::replicator::messages::*;
use hyperwasm::testing::fixtures::unhex;
use hyperwasm::tree::proof::{DataBlock, DataHash, DataSeek, DataUpgrade, Proof};
use hyperwasm::tree::proof::{RequestIndex, RequestSeek, RequestUpgrade};
use hyperwasm::tree::Node;
use serde_json::{json, Value};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(name: &str) -> Value {
    let path = repo().join("tests/fixtures/wire").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

// ---------------------------------------------------------------------------------------------
// messages.json

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not a u64"))
}

fn b(v: &Value) -> bool {
    v.as_bool().unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    v.as_str().map(unhex).unwrap_or_default()
}

fn opt<T>(v: &Value, f: impl FnOnce(&Value) -> T) -> Option<T> {
    (!v.is_null()).then(|| f(v))
}

fn nodes(v: &Value) -> Vec<Node> {
    let list = v.as_array().unwrap();
    list.iter()
        .map(|n| Node {
            index: u(&n["index"]),
            size: u(&n["size"]),
            hash: unhex(n["hash"].as_str().unwrap()).try_into().unwrap(),
        })
        .collect()
}

fn index(v: &Value) -> RequestIndex {
    RequestIndex { index: u(&v["index"]), nodes: u(&v["nodes"]) }
}

/// The JS JSON form of a message (`msgToJson` in gen-wire-fixtures.mjs) as our type.
fn message(name: &str, v: &Value) -> Message {
    match name {
        "sync" => Message::Sync(Sync {
            fork: u(&v["fork"]),
            length: u(&v["length"]),
            remote_length: u(&v["remoteLength"]),
            can_upgrade: b(&v["canUpgrade"]),
            uploading: b(&v["uploading"]),
            downloading: b(&v["downloading"]),
            has_manifest: b(&v["hasManifest"]),
            allow_push: b(&v["allowPush"]),
        }),
        "request" => Message::Request(Request {
            id: u(&v["id"]),
            fork: u(&v["fork"]),
            block: opt(&v["block"], index),
            hash: opt(&v["hash"], index),
            seek: opt(&v["seek"], |s| RequestSeek { bytes: u(&s["bytes"]), padding: u(&s["padding"]) }),
            upgrade: opt(&v["upgrade"], |s| RequestUpgrade {
                start: u(&s["start"]),
                length: u(&s["length"]),
            }),
            manifest: b(&v["manifest"]),
            priority: u(&v["priority"]),
        }),
        "cancel" => Message::Cancel(Cancel { request: u(&v["request"]) }),
        "data" => Message::Data(Data {
            request: u(&v["request"]),
            proof: Proof {
                fork: u(&v["fork"]),
                block: opt(&v["block"], |x| DataBlock {
                    index: u(&x["index"]),
                    value: bytes(&x["value"]),
                    nodes: nodes(&x["nodes"]),
                }),
                hash: opt(&v["hash"], |x| DataHash { index: u(&x["index"]), nodes: nodes(&x["nodes"]) }),
                seek: opt(&v["seek"], |x| DataSeek { bytes: u(&x["bytes"]), nodes: nodes(&x["nodes"]) }),
                upgrade: opt(&v["upgrade"], |x| DataUpgrade {
                    start: u(&x["start"]),
                    length: u(&x["length"]),
                    nodes: nodes(&x["nodes"]),
                    additional_nodes: nodes(&x["additionalNodes"]),
                    signature: bytes(&x["signature"]),
                }),
            },
            manifest: opt(&v["manifest"], bytes),
        }),
        "noData" => Message::NoData(NoData {
            request: u(&v["request"]),
            reason: NoDataReason::from_code(u(&v["reason"])),
        }),
        "want" | "unwant" => {
            let w = Want { start: u(&v["start"]), length: u(&v["length"]), any: b(&v["any"]) };
            if name == "want" {
                Message::Want(w)
            } else {
                Message::Unwant(w)
            }
        }
        "bitfield" => Message::Bitfield(Bitfield {
            start: u(&v["start"]),
            words: v["bitfield"].as_array().unwrap().iter().map(|w| u(w) as u32).collect(),
        }),
        "range" => {
            Message::Range(Range { drop: b(&v["drop"]), start: u(&v["start"]), length: u(&v["length"]) })
        }
        "extension" => Message::Extension(Extension {
            name: v["name"].as_str().unwrap().to_owned(),
            message: bytes(&v["message"]),
        }),
        other => panic!("unknown message {other}"),
    }
}

#[test]
fn every_js_message_vector_decodes_and_reencodes_byte_for_byte() {
    let f = load("messages.json");
    let vectors = f["messages"].as_array().unwrap();
    assert!(vectors.len() >= 40);
    let mut seen = [false; 10];
    for v in vectors {
        let (t, name) = (u(&v["type"]), v["name"].as_str().unwrap());
        seen[t as usize] = true;
        let wire = unhex(v["hex"].as_str().unwrap());
        let expected = message(name, &v["value"]);
        assert_eq!(expected.message_type(), t);
        assert_eq!(Message::decode(t, &wire).unwrap(), expected, "{name} {}", v["hex"]);
        let mut out = vec![0xaa]; // encode appends
        expected.encode(&mut out);
        assert_eq!(hex::encode(&out[1..]), v["hex"].as_str().unwrap(), "{name}");

        // Every strict prefix: JS decodes exactly the listed ones (to the listed values).
        let Some(accepted) = v["acceptedPrefixes"].as_array() else { continue };
        let accepted: HashMap<u64, &Value> = accepted.iter().map(|p| (u(&p["len"]), &p["value"])).collect();
        for n in 0..wire.len() {
            let got = Message::decode(t, &wire[..n]);
            match accepted.get(&(n as u64)) {
                Some(value) => assert_eq!(got.unwrap(), message(name, value), "{name} prefix {n}"),
                None => assert!(got.is_err(), "{name}: JS refuses the {n}-byte prefix, we gave {got:?}"),
            }
        }
    }
    assert!(seen.iter().all(|s| *s), "every message type has vectors");
}

#[test]
fn odd_inputs_decode_as_js_does() {
    let f = load("messages.json");
    for v in f["odd"].as_array().unwrap() {
        let (t, name, note) = (u(&v["type"]), v["name"].as_str().unwrap(), &v["note"]);
        let got = Message::decode(t, &unhex(v["hex"].as_str().unwrap()));
        if v["value"].is_null() {
            assert!(got.is_err(), "{name} ({note}): JS refuses it ({}), we gave {got:?}", v["error"]);
        } else {
            assert_eq!(got.unwrap(), message(name, &v["value"]), "{name} ({note})");
        }
    }
}

#[test]
fn handshakes_match_js() {
    let f = load("messages.json");
    for v in f["handshakes"].as_array().unwrap() {
        let hs = ChannelHandshake {
            seeks: b(&v["value"]["seeks"]),
            capability: unhex(v["value"]["capability"].as_str().unwrap()).try_into().unwrap(),
        };
        assert_eq!(hex::encode(hs.to_bytes()), v["hex"].as_str().unwrap());
        assert_eq!(ChannelHandshake::from_bytes(&unhex(v["hex"].as_str().unwrap())).unwrap(), hs);
    }
    for v in f["oddHandshakes"].as_array().unwrap() {
        let got = ChannelHandshake::from_open_payload(&unhex(v["hex"].as_str().unwrap()));
        match v["value"].as_object() {
            Some(value) => {
                let hs = got.unwrap();
                assert_eq!(hs.seeks, b(&value["seeks"]));
                assert_eq!(hex::encode(hs.capability), value["capability"].as_str().unwrap());
            }
            None => assert!(matches!(got, Err(DecodeError::Truncated { .. }))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// protomux.json: our Mux in place of one JS side, running the same application policy.

/// The application of `tests/js/lib/mux-peer.mjs` around our `Mux`.
struct App {
    name: String,
    policy: Value,
    mux: Mux,
    labels: HashMap<ChannelId, String>,
    by_label: HashMap<String, ChannelId>,
    events: Vec<Value>,
}

fn label(protocol: &str, id: Option<&[u8]>) -> String {
    format!("{protocol}#{}", id.map(hex::encode).unwrap_or_default())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect()).unwrap_or_default()
}

impl App {
    fn new(name: &str, policy: &Value) -> Self {
        App {
            name: name.to_owned(),
            policy: policy.clone(),
            mux: Mux::new(),
            labels: HashMap::new(),
            by_label: HashMap::new(),
            events: Vec::new(),
        }
    }

    fn event(&mut self, kind: &str, fields: Value) {
        let mut e = json!({ "event": self.name, "kind": kind });
        e.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        self.events.push(e);
    }

    fn open(&mut self, protocol: &str, id: Option<&[u8]>, aliases: &[String], handshake: &[u8]) -> bool {
        let aliases: Vec<&str> = aliases.iter().map(String::as_str).collect();
        match self.mux.open(ChannelSpec { protocol, aliases: &aliases, id, handshake }) {
            Ok(ch) => {
                self.labels.insert(ch, label(protocol, id));
                self.by_label.insert(label(protocol, id), ch);
                true
            }
            Err(_) => false,
        }
    }

    /// One JS step (`[verb, ...args]` of mux-peer.mjs).
    fn step(&mut self, verb: &str, args: &[Value]) {
        let ch = |app: &Self, i: usize| app.by_label[args[i].as_str().unwrap()];
        match verb {
            "open" => {
                let o = &args[0];
                let id = o["id"].as_str().map(unhex);
                let handshake = o["handshake"].as_str().map(unhex).unwrap_or_default();
                assert!(self.open(
                    o["protocol"].as_str().unwrap(),
                    id.as_deref(),
                    &strings(&o["aliases"]),
                    &handshake
                ));
            }
            "send" => {
                let c = ch(self, 0);
                self.mux.send(c, u(&args[1]), &unhex(args[2].as_str().unwrap())).unwrap();
            }
            "cork" => self.mux.cork(),
            "uncork" => self.mux.uncork(),
            "close" => {
                let c = ch(self, 0);
                self.mux.close(c);
            }
            other => panic!("step {other} cannot be replayed"),
        }
        self.handle_events();
    }

    /// A frame from the other side. JS corks while it handles a batch of several messages
    /// (and everything that batch makes its application do); so do we.
    fn deliver(&mut self, frame: &[u8]) -> Result<(), hyperwasm::protomux::MuxError> {
        let batch = frame.len() > 2 && frame[..2] == [0, 0];
        let cork = batch && BatchEntries::new(&frame[2..]).map(|e| e.take(2).count() == 2).unwrap_or(false);
        if cork {
            self.mux.cork();
        }
        let result = self.mux.on_message(frame);
        if result.is_ok() {
            self.handle_events();
        }
        if cork {
            self.mux.uncork();
        }
        result
    }

    fn handle_events(&mut self) {
        while let Some(e) = self.mux.poll_event() {
            match e {
                MuxEvent::RemoteOpen { protocol, id } => {
                    let p = self.policy["protocols"][&protocol].clone();
                    if p.is_null() {
                        self.mux.reject(&protocol, id.as_deref()); // JS rejects unpaired opens
                        continue;
                    }
                    self.event(
                        "remoteOpen",
                        json!({ "protocol": protocol, "id": id.as_deref().map(hex::encode) }),
                    );
                    let accept = p["accept"] == json!(true)
                        || strings(&p["accept"])
                            .contains(&id.as_deref().map(hex::encode).unwrap_or_default());
                    let handshake = format!("{}:{protocol}", self.name).into_bytes();
                    let aliases = strings(&p["aliases"]);
                    if !(accept && self.open(&protocol, id.as_deref(), &aliases, &handshake)) {
                        self.mux.reject(&protocol, id.as_deref());
                    }
                }
                MuxEvent::Opened { channel, handshake } => {
                    let label = self.labels[&channel].clone();
                    self.event("opened", json!({ "label": label, "handshake": hex::encode(handshake) }));
                }
                MuxEvent::Message { channel, message_type, payload } => {
                    if message_type >= 3 {
                        continue; // the JS application declares three message types
                    }
                    let label = self.labels[&channel].clone();
                    let fields =
                        json!({ "label": label, "type": message_type, "payload": hex::encode(&payload) });
                    self.event("message", fields);
                    if message_type == 0 && self.policy["echo"] == json!(true) {
                        self.mux.send(channel, 1, &payload).unwrap();
                    }
                }
                MuxEvent::Closed { channel, remote } => {
                    let label = self.labels[&channel].clone();
                    self.event("closed", json!({ "label": label, "remote": remote }));
                }
            }
        }
    }
}

/// Replays `scenario` with our Mux as side `me`: its writes must equal JS's byte for byte, its
/// application must see the same events, and it must fail exactly where JS destroyed.
fn replay(scenario: &Value, me: &str) -> (usize, usize) {
    let name = scenario["name"].as_str().unwrap();
    let mut app = App::new(me, &scenario["policy"][me]);
    let log = scenario["log"].as_array().unwrap();
    let mut destroyed = false;
    let mut js_events = Vec::new();
    let mut writes = 0;
    for (i, entry) in log.iter().enumerate() {
        let who = |k: &str| entry[k].as_str() == Some(me);
        if who("step") {
            let verb = entry["verb"].as_str().unwrap();
            app.step(verb, entry["args"].as_array().unwrap());
        } else if who("write") {
            let got = app.mux.poll_transmit().map(hex::encode);
            assert_eq!(got.as_deref(), entry["hex"].as_str(), "{name} as {me}: write at log entry {i}");
            writes += 1;
        } else if who("deliver") && !destroyed {
            let result = app.deliver(&unhex(entry["hex"].as_str().unwrap()));
            let js_destroys = log[i + 1..]
                .iter()
                .take_while(|e| e["deliver"].is_null())
                .any(|e| e["destroy"].as_str() == Some(me));
            assert_eq!(result.is_err(), js_destroys, "{name} as {me}: log entry {i}: {result:?}");
            destroyed = result.is_err();
        } else if who("event") {
            js_events.push(entry.clone());
        }
    }
    assert_eq!(app.mux.poll_transmit().map(hex::encode), None, "{name} as {me}: extra write");
    assert_eq!(app.events, js_events, "{name} as {me}: events");
    (writes, js_events.len())
}

#[test]
fn protomux_transcripts_replay_byte_for_byte() {
    let f = load("protomux.json");
    let (mut replays, mut writes, mut events) = (0, 0, 0);
    for s in f["scenarios"].as_array().unwrap() {
        for me in strings(&s["replay"]) {
            let (w, e) = replay(s, &me);
            replays += 1;
            writes += w;
            events += e;
        }
    }
    assert!(
        replays >= 23 && writes >= 45 && events >= 70,
        "{replays} replays, {writes} writes, {events} events"
    );
}

// ---------------------------------------------------------------------------------------------
// A live JS Protomux (tests/js/check-mux-frames.mjs) reading what our Mux writes.

struct JsPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl JsPeer {
    /// Starts the JS peer with `policy`. Fails the test if node is missing (`make setup` installs it).
    fn spawn(policy: Value) -> Self {
        let mut child = Command::new("node")
            .arg(repo().join("tests/js/check-mux-frames.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut peer = JsPeer { child, stdin, stdout };
        assert_eq!(peer.line(json!({ "name": "b", "policy": policy })), json!({ "ready": true }));
        peer
    }

    fn line(&mut self, msg: Value) -> Value {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{msg}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("JS peer answered {line:?}: {e}"))
    }

    /// Delivers `frames`, runs `steps`; returns what JS wrote (as frames) and saw.
    fn exchange(&mut self, frames: &[Vec<u8>], steps: Value) -> (Vec<Vec<u8>>, Vec<Value>) {
        let frames: Vec<String> = frames.iter().map(hex::encode).collect();
        let answer = self.line(json!({ "frames": frames, "steps": steps }));
        assert_eq!(answer["destroyed"], Value::Null, "JS destroyed the stream");
        let writes =
            answer["writes"].as_array().unwrap().iter().map(|w| unhex(w.as_str().unwrap())).collect();
        (writes, answer["events"].as_array().unwrap().clone())
    }
}

impl Drop for JsPeer {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF: the script ends
        let _ = self.child.wait();
    }
}

fn drain(mux: &mut Mux) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| mux.poll_transmit()).collect()
}

fn events(mux: &mut Mux) -> Vec<MuxEvent> {
    std::iter::from_fn(|| mux.poll_event()).collect()
}

fn feed(mux: &mut Mux, frames: &[Vec<u8>]) {
    for f in frames {
        mux.on_message(f).unwrap();
    }
}

fn spec<'a>(protocol: &'a str, id: Option<&'a [u8]>, handshake: &'a [u8]) -> ChannelSpec<'a> {
    ChannelSpec { protocol, aliases: &[], id, handshake }
}

fn js_event(kind: &str, fields: Value) -> Value {
    let mut e = json!({ "event": "b", "kind": kind });
    e.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    e
}

#[test]
fn js_decodes_our_batches_opens_rejects_and_closes() {
    let policy = json!({ "protocols": { "p": { "accept": true }, "q": { "accept": true }, "r": { "accept": false } }, "echo": true });
    let mut js = JsPeer::spawn(policy);
    let mut mux = Mux::new();
    mux.cork();
    let p = mux.open(spec("p", None, b"ha")).unwrap();
    let q = mux.open(spec("q", Some(&[0, 0xff]), b"")).unwrap();
    let r = mux.open(spec("r", None, b"")).unwrap();
    mux.send(p, 0, b"x").unwrap();
    mux.send(q, 0, b"y").unwrap();
    mux.send(p, 2, b"").unwrap();
    mux.uncork();
    let frames = drain(&mut mux);
    assert_eq!(frames.len(), 1, "one batch");
    let (writes, seen) = js.exchange(&frames, json!([]));
    assert_eq!(
        seen,
        [
            js_event("remoteOpen", json!({ "protocol": "p", "id": null })),
            js_event("remoteOpen", json!({ "protocol": "q", "id": "00ff" })),
            js_event("remoteOpen", json!({ "protocol": "r", "id": null })),
            js_event("opened", json!({ "label": "p#", "handshake": "6861" })),
            js_event("message", json!({ "label": "p#", "type": 0, "payload": "78" })),
            js_event("message", json!({ "label": "p#", "type": 2, "payload": "" })),
            js_event("opened", json!({ "label": "q#00ff", "handshake": "" })),
            js_event("message", json!({ "label": "q#00ff", "type": 0, "payload": "79" })),
        ]
    );
    feed(&mut mux, &writes);
    let opened = |c: ChannelId, h: &str| MuxEvent::Opened { channel: c, handshake: h.as_bytes().to_vec() };
    let echo =
        |c: ChannelId, m: &[u8]| MuxEvent::Message { channel: c, message_type: 1, payload: m.to_vec() };
    assert_eq!(
        events(&mut mux),
        [
            opened(p, "b:p"),
            opened(q, "b:q"),
            echo(p, b"x"),
            echo(q, b"y"),
            MuxEvent::Closed { channel: r, remote: true },
        ]
    );

    mux.close(p);
    mux.send(q, 2, b"z").unwrap();
    let (writes, seen) = js.exchange(&drain(&mut mux), json!([]));
    assert!(writes.is_empty());
    assert_eq!(
        seen,
        [
            js_event("closed", json!({ "label": "p#", "remote": true })),
            js_event("message", json!({ "label": "q#00ff", "type": 2, "payload": "7a" })),
        ]
    );
    // Our id 1 (p) is reused at once after its Closed event; JS takes the reopen.
    assert_eq!(events(&mut mux), [MuxEvent::Closed { channel: p, remote: false }]);
    assert_eq!(mux.open(spec("p", None, b"")).unwrap(), ChannelId(1));
    let (writes, seen) = js.exchange(&drain(&mut mux), json!([]));
    assert_eq!(seen[0], js_event("remoteOpen", json!({ "protocol": "p", "id": null })));
    feed(&mut mux, &writes);
    assert_eq!(events(&mut mux), [opened(ChannelId(1), "b:p")]);
}

#[test]
fn js_handles_hundreds_of_channels_with_multibyte_ids() {
    let mut js = JsPeer::spawn(json!({ "protocols": { "many": { "accept": true } }, "echo": true }));
    let mut mux = Mux::new();
    let n = 300u32;
    mux.cork();
    for i in 0..n {
        let id = i.to_be_bytes();
        let c = mux.open(spec("many", Some(&id), b"")).unwrap();
        mux.send(c, 0, &id).unwrap();
    }
    mux.uncork();
    let (writes, seen) = js.exchange(&drain(&mut mux), json!([]));
    let count = |kind: &str| seen.iter().filter(|e| e["kind"] == kind).count();
    assert_eq!((count("remoteOpen"), count("opened"), count("message")), (300, 300, 300));
    feed(&mut mux, &writes);
    let ev = events(&mut mux);
    let echoes = ev.iter().filter(|e| matches!(e, MuxEvent::Message { channel, payload, .. } if payload[..] == (channel.0 - 1).to_be_bytes())).count();
    assert_eq!((ev.len(), echoes), (600, 300));
}

#[test]
fn our_repeated_close_ends_a_js_channel_that_answered_late() {
    let policy = json!({ "protocols": { "p": { "accept": true, "async": true } }, "echo": false });
    let mut js = JsPeer::spawn(policy);
    let mut mux = Mux::new();
    let p = mux.open(spec("p", None, b"")).unwrap();
    mux.close(p);
    let (writes, seen) = js.exchange(&drain(&mut mux), json!([]));
    assert!(writes.is_empty());
    assert_eq!(seen, [js_event("remoteOpen", json!({ "protocol": "p", "id": null }))]);
    // JS ignored our close (its answer was pending) and now opens a channel we closed.
    let (writes, seen) = js.exchange(&[], json!([["release"]]));
    assert_eq!(seen, [js_event("opened", json!({ "label": "p#", "handshake": "" }))]);
    feed(&mut mux, &writes);
    let again = drain(&mut mux);
    assert_eq!(again.iter().map(hex::encode).collect::<Vec<_>>(), ["000301"]);
    let (_, seen) = js.exchange(&again, json!([]));
    assert_eq!(seen, [js_event("closed", json!({ "label": "p#", "remote": true }))]);
}

#[test]
fn our_reject_of_a_closed_unanswered_open_frees_the_js_id() {
    let mut js = JsPeer::spawn(json!({ "protocols": {}, "echo": false }));
    let mut mux = Mux::new();
    let (writes, _) = js.exchange(&[], json!([["open", { "protocol": "p" }], ["close", "p#"]]));
    let hex_writes: Vec<String> = writes.iter().map(hex::encode).collect();
    assert_eq!(hex_writes, ["000101017000", "000301"]);
    feed(&mut mux, &writes);
    let rejected = drain(&mut mux);
    assert_eq!(rejected.iter().map(hex::encode).collect::<Vec<_>>(), ["000201"]);
    // JS takes the reject, and reuses id 1 for its next open.
    let (writes, seen) = js.exchange(&rejected, json!([["open", { "protocol": "p", "handshake": "07" }]]));
    assert!(seen.is_empty());
    assert_eq!(writes.iter().map(hex::encode).collect::<Vec<_>>(), ["00010101700007"]);
    feed(&mut mux, &writes);
    let remote_open = MuxEvent::RemoteOpen { protocol: "p".into(), id: None };
    assert_eq!(events(&mut mux), [remote_open.clone(), remote_open]);
    let c = mux.open(spec("p", None, b"")).unwrap();
    assert_eq!(events(&mut mux), [MuxEvent::Opened { channel: c, handshake: vec![7] }]);
}
