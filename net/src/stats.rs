//! Counters the network keeps, read by the node's metrics and `Stats`, and libp2p's own
//! metrics, which the event loop records from the swarm's events.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use libp2p::metrics::{Recorder, Registry};
use libp2p::swarm::SwarmEvent;

use crate::behaviour::BehaviourEvent;

/// Why a connection, a request or a peer was refused or cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Over `max_connections_per_ip`.
    ConnectionsPerIp,
    /// A sync request over the peer's rate.
    RateLimited,
    /// Every inbound sync slot was busy.
    Busy,
    /// A request that broke the protocol (too many ids, a bad negentropy frame).
    BadRequest,
    /// A frame over the size limit or one that did not decode.
    BadFrame,
    /// The peer was cut off and banned for repeated bad data.
    Banned,
    /// Gossip arrived faster than it could be validated; it was ignored (sync will catch up).
    IngestFull,
    /// A peer handed us gossip faster than its per-peer rate; the excess was ignored.
    GossipRateLimited,
    /// A peer on another network (or not lgmesh at all) was disconnected.
    OtherNetwork,
    /// A peer's sync stream page did not move its cursor on (the round ended, a strike).
    StreamStuck,
    /// A peer offered manifests in reconciliation and then sent none of them (the round
    /// ended).
    EmptyFetch,
    /// A sync round ran past `round_timeout` and was abandoned.
    RoundTimeout,
    /// A peer asked again before its last sync request was answered.
    PeerBusy,
    /// A nudge from a peer with strikes, or one whose last round failed, was ignored.
    NudgeIgnored,
}

impl Refusal {
    /// Every refusal, for metrics.
    pub const ALL: [Refusal; 14] = [
        Refusal::ConnectionsPerIp,
        Refusal::RateLimited,
        Refusal::Busy,
        Refusal::BadRequest,
        Refusal::BadFrame,
        Refusal::Banned,
        Refusal::IngestFull,
        Refusal::GossipRateLimited,
        Refusal::OtherNetwork,
        Refusal::StreamStuck,
        Refusal::EmptyFetch,
        Refusal::RoundTimeout,
        Refusal::PeerBusy,
        Refusal::NudgeIgnored,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::ConnectionsPerIp => "connections_per_ip",
            Refusal::RateLimited => "rate_limited",
            Refusal::Busy => "busy",
            Refusal::BadRequest => "bad_request",
            Refusal::BadFrame => "bad_frame",
            Refusal::Banned => "banned",
            Refusal::IngestFull => "ingest_full",
            Refusal::GossipRateLimited => "gossip_rate_limited",
            Refusal::OtherNetwork => "other_network",
            Refusal::StreamStuck => "stream_stuck",
            Refusal::EmptyFetch => "empty_fetch",
            Refusal::RoundTimeout => "round_timeout",
            Refusal::PeerBusy => "peer_busy",
            Refusal::NudgeIgnored => "nudge_ignored",
        }
    }
}

/// Which way a manifest came from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Pushed over gossipsub.
    Gossip,
    /// Pulled by sync.
    Sync,
}

impl Path {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Path::Gossip => "gossip",
            Path::Sync => "sync",
        }
    }
}

/// Live counters. Cheap to bump from any thread.
#[derive(Debug, Default)]
pub struct NetStats {
    received: [AtomicU64; 2],
    refused: [AtomicU64; Refusal::ALL.len()],
    /// Sync rounds this node started and finished.
    pub syncs_completed: AtomicU64,
    /// Sync rounds that failed part-way (peer gone, timeout, refused).
    pub syncs_failed: AtomicU64,
    /// New connections not reconciled at once: over the on-connect budget.
    pub syncs_deferred: AtomicU64,
    /// Rounds started because a peer found this node lacked manifests it holds.
    pub syncs_nudged: AtomicU64,
    /// Negentropy round trips, all rounds together.
    pub sync_round_trips: AtomicU64,
    /// Bytes of sync responses read (encoded messages).
    pub sync_bytes_in: AtomicU64,
    /// Bytes of sync requests sent (encoded messages).
    pub sync_bytes_out: AtomicU64,
    /// Sync requests this node answered.
    pub sync_served: AtomicU64,
    /// Manifests this node published to gossip.
    pub gossip_published: AtomicU64,
    /// Connections opened (both directions).
    pub connections_opened: AtomicU64,
    /// Peers disconnected because the node had more than `max_peers`.
    pub connections_trimmed: AtomicU64,
    /// Relayed peers now also connected directly, through the NAT (DCUtR).
    pub hole_punched: AtomicU64,
    /// Hole punches that failed: the peer stays on the relay.
    pub hole_punch_failed: AtomicU64,
    /// Gossip messages given a verdict (see `gossip_validation_us`).
    pub gossip_validated: AtomicU64,
    /// Microseconds from a gossip message's arrival to its verdict going to gossipsub,
    /// summed: how long the node holds a message before forwarding it.
    pub gossip_validation_us: AtomicU64,
}

