//! `[network]`: the peer-to-peer network, and its translation into the network
//! layer's own config.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::docs::documented;

documented! {
    /// `[network]`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct NetworkConfig {
        /// The federation to join. Part of every protocol id, so nodes of different
        /// networks never talk: "uk" is the real federation; use a name of your own for
        /// tests and demos. 1-32 lowercase letters, digits or '-'.
        #[flag = "network"]
        pub name: String,
        /// libp2p listen addresses (multiaddrs): TCP and QUIC on port 4001 by default;
        /// port 0 picks a free port. A node behind NAT can add a relay circuit address:
        /// `/ip4/RELAY-IP/tcp/4001/p2p/RELAY-PEER-ID/p2p-circuit`.
        #[flag = "listen"]
        pub listen: Vec<String>,
        /// Peers to join through: full multiaddrs ending in `/p2p/<peer id>` (`lgmesh info`
        /// on that node prints them), dialled again whenever the node has no peers. A DNS
        /// name (`/dns4/lgmesh.leeds.gov.uk/tcp/4001/p2p/…`) is resolved at each dial with
        /// the system's resolver (`/etc/resolv.conf` and the hosts file), so a council can
        /// move its node without telling everyone a new IP.
        #[flag = "bootstrap"]
        pub bootstrap: Vec<String>,
        /// Addresses other nodes reach this node at, when you know better than AutoNAT:
        /// a forwarded port, a public IP, or the address on a private WAN (where AutoNAT
        /// cannot judge). Usually empty.
        pub external: Vec<String>,
        /// Find peers on the local network with mDNS (off for production).
        #[flag = "mdns"]
        pub mdns: bool,
        /// Kademlia mode: "auto" (server until AutoNAT finds the node unreachable),
        /// "server" or "client".
        pub kad: String,
        /// Relay connections for nodes behind NAT. The node relays only once it knows its
        /// public address: set `external` (or wait for AutoNAT to confirm one).
        pub relay_server: bool,
        /// Peers to keep: below this the node dials more from its routing table, and
        /// refreshes the table every minute instead of every 10 minutes.
        pub target_peers: usize,
        /// Peers above which the node disconnects the surplus, newest first, back down to
        /// halfway between `target_peers` and this. Gossip mesh peers, bootstrap peers,
        /// peers it is syncing with and connections younger than 30 s are spared
        /// (`lgmesh_net_connections_total{event="trimmed"}`). At least `target_peers`, at
        /// most `max_connections`.
        pub max_peers: usize,
        /// Connections in all (a hard limit).
        pub max_connections: u32,
        /// Inbound connections from one IP address (loopback is exempt).
        pub max_connections_per_ip: u32,
        /// Anti-entropy: seconds between reconciliations with a random peer. A new
        /// connection reconciles at once too, up to 8 in a burst and one per 10 s after
        /// that, and not with a peer reconciled within the interval; the rest wait for the
        /// periodic round (`lgmesh_sync_rounds_total{result="deferred"}`). A round that
        /// finds the peer lacks manifests this node holds nudges the peer to pull them at
        /// once (at most once per peer per interval; `lgmesh_sync_nudged_total`).
        pub sync_interval_secs: u64,
        /// Ids per sync fetch request, 1-5000.
        pub sync_max_fetch_ids: usize,
        /// KiB of manifests per sync response, 64-65536.
        pub sync_max_response_kb: usize,
        /// Sync rounds this node runs at once.
        pub sync_max_concurrent: usize,
        /// Sync requests this node answers at once, all peers together (the rest get
        /// `busy`).
        pub sync_max_inbound: usize,
        /// Sync requests one peer may make per second (bursts of 3 times that; the rest
        /// get `rate_limited`).
        pub sync_requests_per_sec: f64,
        /// Gossip messages one peer may hand this node per second (bursts of 5 times
        /// that). Beyond it they are ignored, not relayed
        /// (`lgmesh_net_refused_total{reason="gossip_rate_limited"}`), so one flooding
        /// peer cannot crowd out the others.
        pub gossip_per_peer_per_sec: f64,
        /// Invalid manifests or frames from one peer before it is disconnected and
        /// banned.
        pub max_strikes: u32,
        /// How long a ban lasts, seconds.
        pub ban_secs: u64,
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        let n = lgmesh_net::NetConfig::default();
        Self {
            name: n.network,
            listen: vec![
                "/ip4/0.0.0.0/tcp/4001".into(),
                "/ip4/0.0.0.0/udp/4001/quic-v1".into(),
            ],
            bootstrap: vec![],
            external: vec![],
            mdns: false,
            kad: "auto".into(),
            relay_server: false,
            target_peers: n.target_peers,
            max_peers: n.max_peers,
            max_connections: n.max_connections,
            max_connections_per_ip: n.max_connections_per_ip,
            sync_interval_secs: n.sync.interval.as_secs(),
            sync_max_fetch_ids: n.sync.max_fetch_ids,
            sync_max_response_kb: n.sync.max_response_bytes / 1024,
            sync_max_concurrent: n.sync.max_concurrent,
            sync_max_inbound: n.sync.max_inbound,
            sync_requests_per_sec: n.sync.requests_per_sec,
            gossip_per_peer_per_sec: n.gossip_per_peer.0,
            max_strikes: n.max_strikes,
            ban_secs: n.ban_for.as_secs(),
        }
    }
}

