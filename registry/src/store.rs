//! The sled store: manifests, heads, history, tombstones, equivocation evidence, the
//! live-head sync set, secondary indexes and the text index.
//!
//! Every write is one sled transaction across the trees it touches, and [`Registry::put`]
//! flushes before it returns, so an acknowledged manifest survives `kill -9`. Opening
//! reads nothing but two counters: start-up does not scan the manifests.

use std::path::Path;
use std::sync::Mutex;

use lgmesh_protocol::envelope::{ManifestId, VerifiedManifest};
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_protocol::v1::{Envelope, ManifestBody, manifest_body::Kind};
use lgmesh_protocol::validate::{self, Head, Limits, Placement, Rejection, Verdict};
use prost::Message;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::text::Analyzer;

/// Tree names. Versioned: a new layout gets new names.
mod trees {
    pub const MANIFESTS: &str = "manifests-v1";
    pub const HEADS: &str = "heads-v1";
    pub const HISTORY: &str = "history-v1";
    pub const SYNC: &str = "sync-v1";
    pub const EVIDENCE: &str = "evidence-v1";
    pub const INDEX: &str = "index-v1";
    pub const TERMS: &str = "terms-v1";
    pub const ORGS: &str = "orgs-v1";
    pub const META: &str = "meta-v1";
}

const META_MANIFESTS: &[u8] = b"manifests";
const META_HEADS: &[u8] = b"heads";
const META_DOCS: &[u8] = b"docs";
const META_DOC_LEN: &[u8] = b"doc-len";

/// A storage failure (disk, corruption). Not a validation outcome: those are values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// sled reported an error.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// Bytes on disk do not decode: the store is damaged.
    #[error("store: corrupt record in {tree}: {detail}")]
    Corrupt {
        /// Which tree.
        tree: &'static str,
        /// What was wrong.
        detail: String,
    },
}

type Result<T> = std::result::Result<T, StoreError>;

/// What happened to a manifest offered to the store.
#[derive(Debug, Clone)]
pub enum PutOutcome {
    /// Stored; it is now the head of its `(publisher, name)`.
    Stored(ManifestId),
    /// Already stored (same id).
    Duplicate(ManifestId),
    /// Refused, with the reason. Nothing was stored, except that an equivocating
    /// manifest is kept as evidence.
    Rejected(Rejection),
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

/// Counters kept with the data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Manifests stored (every version and evidence).
    pub manifests: u64,
    /// Heads (one per `(publisher, name)`).
    pub heads: u64,
}

/// The registry: a handle on the sled database. Cheap to share behind an `Arc`.
pub struct Registry {
    db: sled::Db,
    manifests: sled::Tree,
    heads: sled::Tree,
    history: sled::Tree,
    sync: sled::Tree,
    evidence: sled::Tree,
    pub(crate) index: sled::Tree,
    pub(crate) terms: sled::Tree,
    orgs: sled::Tree,
    pub(crate) meta: sled::Tree,
    limits: Limits,
    pub(crate) analyzer: Analyzer,
    /// One writer at a time: validation against the head and the write must not interleave.
    write: Mutex<()>,
}

/// `publisher || name`: the key of a head.
pub(crate) fn pn_key(publisher: &PublisherKey, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(32 + name.len());
    k.extend_from_slice(publisher.as_bytes());
    k.extend_from_slice(name.as_bytes());
    k
}

fn version_key(publisher: &PublisherKey, name: &str, version: u64) -> Vec<u8> {
    let mut k = pn_key(publisher, name);
    k.push(0);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

fn sync_key(issued_at_ms: u64, id: &ManifestId) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&issued_at_ms.to_be_bytes());
    k[8..].copy_from_slice(id.as_bytes());
    k
}

/// A head record: id (32) | version (8) | retracted (1) | issued_at (8) | expires_at (8).
fn encode_head(m: &VerifiedManifest) -> Vec<u8> {
    let mut v = Vec::with_capacity(57);
    v.extend_from_slice(m.id().as_bytes());
    v.extend_from_slice(&m.version().to_be_bytes());
    v.push(u8::from(m.is_retraction()));
    v.extend_from_slice(&m.body().issued_at_ms.to_be_bytes());
    v.extend_from_slice(&m.body().expires_at_ms.to_be_bytes());
    v
}

