//! TLS on the node's gRPC and HTTP listeners, end to end: the real `lgmesh` binary serving
//! certificates made by rcgen, reached by the real CLI, by tonic and by tokio-rustls.
//!
//! - a node serves gRPC and HTTPS with its certificate; the CLI reads and writes over
//!   `https://` with `--ca`, and says what to do without it;
//! - a client speaking in clear to the TLS port is counted, and does not stop the node;
//! - a renewed certificate is served after SIGHUP without a restart; a broken renewal
//!   leaves the old one served;
//! - a bind beyond loopback without TLS, a key others can read, and a key that does not
//!   match the certificate each stop the node before it starts, naming the problem;
//! - from another machine (this machine's non-loopback address), reads need no token,
//!   and writes in clear are refused while writes over TLS with the token work.

mod common;

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use common::*;

/// A test CA, and the files of certificates it signs.
struct Pki {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

/// A certificate and its key, as written to disk.
struct Leaf {
    cert: PathBuf,
    key: PathBuf,
    der: Vec<u8>,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).expect("pki dir");
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "lgmesh test CA");
        let ca = params.self_signed(&ca_key).expect("ca");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca");
        Pki {
            dir: dir.to_owned(),
            ca,
            ca_key,
        }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A certificate for localhost, 127.0.0.1 and `extra` IPs, valid until the start of
    /// `year`, written as `NAME.pem` and `NAME.key` (mode 0600).
    fn leaf(&self, name: &str, year: i32, extra: &[IpAddr]) -> Leaf {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
        for ip in extra {
            params
                .subject_alt_names
                .push(rcgen::SanType::IpAddress(*ip));
        }
        params.not_after = rcgen::date_time_ymd(year, 1, 1);
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("leaf");
        let leaf = Leaf {
            cert: self.dir.join(format!("{name}.pem")),
            key: self.dir.join(format!("{name}.key")),
            der: cert.der().to_vec(),
        };
        std::fs::write(&leaf.cert, cert.pem()).expect("write cert");
        write_key(&leaf.key, &key.serialize_pem(), 0o600);
        leaf
    }
}

