//! The Rust HyperDHT node (`hyperwasm-relay dht …`) against live JS HyperDHT peers
//! (`tests/js/dht-peer.mjs`: hyperdht 6.34.0, hyperswarm 4.17.2, corestore 7) on loopback
//! testnets. Each test starts its own testnet(s); every outcome is checked against what the JS
//! side reports (keys, hashes, digests, signatures, commit codes).

#![allow(clippy::unwrap_used)]

mod common;

use common::dht::{hex32, js, js_run, js_testnet, rust, rust_run, rust_testnet, s, stream_hash};
use common::{bin, p, relay, relay_stdin, run_program};
use common::{event, lines};
use hyperwasm::crypto::KeyPair;
use hyperwasm_relay::commands::dht::stream::echo_connection;
use hyperwasm_relay::dht::{Dht, DhtConfig};
use hyperwasm_relay::dht_rpc::peer;
use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The public keys of `peer` events.
fn peers(lines: &[Value]) -> Vec<String> {
    lines.iter().filter(|v| v["event"] == "peer").map(|v| s(v, "publicKey")).collect()
}

fn public_key(seed: u8) -> String {
    hex::encode(KeyPair::from_seed(&[seed; 32]).public_key())
}

/// `commits` holds at least one storing node, and every entry has this error number.
fn all_committed(v: &Value, error: u64) {
    let commits = v["commits"].as_array().unwrap_or_else(|| panic!("no commits in {v}"));
    assert!(!commits.is_empty(), "nobody stored it: {v}");
    assert!(commits.iter().all(|c| c["error"] == error), "{v}");
}

#[test]
fn announce_and_lookup_across_languages_and_unannounce() {
    let tn = js_testnet(4, None);
    let b = tn.bootstrap.as_str();

    // Rust announces, JS looks up.
    let topic = hex32(0xa1);
    let mut ann = rust("rust announce", &["announce", &topic, "--bootstrap", b, "--seed", &hex32(0x11)]);
    assert_eq!(ann.ready["event"], "announced", "{}", ann.ready);
    let pk = s(&ann.ready, "publicKey");
    assert_eq!(pk, public_key(0x11));
    all_committed(&ann.ready, 0);
    let found =
        lines(&js_run(&["lookup", "--bootstrap", b, "--topic", &topic, "--expect-key", &pk]), "JS lookup");
    assert!(peers(&found).contains(&pk), "{found:?}");

    // Rust unannounces (over stdin): JS no longer finds it.
    let un = ann.command(json!({ "unannounce": true }));
    assert_eq!(un["unannounced"], true, "{un}");
    all_committed(&un, 0);
    let after =
        lines(&js_run(&["lookup", "--bootstrap", b, "--topic", &topic]), "JS lookup after unannounce");
    assert!(!peers(&after).contains(&pk), "still announced: {after:?}");

    // JS announces (with its echo server's relay addresses), Rust looks up.
    let topic2 = hex32(0xa2);
    let jann = js(
        "js announce",
        &["announce", "--bootstrap", b, "--topic", &topic2, "--seed", &hex32(0x12), "--listen"],
    );
    let jpk = s(&jann.ready, "publicKey");
    assert_eq!(jpk, public_key(0x12));
    let found = lines(&rust_run(&["lookup", &topic2, "--bootstrap", b, "--expect-key", &jpk]), "Rust lookup");
    let peer = found.iter().find(|v| v["event"] == "peer" && v["publicKey"] == jpk.as_str()).unwrap();
    assert_eq!(peer["relayAddresses"], jann.ready["relayAddresses"], "{found:?}");
    assert_eq!(event(&found, "done")["peers"], 1);
}

#[test]
fn echo_connections_both_ways() {
    let tn = js_testnet(4, None);
    let b = tn.bootstrap.as_str();

    // Rust client → JS server.
    let mut jsrv = js("js echo", &["echo-server", "--bootstrap", b, "--seed", &hex32(0x21)]);
    let jpk = s(&jsrv.ready, "publicKey");
    let out = lines(
        &rust_run(&["connect", &jpk, "--bootstrap", b, "--bytes", "300000", "--seed", &hex32(0x31)]),
        "Rust connect",
    );
    assert_eq!(event(&out, "connected")["remotePublicKey"], jpk.as_str());
    let echoed = event(&out, "echoed");
    assert_eq!((echoed["ok"].clone(), echoed["bytes"].clone()), (json!(true), json!(300000)), "{echoed}");
    assert_eq!(jsrv.wait_event("connection")["remotePublicKey"], public_key(0x31).as_str());
    assert_eq!(jsrv.wait_event("disconnect")["bytes"], 300000);

    // JS client → Rust server.
    let mut rsrv = rust("rust echo", &["echo-server", "--bootstrap", b, "--seed", &hex32(0x22)]);
    let rpk = s(&rsrv.ready, "publicKey");
    assert_eq!(rpk, public_key(0x22));
    let out = lines(
        &js_run(&["connect", "--bootstrap", b, "--key", &rpk, "--bytes", "300000", "--seed", &hex32(0x32)]),
        "JS connect",
    );
    assert_eq!(event(&out, "connected")["remotePublicKey"], rpk.as_str());
    assert_eq!(event(&out, "echoed")["ok"], true, "{out:?}");
    assert_eq!(rsrv.wait_event("connection")["remotePublicKey"], public_key(0x32).as_str());
    assert_eq!(rsrv.wait_event("disconnect")["bytes"], 300000);
}

