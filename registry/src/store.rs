//! The sled store: manifests, heads, history, tombstones, equivocation evidence, the
//! live-head sync set, org cards and counters, in one sled tree under key prefixes, so
//! that each write (one manifest or a whole batch) is a single atomic sled batch.
//! [`Registry::write`] is the one way in; unless asked only to apply
//! ([`Durability::Applied`]) it flushes before it returns, so an acknowledged manifest
//! survives `kill -9`.
//!
//! A write is placed against the heads under the write lock, then applied to sled
//! without it, in the order the writes were placed; the next write can be placed
//! meanwhile, reading what the ones still being applied will write
//! (the crate's `staging` module).
//!
//! The text index ([`crate::search`]) is derived data beside the store: every head
//! change is logged under a sequence number in the same atomic batch, and the index
//! records the last sequence it has applied, so start-up replays only what the index
//! missed. Opening never scans the manifests.
//!
//! This file holds the [`Registry`], its opening, and the types its callers see. The
//! rest is one concern to a submodule:
//! - `layout`: the sled tree, its key prefixes, the keys built from them and the records
//!   kept under them;
//! - `migrate`: the store's format version, checked before anything is written, and
//!   the migrations from older formats;
//! - `write`: the way in ([`Registry::check`], [`Registry::write`]), the sweep of expired
//!   heads and [`Registry::rederive`]; `pending` places one batch under the write lock;
//! - `read`: manifests, heads, history, equivocation evidence and counters;
//! - `relations`: org claims, endorsements, adoptions, revocations and rotations, the
//!   operator's trusted keys, domain proofs, and the trust judgement
//!   ([`Registry::trust`]);
//! - `sync`: the sync set, and what sync sends for each of its items;
//! - `quota`: what publishers this node does not verify may store;
//! - `search`: feeding the text index, and the searches that need the store
//!   ([`Registry::search`]).

use std::path::Path;
use std::sync::{Mutex, RwLock};

use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_protocol::v1::{Envelope, ManifestBody};
use lgmesh_protocol::validate::Limits;
pub use lgmesh_protocol::validate::PutOutcome;

use crate::search::TextIndex;
use crate::staging::Staging;
use crate::trust::TrustView;

pub mod backup;
mod layout;
mod migrate;
pub use migrate::inspect;
mod pending;
mod quota;
mod read;
mod relations;
mod search;
mod sync;
mod write;
pub use crate::error::StoreError;
pub use layout::FORMAT_VERSION;
use layout::TREE;
pub use quota::Quota;
use search::trim_log;
use sync::SyncState;
use write::Writer;

/// The default bound of sled's page cache. Large enough that bulk ingest of 100k
/// manifests stays in memory (ingest ran 0.45 → 0.58 of raw verification speed going
/// from 64 to 128 MiB); the cache fills only as pages are used.
pub const DEFAULT_CACHE_BYTES: u64 = 128 * 1024 * 1024;

type Result<T> = std::result::Result<T, StoreError>;

/// How far a [`Registry::write`] has gone when it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Applied: readable at once, on disk after the next [`Registry::flush`]. For
    /// manifests a crash may lose and peers would send again (gossip), whose verdict
    /// should not wait for the disk.
    Applied,
    /// Flushed to disk: it survives `kill -9`.
    Flushed,
    /// Flushed to disk and searchable: for a local publish, which its publisher
    /// searches for next.
    Searchable,
}

/// What a [`Registry::write`] does when another write holds the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfBusy {
    /// Waits for it (from a blocking thread).
    Wait,
    /// Does nothing and returns [`StoreError::Busy`] with the batch, for a caller on an
    /// async runtime thread, which must not wait (a page of a catch-up can hold the
    /// store for a few hundred milliseconds): it can write it from a blocking thread.
    GiveBack,
}

/// What sync sends for one item of the sync set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPayload {
    /// A manifest's envelope bytes, exactly as received.
    Manifest(Vec<u8>),
    /// The two envelopes of an equivocation proof.
    Proof(Vec<u8>, Vec<u8>),
}

/// A stored manifest.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its id.
    pub id: ManifestId,
    /// The envelope bytes exactly as received.
    pub envelope: Envelope,
    /// The body, decoded for reading.
    pub body: ManifestBody,
    /// The publisher.
    pub publisher: PublisherKey,
}

impl Stored {
    /// `org`, `service`, `dataset` or `retraction`.
    pub fn kind(&self) -> &'static str {
        lgmesh_protocol::schema::kind_name(self.body.kind.as_ref())
    }
}

/// What the store knows about a publisher's organisation, from its org card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgInfo {
    /// The org id, e.g. `gss:E07000209`.
    pub org_id: String,
    /// The organisation's name.
    pub name: String,
}

/// One org card, as the domain check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgCard {
    /// The key that signed it.
    pub publisher: PublisherKey,
    /// The organisation it claims.
    pub org_id: String,
    /// Its website; empty when it names none.
    pub website: String,
}

/// Proof that a publisher signed one version of a name more than once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    /// Who signed.
    pub publisher: PublisherKey,
    /// The name.
    pub name: String,
    /// The version signed more than once.
    pub version: u64,
    /// The manifests that conflict.
    pub ids: Vec<ManifestId>,
}

/// Counters kept with the data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Manifests stored (every version and evidence).
    pub manifests: u64,
    /// Heads (one per `(publisher, name)`).
    pub heads: u64,
}

