//! Trust across real `lgmesh run` processes: the operator's list, endorsements arriving
//! by gossip, an impostor claiming another council's org id, adoptions and needs.

mod common;

use std::path::Path;

use common::*;

fn publisher(dir: &Path) -> String {
    json(&ok(dir, &["info", "--json"]))["publisher"]
        .as_str()
        .expect("publisher")
        .to_owned()
}

fn state(dir: &Path, key: &str) -> String {
    json(&ok(dir, &["trust", "show", key, "--json"]))["verification"]
        .as_str()
        .expect("verification")
        .to_owned()
}

#[test]
fn trust_endorsements_impostors_and_adoptions_across_real_nodes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dirs: Vec<_> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| tmp.path().join(n))
        .collect();
    let [a, b, c, d, e] = [&dirs[0], &dirs[1], &dirs[2], &dirs[3], &dirs[4]];
    for (dir, org, name) in [
        (a, "gss:E07000209", "Guildford Borough Council"),
        (b, "gss:E08000035", "Leeds City Council"),
        (c, "gss:S12000036", "City of Edinburgh Council"),
        // d claims Guildford's org id: an impostor.
        (d, "gss:E07000209", "Guildford Borough Council"),
        (e, "gss:E07000212", "Runnymede Borough Council"),
    ] {
        ok(dir, &["init", "--org", org, "--name", name]);
    }
    let na = Node::start(a);
    let boot = listen_addr(a);
    let nodes: Vec<Node> = [b, c, d, e]
        .iter()
        .map(|dir| Node::start_with(dir, &["--bootstrap", &boot]))
        .collect();
    let [pa, pb, pc, pd, pe] = [a, b, c, d, e].map(|d| publisher(d));

    // Every node trusts its own key; c trusts no one else yet.
    assert_eq!(state(c, &pc), "verified");
    assert_ne!(state(c, &pa), "verified");

    // Both "Guildfords" publish a bin collection service.
    let file = examples().join("manifests/guildford-bin-collection.toml");
    ok(a, &["publish", file.to_str().expect("path")]);
    ok(d, &["publish", file.to_str().expect("path")]);

    // c's operator trusts the real Guildford and Leeds directly.
    let added = json(&ok(
        c,
        &["trust", "add", &pa, "--org", "gss:E07000209", "--json"],
    ));
    assert_eq!(added["verification"], "verified", "{added}");
    assert_eq!(added["operatorTrusted"], true);
    ok(c, &["trust", "add", &pb, "--org", "gss:E08000035"]);

    // Once d's org card arrives, c sees it as conflicting, and --verified-only hides it.
    until("c sees the impostor as conflicting", || {
        (state(c, &pd) == "conflicting").then_some(())
    });
    let hits = until("c finds both bin services", || {
        let r = json(&ok(c, &["search", "bin collection", "--json"]));
        let h = r["hits"].as_array().cloned().unwrap_or_default();
        (h.len() >= 2).then_some(h)
    });
    let by_pub = |h: &[serde_json::Value], pk: &str| {
        h.iter()
            .find(|x| x["publisher"] == pk)
            .cloned()
            .expect("hit")
    };
    assert_eq!(by_pub(&hits, &pa)["verification"], "verified");
    assert_eq!(by_pub(&hits, &pd)["verification"], "conflicting");
    let verified = json(&ok(
        c,
        &["search", "bin collection", "--verified-only", "--json"],
    ));
    let vh = verified["hits"].as_array().expect("hits");
    assert!(
        vh.iter().all(|x| x["publisher"] == pa.as_str()),
        "{verified}"
    );
    assert!(!vh.is_empty(), "{verified}");
    let text = ok(c, &["search", "bin collection"]);
    assert!(text.contains("CONFLICTING ORG CLAIM"), "{text}");

    // Runnymede is unknown to c until two organisations c verifies endorse it.
    until("e's org card reaches c", || {
        (state(c, &pe) == "unverified").then_some(())
    });
    ok(
        a,
        &[
            "endorse",
            &pe,
            "--org",
            "gss:E07000212",
            "--note",
            "phoned their IT team",
        ],
    );
    // d (unverified on c) endorsing e counts for nothing.
    ok(d, &["endorse", &pe, "--org", "gss:E07000212"]);
    until("c has both endorsements", || {
        let t = json(&ok(c, &["trust", "show", &pe, "--json"]));
        (t["endorsedBy"].as_array().map_or(0, Vec::len) == 2).then_some(())
    });
    assert_eq!(
        state(c, &pe),
        "unverified",
        "one verified endorser is not k = 2"
    );
    ok(b, &["endorse", &pe, "--org", "gss:E07000212"]);
    until("e becomes verified on c", || {
        (state(c, &pe) == "verified").then_some(())
    });
    let list = json(&ok(c, &["trust", "list", "--state", "verified", "--json"]));
    assert_eq!(
        list["publishers"].as_array().map(Vec::len),
        Some(4),
        "{list}"
    );

    // Self-endorsement is refused with the field named.
    let err = fails(a, &["endorse", &pa, "--org", "gss:E07000209"]);
    assert!(err.contains("subject"), "{err}");

    // Leeds adopts Guildford's service once it has it; c shows one verified
    // organisation using it.
    until("b has a's service", || {
        lgmesh(b, &["show", &format!("{pa}/bin-collection-days")])
            .status
            .success()
            .then_some(())
    });
    ok(
        b,
        &[
            "adopt",
            &format!("{pa}/bin-collection-days"),
            "--note",
            "bin day lookups",
        ],
    );
    until("c counts the adoption", || {
        let r = json(&ok(
            c,
            &["search", "bin collection", "--verified-only", "--json"],
        ));
        let h = r["hits"].as_array()?.first()?.clone();
        (h["verifiedAdopters"] == 1).then_some(())
    });
    let shown = ok(c, &["show", &format!("{pa}/bin-collection-days")]);
    assert!(shown.contains("Leeds City Council (verified)"), "{shown}");
    // Adopting something that is not there says so.
    let err = fails(b, &["adopt", &format!("{pa}/no-such-service")]);
    assert!(err.contains("not found"), "{err}");

    // Edinburgh posts a need; Guildford finds it by LGSL code.
    ok(
        c,
        &["need", "Bulky waste collection booking", "--lgsl", "863"],
    );
    until("a finds the need", || {
        let r = json(&ok(
            a,
            &["search", "--lgsl", "863", "--kind", "need", "--json"],
        ));
        (r["total"] == 1).then_some(())
    });

    // Removing trust is immediate, and unknown keys are refused clearly.
    ok(c, &["trust", "remove", &pb]);
    assert_eq!(state(c, &pb), "unverified");
    let err = fails(c, &["trust", "remove", &pb]);
    assert!(err.contains("not on this node's trusted list"), "{err}");
    let err = fails(
        c,
        &["trust", "add", "did:key:nonsense", "--org", "gss:E07000209"],
    );
    assert!(err.contains("publisher"), "{err}");
    let err = fails(c, &["trust", "add", &pb, "--org", "gss:12"]);
    assert!(err.contains("orgId"), "{err}");
    drop((na, nodes));
}

