//! What travels to the task that owns the swarm: the node's requests, through the
//! [`crate::Network`] handle, and the messages of the network's own tasks (sync rounds
//! asking a peer something, gossip verdicts). Both share one bounded queue.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use lgmesh_proto::v1::{SyncRequest, SyncResponse};
use lgmesh_protocol::envelope::ManifestId;
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use crate::{NetError, NetStats};

/// A message to the swarm's task.
pub(crate) enum Command {
    /// From the node, through the [`crate::Network`] handle.
    Public(Request),
    /// From the network's own tasks.
    Internal(Internal),
}

/// What the node asks of the network.
pub(crate) enum Request {
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
    SyncNow {
        peer: Option<PeerId>,
    },
    /// Stop: intake first, then the ingest task drains and flushes; `done` is sent
    /// once everything the network spawned has ended.
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// Gossipsub's verdict on one message.
pub(crate) type Verdict = (MessageId, PeerId, MessageAcceptance);

/// What the network's tasks tell the swarm's task.
pub(crate) enum Internal {
    /// A sync round's request to a peer.
    Ask {
        peer: PeerId,
        request: SyncRequest,
        reply: oneshot::Sender<Result<SyncResponse, NetError>>,
    },
    /// Verdicts on gossip messages, for gossipsub.
    Validated(Vec<Verdict>),
}

/// The network's tasks' way to the swarm's task (not the node's: that is
/// [`crate::Network`]).
#[derive(Clone)]
pub(crate) struct LoopTx {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) stats: Arc<NetStats>,
}

impl LoopTx {
    /// Asks `peer` a sync request and waits for its answer, counting the bytes.
    /// Cancel-safe: a round dropped meanwhile drops the reply unread.
    pub(crate) async fn ask(
        &self,
        peer: PeerId,
        request: SyncRequest,
    ) -> Result<SyncResponse, NetError> {
        self.stats
            .sync_bytes_out
            .fetch_add(prost::Message::encoded_len(&request) as u64, Relaxed);
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Internal(Internal::Ask {
                peer,
                request,
                reply,
            }))
            .await
            .map_err(|_| NetError::Stopped)?;
        let response = rx.await.map_err(|_| NetError::Stopped)??;
        self.stats
            .sync_bytes_in
            .fetch_add(prost::Message::encoded_len(&response) as u64, Relaxed);
        Ok(response)
    }

    /// Sends gossip verdicts without waiting (from a runtime thread). A full queue
    /// means the loop is far behind: a verdict dropped leaves the message unforwarded
    /// (sync carries it), and gossipsub forgets it within its history window.
    pub(crate) fn verdicts(&self, v: Vec<Verdict>) {
        let _ = self.tx.try_send(Command::Internal(Internal::Validated(v)));
    }

    /// Sends gossip verdicts, waiting for room (from a blocking thread).
    pub(crate) fn verdicts_blocking(&self, v: Vec<Verdict>) {
        let _ = self
            .tx
            .blocking_send(Command::Internal(Internal::Validated(v)));
    }

    /// Whether the swarm's task has gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
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
