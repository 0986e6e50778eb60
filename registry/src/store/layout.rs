//! The store's layout on disk: the one sled tree, its key prefixes, the keys built from
//! them and the records kept under them. Every other part of the store reads and writes
//! through these, so that a change of layout is made in one place (and gets a new tree
//! name, or a new [`DERIVED_VERSION`] for the derived records).

use lgmesh_protocol::envelope::{ManifestId, VerifiedManifest};
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_protocol::v1::{Envelope, ManifestBody};
use lgmesh_protocol::validate::Head;
use prost::Message;

use super::sync::SyncItem;
use super::{Result, StoreError, Stored};

/// The sled tree. Versioned: a new layout gets a new name.
pub(super) const TREE: &str = "lgmesh-v1";

/// Key prefixes within the tree.
pub(super) mod prefix {
    /// `M | id` → envelope bytes.
    pub const MANIFEST: u8 = b'M';
    /// `H | publisher | name` → head record.
    pub const HEAD: u8 = b'H';
    /// `V | publisher | name | 0 | version` → id.
    pub const HISTORY: u8 = b'V';
    /// `S | issued_at | id` → (): the live heads, in stores written before the sync
    /// set moved to memory ([`crate::store::sync::SyncSet`]). Removed when such a store is opened.
    pub const SYNC: u8 = b'S';
    /// `E | publisher | name | 0 | version` → ids that equivocate.
    pub const EVIDENCE: u8 = b'E';
    /// `O | publisher` → `org_id \0 name` from the org card.
    pub const ORG: u8 = b'O';
    /// `C | name` → u64 counter.
    pub const COUNTER: u8 = b'C';
    /// `L | seq` → the `publisher | name` keys (each with a length byte) whose heads one
    /// batch changed, until the text index has them.
    pub const LOG: u8 = b'L';
    /// `T | publisher` → org id: the operator's own list of trusted keys (local, never
    /// gossiped).
    pub const TRUSTED: u8 = b'T';
    /// `N | subject | endorser` → expires_at (8) | org id: live endorsements.
    pub const ENDORSEMENT: u8 = b'N';
    /// `A | service publisher | service name | 0 | adopter` → version (8) | expires_at
    /// (8): live adoptions.
    pub const ADOPTION: u8 = b'A';
    /// `U | publisher` → manifests (8) | bytes (8): what the publisher has stored here
    /// (heads, tombstones, kept history and evidence), whatever its trust. Its quota is
    /// measured against it; derived from the manifests ([`crate::store::Registry::rederive`]).
    pub const USAGE: u8 = b'U';
    /// `R | subject | revoker` → revoked_at (8): revocations. Kept after they expire:
    /// a compromised key stays revoked.
    pub const REVOCATION: u8 = b'R';
    /// `K | old key` → new key (32) | rotated_at (8): key rotations, never undone.
    pub const ROTATION: u8 = b'K';
    /// `D | publisher` → a [`crate::trust::DomainProof`]: what this node last found at
    /// the key's organisation's website (local, never gossiped).
    pub const DOMAIN: u8 = b'D';
    /// `X | expires_at (8) | publisher | name` → (): when each head expires, for the
    /// sweep of expired heads of publishers this node does not verify.
    pub const EXPIRY: u8 = b'X';
    /// `P | proof id` → id (32) | id (32) | issued_at (8): an equivocation proof, two
    /// manifests of one publisher that contradict each other. In the sync set, so that
    /// every node learns of it.
    pub const PROOF: u8 = b'P';
    /// `Q | publisher | proof id` → (): the publisher's equivocation proofs.
    pub const FLAG: u8 = b'Q';
}

/// Counter names (`C | name`): manifests stored, heads, and the sequence number of the
/// last head change (the change log's and the text index's).
pub(super) const COUNT_MANIFESTS: &[u8] = b"manifests";
pub(super) const COUNT_HEADS: &[u8] = b"heads";
pub(super) const COUNT_SEQ: &[u8] = b"seq";
/// The layout of the derived records (usage, relations, expiry, proofs): a store whose
/// records are of an older layout has them derived again when it is opened.
pub(super) const COUNT_DERIVED: &[u8] = b"derived";
pub(super) const DERIVED_VERSION: u64 = 2;
/// The store's format (`C | format`): which layout its records follow
/// ([`FORMAT_VERSION`]). Absent in stores written before it was kept: format 1.
pub(super) const COUNT_FORMAT: &[u8] = b"format";

/// The store format this build writes. A store of an older format is migrated when it
/// is opened (`migrate`); one of a newer format is refused, untouched.
///
/// | format | since | what changed |
/// | --- | --- | --- |
/// | 1 | the first release | (no `C|format` record) |
/// | 2 | 0.1.0 | the format is recorded; the sync set's old on-disk copy (`S|`) is gone |
pub const FORMAT_VERSION: u64 = 2;

/// `p | parts…`: a key under the prefix `p`.
pub(super) fn key(p: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|x| x.len()).sum::<usize>());
    k.push(p);
    for part in parts {
        k.extend_from_slice(part);
    }
    k
}

/// `publisher || name`.
pub(super) fn pn(publisher: &PublisherKey, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(32 + name.len());
    k.extend_from_slice(publisher.as_bytes());
    k.extend_from_slice(name.as_bytes());
    k
}

