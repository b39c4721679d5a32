//! Our `SecretStream` against a real JS `@hyperswarm/secret-stream` over TCP: the JS peer is
//! `tests/js/secret-stream-peer.mjs` (node), the judge of handshake hash, keys, framing,
//! headers, encryption, keep-alives and timeouts. Skipped (loudly) only when `node` is not
//! installed.
#![allow(clippy::unwrap_used, missing_docs)]

use hyperwasm::crypto::KeyPair;
use hyperwasm::noise::Pattern;
use hyperwasm::secret_stream::framing::write_frame;
use hyperwasm::secret_stream::{
    FrameDecoder, FrameTooLarge, SecretStream, SecretStreamError, SecretStreamEvent, SecretStreamOptions,
};
use serde_json::Value;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

fn node_available() -> bool {
    Command::new("node").arg("--version").output().map(|o| o.status.success()).unwrap_or(false)
}

macro_rules! require_node {
    () => {
        if !node_available() {
            eprintln!(
                "SKIPPED {}: `node` is not installed; the JS secret-stream oracle cannot run",
                module_path!()
            );
            return;
        }
    };
}

fn kp(n: u8) -> KeyPair {
    KeyPair::from_seed(&[n; 32])
}

/// Message `i` of `n` bytes, as the JS peer's `fill`.
fn fill(i: usize, n: usize) -> Vec<u8> {
    (0..n).map(|j| ((i * 131 + j * 7 + n) & 255) as u8).collect()
}

/// The JS peer process and its stdout events.
struct JsPeer {
    child: Child,
    lines: Receiver<Value>,
    seen: Vec<Value>,
}

impl JsPeer {
    fn spawn(args: &[&str]) -> JsPeer {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/js/secret-stream-peer.mjs");
        let modules = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/js/node_modules/@hyperswarm/secret-stream");
        assert!(modules.exists(), "{} missing: run `make setup` (npm ci in tests/js)", modules.display());
        let mut child = Command::new("node")
            .arg(&script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning node {}: {e}", script.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad JSON from node: {line}: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        JsPeer { child, lines: rx, seen: Vec::new() }
    }

    /// Waits for the next event named `name` (others are kept in `seen`).
    fn wait(&mut self, name: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if v["event"] == name {
                        return v;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {name:?} event from node in {limit:?}; seen {:?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("node exited before {name:?}; seen {:?}", self.seen)
                }
            }
        }
    }

    /// Collects whatever events arrived so far.
    fn drain(&mut self) -> &[Value] {
        while let Ok(v) = self.lines.try_recv() {
            self.seen.push(v);
        }
        &self.seen
    }

    fn count(&mut self, name: &str) -> usize {
        self.drain().iter().filter(|v| v["event"] == name).count()
    }

    fn listen(args: &[&str]) -> (JsPeer, u16) {
        let mut all = vec!["--listen"];
        all.extend_from_slice(args);
        let mut peer = JsPeer::spawn(&all);
        let port = peer.wait("listening", LIMIT)["port"].as_u64().unwrap() as u16;
        (peer, port)
    }
}

impl Drop for JsPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Our side: a blocking TCP socket driving a `SecretStream`, reading with random sizes so
/// frames are cut at arbitrary points.
struct Peer {
    tcp: TcpStream,
    stream: SecretStream,
    t0: Instant,
    rng: u64,
    messages: Vec<Vec<u8>>,
    connected: Option<([u8; 32], [u8; 64])>,
    raw_in: usize,
    eof: bool,
    buf: Vec<u8>,
}

impl Peer {
    fn new(tcp: TcpStream, stream: SecretStream) -> Peer {
        tcp.set_nodelay(true).unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        tcp.set_write_timeout(Some(LIMIT)).unwrap();
        let mut peer = Peer {
            tcp,
            stream,
            t0: Instant::now(),
            rng: 0x9e37_79b9_7f4a_7c15,
            messages: Vec::new(),
            connected: None,
            raw_in: 0,
            eof: false,
            buf: vec![0; 1 << 17],
        };
        let now = peer.now();
        peer.stream.start(now);
        peer
    }

