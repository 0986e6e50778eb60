//! A flood from an unverified key over real swarms: each honest node stores only its
//! quota of the flood (refusing the rest as "quota", which gossipsub is told to ignore,
//! so it is not relayed), counts the refusals, and an honest manifest published after
//! the flood still arrives everywhere.

mod mesh;

use std::time::Duration;

use lgmesh::metrics::Source;
use lgmesh_protocol::identity::SecretKey;
use lgmesh_registry::Quota;
use mesh::*;

const NET: &str = "t-flood";

fn quota(max_manifests: u64) -> Quota {
    Quota {
        max_manifests,
        ..Quota::default()
    }
}

fn stored_from(node: &Node, key: &SecretKey) -> u64 {
    node.registry.usage(&key.public()).expect("usage").0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_an_unverified_key_stops_at_the_quota_and_honest_manifests_still_arrive() {
    let (a, b, c) = (
        Node::start(config(NET)).await,
        Node::start(config(NET)).await,
        Node::start(config(NET)).await,
    );
    let flooder = SecretKey::from_seed(&fresh_seed());
    let honest = SecretKey::from_seed(&fresh_seed());
    // a lets the flood in (it stands for the attacker's own node); b and c hold it to
    // 10 manifests.
    a.registry.set_quota(quota(10_000));
    b.registry.set_quota(quota(10));
    c.registry.set_quota(quota(10));
    for n in [&b, &c] {
        n.registry
            .trust_add(&honest.public(), "gss:E07000209")
            .expect("trust");
    }
    connect(&b, &a).await;
    connect(&c, &b).await;
    eventually_async("gossip mesh a-b-c", Duration::from_secs(20), async || {
        let (ia, ic) = (a.net.info().await, c.net.info().await);
        matches!((ia, ic), (Ok(x), Ok(y)) if x.mesh_peers >= 1 && y.mesh_peers >= 1)
    })
    .await;

    for i in 0..60 {
        a.publish(sign(&flooder, service(&format!("spam-{i}"), 1)));
    }
    let after = a.publish(sign(&honest, service("bin-collection", 1)));
    eventually(
        "the honest manifest reaches c",
        Duration::from_secs(30),
        || c.has(&after),
    )
    .await;
    // Let stragglers and a periodic sync round pass, then look.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (name, n) in [("b", &b), ("c", &c)] {
        assert_eq!(stored_from(n, &flooder), 10, "{name} holds the quota");
        assert_eq!(
            n.registry.counts().expect("counts").heads,
            11,
            "{name}: 10 + honest"
        );
        let refused: u64 = n
            .metrics
            .rejected_by_reason(&[Source::Gossip, Source::Sync])
            .iter()
            .filter(|(r, _)| r.as_str() == "quota")
            .map(|(_, n)| n)
            .sum();
        assert!(refused >= 1, "{name}: quota refusals are counted");
        assert!(n.has(&after), "{name} has the honest manifest");
    }
}