/// `pn | 0 | version`, big-endian so that versions sort: the tail of history and
/// evidence keys.
pub(super) fn version_suffix(pn: &[u8], version: u64) -> Vec<u8> {
    let mut k = pn.to_vec();
    k.push(0);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// A head record: id (32) | version (8) | retracted (1) | issued_at (8) | expires_at (8).
#[derive(Debug, Clone, Copy)]
pub(super) struct HeadRecord {
    pub(super) head: Head,
    pub(super) issued_at_ms: u64,
    pub(super) expires_at_ms: u64,
}

impl HeadRecord {
    pub(super) fn of(m: &VerifiedManifest) -> Self {
        Self {
            head: Head {
                id: m.id(),
                version: m.version(),
                retracted: m.is_retraction(),
            },
            issued_at_ms: m.body().issued_at_ms,
            expires_at_ms: m.body().expires_at_ms,
        }
    }

    pub(super) fn encode(&self) -> [u8; 57] {
        let mut v = [0u8; 57];
        v[..32].copy_from_slice(self.head.id.as_bytes());
        v[32..40].copy_from_slice(&self.head.version.to_be_bytes());
        v[40] = u8::from(self.head.retracted);
        v[41..49].copy_from_slice(&self.issued_at_ms.to_be_bytes());
        v[49..57].copy_from_slice(&self.expires_at_ms.to_be_bytes());
        v
    }

    /// Its item in the sync set.
    pub(super) fn sync_item(&self) -> SyncItem {
        (self.issued_at_ms, self.head.id, self.expires_at_ms)
    }

    pub(super) fn decode(v: &[u8]) -> Result<Self> {
        let corrupt = || StoreError::Corrupt(format!("head record of {} bytes", v.len()));
        if v.len() != 57 {
            return Err(corrupt());
        }
        let u = |r: std::ops::Range<usize>| {
            v[r].try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt())
        };
        Ok(Self {
            head: Head {
                id: ManifestId(v[..32].try_into().map_err(|_| corrupt())?),
                version: u(32..40)?,
                retracted: v[40] == 1,
            },
            issued_at_ms: u(41..49)?,
            expires_at_ms: u(49..57)?,
        })
    }
}

/// An equivocation proof as stored: its id, the two manifests, and when the later of
/// them was issued (its place in the sync set).
#[derive(Debug, Clone, Copy)]
pub(super) struct ProofRecord {
    pub(super) id: ManifestId,
    pub(super) a: ManifestId,
    pub(super) b: ManifestId,
    pub(super) issued_at_ms: u64,
}

impl ProofRecord {
    pub(super) fn encode(&self) -> [u8; 72] {
        let mut v = [0u8; 72];
        v[..32].copy_from_slice(self.a.as_bytes());
        v[32..64].copy_from_slice(self.b.as_bytes());
        v[64..].copy_from_slice(&self.issued_at_ms.to_be_bytes());
        v
    }

    pub(super) fn decode(k: &[u8], v: &[u8]) -> Result<Self> {
        let corrupt = || StoreError::Corrupt(format!("proof record of {} bytes", v.len()));
        let id = |b: &[u8]| -> Result<ManifestId> {
            Ok(ManifestId(b.try_into().map_err(|_| corrupt())?))
        };
        if v.len() != 72 || k.len() != 33 {
            return Err(corrupt());
        }
        Ok(Self {
            id: id(&k[1..])?,
            a: id(&v[..32])?,
            b: id(&v[32..64])?,
            issued_at_ms: read_u64(&v[64..]),
        })
    }
}

/// A big-endian u64 from 8 bytes (0 from anything else).
pub(super) fn read_u64(v: &[u8]) -> u64 {
    v.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

/// `A | service publisher | service name | 0 | adopter`.
pub(super) fn adoption_key(
    service_publisher: &[u8],
    service_name: &str,
    adopter: &PublisherKey,
) -> Vec<u8> {
    key(
        prefix::ADOPTION,
        &[
            service_publisher,
            service_name.as_bytes(),
            &[0],
            adopter.as_bytes(),
        ],
    )
}

/// `X | expires_at | publisher | name`.
pub(super) fn expiry_key(expires_at_ms: u64, pn: &[u8]) -> Vec<u8> {
    key(prefix::EXPIRY, &[&expires_at_ms.to_be_bytes(), pn])
}

/// The `publisher | name` keys of one change-log entry (`L | seq`), each after its
/// length byte.
pub(super) fn decode_log(v: &[u8]) -> Vec<&[u8]> {
    let mut out = vec![];
    let mut rest = v;
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        out.push(&tail[..n]);
        rest = &tail[n..];
    }
    out
}

/// A manifest as stored (`M | id` → envelope bytes), decoded for reading.
pub(super) fn decode_stored(id: ManifestId, bytes: &[u8]) -> Result<Stored> {
    let corrupt = |d: String| StoreError::Corrupt(format!("manifest {}: {d}", id.fmt_short()));
    let envelope = Envelope::decode(bytes).map_err(|e| corrupt(e.to_string()))?;
    let body =
        ManifestBody::decode(envelope.body.as_slice()).map_err(|e| corrupt(e.to_string()))?;
    let publisher =
        PublisherKey::from_stored(&body.publisher).map_err(|e| corrupt(e.to_string()))?;
    Ok(Stored {
        id,
        envelope,
        body,
        publisher,
    })
}
