//! Placing one batch under the write lock: every manifest against the heads (versions,
//! retraction, equivocation), the quota of its publisher, the secondary records it
//! carries (relations, expiry, proofs), and the writes all that stages.
//!
//! Quotas are facts about what is stored. Each publisher's usage counts the manifests
//! it has stored here, whatever their kind: heads, tombstones, kept history and
//! evidence. A write adds what it stores and takes off what it drops (a head replaced
//! while the publisher is not verified here; an expired head swept away), so usage goes
//! down as well as up, and [`Registry::rederive`] finds it again from the manifests.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use lgmesh_protocol::envelope::{ManifestId, VerifiedManifest};
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_protocol::schema::is_terminal;
use lgmesh_protocol::v1::{ManifestBody, manifest_body::Kind};
use lgmesh_protocol::validate::{self, Placement, Reason, Rejection};
use sled::IVec;

use super::layout::{
    COUNT_HEADS, COUNT_MANIFESTS, COUNT_SEQ, HeadRecord, ProofRecord, adoption_key, decode_stored,
    expiry_key, key, pn, prefix, read_u64, version_suffix,
};
use super::relations::relation_records;
use super::sync::SyncItem;
use super::write::{KnownHeads, Placed, Writer};
use super::{PutOutcome, Quota, Registry, Result, StoreError};
use crate::staging::{Base, Staged, Writes};
use crate::trust::{TrustView, Verification};

/// Evidence kept for one version of a name: the head and one body that contradicts it,
/// which is all a proof needs.
const MAX_EVIDENCE_PER_VERSION: usize = 2;
/// Bodies kept under a terminal name (a key rotation, a key's revocation of itself):
/// every one after the first is evidence against the key.
const MAX_TERMINAL_BODIES: usize = 4;

/// A change the text index must hear of.
pub(super) enum IndexChange {
    /// A new head, and whether its name had no head before (then the index holds no
    /// document to replace).
    Head(Box<VerifiedManifest>, bool),
    /// The name (`publisher | name`) has no head any more.
    Gone(Vec<u8>),
}

/// The writes of one batch, with an overlay so later manifests in the batch see the
/// heads, counters and usage earlier ones set.
pub(super) struct Pending<'r, 'w> {
    pub(super) reg: &'r Registry,
    known: &'w mut KnownHeads,
    committed: &'w mut HashMap<&'static [u8], u64>,
    /// The batches placed before this one and not yet in sled.
    base: Base,
    writes: Writes,
    heads: HashMap<Vec<u8>, Option<HeadRecord>>,
    counters: HashMap<&'static [u8], u64>,
    indexed: Vec<IndexChange>,
    /// Manifests this batch stores.
    manifests: HashSet<ManifestId>,
    /// Sync-set changes, applied in memory once the batch is in sled.
    sync_in: Vec<SyncItem>,
    sync_out: Vec<SyncItem>,
    /// An input of the trust judgement changed: it must be redone.
    trust_changed: bool,
    /// The judgement this batch places under, fetched at the first need.
    trust: Option<Arc<TrustView>>,
    quota: Quota,
    /// Usage of every publisher this batch touched, as it will be: (manifests, bytes).
    usage: HashMap<PublisherKey, (u64, u64)>,
    /// The change this batch makes to the bytes of unverified publishers together.
    pool: i64,
}

impl<'r, 'w> Pending<'r, 'w> {
    /// Starts a batch; `writer` is the write lock's content, held for as long as this.
    pub(super) fn new(reg: &'r Registry, writer: &'w mut Writer) -> Result<Self> {
        let base = reg.staging.begin();
        if base.reload {
            *writer = Writer::default();
        }
        let Writer { known, counters } = writer;
        let known = match known {
            Some(k) => k,
            empty => empty.insert(KnownHeads::load(&reg.tree)?),
        };
        Ok(Self {
            reg,
            known,
            committed: counters,
            base,
            writes: Writes::new(),
            heads: HashMap::new(),
            counters: HashMap::new(),
            indexed: vec![],
            manifests: HashSet::new(),
            sync_in: vec![],
            sync_out: vec![],
            trust_changed: false,
            trust: None,
            quota: *reg.quota.lock().unwrap_or_else(|p| p.into_inner()),
            usage: HashMap::new(),
            pool: 0,
        })
    }

