//! Trust without a central owner: how this node judges each publisher key.
//!
//! A key is **verified** on this node when any of these holds:
//! 1. the operator trusts it directly (`lgmesh trust add`), for an organisation;
//! 2. it carries endorsements from at least *k* organisations whose word counts here,
//!    other than its own, each saying it belongs to the organisation its org card
//!    claims;
//! 3. its organisation's website, under a public-sector domain, lists it (domain proof:
//!    the node checks it and records a [`DomainProof`]);
//! 4. it is the successor, by the one key rotation both keys signed, of a verified key.
//!
//! Whose word counts (whose endorsements and revocations count towards *k*): keys the
//! operator trusts, keys verified by endorsements of such, their rotation successors,
//! and keys proven by their organisation's **official** domain (a council's own, known
//! to this node). A website under `gov.uk` that is not the claimed organisation's own
//! verifies its key for display, but does not let it vouch for anyone: otherwise the
//! owner of any two such domains could endorse or revoke any council.
//!
//! Verification grows outwards from the operator's choices, so keys that endorse each
//! other (a loop) with no verified key among them count for nothing, and so does an
//! organisation vouching for itself. It is computed with a work list, each endorsement
//! and rotation looked at once: linear in what is stored, whatever its shape.
//!
//! **Retirement does not trust a time the signer chose.** A key rotation, and a
//! revocation, name the manifests of the key that stay valid (`valid_ids`). Once a key
//! is rotated away from or revoked, a manifest it signed counts as verified only if it
//! is among those, on every node, whenever it arrives: a thief with the old key cannot
//! backdate his way in. Two different rotations, or revocations, from one key are
//! equivocation: the valid set is what all of them name, and no successor inherits.
//!
//! A key whose org card claims an organisation that another key also claims is
//! **conflicting** unless it is verified for that organisation; one verified for
//! another organisation than its card claims is conflicting too. Everything else
//! validly signed is **unverified**: kept, relayed and shown, marked as such.
//!
//! [`TrustView`] is computed from the store (org cards, endorsements, revocations,
//! rotations, domain proofs and the operator's list) and cached until one changes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::identity::PublisherKey;

/// What this node thinks of a publisher key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verification {
    /// Nothing vouches for it (yet).
    Unverified,
    /// Trusted directly, endorsed by enough verified organisations, proven by its
    /// website, or the successor of a verified key.
    Verified,
    /// Its org card claims an organisation that another key claims too, or that differs
    /// from the one it was verified for.
    Conflicting,
    /// Declared compromised: by itself, or by *k* organisations whose word counts here;
    /// or it signed two different rotations.
    Revoked,
    /// Rotated away from: what its rotation names stands, nothing else it signs does.
    Rotated,
}

impl Verification {
    /// `unverified`, `verified`, `conflicting`, `revoked` or `rotated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Unverified => "unverified",
            Verification::Verified => "verified",
            Verification::Conflicting => "conflicting",
            Verification::Revoked => "revoked",
            Verification::Rotated => "rotated",
        }
    }
}

/// Why a key is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// The operator trusts it (`lgmesh trust add`).
    Operator,
    /// Endorsed by these verified keys (at least *k* organisations).
    Endorsed(Vec<PublisherKey>),
    /// The successor of this verified key (a key rotation signed by both).
    Rotation(PublisherKey),
    /// Listed at `/.well-known/lgmesh.json` on this host, its org card's website;
    /// `official` when the host is the claimed organisation's own domain.
    Domain {
        /// The host.
        host: String,
        /// The host is under the organisation's official domain.
        official: bool,
    },
}

/// How many rival keys a judgement lists by name; [`PublisherTrust::rival_count`] says
/// how many there are.
pub const RIVALS_LISTED: usize = 10;

/// What retired a key, and what of it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retirement {
    /// Its manifests that stay valid: what every rotation and revocation that retired
    /// it names.
    pub valid: Arc<HashSet<ManifestId>>,
    /// It was verified before it was retired (so what stays valid counts as verified).
    pub was_verified: bool,
    /// Revoked (by itself, by others, or by signing two rotations), not only rotated.
    pub revoked: bool,
    /// Different rotations it signed.
    pub rotations: usize,
}

/// One publisher key as this node judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherTrust {
    /// The key.
    pub key: PublisherKey,
    /// The judgement.
    pub state: Verification,
    /// The organisation its org card claims, if this node has the card.
    pub claimed_org: Option<String>,
    /// The organisation it is verified for, when verified.
    pub verified_org: Option<String>,
    /// Why it is verified, when it is.
    pub basis: Option<Basis>,
    /// Every key whose current endorsement names this key (verified or not), with the
    /// organisation each endorsement says it belongs to.
    pub endorsed_by: Vec<(PublisherKey, String)>,
    /// Up to [`RIVALS_LISTED`] other keys whose org cards claim the same organisation
    /// (its rotation predecessor and successor excluded).
    pub rivals: Vec<PublisherKey>,
    /// How many such keys there are.
    pub rival_count: usize,
    /// Revoked from this time (Unix ms), as the revocations say; for people only: no
    /// rule depends on it.
    pub revoked_at: Option<u64>,
    /// The key it rotated to (when it signed exactly one rotation), and when.
    pub rotated_to: Option<(PublisherKey, u64)>,
    /// Rotated away from or revoked: what of it stands.
    pub retired: Option<Retirement>,
}