fn write_key(path: &Path, pem: &str, mode: u32) {
    std::fs::write(path, pem).expect("write key");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `tls.cert_file` and `tls.key_file` in the node's config, TLS on loopback too.
fn configure(dir: &Path, leaf: &Leaf) {
    set_config(dir, "cert_file", &format!("{:?}", s(&leaf.cert)));
    set_config(dir, "key_file", &format!("{:?}", s(&leaf.key)));
    set_config(dir, "on_loopback", "true");
}

/// `lgmesh ARGS` as a client of `grpc`, with `--data-dir DIR` (for the token) and
/// `extra_env`.
fn client(dir: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("LGMESH_TOKEN")
        .env_remove("LGMESH_GRPC")
        .env_remove("LGMESH_CA")
        .stdin(Stdio::null());
    for (k, v) in extra_env {
        c.env(k, v);
    }
    c.output().expect("run lgmesh")
}

fn succeeded(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn failed(o: &Output, what: &str) -> String {
    assert!(
        !o.status.success(),
        "{what} should fail, printed {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A TLS client config trusting `ca` only, with ALPN `alpn`.
fn client_tls(ca: &Path, alpn: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).expect("read ca");
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.expect("ca pem")).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut c = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(c)
}

use rustls::pki_types::pem::PemObject;

/// Runs `f` on a runtime of its own.
fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// An HTTPS GET of `path` on `addr`, checking the certificate against `ca`: the status
/// line, the body, and the certificate the server presented.
fn https_get(addr: &str, ca: &Path, path: &str) -> (String, String, Vec<u8>) {
    block(https_get_async(addr, ca, path))
}

async fn https_get_async(addr: &str, ca: &Path, path: &str) -> (String, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = tokio_rustls::TlsConnector::from(client_tls(ca, b"http/1.1"))
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the node");
    let presented = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("a certificate")
        .to_vec();
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("write");
    let mut buf = Vec::new();
    // A server may close without close_notify after Connection: close; what was read
    // by then is the answer.
    let _ = tls.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or("").to_owned();
    (status, body.to_owned(), presented)
}

/// The value of the metric line starting with `prefix` (name and labels), or 0.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn grpc_and_http_serve_tls_and_the_cli_speaks_it() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let pki = Pki::new(&tmp.path().join("pki"));
    let leaf = pki.leaf("node", 2035, &[]);
    configure(&dir, &leaf);
    let node = Node::start(&dir);
    let https = format!("https://{}", node.grpc);
    let ca = s(&pki.ca_file()).to_owned();

    // Reads and writes over TLS, the CA given by flag or by LGMESH_CA.
    let found = succeeded(
        &client(
            &dir,
            &["search", "--grpc", &https, "--ca", &ca, "--json"],
            &[],
        ),
        "search over TLS",
    );
    assert!(json(&found)["hits"].is_array(), "{found}");
    let bins = examples().join("manifests/guildford-bin-collection.toml");
    let published = succeeded(
        &client(
            &dir,
            &["publish", s(&bins), "--grpc", &https, "--json"],
            &[("LGMESH_CA", &ca)],
        ),
        "publish over TLS with the token",
    );
    assert!(published.contains("bin-collection"), "{published}");

    // Without the CA the certificate is refused, and the error says what to do.
    let err = failed(
        &client(&dir, &["search", "--grpc", &https], &[]),
        "search without the CA",
    );
    assert!(err.contains("--ca"), "{err}");
    // Another CA is no better.
    let other = Pki::new(&tmp.path().join("other"));
    let err = failed(
        &client(
            &dir,
            &["search", "--grpc", &https, "--ca", s(&other.ca_file())],
            &[],
        ),
        "search with another CA",
    );
    assert!(err.contains("does not trust"), "{err}");
    // In clear to the TLS port: refused, with a hint, and counted by the node.
    let err = failed(
        &client(&dir, &["search", "--grpc", &node.grpc], &[]),
        "search in clear",
    );
    assert!(err.contains("https://"), "{err}");

    // HTTPS: the health check, then the count of the clear attempt, and the expiry.
    let (status, body, presented) = https_get(&node.http, &pki.ca_file(), "/healthz");
    assert!(status.contains("200"), "{status}: {body}");
    assert_eq!(presented, leaf.der);
    let (_, metrics, _) = https_get(&node.http, &pki.ca_file(), "/metrics");
    assert!(
        metric(
            &metrics,
            "lgmesh_tls_handshakes_failed_total{listener=\"grpc\",reason=\"handshake\"}"
        ) >= 1.0,
        "{metrics}"
    );
    // 2035-01-01T00:00:00Z.
    assert_eq!(
        metric(&metrics, "lgmesh_tls_certificate_expiry_seconds "),
        2_051_222_400.0
    );
    // Export reads the catalogue over HTTPS, with the CA.
    let catalogue = succeeded(
        &client(&dir, &["export", "dcat", "--ca", &ca], &[]),
        "export dcat over HTTPS",
    );
    assert!(catalogue.contains("bin-collection"), "{catalogue}");
    // Plain HTTP to the HTTPS port gets nothing and is counted too.
    let mut plain = std::net::TcpStream::connect(&node.http).expect("connect");
    {
        use std::io::{Read, Write};
        plain
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .expect("timeout");
        let _ = plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut buf = Vec::new();
        let _ = plain.read_to_end(&mut buf);
        assert!(
            !String::from_utf8_lossy(&buf).contains("200 OK"),
            "plain HTTP answered on the TLS port"
        );
    }
    until("the clear HTTP attempt counted", || {
        let metrics = (https_get(&node.http, &pki.ca_file(), "/metrics")).1;
        (metric(
            &metrics,
            "lgmesh_tls_handshakes_failed_total{listener=\"http\",reason=\"handshake\"}",
        ) >= 1.0)
            .then_some(())
    });
}

#[test]
fn a_renewed_certificate_is_served_without_a_restart() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let pki = Pki::new(&tmp.path().join("pki"));
    let first = pki.leaf("first", 2035, &[]);
    // The files certbot keeps rewriting in place.
    let (cert, key) = (pki.dir.join("live.pem"), pki.dir.join("live.key"));
    let install = |l: &Leaf| {
        std::fs::copy(&l.cert, &cert).expect("copy cert");
        std::fs::copy(&l.key, &key).expect("copy key");
    };
    install(&first);
    let live = Leaf {
        cert: cert.clone(),
        key: key.clone(),
        der: first.der.clone(),
    };
    configure(&dir, &live);
    let mut node = Node::start(&dir);
    let ca = pki.ca_file();
    assert_eq!(https_get(&node.http, &ca, "/healthz").2, first.der);
    let pid = node.child.id().to_string();
    let hup = || {
        let sent = Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -HUP failed");
    };

    // Renewed: served from the next connection after SIGHUP, by the same process.
    let second = pki.leaf("second", 2036, &[]);
    install(&second);
    hup();
    until("the renewed certificate served", || {
        let presented = (https_get(&node.http, &ca, "/healthz")).2;
        (presented == second.der).then_some(())
    });
    let metrics = https_get(&node.http, &ca, "/metrics").1;
    assert_eq!(
        metric(&metrics, "lgmesh_tls_reloads_total{result=\"loaded\"}"),
        1.0
    );
    // 2036-01-01T00:00:00Z.
    assert_eq!(
        metric(&metrics, "lgmesh_tls_certificate_expiry_seconds "),
        2_082_758_400.0
    );
    // gRPC picks it up too.
    let https = format!("https://{}", node.grpc);
    succeeded(
        &client(
            &dir,
            &["info", "--grpc", &https, "--ca", s(&ca), "--json"],
            &[],
        ),
        "info over TLS after the renewal",
    );

    // A renewal caught half-written (a new certificate, the old key): refused, counted,
    // and the previous certificate stays.
    let third = pki.leaf("third", 2037, &[]);
    std::fs::copy(&third.cert, &cert).expect("copy cert");
    hup();
    until("the broken renewal counted", || {
        let metrics = (https_get(&node.http, &ca, "/metrics")).1;
        (metric(&metrics, "lgmesh_tls_reloads_total{result=\"failed\"}") >= 1.0).then_some(())
    });
    assert_eq!(https_get(&node.http, &ca, "/healthz").2, second.der);
    // Once the key follows, the next check serves it.
    std::fs::copy(&third.key, &key).expect("copy key");
    hup();
    until("the completed renewal served", || {
        let presented = (https_get(&node.http, &ca, "/healthz")).2;
        (presented == third.der).then_some(())
    });
    // A renewal that has expired already (an old file copied back) is refused too.
    let old = pki.leaf("old", 2020, &[]);
    install(&old);
    hup();
    until("the expired renewal refused", || {
        let metrics = https_get(&node.http, &ca, "/metrics").1;
        (metric(&metrics, "lgmesh_tls_reloads_total{result=\"failed\"}") >= 2.0).then_some(())
    });
    assert_eq!(https_get(&node.http, &ca, "/healthz").2, third.der);
    assert!(
        node.child.try_wait().expect("wait").is_none(),
        "the node stopped"
    );
    assert!(node.interrupt().success());
}

