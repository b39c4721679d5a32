//! Process helpers shared by the relay's integration tests: run the CLI with a deadline, spawn
//! long-running peers (the CLI's `serve`, `tests/js/replicate-peer.mjs`) and read their JSON
//! lines with timeouts. Every child is killed when its handle drops.

#![allow(clippy::unwrap_used, dead_code)]

pub mod dht;
pub mod relay_ws;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Hard limit for one CLI run (the commands under test carry their own `--timeout`).
pub const RUN_LIMIT: Duration = Duration::from_secs(120);
/// How long to wait for one line from a long-running peer.
pub const LINE_LIMIT: Duration = Duration::from_secs(60);

/// The CLI binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hyperwasm-relay"))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// The `node` program (the JS reference stack's runtime).
pub fn node() -> &'static Path {
    Path::new("node")
}

/// `tests/js/replicate-peer.mjs`, after checking that node and `tests/js/node_modules` are
/// there: interop tests fail, never skip, without the JS oracle.
pub fn peer_script() -> PathBuf {
    let root = repo_root();
    let node_ok = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(node_ok, "`node` is not on PATH: Node.js >= 20 is needed for this test (it does not skip)");
    assert!(
        root.join("tests/js/node_modules/hypercore").is_dir()
            && root.join("tests/js/node_modules/hyperbee").is_dir(),
        "tests/js/node_modules is missing: run `make setup` (or `cd tests/js && npm ci`)"
    );
    root.join("tests/js/replicate-peer.mjs")
}

/// A path as the `&str` a command line takes.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// What a finished process left.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Output {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// The last stdout line as JSON.
    pub fn json(&self) -> Value {
        let text = self.stdout_str();
        let line = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_else(|| panic!("no stdout (status {}); stderr:\n{}", self.status, self.stderr));
        serde_json::from_str(line).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"))
    }
    /// Asserts success and returns the last stdout line as JSON.
    pub fn ok_json(&self) -> Value {
        assert!(
            self.status.success(),
            "exit {}; stderr:\n{}\nstdout:\n{}",
            self.status,
            self.stderr,
            self.stdout_str()
        );
        self.json()
    }
}

/// Reads a pipe to the end on a thread.
fn drain(mut r: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Runs `program args`, feeding `stdin`, killing it after [`RUN_LIMIT`].
pub fn run_program(program: &Path, args: &[&str], stdin: Option<&[u8]>, cwd: Option<&Path>) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    let input = stdin.map(<[u8]>::to_vec).unwrap_or_default();
    let mut pipe = child.stdin.take().unwrap();
    let writer = thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} {:?} still running after {:?}", program.display(), args, RUN_LIMIT);
        }
        thread::sleep(Duration::from_millis(20));
    };
    writer.join().unwrap();
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
    }
}

/// Runs the CLI.
pub fn relay(args: &[&str]) -> Output {
    run_program(&bin(), args, None, None)
}

/// Runs the CLI with `stdin`.
pub fn relay_stdin(args: &[&str], stdin: &[u8]) -> Output {
    run_program(&bin(), args, Some(stdin), None)
}

