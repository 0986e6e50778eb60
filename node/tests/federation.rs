//! Three real `lgmesh run` processes on loopback, joined through one bootstrap address.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn init(dir: &std::path::Path, org: &str, name: &str) {
    ok(
        dir,
        &["init", "--org", org, "--name", name, "--type", "district"],
    );
}

#[test]
fn three_processes_find_each_other_through_one_bootstrap_address() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    init(&a, "gss:E07000209", "Guildford Borough Council");
    init(&b, "gss:E08000035", "Leeds City Council");
    init(&c, "gss:S12000036", "City of Edinburgh Council");

    let na = Node::start(&a);
    let info = json(&ok(&a, &["info", "--json"]));
    let a_peer = info["peerId"].as_str().expect("peer id").to_owned();
    let boot = info["listenAddrs"][0]
        .as_str()
        .expect("a listen address")
        .to_owned();
    assert!(boot.starts_with("/ip4/127.0.0.1/tcp/"), "{boot}");
    assert!(
        boot.ends_with(&format!("/p2p/{a_peer}")),
        "full multiaddr: {boot}"
    );
    assert!(
        info["publisher"]
            .as_str()
            .expect("did")
            .starts_with("did:key:z6Mk")
    );
    assert_eq!(info["network"], "e2e-test");

    let nb = Node::start_with(&b, &["--bootstrap", &boot]);
    // c knows a by name, as councils give each other DNS names.
    let by_name = boot.replace("/ip4/127.0.0.1/", "/dns4/localhost/");
    let nc = Node::start_with(&c, &["--bootstrap", &by_name]);
    let c_peer = json(&ok(&c, &["info", "--json"]))["peerId"]
        .as_str()
        .expect("peer id")
        .to_owned();

    // A watcher on c, started before the publish, following LGSL 524 and its withdrawals.
    let (watch, rx) = Reaped::reading(
        Command::new(BIN)
            .args(["watch", "--json", "--lgsl", "524", "--include-retracted"])
            .arg("--data-dir")
            .arg(&c),
    );
    std::thread::sleep(Duration::from_millis(500));

    let file = examples().join("manifests/guildford-bin-collection.toml");
    ok(&a, &["publish", file.to_str().expect("path")]);

    // The third node finds what the first published.
    let hit = until("c finds a's manifest by search", || {
        let r = json(&ok(&c, &["search", "bin collection", "--json"]));
        r["hits"].as_array().and_then(|h| {
            h.iter()
                .find(|h| h["orgName"] == "Guildford Borough Council")
                .cloned()
        })
    });
    assert_eq!(hit["kind"], "service");

    // The watcher on c saw it arrive.
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("watch printed a manifest");
    let seen = json(&line);
    assert_eq!(seen["orgName"], "Guildford Borough Council", "{line}");
    // When a withdraws it, the watcher hears of it, though a tombstone has no LGSL.
    ok(
        &a,
        &[
            "retract",
            "bin-collection-days",
            "--reason",
            "moved to Surrey",
        ],
    );
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("watch printed the retraction");
    let seen = json(&line);
    assert_eq!(seen["kind"], "retraction", "{line}");
    assert_eq!(seen["name"], "bin-collection-days", "{line}");
    drop(watch);

    // b and c, which only knew a, found each other (identify + Kademlia).
    until("b is connected to c", || {
        let peers = json(&ok(&b, &["peers", "--json"]));
        peers["peers"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["peerId"] == c_peer.as_str()))
            .then_some(())
    });

    // Dial needs the admin token and refuses garbage with the field named.
    let err = fails(&b, &["dial", "not-a-multiaddr"]);
    assert!(err.contains("addr"), "{err}");
    let dialled = json(&ok(&b, &["dial", &boot, "--json"]));
    assert_eq!(dialled["peerId"], a_peer.as_str());

    // Counters show the network at work.
    let stats = json(&ok(&c, &["stats", "--json"]));
    assert!(stats["heads"].as_u64().expect("heads") >= 4, "{stats}");
    let (_, metrics) = nc.http_get("/metrics");
    assert!(metrics.contains("\nlgmesh_peers "), "{metrics}");
    assert!(
        metrics.contains("lgmesh_net_manifests_received_total{path=\"gossip\"}"),
        "{metrics}"
    );
    drop((na, nb, nc));
}

