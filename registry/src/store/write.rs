//! The write path. [`Registry::check`] verifies a batch without touching storage;
//! [`Registry::write`], the one way in, places it under the write lock (the `pending`
//! module) and queues it, then applies it as one atomic sled batch ([`Placed::apply`]),
//! in the order the batches were placed. Sweeping expired heads and deriving the
//! derived records again go through the same lock.

use std::collections::HashMap;

use lgmesh_protocol::envelope::{ManifestId, VerifiedManifest};
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_protocol::validate::{self, Checked, Limits, Reason, Rejection};
use sled::IVec;

use super::layout::{
    COUNT_DERIVED, DERIVED_VERSION, HeadRecord, ProofRecord, decode_stored, expiry_key, key,
    prefix, read_u64,
};
use super::pending::Pending;
use super::relations::relation_records;
use super::sync::{SyncItem, SyncState, apply_sync_changes};
use super::{Durability, IfBusy, PutOutcome, Registry, Result, StoreError, Stored};
use crate::staging::Ticket;

/// What only the writer keeps, behind the write lock.
#[derive(Default)]
pub(super) struct Writer {
    /// Loaded at the first write.
    pub(super) known: Option<KnownHeads>,
    /// The counters as last committed, read from sled once: every batch updates them,
    /// and reading them back each time would take sled's global lock on the relay path.
    pub(super) counters: HashMap<&'static [u8], u64>,
}

/// A hash of every head key in the store, in memory (8 bytes and a little per head).
///
/// Placing a manifest needs its name's head, and a sled read was half the cost of
/// storing a batch (and, with many stores in one process, waits on sled's global lock).
/// A name whose hash is not here has no head, so a new name, the common case in a
/// catch-up or a burst of new publishes, is placed without reading. A hash that is here
/// still reads the head (a collision only costs that read). Heads leave it only when
/// the store is reopened (a swept head's hash stays: it costs a read), so the set only
/// grows; it is filled by one scan of the head keys at the first write, and kept up to
/// date by every placement under the write lock.
///
/// It also knows which publishers have equivocated: only their new heads may have been
/// stored already (as evidence, from a proof), so only theirs are looked up first.
pub(super) struct KnownHeads {
    hasher: std::hash::RandomState,
    set: std::collections::HashSet<u64>,
    pub(super) flagged: std::collections::HashSet<PublisherKey>,
}

impl KnownHeads {
    pub(super) fn load(tree: &sled::Tree) -> Result<Self> {
        let mut k = Self {
            hasher: std::hash::RandomState::new(),
            set: Default::default(),
            flagged: Default::default(),
        };
        for kv in tree.scan_prefix([prefix::HEAD]).keys() {
            k.insert(&kv?[1..]);
        }
        for kv in tree.scan_prefix([prefix::FLAG]).keys() {
            let kv = kv?;
            if let Ok(pk) = PublisherKey::from_stored(&kv[1..33.min(kv.len())]) {
                k.flagged.insert(pk);
            }
        }
        Ok(k)
    }

    fn hash(&self, pn: &[u8]) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, pn)
    }

    pub(super) fn may_have(&self, pn: &[u8]) -> bool {
        self.set.contains(&self.hash(pn))
    }

    pub(super) fn insert(&mut self, pn: &[u8]) {
        let h = self.hash(pn);
        self.set.insert(h);
    }
}

/// A batch placed and queued, to be applied in its turn (without the write lock).
pub(super) struct Placed<'a> {
    pub(super) reg: &'a Registry,
    pub(super) ticket: Ticket<'a>,
    /// `None` when it stores nothing.
    pub(super) batch: Option<sled::Batch>,
    pub(super) sync_in: Vec<SyncItem>,
    pub(super) sync_out: Vec<SyncItem>,
    pub(super) trust_changed: bool,
    pub(super) docs: Vec<crate::search::Doc>,
    pub(super) seq: Option<u64>,
}

