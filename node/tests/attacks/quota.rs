//! Quotas and expiry: what a publisher may keep on other nodes, and what an honest
//! peer's expired manifests cost it.

use super::*;

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
