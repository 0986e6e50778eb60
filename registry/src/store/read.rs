//! Reads: manifests by id or prefix, heads, history, equivocation evidence and the
//! counters, straight from sled (reads never wait for the write lock; a write in
//! progress is seen once it is applied).

use lgmesh_protocol::envelope::{ID_PREFIX_LEN, ManifestId};
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_protocol::validate::Head;
use prost::Message;
use sled::IVec;

use super::layout::{
    COUNT_HEADS, COUNT_MANIFESTS, HeadRecord, decode_stored, key, pn, prefix, read_u64,
    version_suffix,
};
use super::{Counts, Registry, Result, StoreError, Stored};

/// About the most envelope bytes one `History` page carries (within gRPC's 16 MiB).
const HISTORY_PAGE_BYTES: usize = 4 << 20;

impl Registry {
    pub(super) fn counter(&self, name: &[u8]) -> Result<u64> {
        Ok(self
            .tree
            .get(key(prefix::COUNTER, &[name]))?
            .map(|v| read_u64(&v))
            .unwrap_or(0))
    }

    pub(super) fn head_of_pn(&self, pn: &[u8]) -> Result<Option<Stored>> {
        match self.tree.get(key(prefix::HEAD, &[pn]))? {
            Some(v) => self.get(&HeadRecord::decode(&v)?.head.id),
            None => Ok(None),
        }
    }

    /// One manifest by id.
    pub fn get(&self, id: &ManifestId) -> Result<Option<Stored>> {
        let Some(bytes) = self.tree.get(key(prefix::MANIFEST, &[id.as_bytes()]))? else {
            return Ok(None);
        };
        decode_stored(*id, &bytes).map(Some)
    }

    /// The head record of `(publisher, name)`.
    pub fn head(&self, publisher: &PublisherKey, name: &str) -> Result<Option<Head>> {
        Ok(
            match self.tree.get(key(prefix::HEAD, &[&pn(publisher, name)]))? {
                Some(v) => Some(HeadRecord::decode(&v)?.head),
                None => None,
            },
        )
    }

    /// The head manifest of `(publisher, name)`: its highest version, or its tombstone.
    pub fn resolve(&self, publisher: &PublisherKey, name: &str) -> Result<Option<Stored>> {
        self.head_of_pn(&pn(publisher, name))
    }

    /// Every stored version of `(publisher, name)`, newest first: the head, then the
    /// heads it replaced (the history index holds those; stores written before
    /// 2026-11-30 hold the head there too).
    pub fn history(&self, publisher: &PublisherKey, name: &str) -> Result<Vec<Stored>> {
        Ok(self.history_page(publisher, name, None, usize::MAX)?.0)
    }