/// A decoded head record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadRecord {
    pub head: Head,
    pub issued_at_ms: u64,
}

fn decode_head(v: &[u8]) -> Result<HeadRecord> {
    let corrupt = || StoreError::Corrupt {
        tree: trees::HEADS,
        detail: format!("{} bytes", v.len()),
    };
    if v.len() != 57 {
        return Err(corrupt());
    }
    let id = ManifestId(v[..32].try_into().map_err(|_| corrupt())?);
    let version = u64::from_be_bytes(v[32..40].try_into().map_err(|_| corrupt())?);
    let issued_at_ms = u64::from_be_bytes(v[41..49].try_into().map_err(|_| corrupt())?);
    Ok(HeadRecord {
        head: Head {
            id,
            version,
            retracted: v[40] == 1,
        },
        issued_at_ms,
    })
}

fn add_counter(
    tree: &TransactionalTree,
    key: &[u8],
    delta: i64,
) -> std::result::Result<(), ConflictableTransactionError<StoreError>> {
    let cur = tree.get(key)?.map(|v| read_u64(&v)).unwrap_or(0);
    let next = cur.saturating_add_signed(delta);
    tree.insert(key, &next.to_be_bytes())?;
    Ok(())
}

pub(crate) fn read_u64(v: &[u8]) -> u64 {
    v.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

impl Registry {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path, limits: Limits) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(8 * 1024 * 1024)
            .open()?;
        Ok(Self {
            manifests: db.open_tree(trees::MANIFESTS)?,
            heads: db.open_tree(trees::HEADS)?,
            history: db.open_tree(trees::HISTORY)?,
            sync: db.open_tree(trees::SYNC)?,
            evidence: db.open_tree(trees::EVIDENCE)?,
            index: db.open_tree(trees::INDEX)?,
            terms: db.open_tree(trees::TERMS)?,
            orgs: db.open_tree(trees::ORGS)?,
            meta: db.open_tree(trees::META)?,
            db,
            limits,
            analyzer: Analyzer::default(),
            write: Mutex::new(()),
        })
    }

    /// The validation limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Validates and stores envelope bytes, and flushes to disk before returning.
    pub fn put(&self, bytes: &[u8], now_ms: u64) -> Result<PutOutcome> {
        let out = self.put_unflushed(bytes, now_ms)?;
        if matches!(out, PutOutcome::Stored(_)) || is_equivocation(&out) {
            self.db.flush()?;
        }
        Ok(out)
    }

    /// Validates and stores many envelopes, flushing once at the end. Each outcome is
    /// that of [`Registry::put`] in order; none is durable before this returns.
    pub fn put_batch(&self, items: &[Vec<u8>], now_ms: u64) -> Result<Vec<PutOutcome>> {
        let mut out = Vec::with_capacity(items.len());
        for b in items {
            out.push(self.put_unflushed(b, now_ms)?);
        }
        self.db.flush()?;
        Ok(out)
    }

    fn put_unflushed(&self, bytes: &[u8], now_ms: u64) -> Result<PutOutcome> {
        // One writer at a time: the head read by validation must still be the head when
        // the write lands.
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let mut old: Option<HeadRecord> = None;
        let verdict = validate::validate(
            bytes,
            &self.limits,
            now_ms,
            |pk, name| -> Result<Option<Head>> {
                old = match self.heads.get(pn_key(pk, name))? {
                    Some(v) => Some(decode_head(&v)?),
                    None => None,
                };
                Ok(old.map(|h| h.head))
            },
        )?;
        match verdict {
            Verdict::Accept(m, Placement::Duplicate) => Ok(PutOutcome::Duplicate(m.id())),
            Verdict::Accept(m, Placement::NewHead) => {
                let old_doc = match old {
                    Some(h) => self.get(&h.head.id)?.map(|s| (s, h)),
                    None => None,
                };
                self.write_head(&m, bytes, &pn_key(m.publisher(), m.name()), old_doc)?;
                Ok(PutOutcome::Stored(m.id()))
            }
            Verdict::Reject(Some(m), r) if r.reason == validate::Reason::Equivocation => {
                self.keep_evidence(&m, bytes, old.map(|h| h.head.id))?;
                Ok(PutOutcome::Rejected(r))
            }
            Verdict::Reject(_, r) => Ok(PutOutcome::Rejected(r)),
        }
    }

    fn keep_evidence(
        &self,
        m: &VerifiedManifest,
        bytes: &[u8],
        other: Option<ManifestId>,
    ) -> Result<()> {
        let ekey = version_key(m.publisher(), m.name(), m.version());
        let mut ids = self
            .evidence
            .get(&ekey)?
            .map(|v| v.to_vec())
            .unwrap_or_default();
        for id in other.iter().chain(std::iter::once(&m.id())) {
            if !ids.chunks(32).any(|c| c == id.as_bytes()) {
                ids.extend_from_slice(id.as_bytes());
            }
        }
        let is_new = self.manifests.get(m.id().as_bytes())?.is_none();
        (&self.manifests, &self.evidence, &self.meta)
            .transaction(|(man, ev, meta)| {
                if is_new {
                    man.insert(m.id().as_bytes(), bytes)?;
                    add_counter(meta, META_MANIFESTS, 1)?;
                }
                ev.insert(ekey.as_slice(), ids.as_slice())?;
                Ok(())
            })
            .map_err(tx_err)
    }

    fn write_head(
        &self,
        m: &VerifiedManifest,
        bytes: &[u8],
        key: &[u8],
        old: Option<(Stored, HeadRecord)>,
    ) -> Result<()> {
        let new_entries = crate::search::index_entries(self, m.body(), m.publisher(), &m.id());
        let old_entries = old
            .as_ref()
            .map(|(s, _)| crate::search::index_entries(self, &s.body, &s.publisher, &s.id));
        let org = match &m.body().kind {
            Some(Kind::Org(o)) => Some(format!("{}\0{}", o.org_id, o.name)),
            _ => None,
        };
        let head = encode_head(m);
        let hist = version_key(m.publisher(), m.name(), m.version());
        let skey = sync_key(m.body().issued_at_ms, &m.id());
        let trees = [
            &self.manifests,
            &self.heads,
            &self.history,
            &self.sync,
            &self.index,
            &self.terms,
            &self.orgs,
            &self.meta,
        ];
        trees[..]
            .transaction(|t| {
                let (man, heads, hist_t, sync, index, terms, orgs, meta) =
                    (&t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &t[6], &t[7]);
                man.insert(m.id().as_bytes(), bytes)?;
                heads.insert(key, head.as_slice())?;
                hist_t.insert(hist.as_slice(), m.id().as_bytes())?;
                sync.insert(&skey[..], &[][..])?;
                add_counter(meta, META_MANIFESTS, 1)?;
                if let Some((old_doc, old_head)) = &old {
                    sync.remove(&sync_key(old_head.issued_at_ms, &old_doc.id)[..])?;
                    if let Some(e) = &old_entries {
                        e.remove(index, terms, meta)?;
                    }
                } else {
                    add_counter(meta, META_HEADS, 1)?;
                }
                new_entries.insert(index, terms, meta)?;
                if let Some(org) = &org {
                    orgs.insert(m.publisher().as_bytes(), org.as_bytes())?;
                }
                Ok(())
            })
            .map_err(tx_err)
    }

    /// One manifest by id.
    pub fn get(&self, id: &ManifestId) -> Result<Option<Stored>> {
        let Some(bytes) = self.manifests.get(id.as_bytes())? else {
            return Ok(None);
        };
        decode_stored(*id, &bytes).map(Some)
    }

    /// The head record of `(publisher, name)`.
    pub fn head(&self, publisher: &PublisherKey, name: &str) -> Result<Option<Head>> {
        Ok(match self.heads.get(pn_key(publisher, name))? {
            Some(v) => Some(decode_head(&v)?.head),
            None => None,
        })
    }

    /// The head manifest of `(publisher, name)`: its highest version, or its tombstone.
    pub fn resolve(&self, publisher: &PublisherKey, name: &str) -> Result<Option<Stored>> {
        match self.head(publisher, name)? {
            Some(h) => self.get(&h.id),
            None => Ok(None),
        }
    }

    /// Every stored version of `(publisher, name)`, newest first.
    pub fn history(&self, publisher: &PublisherKey, name: &str) -> Result<Vec<Stored>> {
        let mut prefix = pn_key(publisher, name);
        prefix.push(0);
        let mut out = vec![];
        for kv in self.history.scan_prefix(&prefix).rev() {
            let (_, id) = kv?;
            let id = ManifestId(id.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                tree: trees::HISTORY,
                detail: "id".into(),
            })?);
            out.extend(self.get(&id)?);
        }
        Ok(out)
    }

    /// Ids of manifests that equivocate with `(publisher, name, version)`, if any.
    pub fn equivocations(
        &self,
        publisher: &PublisherKey,
        name: &str,
    ) -> Result<Vec<(u64, Vec<ManifestId>)>> {
        let mut prefix = pn_key(publisher, name);
        prefix.push(0);
        let mut out = vec![];
        for kv in self.evidence.scan_prefix(&prefix) {
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

    /// The organisation a publisher's org card names, if this store has it.
    pub fn org_of(&self, publisher: &PublisherKey) -> Result<Option<OrgInfo>> {
        Ok(self.orgs.get(publisher.as_bytes())?.and_then(|v| {
            let s = String::from_utf8_lossy(&v);
            s.split_once('\0').map(|(id, name)| OrgInfo {
                org_id: id.to_owned(),
                name: name.to_owned(),
            })
        }))
    }

    /// Publishers whose org card claims `org_id`.
    pub fn publishers_of_org(&self, org_id: &str) -> Result<Vec<PublisherKey>> {
        let mut out = vec![];
        for kv in self.orgs.iter() {
            let (k, v) = kv?;
            if v.split(|b| *b == 0).next() == Some(org_id.as_bytes())
                && let Ok(pk) = PublisherKey::from_bytes(&k)
            {
                out.push(pk);
            }
        }
        Ok(out)
    }

    /// Counters, read without scanning.
    pub fn counts(&self) -> Result<Counts> {
        let get =
            |k: &[u8]| -> Result<u64> { Ok(self.meta.get(k)?.map(|v| read_u64(&v)).unwrap_or(0)) };
        Ok(Counts {
            manifests: get(META_MANIFESTS)?,
            heads: get(META_HEADS)?,
        })
    }

    /// Flushes everything to disk.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    pub(crate) fn doc_stats(&self) -> Result<(u64, u64)> {
        let get =
            |k: &[u8]| -> Result<u64> { Ok(self.meta.get(k)?.map(|v| read_u64(&v)).unwrap_or(0)) };
        Ok((get(META_DOCS)?, get(META_DOC_LEN)?))
    }

    pub(crate) fn heads_iter(&self) -> impl Iterator<Item = Result<HeadRecord>> + '_ {
        self.heads.iter().map(|kv| {
            kv.map_err(StoreError::from)
                .and_then(|(_, v)| decode_head(&v))
        })
    }
}