    /// A key as it will be once this batch, and those before it, are applied.
    pub(super) fn read(&self, k: &[u8]) -> Result<Option<IVec>> {
        if let Some(v) = self.writes.get(k) {
            return Ok(v.clone());
        }
        match self.base.read(k) {
            Some(v) => Ok(v),
            None => Ok(self.reg.tree.get(k)?),
        }
    }

    fn put(&mut self, k: Vec<u8>, v: impl Into<IVec>) {
        self.writes.insert(k.into(), Some(v.into()));
    }

    pub(super) fn del(&mut self, k: Vec<u8>) {
        self.writes.insert(k.into(), None);
    }

    pub(super) fn head(&mut self, pn: &[u8]) -> Result<Option<HeadRecord>> {
        if let Some(h) = self.heads.get(pn) {
            return Ok(*h);
        }
        if !self.known.may_have(pn) {
            return Ok(None);
        }
        let h = match self.read(&key(prefix::HEAD, &[pn]))? {
            Some(v) => Some(HeadRecord::decode(&v)?),
            None => None,
        };
        self.heads.insert(pn.to_vec(), h);
        Ok(h)
    }

    fn counter(&mut self, name: &'static [u8]) -> Result<&mut u64> {
        if !self.counters.contains_key(name) {
            let v = match self.committed.get(name) {
                Some(v) => *v,
                None => read_u64(
                    &self
                        .read(&key(prefix::COUNTER, &[name]))?
                        .unwrap_or_default(),
                ),
            };
            self.counters.insert(name, v);
        }
        Ok(self.counters.entry(name).or_insert(0))
    }

    /// The trust judgement this batch places under (fetched once, cached).
    fn trust(&mut self) -> Result<Arc<TrustView>> {
        Ok(match &self.trust {
            Some(t) => t.clone(),
            None => self.trust.insert(self.reg.trust()?).clone(),
        })
    }

    /// Whether this node verifies `pk`: its manifests are not held to a quota, and its
    /// replaced versions are kept as history.
    pub(super) fn verified(&mut self, pk: &PublisherKey) -> Result<bool> {
        let t = self.trust()?;
        // A key retired after it was verified: only what its retirement names is taken
        // from it, and that is placed as a verified key's.
        Ok(t.of(pk) == Verification::Verified
            || t.get(pk)
                .and_then(|t| t.retired.as_ref())
                .is_some_and(|r| r.was_verified && !r.revoked))
    }

    /// What `pk` has stored here, as it will be after this batch.
    fn usage_of(&mut self, pk: &PublisherKey) -> Result<(u64, u64)> {
        if let Some(u) = self.usage.get(pk) {
            return Ok(*u);
        }
        let u = match self.read(&key(prefix::USAGE, &[pk.as_bytes()]))? {
            Some(v) if v.len() == 16 => (read_u64(&v[..8]), read_u64(&v[8..])),
            _ => (0, 0),
        };
        self.usage.insert(*pk, u);
        Ok(u)
    }

    /// Whether storing `add` manifests of `add_bytes` in all, while dropping `drop`
    /// of `drop_bytes`, would take `pk` over its quota (or every unverified publisher
    /// together over theirs): the rejection if so. Publishers this node verifies have no
    /// quota. Changes nothing.
    fn over_quota(
        &mut self,
        pk: &PublisherKey,
        (add, add_bytes): (u64, u64),
        (drop, drop_bytes): (u64, u64),
    ) -> Result<Option<Rejection>> {
        if self.verified(pk)? {
            return Ok(None);
        }
        let (count, bytes) = self.usage_of(pk)?;
        let q = self.quota;
        let total = self
            .reg
            .unverified_bytes
            .load(std::sync::atomic::Ordering::Acquire)
            .saturating_add_signed(self.pool);
        let grows = add_bytes.saturating_sub(drop_bytes);
        let over = if (count + add).saturating_sub(drop) > q.max_manifests && add > drop {
            Some(format!("{} manifests", q.max_manifests))
        } else if (bytes + add_bytes).saturating_sub(drop_bytes) > q.max_bytes && grows > 0 {
            Some(format!("{} bytes", q.max_bytes))
        } else if total + grows > q.max_total_bytes && grows > 0 {
            Some(format!(
                "{} bytes for all unverified publishers together",
                q.max_total_bytes
            ))
        } else {
            None
        };
        Ok(over.map(|what| {
            Rejection::new(
                Reason::Quota,
                format!(
                    "publisher: {pk} is not verified on this node and has used its quota of {what}"
                ),
            )
        }))
    }