/// 5 MB each way between Rust and JS, hashes compared on both ends; `extra` goes to every Rust
/// command (the loss shim).
fn five_mb_both_ways(extra: &[&str]) {
    const N: &str = "5000000";
    let expected = stream_hash(5_000_000);
    assert!(expected.starts_with("5780c329") && expected.ends_with("8d14125"), "{expected}");
    let tn = js_testnet(4, None);
    let b = tn.bootstrap.as_str();

    // Rust source client → JS sink server.
    let mut sink = js("js sink", &["sink-server", "--bootstrap", b]);
    let mut args =
        vec!["source-client", sink.ready["publicKey"].as_str().unwrap(), "--bytes", N, "--bootstrap", b];
    args.extend(extra);
    let out = lines(&rust_run(&args), "Rust source-client");
    assert_eq!(event(&out, "sent")["hash"], expected.as_str());
    let got = sink.wait_event("received");
    assert_eq!((got["bytes"].clone(), got["hash"].clone()), (json!(5_000_000), json!(expected)), "{got}");

    // JS source server → Rust sink client.
    let mut source = js("js source", &["source-server", "--bootstrap", b, "--bytes", N]);
    let mut args = vec!["sink-client", source.ready["publicKey"].as_str().unwrap(), "--bootstrap", b];
    args.extend(extra);
    let out = lines(&rust_run(&args), "Rust sink-client");
    let got = event(&out, "received");
    assert_eq!((got["bytes"].clone(), got["hash"].clone()), (json!(5_000_000), json!(expected)), "{got}");
    assert_eq!(source.wait_event("sent")["hash"], expected.as_str());

    // JS source client → Rust sink server.
    let mut args = vec!["sink-server", "--bootstrap", b];
    args.extend(extra);
    let mut rsink = rust("rust sink", &args);
    let rpk = s(&rsink.ready, "publicKey");
    let out =
        lines(&js_run(&["source-client", "--bootstrap", b, "--key", &rpk, "--bytes", N]), "JS source-client");
    assert_eq!(event(&out, "sent")["hash"], expected.as_str());
    let got = rsink.wait_event("received");
    assert_eq!((got["bytes"].clone(), got["hash"].clone()), (json!(5_000_000), json!(expected)), "{got}");
}

#[test]
fn five_mb_streams_both_directions() {
    five_mb_both_ways(&[]);
}

#[test]
fn five_mb_streams_survive_five_percent_loss() {
    // Every datagram of the Rust node (DHT requests included) is dropped with p = 0.05, both
    // ways.
    five_mb_both_ways(&["--loss", "0.05", "--loss-seed", "7"]);
}

