//! Attacks on real `lgmesh` processes, one test per way in that a review found (issue
//! 18). Each was written to fail before its fix: the comment on each says what it did.

mod common;

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

/// Retractions were never charged to a quota, and a retraction could be the first
/// version of a name nobody published: one free key stored 1,500 tombstones on every
/// node against a quota of 1,000. Now a tombstone costs what any manifest costs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retractions_are_held_to_the_quota() {
    let p = pair(30);
    let now = now_ms();
    // v's own card, and a's once it arrives: at most one more than this.
    let base = p.held_by_v();
    for i in 0..80 {
        p.submit(sample::retraction(&format!("r-{i}"), 1, now))
            .await;
    }
    let refused = "lgmesh_net_manifests_rejected_total{path=\"sync\",reason=\"quota\"}";
    let gossip = "lgmesh_net_manifests_rejected_total{path=\"gossip\",reason=\"quota\"}";
    until("v has seen every tombstone", || {
        let seen = metric(&p.v, refused) + metric(&p.v, gossip);
        (p.held_by_v() - base + seen >= 80).then_some(())
    });
    let held = p.held_by_v() - base;
    assert!(
        held <= 31,
        "v stored {held} tombstones of one unverified key"
    );
}

/// Quota counters only went up: an update (or a renewal) was charged again though it
/// replaced what it updated, so an unverified council that updated its services once
/// could no longer publish. Now the quota is what the key has stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_replace_what_they_update_in_the_quota() {
    let p = pair(30);
    let now = now_ms();
    for v in 1..=2u64 {
        for i in 0..20 {
            p.submit(sample::service(
                &format!("s-{i}"),
                v,
                "Potholes",
                "Report one.",
                &[],
                &[],
                now,
            ))
            .await;
        }
    }
    let did = p.key.public().to_string();
    until("v holds version 2 of all 20 services", || {
        let out = lgmesh(&p.v.dir, &["show", &format!("{did}/s-19"), "--json"]);
        let all = out.status.success()
            && (0..20).all(|i| {
                let o = lgmesh(&p.v.dir, &["show", &format!("{did}/s-{i}"), "--json"]);
                o.status.success() && json(&String::from_utf8_lossy(&o.stdout))["version"] == 2
            });
        all.then_some(())
    });
}