    fn connect(port: u16, stream: SecretStream) -> Peer {
        Peer::new(TcpStream::connect(("127.0.0.1", port)).unwrap(), stream)
    }

    fn now(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    fn read_size(&mut self) -> usize {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let r = self.rng as usize;
        match r % 10 {
            0..=2 => 1 + (r >> 8) % 16,
            3..=5 => 1 + (r >> 8) % 1500,
            _ => 1 + (r >> 8) % self.buf.len(),
        }
    }

    fn flush(&mut self) {
        if self.stream.has_outgoing() {
            let out = self.stream.take_outgoing();
            self.tcp.write_all(&out).unwrap();
        }
    }

    /// One round: write, read once (up to 5 ms), run timers, collect events.
    fn step(&mut self) -> Result<(), SecretStreamError> {
        self.flush();
        if !self.eof {
            let n = self.read_size();
            match self.tcp.read(&mut self.buf[..n]) {
                Ok(0) => self.eof = true,
                Ok(k) => {
                    self.raw_in += k;
                    let now = self.now();
                    let Peer { stream, buf, .. } = self;
                    stream.on_bytes(&buf[..k], now)?;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                    self.eof = true
                }
                Err(e) => panic!("read: {e}"),
            }
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
        let now = self.now();
        if self.stream.poll_timeout().is_some_and(|t| t <= now) {
            self.stream.handle_timeout(now)?;
        }
        while let Some(e) = self.stream.poll_event() {
            match e {
                SecretStreamEvent::Connected { remote_public_key, handshake_hash } => {
                    assert!(self.connected.is_none(), "Connected twice");
                    self.connected = Some((remote_public_key, handshake_hash));
                }
                SecretStreamEvent::Message(m) => {
                    assert!(!m.is_empty(), "empty messages must be swallowed");
                    self.messages.push(m);
                }
            }
        }
        self.flush();
        Ok(())
    }

    fn run_until(&mut self, what: &str, mut done: impl FnMut(&Peer) -> bool) {
        let deadline = Instant::now() + LIMIT;
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            assert!(!self.eof, "EOF while waiting for {what}");
            self.step().unwrap_or_else(|e| panic!("stream error while waiting for {what}: {e}"));
        }
    }

    /// Drives the stream for `ms` milliseconds; the stream must stay healthy.
    fn idle(&mut self, ms: u64) {
        let end = Instant::now() + Duration::from_millis(ms);
        while Instant::now() < end {
            self.step().unwrap_or_else(|e| panic!("stream error while idle: {e}"));
            assert!(!self.eof, "the JS peer closed while idle");
        }
    }

    fn run_until_error(&mut self) -> SecretStreamError {
        let deadline = Instant::now() + LIMIT;
        loop {
            assert!(Instant::now() < deadline, "no error");
            if let Err(e) = self.step() {
                return e;
            }
        }
    }

    fn run_until_eof(&mut self) {
        let deadline = Instant::now() + LIMIT;
        while !self.eof {
            assert!(Instant::now() < deadline, "no EOF");
            self.step().unwrap_or_else(|e| panic!("stream error before EOF: {e}"));
        }
    }

    fn connected(&mut self) -> ([u8; 32], [u8; 64]) {
        self.run_until("Connected", |p| p.connected.is_some());
        self.connected.unwrap()
    }
}

/// Checks the JS `connect` event against our view of the connection.
fn check_connect(js: &Value, ours: &Peer, our_key: &KeyPair, js_key: &KeyPair) {
    let (remote, hash) = ours.connected.unwrap();
    assert_eq!(remote, js_key.public_key(), "our remote key is the JS key");
    assert_eq!(js["publicKey"], hex::encode(js_key.public_key()));
    assert_eq!(js["remotePublicKey"], hex::encode(our_key.public_key()), "JS sees our key");
    assert_eq!(js["handshakeHash"], hex::encode(hash), "handshake hashes agree");
    assert_eq!(ours.stream.handshake_hash(), Some(hash));
}

#[test]
fn rust_initiator_echo_through_js() {
    require_node!();
    let (mut js, port) = JsPeer::listen(&["--seed", "2", "--echo"]);
    let mut peer = Peer::connect(port, SecretStream::new(true, &kp(1), SecretStreamOptions::default()));
    peer.connected();
    let js_connect = js.wait("connect", LIMIT);
    assert_eq!(js_connect["isInitiator"], false);
    check_connect(&js_connect, &peer, &kp(1), &kp(2));

    // Sizes around every boundary, up to 1 MiB, plus many small ones sent in one burst.
    let mut sizes = vec![0usize, 1, 2, 15, 16, 17, 18, 255, 256, 1023, 1024, 1025, 4096, 65535, 65536, 65537];
    sizes.extend([100_000, 500_000, 1 << 20]);
    sizes.extend((0..2000).map(|i| 1 + (i * 37) % 300));
    let sent: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| fill(i, n)).collect();
    for m in &sent {
        peer.stream.send(m).unwrap();
    }
    let want: Vec<Vec<u8>> = sent.iter().filter(|m| !m.is_empty()).cloned().collect();
    peer.run_until("echoes", |p| p.messages.len() >= want.len());
    assert_eq!(peer.messages.len(), want.len());
    for (i, (got, want)) in peer.messages.iter().zip(&want).enumerate() {
        assert!(got == want, "echo {i}: {} bytes back for {}", got.len(), want.len());
    }
    // JS has no keep-alive, so our one empty message reached its app.
    assert_eq!(js.count("empty"), 1);

