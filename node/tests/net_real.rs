//! Real transports on 127.0.0.1: QUIC alone, and a node behind NAT that listens through
//! a relay (`…/p2p-circuit`): it starts while the relay cannot serve it, keeps trying,
//! and once the relay can, other nodes reach it through the relay.

mod mesh;

use std::time::Duration;

use lgmesh_net::{Multiaddr, NetConfig, Protocol, TransportKind};
use lgmesh_protocol::identity::SecretKey;
use mesh::*;

fn real(network: &str) -> NetConfig {
    let mut c = config(network);
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")];
    c
}

fn is_circuit(a: &Multiaddr) -> bool {
    a.iter().any(|p| p == Protocol::P2pCircuit)
}

/// A port free a moment ago: the relay must know its own address before it starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_nat_is_reached_through_a_relay_that_comes_later() {
    let net = "t-relay";
    let port = free_port();
    let public: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().expect("addr");
    let relay_seed = fresh_seed();

    // A relay without a public address offers no relaying yet.
    let mut rc = real(net);
    rc.listen = vec![public.clone()];
    rc.relay_server = true;
    let relay = Node::try_start(rc.clone(), TransportKind::Real, relay_seed)
        .await
        .expect("start the relay");
    let relay_id = relay.net.info().await.expect("info").peer_id;
    let relay_addr = public.clone().with(Protocol::P2p(relay_id));

    // The node behind NAT starts all the same (it used to fail to start), with no
    // address yet.
    let mut cc = real(net);
    cc.listen = vec![relay_addr.clone().with(Protocol::P2pCircuit)];
    cc.bootstrap = vec![relay_addr.clone()];
    let hidden = Node::try_start(cc, TransportKind::Real, fresh_seed())
        .await
        .expect("a node whose relay refuses still starts");
    let info = hidden.net.info().await.expect("info");
    assert!(
        !info.listen.iter().any(is_circuit),
        "a relay address without a reservation: {:?}",
        info.listen
    );

    // The relay comes back with its public address; the node finds it on its own.
    relay.net.shutdown().await;
    drop(relay);
    rc.external = vec![public.clone()];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let relay = loop {
        match Node::try_start(rc.clone(), TransportKind::Real, relay_seed).await {
            Ok(n) => break n,
            // The old listener may hold the port for a moment.
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, "relay port still busy");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("restart the relay: {e}"),
        }
    };
    let mut circuit = None;
    eventually_async(
        "the node listens through the relay",
        Duration::from_secs(45),
        async || {
            let listen = hidden
                .net
                .info()
                .await
                .map(|i| i.listen)
                .unwrap_or_default();
            circuit = listen.into_iter().find(is_circuit);
            circuit.is_some()
        },
    )
    .await;
    let circuit = circuit.expect("a relay address");
    let hidden_id = hidden.net.info().await.expect("info").peer_id;
    assert!(
        circuit.to_string().ends_with(&format!("/p2p/{hidden_id}")),
        "{circuit}"
    );

    // Another node reaches it through the relay alone, and gets what it publishes.
    let other = Node::try_start(real(net), TransportKind::Real, fresh_seed())
        .await
        .expect("start");
    let reached = other
        .net
        .dial(circuit.clone())
        .await
        .expect("dial through the relay");
    assert_eq!(reached, hidden_id);
    let peers = other.net.peers().await.expect("peers");
    let via = peers
        .iter()
        .find(|p| p.peer_id == hidden_id)
        .expect("the hidden node among the peers");
    assert!(
        via.addrs.iter().any(is_circuit),
        "not relayed: {:?}",
        via.addrs
    );
    let key = SecretKey::from_seed(&fresh_seed());
    let id = hidden.publish(sign(&key, service("bin-collection", 1)));
    eventually("the other node holds it", Duration::from_secs(20), || {
        other.has(&id)
    })
    .await;
    drop(relay);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_quic_alone_join_and_gossip() {
    let quic = |c: &mut NetConfig| {
        c.listen = vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().expect("addr")];
    };
    let mut ac = config("t-quic");
    quic(&mut ac);
    let a = Node::try_start(ac, TransportKind::Real, fresh_seed())
        .await
        .expect("start a");
    assert!(
        a.addr.iter().any(|p| p == Protocol::QuicV1),
        "not a QUIC address: {}",
        a.addr
    );
    let mut bc = config("t-quic");
    quic(&mut bc);
    bc.bootstrap = vec![a.addr.clone()];
    let b = Node::try_start(bc, TransportKind::Real, fresh_seed())
        .await
        .expect("start b");
    let a_id = a.net.info().await.expect("info").peer_id;
    eventually_async(
        "b is connected to a over QUIC",
        Duration::from_secs(20),
        async || {
            b.net.peers().await.is_ok_and(|p| {
                p.iter().any(|p| {
                    p.peer_id == a_id
                        && p.addrs
                            .iter()
                            .any(|x| x.iter().any(|q| q == Protocol::QuicV1))
                })
            })
        },
    )
    .await;
    let key = SecretKey::from_seed(&fresh_seed());
    let id = a.publish(sign(&key, service("bin-collection", 1)));
    eventually("b holds it", Duration::from_secs(20), || b.has(&id)).await;
}
