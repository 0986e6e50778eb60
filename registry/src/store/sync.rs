//! The sync set: what this node offers to set reconciliation, in memory, derived from
//! the head and proof records. A commit changes it under its lock in the same step as
//! the sled batch ([`crate::store::Registry::write`]), and time prunes what expires;
//! sync reads it, and what it sends for each item, from here.

use lgmesh_protocol::envelope::{ID_PREFIX_LEN, ManifestId};

use super::layout::{COUNT_SEQ, HeadRecord, ProofRecord, key, prefix};
use super::{Registry, Result, SyncPayload};

/// The sync set: every live head as `(issued_at, id)`, in order (a retraction is a
/// head too, so it spreads like any update; superseded versions are not in it), and
/// every equivocation proof, so that evidence reaches every node. A head leaves it when
/// it expires: what the federation converges on is what is current.
///
/// It is derived from the head and proof records, which sled writes in the same atomic
/// batch as the manifests, so it cannot disagree with them after a crash. Keeping it in
/// memory (65–80 bytes a head: 8 MB at 100,000) instead of as a third sled key per
/// manifest took a tenth off the CPU of a new node's catch-up, a third of which is sled
/// inserts.
#[derive(Default)]
pub(super) struct SyncSet {
    items: std::collections::BTreeSet<(u64, ManifestId)>,
    /// `(expires_at, issued_at, id)` of every item that expires (proofs do not).
    expiry: std::collections::BTreeSet<(u64, u64, ManifestId)>,
}

/// An item of the sync set: issued_at, id, and expires_at (`u64::MAX`: never).
pub(super) type SyncItem = (u64, ManifestId, u64);

impl SyncSet {
    fn insert(&mut self, (at, id, expires): SyncItem) {
        self.items.insert((at, id));
        if expires != u64::MAX {
            self.expiry.insert((expires, at, id));
        }
    }

    fn remove(&mut self, (at, id, expires): &SyncItem) {
        self.items.remove(&(*at, *id));
        self.expiry.remove(&(*expires, *at, *id));
    }

    /// Whether something in it has expired by `now`.
    fn due(&self, now: u64) -> bool {
        self.expiry.first().is_some_and(|(e, _, _)| *e <= now)
    }

    /// Drops what has expired by `now`; how many.
    fn prune(&mut self, now: u64) -> u64 {
        let mut n = 0;
        while let Some(&(e, at, id)) = self.expiry.first() {
            if e > now {
                break;
            }
            self.expiry.pop_first();
            self.items.remove(&(at, id));
            n += 1;
        }
        n
    }
}

/// Where the sync set is.
#[derive(Default)]
pub(super) enum SyncState {
    /// No sync has needed it yet: a commit leaves it be (the load reads what it wrote).
    #[default]
    Unloaded,
    /// Being read from the head records, without a lock (a few hundred ms at 100,000
    /// heads, which a commit on a runtime thread must not wait for). Commits meanwhile
    /// log their changes here, to be replayed over what the scan found.
    Loading(Vec<SyncChanges>),
    Loaded(SyncSet),
}

/// One commit's changes to the sync set: added, removed.
type SyncChanges = (Vec<SyncItem>, Vec<SyncItem>);

/// Applies one commit's changes: adds first, since a head that came and was replaced
/// within one batch is in both lists and must end up out (no id is ever a head
/// twice). Replayed over a scan that may have seen any part of them, the result is
/// the same: each item is added at most once and removed at most once, in that order.
pub(super) fn apply_sync_changes(set: &mut SyncSet, added: &[SyncItem], removed: &[SyncItem]) {
    for item in added {
        set.insert(*item);
    }
    for item in removed {
        set.remove(item);
    }
}

