//! Attacks on real `lgmesh` processes, one test per way in that a review found (issue
//! 18). Each was written to fail before its fix: the comment on each says what it did.

#[path = "../common/mod.rs"]
mod common;
mod quota;
mod trust;

use common::*;
use lgmesh_proto::v1::{self, registry_client::RegistryClient};
use lgmesh_protocol::envelope::UnsignedManifest;
use lgmesh_protocol::{now_ms, sample};
use tonic::Code;

/// A file of multibyte characters where a value is expected made `lgmesh check` panic
/// (exit 101, a string cut inside a character); a search cursor of multibyte
/// characters made the Search handler panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multibyte_input_is_refused_in_words() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let file = tmp.path().join("m.toml");
    let doc = std::fs::read_to_string(examples().join("manifests/guildford-bin-collection.toml"))
        .expect("example")
        .replace("lgsl = [524]", &format!("lgsl = [\"{}\"]", "é".repeat(40)));
    std::fs::write(&file, doc).expect("write");
    let out = lgmesh(&dir, &["check", file.to_str().expect("utf8")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("lgsl"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    let node = Node::start(&dir);
    let mut reg = RegistryClient::connect(node.url()).await.expect("connect");
    let st = reg
        .search(v1::SearchRequest {
            text: "bins".into(),
            cursor: "ééééé".into(),
            ..Default::default()
        })
        .await
        .expect_err("a cursor of multibyte characters");
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert!(st.message().starts_with("cursor"), "{}", st.message());
}

/// A title carrying ESC and BEL was stored, relayed, and printed raw by `lgmesh search`:
/// it could clear the reader's screen, or fake a `[verified]` mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_never_reach_a_terminal() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let node = Node::start(&dir);
    let file = tmp.path().join("m.toml");
    let doc = std::fs::read_to_string(examples().join("manifests/guildford-bin-collection.toml"))
        .expect("example")
        .replace(
            "title = \"Bin collection days\"",
            "title = \"Bin collection days\\u001b[2J\\u0007 [verified]\"",
        );
    std::fs::write(&file, doc).expect("write");
    let err = fails(&dir, &["publish", file.to_str().expect("utf8")]);
    assert!(err.contains("title"), "{err}");
    assert!(err.contains("U+001B"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "the error quotes it escaped: {err:?}"
    );

    // Signed elsewhere and submitted: an org card named with a bidi override, which
    // would show the rest of the line reversed.
    let key = publisher_key(&dir);
    let now = now_ms();
    let card = sample::org("gss:E07000209", "Guildford \u{202e}lionuoC", 5, now);
    let mut reg = RegistryClient::connect(node.url()).await.expect("connect");
    let st = reg
        .submit(authed(&dir, submit_of(&UnsignedManifest(card).sign(&key))))
        .await
        .expect_err("a bidi override in a name");
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert!(st.message().contains("name"), "{}", st.message());

    let out = ok(&dir, &["search", "bin"]);
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{7}') && !out.contains('\u{202e}'),
        "{out:?}"
    );
}

/// A manifest that stays current for ever (expires in 100 years) was accepted: a
/// stolen key's signature on it would never lapse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_current_for_ever_is_refused() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let node = Node::start(&dir);
    let now = now_ms();
    let mut body = sample::service("forever", 1, "For ever", "Never expires.", &[], &[], now);
    body.expires_at_ms = now + 100 * lgmesh_protocol::YEAR_MS;
    let mut reg = RegistryClient::connect(node.url()).await.expect("connect");
    let st = reg
        .submit(authed(
            &dir,
            submit_of(&UnsignedManifest(body).sign(&publisher_key(&dir))),
        ))
        .await
        .expect_err("a century");
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert!(st.message().contains("expiresAt"), "{}", st.message());
}

/// A node that dies leaves `node.json` behind. The CLI used to connect to the gRPC port
/// it names and send the admin token to whatever listened there: another local user
/// who took the port got the token. Now the CLI talks only to the admin socket in the
/// data dir, which no other user can open.
#[test]
fn a_stale_node_json_gets_nothing_from_the_cli() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let node = Node::start(&dir);
    let port = node.grpc.clone();
    node.kill();
    assert!(dir.join("node.json").exists(), "kill -9 leaves node.json");

    // The attacker listens on the port the stale file names and records what arrives.
    let listener = std::net::TcpListener::bind(&port).expect("take the node's old port");
    listener.set_nonblocking(true).expect("nonblocking");
    let file = examples().join("manifests/guildford-bin-collection.toml");
    let out = lgmesh(&dir, &["publish", file.to_str().expect("utf8")]);
    assert!(!out.status.success(), "no node runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lgmesh run"), "says how to start one: {err}");
    match listener.accept() {
        Ok((_, from)) => panic!("the CLI connected to the stale port, from {from}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
    }
    let search = lgmesh(&dir, &["search", "bins"]);
    assert!(!search.status.success());
    assert!(listener.accept().is_err(), "reads do not go there either");
}

