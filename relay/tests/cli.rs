//! The command line end to end: the binary run in temp directories (create, append, info, cat
//! round trips; every error path exits 1 with one line and never panics; serve's lifecycle).

#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_clean_failure, p, relay, relay_stdin};
use hyperwasm_relay::testdata;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn create_append_info_cat_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("core");
    let created = relay(&["create", p(&dir)]).ok_json();
    let key = created["key"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 64);
    assert_eq!(created["discoveryKey"].as_str().unwrap().len(), 64);
    assert_eq!(created["compat"], false);

    let text = "hello\nworld\n\nlast line without newline";
    let appended = relay_stdin(&["append", p(&dir)], text.as_bytes()).ok_json();
    assert_eq!(appended["length"], 4);
    assert_eq!(appended["appended"], 4);

    let info = relay(&["info", p(&dir)]).ok_json();
    assert_eq!(info["key"], key.as_str());
    assert_eq!(info["discoveryKey"], created["discoveryKey"]);
    assert_eq!(info["length"], 4);
    assert_eq!(info["byteLength"], (text.len() - 3) as u64);
    assert_eq!(info["fork"], 0);
    assert_eq!(info["contiguousLength"], 4);
    assert_eq!(info["writable"], true);
    assert_eq!(info["compat"], false);

    // Default: each block and a newline, so line input comes back as it went in.
    let cat = relay(&["cat", p(&dir)]);
    assert!(cat.status.success());
    assert_eq!(cat.stdout_str(), format!("{text}\n"));
    let hex = relay(&["cat", p(&dir), "--hex", "--start", "1", "--end", "3"]);
    assert_eq!(hex.stdout_str(), format!("{}\n\n", hex::encode("world")));
    let raw = relay(&["cat", p(&dir), "--raw", "--start", "3"]);
    assert_eq!(raw.stdout, b"last line without newline");
    let empty = relay(&["cat", p(&dir), "--start", "2", "--end", "2"]);
    assert!(empty.status.success() && empty.stdout.is_empty());

    // Appending again continues the core.
    let more = relay_stdin(&["append", p(&dir), "--lines"], b"five\n").ok_json();
    assert_eq!(more["length"], 5);
    assert_eq!(relay(&["info", p(&dir)]).ok_json()["length"], 5);
}

#[test]
fn append_files_and_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("core");
    relay(&["create", p(&dir)]).ok_json();
    let (a, b) = (tmp.path().join("a.bin"), tmp.path().join("b.bin"));
    std::fs::write(&a, b"first\nfile\n").unwrap();
    std::fs::write(&b, [0u8, 1, 2, 255]).unwrap();
    assert_eq!(relay(&["append", p(&dir), p(&a), p(&b)]).ok_json()["length"], 2);
    assert_eq!(relay_stdin(&["append", p(&dir), "--chunk-size", "3"], b"abcdefgh").ok_json()["length"], 5);
    let hex = relay(&["cat", p(&dir), "--hex"]).stdout_str();
    let lines: Vec<&str> = hex.lines().collect();
    assert_eq!(
        lines,
        [
            hex::encode(b"first\nfile\n"),
            "000102ff".into(),
            hex::encode("abc"),
            hex::encode("def"),
            hex::encode("gh")
        ]
    );
    // An exact multiple of the chunk size leaves no empty tail block.
    assert_eq!(relay_stdin(&["append", p(&dir), "--chunk-size", "2"], b"wxyz").ok_json()["length"], 7);
    // Empty stdin appends nothing.
    let none = relay_stdin(&["append", p(&dir)], b"").ok_json();
    assert_eq!((none["length"].as_u64(), none["appended"].as_u64()), (Some(7), Some(0)));
}

