//! The network's errors.

use libp2p::{Multiaddr, PeerId};

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