fn path_index(p: Path) -> usize {
    match p {
        Path::Gossip => 0,
        Path::Sync => 1,
    }
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, Default)]
pub struct StatsSnapshot {
    /// `(path, received)` for gossip and sync. What became of them the node counts,
    /// where it stores them.
    pub by_path: Vec<(&'static str, u64)>,
    /// `(reason, count)` for every refusal.
    pub refused: Vec<(&'static str, u64)>,
    /// Sync rounds completed.
    pub syncs_completed: u64,
    /// Sync rounds failed.
    pub syncs_failed: u64,
    /// New connections left to the periodic round.
    pub syncs_deferred: u64,
    /// Rounds started on a peer's nudge.
    pub syncs_nudged: u64,
    /// Negentropy round trips in all.
    pub sync_round_trips: u64,
    /// Sync response bytes read.
    pub sync_bytes_in: u64,
    /// Sync request bytes sent.
    pub sync_bytes_out: u64,
    /// Sync requests answered.
    pub sync_served: u64,
    /// Local manifests published to gossip.
    pub gossip_published: u64,
    /// Connections opened (both directions).
    pub connections_opened: u64,
    /// Peers disconnected as surplus.
    pub connections_trimmed: u64,
    /// Relayed peers connected directly by a hole punch.
    pub hole_punched: u64,
    /// Hole punches that failed.
    pub hole_punch_failed: u64,
    /// Gossip messages given a verdict.
    pub gossip_validated: u64,
    /// Their arrival-to-verdict time, summed, in microseconds.
    pub gossip_validation_us: u64,
}

impl NetStats {
    pub(crate) fn received(&self, p: Path, n: u64) {
        self.received[path_index(p)].fetch_add(n, Relaxed);
    }
    pub(crate) fn refused(&self, r: Refusal) {
        let i = Refusal::ALL.iter().position(|x| *x == r).unwrap_or(0);
        self.refused[i].fetch_add(1, Relaxed);
    }

    /// Copies every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let mut s = StatsSnapshot::default();
        for p in [Path::Gossip, Path::Sync] {
            s.by_path
                .push((p.as_str(), self.received[path_index(p)].load(Relaxed)));
        }
        for (i, r) in Refusal::ALL.iter().enumerate() {
            s.refused.push((r.as_str(), self.refused[i].load(Relaxed)));
        }
        s.syncs_completed = self.syncs_completed.load(Relaxed);
        s.syncs_failed = self.syncs_failed.load(Relaxed);
        s.syncs_deferred = self.syncs_deferred.load(Relaxed);
        s.syncs_nudged = self.syncs_nudged.load(Relaxed);
        s.sync_round_trips = self.sync_round_trips.load(Relaxed);
        s.sync_bytes_in = self.sync_bytes_in.load(Relaxed);
        s.sync_bytes_out = self.sync_bytes_out.load(Relaxed);
        s.sync_served = self.sync_served.load(Relaxed);
        s.gossip_published = self.gossip_published.load(Relaxed);
        s.connections_opened = self.connections_opened.load(Relaxed);
        s.connections_trimmed = self.connections_trimmed.load(Relaxed);
        s.hole_punched = self.hole_punched.load(Relaxed);
        s.hole_punch_failed = self.hole_punch_failed.load(Relaxed);
        s.gossip_validated = self.gossip_validated.load(Relaxed);
        s.gossip_validation_us = self.gossip_validation_us.load(Relaxed);
        s
    }
}

/// libp2p's own metrics (swarm, gossipsub, Kademlia, identify, ping, relay, DCUtR), made
/// in the caller's registry so that they are served beside its own, and gossipsub's
/// internal ones (mesh, peer scores, queues). Cheap to clone. The default records nothing.
#[derive(Clone, Default)]
pub struct Libp2pMetrics(Option<Arc<Libp2pInner>>);

struct Libp2pInner {
    events: libp2p::metrics::Metrics,
    /// The caller's registry, for gossipsub to register its families in when the
    /// network builds it.
    registry: Arc<Mutex<Registry>>,
    /// Gossipsub's families are registered once, by the first network built.
    gossipsub_registered: AtomicBool,
}

impl Libp2pMetrics {
    /// Registers libp2p's metric families in `registry`, named `libp2p_…`; gossipsub's
    /// internal families join them (`libp2p_gossipsub_…`) when the network starts.
    pub fn new(registry: Arc<Mutex<Registry>>) -> Self {
        let events = {
            let mut r = registry.lock().unwrap_or_else(PoisonError::into_inner);
            libp2p::metrics::Metrics::new(&mut r)
        };
        Self(Some(Arc::new(Libp2pInner {
            events,
            registry,
            gossipsub_registered: AtomicBool::new(false),
        })))
    }