/// The sum of the `/metrics` lines of `node` that start with `prefix`.
fn metric(node: &Node, prefix: &str) -> u64 {
    let (_, body) = node.http_get("/metrics");
    body.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Two real nodes: the attacker's `a` and the victim `v`, which joins `a`. `v` holds
/// unverified keys to `quota` manifests and reconciles every second. `key` is trusted
/// on `a`, so `a` stores whatever it signs and serves it to `v`.
struct Pair {
    _tmp: tempfile::TempDir,
    a: Node,
    v: Node,
    key: lgmesh_protocol::identity::SecretKey,
}

fn pair(quota: u64) -> Pair {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, v) = (tmp.path().join("a"), tmp.path().join("v"));
    ok(
        &a,
        &[
            "init",
            "--org",
            "gss:E08000035",
            "--name",
            "Leeds City Council",
        ],
    );
    ok(
        &v,
        &[
            "init",
            "--org",
            "gss:E07000209",
            "--name",
            "Guildford Borough Council",
        ],
    );
    for dir in [&a, &v] {
        set_config(dir, "sync_interval_secs", "1");
    }
    set_config(&v, "unverified_max_manifests", &quota.to_string());
    let na = Node::start(&a);
    let key = lgmesh_protocol::identity::SecretKey::from_seed(&[0xa7; 32]);
    ok(
        &a,
        &[
            "trust",
            "add",
            &key.public().to_string(),
            "--org",
            "gss:E06000001",
        ],
    );
    let nv = Node::start_with(&v, &["--bootstrap", &listen_addr(&a)]);
    Pair {
        _tmp: tmp,
        a: na,
        v: nv,
        key,
    }
}

impl Pair {
    /// Signs `body` with the attacker's key and stores it on `a`.
    async fn submit(&self, body: v1::ManifestBody) {
        let mut reg = RegistryClient::connect(self.a.url())
            .await
            .expect("connect");
        reg.submit(authed(
            &self.a.dir,
            submit_of(&UnsignedManifest(body).sign(&self.key)),
        ))
        .await
        .expect("stored on the attacker's node");
    }

    /// How many manifests `v` holds (every version and evidence).
    fn held_by_v(&self) -> u64 {
        json(&ok(&self.v.dir, &["stats", "--json"]))["manifests"]
            .as_u64()
            .expect("manifests")
    }
}

/// `Watch` streams had no limit: each holds a task and a queue, and one local client
/// could open them until the node ran out. `History` sent every version of a name in
/// one answer, however many. Now watches are capped (`RESOURCE_EXHAUSTED` beyond) and
/// history comes in pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_and_history_are_bounded() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let node = Node::start(&dir);
    let key = publisher_key(&dir);
    let mut reg = RegistryClient::connect(node.url()).await.expect("connect");
    let now = now_ms();
    for v in 1..=130u64 {
        let body = sample::service("bins", v, "Bins", &format!("Version {v}."), &[], &[], now);
        reg.submit(authed(&dir, submit_of(&UnsignedManifest(body).sign(&key))))
            .await
            .expect("stored");
    }
    let page = |before_version, page_size| v1::HistoryRequest {
        publisher: String::new(),
        name: "bins".into(),
        page_size,
        before_version,
    };
    let mut versions = vec![];
    let mut before = 0;
    let mut pages = 0;
    loop {
        let r = reg
            .history(page(before, 0))
            .await
            .expect("history")
            .into_inner();
        assert!(r.manifests.len() <= 100, "{} in a page", r.manifests.len());
        versions.extend(
            r.manifests
                .iter()
                .map(|m| m.body.as_ref().map_or(0, |b| b.version)),
        );
        pages += 1;
        if r.next_before_version == 0 {
            break;
        }
        before = r.next_before_version;
    }
    assert_eq!(pages, 2);
    assert_eq!(versions, (1..=130).rev().collect::<Vec<u64>>());
    let st = reg
        .history(page(0, 5000))
        .await
        .expect_err("a page too large");
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert!(st.message().starts_with("page_size"), "{}", st.message());
    let all = json(&ok(&dir, &["history", "bins", "--json"]));
    assert_eq!(all.as_array().map(Vec::len), Some(130));

    let mut open = vec![];
    for _ in 0..64 {
        let s = reg
            .watch(v1::WatchRequest::default())
            .await
            .expect("a watch within the limit");
        open.push(s);
    }
    let st = reg
        .watch(v1::WatchRequest::default())
        .await
        .expect_err("one watch too many");
    assert_eq!(st.code(), Code::ResourceExhausted, "{st:?}");
    assert!(st.message().contains("64"), "{}", st.message());
    // A closed stream gives its place back.
    open.pop();
    let mut again = None;
    for _ in 0..100 {
        if let Ok(s) = reg.watch(v1::WatchRequest::default()).await {
            again = Some(s);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "a place came free");
}
