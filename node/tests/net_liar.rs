//! A lying peer, built from raw libp2p parts, attacks an honest node: bad signatures,
//! garbage, oversized messages, rollbacks, equivocation, and garbage sync frames.
//! Nothing it sends is stored or forwarded, it is banned, and honest manifests still
//! arrive.

mod mesh;

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use lgmesh::metrics::Source;
use lgmesh_protocol::identity::SecretKey;
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Transport, core::upgrade, gossipsub, identify, noise,
    request_response, swarm::NetworkBehaviour, swarm::SwarmEvent, yamux,
};
use mesh::*;
use tokio::sync::mpsc;

const NET: &str = "t-liar";

/// Writes requests as raw bytes, with no framing: whatever the test wants on the wire.
#[derive(Clone, Default)]
struct Raw;

impl request_response::Codec for Raw {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;
    async fn read_request<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        let mut v = vec![];
        io.take(1 << 20).read_to_end(&mut v).await?;
        Ok(v)
    }
    async fn read_response<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        let mut v = vec![];
        io.take(1 << 20).read_to_end(&mut v).await?;
        Ok(v)
    }
    async fn write_request<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> std::io::Result<()> {
        io.write_all(&req).await?;
        io.close().await
    }
    async fn write_response<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> std::io::Result<()> {
        io.write_all(&res).await?;
        io.close().await
    }
}

#[derive(NetworkBehaviour)]
struct Liar {
    identify: identify::Behaviour,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<Raw>,
}

enum Cmd {
    Publish(Vec<u8>),
    Raw(PeerId, Vec<u8>),
}

#[derive(Debug, PartialEq)]
enum Seen {
    Subscribed,
    Closed,
}