/// The peers of `dir` as `lgmesh peers --json` lists them.
fn peers(dir: &std::path::Path) -> Vec<serde_json::Value> {
    json(&ok(dir, &["peers", "--json"]))["peers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// An honest node that held manifests past their expiry (its own, or a tombstone) kept
/// them in its sync set; every peer that reconciled with it fetched them, refused them
/// as expired and struck it: enough of them, and honest nodes banned each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_manifests_cost_an_honest_peer_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (h, v) = (tmp.path().join("h"), tmp.path().join("v"));
    ok(
        &h,
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
    for dir in [&h, &v] {
        set_config(dir, "sync_interval_secs", "1");
    }
    let nh = Node::start(&h);
    let key = publisher_key(&h);
    let mut reg = RegistryClient::connect(nh.url()).await.expect("connect");
    let now = now_ms();
    for i in 0..12 {
        let mut body = if i % 3 == 0 {
            sample::retraction(&format!("gone-{i}"), 1, now)
        } else {
            sample::service(
                &format!("brief-{i}"),
                1,
                "Brief",
                "Soon gone.",
                &[],
                &[],
                now,
            )
        };
        body.expires_at_ms = now + 1500;
        reg.submit(authed(&h, submit_of(&UnsignedManifest(body).sign(&key))))
            .await
            .expect("stored");
    }
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let hid = json(&ok(&h, &["info", "--json"]))["peerId"]
        .as_str()
        .expect("node id")
        .to_owned();
    let nv = Node::start_with(&v, &["--bootstrap", &listen_addr(&h)]);
    until("v has h's org card", || {
        let r = json(&ok(&v, &["search", "--kind", "org", "--json"]));
        (r["total"].as_u64() >= Some(2)).then_some(())
    });
    // Several rounds later, h is still a peer in good standing.
    let rounds = metric(&nv, "lgmesh_sync_rounds_total{result=\"completed\"}");
    until("three more rounds", || {
        (metric(&nv, "lgmesh_sync_rounds_total{result=\"completed\"}") >= rounds + 3).then_some(())
    });
    let listed = peers(&v);
    let hp = listed
        .iter()
        .find(|p| p["peerId"] == hid.as_str())
        .unwrap_or_else(|| panic!("h is no longer v's peer: {listed:?}"));
    assert_eq!(hp["strikes"], 0, "{hp}");
    assert_eq!(
        metric(&nv, "lgmesh_net_refused_total{reason=\"banned\"}"),
        0
    );
}

/// Equivocation evidence stayed on the node that saw both versions: another node, which
/// held only one, never flagged the publisher. Now the pair travels as a proof.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equivocation_evidence_reaches_every_node() {
    let p = pair(1000);
    let now = now_ms();
    let one = sample::service("twice", 1, "One", "The first body.", &[], &[], now);
    let other = sample::service(
        "twice",
        1,
        "Other",
        "Another body, same version.",
        &[],
        &[],
        now,
    );
    p.submit(one).await;
    // The second is refused (equivocation) but kept by a as evidence.
    let mut reg = RegistryClient::connect(p.a.url()).await.expect("connect");
    let st = reg
        .submit(authed(
            &p.a.dir,
            submit_of(&UnsignedManifest(other).sign(&p.key)),
        ))
        .await
        .expect_err("equivocation");
    assert_eq!(st.code(), Code::FailedPrecondition, "{st:?}");
    let target = format!("{}/twice", p.key.public());
    until("v flags the publisher", || {
        let o = lgmesh(&p.v.dir, &["show", &target, "--json"]);
        (o.status.success() && json(&String::from_utf8_lossy(&o.stdout))["equivocation"] == true)
            .then_some(())
    });
}

/// A key's judgement on the node in `dir`, as `lgmesh trust show` says it.
fn judgement(dir: &std::path::Path, key: &str) -> String {
    json(&ok(dir, &["trust", "show", key, "--json"]))["verification"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// How the node in `dir` shows `publisher/name`: its verification, or `None` when it
/// does not hold it.
fn shown(dir: &std::path::Path, publisher: &str, name: &str) -> Option<String> {
    let o = lgmesh(dir, &["show", &format!("{publisher}/{name}"), "--json"]);
    o.status.success().then(|| {
        json(&String::from_utf8_lossy(&o.stdout))["verification"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    })
}

/// 400 keys claiming one GSS code made each judgement list 399 rivals: `trust list`
/// failed ("decoded message length too large"), and at 3,000 keys the node used
/// 711 MiB. Now each names at most ten and counts the rest, and the list comes a
/// page at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_keys_claiming_one_council_cost_memory_in_proportion() {
    let p = pair(1000);
    let mut reg = RegistryClient::connect(p.a.url()).await.expect("connect");
    let now = now_ms();
    let n = 400u32;
    for i in 0..n {
        let mut seed = [0x51; 32];
        seed[..4].copy_from_slice(&i.to_le_bytes());
        let k = lgmesh_protocol::identity::SecretKey::from_seed(&seed);
        let card = sample::org("gss:E07000209", "Guildford Borough Council", 1, now);
        reg.submit(authed(
            &p.a.dir,
            submit_of(&UnsignedManifest(card).sign(&k)),
        ))
        .await
        .expect("stored on a");
    }
    until("v holds every card", || {
        let r = json(&ok(
            &p.v.dir,
            &["search", "--kind", "org", "--limit", "1", "--json"],
        ));
        (r["total"].as_u64() >= Some(u64::from(n) + 1)).then_some(())
    });
    let list = json(&ok(&p.v.dir, &["trust", "list", "--json"]));
    let keys = list["publishers"].as_array().expect("publishers");
    let claimants: Vec<_> = keys
        .iter()
        .filter(|t| t["claimedOrgId"] == "gss:E07000209")
        .collect();
    // Its own key (Guildford's, verified) and the 400.
    assert_eq!(claimants.len(), n as usize + 1);
    for t in &claimants {
        assert!(t["rivals"].as_array().is_some_and(|r| r.len() <= 10), "{t}");
    }
    let rivals = claimants
        .iter()
        .map(|t| t["rivalCount"].as_u64().unwrap_or(0))
        .max();
    assert_eq!(rivals, Some(u64::from(n)), "each counts all the others");
}

/// A key rotated away from still signed as verified: a manifest backdated before the
/// rotation was taken, and shown verified, by every node, and a second, backdated
/// rotation became the head on a node that had not seen the first. Now what the old key
/// signs counts only if its rotation names it, and two rotations verify no successor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thief_of_a_retired_key_cannot_sign_as_verified_on_any_node() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let [g, v, a, l] = ["g", "v", "a", "l"].map(|n| tmp.path().join(n));
    ok(
        &g,
        &[
            "init",
            "--org",
            "gss:E07000209",
            "--name",
            "Guildford Borough Council",
        ],
    );
    ok(
        &v,
        &[
            "init",
            "--org",
            "gss:E08000035",
            "--name",
            "Leeds City Council",
        ],
    );
    ok(
        &a,
        &["init", "--org", "gss:E09000007", "--name", "Camden Council"],
    );
    ok(
        &l,
        &[
            "init",
            "--org",
            "gss:E06000023",
            "--name",
            "Bristol City Council",
        ],
    );
    for dir in [&g, &v, &a, &l] {
        set_config(dir, "sync_interval_secs", "1");
    }
    let old_key = publisher_key(&g);
    let old = old_key.public().to_string();
    let mut ng = Node::start(&g);
    let g_addr = listen_addr(&g);
    let _nv = Node::start_with(&v, &["--bootstrap", &g_addr]);
    let na = Node::start_with(&a, &["--bootstrap", &g_addr]);
    ok(&v, &["trust", "add", &old, "--org", "gss:E07000209"]);
    let file = examples().join("manifests/guildford-bin-collection.toml");
    ok(&g, &["publish", file.to_str().expect("utf8")]);
    until("v has Guildford's service", || {
        shown(&v, &old, "bin-collection-days").filter(|s| s == "verified")
    });

    // Guildford rotates its key (on the stopped node, as the command asks).
    assert!(ng.interrupt().success());
    ok(&g, &["keys", "rotate"]);
    let new = publisher_key(&g).public().to_string();
    // On the same address, where v and a look for it.
    let listen = g_addr.split("/p2p/").next().expect("address");
    let _ng = Node::run_via(
        &[],
        &g,
        &["--listen", listen, "--network", "e2e-test"],
        std::process::Stdio::null(),
    );
    until("v verifies the successor", || {
        (judgement(&v, &new) == "verified").then_some(())
    });

    // The thief, holding the old key, signs as if before the rotation, and signs a
    // second rotation to a key of his own, and gives both to a node of his.
    let now = now_ms();
    let mut forged = sample::service("forged", 1, "Council tax", "Pay here.", &[], &[], now);
    forged.issued_at_ms = now - 10 * 60_000;
    let forged = UnsignedManifest(forged).sign(&old_key);
    let thief = lgmesh_protocol::identity::SecretKey::from_seed(&[0x7e; 32]);
    let rotation = v1::ManifestBody {
        publisher: vec![],
        name: lgmesh_protocol::schema::ROTATION_NAME.into(),
        version: 2,
        issued_at_ms: now - 20 * 60_000,
        expires_at_ms: now + lgmesh_protocol::YEAR_MS,
        kind: Some(v1::manifest_body::Kind::KeyRotation(v1::KeyRotation {
            new_key: thief.public().as_bytes().to_vec(),
            new_key_signature: lgmesh_protocol::envelope::sign_rotation(&thief, &old_key.public())
                .to_vec(),
            valid_ids: vec![forged.id().as_bytes().to_vec()],
        })),
    };
    let mut reg = RegistryClient::connect(na.url()).await.expect("connect");
    for m in [forged, UnsignedManifest(rotation).sign(&old_key)] {
        // a may refuse them (it knows of the rotation): the thief then gossips them.
        let _ = reg.submit(authed(&a, submit_of(&m))).await;
    }
    // A node that joins later, and trusts the old key as v does.
    let _nl = Node::start_with(&l, &["--bootstrap", &listen_addr(&a)]);
    ok(&l, &["trust", "add", &old, "--org", "gss:E07000209"]);
    std::thread::sleep(std::time::Duration::from_secs(5));
    for dir in [&v, &l] {
        assert_ne!(
            shown(dir, &old, "forged").as_deref(),
            Some("verified"),
            "{}: the backdated manifest",
            dir.display()
        );
        assert_ne!(judgement(dir, &thief.public().to_string()), "verified");
    }
}

/// A web server that accepts connections and never answers; counts them.
fn tarpit() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = n.clone();
    std::thread::spawn(move || {
        let mut held = vec![];
        for s in l.incoming().flatten() {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            held.push(s);
        }
    });
    (port, n)
}

/// Keys of their own for an attacker: `n` of them, each sorting before `before`.
fn keys_before(n: usize, before: &str) -> Vec<lgmesh_protocol::identity::SecretKey> {
    let before: lgmesh_protocol::identity::PublisherKey = before.parse().expect("key");
    (0u32..)
        .map(|i| {
            let mut seed = [0x3c; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            lgmesh_protocol::identity::SecretKey::from_seed(&seed)
        })
        .filter(|k| k.public() < before)
        .take(n)
        .collect()
}

/// Domain checks ran in key order, 256 a round: org cards that sort first, naming a
/// website that never answers, held every round for minutes and kept a genuine
/// council's proof from being checked, while every node asked the named website up to
/// 256 times a minute. Now one fetch answers for every card that names a website, and
/// proofs that hold and websites never checked go first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_naming_a_slow_website_neither_starve_proofs_nor_flood_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let [g, v, a] = ["g", "v", "a"].map(|n| tmp.path().join(n));
    let web = WellKnown::start();
    let website = format!("http://localhost:{}", web.port);
    ok(
        &g,
        &[
            "init",
            "--org",
            "gss:E07000209",
            "--name",
            "Guildford Borough Council",
            "--website",
            &website,
        ],
    );
    ok(
        &v,
        &[
            "init",
            "--org",
            "gss:E08000035",
            "--name",
            "Leeds City Council",
        ],
    );
    ok(
        &a,
        &["init", "--org", "gss:E09000007", "--name", "Camden Council"],
    );
    for dir in [&g, &v, &a] {
        set_config(dir, "sync_interval_secs", "1");
    }
    // Only v checks websites (the test's are plain HTTP on localhost).
    set_config(&v, "domain_suffixes", "[\"localhost\"]");
    set_config(&v, "domain_allow_http", "true");
    let gk = publisher_key(&g).public().to_string();
    web.serve("gss:E07000209", &[&gk]);
    let (slow, asked) = tarpit();
    let ng = Node::start(&g);
    let na = Node::start(&a);
    let mut reg = RegistryClient::connect(na.url()).await.expect("connect");
    let now = now_ms();
    for k in keys_before(300, &gk) {
        let mut card = sample::org("gss:E09000033", "Westminster City Council", 1, now);
        if let Some(v1::manifest_body::Kind::Org(o)) = &mut card.kind {
            o.website = format!("http://localhost:{slow}/");
        }
        reg.submit(authed(&a, submit_of(&UnsignedManifest(card).sign(&k))))
            .await
            .expect("stored on a");
    }
    let _nv = Node::start_with(
        &v,
        &[
            "--bootstrap",
            &listen_addr(&a),
            "--bootstrap",
            &listen_addr(&g),
        ],
    );
    until("v verifies Guildford by its website", || {
        (judgement(&v, &gk) == "verified").then_some(())
    });
    let n = asked.load(std::sync::atomic::Ordering::Relaxed);
    assert!(n <= 2, "the slow website was asked {n} times");
    drop(ng);
}

/// Any two keys proven by some website under the suffixes could revoke any council,
/// back to time 1: a key proven only by a website that is not its organisation's own
/// now cannot vouch (endorse, revoke) for anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_keys_proven_by_any_website_cannot_revoke_a_council() {
    let p = pair(1000);
    set_config(&p.v.dir, "domain_suffixes", "[\"localhost\"]");
    set_config(&p.v.dir, "domain_allow_http", "true");
    // Restart v with those settings, trusting Guildford's key (its own: v is Guildford).
    let vdir = p.v.dir.clone();
    let boot = listen_addr(&p.a.dir);
    drop(p.v);
    let _v = Node::start_with(&vdir, &["--bootstrap", &boot]);
    let guildford = publisher_key(&vdir).public();
    let mut reg = RegistryClient::connect(p.a.url()).await.expect("connect");
    let now = now_ms();
    let mut webs = vec![];
    let mut attackers = vec![];
    for (i, org) in ["gss:E07000210", "gss:E07000211"].into_iter().enumerate() {
        let k = lgmesh_protocol::identity::SecretKey::from_seed(&[0x90 + i as u8; 32]);
        let web = WellKnown::start();
        web.serve(org, &[&k.public().to_string()]);
        let mut card = sample::org(org, "A council", 1, now);
        if let Some(v1::manifest_body::Kind::Org(o)) = &mut card.kind {
            o.website = format!("http://localhost:{}/", web.port);
        }
        let revoke = sample::revocation(&guildford, 1, now);
        for body in [card, revoke] {
            reg.submit(authed(
                &p.a.dir,
                submit_of(&UnsignedManifest(body).sign(&k)),
            ))
            .await
            .expect("stored on a");
        }
        webs.push(web);
        attackers.push(k.public().to_string());
    }
    for k in &attackers {
        until("v has the attacker's card", || {
            lgmesh(&vdir, &["trust", "check", k])
                .status
                .success()
                .then_some(())
        });
        assert_eq!(judgement(&vdir, k), "verified", "proven by a website");
    }
    until("v holds both revocations", || {
        let r = json(&ok(&vdir, &["search", "--kind", "revocation", "--json"]));
        (r["total"].as_u64() >= Some(2)).then_some(())
    });
    assert_eq!(judgement(&vdir, &guildford.to_string()), "verified");
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