    /// One page of [`Registry::history`]: the versions older than `before` (all when
    /// none), newest first, at most `limit` and about 4 MiB of envelopes (at least one);
    /// and the version to pass as `before` for the next page, when there is more. Reads
    /// only what the page holds.
    pub fn history_page(
        &self,
        publisher: &PublisherKey,
        name: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Stored>, Option<u64>)> {
        let pn = pn(publisher, name);
        let mut p = key(prefix::HISTORY, &[&pn]);
        p.push(0);
        let end = match before {
            Some(v) => key(prefix::HISTORY, &[&version_suffix(&pn, v)]),
            None => key(prefix::HISTORY, &[&version_suffix(&pn, u64::MAX)]),
        };
        let mut out: Vec<Stored> = vec![];
        let head = self.head_of_pn(&pn)?;
        let head_id = head.as_ref().map(|h| h.id);
        if let Some(h) = head
            && before.is_none_or(|b| h.body.version < b)
        {
            out.push(h);
        }
        let limit = limit.max(1);
        // With no `before`, the history entry at u64::MAX (if any) is included too.
        let older = self.tree.range(p.clone()..end.clone()).rev();
        let at_max = match before {
            None => self
                .tree
                .get(&end)?
                .map(|v| (IVec::from(end.as_slice()), v)),
            Some(_) => None,
        };
        for kv in at_max.into_iter().map(Ok).chain(older) {
            let (k, id) = kv?;
            let version = read_u64(&k[k.len().saturating_sub(8)..]);
            let bytes: usize = out.iter().map(|m| m.envelope.encoded_len()).sum();
            if out.len() >= limit || (!out.is_empty() && bytes >= HISTORY_PAGE_BYTES) {
                return Ok((out, Some(version.saturating_add(1))));
            }
            let id = ManifestId(
                id.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("history id".into()))?,
            );
            if Some(id) != head_id {
                out.extend(self.get(&id)?);
            }
        }
        Ok((out, None))
    }

    /// Equivocation evidence for `(publisher, name)`: each version signed more than
    /// once, with the ids of the conflicting manifests.
    pub fn equivocations(
        &self,
        publisher: &PublisherKey,
        name: &str,
    ) -> Result<Vec<(u64, Vec<ManifestId>)>> {
        let mut p = key(prefix::EVIDENCE, &[&pn(publisher, name)]);
        p.push(0);
        let mut out = vec![];
        for kv in self.tree.scan_prefix(&p) {
            let (k, v) = kv?;
            let version = k
                .len()
                .checked_sub(8)
                .map(|i| read_u64(&k[i..]))
                .unwrap_or(0);
            let ids = v
                .chunks_exact(32)
                .filter_map(|c| c.try_into().ok().map(ManifestId))
                .collect();
            out.push((version, ids));
        }
        Ok(out)
    }

    /// Every head `publisher` has (its current manifests and tombstones), by name.
    pub fn heads_of(&self, publisher: &PublisherKey) -> Result<Vec<Stored>> {
        let mut out = vec![];
        for kv in self
            .tree
            .scan_prefix(key(prefix::HEAD, &[publisher.as_bytes()]))
        {
            let (_, v) = kv?;
            out.extend(self.get(&HeadRecord::decode(&v)?.head.id)?);
        }
        Ok(out)
    }

    /// Calls `f` with every head (current manifests and tombstones), in key order
    /// (publisher, then name), until it returns false. For summaries of the whole store
    /// (blocking: one read and decode per head).
    pub fn for_each_head(&self, mut f: impl FnMut(Stored) -> bool) -> Result<()> {
        for kv in self.tree.scan_prefix([prefix::HEAD]) {
            let (_, v) = kv?;
            if let Some(s) = self.get(&HeadRecord::decode(&v)?.head.id)?
                && !f(s)
            {
                break;
            }
        }
        Ok(())
    }

    /// Equivocation evidence across the store, at most `limit` entries: each
    /// `(publisher, name, version)` signed more than once, with the conflicting ids.
    pub fn all_equivocations(&self, limit: usize) -> Result<Vec<super::Equivocation>> {
        let mut out = vec![];
        for kv in self.tree.scan_prefix([prefix::EVIDENCE]) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = kv?;
            // `E | publisher (32) | name | 0 | version (8)`; a name never holds a 0.
            let Some(rest) = k.get(33..k.len().saturating_sub(9)) else {
                continue;
            };
            let (Ok(pk), Ok(name)) = (
                PublisherKey::from_stored(&k[1..33]),
                std::str::from_utf8(rest),
            ) else {
                continue;
            };
            let ids = v
                .chunks_exact(32)
                .filter_map(|c| c.try_into().ok().map(ManifestId))
                .collect();
            out.push(super::Equivocation {
                publisher: pk,
                name: name.to_owned(),
                version: read_u64(&k[k.len() - 8..]),
                ids,
            });
        }
        Ok(out)
    }

    /// Whether this node holds proof that `publisher` equivocated (signed two bodies of
    /// one version, or two of a statement it makes once).
    pub fn equivocated(&self, publisher: &PublisherKey) -> Result<bool> {
        Ok(self
            .tree
            .scan_prefix(key(prefix::FLAG, &[publisher.as_bytes()]))
            .next()
            .transpose()?
            .is_some())
    }

    /// The envelope bytes of a manifest exactly as received (for relaying), if stored.
    pub fn envelope_bytes(&self, id: &ManifestId) -> Result<Option<Vec<u8>>> {
        Ok(self
            .tree
            .get(key(prefix::MANIFEST, &[id.as_bytes()]))?
            .map(|v| v.to_vec()))
    }

    /// The envelope bytes of the manifest whose id starts with `id_prefix` (at least
    /// [`ID_PREFIX_LEN`] bytes, so two honest ids never share it; with several, the first). Sync fetches
    /// by these prefixes to halve the ids' bytes on the wire.
    pub fn envelope_bytes_by_prefix(&self, id_prefix: &[u8]) -> Result<Option<Vec<u8>>> {
        if id_prefix.len() < ID_PREFIX_LEN || id_prefix.len() > 32 {
            return Ok(None);
        }
        match self
            .tree
            .scan_prefix(key(prefix::MANIFEST, &[id_prefix]))
            .next()
        {
            Some(kv) => Ok(Some(kv?.1.to_vec())),
            None => Ok(None),
        }
    }

    /// Counters, read without scanning.
    pub fn counts(&self) -> Result<Counts> {
        Ok(Counts {
            manifests: self.counter(COUNT_MANIFESTS)?,
            heads: self.counter(COUNT_HEADS)?,
        })
    }
}