    peer.tcp.shutdown(Shutdown::Write).unwrap();
    let close = js.wait("close", LIMIT);
    assert_eq!(close["received"].as_u64().unwrap() as usize, sent.len());
    assert_eq!(close["bytes"].as_u64().unwrap() as usize, sizes.iter().sum::<usize>());
    assert_eq!(js.count("error"), 0, "{:?}", js.seen);
}

#[test]
fn js_initiator_to_rust_responder() {
    require_node!();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let spec = "0,1,17,1000,65536,1048576,1x300,17x100,3000x20";
    let mut js = JsPeer::spawn(&["--connect", &port, "--seed", "3", "--send", spec, "--expect-echo"]);
    let (tcp, _) = listener.accept().unwrap();
    let mut peer = Peer::new(tcp, SecretStream::new(false, &kp(4), SecretStreamOptions::default()));
    peer.connected();
    let js_connect = js.wait("connect", LIMIT);
    assert_eq!(js_connect["isInitiator"], true);
    check_connect(&js_connect, &peer, &kp(4), &kp(3));

    let mut sizes = Vec::new();
    for part in spec.split(',') {
        let (s, n) = part.split_once('x').unwrap_or((part, "1"));
        sizes.extend(std::iter::repeat_n(s.parse::<usize>().unwrap(), n.parse().unwrap()));
    }
    let want: Vec<Vec<u8>> =
        sizes.iter().enumerate().filter(|(_, &n)| n > 0).map(|(i, &n)| fill(i, n)).collect();
    let mut echoed = 0;
    peer.run_until("JS messages", |p| p.messages.len() >= want.len());
    assert_eq!(peer.messages, want);
    while echoed < peer.messages.len() {
        let m = peer.messages[echoed].clone();
        peer.stream.send(&m).unwrap();
        echoed += 1;
    }
    peer.flush();
    let done = js.wait("echoed", LIMIT);
    assert_eq!(done["count"].as_u64().unwrap() as usize, want.len());
    assert_eq!(js.count("mismatch"), 0, "{:?}", js.seen);
    peer.run_until_eof();
    peer.tcp.shutdown(Shutdown::Write).unwrap();
    js.wait("close", LIMIT);
    assert_eq!(js.count("error"), 0, "{:?}", js.seen);
}

