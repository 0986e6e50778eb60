//! The composed libp2p behaviour and how a swarm is built for each transport.

use std::time::Duration;

use lgmesh_proto::v1::Envelope;
use lgmesh_protocol::envelope::ManifestId;
use libp2p::{
    StreamProtocol, Swarm, Transport, allow_block_list, autonat, connection_limits, core::upgrade,
    dcutr, gossipsub, identify, identity::Keypair, kad, mdns, memory_connection_limits, noise,
    ping, relay, request_response, swarm::NetworkBehaviour, swarm::behaviour::toggle::Toggle, tcp,
    yamux,
};
use prost::Message;

use crate::{KadMode, NetConfig, NetError, TransportKind, codec::SyncCodec, topic_name};

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) memory: Toggle<memory_connection_limits::Behaviour>,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    pub(crate) kad: kad::Behaviour<kad::store::MemoryStore>,
    pub(crate) gossipsub: Toggle<gossipsub::Behaviour>,
    pub(crate) sync: request_response::Behaviour<SyncCodec>,
    pub(crate) relay_client: relay::client::Behaviour,
    pub(crate) relay_server: Toggle<relay::Behaviour>,
    pub(crate) autonat: Toggle<autonat::Behaviour>,
    pub(crate) dcutr: Toggle<dcutr::Behaviour>,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
}

/// The gossipsub message id: SHA-256 of `lgmesh/gossip/v1\0` and the whole message (the
/// envelope with its signature). Not the manifest id: that is the hash of the body alone,
/// and a forged copy (the genuine body under another signature) would then share the
/// genuine message's id, so gossipsub would drop the genuine one as a duplicate. The same
/// envelope relayed by two nodes is still one message.
pub(crate) fn message_id(data: &[u8]) -> gossipsub::MessageId {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"lgmesh/gossip/v1\0");
    h.update(data);
    gossipsub::MessageId::new(h.finalize().as_slice())
}

pub(crate) fn gossipsub_config(
    cfg: &NetConfig,
    validate: bool,
) -> Result<gossipsub::Config, NetError> {
    let mut b = gossipsub::ConfigBuilder::default();
    b.protocol_id_prefix(format!("/lgmesh/{}/meshsub", cfg.network))
        .max_transmit_size(cfg.max_message_bytes + 1024)
        .heartbeat_initial_delay(Duration::from_millis(300))
        .heartbeat_interval(Duration::from_secs(1))
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .message_id_fn(|m: &gossipsub::Message| message_id(&m.data))
        .duplicate_cache_time(Duration::from_secs(120));
    if validate {
        b.validate_messages();
    }
    b.build()
        .map_err(|e| NetError::Config(format!("gossipsub: {e}")))
}

/// Peer scores: only invalid messages cost anything (quiet topics must not prune honest
/// peers for low delivery). A peer that keeps sending invalid data falls below the
/// graylist threshold and is ignored; our own strike count bans it outright.
fn peer_score(
    topic: &gossipsub::IdentTopic,
) -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let mut params = gossipsub::PeerScoreParams {
        app_specific_weight: 0.0,
        ip_colocation_factor_weight: 0.0,
        behaviour_penalty_weight: -1.0,
        behaviour_penalty_decay: 0.9,
        ..Default::default()
    };
    let t = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.9,
        ..Default::default()
    };
    params.topics.insert(topic.hash(), t);
    let thresholds = gossipsub::PeerScoreThresholds {
        gossip_threshold: -50.0,
        publish_threshold: -100.0,
        graylist_threshold: -200.0,
        accept_px_threshold: 0.0,
        opportunistic_graft_threshold: 0.0,
    };
    (params, thresholds)
}

