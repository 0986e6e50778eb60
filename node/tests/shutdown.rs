//! A node stops in order: it stops accepting (gRPC, the admin socket, HTTP) and waits for
//! its own tasks, then stops its network, then flushes its store, within the deadline;
//! and what it acknowledged is in the store when it is opened again.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// The stages of an ordered shutdown, as the node logs them, in the order they must
/// come.
const STAGES: [&str; 6] = [
    "shutting down",
    "stopped accepting",
    "the node's tasks have ended",
    "network stopped",
    "store flushed",
    "stopped",
];

/// The first of `lines` from `from` whose message (after the span and the target,
/// `node{…}: lgmesh::server: `) begins with `what`.
fn line_of(lines: &[&str], from: usize, what: &str) -> Option<usize> {
    let what = format!(": {what}");
    (from..lines.len()).find(|&i| lines[i].contains(&what))
}

#[test]
fn a_node_stops_accepting_then_stops_its_network_then_flushes_its_store() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let log = tmp.path().join("stderr.log");
    let mut node = Node::start_logged(&dir, &[], &log);

    // Acknowledged over the admin socket, then at once Ctrl-C.
    let file = examples().join("manifests/guildford-bin-collection.toml");
    let out = json(&ok(
        &dir,
        &["publish", file.to_str().expect("utf8"), "--json"],
    ));
    assert_eq!(out["outcome"], "OUTCOME_STORED", "{out}");
    let asked = Instant::now();
    let status = node.interrupt();
    let took = asked.elapsed();
    assert!(status.success(), "the node exited with {status}");
    // The deadline (10 s) bounds stopping; a node that stops in order is far quicker.
    assert!(took < Duration::from_secs(10), "stopping took {took:?}");

    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<&str> = text.lines().collect();
    let mut at = 0;
    for stage in STAGES {
        let Some(i) = line_of(&lines, at, stage) else {
            panic!("no {stage:?} after line {at} (out of order, or missing):\n{text}");
        };
        // Each in the node's root span: the line says which organisation.
        assert!(
            lines[i].contains("node{org=gss:E07000209}"),
            "not in the node's span: {}",
            lines[i]
        );
        at = i + 1;
    }
    // The publish was logged in the span of its gRPC call, under the node's.
    let stored = lines
        .iter()
        .find(|l| l.contains(": stored "))
        .unwrap_or_else(|| panic!("no stored line:\n{text}"));
    assert!(
        stored.contains(
            "node{org=gss:E07000209}:grpc{method=/lgmesh.v1.Registry/Publish peer=admin-socket}"
        ),
        "{stored}"
    );
    assert!(!dir.join("node.json").exists(), "node.json removed");
    assert!(!dir.join("admin.sock").exists(), "admin socket removed");

    // What was acknowledged is in the store, opened again.
    let reg = lgmesh_registry::Registry::open(&dir.join("store"), Default::default())
        .expect("the store opens again");
    let pk = publisher_key(&dir).public();
    let head = reg
        .resolve(&pk, "bin-collection-days")
        .expect("read")
        .expect("the acknowledged manifest is stored");
    assert_eq!(head.body.version, 1);
}