pub(crate) const META_DOCS_KEY: &[u8] = META_DOCS;
pub(crate) const META_DOC_LEN_KEY: &[u8] = META_DOC_LEN;

pub(crate) fn add_meta(
    meta: &TransactionalTree,
    key: &[u8],
    delta: i64,
) -> std::result::Result<(), ConflictableTransactionError<StoreError>> {
    add_counter(meta, key, delta)
}

fn is_equivocation(o: &PutOutcome) -> bool {
    matches!(o, PutOutcome::Rejected(r) if r.reason == validate::Reason::Equivocation)
}

fn tx_err(e: sled::transaction::TransactionError<StoreError>) -> StoreError {
    match e {
        sled::transaction::TransactionError::Abort(e) => e,
        sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

fn decode_stored(id: ManifestId, bytes: &[u8]) -> Result<Stored> {
    let corrupt = |d: String| StoreError::Corrupt {
        tree: trees::MANIFESTS,
        detail: d,
    };
    let envelope = Envelope::decode(bytes).map_err(|e| corrupt(e.to_string()))?;
    let body =
        ManifestBody::decode(envelope.body.as_slice()).map_err(|e| corrupt(e.to_string()))?;
    let publisher =
        PublisherKey::from_bytes(&body.publisher).map_err(|e| corrupt(e.to_string()))?;
    Ok(Stored {
        id,
        envelope,
        body,
        publisher,
    })
}