impl Placed<'_> {
    /// Waits for the batches placed before it, applies this one atomically, flushes if
    /// asked, then queues the changed heads for the text index. Returns the change
    /// sequence number to wait for before the changes are searchable, if any.
    fn apply(mut self, flush: bool, flush_index: bool) -> Result<Option<u64>> {
        let reg = self.reg;
        self.ticket.wait_turn().map_err(|_| StoreError::Aborted)?;
        let Some(batch) = self.batch else {
            self.ticket.applied();
            return Ok(None);
        };
        {
            // Readers wait for the set while sled applies the batch: none sees the
            // new change sequence (which keys cached snapshots) with the old set.
            let mut sync = reg.sync.write().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = reg.tree.apply_batch(batch) {
                self.ticket.failed();
                return Err(e.into());
            }
            if !self.sync_in.is_empty() || !self.sync_out.is_empty() {
                reg.sync_pruned
                    .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            }
            match &mut *sync {
                SyncState::Unloaded => {}
                SyncState::Loading(log) => log.push((self.sync_in, self.sync_out)),
                SyncState::Loaded(set) => apply_sync_changes(set, &self.sync_in, &self.sync_out),
            }
        }
        if self.trust_changed {
            reg.trust_gen
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        // The batch is applied, and readable, whatever fails now: the index gets its
        // heads even if the flush fails (if the process then dies before sled is on
        // disk, the index is ahead of the store at the next open, and is rebuilt).
        let flushed = if flush {
            reg.db.flush().map(drop)
        } else {
            Ok(())
        };
        let indexed = match self.seq {
            Some(seq) => reg.text.submit(self.docs, seq, flush_index),
            None => Ok(()),
        };
        self.ticket.applied();
        flushed?;
        indexed?;
        Ok(self.seq)
    }
}

impl Registry {
    /// Checks envelopes and equivocation proofs as every path must (size, encoding,
    /// schema, signature, times), signatures on every core, in input order. Touches no
    /// storage, so a caller can check one batch while [`Registry::write`] stores the
    /// one before. The two envelopes of a proof may have expired: evidence does not.
    pub fn check(
        &self,
        envelopes: &[Vec<u8>],
        proofs: &[(Vec<u8>, Vec<u8>)],
        now_ms: u64,
    ) -> Checked {
        let mut checked = Checked {
            manifests: verify_parallel(envelopes, &self.limits, now_ms),
            proofs: Vec::with_capacity(proofs.len()),
        };
        if !proofs.is_empty() {
            let limits = Limits {
                allow_expired: true,
                ..self.limits.clone()
            };
            let flat: Vec<Vec<u8>> = proofs
                .iter()
                .flat_map(|(a, b)| [a.clone(), b.clone()])
                .collect();
            let mut both = verify_parallel(&flat, &limits, now_ms).into_iter();
            while let (Some(a), Some(b)) = (both.next(), both.next()) {
                checked.proofs.push(match (a, b) {
                    (Ok(a), Ok(b)) => Ok((a, b)),
                    (Err(r), _) | (_, Err(r)) => Err(r),
                });
            }
        }
        checked
    }