#[test]
fn hyperswarm_peers_replicate_a_hypercore_both_ways() {
    let tn = js_testnet(4, None);
    let b = tn.bootstrap.as_str();
    let tmp = tempfile::tempdir().unwrap();

    // JS Hyperswarm seeds, Rust joins the topic and fetches.
    let jseed =
        js("js swarm-seed", &["swarm-seed", "--bootstrap", b, "--blocks", "200", "--block-size", "1024"]);
    let (jkey, jdigest) = (s(&jseed.ready, "key"), s(&jseed.ready, "digest"));
    let dir = tmp.path().join("from-js");
    let out = lines(
        &rust_run(&["join", "--dir", p(&dir), "--key", &jkey, "--length", "200", "--bootstrap", b]),
        "Rust join (fetch)",
    );
    let done = event(&out, "done");
    assert_eq!((done["blocks"].clone(), done["digest"].clone()), (json!(200), json!(jdigest)), "{done}");
    assert_eq!(event(&out, "ready")["topic"], jseed.ready["discoveryKey"]);

    // Rust seeds (a core made by the CLI with the same blocks), JS Hyperswarm fetches.
    let seed_dir = tmp.path().join("rust-seed");
    let key = s(&relay(&["create", p(&seed_dir)]).ok_json(), "key");
    let blocks = run_program(&bin(), &["gen-blocks", "--count", "200", "--size", "1024"], None, None);
    assert!(blocks.status.success());
    relay_stdin(&["append", p(&seed_dir), "--chunk-size", "1024"], &blocks.stdout).ok_json();
    let rseed = rust("rust join (seed)", &["join", "--dir", p(&seed_dir), "--bootstrap", b]);
    assert_eq!(s(&rseed.ready, "key"), key);
    assert_eq!(s(&rseed.ready, "digest"), jdigest, "same blocks, same digest");
    let out = lines(
        &js_run(&["swarm-fetch", "--bootstrap", b, "--key", &key, "--length", "200"]),
        "JS swarm-fetch",
    );
    let done = event(&out, "done");
    assert_eq!((done["blocks"].clone(), done["digest"].clone()), (json!(200), json!(jdigest)), "{done}");
}

#[test]
fn testnets_bootstrap_off_each_other() {
    // A JS testnet joins a Rust-run network: a JS announce entering through a JS node is found
    // by a Rust lookup entering through a Rust node.
    let rtn = rust_testnet(3, None);
    let jtn = js_testnet(3, Some(&rtn.bootstrap));
    let topic = hex32(0xc1);
    let jann = js(
        "js announce",
        &["announce", "--bootstrap", &jtn.nodes[1], "--topic", &topic, "--seed", &hex32(0x51)],
    );
    all_committed(&jann.ready, 0);
    let found = lines(
        &rust_run(&["lookup", &topic, "--bootstrap", &rtn.nodes[1], "--expect-key", &public_key(0x51)]),
        "Rust lookup via the Rust testnet",
    );
    assert!(peers(&found).contains(&public_key(0x51)));

    // A Rust testnet joins a JS network: the reverse.
    let jtn2 = js_testnet(3, None);
    let rtn2 = rust_testnet(3, Some(&jtn2.bootstrap));
    let topic2 = hex32(0xc2);
    let rann =
        rust("rust announce", &["announce", &topic2, "--bootstrap", &rtn2.nodes[1], "--seed", &hex32(0x52)]);
    all_committed(&rann.ready, 0);
    let found = lines(
        &js_run(&[
            "lookup",
            "--bootstrap",
            &jtn2.nodes[1],
            "--topic",
            &topic2,
            "--expect-key",
            &public_key(0x52),
        ]),
        "JS lookup via the JS testnet",
    );
    assert!(peers(&found).contains(&public_key(0x52)));
}

#[test]
fn mutable_and_immutable_records_across_languages() {
    let tn = js_testnet(4, None);
    let b = tn.bootstrap.as_str();

    // Immutable: Rust puts, JS gets; JS puts, Rust gets.
    let value = hex::encode(b"an immutable value from rust");
    let put = event(
        &lines(&rust_run(&["immutable-put", "--value", &value, "--bootstrap", b]), "Rust put"),
        "immutable-put",
    );
    let hash = hex::encode(hyperwasm::hyperdht::crypto::hash(b"an immutable value from rust"));
    assert_eq!(put["hash"], hash.as_str());
    all_committed(&put, 0);
    let got = event(
        &lines(&js_run(&["immutable-get", "--bootstrap", b, "--hash", &hash]), "JS get"),
        "immutable-get",
    );
    assert_eq!((got["found"].clone(), got["value"].clone()), (json!(true), json!(value)), "{got}");

    let value2 = hex::encode(b"an immutable value from js");
    let put = event(
        &lines(&js_run(&["immutable-put", "--bootstrap", b, "--value", &value2]), "JS put"),
        "immutable-put",
    );
    let got = event(
        &lines(
            &rust_run(&["immutable-get", "--hash", put["hash"].as_str().unwrap(), "--bootstrap", b]),
            "Rust get",
        ),
        "immutable-get",
    );
    assert_eq!((got["found"].clone(), got["value"].clone()), (json!(true), json!(value2)), "{got}");

    // Mutable: JS puts seq 1, Rust gets it (signature as JS made it).
    let seed = hex32(0x41);
    let pk = public_key(0x41);
    let v1 = hex::encode(b"version one");
    let jput = event(
        &lines(
            &js_run(&["mutable-put", "--bootstrap", b, "--value", &v1, "--seed", &seed, "--seq", "1"]),
            "JS put",
        ),
        "mutable-put",
    );
    all_committed(&jput, 0);
    let got =
        event(&lines(&rust_run(&["mutable-get", "--key", &pk, "--bootstrap", b]), "Rust get"), "mutable-get");
    assert_eq!(
        (got["found"].clone(), got["seq"].clone(), got["value"].clone(), got["signature"].clone()),
        (json!(true), json!(1), json!(v1), jput["signature"].clone()),
        "{got}"
    );

    // Rust puts seq 2 with the same key, JS gets it (signature as Rust made it).
    let v2 = hex::encode(b"version two");
    let rput = event(
        &lines(
            &rust_run(&["mutable-put", "--value", &v2, "--seed", &seed, "--seq", "2", "--bootstrap", b]),
            "Rust put",
        ),
        "mutable-put",
    );
    all_committed(&rput, 0);
    let got =
        event(&lines(&js_run(&["mutable-get", "--bootstrap", b, "--key", &pk]), "JS get"), "mutable-get");
    assert_eq!(
        (got["seq"].clone(), got["value"].clone(), got["signature"].clone()),
        (json!(2), json!(v2), rput["signature"].clone()),
        "{got}"
    );

    // Another value at seq 2 is refused by the JS storing nodes: SEQ_REUSED (16).
    let v3 = hex::encode(b"version two, again");
    let again = event(
        &lines(
            &rust_run(&["mutable-put", "--value", &v3, "--seed", &seed, "--seq", "2", "--bootstrap", b]),
            "Rust put",
        ),
        "mutable-put",
    );
    all_committed(&again, 16);
}

