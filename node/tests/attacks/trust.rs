//! Trust under attack: equivocation, floods of claimants, stolen and retired keys,
//! slow and hostile websites.

use super::*;

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