impl PublisherTrust {
    /// A short human explanation, e.g. `trusted by this node's operator` or
    /// `endorsed by 2 verified organisations`.
    pub fn explain(&self) -> String {
        match (&self.state, &self.basis) {
            (Verification::Verified, Some(Basis::Operator)) => {
                "trusted by this node's operator".into()
            }
            (Verification::Verified, Some(Basis::Endorsed(by))) => {
                format!("endorsed by {} verified organisations", by.len())
            }
            (Verification::Verified, Some(Basis::Rotation(old))) => {
                format!("the successor of verified key {old}")
            }
            (Verification::Verified, Some(Basis::Domain { host, official })) => {
                if *official {
                    format!("listed by its organisation's own website {host}")
                } else {
                    format!(
                        "listed by the website {host} (not known as the organisation's own: it cannot vouch for others)"
                    )
                }
            }
            (Verification::Revoked, _)
                if self.retired.as_ref().is_some_and(|r| r.rotations > 1) =>
            {
                "revoked: it signed two different rotations (equivocation)".into()
            }
            (Verification::Revoked, _) => "revoked: declared compromised".into(),
            (Verification::Rotated, _) => match &self.rotated_to {
                Some((new, _)) => {
                    format!("rotated to {new}: only what its rotation names still counts")
                }
                None => "rotated: only what its rotation names still counts".into(),
            },
            (Verification::Conflicting, _) if self.rival_count > 0 => format!(
                "{} other key(s) claim {}",
                self.rival_count,
                self.claimed_org.as_deref().unwrap_or("its organisation")
            ),
            (Verification::Conflicting, _) => format!(
                "verified for {} but its org card claims {}",
                self.verified_org.as_deref().unwrap_or("?"),
                self.claimed_org.as_deref().unwrap_or("?")
            ),
            _ if self.endorsed_by.is_empty() => "no one this node trusts vouches for it".into(),
            _ => format!(
                "{} endorsement(s), not enough from verified organisations",
                self.endorsed_by.len()
            ),
        }
    }
}

mod domain_proof;
mod judge;

pub use domain_proof::DomainProof;
pub use judge::{Endorsement, TrustInputs};

/// Every known publisher key, judged. Cheap to clone behind an `Arc`.
#[derive(Debug, Default, Clone)]
pub struct TrustView {
    keys: HashMap<PublisherKey, PublisherTrust>,
}

impl TrustView {
    /// The judgement of `key`: unverified when this node knows nothing of it.
    pub fn of(&self, key: &PublisherKey) -> Verification {
        self.keys
            .get(key)
            .map_or(Verification::Unverified, |t| t.state)
    }

    /// The judgement of one manifest, `id`, signed by `key`: the key's, except that
    /// what a retired key signed counts as verified when its retirement names it (and
    /// the key was verified), and as the retirement says otherwise.
    pub fn of_manifest(&self, key: &PublisherKey, id: &ManifestId) -> Verification {
        match self.keys.get(key) {
            Some(PublisherTrust {
                retired: Some(r),
                state,
                ..
            }) => {
                if r.was_verified && r.valid.contains(id) {
                    Verification::Verified
                } else {
                    *state
                }
            }
            Some(t) => t.state,
            None => Verification::Unverified,
        }
    }

    /// The whole record of `key`, when this node knows anything of it.
    pub fn get(&self, key: &PublisherKey) -> Option<&PublisherTrust> {
        self.keys.get(key)
    }

    /// What stands of `key` if it is rotated away from or revoked: the manifests it
    /// signed that its rotation or revocation names. Nothing else it signs is taken.
    pub fn retired(&self, key: &PublisherKey) -> Option<&HashSet<ManifestId>> {
        self.keys
            .get(key)
            .and_then(|t| t.retired.as_ref())
            .map(|r| r.valid.as_ref())
    }

    /// Every verified key.
    pub fn verified(&self) -> impl Iterator<Item = &PublisherKey> {
        self.keys
            .values()
            .filter(|t| t.state == Verification::Verified)
            .map(|t| &t.key)
    }

    /// Every key this node knows, in key order.
    pub fn all(&self) -> Vec<&PublisherTrust> {
        let mut v: Vec<_> = self.keys.values().collect();
        v.sort_by_key(|t| t.key);
        v
    }
}