/// The sync set, from one scan of the head and proof records.
fn load_sync_set(tree: &sled::Tree) -> Result<SyncSet> {
    let mut sync = SyncSet::default();
    for v in tree.scan_prefix([prefix::HEAD]).values() {
        let rec = HeadRecord::decode(&v?)?;
        sync.insert(rec.sync_item());
    }
    for kv in tree.scan_prefix([prefix::PROOF]) {
        let (k, v) = kv?;
        let p = ProofRecord::decode(&k, &v)?;
        sync.insert((p.issued_at_ms, p.id, u64::MAX));
    }
    Ok(sync)
}

/// Removes the `S` keys of a store written before the sync set moved to memory (they
/// are derived data: the head records say the same).
pub(super) fn drop_sync_keys(tree: &sled::Tree) -> Result<()> {
    loop {
        let mut b = sled::Batch::default();
        let mut n = 0;
        for kv in tree.scan_prefix([prefix::SYNC]).keys().take(10_000) {
            b.remove(kv?);
            n += 1;
        }
        if n == 0 {
            return Ok(());
        }
        tree.apply_batch(b)?;
    }
}

impl Registry {
    /// The sync set in `(issued_at, id)` order (for set reconciliation): the live heads
    /// that have not expired, and the equivocation proofs, as of the last commit.
    pub fn sync_items(&self) -> Result<Vec<(u64, ManifestId)>> {
        self.with_sync_set(|s| s.items.iter().copied().collect())
    }

    /// How many items the sync set holds.
    pub fn sync_len(&self) -> Result<usize> {
        self.with_sync_set(|s| s.items.len())
    }

    /// A number that changes whenever the sync set does (a commit, or a head expiring):
    /// caches of the set are keyed on it. Not kept across restarts.
    pub fn sync_generation(&self) -> Result<u64> {
        self.with_sync_set(|_| ())?;
        Ok(self.sync_pruned.load(std::sync::atomic::Ordering::Acquire))
    }

    /// Runs `f` on the sync set, loading it first if no sync has needed it yet, and
    /// dropping what has expired.
    fn with_sync_set<T>(&self, f: impl FnOnce(&SyncSet) -> T) -> Result<T> {
        let now = lgmesh_protocol::now_ms();
        {
            let sync = self.sync.read().unwrap_or_else(|p| p.into_inner());
            if let SyncState::Loaded(set) = &*sync
                && !set.due(now)
            {
                return Ok(f(set));
            }
        }
        {
            let mut sync = self.sync.write().unwrap_or_else(|p| p.into_inner());
            if let SyncState::Loaded(set) = &mut *sync {
                if set.prune(now) > 0 {
                    self.sync_pruned
                        .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                }
                return Ok(f(set));
            }
        }
        let _loader = self.sync_loading.lock().unwrap_or_else(|p| p.into_inner());
        {
            let mut sync = self.sync.write().unwrap_or_else(|p| p.into_inner());
            match &*sync {
                SyncState::Loaded(set) => return Ok(f(set)),
                _ => *sync = SyncState::Loading(vec![]),
            }
        }
        // Commits go on while the scan runs; they log what they change.
        let scanned = load_sync_set(&self.tree);
        let mut sync = self.sync.write().unwrap_or_else(|p| p.into_inner());
        let log = match std::mem::take(&mut *sync) {
            SyncState::Loading(log) => log,
            _ => vec![],
        };
        let mut set = scanned?;
        for (added, removed) in &log {
            apply_sync_changes(&mut set, added, removed);
        }
        set.prune(now);
        self.sync_pruned
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let out = f(&set);
        *sync = SyncState::Loaded(set);
        Ok(out)
    }

    /// Up to `limit` items of the sync set from just after `after` (exclusive) in
    /// `(issued_at, id)` order; from the start when `after` is `None`. For streaming a
    /// whole store to a new node a page at a time.
    pub fn sync_items_after(
        &self,
        after: Option<(u64, ManifestId)>,
        limit: usize,
    ) -> Result<Vec<(u64, ManifestId)>> {
        use std::ops::Bound;
        let from = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        self.with_sync_set(|s| {
            s.items
                .range((from, Bound::Unbounded))
                .take(limit)
                .copied()
                .collect()
        })
    }

