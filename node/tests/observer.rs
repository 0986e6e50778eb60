//! An observer among real `lgmesh run` processes: it joins without an organisation key,
//! catches up on what was published before it came and hears what is published after,
//! is served like any peer, and publishes nothing: no org card, every write refused.

mod common;

use common::*;
use lgmesh_proto::v1::registry_client::RegistryClient;
use lgmesh_protocol::envelope::UnsignedManifest;

fn init(dir: &std::path::Path, org: &str, name: &str) {
    ok(
        dir,
        &["init", "--org", org, "--name", name, "--type", "district"],
    );
}

/// The org ids of the org cards `dir`'s node holds.
fn org_cards(dir: &std::path::Path) -> Vec<String> {
    let r = json(&ok(dir, &["search", "--kind", "org", "--json"]));
    let mut orgs: Vec<String> = r["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["orgId"].as_str().expect("orgId").to_owned())
        .collect();
    orgs.sort();
    orgs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_syncs_everything_and_publishes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b, o) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("observer"),
    );
    init(&a, "gss:E07000209", "Guildford Borough Council");
    init(&b, "gss:E08000035", "Leeds City Council");
    let na = Node::start(&a);
    let boot = listen_addr(&a);
    let _nb = Node::start_with(&b, &["--bootstrap", &boot]);
    // Published before the observer exists: it can only come to it by sync.
    let bins = examples().join("manifests/guildford-bin-collection.toml");
    ok(&a, &["publish", bins.to_str().expect("path")]);

    // An observer's data dir holds no organisation key.
    let said = ok(&o, &["init", "--observer"]);
    assert!(said.contains("as an observer"), "{said}");
    assert!(!o.join("publisher.key").exists());
    assert!(o.join("node.key").exists());
    let config = std::fs::read_to_string(o.join("lgmesh.toml")).expect("config");
    assert!(config.contains("observer = true"), "{config}");
    // --observer and an organisation do not go together.
    let err = lgmesh(&o, &["init", "--observer", "--org", "gss:E07000209"]);
    assert!(!err.status.success());

    let no = Node::start_with(&o, &["--bootstrap", &boot]);
    let info = json(&ok(&o, &["info", "--json"]));
    assert_eq!(info["observer"], true, "{info}");
    assert_eq!(info["publisher"], "", "{info}");
    assert_eq!(info["orgId"], "", "{info}");
    let observer_peer = info["peerId"].as_str().expect("peer id").to_owned();
    let text = ok(&o, &["info"]);
    assert!(text.starts_with("Observer"), "{text}");

    // It catches up on everything, as any node.
    until("the observer holds what a published before it came", || {
        let r = json(&ok(&o, &["search", "bin collection", "--json"]));
        r["hits"]
            .as_array()?
            .iter()
            .any(|h| h["orgName"] == "Guildford Borough Council")
            .then_some(())
    });
    until("the observer holds both org cards", || {
        (org_cards(&o) == ["gss:E07000209", "gss:E08000035"]).then_some(())
    });
    // The councils serve it like any peer.
    until("a lists the observer among its peers", || {
        let peers = json(&ok(&a, &["peers", "--json"]));
        peers["peers"]
            .as_array()?
            .iter()
            .any(|p| p["peerId"] == observer_peer.as_str())
            .then_some(())
    });
    // And what is published later reaches it by gossip.
    let lookup = examples().join("manifests/leeds-address-lookup.toml");
    ok(&b, &["publish", lookup.to_str().expect("path")]);
    until("the observer hears of b's publish", || {
        let r = json(&ok(&o, &["search", "--json"]));
        r["hits"]
            .as_array()?
            .iter()
            .any(|h| h["orgName"] == "Leeds City Council" && h["kind"] != "org")
            .then_some(())
    });

    // It publishes nothing: every write is refused, in words, and nothing is stored.
    let heads = json(&ok(&o, &["stats", "--json"]))["heads"].clone();
    for args in [
        vec!["publish", bins.to_str().expect("path")],
        vec!["retract", "bin-collection-days"],
    ] {
        let err = fails(&o, &args);
        assert!(err.contains("observer"), "{args:?}: {err}");
    }
    // Submit too (an envelope signed by anyone), over gRPC with the token.
    let body = lgmesh_protocol::sample::service(
        "extra",
        1,
        "Extra",
        "Signed elsewhere.",
        &[524],
        &["E07000209"],
        lgmesh_protocol::now_ms(),
    );
    let signed =
        UnsignedManifest(body).sign(&lgmesh_protocol::identity::SecretKey::from_seed(&[9; 32]));
    let mut client = RegistryClient::connect(no.url()).await.expect("connect");
    let status = client
        .submit(authed(&o, submit_of(&signed)))
        .await
        .expect_err("an observer refuses a submit");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("observer"), "{status:?}");
    assert_eq!(json(&ok(&o, &["stats", "--json"]))["heads"], heads);

    // No node holds an org card for it.
    for dir in [&a, &b, &o] {
        assert_eq!(
            org_cards(dir),
            ["gss:E07000209", "gss:E08000035"],
            "{}",
            dir.display()
        );
    }
    drop(no);

    // `run --observer` in an empty data dir makes an observer, not a development
    // identity.
    let fresh = tmp.path().join("fresh");
    let nf = Node::start_with(&fresh, &["--observer", "--bootstrap", &boot]);
    assert!(!fresh.join("publisher.key").exists());
    assert_eq!(json(&ok(&fresh, &["info", "--json"]))["observer"], true);
    drop((nf, na));

    // A council's data dir run with --observer speaks for no organisation, and its key
    // stays where it was.
    let key = std::fs::read(a.join("publisher.key")).expect("a's key");
    let _na = Node::start_with(&a, &["--observer", "--bootstrap", &boot]);
    let info = json(&ok(&a, &["info", "--json"]));
    assert_eq!(info["observer"], true, "{info}");
    assert_eq!(info["orgId"], "", "{info}");
    assert_eq!(info["orgName"], "", "{info}");
    assert_eq!(info["publisher"], "", "{info}");
    assert_eq!(info["developmentIdentity"], false, "{info}");
    assert!(fails(&a, &["retract", "bin-collection-days"]).contains("observer"));
    assert_eq!(
        std::fs::read(a.join("publisher.key")).expect("a's key"),
        key
    );
}