    /// Adds one manifest of `size` bytes to `pk`'s usage (its quota checked already).
    fn charge(&mut self, pk: &PublisherKey, size: u64) -> Result<()> {
        let (count, bytes) = self.usage_of(pk)?;
        if !self.verified(pk)? {
            self.pool = self.pool.saturating_add_unsigned(size);
        }
        self.usage.insert(*pk, (count + 1, bytes + size));
        Ok(())
    }

    /// Charges one manifest of `size` bytes to `pk`, unless that goes over its quota:
    /// then the rejection, and nothing is charged.
    fn try_charge(&mut self, pk: &PublisherKey, size: u64) -> Result<Option<Rejection>> {
        if let Some(r) = self.over_quota(pk, (1, size), (0, 0))? {
            return Ok(Some(r));
        }
        self.charge(pk, size)?;
        Ok(None)
    }

    /// Takes one manifest of `size` bytes off `pk`'s usage.
    fn free(&mut self, pk: &PublisherKey, size: u64) -> Result<()> {
        let (count, bytes) = self.usage_of(pk)?;
        if !self.verified(pk)? {
            self.pool = self.pool.saturating_sub_unsigned(size);
        }
        self.usage
            .insert(*pk, (count.saturating_sub(1), bytes.saturating_sub(size)));
        Ok(())
    }

    /// Stores `m`'s envelope (already charged).
    fn store_manifest(&mut self, m: &VerifiedManifest, envelope: Vec<u8>) -> Result<()> {
        self.put(key(prefix::MANIFEST, &[m.id().as_bytes()]), envelope);
        self.manifests.insert(m.id());
        *self.counter(COUNT_MANIFESTS)? += 1;
        Ok(())
    }

    /// The bytes the manifest `id` takes in the store (0 when it is not there).
    fn stored_len(&self, id: &ManifestId) -> Result<u64> {
        Ok(self
            .read(&key(prefix::MANIFEST, &[id.as_bytes()]))?
            .map_or(0, |v| v.len() as u64))
    }

    /// Deletes the manifest `id` of `pk`, and its cost.
    fn drop_manifest(&mut self, id: &ManifestId, pk: &PublisherKey) -> Result<()> {
        let k = key(prefix::MANIFEST, &[id.as_bytes()]);
        let Some(v) = self.read(&k)? else {
            return Ok(());
        };
        self.free(pk, v.len() as u64)?;
        self.del(k);
        self.manifests.remove(id);
        let n = self.counter(COUNT_MANIFESTS)?;
        *n = n.saturating_sub(1);
        Ok(())
    }

    /// The evidence record of `version` of the name `pn` (0 for a terminal name).
    fn evidence_key(pn: &[u8], version: u64) -> Vec<u8> {
        key(prefix::EVIDENCE, &[&version_suffix(pn, version)])
    }

    /// Whether `id` is part of the evidence kept for `version` of the name `pn`.
    fn is_evidence(&self, pn: &[u8], version: u64, id: &ManifestId) -> Result<bool> {
        let terminal = self.read(&Self::evidence_key(pn, 0))?;
        let kept = self.read(&Self::evidence_key(pn, version))?;
        Ok([terminal, kept]
            .iter()
            .flatten()
            .any(|ids| ids.chunks(32).any(|c| c == id.as_bytes())))
    }

    /// The body of a manifest stored earlier or staged in this batch.
    fn body_of(&self, id: &ManifestId) -> Result<Option<ManifestBody>> {
        for c in &self.indexed {
            if let IndexChange::Head(m, _) = c
                && m.id() == *id
            {
                return Ok(Some(m.body().clone()));
            }
        }
        match self.read(&key(prefix::MANIFEST, &[id.as_bytes()]))? {
            Some(v) => Ok(Some(decode_stored(*id, &v)?.body)),
            None => Ok(None),
        }
    }

