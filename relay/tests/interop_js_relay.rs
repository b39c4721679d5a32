//! Our relay (`hyperwasm-relay serve`, in-process) on a live JS HyperDHT testnet, serving the
//! real `@hyperswarm/dht-relay` 0.4.3 client (non-custodial, over `@hyperswarm/dht-relay/ws`:
//! `tests/js/dht-relay-client.mjs`) against plain JS peers (`tests/js/dht-peer.mjs`):
//! lookup and announce seen by plain JS nodes, a connect echoed by a JS `createServer`, a
//! server on the relay dialled by a JS node, a Hyperswarm join replicating a hypercore from a
//! JS seeder (digest checked), and a custodial client refused while the other sessions go on.

#![allow(clippy::unwrap_used)]

mod common;

use common::relay_ws::relay_on;
use common::{event, lines};
use std::time::Duration;

use common::dht::{hex32, js, js_run, js_testnet, s};
use common::{node, repo_root, run_program, Output, Peer};

fn client_args(relay: &str, cmd: &str, args: &[&str]) -> Vec<String> {
    let script = repo_root().join("tests/js/dht-relay-client.mjs");
    assert!(repo_root().join("tests/js/node_modules/@hyperswarm/dht-relay").is_dir(), "run `make setup`");
    let mut a = vec![script.to_str().unwrap().to_string(), cmd.to_string(), "--relay".into(), relay.into()];
    a.extend(args.iter().map(|s| s.to_string()));
    a
}

/// A one-shot `dht-relay-client.mjs` command through the relay.
fn client_run(relay: &str, cmd: &str, args: &[&str]) -> Output {
    let a = client_args(relay, cmd, args);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    run_program(node(), &a, None, Some(&repo_root().join("tests/js")))
}

/// A long-running `dht-relay-client.mjs` command (stays up until its stdin closes).
fn client(relay: &str, cmd: &str, args: &[&str]) -> Peer {
    let a = client_args(relay, cmd, args);
    let mut p = Peer::spawn(cmd, node(), &a, Some(&repo_root().join("tests/js")));
    p.exits_on_eof = true;
    p
}

/// Runs blocking process work off the runtime's workers' way.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_dht_relay_client_through_our_relay() {
    let testnet = js_testnet(5, None);
    let running = relay_on(&testnet.bootstrap).await;
    let url = format!("ws://{}/relay", running.addr);
    let b = testnet.bootstrap.clone();

    // Announce through the relay (the client signs each record); a plain JS node finds it.
    let (u, bs) = (url.clone(), b.clone());
    let topic = hex32(0x51);
    let t = topic.clone();
    let announced = blocking(move || {
        lines(&client_run(&u, "announce", &["--topic", &t, "--seed", &hex32(1)]), "announce")
    })
    .await;
    let key = s(&event(&announced, "announced"), "publicKey");
    // (`results` may be 0: on a fresh topic the storing nodes reply with no value, which JS
    // hyperdht's query drops too.)
    let (t, k) = (topic.clone(), key.clone());
    let found = blocking(move || {
        lines(&js_run(&["lookup", "--bootstrap", &bs, "--topic", &t, "--expect-key", &k]), "js lookup")
    })
    .await;
    assert_eq!(s(&event(&found, "peer"), "publicKey"), key);

    // A plain JS node announces; the relay client's lookup sees it.
    let topic2 = hex32(0x52);
    let mut announcer =
        js("js announce", &["announce", "--bootstrap", &b, "--topic", &topic2, "--seed", &hex32(2)]);
    assert_eq!(announcer.ready["event"], "announced");
    let js_key = s(&announcer.ready, "publicKey");
    let (u, t, k) = (url.clone(), topic2.clone(), js_key.clone());
    let looked =
        blocking(move || lines(&client_run(&u, "lookup", &["--topic", &t, "--expect-key", &k]), "lookup"))
            .await;
    assert_eq!(event(&looked, "done")["found"], true, "{looked:?}");
    let _ = &mut announcer;

    // Connect + echo to a JS createServer.
    let echo = js("js echo", &["echo-server", "--bootstrap", &b, "--seed", &hex32(3)]);
    let echo_key = s(&echo.ready, "publicKey");
    let (u, k) = (url.clone(), echo_key.clone());
    let echoed =
        blocking(move || lines(&client_run(&u, "connect", &["--key", &k, "--bytes", "200000"]), "connect"))
            .await;
    assert_eq!(s(&event(&echoed, "open"), "remotePublicKey"), echo_key);
    let e = event(&echoed, "echoed");
    assert_eq!((e["ok"].as_bool(), e["bytes"].as_u64()), (Some(true), Some(200_000)), "{e}");

    // Listen on the relay; a plain JS node dials it and gets its bytes echoed.
    let (u, seed) = (url.clone(), hex32(4));
    let mut server = blocking(move || client(&u, "listen", &["--seed", &seed])).await;
    assert_eq!(server.ready["event"], "listening", "{}", server.ready);
    let server_key = s(&server.ready, "publicKey");
    let (bs, k) = (b.clone(), server_key.clone());
    let dialled = blocking(move || {
        lines(&js_run(&["connect", "--bootstrap", &bs, "--key", &k, "--bytes", "100000"]), "js connect")
    })
    .await;
    assert_eq!(event(&dialled, "echoed")["ok"], true, "{dialled:?}");
    let (server, conn) = blocking(move || {
        let c = server.wait_event("connection");
        (server, c)
    })
    .await;
    assert!(conn["remotePublicKey"].is_string());

    // Hyperswarm through the relay replicates a hypercore from a JS seeder.
    let seeder = js("js seed", &["swarm-seed", "--bootstrap", &b, "--blocks", "300", "--server-only"]);
    let (core_key, digest) = (s(&seeder.ready, "key"), s(&seeder.ready, "digest"));
    let (u, k) = (url.clone(), core_key.clone());
    let fetched = blocking(move || {
        lines(&client_run(&u, "swarm-fetch", &["--key", &k, "--length", "300"]), "swarm-fetch")
    })
    .await;
    let done = event(&fetched, "done");
    assert_eq!((s(&done, "digest"), done["length"].as_u64()), (digest, Some(300)), "{done}");

    // A custodial client is refused (1008 CUSTODIAL_REFUSED) ...
    let (u, t) = (url.clone(), hex32(0x53));
    let refused = blocking(move || lines(&client_run(&u, "custodial", &["--topic", &t]), "custodial")).await;
    let c = event(&refused, "closed");
    assert_eq!((c["refused"].as_bool(), c["code"].as_u64()), (Some(true), Some(1008)), "{c}");
    // ... and the relay's other session (the server) still serves.
    let (bs, k) = (b.clone(), server_key.clone());
    let again = blocking(move || {
        lines(&js_run(&["connect", "--bootstrap", &bs, "--key", &k, "--bytes", "4096"]), "js connect again")
    })
    .await;
    assert_eq!(event(&again, "echoed")["ok"], true, "{again:?}");
    drop(server);
    drop(seeder);
    drop(echo);
    running.drain(Duration::from_secs(2)).await;
}
