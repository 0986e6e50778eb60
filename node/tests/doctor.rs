//! `lgmesh doctor` on broken set-ups, with the real binary: each problem is found, said
//! in plain words with what to do, and sets the exit code (0 well, 1 warnings, 2 errors).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::*;

/// `lgmesh doctor --json` on `dir`: (exit code, the findings).
fn doctor(dir: &Path) -> (i32, Vec<serde_json::Value>) {
    let out: Output = lgmesh(dir, &["doctor", "--json"]);
    let v = json(&String::from_utf8_lossy(&out.stdout));
    let findings = v["findings"].as_array().expect("findings").clone();
    (out.status.code().expect("an exit code"), findings)
}

/// The findings of `check` at `level`, as "message → fix" lines.
fn found(findings: &[serde_json::Value], check: &str, level: &str) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f["check"] == check && f["level"] == level)
        .map(|f| {
            format!(
                "{} → {}",
                f["message"].as_str().unwrap_or(""),
                f["fix"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// A certificate and key for localhost valid until `days` from now, in `dir`.
fn certificate(dir: &Path, days: i64) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = time_of(now + days * 86_400);
    let cert = params.self_signed(&key).expect("cert");
    let (c, k) = (
        dir.join(format!("cert{days}.pem")),
        dir.join(format!("key{days}.pem")),
    );
    std::fs::write(&c, cert.pem()).expect("write");
    std::fs::write(&k, key.serialize_pem()).expect("write");
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    (
        c.to_str().expect("utf-8").to_owned(),
        k.to_str().expect("utf-8").to_owned(),
    )
}

/// rcgen's date for Unix seconds `t`.
fn time_of(t: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t).expect("a date")
}

#[test]
fn doctor_finds_broken_set_ups_and_says_what_to_do() {
    // Not a data dir at all.
    let empty = tempfile::tempdir().expect("tempdir");
    let (code, f) = doctor(&empty.path().join("nothing"));
    assert_eq!(code, 2);
    assert!(
        found(&f, "config", "error")[0].contains("lgmesh init"),
        "{f:?}"
    );

    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    // A fresh node, stopped: only "no bootstrap peers" to warn about.
    let (code, f) = doctor(&dir);
    assert_eq!(code, 1, "{f:#?}");
    assert_eq!(found(&f, "bootstrap", "warn").len(), 1, "{f:#?}");
    for check in ["config", "files", "ports", "store", "disk"] {
        assert_eq!(found(&f, check, "ok").len(), 1, "{check}: {f:#?}");
    }

    // A key others can read.
    let key = dir.join("publisher.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, f) = doctor(&dir);
    assert_eq!(code, 2);
    let e = found(&f, "files", "error");
    assert!(
        e[0].contains("publisher.key") && e[0].contains("chmod 600"),
        "{e:?}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    // A port another program holds.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    set_config(&dir, "addr", &format!("\"127.0.0.1:{port}\""));
    let (code, f) = doctor(&dir);
    assert_eq!(code, 2);
    // (grpc.addr and http.addr, both set to it.)
    let e = found(&f, "ports", "error");
    assert!(
        e.len() == 2 && e[0].contains(&format!(":{port}")) && e[0].contains("in use"),
        "{e:?}"
    );
    drop(taken);
    set_config(&dir, "addr", "\"127.0.0.1:0\"");

    // A certificate about to expire, then one that has.
    let (cert, key) = certificate(tmp.path(), 9);
    set_config(&dir, "cert_file", &format!("{cert:?}"));
    set_config(&dir, "key_file", &format!("{key:?}"));
    let (_, f) = doctor(&dir);
    let w = found(&f, "tls", "warn");
    assert!(
        w.len() == 1 && (w[0].contains("expires in 8 days") || w[0].contains("expires in 9 days")),
        "{w:?}"
    );
    let (cert, key) = certificate(tmp.path(), -1);
    set_config(&dir, "cert_file", &format!("{cert:?}"));
    set_config(&dir, "key_file", &format!("{key:?}"));
    let (code, f) = doctor(&dir);
    assert_eq!(code, 2);
    assert!(found(&f, "tls", "error")[0].contains("expired"), "{f:#?}");
    set_config(&dir, "cert_file", "\"\"");
    set_config(&dir, "key_file", "\"\"");

    // Beyond loopback in clear: the same rule as `lgmesh run`, reported as config.
    set_config(&dir, "addr", "\"0.0.0.0:0\"");
    let (code, f) = doctor(&dir);
    assert_eq!(code, 2);
    assert!(
        found(&f, "config", "error")[0].contains("tls.cert_file"),
        "{f:#?}"
    );
    set_config(&dir, "addr", "\"127.0.0.1:0\"");

    // A config the node would refuse: named, and nothing else is checked.
    set_config(&dir, "expiry_days", "0");
    let (code, f) = doctor(&dir);
    assert_eq!(code, 2);
    assert!(
        found(&f, "config", "error")[0].contains("manifests.expiry_days"),
        "{f:#?}"
    );
    assert_eq!(f.len(), 1, "{f:#?}");
    set_config(&dir, "expiry_days", "365");

    // Text for people: one line per finding, the fix under it, and a summary.
    let out = lgmesh(&dir, &["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warn   bootstrap") && text.contains("→ add a node"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("1 warning."), "{text}");
}

#[test]
fn doctor_checks_bootstrap_peers_and_their_network_through_the_running_node() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let init = |name: &str, org: &str, council: &str| {
        let dir = tmp.path().join(name);
        ok(
            &dir,
            &[
                "init", "--org", org, "--name", council, "--type", "district",
            ],
        );
        dir
    };
    let leeds = init("leeds", "gss:E08000035", "Leeds City Council");
    let elsewhere = init("elsewhere", "gss:E06000023", "Bristol City Council");
    let guildford = init("guildford", "gss:E07000209", "Guildford Borough Council");
    let _leeds_node = Node::start(&leeds);
    let leeds_addr = listen_addr(&leeds);
    let _other = Node::run_via(
        &[],
        &elsewhere,
        &[
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--network",
            "another-federation",
        ],
        std::process::Stdio::null(),
    );
    let other_addr = listen_addr(&elsewhere);
    // Leeds's peer id at a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let peer = leeds_addr.rsplit('/').next().expect("peer id");
    let dead = format!("/ip4/127.0.0.1/tcp/{closed_port}/p2p/{peer}");
    set_config(
        &guildford,
        "bootstrap",
        &format!("[{leeds_addr:?}, {dead:?}, {other_addr:?}]"),
    );

    // Stopped: the TCP ports alone.
    let (code, f) = doctor(&guildford);
    assert_eq!(code, 2, "{f:#?}");
    let good = found(&f, "bootstrap", "ok");
    assert_eq!(good.len(), 2, "{f:#?}");
    assert!(good[0].contains("answers on TCP"), "{good:?}");
    assert!(found(&f, "bootstrap", "error")[0].contains(&dead), "{f:#?}");

    // Running: dialled by the node, which checks the network.
    let _node = Node::start(&guildford);
    let (code, f) = doctor(&guildford);
    assert_eq!(code, 2, "{f:#?}");
    let good = found(&f, "bootstrap", "ok");
    assert!(
        good.len() == 1 && good[0].contains(&leeds_addr) && good[0].contains("e2e-test"),
        "{f:#?}"
    );
    let bad = found(&f, "bootstrap", "error");
    assert_eq!(bad.len(), 2, "{f:#?}");
    assert!(bad.iter().any(|b| b.contains(&dead)), "{bad:?}");
    assert!(
        bad.iter()
            .any(|b| b.contains(&other_addr) && b.contains("network")),
        "{bad:?}"
    );
    assert_eq!(found(&f, "node", "ok").len(), 1, "{f:#?}");
    assert!(
        found(&f, "ports", "ok")[0].contains("this node's own"),
        "{f:#?}"
    );
    assert!(
        found(&f, "store", "ok")[0].contains("open in the node"),
        "{f:#?}"
    );
}