#[test]
fn compat_core_and_generated_blocks_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("compat");
    let created = relay(&["create", "--compat", p(&dir)]).ok_json();
    assert_eq!(created["compat"], true);
    let size = 100;
    let gen = relay(&["gen-blocks", "--count", "50", "--size", "100"]);
    assert!(gen.status.success());
    let expected = testdata::blocks(0, 0, 50, size);
    assert_eq!(gen.stdout, expected.concat());
    let appended = relay_stdin(&["append", p(&dir), "--chunk-size", "100"], &gen.stdout).ok_json();
    assert_eq!(appended["length"], 50);
    let info = relay(&["info", p(&dir)]).ok_json();
    assert_eq!((info["compat"].as_bool(), info["key"].as_str()), (Some(true), created["key"].as_str()));
    let digest = relay(&["digest", p(&dir)]).ok_json();
    assert_eq!(digest["digest"], testdata::digest(&expected).as_str());
    assert_eq!(digest["bytes"], 5000);
    let part = relay(&["digest", p(&dir), "--start", "10", "--end", "20"]).ok_json();
    assert_eq!(part["digest"], testdata::digest(&expected[10..20]).as_str());
}

#[test]
fn bad_input_exits_1_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let core = tmp.path().join("core");
    relay(&["create", p(&core)]).ok_json();
    relay_stdin(&["append", p(&core)], b"a\nb\n").ok_json();
    let missing = tmp.path().join("missing");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let key = "ab".repeat(32);
    let not_hex = "g".repeat(64);

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["create", p(&core)], "not empty"),
        (vec!["create", p(&file)], "not a directory"),
        (vec!["info", p(&missing)], "no such directory"),
        (vec!["info", p(&empty)], "no hypercore here"),
        (vec!["info", p(&file)], "not a directory"),
        (vec!["cat", p(&core), "--end", "3"], "outside the core"),
        (vec!["cat", p(&core), "--start", "2", "--end", "1"], "outside the core"),
        (vec!["append", p(&missing)], "no such directory"),
        (vec!["append", p(&core), "--chunk-size", "0"], "--chunk-size"),
        (vec!["append", p(&core), p(&missing)], "read"),
        (vec!["digest", p(&core), "--end", "9"], "outside the core"),
        (vec!["share", p(&missing)], "no such directory"),
        (vec!["share", p(&core), p(&core)], "already served"),
        (vec!["share", p(&core), "--listen", "not-an-address"], "cannot listen"),
        (vec!["fetch", "zz", "--connect", "127.0.0.1:1", "--dir", p(&empty)], "bad core key"),
        (vec!["fetch", &key[..63], "--connect", "127.0.0.1:1", "--dir", p(&empty)], "bad core key"),
        (vec!["fetch", &not_hex, "--connect", "127.0.0.1:1", "--dir", p(&empty)], "bad core key"),
        (vec!["fetch", &key, "--connect", "127.0.0.1:1", "--dir", p(&core)], "different core"),
        (vec!["fetch", &key, "--connect", "127.0.0.1:1", "--dir", p(&file)], "not a directory"),
        (vec!["fetch", &key, "--connect", "nonsense", "--dir", p(&empty)], "cannot connect"),
        (
            vec!["fetch", &key, "--connect", "127.0.0.1:1", "--dir", p(&empty), "--start", "5", "--end", "2"],
            "beyond",
        ),
    ];
    for (args, needle) in cases {
        let out = relay(&args);
        let line = assert_clean_failure(&out);
        assert!(line.contains(needle), "{args:?}: expected {needle:?} in {line:?}");
    }

    // A refused connection fails cleanly, and leaves an empty replica that is not writable.
    let replica = tmp.path().join("replica");
    let refused = relay(&["fetch", &key, "--connect", "127.0.0.1:1", "--dir", p(&replica)]);
    assert!(assert_clean_failure(&refused).contains("cannot connect to 127.0.0.1:1"));
    let info = relay(&["info", p(&replica)]).ok_json();
    assert_eq!((info["key"].as_str(), info["writable"].as_bool()), (Some(key.as_str()), Some(false)));
    let line = assert_clean_failure(&relay_stdin(&["append", p(&replica)], b"x\n"));
    assert!(line.contains("not writable"), "{line}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["frobnicate"],
        vec!["create"],
        vec!["fetch", "00", "--dir", "x"],
        vec!["fetch", "00", "--connect", "a:1", "--dir", "x", "--until-length", "3"],
        vec!["fetch", "00", "--connect", "a:1", "--dir", "x", "--live", "--end", "3"],
        vec!["cat", "x", "--hex", "--raw"],
        vec!["append", "x", "file", "--chunk-size", "3"],
    ] {
        let out = relay(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"));
    }
}