/// The registry: the sled store and its text index. Share it behind an `Arc`.
pub struct Registry {
    db: sled::Db,
    tree: sled::Tree,
    text: TextIndex,
    limits: Limits,
    /// One writer at a time: validation against the head and the write must not interleave.
    write: Mutex<Writer>,
    /// Batches placed under the write lock and waiting to be applied, in order.
    staging: Staging,
    /// The live heads in `(issued_at, id)` order, for set reconciliation: loaded at
    /// the first sync, then changed only by a commit, which holds it for writing
    /// across the sled batch so a reader never sees the new change sequence with the
    /// old set.
    sync: RwLock<SyncState>,
    /// Held by the one thread loading the sync set (others wait for it here).
    sync_loading: Mutex<()>,
    /// Bumped whenever an input of the trust judgement changes.
    trust_gen: std::sync::atomic::AtomicU64,
    /// Endorsements from verified organisations that verify a key (*k*).
    endorsements_required: std::sync::atomic::AtomicUsize,
    /// The last judgement: the generation it was computed at, when, and the result.
    trust_cache: Mutex<Option<(u64, std::time::Instant, std::sync::Arc<TrustView>)>>,
    /// Limits for publishers this node does not verify.
    quota: Mutex<Quota>,
    /// Bytes stored by the publishers this node does not verify, all together: summed
    /// from their usage whenever the trust judgement is computed, and kept up to date by
    /// every write in between.
    unverified_bytes: std::sync::atomic::AtomicU64,
    /// Bumped whenever the sync set changes: by a commit, or by dropping what expired
    /// (the set changes with time as well as with writes).
    sync_pruned: std::sync::atomic::AtomicU64,
    /// The format the store was in when opened, if it was migrated from an older one.
    migrated_from: Option<u64>,
}

/// Opens sled in `dir/db`. sled's threads let go of a store's lock a moment after its
/// last handle is dropped, so a store closed just now (by this process, or by one that
/// is exiting) is waited for, up to 2 s, before its lock counts as another's.
fn open_sled(dir: &Path, cache_bytes: u64) -> Result<sled::Db> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let opened = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(None)
            .open();
        match opened {
            Err(sled::Error::Io(e))
                if e.kind() == std::io::ErrorKind::Other
                    && e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            r => return Ok(r?),
        }
    }
}

/// The default *k*: endorsements from verified organisations that verify a key.
pub const DEFAULT_ENDORSEMENTS_REQUIRED: usize = 2;

impl Registry {
    /// Opens (or creates) the store in `dir`: sled in `dir/db`, the text index in
    /// `dir/text-v5`. Replays into the text index only the head changes it missed (or
    /// rebuilds it from the heads if it was lost), and waits until it has them.
    pub fn open(dir: &Path, limits: Limits) -> Result<Self> {
        Self::open_with_cache(dir, limits, DEFAULT_CACHE_BYTES)
    }

    /// As [`Registry::open`], with sled's page cache bounded to `cache_bytes`. The
    /// cache fills only as pages are used: an idle node holds far less.
    pub fn open_with_cache(dir: &Path, limits: Limits, cache_bytes: u64) -> Result<Self> {
        Self::open_inner(dir, limits, cache_bytes, true)
    }

    /// Opens a store that validates, stores and syncs exactly as [`Registry::open`]
    /// but keeps no text index (search finds nothing). For simulations that run
    /// hundreds of nodes in one process, where a tantivy writer per node does not fit.
    pub fn open_without_search(dir: &Path, limits: Limits, cache_bytes: u64) -> Result<Self> {
        Self::open_inner(dir, limits, cache_bytes, false)
    }

    fn open_inner(dir: &Path, limits: Limits, cache_bytes: u64, search: bool) -> Result<Self> {
        let db = open_sled(dir, cache_bytes)?;
        let tree = db.open_tree(TREE)?;
        // Before anything else touches the store (or the index beside it).
        let migrated_from = migrate::migrate(&db, &tree)?;
        let trim = tree.clone();
        if !search {
            return Self {
                db,
                tree,
                text: TextIndex::disabled()?,
                limits,
                write: Mutex::default(),
                staging: Staging::default(),
                sync: RwLock::default(),
                sync_loading: Mutex::default(),
                trust_gen: Default::default(),
                endorsements_required: DEFAULT_ENDORSEMENTS_REQUIRED.into(),
                trust_cache: Mutex::default(),
                quota: Mutex::default(),
                unverified_bytes: Default::default(),
                sync_pruned: Default::default(),
                migrated_from,
            }
            .derive_if_older();
        }
        // An index of an older layout is rebuilt under the new name; drop the old one.
        let _ = std::fs::remove_dir_all(dir.join("text-v2"));
        let _ = std::fs::remove_dir_all(dir.join("text-v3"));
        let _ = std::fs::remove_dir_all(dir.join("text-v4"));
        let text = TextIndex::open(&dir.join("text-v5"), move |seq| trim_log(&trim, seq))?;
        let reg = Self {
            db,
            tree,
            text,
            limits,
            write: Mutex::default(),
            staging: Staging::default(),
            sync: RwLock::default(),
            sync_loading: Mutex::default(),
            trust_gen: Default::default(),
            endorsements_required: DEFAULT_ENDORSEMENTS_REQUIRED.into(),
            trust_cache: Mutex::default(),
            quota: Mutex::default(),
            unverified_bytes: Default::default(),
            sync_pruned: Default::default(),
            migrated_from,
        };
        let reg = reg.derive_if_older()?;
        reg.catch_up_index()?;
        Ok(reg)
    }

    /// The format the store was in when it was opened, when that was older than
    /// [`FORMAT_VERSION`] and it was migrated; `None` when it needed nothing.
    pub fn migrated_from(&self) -> Option<u64> {
        self.migrated_from
    }

    /// The validation limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Flushes everything to disk.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}
