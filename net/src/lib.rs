//! lgmesh's network layer on libp2p.
//!
//! - **Push**: gossipsub on one topic per network, `lgmesh/<network>/manifests/v1`. The
//!   message id is SHA-256 of `lgmesh/gossip/v1\0` and the whole envelope, signature
//!   included, so a forged copy of a manifest is a different message. Every message
//!   waits for the store's verdict, through the [`Store`] port (`Store::check` and
//!   `Store::offer`: the node's validation, the same as for a gRPC publish), and the
//!   verdict goes back to gossipsub, so nothing invalid is forwarded and whoever sent it
//!   is penalised.
//! - **Pull**: request-response sync (`/lgmesh/<network>/sync/1`, defined in
//!   `proto/lgmesh/v1/sync.proto`): negentropy set reconciliation over the live heads,
//!   then bounded fetches of what is missing. Run on every new connection and now and
//!   then with a random peer; a node with an empty store streams instead.
//! - **Discovery**: bootstrap peers, Kademlia under `/lgmesh/<network>/kad/1`, identify,
//!   ping, and mDNS when asked for. Relay client, AutoNAT and DCUtR for nodes behind NAT.
//!
//! One task owns the [`libp2p::Swarm`] ([`Network::start`]); everything else talks to
//! it through the cloneable [`Network`] handle. Validation and storage run on other
//! threads, so a slow disk never stalls the network.

mod behaviour;
pub mod codec;
mod command;
mod error;
mod event_loop;
mod handle;
mod ingest;
pub mod stats;
pub mod store;
mod sync;
#[doc(hidden)]
pub use sync::fuzzing;

use std::time::Duration;

pub use command::{NetInfo, PeerInfo};
pub use error::NetError;
pub use handle::Network;
pub use libp2p::{Multiaddr, PeerId, identity::Keypair, multiaddr::Protocol};
pub use stats::{Libp2pMetrics, NetStats, Path, StatsSnapshot};
pub use store::{Durability, Offered, Store, StoreFailure, SyncPayload};

/// The network name of the real federation. Tests and demos use others, so that they
/// can never mix with it: the name is part of every protocol id and topic.
pub const DEFAULT_NETWORK: &str = "uk";

/// Which transport a node runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// TCP (Noise, Yamux) and QUIC, with relay, AutoNAT and DCUtR.
    Real,
    /// libp2p's in-process memory transport (Noise, Yamux), for tests and simulations.
    Memory,
}

/// How Kademlia should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KadMode {
    /// Server (answer queries) until AutoNAT finds the node unreachable, then client.
    #[default]
    Auto,
    /// Always answer queries: a node others can dial.
    Server,
    /// Never answer queries: a node behind NAT.
    Client,
}

/// Everything the network needs to know. [`NetConfig::default`] is the production default.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// The network name (letters, digits, `-`): part of every protocol id and topic.
    pub network: String,
    /// Addresses to listen on (`/ip4/0.0.0.0/tcp/4001`, `/ip4/0.0.0.0/udp/4001/quic-v1`,
    /// port 0 for any; `/memory/0` on the memory transport).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start and whenever the node has no connections. Each must end
    /// with `/p2p/<peer id>`. `/dns4/…`, `/dns6/…` and `/dnsaddr/…` names are resolved
    /// when dialled, with the system's resolver configuration.
    pub bootstrap: Vec<Multiaddr>,
    /// Addresses others can reach this node at, when it knows better than AutoNAT.
    pub external: Vec<Multiaddr>,
    /// Push new manifests over gossipsub. Off only in tests of sync alone.
    pub gossip: bool,
    /// Discover peers on the LAN with mDNS (off by default).
    pub mdns: bool,
    /// Kademlia mode.
    pub kad: KadMode,
    /// Act as a relay for nodes behind NAT (off by default).
    pub relay_server: bool,
    /// Peers the node keeps connected on its own: below this it dials from its routing
    /// table and refreshes it more often.
    pub target_peers: usize,
    /// Above this many connected peers, the node closes the surplus, back down to halfway
    /// between `target_peers` and this, sparing gossip mesh peers, bootstrap peers, peers it is syncing
    /// with and connections younger than `connection_grace`. Gossipsub keeps every connection it has
    /// streams on alive, so without this a node ends up linked to every peer that ever
    /// looked it up.
    pub max_peers: usize,
    /// How long a new connection is spared from trimming: long enough to identify,
    /// join gossip and sync.
    pub connection_grace: Duration,
    /// Connections in all.
    pub max_connections: u32,
    /// Connections from one IP address.
    pub max_connections_per_ip: u32,
    /// Connections still handshaking.
    pub max_pending: u32,
    /// Close a connection idle this long. Gossip mesh links are never idle; this closes
    /// what Kademlia lookups and sync rounds opened, so a node does not end up linked to
    /// everyone it ever asked.
    pub idle_timeout: Duration,
    /// Sync bounds.
    pub sync: SyncLimits,
    /// Gossip messages waiting for validation; more are ignored (sync catches up).
    pub ingest_queue: usize,
    /// Gossip messages one peer may hand this node: (per second, burst). Beyond that
    /// they are ignored, so one flooding peer cannot crowd out the rest.
    pub gossip_per_peer: (f64, f64),
    /// Bad manifests or frames from one peer before it is cut off and banned.
    pub max_strikes: u32,
    /// How long a banned peer stays banned.
    pub ban_for: Duration,
    /// Largest gossip message (an envelope), bytes.
    pub max_message_bytes: usize,
    /// libp2p's metrics, recorded from the swarm's events (none by default).
    pub metrics: Libp2pMetrics,
}