    /// `g`, recording gossipsub's internal metrics in the registry, for the one topic it
    /// subscribes to (topics peers name but this node never joined get no series), with
    /// score buckets at `thresholds`.
    pub(crate) fn gossipsub(
        &self,
        g: libp2p::gossipsub::Behaviour,
        thresholds: &libp2p::gossipsub::PeerScoreThresholds,
    ) -> libp2p::gossipsub::Behaviour {
        let Some(inner) = &self.0 else { return g };
        if inner.gossipsub_registered.swap(true, Relaxed) {
            return g;
        }
        let mut config = libp2p::gossipsub::MetricsConfig {
            max_topics: 4,
            max_never_subscribed_topics: 0,
            ..Default::default()
        };
        config.buckets_using_scoring_thresholds(thresholds);
        let mut r = inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        g.with_metrics(r.sub_registry_with_prefix("libp2p_gossipsub"), config)
    }

    /// Records a swarm event, and the event of the behaviour it carries.
    pub(crate) fn record(&self, ev: &SwarmEvent<BehaviourEvent>) {
        let Some(inner) = &self.0 else { return };
        let m = &inner.events;
        // libp2p counts external address candidates by their protocol stack, a label
        // a peer chooses (the observed address it reports in identify, any number of
        // times on one connection), in a family never pruned: one series each, for
        // ever. Not recorded, so that peers cannot grow this node's memory or scrape.
        if matches!(ev, SwarmEvent::NewExternalAddrCandidate { .. }) {
            return;
        }
        m.record(ev);
        match ev {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => m.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => m.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => match e {
                // libp2p labels connected peers' listen and observed addresses by their
                // protocol stack, which the peer chooses: listen addresses of other
                // stacks are dropped, and an observed address of another stack is
                // counted under an empty one.
                libp2p::identify::Event::Received {
                    connection_id,
                    peer_id,
                    info,
                } => {
                    let mut info = info.clone();
                    info.listen_addrs.retain(usual_stack);
                    if !usual_stack(&info.observed_addr) {
                        info.observed_addr = libp2p::Multiaddr::empty();
                    }
                    m.record(&libp2p::identify::Event::Received {
                        connection_id: *connection_id,
                        peer_id: *peer_id,
                        info,
                    });
                }
                e => m.record(e),
            },
            SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => m.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::RelayServer(e)) => m.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(e)) => m.record(e),
            _ => {}
        }
    }
}

/// An address of a protocol stack this network speaks: an IP address or DNS name, TCP or
/// QUIC, then at most a peer id, a relay circuit and the peer behind it. A bounded set,
/// unlike the stacks a peer can make up.
fn usual_stack(a: &libp2p::Multiaddr) -> bool {
    use libp2p::multiaddr::Protocol as P;
    let mut it = a.iter();
    if !matches!(
        it.next(),
        Some(P::Ip4(_) | P::Ip6(_) | P::Dns(_) | P::Dns4(_) | P::Dns6(_))
    ) {
        return false;
    }
    match it.next() {
        Some(P::Tcp(_)) => {}
        Some(P::Udp(_)) if matches!(it.next(), Some(P::QuicV1)) => {}
        _ => return false,
    }
    let rest: Vec<_> = it.collect();
    matches!(
        rest.as_slice(),
        [] | [P::P2p(_)] | [P::P2p(_), P::P2pCircuit] | [P::P2p(_), P::P2pCircuit, P::P2p(_)]
    )
}