#[test]
fn rust_persistent_node_stores_and_routes_for_js_peers() {
    // A JS testnet of one ephemeral bootstrap node plus a Rust persistent node: the Rust node is
    // the only one that stores anything, so every record, self-announce and handshake goes
    // through it.
    let tn = js_testnet(1, None);
    let b = tn.bootstrap.as_str();
    let boot: Vec<SocketAddrV4> = b.split(',').map(|a| a.parse().unwrap()).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let loopback = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
    let start = |config: DhtConfig| {
        rt.block_on(async {
            let dht = Dht::bind(config).await.unwrap();
            dht.ready().await.unwrap();
            dht
        })
    };
    let relay = start(DhtConfig::persistent(loopback, boot.clone()));
    let relay_addr = relay.local_addr();
    assert_eq!(rt.block_on(relay.info()).unwrap().id, Some(peer::id(&relay_addr)), "persistent");

    // A JS announce commits to the Rust node (it checked the signature over its id and token)
    // and a JS lookup reads the record back from it.
    let topic = hex32(0xb1);
    let ann = js("js announce", &["announce", "--bootstrap", b, "--topic", &topic, "--seed", &hex32(0x88)]);
    let commits = ann.ready["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 1, "{}", ann.ready);
    assert_eq!(
        (commits[0]["port"].as_u64(), commits[0]["error"].as_u64()),
        (Some(relay_addr.port().into()), Some(0))
    );
    let pk = s(&ann.ready, "publicKey");
    let found =
        lines(&js_run(&["lookup", "--bootstrap", b, "--topic", &topic, "--expect-key", &pk]), "JS lookup");
    let seen = found.iter().find(|v| v["event"] == "peer" && v["publicKey"] == pk.as_str()).unwrap();
    assert_eq!(seen["from"]["port"], relay_addr.port(), "{seen}");

    // JS client → Rust relay → Rust server that does not claim to be reachable (bound to
    // 0.0.0.0: firewall UNKNOWN, no holepunch info): the JS client goes direct to the address
    // the relay saw.
    let server_kp = KeyPair::from_seed(&[0x5a; 32]);
    let server_dht = start(DhtConfig::client(boot.clone()));
    let mut server = rt.block_on(server_dht.listen(&server_kp)).unwrap();
    assert_eq!(rt.block_on(server.relay_addresses()), vec![relay_addr], "self-announced to the relay");
    let accepted = rt.spawn(async move {
        let conn = server.accept().await.expect("a connection");
        let remote = conn.remote_public_key();
        echo_connection(conn).await;
        (remote, server) // still listening: dropping it would unannounce
    });
    let spk = hex::encode(server_kp.public_key());
    let out = lines(
        &js_run(&["connect", "--bootstrap", b, "--key", &spk, "--bytes", "20000", "--seed", &hex32(0x66)]),
        "JS connect",
    );
    assert_eq!(event(&out, "echoed")["ok"], true, "{out:?}");
    let remote = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), accepted).await });
    let (remote, _server) = remote.unwrap().unwrap();
    assert_eq!(hex::encode(remote), public_key(0x66));

    // Rust client (reachable) → Rust relay → JS echo server (firewalled).
    let jsrv = js("js echo", &["echo-server", "--bootstrap", b, "--seed", &hex32(0x99)]);
    let jpk: [u8; 32] = hex::decode(s(&jsrv.ready, "publicKey")).unwrap().try_into().unwrap();
    let client = start(DhtConfig { bind: loopback, ..DhtConfig::client(boot) });
    rt.block_on(async {
        // Only the Rust relay holds either server's self-announce.
        for key in [jpk, server_kp.public_key()] {
            let holders: Vec<SocketAddrV4> = client
                .find_peer(key)
                .await
                .unwrap()
                .iter()
                .filter(|r| !r.peers.is_empty())
                .map(|r| r.from)
                .collect();
            assert_eq!(holders, vec![relay_addr]);
        }
        let conn = client.connect(jpk, &KeyPair::from_seed(&[0x5b; 32]), Vec::new()).await.unwrap();
        let mut enc = conn.encrypted();
        enc.write_all(b"through the rust relay").await.unwrap();
        let mut got = [0u8; 22];
        tokio::time::timeout(Duration::from_secs(10), enc.read_exact(&mut got)).await.unwrap().unwrap();
        assert_eq!(&got, b"through the rust relay");
        enc.shutdown().await.unwrap();
        for dht in [&client, &server_dht, &relay] {
            dht.destroy().await;
        }
    });
}