/// Bounds on the sync protocol.
#[derive(Debug, Clone)]
pub struct SyncLimits {
    /// How often to reconcile with a random peer.
    pub interval: Duration,
    /// Ids in one fetch request.
    pub max_fetch_ids: usize,
    /// Manifests in one stream page.
    pub max_stream_items: usize,
    /// Bytes of envelopes in one response.
    pub max_response_bytes: usize,
    /// Sync rounds this node runs at once.
    pub max_concurrent: usize,
    /// Sync requests this node answers at once, all peers together.
    pub max_inbound: usize,
    /// Sync requests one peer may make per second (sustained)…
    pub requests_per_sec: f64,
    /// …and in a burst.
    pub request_burst: f64,
    /// Negentropy round trips before a round gives up.
    pub max_round_trips: usize,
    /// Negentropy frame size limit, bytes (≥ 4096).
    pub frame_bytes: u64,
    /// Time to wait for one response.
    pub request_timeout: Duration,
    /// Rounds started by new connections: at most this many in a burst…
    pub on_connect_burst: f64,
    /// …and this many per second after it. A busy federation opens connections all the
    /// time (Kademlia lookups, mesh repair); reconciling on every one of them would keep
    /// every node busy for nothing, so the rest wait for the periodic round.
    pub on_connect_per_sec: f64,
    /// The longest one round may take, start to end; then it is abandoned (what it has
    /// stored stays) and the peer waits out a backoff before the next.
    pub round_timeout: Duration,
    /// Manifests one stream may bring in one round; the rest come by reconciliation.
    pub max_round_items: usize,
    /// Ids one reconciliation may claim are missing here; more wait for the next round.
    pub max_round_ids: usize,
    /// A round whose peer has not answered for this long stops counting against
    /// `max_concurrent`, so peers that stall cannot hold every slot; up to four times
    /// `max_concurrent` rounds are open at once in all.
    pub stalled_after: Duration,
}

impl Default for SyncLimits {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            max_fetch_ids: 500,
            max_stream_items: 2000,
            max_response_bytes: 4 * 1024 * 1024,
            max_concurrent: 4,
            max_inbound: 8,
            requests_per_sec: 20.0,
            request_burst: 60.0,
            max_round_trips: 24,
            frame_bytes: 60_000,
            request_timeout: Duration::from_secs(20),
            on_connect_burst: 8.0,
            on_connect_per_sec: 0.1,
            round_timeout: Duration::from_secs(300),
            max_round_items: 500_000,
            max_round_ids: 100_000,
            stalled_after: Duration::from_millis(500),
        }
    }
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            network: DEFAULT_NETWORK.into(),
            listen: vec![],
            bootstrap: vec![],
            external: vec![],
            gossip: true,
            mdns: false,
            kad: KadMode::Auto,
            relay_server: false,
            target_peers: 8,
            max_peers: 32,
            connection_grace: Duration::from_secs(30),
            max_connections: 256,
            max_connections_per_ip: 16,
            max_pending: 64,
            idle_timeout: Duration::from_secs(30),
            sync: SyncLimits::default(),
            ingest_queue: 4096,
            gossip_per_peer: (200.0, 1000.0),
            max_strikes: 8,
            ban_for: Duration::from_secs(15 * 60),
            max_message_bytes: 64 * 1024,
            metrics: Libp2pMetrics::default(),
        }
    }
}

/// A peer id in logs: its last 8 characters (as `…ab12cd34`), enough to tell peers
/// apart in one federation.
pub(crate) fn short(p: &PeerId) -> String {
    let s = p.to_string();
    let tail: String = s
        .chars()
        .skip(s.chars().count().saturating_sub(8))
        .collect();
    format!("…{tail}")
}

/// Is `name` usable as a network name?
pub fn valid_network_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The gossipsub topic of a network.
pub fn topic_name(network: &str) -> String {
    format!("lgmesh/{network}/manifests/v1")
}

/// Turns an lgmesh node key (32-byte ed25519 seed) into a libp2p keypair.
pub fn keypair_from_seed(seed: [u8; 32]) -> Result<Keypair, NetError> {
    Keypair::ed25519_from_bytes(seed).map_err(|e| NetError::Config(format!("node key: {e}")))
}

/// The manifest id of envelope bytes (SHA-256 of the body). All zeros when `data` is not
/// an envelope.
pub fn envelope_id(data: &[u8]) -> lgmesh_protocol::envelope::ManifestId {
    behaviour::manifest_id_of(data).unwrap_or(lgmesh_protocol::envelope::ManifestId([0; 32]))
}

/// The gossipsub message id of `data`: SHA-256 of
/// `lgmesh/gossip/v1\0` followed by the whole message.
pub fn gossip_message_id(data: &[u8]) -> Vec<u8> {
    behaviour::message_id(data).0
}

/// The gossipsub configuration lgmesh uses, without message validation: the bare stack
/// that the simulation measures lgmesh against.
pub fn bare_gossipsub_config(network: &str) -> Result<libp2p::gossipsub::Config, NetError> {
    let cfg = NetConfig {
        network: network.into(),
        ..NetConfig::default()
    };
    behaviour::gossipsub_config(&cfg, false)
}