    /// The one way to store manifests: places a [`Registry::check`]ed batch against the
    /// heads (in order, so a batch may hold several versions of one name), then stores
    /// it as one atomic sled batch. Outcomes are in input order, the manifests' then the
    /// proofs' (a check's rejection is passed through; a proof's outcome carries the
    /// proof's id).
    ///
    /// - `durability`: how far the write has gone when this returns ([`Durability`]).
    /// - `if_busy`: whether to wait for another write that holds the store
    ///   ([`IfBusy`]); a caller on an async runtime thread must not.
    /// - `placed` is called with the outcomes as soon as they are decided (placed under
    ///   the write lock), before the batch is applied. Another thread may then write
    ///   the next batch: it is placed seeing this one's writes, and applied after it. A
    ///   caller that waits for `placed` before writing the next keeps its batches in
    ///   order. If applying then fails, `placed` has seen outcomes that were not
    ///   stored; the error is returned.
    pub fn write(
        &self,
        batch: Checked,
        durability: Durability,
        if_busy: IfBusy,
        placed: impl FnOnce(&[PutOutcome]),
    ) -> Result<Vec<PutOutcome>> {
        let mut writer = match if_busy {
            IfBusy::Wait => self.write.lock().unwrap_or_else(|p| p.into_inner()),
            IfBusy::GiveBack => match self.write.try_lock() {
                Ok(w) => w,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {
                    return Err(StoreError::Busy(Box::new(batch)));
                }
            },
        };
        // Under the write lock nothing new is queued: if nothing waits to be applied,
        // this batch will not wait either.
        if if_busy == IfBusy::GiveBack && !self.staging.is_idle() {
            return Err(StoreError::Busy(Box::new(batch)));
        }
        let mut pending = Pending::new(self, &mut writer)?;
        let mut out = Vec::with_capacity(batch.len());
        for m in batch.manifests {
            out.push(match m {
                Ok(m) => pending.add(m)?,
                Err(r) => PutOutcome::Rejected(r),
            });
        }
        for p in batch.proofs {
            out.push(match p {
                Ok((a, b)) => pending.add_proof_of(a, b)?,
                Err(r) => PutOutcome::Rejected(r),
            });
        }
        placed(&out);
        let staged = pending.stage()?;
        drop(writer);
        let seq = staged.apply(
            durability != Durability::Applied,
            durability == Durability::Searchable,
        )?;
        if durability == Durability::Searchable
            && let Some(seq) = seq
        {
            self.text.wait_for(seq)?;
        }
        Ok(out)
    }

    /// Shorthand for tests: checks and writes one envelope, searchable when it returns.
    #[cfg(feature = "test-utils")]
    pub fn put(&self, bytes: &[u8], now_ms: u64) -> Result<PutOutcome> {
        let checked = self.check(&[bytes.to_vec()], &[], now_ms);
        let mut out = self.write(checked, Durability::Searchable, IfBusy::Wait, |_| {})?;
        out.pop()
            .ok_or_else(|| StoreError::Corrupt("a write of one gave no outcome".into()))
    }

    /// Shorthand for tests: checks and writes envelopes, flushed when it returns.
    #[cfg(feature = "test-utils")]
    pub fn put_batch(&self, items: &[Vec<u8>], now_ms: u64) -> Result<Vec<PutOutcome>> {
        let checked = self.check(items, &[], now_ms);
        self.write(checked, Durability::Flushed, IfBusy::Wait, |_| {})
    }

    /// Drops the expired heads of publishers this node does not verify, with their
    /// history and secondary records (at most 10,000 a call), so that their quota
    /// counts only what is current and the disk holds no more than that. Expired heads
    /// of verified publishers stay (shown as expired); statements a key makes once (its
    /// rotation, its own revocation) and equivocation evidence always stay. Returns how
    /// many names it dropped.
    pub fn sweep_expired(&self, now_ms: u64) -> Result<usize> {
        let mut writer = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let mut pending = Pending::new(self, &mut writer)?;
        let mut dropped = 0;
        let end = key(prefix::EXPIRY, &[&now_ms.saturating_add(1).to_be_bytes()]);
        let due: Vec<IVec> = self
            .tree
            .range(key(prefix::EXPIRY, &[])..end)
            .keys()
            .take(10_000)
            .collect::<std::result::Result<_, _>>()?;
        for k in due {
            let (exp, pn) = (read_u64(&k[1..9.min(k.len())]), &k[9.min(k.len())..]);
            let rec = match pending.head(pn)? {
                Some(rec) if rec.expires_at_ms == exp && pn.len() > 32 => rec,
                _ => {
                    pending.del(k.to_vec());
                    continue;
                }
            };
            let pk = PublisherKey::from_stored(&pn[..32])
                .map_err(|_| StoreError::Corrupt("expiry key".into()))?;
            let name = String::from_utf8_lossy(&pn[32..]);
            if lgmesh_protocol::schema::is_terminal(pk.as_bytes(), &name)
                || pending.verified(&pk)?
            {
                // Kept, shown as expired; it has left the sync set already.
                pending.del(k.to_vec());
                continue;
            }
            pending.drop_name(pn, rec)?;
            dropped += 1;
        }
        let placed = pending.stage()?;
        drop(writer);
        placed.apply(true, false)?;
        Ok(dropped)
    }