    /// Stages the secondary records a manifest carries (an org claim, an endorsement,
    /// an adoption, a revocation, a key rotation).
    fn index_relation(&mut self, m: &VerifiedManifest) {
        for (k, v, trust) in relation_records(m.publisher(), m.body(), &m.id()) {
            self.put(k, v);
            self.trust_changed |= trust;
        }
    }

    /// Removes the secondary records of a head that is being replaced or dropped (an
    /// endorsement or adoption withdrawn or changed, an org card swept away).
    fn unindex_relation(&mut self, old: &ManifestId) -> Result<()> {
        let Some(b) = self.body_of(old)? else {
            return Ok(());
        };
        let Ok(publisher) = PublisherKey::from_bytes(&b.publisher) else {
            return Ok(());
        };
        match &b.kind {
            Some(Kind::Org(_)) => {
                self.del(key(prefix::ORG, &[publisher.as_bytes()]));
                self.trust_changed = true;
            }
            Some(Kind::Endorsement(e)) => {
                self.del(key(
                    prefix::ENDORSEMENT,
                    &[&e.subject, publisher.as_bytes()],
                ));
                self.trust_changed = true;
            }
            Some(Kind::Adoption(a)) => {
                self.del(adoption_key(&a.publisher, &a.name, &publisher));
            }
            // Another organisation may withdraw its revocation; a key's own revocation
            // cannot be undone (whoever holds the key now may be the thief).
            Some(Kind::Revocation(r)) if r.subject != publisher.as_bytes() => {
                self.del(key(
                    prefix::REVOCATION,
                    &[&r.subject, publisher.as_bytes(), old.as_bytes()],
                ));
                self.trust_changed = true;
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn has_manifest(&self, id: &ManifestId) -> Result<bool> {
        Ok(self.manifests.contains(id)
            || self
                .read(&key(prefix::MANIFEST, &[id.as_bytes()]))?
                .is_some())
    }

    /// Places one verified manifest and stages its writes.
    pub(super) fn add(&mut self, m: VerifiedManifest) -> Result<PutOutcome> {
        let pk = *m.publisher();
        // A retired key (rotated away from, or revoked) signs nothing new: of what it
        // signed, only what its rotation or revocation names stands, whatever time it
        // claims. Its own statements of retirement are placed still, so that a second
        // one is seen (equivocation).
        if !is_terminal(pk.as_bytes(), m.name())
            && let Some(valid) = self.trust()?.retired(&pk)
            && !valid.contains(&m.id())
        {
            return Ok(PutOutcome::Rejected(Rejection::new(
                Reason::Revoked,
                format!(
                    "publisher: {pk} was rotated away from or revoked, and this manifest is not among those its rotation or revocation names"
                ),
            )));
        }
        let pn = pn(&pk, m.name());
        let old = self.head(&pn)?;
        // A statement a key makes once (its rotation, its own revocation): any other
        // body under the name contradicts the first, whatever its version.
        if is_terminal(pk.as_bytes(), m.name())
            && let Some(h) = old
            && h.head.id != m.id()
        {
            let r = Rejection::new(
                Reason::Equivocation,
                format!(
                    "name: {:?} is a statement a key makes once; {} already made it ({})",
                    m.name(),
                    pk,
                    h.head.id.fmt_short()
                ),
            );
            return self.equivocation(m, &pn, h, r);
        }
        match validate::place(&m, old.as_ref().map(|h| &h.head)) {
            Ok(Placement::Duplicate) => Ok(PutOutcome::Duplicate(m.id())),
            Ok(Placement::NewHead) => {
                let id = m.id();
                // Kept already as evidence: stored and paid for. Only a name with a
                // head, or a publisher with a proof against it, can have evidence: a
                // new name (a catch-up's common case) reads nothing more.
                let evidence = (old.is_some() || self.known.flagged.contains(&pk))
                    && self.has_manifest(&id)?;
                let envelope = (!evidence).then(|| m.signed().to_bytes());
                let size = envelope.as_ref().map_or(0, |e| e.len() as u64);
                let new = (u64::from(envelope.is_some()), size);
                // The head it replaces joins the history of a publisher this node
                // verifies (a new node catching up writes none), and so does what a
                // tombstone withdraws while there is room for both (watchers and
                // `history` say what went); otherwise it goes, and its cost with it,
                // unless it is evidence.
                let keep_old = match old {
                    None => false,
                    Some(o) => {
                        self.verified(&pk)?
                            || self.is_evidence(&pn, o.head.version, &o.head.id)?
                            || (m.is_retraction() && self.over_quota(&pk, new, (0, 0))?.is_none())
                    }
                };
                let freed = match old {
                    Some(o) if !keep_old => (1, self.stored_len(&o.head.id)?),
                    _ => (0, 0),
                };
                if let Some(r) = self.over_quota(&pk, new, freed)? {
                    return Ok(PutOutcome::Rejected(r));
                }
                if let Some(envelope) = envelope {
                    self.charge(&pk, size)?;
                    self.store_manifest(&m, envelope)?;
                }
                let rec = HeadRecord::of(&m);
                if let Some(old) = old {
                    // Before the new one: both may expire at the same time.
                    self.del(expiry_key(old.expires_at_ms, &pn));
                }
                self.put(key(prefix::HEAD, &[&pn]), &rec.encode()[..]);
                self.put(expiry_key(rec.expires_at_ms, &pn), &[][..]);
                if let Some(old) = old {
                    self.sync_out.push(old.sync_item());
                    // Only endorsements, adoptions and revocations carry records to
                    // undo, and their names say so: a plain update reads nothing more.
                    if m.name().starts_with("endorse-")
                        || m.name().starts_with("adopt-")
                        || m.name().starts_with("revoke-")
                    {
                        self.unindex_relation(&old.head.id)?;
                    }
                    if keep_old {
                        self.put(
                            key(prefix::HISTORY, &[&version_suffix(&pn, old.head.version)]),
                            &old.head.id.as_bytes()[..],
                        );
                    } else {
                        self.drop_manifest(&old.head.id, &pk)?;
                    }
                } else {
                    *self.counter(COUNT_HEADS)? += 1;
                }
                self.sync_in.push(rec.sync_item());
                self.index_relation(&m);
                self.heads.insert(pn, Some(rec));
                self.indexed
                    .push(IndexChange::Head(Box::new(m), old.is_none()));
                Ok(PutOutcome::Stored(id))
            }
            Err(r) if r.reason == Reason::Equivocation => match old {
                Some(h) => self.equivocation(m, &pn, h, r),
                None => Ok(PutOutcome::Rejected(r)),
            },
            Err(r) => Ok(PutOutcome::Rejected(r)),
        }
    }

    /// Keeps `m`, which contradicts the head `head` of its name, as evidence (within
    /// bounds and the publisher's quota), with a proof pairing the two; the head does
    /// not change. Returns the rejection `r` either way.
    fn equivocation(
        &mut self,
        m: VerifiedManifest,
        pn: &[u8],
        head: HeadRecord,
        r: Rejection,
    ) -> Result<PutOutcome> {
        let pk = *m.publisher();
        let terminal = is_terminal(pk.as_bytes(), m.name());
        let (version, max) = if terminal {
            (0, MAX_TERMINAL_BODIES)
        } else {
            (m.version(), MAX_EVIDENCE_PER_VERSION)
        };
        let ek = Self::evidence_key(pn, version);
        let mut ids = self.read(&ek)?.map(|v| v.to_vec()).unwrap_or_default();
        if !ids.chunks(32).any(|c| c == head.head.id.as_bytes()) {
            ids.splice(0..0, head.head.id.as_bytes().iter().copied());
        }
        if ids.chunks(32).any(|c| c == m.id().as_bytes()) || ids.len() / 32 >= max {
            // Known already, or enough evidence kept: nothing more is stored.
            return Ok(PutOutcome::Rejected(r));
        }
        if !self.has_manifest(&m.id())? {
            // Evidence costs the equivocating publisher its quota too; past it, the
            // rejection stands and nothing is kept.
            let envelope = m.signed().to_bytes();
            if self.try_charge(&pk, envelope.len() as u64)?.is_some() {
                return Ok(PutOutcome::Rejected(r));
            }
            self.store_manifest(&m, envelope)?;
        }
        ids.extend_from_slice(m.id().as_bytes());
        self.put(ek, ids);
        let issued = head.issued_at_ms.max(m.body().issued_at_ms);
        self.add_proof(&pk, head.head.id, m.id(), issued);
        if terminal {
            // Every rotation and self-revocation a key signed counts in its judgement.
            self.index_relation(&m);
        }
        Ok(PutOutcome::Rejected(r))
    }

    /// Records the proof that `a` and `b`, both by `pk`, contradict each other.
    fn add_proof(&mut self, pk: &PublisherKey, a: ManifestId, b: ManifestId, issued_at_ms: u64) {
        let id = ManifestId::of_evidence(&a, &b);
        let rec = ProofRecord {
            id,
            a,
            b,
            issued_at_ms,
        };
        self.put(key(prefix::PROOF, &[id.as_bytes()]), &rec.encode()[..]);
        self.put(key(prefix::FLAG, &[pk.as_bytes(), id.as_bytes()]), &[][..]);
        self.known.flagged.insert(*pk);
        self.sync_in.push((issued_at_ms, id, u64::MAX));
    }

    /// Places a proof received from a peer: two verified manifests of one publisher
    /// that contradict each other. Both are kept as evidence (charged to their
    /// publisher), whatever the heads are; neither becomes a head.
    pub(super) fn add_proof_of(
        &mut self,
        a: VerifiedManifest,
        b: VerifiedManifest,
    ) -> Result<PutOutcome> {
        let pk = *a.publisher();
        let contradict = pk == *b.publisher()
            && a.id() != b.id()
            && a.name() == b.name()
            && (a.version() == b.version() || is_terminal(pk.as_bytes(), a.name()));
        if !contradict {
            return Ok(PutOutcome::Rejected(Rejection::new(
                Reason::Schema,
                "evidence: not two bodies of one publisher's name and version",
            )));
        }
        let id = ManifestId::of_evidence(&a.id(), &b.id());
        if self.read(&key(prefix::PROOF, &[id.as_bytes()]))?.is_some() {
            return Ok(PutOutcome::Duplicate(id));
        }
        let terminal = is_terminal(pk.as_bytes(), a.name());
        let (version, max) = if terminal {
            (0, MAX_TERMINAL_BODIES)
        } else {
            (a.version(), MAX_EVIDENCE_PER_VERSION)
        };
        let pn = pn(&pk, a.name());
        let ek = Self::evidence_key(&pn, version);
        let mut ids = self.read(&ek)?.map(|v| v.to_vec()).unwrap_or_default();
        let new: Vec<&VerifiedManifest> = [&a, &b]
            .into_iter()
            .filter(|m| !ids.chunks(32).any(|c| c == m.id().as_bytes()))
            .collect();
        if ids.len() / 32 + new.len() > max {
            // This node holds enough evidence against the name already.
            return Ok(PutOutcome::Duplicate(id));
        }
        let mut envelopes = vec![];
        for m in &new {
            if !self.has_manifest(&m.id())? {
                envelopes.push((*m, m.signed().to_bytes()));
            }
        }
        let size: u64 = envelopes.iter().map(|(_, e)| e.len() as u64).sum();
        if let Some(r) = self.over_quota(&pk, (envelopes.len() as u64, size), (0, 0))? {
            return Ok(PutOutcome::Rejected(r));
        }
        for (m, e) in envelopes {
            self.charge(&pk, e.len() as u64)?;
            self.store_manifest(m, e)?;
        }
        for m in &new {
            ids.extend_from_slice(m.id().as_bytes());
        }
        self.put(ek, ids);
        let issued = a.body().issued_at_ms.max(b.body().issued_at_ms);
        self.add_proof(&pk, a.id(), b.id(), issued);
        if terminal {
            self.index_relation(&a);
            self.index_relation(&b);
        }
        Ok(PutOutcome::Stored(id))
    }

    /// Drops the name `pn` whose head `rec` has expired: the head, its history and its
    /// secondary records, and their cost; evidence stays.
    pub(super) fn drop_name(&mut self, pn: &[u8], rec: HeadRecord) -> Result<()> {
        let pk = PublisherKey::from_bytes(&pn[..32.min(pn.len())])
            .map_err(|_| StoreError::Corrupt("head key".into()))?;
        self.del(key(prefix::HEAD, &[pn]));
        self.del(expiry_key(rec.expires_at_ms, pn));
        self.sync_out.push(rec.sync_item());
        let n = self.counter(COUNT_HEADS)?;
        *n = n.saturating_sub(1);
        self.unindex_relation(&rec.head.id)?;
        if !self.is_evidence(pn, rec.head.version, &rec.head.id)? {
            self.drop_manifest(&rec.head.id, &pk)?;
        }
        let mut hp = key(prefix::HISTORY, &[pn]);
        hp.push(0);
        let history: Vec<(IVec, IVec)> = self
            .reg
            .tree
            .scan_prefix(&hp)
            .collect::<std::result::Result<_, _>>()?;
        for (k, v) in history {
            let version = read_u64(&k[k.len().saturating_sub(8)..]);
            self.del(k.to_vec());
            if let Ok(id) = <[u8; 32]>::try_from(v.as_ref()).map(ManifestId)
                && !self.is_evidence(pn, version, &id)?
            {
                self.drop_manifest(&id, &pk)?;
            }
        }
        self.heads.insert(pn.to_vec(), None);
        self.indexed.push(IndexChange::Gone(pn.to_vec()));
        Ok(())
    }

    /// Queues the placed batch (with its change-log entry and counters) to be applied
    /// after the batches placed before it, and counts it in the writer's caches, so
    /// that the next placement, which may start at once, sees it.
    pub(super) fn stage(mut self) -> Result<Placed<'r>> {
        // Nothing stored: only its turn is queued, so that its outcomes (a duplicate
        // of a batch still being applied, say) are not reported before those.
        let empty = self.writes.is_empty();
        if empty {
            self.counters.clear();
            self.usage.clear();
            self.pool = 0;
        }
        let seq = if self.indexed.is_empty() {
            None
        } else {
            let seq = {
                let s = self.counter(COUNT_SEQ)?;
                *s += 1;
                *s
            };
            let mut log = Vec::new();
            for c in &self.indexed {
                let k = match c {
                    IndexChange::Head(m, _) => pn(m.publisher(), m.name()),
                    IndexChange::Gone(pn) => pn.clone(),
                };
                log.push(
                    u8::try_from(k.len())
                        .map_err(|_| StoreError::Corrupt("name too long".into()))?,
                );
                log.extend_from_slice(&k);
            }
            if self.reg.text.is_enabled() {
                self.put(key(prefix::LOG, &[&seq.to_be_bytes()]), log);
            }
            Some(seq)
        };
        let counters: Vec<_> = self.counters.iter().map(|(k, v)| (*k, *v)).collect();
        for (name, v) in &counters {
            self.put(key(prefix::COUNTER, &[name]), &v.to_be_bytes()[..]);
        }
        let usage: Vec<_> = self.usage.iter().map(|(k, v)| (*k, *v)).collect();
        for (pk, (count, bytes)) in usage {
            let k = key(prefix::USAGE, &[pk.as_bytes()]);
            if count == 0 && bytes == 0 {
                self.del(k);
            } else {
                let mut v = count.to_be_bytes().to_vec();
                v.extend_from_slice(&bytes.to_be_bytes());
                self.put(k, v);
            }
        }
        for (pn, h) in &self.heads {
            if h.is_some() {
                self.known.insert(pn);
            }
        }
        self.committed.extend(counters);
        let pool = self.pool;
        let _ = self.reg.unverified_bytes.fetch_update(
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Acquire,
            |b| Some(b.saturating_add_signed(pool)),
        );
        let docs = match seq {
            Some(_) => self
                .indexed
                .iter()
                .map(|c| match c {
                    IndexChange::Head(m, new_name) => {
                        crate::search::Doc::of(m.publisher(), m.body(), &m.id())
                            .with_new_name(*new_name)
                    }
                    IndexChange::Gone(pn) => crate::search::Doc::gone(pn),
                })
                .collect(),
            None => vec![],
        };
        let mut batch = sled::Batch::default();
        for (k, v) in &self.writes {
            match v {
                Some(v) => batch.insert(k.clone(), v.clone()),
                None => batch.remove(k.clone()),
            }
        }
        let staged = Staged {
            writes: self.writes,
            trust_changed: self.trust_changed,
        };
        let ticket = self
            .reg
            .staging
            .stage(staged, &self.base)
            .map_err(|_| StoreError::Aborted)?;
        Ok(Placed {
            reg: self.reg,
            ticket,
            batch: (!empty).then_some(batch),
            sync_in: self.sync_in,
            sync_out: self.sync_out,
            trust_changed: self.trust_changed,
            docs,
            seq,
        })
    }
}
