//! Two councils behind NAT, a third council's node relaying on the "internet" between
//! them, built from Linux network namespaces: each council sits on a private LAN behind
//! a router that masquerades its traffic and drops whatever it did not ask for, as a
//! council firewall does. AutoNAT finds them unreachable, they reach each other through
//! the relay, and a hole punch (DCUtR) then connects them directly.
//!
//! Needs root, `ip` (iproute2) and `iptables`; `.ci/run` installs iptables. Where they
//! are missing the test says what it skipped and passes.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The "internet" between the routers. Globally routable addresses (an unused /24 of
/// 11.0.0.0/8, private to the namespace): AutoNAT only judges global addresses.
const RELAY_IP: &str = "11.9.0.1";
/// Fixed ports are safe here: each namespace is this test's alone.
const RELAY_PORT: u16 = 4101;
const NODE_PORT: u16 = 4103;

/// The namespaces of one run, deleted on drop (which also removes their links).
struct Topology {
    prefix: String,
}

impl Topology {
    fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The internet namespace with a bridge at `RELAY_IP`, and two routers (11.9.0.2,
    /// 11.9.0.3) each with a LAN behind it (192.168.k.0/24, the node at .2).
    fn build() -> Result<Topology, String> {
        let t = Topology {
            prefix: format!("lgn{}", std::process::id() % 100_000),
        };
        let p = &t.prefix;
        // Left over from a run of the same process id that was killed.
        drop(Topology { prefix: p.clone() });
        let inet = t.ns("i");
        ip(&["netns", "add", &inet])?;
        ip(&["-n", &inet, "link", "set", "lo", "up"])?;
        ip(&["-n", &inet, "link", "add", "br0", "type", "bridge"])?;
        ip(&[
            "-n",
            &inet,
            "addr",
            "add",
            &format!("{RELAY_IP}/24"),
            "dev",
            "br0",
        ])?;
        ip(&["-n", &inet, "link", "set", "br0", "up"])?;
        for k in 1..=2 {
            let (router, lan) = (t.ns(&format!("n{k}")), t.ns(&format!("l{k}")));
            let (wan, up) = (format!("{p}w{k}"), format!("{p}b{k}"));
            let (inside, node) = (format!("{p}x{k}"), format!("{p}y{k}"));
            for ns in [&router, &lan] {
                ip(&["netns", "add", ns])?;
                ip(&["-n", ns, "link", "set", "lo", "up"])?;
            }
            ip(&["link", "add", &wan, "type", "veth", "peer", "name", &up])?;
            ip(&["link", "set", &wan, "netns", &router])?;
            ip(&["link", "set", &up, "netns", &inet])?;
            ip(&["-n", &inet, "link", "set", &up, "master", "br0"])?;
            ip(&["-n", &inet, "link", "set", &up, "up"])?;
            let public = format!("11.9.0.{}/24", k + 1);
            ip(&["-n", &router, "addr", "add", &public, "dev", &wan])?;
            ip(&["-n", &router, "link", "set", &wan, "up"])?;
            ip(&[
                "link", "add", &inside, "type", "veth", "peer", "name", &node,
            ])?;
            ip(&["link", "set", &inside, "netns", &router])?;
            ip(&["link", "set", &node, "netns", &lan])?;
            let gw = format!("192.168.{k}.1");
            ip(&[
                "-n",
                &router,
                "addr",
                "add",
                &format!("{gw}/24"),
                "dev",
                &inside,
            ])?;
            ip(&["-n", &router, "link", "set", &inside, "up"])?;
            let me = format!("192.168.{k}.2/24");
            ip(&["-n", &lan, "addr", "add", &me, "dev", &node])?;
            ip(&["-n", &lan, "link", "set", &node, "up"])?;
            ip(&["-n", &lan, "route", "add", "default", "via", &gw])?;
            in_ns(&router, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
            in_ns(
                &router,
                &[
                    "iptables",
                    "-t",
                    "nat",
                    "-A",
                    "POSTROUTING",
                    "-o",
                    &wan,
                    "-j",
                    "MASQUERADE",
                ],
            )?;
            // Unasked-for traffic from outside is dropped, not answered: a reset would
            // spoil the hole punch, and real council firewalls drop.
            in_ns(
                &router,
                &[
                    "iptables",
                    "-A",
                    "INPUT",
                    "-i",
                    &wan,
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "NEW",
                    "-j",
                    "DROP",
                ],
            )?;
        }
        Ok(t)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for n in ["i", "n1", "l1", "n2", "l2"] {
            let _ = ip(&["netns", "del", &self.ns(n)]);
        }
    }
}

fn run(cmd: &str, args: &[&str]) -> Result<Output, String> {
    Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))
}