/// Asserts a failure with exit code 1 and one stderr line (no panic); returns that line.
pub fn assert_clean_failure(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "expected exit 1; stderr:\n{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "panicked:\n{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one stderr line, got:\n{}", out.stderr);
    lines[0].to_string()
}

/// A long-running child printing JSON lines: killed on drop.
pub struct Peer {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<thread::JoinHandle<Vec<u8>>>,
    /// The first JSON line (ready).
    pub ready: Value,
    /// Exits by itself when stdin closes (the JS peers, which then delete their temp stores):
    /// dropping the handle closes stdin and waits a moment before killing.
    pub exits_on_eof: bool,
}

impl Peer {
    /// Spawns `program args` and waits for its first stdout line (JSON).
    pub fn spawn(name: &str, program: &Path, args: &[String], cwd: Option<&Path>) -> Peer {
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Some(drain(child.stderr.take().unwrap()));
        let stdin = child.stdin.take();
        let mut peer = Peer {
            name: name.to_string(),
            child,
            stdin,
            lines,
            stderr,
            ready: Value::Null,
            exits_on_eof: false,
        };
        peer.ready = peer.next_json();
        if peer.ready.get("error").is_some() {
            let ready = peer.ready.clone();
            panic!("{name} failed to start: {ready}\nstderr:\n{}", peer.stderr_text());
        }
        peer
    }

    /// The next stdout line as JSON.
    pub fn next_json(&mut self) -> Value {
        match self.lines.recv_timeout(LINE_LIMIT) {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{}: stdout line is not JSON ({e}): {line}", self.name)),
            Err(RecvTimeoutError::Timeout) => panic!("{}: no output line within {LINE_LIMIT:?}", self.name),
            Err(RecvTimeoutError::Disconnected) => {
                let stderr = self.stderr_text();
                panic!("{}: exited without a line; stderr:\n{stderr}", self.name)
            }
        }
    }

    /// The next stdout line as JSON if one is waiting (never blocks; for single-threaded
    /// loops that drive a node while the peer runs).
    pub fn try_next_json(&mut self) -> Option<Value> {
        let line = self.lines.try_recv().ok()?;
        Some(
            serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{}: stdout line is not JSON ({e}): {line}", self.name)),
        )
    }

    /// The next line that is not an `{"event": …}` notice.
    pub fn next_answer(&mut self) -> Value {
        loop {
            let v = self.next_json();
            if v.get("event").is_none() {
                return v;
            }
        }
    }

    /// Waits for an event line `{"event": name}`.
    pub fn wait_event(&mut self, name: &str) -> Value {
        loop {
            let v = self.next_json();
            if v["event"] == name {
                return v;
            }
        }
    }

    /// Sends one JSON command line on stdin and returns the answer line.
    pub fn command(&mut self, cmd: Value) -> Value {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
        let answer = self.next_answer();
        assert!(answer.get("error").is_none(), "{}: {cmd} failed: {answer}", self.name);
        answer
    }

    /// `127.0.0.1:PORT` from the ready line's `port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.ready["port"].as_u64().unwrap())
    }

    /// The ready line's `key`.
    pub fn key(&self) -> String {
        self.ready["key"].as_str().unwrap().to_string()
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit; returns status and the rest of stdout.
    pub fn interrupt(mut self) -> (ExitStatus, Vec<Value>) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(sent.success(), "kill -INT {pid} failed");
        self.wait_exit()
    }

    /// Sends `signal` (`"TERM"`, `"INT"`) with stdin still open and waits up to `limit` for the
    /// exit; `None` if it is still running then.
    pub fn signal(&mut self, signal: &str, limit: Duration) -> Option<ExitStatus> {
        signal_child(&mut self.child, signal, limit)
    }

    /// Closes stdin and waits for the exit; returns status and the remaining stdout lines.
    pub fn wait_exit(&mut self) -> (ExitStatus, Vec<Value>) {
        drop(self.stdin.take());
        let deadline = Instant::now() + LINE_LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "{}: did not exit", self.name);
            thread::sleep(Duration::from_millis(20));
        };
        let rest = self.lines.try_iter().filter_map(|l| serde_json::from_str(&l).ok()).collect();
        (status, rest)
    }

    /// Everything the child wrote to stderr (waits a moment for it to exit, then kills it).
    pub fn stderr_text(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .map(|h| String::from_utf8_lossy(&h.join().unwrap()).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.exits_on_eof {
            drop(self.stdin.take());
            let deadline = Instant::now() + Duration::from_secs(3);
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` to `child` (`kill -SIGNAL PID`) and waits up to `limit` for it to exit.
pub fn signal_child(child: &mut Child, signal: &str, limit: Duration) -> Option<ExitStatus> {
    let pid = child.id().to_string();
    let sent = Command::new("kill").args([format!("-{signal}").as_str(), &pid]).status().unwrap();
    assert!(sent.success(), "kill -{signal} {pid} failed");
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `hyperwasm-relay serve DIRS --listen 127.0.0.1:0` and waits for its ready line.
pub fn serve(dirs: &[&Path]) -> Peer {
    let mut args: Vec<String> = vec!["share".into()];
    args.extend(dirs.iter().map(|d| d.display().to_string()));
    args.extend(["--listen".into(), "127.0.0.1:0".into()]);
    Peer::spawn("relay serve", &bin(), &args, None)
}

/// Every JSON line of a finished run's stdout, after asserting it succeeded (`what` names the
/// run in the failure message).
pub fn lines(out: &Output, what: &str) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{what}: exit {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        out.stdout_str(),
        out.stderr
    );
    out.stdout_str()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The line of `lines` whose `"event"` is `name`.
pub fn event(lines: &[Value], name: &str) -> Value {
    lines
        .iter()
        .find(|v| v["event"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} event in {lines:?}"))
}
