//! Federation over real swarms on the memory transport: push, pull, partitions.

mod mesh;

use std::time::Duration;

use lgmesh::metrics::Source;
use lgmesh_protocol::identity::SecretKey;
use lgmesh_protocol::sample;
use mesh::*;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_publish_update_and_retract_reach_every_node() {
    let mut nodes = vec![];
    for _ in 0..10 {
        nodes.push(Node::start(config("t-ten")).await);
    }
    // A ring with chords: no node is directly connected to every other.
    for i in 0..10 {
        connect(&nodes[i], &nodes[(i + 1) % 10]).await;
        connect(&nodes[i], &nodes[(i + 3) % 10]).await;
    }
    // Wait for the gossip mesh to form.
    for n in &nodes {
        let net = n.net.clone();
        let mut ok = false;
        for _ in 0..100 {
            if net.info().await.expect("info").mesh_peers >= 2 {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ok, "mesh formed");
    }
    let key = SecretKey::from_seed(&[42; 32]);
    let id1 = nodes[0].publish(sign(&key, service("bin-collection", 1)));
    eventually("v1 on every node", WAIT, || {
        nodes.iter().all(|n| n.has(&id1))
    })
    .await;
    let id2 = nodes[0].publish(sign(&key, service("bin-collection", 2)));
    eventually("v2 is the head everywhere", WAIT, || {
        nodes.iter().all(|n| {
            n.registry
                .resolve(&key.public(), "bin-collection")
                .expect("resolve")
                .is_some_and(|s| s.id == id2)
        })
    })
    .await;
    let id3 = nodes[0].publish(sign(
        &key,
        sample::retraction("bin-collection", 3, now_ms()),
    ));
    eventually("the tombstone is the head everywhere", WAIT, || {
        nodes.iter().all(|n| {
            n.registry
                .resolve(&key.public(), "bin-collection")
                .expect("resolve")
                .is_some_and(|s| s.id == id3 && s.kind() == "retraction")
        })
    })
    .await;
    // Push did the work: gossip stored the manifests on nodes not linked to node 0. The
    // counters are bumped just after a manifest is stored, so they may lag a moment.
    eventually("gossip counted at least nine stores", WAIT, || {
        let gossip_stored: u64 = nodes[1..]
            .iter()
            .map(|n| n.metrics.stored(Source::Gossip))
            .sum();
        gossip_stored >= 9
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_without_gossip_gets_a_thousand_manifests_by_sync_alone() {
    let a = Node::start(config("t-late")).await;
    let now = now_ms();
    let batch: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            let key = SecretKey::from_seed(&[(i % 50) as u8 + 1; 32]);
            sign(
                &key,
                sample::service(
                    &format!("svc-{i}"),
                    1,
                    &format!("Service {i}"),
                    "A shared council service.",
                    &[524],
                    &["E07000209"],
                    now,
                ),
            )
        })
        .collect();
    a.registry.put_batch(&batch, now).expect("fill");
    assert_eq!(a.digest().1, 1000);

    let mut cfg = config("t-late");
    cfg.gossip = false;
    let b = Node::start(cfg).await;
    connect(&b, &a).await;
    eventually("1,000 manifests synced", WAIT, || b.digest() == a.digest()).await;
    // The counters are bumped just after the batch is stored.
    eventually("sync counted 1,000 stored", WAIT, || {
        b.metrics.stored(Source::Sync) >= 1000
    })
    .await;
    assert_eq!(
        b.net.stats().snapshot().by_path[0].1,
        0,
        "nothing came by gossip"
    );
}

/// A node that holds a little (say, a few manifests a liar fed it) and meets one that
/// holds much more cannot reconcile the difference within one round's round trips: it
/// used to fail every round and never catch up. Now a round that hits a cap fetches
/// what it learnt and the next goes on at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_difference_too_large_for_one_round_is_made_up_in_several() {
    let mut cfg = config("t-large-diff");
    cfg.gossip = false;
    cfg.sync.interval = std::time::Duration::from_secs(3600);
    cfg.sync.frame_bytes = 4096;
    let a = Node::start(cfg.clone()).await;
    let now = now_ms();
    let batch: Vec<Vec<u8>> = (0..1500)
        .map(|i| {
            let key = SecretKey::from_seed(&[(i % 50) as u8 + 1; 32]);
            sign(
                &key,
                sample::service(&format!("svc-{i}"), 1, "S", "A service.", &[], &[], now),
            )
        })
        .collect();
    a.registry.put_batch(&batch, now).expect("fill");
    cfg.sync.max_round_trips = 2;
    let b = Node::start(cfg).await;
    b.registry.put_batch(&batch[..5], now).expect("a few");
    connect(&b, &a).await;
    eventually("1,500 manifests synced", WAIT, || b.digest() == a.digest()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_that_differ_reconcile_both_ways() {
    let mut cfg = config("t-diff");
    cfg.gossip = false;
    let a = Node::start(cfg.clone()).await;
    let b = Node::start(cfg).await;
    let now = now_ms();
    let make = |seed: u8, from: usize, to: usize| -> Vec<Vec<u8>> {
        let key = SecretKey::from_seed(&[seed; 32]);
        (from..to)
            .map(|i| {
                sign(
                    &key,
                    sample::service(
                        &format!("svc-{i}"),
                        1,
                        "Shared",
                        "A shared council service.",
                        &[524],
                        &["E07000209"],
                        now,
                    ),
                )
            })
            .collect()
    };
    // 300 in common, 40 only on a, 25 only on b; and one name where b is a version ahead.
    let common = make(1, 0, 300);
    a.registry.put_batch(&common, now).expect("a");
    b.registry.put_batch(&common, now).expect("b");
    a.registry.put_batch(&make(2, 0, 40), now).expect("a only");
    b.registry.put_batch(&make(3, 0, 25), now).expect("b only");
    let k = SecretKey::from_seed(&[4; 32]);
    a.registry
        .put(&sign(&k, service("ahead", 1)), now)
        .expect("v1");
    b.registry
        .put(&sign(&k, service("ahead", 1)), now)
        .expect("v1");
    let v2 = sign(&k, service("ahead", 2));
    b.registry.put(&v2, now).expect("v2");

    connect(&a, &b).await;
    eventually("both hold the union", WAIT, || {
        let (da, na) = a.digest();
        let (db, _) = b.digest();
        da == db && na == 300 + 40 + 25 + 1
    })
    .await;
    assert_eq!(
        a.registry
            .resolve(&k.public(), "ahead")
            .expect("resolve")
            .map(|s| s.body.version),
        Some(2)
    );
    // a can only have b's 26 by pulling them (no gossip here), and a round's trips are
    // counted before anything it fetched is stored.
    let s = a.net.stats().snapshot();
    assert!(s.sync_round_trips >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_heals_to_the_same_set() {
    let mut nodes = vec![];
    for _ in 0..6 {
        nodes.push(Node::start(config("t-part")).await);
    }
    for g in [0usize, 3] {
        connect(&nodes[g], &nodes[g + 1]).await;
        connect(&nodes[g + 1], &nodes[g + 2]).await;
        connect(&nodes[g], &nodes[g + 2]).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ka = SecretKey::from_seed(&[11; 32]);
    let kb = SecretKey::from_seed(&[12; 32]);
    for i in 0..20 {
        nodes[0].publish(sign(&ka, service(&format!("left-{i}"), 1)));
        nodes[4].publish(sign(&kb, service(&format!("right-{i}"), 1)));
    }
    eventually("each side converges on its own", WAIT, || {
        nodes[..3].iter().all(|n| n.digest().1 == 20)
            && nodes[3..].iter().all(|n| n.digest().1 == 20)
    })
    .await;
    assert_ne!(nodes[0].digest(), nodes[3].digest());
    // Heal: one link between the groups.
    connect(&nodes[2], &nodes[3]).await;
    let want = 40;
    eventually("every node holds both sides", WAIT, || {
        let d0 = nodes[0].digest();
        d0.1 == want && nodes.iter().all(|n| n.digest() == d0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_over_max_peers_trims_the_newest_and_keeps_its_bootstrap_peer() {
    let net = "trim-test";
    let boot = Node::start(config(net)).await;
    let boot_id = boot.net.info().await.expect("info").peer_id;
    let mut cfg = config(net);
    cfg.target_peers = 2;
    cfg.max_peers = 4;
    cfg.connection_grace = Duration::from_millis(200);
    cfg.bootstrap = vec![boot.addr.clone().with_p2p(boot_id).expect("p2p addr")];
    // Gossip mesh peers are never trimmed; without gossip every peer but the bootstrap
    // one is fair game, which is what this test is about.
    cfg.gossip = false;
    // Nor sync rounds, whose peers are spared while they run.
    cfg.sync.on_connect_burst = 0.0;
    cfg.sync.interval = Duration::from_secs(3600);
    let hub = Node::start(cfg).await;
    mesh::eventually_async("the hub reaches its bootstrap peer", WAIT, async || {
        hub.net.info().await.expect("info").peers == 1
    })
    .await;
    let mut others = vec![];
    for _ in 0..7 {
        let n = Node::start(config(net)).await;
        connect(&n, &hub).await;
        others.push(n);
        // Distinct connection times, so "newest first" is well defined.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Housekeeping runs every 5 s: 8 peers, over max 4, so back to halfway (3): the
    // bootstrap peer and the two oldest others stay, the five newest go.
    mesh::eventually_async("a trim", WAIT, async || {
        hub.net.stats().snapshot().connections_trimmed >= 5
    })
    .await;
    let left: Vec<_> = hub
        .net
        .peers()
        .await
        .expect("peers")
        .into_iter()
        .map(|p| p.peer_id)
        .collect();
    assert!(left.contains(&boot_id), "the bootstrap peer was trimmed");
    for n in &others[..2] {
        let id = n.net.info().await.expect("info").peer_id;
        assert!(left.contains(&id), "an old peer was trimmed: {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_of_different_networks_never_exchange_manifests() {
    let a = Node::start(config("t-net-one")).await;
    let b = Node::start(config("t-net-two")).await;
    let key = SecretKey::from_seed(&fresh_seed());
    let before = a.publish(sign(&key, service("bin-collection", 1)));
    // The transports match, so the connection opens; the dial still fails, and says why.
    let err = b
        .net
        .dial(a.addr.clone())
        .await
        .expect_err("a dial to another network succeeded");
    let msg = err.to_string();
    assert!(
        msg.contains("\"t-net-one\"") && msg.contains("\"t-net-two\""),
        "the error does not name both networks: {msg}"
    );
    let foreign = |node: &Node| {
        let refused = node.net.stats().snapshot().refused;
        refused
            .iter()
            .find(|(r, _)| *r == "other_network")
            .map_or(0, |(_, n)| *n)
    };
    assert_eq!(foreign(&b), 1, "b did not count the foreign peer once");
    eventually("a counts the foreign peer", Duration::from_secs(20), || {
        foreign(&a) >= 1
    })
    .await;
    let after = a.publish(sign(&key, service("address-lookup", 1)));
    eventually_async(
        "the foreign peer is dropped",
        Duration::from_secs(20),
        async || b.net.info().await.is_ok_and(|i| i.peers == 0),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !b.has(&before) && !b.has(&after),
        "b took manifests from another network"
    );
    assert_eq!(b.registry.counts().expect("counts").manifests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_that_fails_says_why_in_words() {
    let a = Node::start(config("t-dial-words")).await;
    let b = Node::start(config("t-dial-words")).await;
    // The right address with another node's id: someone else answers there.
    let stranger = lgmesh_net::keypair_from_seed(fresh_seed())
        .expect("key")
        .public()
        .to_peer_id();
    let mut wrong = lgmesh_net::Multiaddr::empty();
    for p in a.addr.iter() {
        match p {
            lgmesh_net::Protocol::P2p(_) => wrong.push(lgmesh_net::Protocol::P2p(stranger)),
            p => wrong.push(p),
        }
    }
    let err = b
        .net
        .dial(wrong.clone())
        .await
        .expect_err("dial")
        .to_string();
    assert!(
        err.contains(&wrong.to_string()) && err.contains("a different node answers"),
        "{err}"
    );
    let own = a
        .net
        .dial(a.addr.clone())
        .await
        .expect_err("dial self")
        .to_string();
    assert!(own.contains("this node's own address"), "{own}");
}

/// Shutdown stops taking gossip in first, then validates and stores everything it had
/// taken in, before it returns: a message counted as received is, by then, counted as
/// stored, a duplicate, refused by validation, or turned away at the door (over its
/// sender's rate, or the queue full). Were the queue dropped instead of drained, what
/// was waiting in it would be received and never settled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_settles_every_gossip_message_it_took_in() {
    let net = "t-shutdown";
    let a = Node::start(config(net)).await;
    let mut quiet = config(net);
    // Gossip alone brings the manifests in: no round stores them meanwhile.
    quiet.sync.interval = Duration::from_secs(3600);
    quiet.sync.on_connect_burst = 0.0;
    let b = Node::start(quiet).await;
    connect(&b, &a).await;
    eventually_async("b in a's gossip mesh", WAIT, async || {
        a.net
            .peers()
            .await
            .is_ok_and(|p| p.iter().any(|p| p.peer_id == b.net.peer_id() && p.in_mesh))
    })
    .await;
    let key = SecretKey::from_seed(&fresh_seed());
    let burst: Vec<Vec<u8>> = (0..2000)
        .map(|i| sign(&key, service(&format!("burst-{i}"), 1)))
        .collect();
    a.registry.put_batch(&burst, now_ms()).expect("stored on a");
    let received = || b.net.stats().snapshot().by_path[0].1;
    let gossip = tokio::spawn({
        let net = a.net.clone();
        let ids: Vec<_> = burst
            .iter()
            .map(|e| (e.clone(), lgmesh_net::envelope_id(e)))
            .collect();
        async move {
            for (e, id) in ids {
                net.publish(e, id);
                tokio::task::yield_now().await;
            }
        }
    });
    eventually("b takes gossip in", WAIT, || received() >= 50).await;
    b.net.shutdown().await;
    let taken = received();
    let refused = |why: &str| {
        let s = b.net.stats().snapshot();
        s.refused.iter().find(|r| r.0 == why).map_or(0, |r| r.1)
    };
    let rejected: u64 = b
        .metrics
        .rejected_by_reason(&[Source::Gossip])
        .iter()
        .map(|(_, n)| n)
        .sum();
    let settled = b.metrics.stored(Source::Gossip)
        + b.metrics.duplicates(Source::Gossip)
        + rejected
        + refused("ingest_full")
        + refused("gossip_rate_limited");
    assert_eq!(
        settled, taken,
        "every gossip message b took in was settled before shutdown returned"
    );
    assert!(
        taken < 2000,
        "shut down before the burst was over ({taken})"
    );
    assert_eq!(
        b.registry.counts().expect("counts").heads,
        b.metrics.stored(Source::Gossip),
        "what was settled as stored is in the store"
    );
    gossip.abort();
}
