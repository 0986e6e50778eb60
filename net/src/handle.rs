//! The cloneable handle through which the node drives the network.

use std::sync::Arc;

use lgmesh_proto::v1::{SyncRequest, SyncResponse};
use lgmesh_protocol::envelope::ManifestId;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use crate::{Keypair, NetConfig, NetStats, Store, behaviour, event_loop::EventLoop};

/// Which transport a node runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// TCP (Noise, Yamux) and QUIC, with relay, AutoNAT and DCUtR.
    Real,
    /// libp2p's in-process memory transport (Noise, Yamux), for tests and simulations.
    Memory,
}

/// A network failure the caller can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The configuration cannot work (bad network name, address, key).
    #[error("network config: {0}")]
    Config(String),
    /// Listening failed.
    #[error("listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// Dialling failed.
    #[error("dial {addr}: {reason}")]
    Dial {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The request to the peer failed.
    #[error("peer {peer}: {reason}")]
    Peer {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// The network task has stopped.
    #[error("the network has stopped")]
    Stopped,
}

/// A connected peer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Its peer id.
    pub peer_id: PeerId,
    /// The addresses of its open connections.
    pub addrs: Vec<Multiaddr>,
    /// What it says it runs (identify), e.g. `lgmesh/0.1.0`.
    pub agent: String,
    /// Last ping round trip, if measured.
    pub rtt_ms: Option<f64>,
    /// True when this node dialled it.
    pub outbound: bool,
    /// True when it is in this node's gossip mesh.
    pub in_mesh: bool,
    /// Manifests from it refused as bad (strikes).
    pub strikes: u32,
}

/// This node on the network.
#[derive(Debug, Clone)]
pub struct NetInfo {
    /// Its peer id.
    pub peer_id: PeerId,
    /// The network name.
    pub network: String,
    /// Full addresses it listens on, each ending in `/p2p/<peer id>`.
    pub listen: Vec<Multiaddr>,
    /// Addresses others have confirmed they can reach it at.
    pub external: Vec<Multiaddr>,
    /// Connected peers.
    pub peers: usize,
    /// Peers in its gossip mesh.
    pub mesh_peers: usize,
    /// `public`, `private` or `unknown` (AutoNAT).
    pub nat: String,
}

pub(crate) enum Command {
    Publish {
        data: Vec<u8>,
        id: ManifestId,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, NetError>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    Info {
        reply: oneshot::Sender<NetInfo>,
    },
    Request {
        peer: PeerId,
        request: SyncRequest,
        reply: oneshot::Sender<Result<SyncResponse, NetError>>,
    },
    Validated(
        Vec<(
            libp2p::gossipsub::MessageId,
            PeerId,
            libp2p::gossipsub::MessageAcceptance,
        )>,
    ),
    SyncNow {
        peer: Option<PeerId>,
    },
    Shutdown,
}

/// The handle to a running network. Cheap to clone; every method is non-blocking or
/// awaits a reply from the network task.
#[derive(Clone)]
pub struct Network {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) stats: Arc<NetStats>,
    pub(crate) peer_id: PeerId,
}

impl Network {
    /// Builds the swarm, starts listening and dialling the bootstrap peers, and spawns
    /// the task that owns the swarm on the current tokio runtime. Manifests that arrive
    /// are offered to `store`.
    pub async fn start(
        key: Keypair,
        cfg: NetConfig,
        kind: TransportKind,
        store: Arc<dyn Store>,
    ) -> Result<Network, NetError> {
        if !crate::valid_network_name(&cfg.network) {
            return Err(NetError::Config(format!(
                "network name {:?}: use 1–32 lowercase letters, digits or '-'",
                cfg.network
            )));
        }
        if cfg.sync.frame_bytes < 4096 {
            return Err(NetError::Config(
                "sync.frame_bytes: must be at least 4096".into(),
            ));
        }
        let peer_id = key.public().to_peer_id();
        let swarm = behaviour::build_swarm(key, &cfg, kind)?;
        let (tx, rx) = mpsc::channel(1024);
        let stats = Arc::new(NetStats::default());
        let net = Network {
            tx,
            stats: stats.clone(),
            peer_id,
        };
        let mut el = EventLoop::new(swarm, cfg, kind, store, net.clone(), rx)?;
        el.listen_and_bootstrap().await?;
        tokio::spawn(el.run());
        Ok(net)
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The live counters.
    pub fn stats(&self) -> &Arc<NetStats> {
        &self.stats
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Gossips a manifest this node has just stored. Never waits: when the network is
    /// too busy the manifest still reaches peers by sync.
    pub fn publish(&self, data: Vec<u8>, id: ManifestId) {
        let _ = self.tx.try_send(Command::Publish { data, id });
    }

    /// Dials an address (ending in `/p2p/<peer id>`, or not) and waits for the connection.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, NetError> {
        self.ask(|reply| Command::Dial { addr, reply }).await?
    }

    /// The connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// This node's addresses and counts.
    pub async fn info(&self) -> Result<NetInfo, NetError> {
        self.ask(|reply| Command::Info { reply }).await
    }

    /// Starts a sync round now with `peer`, or with a random connected peer.
    pub async fn sync_now(&self, peer: Option<PeerId>) -> Result<(), NetError> {
        self.tx
            .send(Command::SyncNow { peer })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Stops the network task (connections close).
    pub async fn shutdown(&self) {
        let _ = self.tx.send(Command::Shutdown).await;
    }

    pub(crate) async fn request(
        &self,
        peer: PeerId,
        request: SyncRequest,
    ) -> Result<SyncResponse, NetError> {
        self.stats.sync_bytes_out.fetch_add(
            prost::Message::encoded_len(&request) as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        let response = self
            .ask(|reply| Command::Request {
                peer,
                request,
                reply,
            })
            .await??;
        self.stats.sync_bytes_in.fetch_add(
            prost::Message::encoded_len(&response) as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(response)
    }

    pub(crate) fn send(&self, c: Command) {
        // Only gossip verdicts come this way. A full queue means the loop is far behind;
        // a verdict dropped leaves the message unforwarded (sync carries it), and
        // gossipsub forgets it within its history window.
        let _ = self.tx.try_send(c);
    }
}