#[test]
fn a_rotated_key_passes_trust_on_and_a_revoked_key_signs_nothing_more() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    ok(
        &a,
        &[
            "init",
            "--org",
            "gss:E07000209",
            "--name",
            "Guildford Borough Council",
        ],
    );
    ok(
        &b,
        &[
            "init",
            "--org",
            "gss:E08000035",
            "--name",
            "Leeds City Council",
        ],
    );
    // A periodic round far away: what a changed while stopped must reach b when they
    // reconnect (a finds b lacks it and nudges b to pull).
    set_config(&b, "sync_interval_secs", "3600");
    set_config(&a, "sync_interval_secs", "3600");
    let na = Node::start(&a);
    let boot = listen_addr(&a);
    let nb = Node::start_with(&b, &["--bootstrap", &boot]);
    let old = publisher(&a);
    let file = examples().join("manifests/guildford-bin-collection.toml");
    ok(&a, &["publish", file.to_str().expect("path")]);
    ok(&b, &["trust", "add", &old, "--org", "gss:E07000209"]);
    until("b has a's service", || {
        lgmesh(&b, &["show", &format!("{old}/bin-collection-days")])
            .status
            .success()
            .then_some(())
    });

    // Rotation needs the node stopped, and says so.
    let err = fails(&a, &["keys", "rotate"]);
    assert!(err.contains("stop the node first"), "{err}");
    na.kill();
    let out = ok(&a, &["keys", "rotate"]);
    assert!(out.contains("moved      1 manifest(s)"), "{out}");
    let _na = Node::start_with(&a, &["--bootstrap", &listen_addr(&b)]);
    let new = publisher(&a);
    assert_ne!(new, old);

    // b learns of the rotation and trusts the new key as it trusted the old one; the
    // service is now under the new key and the old name is a tombstone.
    until("b verifies the new key", || {
        (state(&b, &new) == "verified").then_some(())
    });
    until(
        "b's verified search shows the service under the new key only",
        || {
            let r = json(&ok(
                &b,
                &["search", "bin collection", "--verified-only", "--json"],
            ));
            let hits = r["hits"].as_array()?.clone();
            (hits.len() == 1 && hits[0]["publisher"] == new.as_str()).then_some(())
        },
    );
    let t = json(&ok(&b, &["trust", "show", &new, "--json"]));
    assert!(
        t["reason"].as_str().expect("reason").contains("successor"),
        "{t}"
    );

    // The organisation revokes its new key: it then signs nothing more.
    ok(&a, &["revoke", &new, "--reason", "laptop stolen"]);
    assert_eq!(state(&a, &new), "revoked");
    let err = fails(&a, &["publish", file.to_str().expect("path")]);
    assert!(err.contains("revoked"), "{err}");
    until("b sees the revocation", || {
        (state(&b, &new) == "revoked").then_some(())
    });
    drop(nb);
}