/// A Rust client that stops reading while a JS echo server sends 5 MB back and both sides end:
/// once it reads again it gets every byte before EOF (the stream closed cleanly underneath it
/// while most of the echo still waited in our buffers).
#[test]
fn a_slow_reader_gets_the_whole_echo_from_js() {
    use hyperwasm_relay::dht::{Dht, DhtConfig};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const N: usize = 5_000_000;
    let tn = js_testnet(4, None);
    let jsrv = js("js echo", &["echo-server", "--bootstrap", &tn.bootstrap, "--seed", &hex32(0x23)]);
    let key: [u8; 32] = hex::decode(s(&jsrv.ready, "publicKey")).unwrap().try_into().unwrap();
    let bootstrap = tn.bootstrap.split(',').map(|a| a.parse().unwrap()).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (got, want) = rt.block_on(async move {
        let mut cfg = DhtConfig::client(bootstrap);
        cfg.bind = "127.0.0.1:0".parse().unwrap();
        let dht = Dht::bind(cfg).await.unwrap();
        dht.ready().await.unwrap();
        let conn = dht.connect(key, &KeyPair::from_seed(&[0x33; 32]), Vec::new()).await.unwrap();
        let (mut r, mut w) = tokio::io::split(conn.encrypted());
        let data: Vec<u8> = (0..N).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
        let want = data.clone();
        let writer = tokio::spawn(async move {
            w.write_all(&data).await.unwrap();
            w.shutdown().await.unwrap();
            w
        });
        let mut got = vec![0u8; 1024];
        let n = r.read(&mut got).await.unwrap();
        got.truncate(n);
        tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
        let read = tokio::time::timeout(std::time::Duration::from_secs(30), r.read_to_end(&mut got));
        read.await.unwrap().unwrap();
        let _w = writer.await.unwrap();
        dht.destroy().await;
        (got, want)
    });
    assert_eq!(got.len(), N, "bytes lost under a clean close");
    assert!(got == want, "the echo differs");
}

/// A JS server that sends a few bytes and ends before its reply reached our (OPEN) client: the
/// data and the END arrive while the stream still belongs to the handshake, and the Rust
/// sink-client must still see both (it used to wait for an EOF that never came).
#[test]
fn a_short_js_stream_that_ends_before_the_handshake_reply_reaches_the_client() {
    let tn = js_testnet(4, None);
    let b = tn.bootstrap.as_str();
    let mut source = js("js source", &["source-server", "--bootstrap", b, "--bytes", "10"]);
    let key = s(&source.ready, "publicKey");
    for round in 0..3 {
        let out = lines(
            &rust_run(&["sink-client", &key, "--bootstrap", b, "--timeout-ms", "15000"]),
            &format!("Rust sink-client, round {round}"),
        );
        let got = event(&out, "received");
        assert_eq!((got["bytes"].clone(), got["hash"].clone()), (json!(10), json!(stream_hash(10))), "{got}");
        assert_eq!(source.wait_event("sent")["hash"], stream_hash(10).as_str());
    }
}
