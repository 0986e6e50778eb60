//! Nodes for multi-node tests: a real sled registry in a temp dir and a real swarm on
//! libp2p's memory transport (Noise, Yamux), each on its own port.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use lgmesh::intake::Intake;
use lgmesh::metrics::Metrics;
use lgmesh_net::{Multiaddr, NetConfig, Network, TransportKind, keypair_from_seed};
use lgmesh_protocol::envelope::{ManifestId, UnsignedManifest};
use lgmesh_protocol::identity::SecretKey;
use lgmesh_protocol::sample;
use lgmesh_protocol::v1::ManifestBody;
use lgmesh_protocol::validate::Limits;
use lgmesh_registry::{PutOutcome, Registry};
use sha2::{Digest, Sha256};

pub struct Node {
    pub net: Network,
    pub registry: Arc<Registry>,
    pub addr: Multiaddr,
    /// The node's way into its store, as `lgmesh run` builds it.
    pub intake: Arc<Intake>,
    /// What it counts as manifests are stored.
    pub metrics: Arc<Metrics>,
    _dir: tempfile::TempDir,
}

/// A test config: its own network name, quick periodic sync.
pub fn config(network: &str) -> NetConfig {
    let mut c = NetConfig {
        network: network.into(),
        listen: vec!["/memory/0".parse().expect("memory addr")],
        ..NetConfig::default()
    };
    c.sync.interval = Duration::from_millis(500);
    c
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

static SEED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub fn fresh_seed() -> [u8; 32] {
    let n = SEED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&n.to_le_bytes());
    s[8..16].copy_from_slice(&std::process::id().to_le_bytes().repeat(2));
    s
}

impl Node {
    pub async fn start(cfg: NetConfig) -> Node {
        Node::try_start(cfg, TransportKind::Memory, fresh_seed())
            .await
            .expect("start network")
    }

    /// Starts a node on `kind` with the node key from `seed` (the same seed, the same
    /// peer id), in a fresh temp dir.
    pub async fn try_start(
        cfg: NetConfig,
        kind: TransportKind,
        seed: [u8; 32],
    ) -> Result<Node, lgmesh_net::NetError> {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("tempdir");
        let registry =
            Arc::new(Registry::open(dir.path(), Limits::default()).expect("open registry"));
        let metrics = Arc::new(Metrics::default());
        let intake = Arc::new(Intake::new(registry.clone(), metrics.clone()));
        let key = keypair_from_seed(seed).expect("key");
        let net = Network::start(key, cfg, kind, intake.clone()).await?;
        let info = net.info().await.expect("info");
        let addr = info
            .listen
            .first()
            .cloned()
            .unwrap_or_else(Multiaddr::empty);
        Ok(Node {
            net,
            registry,
            addr,
            intake,
            metrics,
            _dir: dir,
        })
    }

    /// Stores a manifest locally and gossips it, as a gRPC publish does.
    pub fn publish(&self, envelope: Vec<u8>) -> ManifestId {
        let id = match self.registry.put(&envelope, now_ms()).expect("put") {
            PutOutcome::Stored(id) => id,
            other => panic!("local publish refused: {other:?}"),
        };
        self.net.publish(envelope, id);
        id
    }

    pub fn has(&self, id: &ManifestId) -> bool {
        self.registry.get(id).expect("get").is_some()
    }

    /// A digest of the live-head set: equal digests, equal sets.
    pub fn digest(&self) -> ([u8; 32], usize) {
        let mut h = Sha256::new();
        let mut n = 0;
        for (at, id) in self.registry.sync_items().expect("sync set") {
            h.update(at.to_be_bytes());
            h.update(id.as_bytes());
            n += 1;
        }
        (h.finalize().into(), n)
    }
}

pub fn sign(key: &SecretKey, body: ManifestBody) -> Vec<u8> {
    UnsignedManifest(body).sign(key).to_bytes()
}

pub fn service(name: &str, version: u64) -> ManifestBody {
    sample::service(
        name,
        version,
        &format!("Service {name} v{version}"),
        "Find your bin collection day by postcode or UPRN.",
        &[524],
        &["E07000209"],
        now_ms(),
    )
}

/// Waits until `cond` holds, polling; panics with `what` after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the async `cond` holds, polling; panics with `what` after `timeout`.
pub async fn eventually_async(what: &str, timeout: Duration, mut cond: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !cond().await {
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Connects `a` to `b` and waits until the connection is up.
pub async fn connect(a: &Node, b: &Node) {
    a.net.dial(b.addr.clone()).await.expect("dial");
}

/// Gossipsub as a liar speaks it on `network`: subscribed to the manifest topic,
/// unsigned, with a message id of its own (a hash of all the data) rather than the
/// node's, so that what it sends is judged on the bytes alone.
pub fn liar_gossipsub(network: &str) -> libp2p::gossipsub::Behaviour {
    use libp2p::gossipsub;
    let cfg = gossipsub::ConfigBuilder::default()
        .protocol_id_prefix(format!("/lgmesh/{network}/meshsub"))
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .max_transmit_size(1 << 20)
        .message_id_fn(|m: &gossipsub::Message| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            m.data.hash(&mut h);
            gossipsub::MessageId::from(h.finish().to_be_bytes().to_vec())
        })
        .heartbeat_initial_delay(Duration::from_millis(100))
        .build()
        .expect("gossipsub config");
    let mut g = gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, cfg)
        .expect("gossipsub");
    g.subscribe(&gossipsub::IdentTopic::new(lgmesh_net::topic_name(network)))
        .expect("subscribe");
    g
}