#[test]
fn a_website_listing_the_key_verifies_it_on_another_node() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let web = WellKnown::start();
    let website = format!("http://localhost:{}", web.port);
    let init = ok(
        &a,
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
    // init says what to publish, and where.
    assert!(
        init.contains(&format!("{website}/.well-known/lgmesh.json")),
        "{init}"
    );
    ok(
        &b,
        &[
            "init",
            "--org",
            "gss:E08000035",
            "--name",
            "Leeds City Council",
        ],
    );
    // The test website is plain HTTP on localhost: development settings on both nodes.
    for dir in [&a, &b] {
        set_config(dir, "domain_suffixes", "[\"localhost\"]");
        set_config(dir, "domain_allow_http", "true");
    }
    let na = Node::start(&a);
    let boot = listen_addr(&a);
    let _nb = Node::start_with(&b, &["--bootstrap", &boot]);
    let pa = publisher(&a);
    let file = examples().join("manifests/guildford-bin-collection.toml");
    ok(&a, &["publish", file.to_str().expect("path")]);

    // Before the file is published, a's operator sees why there is no proof.
    let err = fails(&a, &["trust", "check"]);
    assert!(
        err.contains("domain proof does not hold") && err.contains("404"),
        "{err}"
    );
    web.serve("gss:E07000209", &[&pa]);
    let text = ok(&a, &["trust", "check"]);
    assert!(text.contains("domain proof  holds: localhost"), "{text}");

    // b has never been told about a, but a's website vouches for its key.
    until("b has a's org card and service", || {
        lgmesh(&b, &["show", &format!("{pa}/bin-collection-days")])
            .status
            .success()
            .then_some(())
    });
    assert_eq!(state(&b, &pa), "unverified");
    let t = json(&ok(&b, &["trust", "check", &pa, "--json"]));
    assert_eq!(t["verification"], "verified", "{t}");
    assert_eq!(t["domainProof"]["result"], "proven", "{t}");
    assert!(
        t["reason"]
            .as_str()
            .is_some_and(|r| r.contains("website localhost")),
        "{t}"
    );
    until("b's verified-only search finds a's service", || {
        let hits = json(&ok(
            &b,
            &["search", "bin collection", "--verified-only", "--json"],
        ));
        hits["hits"]
            .as_array()
            .is_some_and(|h| h.iter().any(|x| x["publisher"] == pa.as_str()))
            .then_some(())
    });

    // The website stops listing the key: the next check ends the proof, and says why.
    web.serve("gss:E07000209", &[]);
    let err = fails(&b, &["trust", "check", &pa]);
    assert!(err.contains("not this one"), "{err}");
    assert_eq!(state(&b, &pa), "unverified");
    // Checks are counted by result in /metrics.
    let (_, metrics) = _nb.http_get("/metrics");
    assert!(
        metrics.contains("lgmesh_domain_checks_total{result=\"proven\"} 1")
            && metrics.contains("lgmesh_domain_checks_total{result=\"not_listed\"} 1"),
        "{metrics}"
    );
    drop(na);
}
