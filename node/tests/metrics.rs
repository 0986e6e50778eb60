//! `/metrics` of two real nodes, one gossiping to the other: libp2p's families (swarm,
//! gossipsub, Kademlia, identify) are served beside the node's, in the Prometheus text
//! format that `promtool check metrics` passes, and in OpenMetrics to a scraper that
//! asks for it, as Prometheus does.
//!
//! Needs `promtool` (Debian's `prometheus` package; `.ci/run` installs it) for the lint.
//! Where it is missing the test says that it skipped that part, and checks the rest;
//! where `LGMESH_REQUIRE_PROMTOOL` is set (`.ci/run` sets it), it fails instead.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// What Prometheus 2.x and 3.x send when they scrape.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn init(dir: &std::path::Path, org: &str, name: &str) {
    ok(
        dir,
        &["init", "--org", org, "--name", name, "--type", "district"],
    );
}

/// `GET path` with an `Accept` header: the `Content-Type` and the body.
fn get(node: &Node, path: &str, accept: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(&node.http).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read");
    let (head, body) = buf.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .expect("a content type");
    (content_type, body.to_owned())
}

/// Whether some sample of a family named `prefix…` is above zero.
fn counted(text: &str, prefix: &str) -> bool {
    text.lines().any(|l| {
        l.starts_with(prefix)
            && l.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| v > 0.0)
    })
}

/// `promtool check metrics` on `text`: `None` when there is no promtool.
fn promtool_check(text: &str) -> Option<(bool, String)> {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // CI installs it (`.ci/run`) and says so: there, a missing promtool fails.
            assert!(
                std::env::var_os("LGMESH_REQUIRE_PROMTOOL").is_none(),
                "promtool is required (LGMESH_REQUIRE_PROMTOOL is set) but not found"
            );
            return None;
        }
        Err(e) => panic!("running promtool: {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool ran");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), said))
}

#[test]
fn metrics_carry_libp2p_families_and_pass_promtool() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    init(&a, "gss:E07000209", "Guildford Borough Council");
    init(&b, "gss:E08000035", "Leeds City Council");
    let na = Node::start(&a);
    let nb = Node::start_with(&b, &["--bootstrap", &listen_addr(&a)]);

    // Published once b is in a's gossip mesh, the manifest reaches b by gossip.
    until("b is in a's gossip mesh", || {
        let peers = json(&ok(&a, &["peers", "--json"]));
        peers["peers"]
            .as_array()?
            .iter()
            .any(|p| p["inMesh"] == true)
            .then_some(())
    });
    let file = examples().join("manifests/guildford-bin-collection.toml");
    ok(&a, &["publish", file.to_str().expect("path")]);

    // libp2p counted what happened beside lgmesh: connections, the gossip message, the
    // routing table, the identify exchange.
    let families = [
        "libp2p_swarm_",
        "libp2p_gossipsub_",
        "libp2p_kad_",
        "libp2p_identify_",
    ];
    let text = until("b's libp2p families count something", || {
        let (_, body) = nb.http_get("/metrics");
        // The gossip message counted and validated too: the families are read at
        // different moments, so one scrape may come between them.
        (families.iter().all(|f| counted(&body, f))
            && counted(
                &body,
                "lgmesh_net_manifests_received_total{path=\"gossip\"}",
            )
            && counted(&body, "lgmesh_gossip_validation_seconds_total"))
        .then_some(body)
    });
    assert!(
        counted(
            &text,
            "lgmesh_net_manifests_received_total{path=\"gossip\"}"
        ),
        "{text}"
    );
    // The node's own families keep their names; time is in seconds.
    for line in [
        "# TYPE lgmesh_net_manifests_received_total counter",
        "# TYPE lgmesh_gossip_validation_seconds_total counter",
        "# TYPE lgmesh_peers gauge",
        "# TYPE lgmesh_domain_checks_total counter",
        "# TYPE lgmesh_store_heads gauge",
        "# TYPE lgmesh_manifests_accepted_total counter",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    assert!(counted(&text, "lgmesh_gossip_validation_seconds_total"));
    // Gossipsub's own account of the topic it joined: a peer on it, and a message.
    for family in [
        "libp2p_gossipsub_topic_peers_counts{",
        "libp2p_gossipsub_topic_msg_recv_counts_total{",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(family) && !l.ends_with(" 0")),
            "{family} in:\n{text}"
        );
    }
    assert!(!text.contains("microseconds"), "{text}");

    // The text format, for curl and promtool, unless OpenMetrics is asked for.
    let mut linted = true;
    for node in [&na, &nb] {
        let (content_type, text) = get(node, "/metrics", "*/*");
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
        match promtool_check(&text) {
            Some((clean, said)) => assert!(
                clean && said.trim().is_empty(),
                "promtool check metrics:\n{said}\non:\n{text}"
            ),
            None => linted = false,
        }
    }
    if !linted {
        // Past the test harness's capture, so that a skip is seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED promtool check metrics in metrics_carry_libp2p_families_and_pass_promtool: no promtool (Debian: apt-get install prometheus)"
        );
    }

    // OpenMetrics for Prometheus: families named without `_total`, a unit, an end.
    let (content_type, om) = get(&nb, "/metrics", PROMETHEUS_ACCEPT);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.ends_with("\n# EOF\n"), "{om}");
    for line in [
        "# TYPE lgmesh_net_manifests_received counter",
        "# TYPE lgmesh_gossip_validation_seconds counter",
        "# UNIT lgmesh_gossip_validation_seconds seconds",
        "# TYPE libp2p_gossipsub_messages counter",
    ] {
        assert!(om.lines().any(|l| l == line), "{line} in:\n{om}");
    }
    assert!(counted(&om, "libp2p_gossipsub_messages_total"), "{om}");
    drop((na, nb));
}