    /// Derives the derived records again if they are of an older layout than this
    /// build writes.
    pub(super) fn derive_if_older(self) -> Result<Self> {
        if self.counter(COUNT_DERIVED)? != DERIVED_VERSION {
            self.rederive()?;
        }
        Ok(self)
    }

    /// Derives again, from the manifests, heads and evidence alone, every record that
    /// is derived from them: each publisher's usage (what its quota is measured
    /// against), the relations (org claims, endorsements, adoptions, revocations,
    /// rotations), the expiry index and the equivocation proofs. Done when a store of
    /// an older layout is opened; the result equals what the writes keep up to date.
    pub fn rederive(&self) -> Result<()> {
        let mut writer = self.write.lock().unwrap_or_else(|p| p.into_inner());
        for p in [
            prefix::USAGE,
            prefix::EXPIRY,
            prefix::PROOF,
            prefix::FLAG,
            prefix::ORG,
            prefix::ENDORSEMENT,
            prefix::ADOPTION,
            prefix::REVOCATION,
            prefix::ROTATION,
        ] {
            loop {
                let mut b = sled::Batch::default();
                let mut n = 0;
                for k in self.tree.scan_prefix([p]).keys().take(10_000) {
                    b.remove(k?);
                    n += 1;
                }
                if n == 0 {
                    break;
                }
                self.tree.apply_batch(b)?;
            }
        }
        let mut batch = sled::Batch::default();
        let mut pending_writes = 0;
        let flush = |b: &mut sled::Batch, n: &mut usize, force: bool| -> Result<()> {
            if *n >= 10_000 || (force && *n > 0) {
                self.tree.apply_batch(std::mem::take(b))?;
                *n = 0;
            }
            Ok(())
        };
        let mut usage: HashMap<PublisherKey, (u64, u64)> = HashMap::new();
        for kv in self.tree.scan_prefix([prefix::MANIFEST]) {
            let (k, v) = kv?;
            let Ok(id) = <[u8; 32]>::try_from(&k[1..]).map(ManifestId) else {
                continue;
            };
            let s = decode_stored(id, &v)?;
            let u = usage.entry(s.publisher).or_default();
            u.0 += 1;
            u.1 += v.len() as u64;
        }
        for (pk, (count, bytes)) in &usage {
            let mut v = count.to_be_bytes().to_vec();
            v.extend_from_slice(&bytes.to_be_bytes());
            batch.insert(key(prefix::USAGE, &[pk.as_bytes()]), v);
            pending_writes += 1;
            flush(&mut batch, &mut pending_writes, false)?;
        }
        for kv in self.tree.scan_prefix([prefix::HEAD]) {
            let (k, v) = kv?;
            let rec = HeadRecord::decode(&v)?;
            batch.insert(expiry_key(rec.expires_at_ms, &k[1..]), &[][..]);
            if let Some(s) = self.get(&rec.head.id)? {
                for (rk, rv, _) in relation_records(&s.publisher, &s.body, &s.id) {
                    batch.insert(rk, rv);
                }
            }
            pending_writes += 2;
            flush(&mut batch, &mut pending_writes, false)?;
        }
        for kv in self.tree.scan_prefix([prefix::EVIDENCE]) {
            let (_, v) = kv?;
            let ids: Vec<ManifestId> = v
                .chunks_exact(32)
                .filter_map(|c| c.try_into().ok().map(ManifestId))
                .collect();
            let stored: Vec<Stored> = ids
                .iter()
                .map(|id| self.get(id))
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .flatten()
                .collect();
            let Some(first) = stored.first() else {
                continue;
            };
            for other in &stored[1..] {
                let id = ManifestId::of_evidence(&first.id, &other.id);
                let rec = ProofRecord {
                    id,
                    a: first.id,
                    b: other.id,
                    issued_at_ms: first.body.issued_at_ms.max(other.body.issued_at_ms),
                };
                batch.insert(key(prefix::PROOF, &[id.as_bytes()]), &rec.encode()[..]);
                batch.insert(
                    key(prefix::FLAG, &[first.publisher.as_bytes(), id.as_bytes()]),
                    &[][..],
                );
            }
            for s in &stored {
                if lgmesh_protocol::schema::is_terminal(s.publisher.as_bytes(), &s.body.name) {
                    for (rk, rv, _) in relation_records(&s.publisher, &s.body, &s.id) {
                        batch.insert(rk, rv);
                    }
                }
            }
            pending_writes += 2;
            flush(&mut batch, &mut pending_writes, false)?;
        }
        batch.insert(
            key(prefix::COUNTER, &[COUNT_DERIVED]),
            &DERIVED_VERSION.to_be_bytes()[..],
        );
        pending_writes += 1;
        flush(&mut batch, &mut pending_writes, true)?;
        self.db.flush()?;
        // Nothing the writer cached may outlive this.
        *writer = Writer::default();
        if let Ok(mut sync) = self.sync.write() {
            *sync = SyncState::Unloaded;
        }
        self.trust_gen
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(())
    }
}