#[test]
fn serve_prints_ready_and_shuts_down_on_ctrl_c() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let key_a = relay(&["create", p(&a)]).ok_json()["key"].clone();
    let key_b = relay(&["create", "--compat", p(&b)]).ok_json()["key"].clone();
    relay_stdin(&["append", p(&a)], b"1\n2\n3\n").ok_json();
    let server = common::serve(&[&a, &b]);
    let cores = server.ready["cores"].as_array().unwrap().clone();
    assert_eq!(cores.len(), 2);
    assert_eq!((&cores[0]["key"], &cores[0]["length"]), (&key_a, &serde_json::json!(3)));
    assert_eq!(cores[1]["key"], key_b);
    let listening = server.ready["listening"].as_str().unwrap().to_string();
    assert!(listening.starts_with("127.0.0.1:"), "{listening}");
    // A connection is accepted and handed to its task (whatever replication then does with it).
    let stream = std::net::TcpStream::connect(server.addr()).unwrap();
    drop(stream);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (status, rest) = server.interrupt();
    assert!(status.success(), "serve exited with {status}");
    let last = rest.last().expect("shutdown line");
    assert_eq!((last["shutdown"].as_bool(), last["connections"].as_u64()), (Some(true), Some(1)));
}

#[test]
fn bee_put_range_get_locally() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bee");
    let input = "{\"key\":\"b\",\"value\":\"2\"}\n\n{\"key\":\"a\",\"value\":\"1\"}\n{\"key\":\"c\"}\n";
    let put = relay_stdin(&["bee", "put", p(&dir)], input.as_bytes()).ok_json();
    assert_eq!(
        (put["length"].as_u64(), put["puts"].as_u64(), put["created"].as_bool()),
        (Some(4), Some(3), Some(true))
    );
    let put = relay_stdin(&["bee", "put", p(&dir)], b"{\"key\":\"b\",\"del\":true}\n").ok_json();
    assert_eq!(
        (put["length"].as_u64(), put["dels"].as_u64(), put["created"].as_bool()),
        (Some(5), Some(1), Some(false))
    );

    let range = relay(&["bee", "range", p(&dir)]);
    assert!(range.status.success(), "{}", range.stderr);
    let lines: Vec<serde_json::Value> =
        range.stdout_str().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let keys: Vec<&str> = lines[..lines.len() - 1].iter().map(|l| l["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["a", "c"]);
    assert_eq!(lines[0]["value"], "1");
    assert!(lines[1]["value"].is_null(), "a put without value");
    assert_eq!(lines[2]["count"], 2);
    let bounded = relay(&["bee", "range", p(&dir), "--gt", "a"]).stdout_str();
    assert_eq!(bounded.lines().count(), 2, "{bounded}");

    let got = relay(&["bee", "get", "a", "b", "--dir", p(&dir)]).ok_json();
    assert_eq!(got["results"][0]["value"], "1");
    assert!(got["results"][1]["value"].is_null() && got["results"][1]["seq"].is_null());
    assert_eq!((got["version"].as_u64(), got["blocksDownloaded"].as_u64()), (Some(5), Some(0)));
    let hex_key = hex::encode("a");
    let got = relay(&["bee", "get", &hex_key, "--dir", p(&dir), "--encoding", "binary"]).ok_json();
    assert_eq!(got["results"][0]["value"], hex::encode("1"));

    // Bad input: one error line, nothing written.
    let bad = relay_stdin(&["bee", "put", p(&dir)], b"{\"key\":\"x\",\"value\":\"y\"}\nnot json\n");
    assert!(assert_clean_failure(&bad).contains("line 2"));
    assert_eq!(relay(&["info", p(&dir)]).ok_json()["length"], 5);
    let missing = relay(&["bee", "range", p(&tmp.path().join("nope"))]);
    assert_clean_failure(&missing);
}

#[test]
fn dht_servers_exit_promptly_on_sigterm_and_sigint_with_stdin_open() {
    let limit = Duration::from_secs(5);
    let mut tn = common::dht::rust_testnet(3, None);
    let b = tn.bootstrap.clone();
    let mut echo = common::dht::rust("rust echo", &["echo-server", "--bootstrap", &b]);
    assert_eq!(echo.ready["event"], "listening", "{}", echo.ready);
    let status = echo.signal("TERM", limit).expect("echo-server ignored SIGTERM while stdin was open");
    assert!(status.success(), "echo-server exited with {status}");
    let mut echo = common::dht::rust("rust echo", &["echo-server", "--bootstrap", &b]);
    let status = echo.signal("INT", limit).expect("echo-server ignored SIGINT while stdin was open");
    assert!(status.success(), "echo-server exited with {status}");
    let status = tn.peer.signal("TERM", limit).expect("testnet ignored SIGTERM while stdin was open");
    assert!(status.success(), "testnet exited with {status}");
}

#[test]
fn dht_testnet_stops_on_sigterm_while_it_starts() {
    // 256 nodes take a while to start: the signal must not wait for them.
    let mut child = Command::new(common::bin())
        .args(["dht", "testnet", "--size", "256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    let status = common::signal_child(&mut child, "TERM", Duration::from_secs(5));
    let _ = child.kill();
    let _ = child.wait();
    assert!(status.is_some(), "testnet ignored SIGTERM while starting");
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn dht_testnet_size_is_capped_with_a_usage_error() {
    let t0 = Instant::now();
    let out = relay(&["dht", "testnet", "--size", "100000"]);
    assert!(t0.elapsed() < Duration::from_secs(10), "took {:?}", t0.elapsed());
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(lines[0].contains("--size") && lines[0].contains("256"), "{}", lines[0]);
}

#[test]
fn dht_hex_arguments_are_named_as_typed() {
    let key = "ab".repeat(32);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["dht", "lookup", "zz"], "TOPIC must be hex"),
        (vec!["dht", "announce", "abcd"], "TOPIC must be 32 bytes"),
        (vec!["dht", "connect", "zz"], "KEY must be hex"),
        (vec!["dht", "sink-client", "abcd"], "KEY must be 32 bytes"),
        (vec!["dht", "source-client", "zz", "--bytes", "1"], "KEY must be hex"),
        (vec!["dht", "lookup", &key, "--expect-key", "zz"], "--expect-key must be hex"),
        (vec!["dht", "mutable-get", "--key", "zz"], "--key must be hex"),
        (vec!["dht", "immutable-get", "--hash", "abcd"], "--hash must be 32 bytes"),
        (vec!["dht", "immutable-put", "--value", "zz"], "--value must be hex"),
        (vec!["dht", "echo-server", "--seed", "zz"], "--seed must be hex"),
    ];
    for (args, needle) in cases {
        let line = assert_clean_failure(&relay(&args));
        assert!(line.contains(needle), "{args:?}: expected {needle:?} in {line:?}");
    }
}

/// `serve --log-format json`: every stderr line is one JSON event (level, message, fields), from
/// "relay up" to "stopped" after SIGTERM's drain.
#[test]
fn serve_logs_structured_json_and_drains_on_sigterm() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    let mut child = Command::new(common::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--local-testnet", "2", "--log-format", "json"])
        .args(["--drain-secs", "2", "--web-root", "."])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    assert!(ready["port"].as_u64().is_some(), "{ready}");
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "serve ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "serve exited with {exit}");
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let events: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON event ({e}): {l}")))
        .collect();
    let messages: Vec<&str> = events.iter().filter_map(|e| e["message"].as_str()).collect();
    for want in ["relay up", "draining", "stopped"] {
        assert!(messages.contains(&want), "no {want:?} in {messages:?}");
    }
    assert!(events.iter().all(|e| e["level"].is_string() && e["timestamp"].is_string()), "{err}");
}
