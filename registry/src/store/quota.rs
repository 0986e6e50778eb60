//! Quotas: what publishers this node does not verify may store here. Each publisher's
//! usage is a record the writes keep up to date (placement, in the `pending` module,
//! checks and charges it); the bytes of all unverified publishers together (the pool)
//! are summed again whenever the trust judgement changes who is verified.

use lgmesh_protocol::identity::PublisherKey;

use super::layout::{key, prefix, read_u64};
use super::{Registry, Result};
use crate::trust::TrustView;

/// What a publisher this node does not verify may store here: every manifest it has
/// stored counts (heads, tombstones, evidence), whatever its kind, and goes when it is
/// replaced or, once expired, swept away. Verified publishers have no quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Manifests stored (heads, tombstones and equivocation evidence) per unverified key.
    pub max_manifests: u64,
    /// Bytes of manifests per unverified key.
    pub max_bytes: u64,
    /// Bytes from every unverified key together: a flood from many new keys stops here.
    pub max_total_bytes: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            max_manifests: 1_000,
            max_bytes: 16 * 1024 * 1024,
            max_total_bytes: 1024 * 1024 * 1024,
        }
    }
}

impl Registry {
    /// Sets the limits for publishers this node does not verify.
    pub fn set_quota(&self, q: Quota) {
        *self.quota.lock().unwrap_or_else(|p| p.into_inner()) = q;
    }

    /// What an unverified publisher has stored here: (manifests, bytes).
    pub fn usage(&self, publisher: &PublisherKey) -> Result<(u64, u64)> {
        Ok(
            match self.tree.get(key(prefix::USAGE, &[publisher.as_bytes()]))? {
                Some(v) if v.len() == 16 => (read_u64(&v[..8]), read_u64(&v[8..])),
                _ => (0, 0),
            },
        )
    }

    /// Sums the bytes stored by the publishers `view` does not verify (what
    /// [`Quota::max_total_bytes`] bounds), with each new trust judgement: who is in the
    /// pool changes with it.
    pub(super) fn recount_unverified(&self, view: &TrustView) -> Result<()> {
        // What the publishers it does not verify have stored, together.
        let mut pool = 0u64;
        for kv in self.tree.scan_prefix([prefix::USAGE]) {
            let (k, v) = kv?;
            if let Ok(pk) = PublisherKey::from_stored(&k[1..])
                && v.len() == 16
                && view.of(&pk) != crate::trust::Verification::Verified
            {
                pool = pool.saturating_add(read_u64(&v[8..]));
            }
        }
        self.unverified_bytes
            .store(pool, std::sync::atomic::Ordering::Release);
        Ok(())
    }
}
