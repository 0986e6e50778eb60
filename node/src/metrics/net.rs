//! The network layer's counters (`lgmesh_net_*`, `lgmesh_sync_*`, `lgmesh_gossip_*`) and
//! peer gauges, as one scrape read them.

use std::fmt;

use lgmesh_net::{NetInfo, StatsSnapshot};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Unit;

use super::{counter, gauge};

/// The network's counters, and its peer gauges when it answered in time.
#[derive(Debug)]
pub struct NetFamilies {
    stats: StatsSnapshot,
    info: Option<NetInfo>,
}

impl NetFamilies {
    /// The families of `stats`, with `lgmesh_peers` and `lgmesh_mesh_peers` from `info`.
    pub fn new(stats: StatsSnapshot, info: Option<NetInfo>) -> Self {
        Self { stats, info }
    }
}

impl Collector for NetFamilies {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let n = &self.stats;
        counter(
            &mut e,
            "lgmesh_net_manifests_received",
            "Manifests received from peers, by path (gossip or sync).",
            None,
            n.by_path.iter().map(|(p, c)| ([("path", *p)], *c)),
        )?;
        counter(
            &mut e,
            "lgmesh_net_refused",
            "Connections, requests and peers refused by the network layer, by reason.",
            None,
            n.refused.iter().map(|(r, c)| ([("reason", *r)], *c)),
        )?;
        counter(
            &mut e,
            "lgmesh_net_connections",
            "Connections opened (both directions), peers disconnected as surplus over max_peers, and relayed peers reached directly through NAT by a hole punch or not.",
            None,
            [
                ([("event", "opened")], n.connections_opened),
                ([("event", "trimmed")], n.connections_trimmed),
                ([("event", "hole_punched")], n.hole_punched),
                ([("event", "hole_punch_failed")], n.hole_punch_failed),
            ],
        )?;
        counter(
            &mut e,
            "lgmesh_sync_rounds",
            "Anti-entropy rounds this node started, by result.",
            None,
            [
                ([("result", "completed")], n.syncs_completed),
                ([("result", "failed")], n.syncs_failed),
                ([("result", "deferred")], n.syncs_deferred),
            ],
        )?;
        for (name, help, v) in [
            (
                "lgmesh_sync_nudged",
                "Rounds started because a peer found this node lacked manifests it holds.",
                n.syncs_nudged,
            ),
            (
                "lgmesh_sync_round_trips",
                "Negentropy round trips in all rounds.",
                n.sync_round_trips,
            ),
            (
                "lgmesh_sync_bytes_in",
                "Bytes of sync responses read.",
                n.sync_bytes_in,
            ),
            (
                "lgmesh_sync_served",
                "Sync requests answered for peers.",
                n.sync_served,
            ),
            (
                "lgmesh_gossip_validated",
                "Gossip messages from peers given a verdict (forward, ignore or reject).",
                n.gossip_validated,
            ),
        ] {
            counter(&mut e, name, help, None, [([], v)])?;
        }
        // Kept in microseconds (an integer the event loop adds to), served in seconds.
        counter(
            &mut e,
            "lgmesh_gossip_validation",
            "Time from a gossip message's arrival to its verdict, summed: divided by lgmesh_gossip_validated_total, how long the node holds a message before forwarding it.",
            Some(&Unit::Seconds),
            [([], n.gossip_validation_us as f64 / 1e6)],
        )?;
        counter(
            &mut e,
            "lgmesh_gossip_published",
            "Local manifests published to gossip.",
            None,
            [([], n.gossip_published)],
        )?;
        if let Some(i) = &self.info {
            gauge(
                &mut e,
                "lgmesh_peers",
                "Connected peers.",
                None,
                [([], i.peers)],
            )?;
            gauge(
                &mut e,
                "lgmesh_mesh_peers",
                "Peers in the gossip mesh.",
                None,
                [([], i.mesh_peers)],
            )?;
        }
        Ok(())
    }
}