#[test]
fn a_node_refuses_to_serve_in_clear_or_with_an_unsafe_key() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let pki = Pki::new(&tmp.path().join("pki"));
    let run = |extra: &[&str]| -> String {
        let mut args = vec![
            "run",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--network",
            "e2e-test",
        ];
        args.extend_from_slice(extra);
        let o = client(&dir, &args, &[]);
        failed(&o, &format!("run {extra:?}"))
    };

    // Beyond loopback, in clear, without saying so.
    let err = run(&["--grpc-addr", "0.0.0.0:0", "--http-addr", "127.0.0.1:0"]);
    assert!(
        err.contains("grpc.addr") && err.contains("tls.cert_file"),
        "{err}"
    );
    let err = run(&["--grpc-addr", "127.0.0.1:0", "--http-addr", "0.0.0.0:0"]);
    assert!(
        err.contains("http.addr") && err.contains("tls.cert_file"),
        "{err}"
    );

    // A key other users can read.
    let leaf = pki.leaf("node", 2035, &[]);
    std::fs::set_permissions(&leaf.key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let tls = ["--tls-cert", s(&leaf.cert), "--tls-key", s(&leaf.key)];
    let mut args = vec!["--grpc-addr", "0.0.0.0:0", "--http-addr", "127.0.0.1:0"];
    args.extend_from_slice(&tls);
    let err = run(&args);
    assert!(err.contains(s(&leaf.key)) && err.contains("chmod"), "{err}");

    // A key that is not the certificate's.
    let other = pki.leaf("other", 2035, &[]);
    let args = [
        "--grpc-addr",
        "0.0.0.0:0",
        "--http-addr",
        "127.0.0.1:0",
        "--tls-cert",
        s(&leaf.cert),
        "--tls-key",
        s(&other.key),
    ];
    let err = run(&args);
    assert!(err.contains("is not the key of the certificate"), "{err}");
    // One of the two files only.
    let err = run(&["--tls-cert", s(&leaf.cert)]);
    assert!(err.contains("tls.key_file"), "{err}");
    // Nothing was left behind that a later start would trip on.
    assert!(!dir.join("node.json").exists());
}