#[test]
fn ik_pattern_both_roles() {
    require_node!();
    // Rust IK initiator → JS IK responder.
    let (mut js, port) = JsPeer::listen(&["--seed", "5", "--echo", "--pattern", "IK"]);
    let opts = SecretStreamOptions {
        pattern: Some(Pattern::IK { remote_static: kp(5).public_key() }),
        ..Default::default()
    };
    let mut peer = Peer::connect(port, SecretStream::new(true, &kp(6), opts));
    peer.connected();
    check_connect(&js.wait("connect", LIMIT), &peer, &kp(6), &kp(5));
    peer.stream.send(b"ik hello").unwrap();
    peer.run_until("IK echo", |p| !p.messages.is_empty());
    assert_eq!(peer.messages, vec![b"ik hello".to_vec()]);
    drop(peer);

    // JS IK initiator (knowing our key) → Rust IK responder.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let our_key = hex::encode(kp(8).public_key());
    let args = [
        "--connect",
        &port,
        "--seed",
        "7",
        "--pattern",
        "IK",
        "--remote-public-key",
        &our_key,
        "--send",
        "100x3",
        "--expect-echo",
    ];
    let mut js = JsPeer::spawn(&args);
    let (tcp, _) = listener.accept().unwrap();
    let opts = SecretStreamOptions { pattern: Some(Pattern::ik_responder()), ..Default::default() };
    let mut peer = Peer::new(tcp, SecretStream::new(false, &kp(8), opts));
    peer.connected();
    check_connect(&js.wait("connect", LIMIT), &peer, &kp(8), &kp(7));
    peer.run_until("3 messages", |p| p.messages.len() == 3);
    for m in peer.messages.clone() {
        peer.stream.send(&m).unwrap();
    }
    peer.flush();
    assert_eq!(js.wait("echoed", LIMIT)["count"], 3);
    assert_eq!(js.count("mismatch") + js.count("error"), 0, "{:?}", js.seen);
}

#[test]
fn keep_alives_both_ways_keep_timeouts_away() {
    require_node!();
    // Both sides: keep-alive 100 ms, idle timeout 500 ms; then 1.5 s of silence.
    let (mut js, port) =
        JsPeer::listen(&["--seed", "2", "--echo", "--keep-alive", "100", "--timeout", "500"]);
    let opts = SecretStreamOptions { keep_alive_ms: Some(100), timeout_ms: Some(500), pattern: None };
    let mut peer = Peer::connect(port, SecretStream::new(true, &kp(1), opts));
    peer.connected();
    js.wait("connect", LIMIT);
    let before = peer.raw_in;
    peer.idle(1500);
    // JS keep-alives arrived (a 20-byte frame each) and were swallowed.
    let keep_alive_bytes = peer.raw_in - before;
    assert!(keep_alive_bytes >= 5 * 20, "only {keep_alive_bytes} bytes of keep-alives in 1.5 s");
    assert!(peer.messages.is_empty());
    // Ours kept JS from timing out, and JS (with keepAlive) swallowed them too.
    assert_eq!(js.count("error"), 0, "{:?}", js.seen);
    assert_eq!(js.count("empty"), 0, "{:?}", js.seen);
    peer.stream.send(b"still here").unwrap();
    peer.run_until("echo after idle", |p| !p.messages.is_empty());
    assert_eq!(peer.messages, vec![b"still here".to_vec()]);
}

#[test]
fn idle_timeouts_on_both_sides() {
    require_node!();
    // Ours fires when JS stays silent. The timer also runs during the handshake, so it must
    // outlast a JS reply on a loaded machine (300 ms did not, once, with four builds beside it).
    let (mut js, port) = JsPeer::listen(&["--seed", "2"]);
    let opts = SecretStreamOptions { timeout_ms: Some(1000), ..Default::default() };
    let mut peer = Peer::connect(port, SecretStream::new(true, &kp(1), opts));
    peer.connected();
    js.wait("connect", LIMIT);
    let started = Instant::now();
    let err = peer.run_until_error();
    assert_eq!(err.code(), "TIMEOUT");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(peer);
    drop(js);

    // JS's fires when we stay silent (no keep-alive): it destroys the stream.
    let (mut js, port) = JsPeer::listen(&["--seed", "2", "--timeout", "1000"]);
    let mut peer = Peer::connect(port, SecretStream::new(true, &kp(1), SecretStreamOptions::default()));
    peer.connected();
    peer.run_until_eof();
    let err = js.wait("error", LIMIT);
    assert!(err["message"].as_str().unwrap().contains("timed out"), "{err}");
}

