//! The cloneable handle through which the node drives the network.

use std::sync::Arc;

use lgmesh_protocol::envelope::ManifestId;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::command::{Command, LoopTx, NetInfo, PeerInfo, Request};
use crate::{
    Keypair, NetConfig, NetError, NetStats, Store, TransportKind, behaviour, event_loop::EventLoop,
};

/// The handle to a running network. Cheap to clone; every method is non-blocking or
/// awaits a reply from the network task.
#[derive(Clone)]
pub struct Network {
    tx: LoopTx,
    peer_id: PeerId,
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
        let tx = LoopTx {
            tx,
            stats: Arc::new(NetStats::default()),
        };
        // Every task the network runs is under this span (and so under the caller's:
        // the node's, naming its organisation), and each says which peer it serves.
        let span = tracing::info_span!("net", me = %crate::short(&peer_id));
        let mut el = EventLoop::new(swarm, cfg, kind, store, tx.clone(), rx)?;
        el.listen_and_bootstrap().instrument(span.clone()).await?;
        tokio::spawn(el.run().instrument(span));
        Ok(Network { tx, peer_id })
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The live counters.
    pub fn stats(&self) -> &Arc<NetStats> {
        &self.tx.stats
    }

    async fn send(&self, r: Request) -> Result<(), NetError> {
        self.tx
            .tx
            .send(Command::Public(r))
            .await
            .map_err(|_| NetError::Stopped)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(make(reply)).await?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Gossips a manifest this node has just stored. Never waits: when the network is
    /// too busy the manifest still reaches peers by sync.
    pub fn publish(&self, data: Vec<u8>, id: ManifestId) {
        let _ = self
            .tx
            .tx
            .try_send(Command::Public(Request::Publish { data, id }));
    }

    /// Dials an address (ending in `/p2p/<peer id>`, or not) and waits for the connection.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, NetError> {
        self.ask(|reply| Request::Dial { addr, reply }).await?
    }

    /// The connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        self.ask(|reply| Request::Peers { reply }).await
    }

    /// This node's addresses and counts.
    pub async fn info(&self) -> Result<NetInfo, NetError> {
        self.ask(|reply| Request::Info { reply }).await
    }

    /// Starts a sync round now with `peer`, or with a random connected peer.
    pub async fn sync_now(&self, peer: Option<PeerId>) -> Result<(), NetError> {
        self.send(Request::SyncNow { peer }).await
    }

    /// Stops the network, in order: no more gossip is taken in or requests answered,
    /// sync rounds end, the gossip already taken in is validated, stored and flushed,
    /// and then connections close. Returns once all of that is done (at once if the
    /// network had stopped already). Cancel-safe: dropped, the network still stops.
    pub async fn shutdown(&self) {
        let _ = self.ask(|done| Request::Shutdown { done }).await;
    }
}
