//! The Python example client (`examples/python/lgmesh_client.py`, stubs generated from
//! `proto/` by grpcio-tools) against a real node over TCP: a search finds what the node
//! holds, a watch hears of a manifest published while it runs, and a publish with the
//! admin token stores what a search then finds (and without it is refused). Over TLS
//! with `--ca`, it publishes and searches, and without the CA it is refused.
//!
//! Needs Python with `examples/python/requirements.txt` installed, which `.ci/run` puts
//! in `target/grpc-venv` (a `grpc-venv` in `CARGO_TARGET_DIR` does too, or name a Python
//! with `LGMESH_GRPC_PYTHON`). Where it is missing the test says that it skipped; where
//! `LGMESH_REQUIRE_PYTHON_GRPC` is set (`.ci/run` sets it), it fails instead.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use common::*;

/// The Python that has the client's packages: `LGMESH_GRPC_PYTHON` if set, else
/// `grpc-venv/bin/python` in the first target directory that has one: the
/// `CARGO_TARGET_DIR` of this run, the one the `lgmesh` binary was built in, the
/// workspace's `target/` (where `.ci/run` makes it).
fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LGMESH_GRPC_PYTHON") {
        return Some(p.into());
    }
    // BIN is `<target>/<profile>/lgmesh`.
    let built_in = Path::new(BIN).parent().and_then(Path::parent);
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain(built_in.map(Path::to_owned))
        .chain([Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")])
        .map(|target| target.join("grpc-venv/bin/python"))
        .find(|p| p.exists())
}

/// `lgmesh_client.py --addr NODE ARGS`, with no token or address from the environment.
fn client(python: &Path, node: &Node, args: &[&str]) -> Command {
    let mut c = Command::new(python);
    c.arg(examples().join("python/lgmesh_client.py"))
        .arg("--addr")
        .arg(&node.grpc)
        .args(args)
        .env_remove("LGMESH_TOKEN")
        .env_remove("LGMESH_GRPC")
        .env("PYTHONUNBUFFERED", "1");
    c
}

/// Runs `c` to completion: whether it succeeded, stdout, stderr.
fn run(c: &mut Command) -> (bool, String, String) {
    let out = c.output().expect("run the Python client");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// As [`run`], asserting success; returns stdout.
fn ran(c: &mut Command) -> String {
    let (ok_, out, err) = run(c);
    assert!(ok_, "{c:?} failed:\n{err}\n{out}");
    out
}

#[test]
fn the_python_client_searches_watches_and_publishes() {
    let Some(python) = python() else {
        assert!(
            std::env::var_os("LGMESH_REQUIRE_PYTHON_GRPC").is_none(),
            "the Python gRPC client is required here (LGMESH_REQUIRE_PYTHON_GRPC is set) but there is \
             no grpc-venv in the target directory, and LGMESH_GRPC_PYTHON is not set"
        );
        // Past the test harness's capture, so that a skip is seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the_python_client_searches_watches_and_publishes: no grpc-venv in the target \
             directory (python3 -m venv target/grpc-venv && target/grpc-venv/bin/pip install \
             -r examples/python/requirements.txt; or set LGMESH_GRPC_PYTHON)"
        );
        return;
    };
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let node = Node::start(&dir);
    let bins = examples().join("manifests/guildford-bin-collection.toml");
    ok(&dir, &["publish", bins.to_str().expect("path")]);

    // Search: what the lgmesh command published, by text and LGSL code.
    let out = ran(&mut client(
        &python,
        &node,
        &["search", "bin collection", "--lgsl", "524"],
    ));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1 of 1"), "{out}");
    let hit = lines.next().expect("a hit");
    assert!(
        hit.starts_with("service  bin-collection-days v1  Bin collection days  (Guildford Borough Council, verified)"),
        "{out}"
    );

    // Publish over TCP without the token is refused, and says why.
    let address = examples().join("manifests/leeds-address-lookup.toml");
    let address = address.to_str().expect("path");
    let (ok_, out, err) =
        run(client(&python, &node, &["publish", address]).env("LGMESH_TOKEN", ""));
    assert!(!ok_, "{out}");
    assert!(
        err.starts_with("error: UNAUTHENTICATED: authorization: missing"),
        "{err}"
    );

    // A watch hears of what is published while it runs.
    let watch_err = tmp.path().join("watch.stderr");
    let mut watch = Reaped(
        client(&python, &node, &["watch", "address", "--count", "1"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&watch_err).expect("create"))
            .spawn()
            .expect("spawn the watch"),
    );
    let watched = lines_of(watch.0.stdout.take().expect("stdout"));
    let next_line = |what: &str| match watched.recv_timeout(Duration::from_secs(60)) {
        Ok(l) => l,
        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
            "the watch printed no {what}: {}",
            std::fs::read_to_string(&watch_err).unwrap_or_default()
        ),
    };
    assert_eq!(next_line("`watching`"), "watching");

    // Publish with the token: stored, heard by the watch, then found by a search.
    let out = ran(client(&python, &node, &["publish", address]).env("LGMESH_TOKEN", token(&dir)));
    assert!(
        out.starts_with("Stored service  address-lookup v1  Address lookup API"),
        "{out}"
    );
    let id = out.split_whitespace().last().expect("an id");
    assert_eq!(id.len(), 64, "{out}");
    let heard = next_line("manifest");
    assert!(
        heard.starts_with("service  address-lookup v1  Address lookup API") && heard.ends_with(id),
        "{heard}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = watch.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the watch did not stop after --count 1"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the watch exited with {status}");

    let out = ran(&mut client(&python, &node, &["search", "address"]));
    assert!(
        out.lines()
            .any(|l| l.starts_with("service  address-lookup v1") && l.ends_with(id)),
        "{out}"
    );
    // The same publish again changes nothing.
    let out = ran(&mut client(
        &python,
        &node,
        &[
            "--token-file",
            dir.join("admin.token").to_str().expect("path"),
            "publish",
            address,
        ],
    ));
    assert!(
        out.starts_with("Unchanged service  address-lookup v1"),
        "{out}"
    );
    drop(node);
}

#[test]
fn the_python_client_speaks_tls_with_a_ca() {
    let Some(python) = python() else {
        assert!(
            std::env::var_os("LGMESH_REQUIRE_PYTHON_GRPC").is_none(),
            "the Python gRPC client is required here (LGMESH_REQUIRE_PYTHON_GRPC is set)"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the_python_client_speaks_tls_with_a_ca: no grpc-venv (see the test above)"
        );
        return;
    };
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    // A CA, and a certificate it signs for 127.0.0.1.
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    // Names of their own: a leaf named like its issuer looks self-signed to OpenSSL.
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "lgmesh test CA");
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let leaf = params.signed_by(&key, &ca, &ca_key).expect("leaf");
    let (ca_file, cert_file, key_file) = (
        tmp.path().join("ca.pem"),
        tmp.path().join("cert.pem"),
        tmp.path().join("key.pem"),
    );
    std::fs::write(&ca_file, ca.pem()).expect("write");
    std::fs::write(&cert_file, leaf.pem()).expect("write");
    std::fs::write(&key_file, key.serialize_pem()).expect("write");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    set_config(
        &dir,
        "cert_file",
        &format!("{:?}", cert_file.to_str().expect("path")),
    );
    set_config(
        &dir,
        "key_file",
        &format!("{:?}", key_file.to_str().expect("path")),
    );
    set_config(&dir, "on_loopback", "true");
    let node = Node::start(&dir);
    let https = format!("https://{}", node.grpc);
    let ca = ca_file.to_str().expect("path");
    let tls = |args: &[&str]| {
        let mut c = Command::new(&python);
        c.arg(examples().join("python/lgmesh_client.py"))
            .args(["--addr", &https, "--ca", ca])
            .args(args)
            .env_remove("LGMESH_TOKEN")
            .env_remove("LGMESH_GRPC");
        c
    };
    let bins = examples().join("manifests/guildford-bin-collection.toml");
    let out = ran(tls(&["publish", bins.to_str().expect("path")]).env("LGMESH_TOKEN", token(&dir)));
    assert!(
        out.starts_with("Stored service  bin-collection-days v1"),
        "{out}"
    );
    let out = ran(&mut tls(&["search", "bin"]));
    assert!(out.starts_with("1 of 1"), "{out}");
    // Without the CA, the node's certificate is not trusted.
    let mut plain = Command::new(&python);
    plain
        .arg(examples().join("python/lgmesh_client.py"))
        .args(["--addr", &https, "search", "bin"]);
    let (ok_, _, err) = run(&mut plain);
    assert!(!ok_, "a certificate no trusted CA signed was accepted");
    assert!(
        err.starts_with("error: UNAVAILABLE") && err.lines().count() == 1,
        "{err}"
    );
}
