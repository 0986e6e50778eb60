//! The storage error. The store fails with it and so does the text index below the
//! store, and a search error carries it; it lives here, below both, so that the index
//! need not know the store.

use lgmesh_protocol::validate::Checked;

/// A storage failure (disk, corruption). Not a validation outcome: those are values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// sled reported an error.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// The text index failed.
    #[error("text index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The store is of a format this build does not read: written by a newer lgmesh
    /// (or damaged). Nothing was changed.
    #[error(
        "store: format {found}, but this lgmesh reads formats 1 to {supported}: it was written by a newer lgmesh; run that one, or restore a backup made before the upgrade"
    )]
    Format {
        /// The store's format.
        found: u64,
        /// The newest format this build reads.
        supported: u64,
    },
    /// Bytes on disk do not decode: the store is damaged.
    #[error("store: corrupt record ({0})")]
    Corrupt(String),
    /// Not written, because a write placed before it failed; nothing of it is stored.
    #[error("store: not written, as a write before it failed")]
    Aborted,
    /// Not written, because another write held the store and the caller would not wait
    /// ([`IfBusy::GiveBack`](crate::store::IfBusy::GiveBack)); the batch comes back
    /// untouched.
    #[error("store: busy with another write")]
    Busy(Box<Checked>),
}