fn checked(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = run(cmd, args)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    checked("ip", args)
}

fn in_ns(ns: &str, cmd: &[&str]) -> Result<(), String> {
    let mut args = vec!["netns", "exec", ns];
    args.extend_from_slice(cmd);
    checked("ip", &args)
}

/// `lgmesh ARGS --data-dir DIR` inside `ns`, asserting success; returns stdout.
fn ns_ok(ns: &str, dir: &Path, args: &[&str]) -> String {
    ok_via(&["ip", "netns", "exec", ns], dir, args)
}

/// `lgmesh run` on the test's network inside `ns`, its log in `log`. `ip netns exec`
/// execs the binary, so the child is the node itself.
fn start_in(ns: &str, dir: &Path, extra: &[&str], log: &Path) -> Node {
    let mut args = vec!["--network", "nat-test"];
    args.extend_from_slice(extra);
    let log = std::fs::File::create(log).expect("log file");
    Node::run_via(&["ip", "netns", "exec", ns], dir, &args, Stdio::from(log))
}

/// Polls `check` every 300 ms until it passes; after `secs`, panics with what it last
/// said and the nodes' logs.
fn wait_for(
    what: &str,
    secs: u64,
    logs: impl Fn() -> String,
    mut check: impl FnMut() -> Result<(), String>,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match check() {
            Ok(()) => return,
            Err(last) if Instant::now() > deadline => {
                panic!(
                    "timed out after {secs} s waiting for {what}: {last}\n{}",
                    logs()
                )
            }
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

/// Whether this machine can build the topology; why not if it cannot.
fn missing() -> Option<String> {
    if run("iptables", &["--version"]).is_err() {
        return Some("no iptables (Debian package iptables; .ci/run installs it)".into());
    }
    let probe = format!("lgprobe{}", std::process::id() % 100_000);
    match ip(&["netns", "add", &probe]) {
        Ok(()) => {
            let _ = ip(&["netns", "del", &probe]);
            None
        }
        Err(e) => Some(format!(
            "cannot make a network namespace (root needed): {e}"
        )),
    }
}

#[test]
fn two_councils_behind_nat_meet_through_a_relay_and_then_connect_directly() {
    if let Some(why) = missing() {
        // Past the test harness's capture, so that a skip is seen.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED two_councils_behind_nat_meet_through_a_relay_and_then_connect_directly: {why}"
        );
        return;
    }
    let net = Topology::build().unwrap_or_else(|e| panic!("building the namespaces: {e}"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = |n: &str| tmp.path().join(n);
    for (n, org, name) in [
        ("relay", "gss:E09000007", "London Borough of Camden"),
        ("a", "gss:E07000209", "Guildford Borough Council"),
        ("d", "gss:E08000035", "Leeds City Council"),
    ] {
        ok(
            &dir(n),
            &["init", "--org", org, "--name", name, "--type", "district"],
        );
    }
    let relay_addr = format!("/ip4/{RELAY_IP}/tcp/{RELAY_PORT}");
    set_config(&dir("relay"), "external", &format!("[\"{relay_addr}\"]"));
    set_config(&dir("relay"), "relay_server", "true");
    let inet = net.ns("i");
    let _relay = start_in(
        &inet,
        &dir("relay"),
        &["--listen", &relay_addr],
        &dir("relay.log"),
    );
    let relay_id = json(&ns_ok(&inet, &dir("relay"), &["info", "--json"]))["peerId"]
        .as_str()
        .expect("peer id")
        .to_owned();
    let relay = format!("{relay_addr}/p2p/{relay_id}");
    let circuit = format!("{relay}/p2p-circuit");
    let behind_nat = |n: &str, k: u8| {
        start_in(
            &net.ns(&format!("l{k}")),
            &dir(n),
            &[
                // As a council's node does by default: TCP and QUIC on one port, on every
                // interface, loopback included.
                "--listen",
                &format!("/ip4/0.0.0.0/tcp/{NODE_PORT}"),
                "--listen",
                &format!("/ip4/0.0.0.0/udp/{NODE_PORT}/quic-v1"),
                "--listen",
                &circuit,
                "--bootstrap",
                &relay,
            ],
            &dir(&format!("{n}.log")),
        )
    };
    let (_a, _d) = (behind_nat("a", 1), behind_nat("d", 2));
    let (lan_a, lan_d) = (net.ns("l1"), net.ns("l2"));
    let info_a = json(&ns_ok(&lan_a, &dir("a"), &["info", "--json"]));
    let a_id = info_a["peerId"].as_str().expect("peer id").to_owned();
    let logs = || {
        ["relay", "a", "d"]
            .map(|n| {
                let log = std::fs::read_to_string(dir(&format!("{n}.log"))).unwrap_or_default();
                format!("--- {n}\n{log}")
            })
            .join("\n")
    };

    // Guildford learns it cannot be reached from outside (AutoNAT's first probe comes
    // after 15 s).
    wait_for("AutoNAT to find Guildford private", 90, logs, || {
        let info = json(&ns_ok(&lan_a, &dir("a"), &["info", "--json"]));
        (info["nat"] == "private")
            .then_some(())
            .ok_or(info.to_string())
    });

    // Leeds reaches Guildford, first through the relay, then directly: its connection
    // comes from Guildford's router (11.9.0.2), not through the circuit.
    let direct = |p: &serde_json::Value| {
        p["peerId"] == a_id.as_str()
            && p["addrs"].as_array().is_some_and(|addrs| {
                addrs
                    .iter()
                    .filter_map(|x| x.as_str())
                    .any(|x| x.starts_with("/ip4/11.9.0.2/") && !x.contains("p2p-circuit"))
            })
    };
    wait_for(
        "a direct connection from Leeds to Guildford",
        90,
        logs,
        || {
            let peers = json(&ns_ok(&lan_d, &dir("d"), &["peers", "--json"]));
            let found = peers["peers"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(direct));
            found.then_some(()).ok_or(peers.to_string())
        },
    );

    // And what Guildford publishes, Leeds can find.
    let file = examples().join("manifests/guildford-bin-collection.toml");
    ns_ok(
        &lan_a,
        &dir("a"),
        &["publish", file.to_str().expect("path")],
    );
    wait_for("Leeds to find Guildford's publish", 60, logs, || {
        let r = json(&ns_ok(
            &lan_d,
            &dir("d"),
            &["search", "bin collection", "--json"],
        ));
        let hits = r["hits"].as_array();
        let found = hits.is_some_and(|h| {
            h.iter()
                .any(|h| h["orgName"] == "Guildford Borough Council")
        });
        found.then_some(()).ok_or(r.to_string())
    });
    // The hole punch is logged (and counted in lgmesh_net_connections_total).
    let punched = ["a", "d"].iter().any(|n| {
        std::fs::read_to_string(dir(&format!("{n}.log")))
            .is_ok_and(|log| log.contains("connected directly through NAT (hole punch)"))
    });
    assert!(punched, "no hole punch in the logs:\n{}", logs());
}