fn behaviour(
    key: &Keypair,
    relay_client: relay::client::Behaviour,
    cfg: &NetConfig,
    kind: TransportKind,
) -> Result<Behaviour, NetError> {
    let peer = key.public().to_peer_id();
    let proto = |p: &str| {
        StreamProtocol::try_from_owned(format!("/lgmesh/{}/{p}", cfg.network))
            .map_err(|e| NetError::Config(format!("network name: {e}")))
    };
    let gossipsub = if cfg.gossip {
        let mut g: gossipsub::Behaviour = gossipsub::Behaviour::new(
            gossipsub::MessageAuthenticity::Anonymous,
            gossipsub_config(cfg, true)?,
        )
        .map_err(|e| NetError::Config(format!("gossipsub: {e}")))?;
        let topic = gossipsub::IdentTopic::new(topic_name(&cfg.network));
        let (params, thresholds) = peer_score(&topic);
        g = cfg.metrics.gossipsub(g, &thresholds);
        g.with_peer_score(params, thresholds)
            .map_err(|e| NetError::Config(format!("gossipsub peer score: {e}")))?;
        g.subscribe(&topic)
            .map_err(|e| NetError::Config(format!("gossipsub subscribe: {e}")))?;
        Some(g)
    } else {
        None
    };
    let mut kcfg = kad::Config::new(proto("kad/1")?);
    kcfg.set_query_timeout(Duration::from_secs(30));
    // Kademlia only finds peers here (no records), so a lookup can stop at the 8 closest
    // instead of 20: each peer asked is a connection, with its handshake, identify and
    // gossip join.
    kcfg.set_replication_factor(KAD_CLOSEST);
    // The event loop refreshes the routing table itself, more often only while short of peers.
    kcfg.set_periodic_bootstrap_interval(None);
    // Kademlia finds peers and nothing else: no node stores what others PUT (records
    // or provider entries). Left to itself, the store would keep about 64 MiB of
    // whatever any peer sent (1,024 records of up to 65 KiB).
    kcfg.set_record_filtering(kad::StoreInserts::FilterBoth);
    let store = kad::store::MemoryStore::with_config(
        peer,
        kad::store::MemoryStoreConfig {
            max_records: 0,
            max_value_bytes: 0,
            max_providers_per_key: 0,
            max_provided_keys: 0,
        },
    );
    let mut kad = kad::Behaviour::with_config(peer, store, kcfg);
    kad.set_mode(match cfg.kad {
        KadMode::Client => Some(kad::Mode::Client),
        KadMode::Server | KadMode::Auto => Some(kad::Mode::Server),
    });
    let sync = request_response::Behaviour::with_codec(
        SyncCodec::new(cfg.sync.max_response_bytes),
        [(proto("sync/1")?, request_response::ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(cfg.sync.request_timeout)
            .with_max_concurrent_streams(64),
    );
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(cfg.max_connections))
        // Three: two nodes behind NAT that find each other at once each dial the other
        // through the relay, and the hole punch (DCUtR) then needs room for the direct
        // connection; with two, it was refused and the pair stayed on the relay, whose
        // circuits close after 2 minutes or 128 KiB.
        .with_max_established_per_peer(Some(3))
        .with_max_pending_incoming(Some(cfg.max_pending))
        .with_max_pending_outgoing(Some(cfg.max_pending));
    let real = kind == TransportKind::Real;
    let mdns = if cfg.mdns && real {
        Some(
            mdns::tokio::Behaviour::new(mdns::Config::default(), peer)
                .map_err(|e| NetError::Config(format!("mdns: {e}")))?,
        )
    } else {
        None
    };
    Ok(Behaviour {
        blocked: Default::default(),
        limits: connection_limits::Behaviour::new(limits),
        // Refuse new connections when the process is near 90 % of the machine's memory.
        memory: Toggle::from(
            real.then(|| memory_connection_limits::Behaviour::with_max_percentage(0.9)),
        ),
        identify: identify::Behaviour::new(
            identify::Config::new(format!("/lgmesh/{}/id/1", cfg.network), key.public())
                .with_agent_version(format!("lgmesh/{}", env!("CARGO_PKG_VERSION")))
                .with_push_listen_addr_updates(true),
        ),
        ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(30))),
        kad,
        gossipsub: Toggle::from(gossipsub),
        sync,
        relay_client,
        relay_server: Toggle::from(
            cfg.relay_server
                .then(|| relay::Behaviour::new(peer, relay::Config::default())),
        ),
        autonat: Toggle::from(
            real.then(|| autonat::Behaviour::new(peer, autonat::Config::default())),
        ),
        dcutr: Toggle::from(real.then(|| dcutr::Behaviour::new(peer))),
        mdns: Toggle::from(mdns),
    })
}

/// How many closest peers a Kademlia lookup settles for.
const KAD_CLOSEST: std::num::NonZeroUsize = std::num::NonZeroUsize::new(8).expect("8 is not zero");

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn boxed<T, E: std::error::Error + Send + Sync + 'static>(r: Result<T, E>) -> Result<T, BoxError> {
    r.map_err(|e| Box::new(e) as BoxError)
}

pub(crate) fn build_swarm(
    key: Keypair,
    cfg: &NetConfig,
    kind: TransportKind,
) -> Result<Swarm<Behaviour>, NetError> {
    let err = |e: &dyn std::fmt::Display| NetError::Config(format!("transport: {e}"));
    let idle = cfg.idle_timeout;
    let swarm = match kind {
        TransportKind::Real => {
            let dns = resolver_config();
            libp2p::SwarmBuilder::with_existing_identity(key)
                .with_tokio()
                .with_tcp(
                    tcp::Config::default().nodelay(true),
                    noise::Config::new,
                    yamux::Config::default,
                )
                .map_err(|e| err(&e))?
                .with_quic()
                .with_dns_config(dns.0, dns.1)
                .with_relay_client(noise::Config::new, yamux::Config::default)
                .map_err(|e| err(&e))?
                .with_behaviour(|k, relay| boxed(behaviour(k, relay, cfg, kind)))
                .map_err(|e| err(&e))?
                .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
                .build()
        }
        TransportKind::Memory => libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_other_transport(|k| {
                boxed(noise::Config::new(k).map(|noise| {
                    libp2p::core::transport::MemoryTransport::default()
                        .upgrade(upgrade::Version::V1)
                        .authenticate(noise)
                        .multiplex(yamux::Config::default())
                }))
            })
            .map_err(|e| err(&e))?
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .map_err(|e| err(&e))?
            .with_behaviour(|k, relay| boxed(behaviour(k, relay, cfg, kind)))
            .map_err(|e| err(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build(),
    };
    Ok(swarm)
}

/// How `/dns4/…`, `/dns6/…` and `/dnsaddr/…` addresses are resolved: the system's
/// resolver configuration (`/etc/resolv.conf`, and the hosts file). Without one, the node
/// still runs; names then resolve from the hosts file only.
fn resolver_config() -> (libp2p::dns::ResolverConfig, libp2p::dns::ResolverOpts) {
    match hickory_resolver::system_conf::read_system_conf() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "no system DNS configuration: /dns4/… addresses resolve from the hosts file only");
            Default::default()
        }
    }
}

/// The manifest id of envelope bytes, if they decode as an envelope.
pub(crate) fn manifest_id_of(data: &[u8]) -> Option<ManifestId> {
    Envelope::decode(data).ok().map(|e| ManifestId::of(&e.body))
}