/// Checks signatures (the expensive part) in batches on every core, keeping input order.
fn verify_parallel(
    items: &[Vec<u8>],
    limits: &Limits,
    now_ms: u64,
) -> Vec<std::result::Result<VerifiedManifest, Rejection>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    if threads <= 1 || items.len() < 64 {
        return validate::verify_many(items, limits, now_ms);
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| {
                (
                    c.len(),
                    s.spawn(move || validate::verify_many(c, limits, now_ms)),
                )
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(n, h)| {
                h.join().unwrap_or_else(|_| {
                    (0..n)
                        .map(|_| Err(Rejection::new(Reason::Decode, "verification failed")))
                        .collect()
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lgmesh_protocol::envelope::UnsignedManifest;
    use lgmesh_protocol::identity::SecretKey;

    /// A write from a runtime thread never waits for another write: it gives the batch
    /// back, and the caller moves it to a blocking thread.
    #[test]
    fn a_write_that_will_not_wait_gives_its_batch_back_while_another_holds_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = Registry::open(dir.path(), Limits::default()).expect("open");
        let now = 1_790_000_000_000;
        let body = lgmesh_protocol::sample::service(
            "x",
            1,
            "Pothole reporting",
            "Report a pothole.",
            &[],
            &[],
            now,
        );
        let env = UnsignedManifest(body)
            .sign(&SecretKey::from_seed(&[3; 32]))
            .to_bytes();
        let placed = std::cell::Cell::new(false);
        let batch = {
            let _busy = reg.write.lock().expect("writer");
            let checked = reg.check(std::slice::from_ref(&env), &[], now);
            match reg.write(checked, Durability::Applied, IfBusy::GiveBack, |_| {
                placed.set(true)
            }) {
                Err(StoreError::Busy(batch)) => batch,
                other => panic!("the store was busy: {other:?}"),
            }
        };
        assert!(!placed.get(), "nothing was placed");
        assert_eq!(batch.manifests.len(), 1, "the batch came back whole");
        let out = reg
            .write(*batch, Durability::Applied, IfBusy::GiveBack, |_| {
                placed.set(true)
            })
            .expect("the store is free");
        assert!(matches!(out[..], [PutOutcome::Stored(_)]), "{out:?}");
        assert!(placed.get(), "the verdict was reported");
        assert_eq!(reg.counts().expect("counts").heads, 1);
    }
}
