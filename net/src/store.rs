//! What the network needs of the node's store, and nothing more: offer a checked batch
//! and get verdicts; the sync set, for reconciliation and streaming; what sync sends
//! for an id. The node implements [`Store`] over its registry, and does there, once,
//! what follows a manifest being stored (metrics, `Watch`); the network keeps what
//! follows for the peer that sent it (gossip verdicts, strikes).
//!
//! Every method may block on disk or CPU: the network calls them from blocking
//! threads, except [`Store::offer`] with `wait: false`, which must not block.

use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::validate::{Checked, PutOutcome};

use crate::stats::Path;

/// How far a write has gone when [`Store::offer`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Readable at once; on disk after the next [`Store::flush`]. For gossip, whose
    /// verdict should not wait for the disk (what a crash loses, sync brings back).
    Applied,
    /// On disk.
    Flushed,
}

/// What [`Store::offer`] did.
#[derive(Debug)]
pub enum Offered {
    /// Written (as far as asked): the outcomes, in input order, manifests then proofs.
    Done(Vec<PutOutcome>),
    /// Nothing done: another write held the store and the caller would not wait. The
    /// batch comes back, to be offered again from a blocking thread.
    Busy(Checked),
}

/// What sync sends for one item of the sync set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPayload {
    /// A manifest's envelope bytes, exactly as received.
    Manifest(Vec<u8>),
    /// The two envelopes of an equivocation proof.
    Proof(Vec<u8>, Vec<u8>),
}

/// The store failed (disk, corruption): not a verdict on what was offered.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreFailure(pub String);

/// The store, as the network uses it. Shared by every task of the network.
pub trait Store: Send + Sync + 'static {
    /// Checks envelopes and equivocation proofs (size, encoding, schema, signatures,
    /// times), touching no storage, so one page is checked while the one before is
    /// stored.
    fn check(&self, envelopes: &[Vec<u8>], proofs: &[(Vec<u8>, Vec<u8>)], now_ms: u64) -> Checked;

    /// Places a checked batch that came by `path` against the heads and writes it.
    /// `placed` is called with the outcomes as soon as they are decided, before the
    /// batch is applied: the next batch may be offered from then on (it is placed
    /// after this one), and gossip verdicts need wait for nothing more. With `wait`
    /// false it returns [`Offered::Busy`] rather than wait for another write.
    fn offer(
        &self,
        batch: Checked,
        path: Path,
        durability: Durability,
        wait: bool,
        placed: &mut dyn FnMut(&[PutOutcome]),
    ) -> Result<Offered, StoreFailure>;

    /// Puts everything applied on disk.
    fn flush(&self) -> Result<(), StoreFailure>;

    /// Whether the store holds no manifest at all (a new node streams instead of
    /// reconciling).
    fn is_empty(&self) -> Result<bool, StoreFailure>;

    /// A number that changes whenever the sync set does: snapshots are kept until it
    /// moves.
    fn sync_generation(&self) -> Result<u64, StoreFailure>;

    /// The sync set in `(issued_at_ms, id)` order: live heads and equivocation proofs.
    fn sync_items(&self) -> Result<Vec<(u64, ManifestId)>, StoreFailure>;

    /// Up to `limit` items of the sync set just after `after` (from the start when
    /// none), in order.
    fn sync_items_after(
        &self,
        after: Option<(u64, ManifestId)>,
        limit: usize,
    ) -> Result<Vec<(u64, ManifestId)>, StoreFailure>;

    /// What sync sends for the item whose id starts with `id_prefix` (at least
    /// [`lgmesh_protocol::envelope::ID_PREFIX_LEN`] bytes, at most 32).
    fn sync_item(&self, id_prefix: &[u8]) -> Result<Option<SyncPayload>, StoreFailure>;
}