/// Runs the handshake by hand up to our last handshake message (+ header), returning the
/// peer with those bytes not yet written.
fn handshake_until_header(js_args: &[&str]) -> (JsPeer, Peer, Vec<u8>) {
    let (js, port) = JsPeer::listen(js_args);
    let mut peer = Peer::connect(port, SecretStream::new(true, &kp(1), SecretStreamOptions::default()));
    peer.flush(); // message 1
                  // Read until message 2 produced message 3 and our header.
    let deadline = Instant::now() + LIMIT;
    while !peer.stream.has_outgoing() {
        assert!(Instant::now() < deadline);
        let n = peer.tcp.read(&mut peer.buf).unwrap_or(0);
        let now = peer.now();
        let Peer { stream, buf, .. } = &mut peer;
        stream.on_bytes(&buf[..n], now).unwrap();
    }
    let out = peer.stream.take_outgoing();
    assert_eq!(out.len(), 3 + 64 + 3 + 56, "message 3 and the header");
    (js, peer, out)
}

#[test]
fn js_refuses_a_bad_stream_id() {
    require_node!();
    let (mut js, mut peer, mut out) = handshake_until_header(&["--seed", "2"]);
    out[3 + 64 + 3] ^= 1; // first byte of the stream id
    peer.tcp.write_all(&out).unwrap();
    let err = js.wait("error", LIMIT);
    assert_eq!(err["message"], "Invalid header received");
}

#[test]
fn js_refuses_a_tampered_message() {
    require_node!();
    let (mut js, mut peer, out) = handshake_until_header(&["--seed", "2", "--echo"]);
    peer.tcp.write_all(&out).unwrap();
    peer.stream.send(b"fine").unwrap();
    peer.run_until("first echo", |p| !p.messages.is_empty());
    peer.stream.send(b"tampered").unwrap();
    let mut bad = peer.stream.take_outgoing();
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    peer.tcp.write_all(&bad).unwrap();
    js.wait("error", LIMIT);
    peer.run_until_eof();
    assert_eq!(js.count("empty"), 0);
}

#[test]
fn we_refuse_a_tampered_js_message() {
    require_node!();
    // JS sends four messages; we split its bytes into frames ourselves and flip one bit of
    // the first data frame after the header.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let _js = JsPeer::spawn(&["--connect", &port, "--seed", "3", "--send", "50x4"]);
    let (mut tcp, _) = listener.accept().unwrap();
    tcp.set_read_timeout(Some(LIMIT)).unwrap();
    let mut stream = SecretStream::new(false, &kp(4), SecretStreamOptions::default());
    stream.start(0);
    let mut splitter = FrameDecoder::new();
    let mut buf = vec![0u8; 65536];
    let deadline = Instant::now() + LIMIT;
    loop {
        assert!(Instant::now() < deadline, "no data frame from JS");
        if stream.has_outgoing() {
            tcp.write_all(&stream.take_outgoing()).unwrap();
        }
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0, "JS closed early");
        let mut frames = Vec::new();
        splitter
            .decode(&buf[..n], |f| {
                frames.push(f.to_vec());
                Ok::<(), FrameTooLarge>(())
            })
            .unwrap();
        for mut body in frames {
            let tamper = stream.is_connected();
            if tamper {
                body[10] ^= 1;
            }
            let mut framed = Vec::new();
            write_frame(&mut framed, &body).unwrap();
            let r = stream.on_bytes(&framed, 0);
            if tamper {
                assert_eq!(r.unwrap_err().code(), "DECRYPT_FAILED");
                assert!(stream
                    .poll_event()
                    .is_some_and(|e| matches!(e, SecretStreamEvent::Connected { .. })));
                assert_eq!(stream.poll_event(), None, "nothing decrypted");
                return;
            }
            r.unwrap();
        }
    }
}