/// Starts the liar, dials `target` and drives it on its own task.
async fn liar(target: Multiaddr) -> (PeerId, mpsc::Sender<Cmd>, mpsc::Receiver<Seen>) {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|k| {
            libp2p::core::transport::MemoryTransport::default()
                .upgrade(upgrade::Version::V1)
                .authenticate(noise::Config::new(k).expect("noise"))
                .multiplex(yamux::Config::default())
        })
        .expect("transport")
        .with_behaviour(|k| {
            let g = liar_gossipsub(NET);
            Liar {
                identify: identify::Behaviour::new(identify::Config::new(
                    format!("/lgmesh/{NET}/id/1"),
                    k.public(),
                )),
                gossipsub: g,
                sync: request_response::Behaviour::with_codec(
                    Raw,
                    [(
                        StreamProtocol::try_from_owned(format!("/lgmesh/{NET}/sync/1"))
                            .expect("proto"),
                        request_response::ProtocolSupport::Full,
                    )],
                    request_response::Config::default(),
                ),
            }
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let me = *swarm.local_peer_id();
    swarm.dial(target).expect("dial");
    let (ctx, mut crx) = mpsc::channel::<Cmd>(64);
    let (etx, erx) = mpsc::channel::<Seen>(64);
    tokio::spawn(async move {
        let topic = gossipsub::IdentTopic::new(lgmesh_net::topic_name(NET));
        loop {
            tokio::select! {
                ev = swarm.select_next_some() => match ev {
                    SwarmEvent::Behaviour(LiarEvent::Gossipsub(gossipsub::Event::Subscribed { .. })) => {
                        let _ = etx.send(Seen::Subscribed).await;
                    }
                    SwarmEvent::ConnectionClosed { num_established: 0, .. } => {
                        let _ = etx.send(Seen::Closed).await;
                    }
                    _ => {}
                },
                c = crx.recv() => match c {
                    Some(Cmd::Publish(d)) => { let _ = swarm.behaviour_mut().gossipsub.publish(topic.clone(), d); }
                    Some(Cmd::Raw(p, d)) => { swarm.behaviour_mut().sync.send_request(&p, d); }
                    None => return,
                },
            }
        }
    });
    (me, ctx, erx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_peer_is_refused_not_forwarded_and_banned_while_honest_manifests_arrive() {
    let mut cfg = config(NET);
    // Gossipsub graylists the liar after two invalid messages (its own defence), so the
    // strikes that reliably reach the node are the two garbage sync frames.
    cfg.max_strikes = 2;
    let h1 = Node::start(cfg.clone()).await;
    let h2 = Node::start(cfg).await;
    connect(&h2, &h1).await;

    // An honest publisher's v1 and v2 are already known everywhere.
    let honest = SecretKey::from_seed(&[7; 32]);
    let v1 = sign(&honest, service("bins", 1));
    h2.publish(v1.clone());
    let v2_id = h2.publish(sign(&honest, service("bins", 2)));
    eventually("h1 has v2", Duration::from_secs(20), || h1.has(&v2_id)).await;

    let (liar_id, cmd, mut seen) = liar(h1.addr.clone()).await;
    loop {
        match tokio::time::timeout(Duration::from_secs(20), seen.recv()).await {
            Ok(Some(Seen::Subscribed)) => break,
            Ok(Some(_)) => continue,
            _ => panic!("the liar never saw h1 subscribe"),
        }
    }
    let mut bad_ids = vec![];
    // A rollback: the honest v1 again (stale: ignored, never the head).
    cmd.send(Cmd::Publish(v1)).await.expect("send");
    // Equivocation: the liar's own key signs two different bodies as version 1.
    let lk = SecretKey::from_seed(&[66; 32]);
    let first = sign(&lk, service("trap", 1));
    let mut other = service("trap", 1);
    other.issued_at_ms += 1;
    let second = sign(&lk, other);
    cmd.send(Cmd::Publish(first)).await.expect("send");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let equivocating = lgmesh_net::envelope_id(&second);
    cmd.send(Cmd::Publish(second)).await.expect("send");
    // Bad signatures, garbage and an oversized message.
    for i in 0..3u8 {
        let mut forged = sign(&lk, service(&format!("forged-{i}"), 1));
        let n = forged.len();
        forged[n - 1] ^= 0x55; // the signature's last byte
        bad_ids.push(lgmesh_net::envelope_id(&forged));
        cmd.send(Cmd::Publish(forged)).await.expect("send");
    }
    cmd.send(Cmd::Publish(b"not an envelope at all".to_vec()))
        .await
        .expect("send");
    cmd.send(Cmd::Publish(vec![0x0a; 200 * 1024]))
        .await
        .expect("send");
    // Garbage sync frames: a length far over the limit, and a frame that does not decode.
    let h1_id = h1.net.peer_id();
    cmd.send(Cmd::Raw(h1_id, vec![0xff, 0xff, 0xff, 0x7f]))
        .await
        .expect("send");
    cmd.send(Cmd::Raw(h1_id, vec![3, 0xff, 0xff, 0xff]))
        .await
        .expect("send");

    // The liar is cut off.
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(s) = seen.recv().await {
            if s == Seen::Closed {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(
        closed,
        "the liar was disconnected: {:?}",
        h1.net.stats().snapshot()
    );
    // The liar sees its side close a moment before h1's loop handles the close.
    eventually_async(
        "the liar is gone from h1's peers",
        Duration::from_secs(10),
        async || {
            let peers = h1.net.peers().await.expect("peers");
            peers.iter().all(|p| p.peer_id != liar_id)
        },
    )
    .await;
    let s1 = h1.net.stats().snapshot();
    let refused = |name: &str| s1.refused.iter().find(|r| r.0 == name).map_or(0, |r| r.1);
    assert_eq!(refused("banned"), 1, "{s1:?}");
    // Validation runs off the loop: wait for its verdicts to be counted.
    eventually("invalid gossip counted", Duration::from_secs(20), || {
        h1.metrics
            .rejected_by_reason(&[Source::Gossip])
            .iter()
            .filter(|(r, _)| ["signature", "decode", "equivocation"].contains(&r.as_str()))
            .map(|(_, n)| n)
            .sum::<u64>()
            >= 1
    })
    .await;

    // Nothing forged was stored on h1, nor did it reach h2. The equivocating body is
    // evidence: h1 keeps it, and sync may carry the pair to h2 as a proof (that is how
    // every node learns of it), but it is never the head anywhere.
    for id in &bad_ids {
        assert!(!h1.has(id), "forged manifest stored");
        assert!(!h2.has(id), "forged manifest reached h2");
    }
    for (n, node) in [("h1", &h1), ("h2", &h2)] {
        let head = node
            .registry
            .resolve(&lk.public(), "trap")
            .expect("resolve");
        assert_ne!(
            head.map(|s| s.id),
            Some(equivocating),
            "the second body is {n}'s head"
        );
    }
    assert_eq!(
        h1.registry
            .resolve(&honest.public(), "bins")
            .expect("resolve")
            .map(|s| s.id),
        Some(v2_id),
        "the rollback did not replace the head"
    );
    let s2 = h2
        .metrics
        .rejected_by_reason(&[Source::Gossip, Source::Sync]);
    let bad_on_h2: u64 = s2
        .iter()
        .filter(|(r, _)| ["signature", "decode"].contains(&r.as_str()))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(bad_on_h2, 0, "h2 never saw forged or garbage data: {s2:?}");
    // h1 did not forward the equivocating body by gossip either (it came by sync if
    // at all, as a proof).
    let by_gossip = h2.metrics.rejected_by_reason(&[Source::Gossip]);
    assert!(
        !by_gossip
            .iter()
            .any(|(r, n)| r.as_str() == "equivocation" && *n > 0),
        "h1 forwarded the equivocation: {by_gossip:?}"
    );

    // Honest traffic goes on.
    let v3 = h2.publish(sign(&honest, service("bins", 3)));
    eventually("h1 has v3", Duration::from_secs(20), || h1.has(&v3)).await;
}