/// This machine's first IPv4 address beyond loopback, from `ip`, if it has one.
fn non_loopback_ip() -> Option<IpAddr> {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .and_then(|a| a.parse().ok())
}

#[test]
fn from_another_machine_reads_are_open_and_writes_need_tls() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!(
            "SKIPPED from_another_machine_reads_are_open_and_writes_need_tls: this machine has no IPv4 address beyond loopback (`ip -4 addr show scope global`)"
        );
        return;
    };
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let bins = examples().join("manifests/guildford-bin-collection.toml");
    let port = |grpc: &str| grpc.rsplit(':').next().expect("port").to_owned();

    // In clear beyond loopback (as behind a proxy): reads without a token, writes refused
    // even with the right token, and counted.
    let node = Node::start_with(&dir, &["--grpc-addr", "0.0.0.0:0", "--allow-remote-grpc"]);
    let clear = format!("{ip}:{}", port(&node.grpc));
    let other = tempfile::tempdir().expect("tempdir");
    // A machine without the data dir: no token, no socket.
    succeeded(
        &client(other.path(), &["search", "--grpc", &clear, "--json"], &[]),
        "a read from another machine",
    );
    // The CLI will not send the token in clear itself; a raw client would.
    let err = failed(
        &client(&dir, &["publish", s(&bins), "--grpc", &clear], &[]),
        "the CLI sending the token in clear",
    );
    assert!(err.contains("TLS") || err.contains("https"), "{err}");
    let text = std::fs::read_to_string(&bins).expect("manifest");
    let request = authed(
        &dir,
        lgmesh_proto::v1::PublishRequest {
            content: Some(lgmesh_proto::v1::publish_request::Content::Document(
                lgmesh_proto::v1::Document {
                    format: "toml".into(),
                    text,
                },
            )),
            ..Default::default()
        },
    );
    let refused = block(async {
        lgmesh_proto::v1::registry_client::RegistryClient::connect(format!("http://{clear}"))
            .await
            .expect("connect")
            .publish(request)
            .await
    })
    .expect_err("a write in clear from another machine");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("TLS"), "{}", refused.message());
    let (_, metrics) = node.http_get("/metrics");
    assert_eq!(
        metric(&metrics, "lgmesh_grpc_cleartext_writes_refused_total "),
        1.0,
        "{metrics}"
    );
    drop(node);

    // Over TLS, the same write with the token is taken.
    let pki = Pki::new(&tmp.path().join("pki"));
    let leaf = pki.leaf("node", 2035, &[ip]);
    let tls = ["--tls-cert", s(&leaf.cert), "--tls-key", s(&leaf.key)];
    let node = Node::start_with(&dir, &[&["--grpc-addr", "0.0.0.0:0"][..], &tls].concat());
    let https = format!("https://{ip}:{}", port(&node.grpc));
    let ca = s(&pki.ca_file()).to_owned();
    succeeded(
        &client(
            other.path(),
            &["search", "--grpc", &https, "--ca", &ca, "--json"],
            &[],
        ),
        "a read over TLS from another machine",
    );
    let out = succeeded(
        &client(
            &dir,
            &["publish", s(&bins), "--grpc", &https, "--ca", &ca, "--json"],
            &[],
        ),
        "a write over TLS from another machine with the token",
    );
    assert!(out.contains("bin-collection"), "{out}");
    // Without the token, over TLS, still refused.
    let tokenless = tempfile::tempdir().expect("tempdir");
    let err = failed(
        &client(
            tokenless.path(),
            &["publish", s(&bins), "--grpc", &https, "--ca", &ca],
            &[],
        ),
        "a write without the token",
    );
    assert!(err.to_lowercase().contains("token"), "{err}");
}