#[test]
fn bad_network_flags_are_refused_with_the_field_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("n");
    init(&dir, "gss:E07000209", "Guildford Borough Council");
    for (args, want) in [
        (
            vec!["run", "--bootstrap", "/ip4/192.0.2.7/tcp/4001"],
            "network.bootstrap",
        ),
        (
            vec!["run", "--bootstrap", "not an address"],
            "network.bootstrap",
        ),
        (vec!["run", "--listen", "tcp/4001"], "network.listen"),
        (vec!["run", "--network", "Not Valid"], "network.name"),
    ] {
        let err = fails(&dir, &args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert!(!dir.join("node.json").exists(), "no node started");

    // A port someone else holds: the reason, not libp2p's empty transport error.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let listen = format!("/ip4/127.0.0.1/tcp/{port}");
    let out = lgmesh(
        &dir,
        &[
            "run",
            "--listen",
            &listen,
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains(&listen) && last.contains("already in use"),
        "{err}"
    );
    drop(taken);
}

/// The demo, as a newcomer runs it: five or more councils that hold each other's
/// manifests, reachable with the usual commands, that keep running until Ctrl-C.
#[test]
fn the_demo_runs_a_federation_that_the_usual_commands_reach() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("lgmesh-demo");
    let (mut demo, rx) = Reaped::reading(Command::new(BIN).arg("demo").arg("--dir").arg(&root));
    // The list of councils, then the line that says every council holds everything.
    let mut councils = vec![];
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the demo did not say it was ready within 60 s");
        if let Some((_, dir)) = line.split_once("--data-dir ") {
            councils.push(root.join(dir.trim().trim_start_matches("lgmesh-demo/")));
        }
        if line.starts_with("Every council holds all") {
            break;
        }
        assert!(!line.contains("error"), "{line}");
    }
    assert!(
        councils.len() >= 5,
        "fewer than five councils: {councils:?}"
    );
    let (first, last) = (&councils[0], &councils[councils.len() - 1]);

    // Searching one council finds what others published.
    let r = json(&ok(last, &["search", "bin collection", "--json"]));
    let orgs: std::collections::HashSet<&str> = r["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .filter_map(|h| h["orgName"].as_str())
        .collect();
    assert!(orgs.len() >= 2, "hits from one council only: {r}");
    let peers = json(&ok(first, &["peers", "--json"]));
    assert!(
        peers["peers"].as_array().is_some_and(|p| !p.is_empty()),
        "{peers}"
    );

    // It keeps running: a new publish at one council reaches the last.
    let file = examples().join("manifests/guildford-bin-collection.toml");
    ok(
        first,
        &[
            "publish",
            file.to_str().expect("path"),
            "--name",
            "demo-test-bins",
        ],
    );
    let name = format!("{}/demo-test-bins", did(first));
    until("the last council holds the new manifest", || {
        let out = lgmesh(last, &["show", "--json", &name]);
        out.status.success().then_some(())
    });
    let shown = json(&ok(last, &["show", "--json", &name]));
    assert_eq!(shown["name"], "demo-test-bins", "{shown}");

    // Ctrl-C stops every council cleanly.
    let status = interrupt(&mut demo.0);
    assert!(status.success(), "the demo exited with {status}");
}

/// The `did:key` of the node in `dir`.
fn did(dir: &std::path::Path) -> String {
    json(&ok(dir, &["info", "--json"]))["publisher"]
        .as_str()
        .expect("publisher")
        .to_owned()
}