impl NetworkConfig {
    /// The network layer's config, checked: every field that is wrong is named.
    pub fn to_net(&self, max_manifest_bytes: usize) -> Result<lgmesh_net::NetConfig> {
        use lgmesh_net::{KadMode, Multiaddr};
        let addrs = |field: &str, v: &[String]| -> Result<Vec<Multiaddr>> {
            v.iter()
                .map(|a| {
                    a.parse::<Multiaddr>().map_err(|e| {
                        anyhow::anyhow!("network.{field}: {a:?} is not a multiaddr ({e})")
                    })
                })
                .collect()
        };
        if !lgmesh_net::valid_network_name(&self.name) {
            bail!(
                "network.name: {:?} must be 1-32 lowercase letters, digits or '-'",
                self.name
            );
        }
        let bootstrap = addrs("bootstrap", &self.bootstrap)?;
        for (a, text) in bootstrap.iter().zip(&self.bootstrap) {
            if !matches!(a.iter().last(), Some(lgmesh_net::Protocol::P2p(_))) {
                bail!("network.bootstrap: {text:?} must end with /p2p/<peer id>");
            }
        }
        let kad = match self.kad.as_str() {
            "auto" => KadMode::Auto,
            "server" => KadMode::Server,
            "client" => KadMode::Client,
            other => bail!("network.kad: {other:?} is not auto, server or client"),
        };
        if self.sync_max_fetch_ids == 0 || self.sync_max_fetch_ids > 5000 {
            bail!("network.sync_max_fetch_ids: must be 1-5000");
        }
        if self.sync_max_response_kb < 64 || self.sync_max_response_kb > 64 * 1024 {
            bail!("network.sync_max_response_kb: must be 64-65536");
        }
        if !self.gossip_per_peer_per_sec.is_finite() || self.gossip_per_peer_per_sec <= 0.0 {
            bail!("network.gossip_per_peer_per_sec: must be above 0");
        }
        if !self.sync_requests_per_sec.is_finite() || self.sync_requests_per_sec <= 0.0 {
            bail!("network.sync_requests_per_sec: must be above 0");
        }
        if self.target_peers == 0 {
            bail!("network.target_peers: must be at least 1");
        }
        if self.max_peers < self.target_peers {
            bail!(
                "network.max_peers: must be at least target_peers ({})",
                self.target_peers
            );
        }
        if self.max_peers as u64 > u64::from(self.max_connections) {
            bail!(
                "network.max_peers: must not be above max_connections ({})",
                self.max_connections
            );
        }
        let mut n = lgmesh_net::NetConfig {
            network: self.name.clone(),
            listen: addrs("listen", &self.listen)?,
            bootstrap,
            external: addrs("external", &self.external)?,
            mdns: self.mdns,
            kad,
            relay_server: self.relay_server,
            target_peers: self.target_peers,
            max_peers: self.max_peers,
            max_connections: self.max_connections.max(1),
            max_connections_per_ip: self.max_connections_per_ip.max(1),
            max_strikes: self.max_strikes.max(1),
            ban_for: std::time::Duration::from_secs(self.ban_secs),
            max_message_bytes: max_manifest_bytes,
            ..Default::default()
        };
        n.sync.interval = std::time::Duration::from_secs(self.sync_interval_secs.max(1));
        n.sync.max_fetch_ids = self.sync_max_fetch_ids;
        n.sync.max_response_bytes = self.sync_max_response_kb * 1024;
        n.sync.max_concurrent = self.sync_max_concurrent.max(1);
        n.sync.max_inbound = self.sync_max_inbound.max(1);
        n.sync.requests_per_sec = self.sync_requests_per_sec;
        n.sync.request_burst = (self.sync_requests_per_sec * 3.0).max(10.0);
        n.gossip_per_peer = (
            self.gossip_per_peer_per_sec,
            (self.gossip_per_peer_per_sec * 5.0).max(10.0),
        );
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_config_errors_name_the_field() {
        let ok = NetworkConfig::default();
        let n = ok.to_net(65536).expect("the default is valid");
        assert_eq!(n.network, "uk");
        assert_eq!(n.listen.len(), 2);
        let peer = "12D3KooWKintN5smh8XsXqB1fk1ron2JNQHekFmQUpgrWydFKky9";
        let cases: Vec<(NetworkConfig, &str)> = vec![
            (
                NetworkConfig {
                    name: "UK!".into(),
                    ..ok.clone()
                },
                "network.name",
            ),
            (
                NetworkConfig {
                    listen: vec!["tcp/4001".into()],
                    ..ok.clone()
                },
                "network.listen",
            ),
            (
                NetworkConfig {
                    bootstrap: vec!["/ip4/192.0.2.7/tcp/4001".into()],
                    ..ok.clone()
                },
                "must end with /p2p/",
            ),
            (
                NetworkConfig {
                    kad: "sometimes".into(),
                    ..ok.clone()
                },
                "network.kad",
            ),
            (
                NetworkConfig {
                    sync_max_fetch_ids: 0,
                    ..ok.clone()
                },
                "sync_max_fetch_ids",
            ),
            (
                NetworkConfig {
                    sync_requests_per_sec: f64::NAN,
                    ..ok.clone()
                },
                "sync_requests_per_sec",
            ),
            (
                NetworkConfig {
                    max_peers: 4,
                    ..ok.clone()
                },
                "network.max_peers: must be at least target_peers",
            ),
            (
                NetworkConfig {
                    target_peers: 0,
                    ..ok.clone()
                },
                "network.target_peers",
            ),
        ];
        for (c, want) in cases {
            let e = c.to_net(65536).expect_err(want).to_string();
            assert!(e.contains(want), "{e}");
        }
        let good = NetworkConfig {
            bootstrap: vec![
                format!("/ip4/192.0.2.7/tcp/4001/p2p/{peer}"),
                format!("/dns4/lgmesh.example.gov.uk/tcp/4001/p2p/{peer}"),
                format!("/dnsaddr/example.gov.uk/p2p/{peer}"),
            ],
            ..ok
        };
        assert_eq!(good.to_net(65536).expect("valid").bootstrap.len(), 3);
    }
}