#[test]
fn handshakes_are_bounded_per_client_and_in_time() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let pki = Pki::new(&tmp.path().join("pki"));
    let leaf = pki.leaf("node", 2035, &[]);
    configure(&dir, &leaf);
    let node = Node::start(&dir);
    let ca = pki.ca_file();
    let failures = |reason: &str| {
        metric(
            &https_get(&node.http, &ca, "/metrics").1,
            &format!("lgmesh_tls_handshakes_failed_total{{listener=\"grpc\",reason=\"{reason}\"}}"),
        )
    };
    let https = format!("https://{}", node.grpc);

    // Connections that never start their handshake: 32 from one address are waited for
    // (listener::MAX_HANDSHAKES_PER_IP), the next is closed at once.
    let idle: Vec<_> = (0..32)
        .map(|_| std::net::TcpStream::connect(&node.grpc).expect("connect"))
        .collect();
    until("the 32 idle handshakes under way", || {
        // The 9th, and the CLI's, are refused while they wait.
        let o = client(&dir, &["info", "--grpc", &https, "--ca", s(&ca)], &[]);
        (!o.status.success() && failures("busy") >= 1.0).then_some(())
    });
    // Each is given up after 5 s, and then the address may shake hands again.
    until("the idle handshakes timed out", || {
        (failures("timeout") >= 32.0).then_some(())
    });
    succeeded(
        &client(&dir, &["info", "--grpc", &https, "--ca", s(&ca)], &[]),
        "info once the idle handshakes are gone",
    );
    drop(idle);
}

#[test]
fn open_connections_are_bounded_per_client() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let node = Node::start(&dir);
    // 128 connections from one address are held open (listener::MAX_CONNECTIONS_PER_IP);
    // the next is closed at once, and counted.
    let held: Vec<_> = (0..128)
        .map(|_| std::net::TcpStream::connect(&node.http).expect("connect"))
        .collect();
    until("a connection over the bound refused", || {
        let mut extra = std::net::TcpStream::connect(&node.http).expect("connect");
        extra
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        use std::io::Read;
        let mut buf = [0u8; 1];
        // Closed by the node: end of stream (or reset) at once.
        matches!(extra.read(&mut buf), Ok(0) | Err(_)).then_some(())
    });
    drop(held);
    // The places come back: the node answers again (through a fresh connection).
    let metrics = until("the node answering again", || {
        let (status, body) = std::panic::catch_unwind(|| node.http_get("/metrics")).ok()?;
        status.contains("200").then_some(body)
    });
    assert!(
        metric(
            &metrics,
            "lgmesh_listener_connections_refused_total{listener=\"http\",reason=\"client\"}"
        ) >= 1.0,
        "{metrics}"
    );
}

#[test]
fn sighup_never_stops_a_node_without_tls() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let mut node = Node::start(&dir);
    for _ in 0..3 {
        let sent = Command::new("kill")
            .args(["-HUP", &node.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    ok(&dir, &["info"]);
    assert!(
        node.child.try_wait().expect("wait").is_none(),
        "SIGHUP stopped the node"
    );
    assert!(node.interrupt().success());
}