    /// The two envelopes of the equivocation proof `id` (as sync sends it), if held.
    pub fn proof(&self, id: &ManifestId) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        match self.tree.get(key(prefix::PROOF, &[id.as_bytes()]))? {
            Some(v) => self.proof_envelopes(&key(prefix::PROOF, &[id.as_bytes()]), &v),
            None => Ok(None),
        }
    }

    fn proof_envelopes(&self, k: &[u8], v: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let p = ProofRecord::decode(k, v)?;
        Ok(
            match (self.envelope_bytes(&p.a)?, self.envelope_bytes(&p.b)?) {
                (Some(a), Some(b)) => Some((a, b)),
                _ => None,
            },
        )
    }

    /// What sync sends for an id prefix (at least [`ID_PREFIX_LEN`] bytes): a manifest's envelope, or
    /// the two envelopes of an equivocation proof.
    pub fn sync_item_by_prefix(&self, id_prefix: &[u8]) -> Result<Option<SyncPayload>> {
        if let Some(env) = self.envelope_bytes_by_prefix(id_prefix)? {
            return Ok(Some(SyncPayload::Manifest(env)));
        }
        if id_prefix.len() < ID_PREFIX_LEN || id_prefix.len() > 32 {
            return Ok(None);
        }
        match self
            .tree
            .scan_prefix(key(prefix::PROOF, &[id_prefix]))
            .next()
        {
            Some(kv) => {
                let (k, v) = kv?;
                Ok(self
                    .proof_envelopes(&k, &v)?
                    .map(|(a, b)| SyncPayload::Proof(a, b)))
            }
            None => Ok(None),
        }
    }

    /// A number that changes whenever a head changes (and so the sync set): caches of
    /// the sync set are keyed on it.
    pub fn change_seq(&self) -> Result<u64> {
        self.counter(COUNT_SEQ)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Durability, IfBusy};
    use lgmesh_protocol::envelope::UnsignedManifest;
    use lgmesh_protocol::identity::SecretKey;
    use lgmesh_protocol::validate::Limits;

    /// A store written when the sync set was kept as sled keys opens with the same
    /// set, taken from its head records, and without those keys.
    #[test]
    fn sync_keys_of_an_older_store_are_dropped_at_open_and_the_set_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = 1_790_000_000_000;
        let signer = SecretKey::from_seed(&[4; 32]);
        let items: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                let body = lgmesh_protocol::sample::service(
                    &format!("s{i}"),
                    1,
                    "Pothole reporting",
                    "Report a pothole.",
                    &[],
                    &[],
                    now + i,
                );
                UnsignedManifest(body).sign(&signer).to_bytes()
            })
            .collect();
        let set = {
            let reg = Registry::open(dir.path(), Limits::default()).expect("open");
            let checked = reg.check(&items, &[], now + 10);
            reg.write(checked, Durability::Flushed, IfBusy::Wait, |_| {})
                .expect("put");
            // What the older layout (store format 1) kept beside each head.
            reg.tree
                .remove(key(prefix::COUNTER, &[super::super::layout::COUNT_FORMAT]))
                .expect("remove");
            for (at, id) in reg.sync_items().expect("sync set") {
                reg.tree
                    .insert(
                        key(prefix::SYNC, &[&at.to_be_bytes(), id.as_bytes()]),
                        &[][..],
                    )
                    .expect("insert");
            }
            reg.flush().expect("flush");
            reg.sync_items().expect("sync set")
        };
        assert_eq!(set.len(), 3);
        let reg = Registry::open(dir.path(), Limits::default()).expect("reopen");
        assert_eq!(reg.sync_items().expect("sync set"), set);
        assert_eq!(reg.tree.scan_prefix([prefix::SYNC]).count(), 0);
    }
}