impl std::fmt::Debug for Libp2pMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let on = if self.0.is_some() { "recording" } else { "off" };
        write!(f, "Libp2pMetrics({on})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that reports a new observed address again and again, each with another
    /// protocol stack, adds nothing to what the node serves.
    #[test]
    fn observed_addresses_a_peer_chooses_add_no_series() {
        let registry = Arc::new(Mutex::new(Registry::default()));
        let metrics = Libp2pMetrics::new(registry.clone());
        let encoded = |r: &Mutex<Registry>| {
            let mut out = String::new();
            let r = r.lock().expect("registry");
            prometheus_client::encoding::text::encode(&mut out, &r).expect("encode");
            out
        };
        let before = encoded(&registry).len();
        for i in 0..1000u32 {
            let address: libp2p::Multiaddr =
                format!("/ip4/10.0.{}.{}/udp/{i}/quic-v1", i / 256, i % 256)
                    .parse()
                    .expect("address");
            let stacked = if i % 2 == 0 {
                address
            } else {
                address.with(libp2p::multiaddr::Protocol::Dns(format!("x{i}").into()))
            };
            metrics.record(&SwarmEvent::NewExternalAddrCandidate { address: stacked });
        }
        let after = encoded(&registry);
        assert!(
            !after.contains("external_addr_candidates"),
            "candidates were recorded"
        );
        assert_eq!(after.len(), before, "the families did not grow");
    }

    /// Peers that advertise listen addresses of made-up protocol stacks, and report
    /// made-up observed addresses, add no series: such stacks are counted under an
    /// empty one.
    #[test]
    fn identify_addresses_a_peer_chooses_add_no_series() {
        let registry = Arc::new(Mutex::new(Registry::default()));
        let metrics = Libp2pMetrics::new(registry.clone());
        let key = libp2p::identity::Keypair::generate_ed25519();
        let received = |i: u32, listen: Vec<libp2p::Multiaddr>, observed: libp2p::Multiaddr| {
            let info = libp2p::identify::Info {
                public_key: key.public(),
                protocol_version: "x".into(),
                agent_version: "x".into(),
                listen_addrs: listen,
                protocols: vec![],
                observed_addr: observed,
                signed_peer_record: None,
            };
            let peer_id = libp2p::PeerId::random();
            SwarmEvent::Behaviour(BehaviourEvent::Identify(
                libp2p::identify::Event::Received {
                    connection_id: libp2p::swarm::ConnectionId::new_unchecked(i as usize),
                    peer_id,
                    info,
                },
            ))
        };
        let series = |r: &Mutex<Registry>| {
            let mut out = String::new();
            let r = r.lock().expect("registry");
            prometheus_client::encoding::text::encode(&mut out, &r).expect("encode");
            out.lines()
                .filter(|l| l.starts_with("libp2p_identify_") && l.contains("address"))
                .filter(|l| !l.starts_with('#'))
                .count()
        };
        let usual: libp2p::Multiaddr = "/ip4/10.0.0.1/tcp/4001".parse().expect("addr");
        metrics.record(&received(0, vec![usual.clone()], usual.clone()));
        let base = series(&registry);
        assert!(base >= 2, "the usual stacks are counted");
        for i in 1..200u32 {
            let odd = usual
                .clone()
                .with(libp2p::multiaddr::Protocol::Dns(format!("x{i}").into()))
                .with(libp2p::multiaddr::Protocol::Tcp(i as u16));
            let odder =
                (0..i % 7).fold(odd.clone(), |a, _| a.with(libp2p::multiaddr::Protocol::Tls));
            metrics.record(&received(i, vec![odd, odder.clone(), usual.clone()], odder));
        }
        assert!(
            series(&registry) <= base + 2,
            "made-up stacks became series:\n{}",
            {
                let mut out = String::new();
                let r = registry.lock().expect("registry");
                prometheus_client::encoding::text::encode(&mut out, &r).expect("encode");
                out
            }
        );
        assert!(usual_stack(
            &"/ip6/::1/udp/1/quic-v1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
                .parse()
                .expect("addr")
        ));
        assert!(!usual_stack(&"/memory/5".parse().expect("addr")));
    }
}
