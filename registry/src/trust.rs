//! Trust without a central owner: how this node judges each publisher key.
//!
//! A key is **verified** on this node when any of these holds:
//! 1. the operator trusts it directly (`lgmesh trust add`), for an organisation;
//! 2. it carries endorsements from at least *k* verified organisations other than its
//!    own, each saying it belongs to the organisation its own org card claims;
//! 3. its organisation's website, under a public-sector domain, lists it (domain proof:
//!    the node checks it and records a [`DomainProof`]);
//! 4. it is the successor, by a key rotation both keys signed, of a verified key.
//!
//! Verification by endorsement grows only outwards from the operator's own choices, so
//! keys that endorse each other (a loop) with no verified key among them count for
//! nothing, and so does an organisation vouching for itself. A key whose org card
//! claims an organisation that another key also claims is **conflicting** unless it is
//! verified for that organisation; one verified for another organisation than its card
//! claims is conflicting too. Everything else validly signed is **unverified**: kept,
//! relayed and shown, marked as such.
//!
//! [`TrustView`] is computed from the store (org cards, endorsements, the operator's
//! list) in one pass over a few thousand records and cached until one of them changes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use lgmesh_protocol::identity::PublisherKey;

/// What this node thinks of a publisher key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verification {
    /// Nothing vouches for it (yet).
    Unverified,
    /// Trusted directly, or endorsed by enough verified organisations.
    Verified,
    /// Its org card claims an organisation that another key claims too, or that differs
    /// from the one it was verified for.
    Conflicting,
    /// Declared compromised: by itself, or by *k* verified organisations.
    Revoked,
}

impl Verification {
    /// `unverified`, `verified` or `conflicting`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Unverified => "unverified",
            Verification::Verified => "verified",
            Verification::Conflicting => "conflicting",
            Verification::Revoked => "revoked",
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
    /// Listed at `/.well-known/lgmesh.json` on this host, its org card's website.
    Domain(String),
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
    /// Other keys whose org cards claim the same organisation (its rotation
    /// predecessor and successor excluded).
    pub rivals: Vec<PublisherKey>,
    /// Revoked from this time (Unix ms), by itself or by *k* verified organisations.
    pub revoked_at: Option<u64>,
    /// The key it rotated to, and when.
    pub rotated_to: Option<(PublisherKey, u64)>,
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
            (Verification::Verified, Some(Basis::Domain(host))) => {
                format!("listed by its organisation's website {host}")
            }
            (Verification::Revoked, _) => "revoked: declared compromised".into(),
            (Verification::Conflicting, _) if !self.rivals.is_empty() => format!(
                "{} other key(s) claim {}",
                self.rivals.len(),
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

/// What this node last found at a key's organisation's website: the record of its
/// domain checks. Local to the node, never gossiped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainProof {
    /// The website checked, from the key's org card.
    pub website: String,
    /// The organisation the card claimed when it was checked.
    pub org_id: String,
    /// The host whose `/.well-known/lgmesh.json` listed the key, when it did.
    pub host: String,
    /// When it was last checked (Unix ms).
    pub checked_at: u64,
    /// When the website last listed the key (Unix ms); 0 if never.
    pub proven_at: u64,
    /// The proof counts until this time (Unix ms); 0 when it does not count.
    pub valid_until: u64,
    /// What the last check found, as a short code: `proven`, `not_listed`, `unreachable`…
    pub result: String,
    /// What the last check found, for people.
    pub detail: String,
}

impl DomainProof {
    /// Bytes for the store: three u64s, then five length-prefixed strings.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(64 + self.website.len() + self.detail.len());
        for n in [self.valid_until, self.checked_at, self.proven_at] {
            v.extend_from_slice(&n.to_be_bytes());
        }
        for s in [
            &self.website,
            &self.org_id,
            &self.host,
            &self.result,
            &self.detail,
        ] {
            let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
            v.extend_from_slice(&(b.len() as u16).to_be_bytes());
            v.extend_from_slice(b);
        }
        v
    }

    /// Reads [`DomainProof::encode`]'s bytes; `None` when they are not that.
    pub fn decode(mut v: &[u8]) -> Option<DomainProof> {
        let mut u64s = [0u64; 3];
        for n in &mut u64s {
            let (head, rest) = v.split_first_chunk::<8>()?;
            *n = u64::from_be_bytes(*head);
            v = rest;
        }
        let mut strs: [String; 5] = Default::default();
        for s in &mut strs {
            let (len, rest) = v.split_first_chunk::<2>()?;
            let len = u16::from_be_bytes(*len) as usize;
            let b = rest.get(..len)?;
            *s = String::from_utf8_lossy(b).into_owned();
            v = &rest[len..];
        }
        let [website, org_id, host, result, detail] = strs;
        Some(DomainProof {
            website,
            org_id,
            host,
            valid_until: u64s[0],
            checked_at: u64s[1],
            proven_at: u64s[2],
            result,
            detail,
        })
    }
}

/// What the judgement is computed from.
#[derive(Debug, Default, Clone)]
pub struct TrustInputs {
    /// Each publisher's org card claim.
    pub claims: HashMap<PublisherKey, String>,
    /// The operator's list: key → organisation.
    pub operator: HashMap<PublisherKey, String>,
    /// Keys proven by their organisation's website: key → (organisation, host).
    pub domains: HashMap<PublisherKey, (String, String)>,
    /// Live endorsements: (endorser, subject, organisation).
    pub endorsements: Vec<(PublisherKey, PublisherKey, String)>,
    /// Endorsements from verified organisations a key needs (*k*, at least 1).
    pub required: usize,
    /// Revocations: (revoker, subject, revoked from).
    pub revocations: Vec<(PublisherKey, PublisherKey, u64)>,
    /// Key rotations: (old, new, when).
    pub rotations: Vec<(PublisherKey, PublisherKey, u64)>,
}

/// Every known publisher key, judged. Cheap to clone behind an `Arc`.
#[derive(Debug, Default, Clone)]
pub struct TrustView {
    keys: HashMap<PublisherKey, PublisherTrust>,
}

impl TrustView {
    /// Judges every key the inputs mention.
    pub fn compute(i: &TrustInputs) -> TrustView {
        let k = i.required.max(1);
        // Verify, then find revocations (k of them must come from verified
        // organisations), then verify again without the revoked keys' say.
        let first = Self::verify(i, k, &HashMap::new());
        let revoked = Self::revocations(i, k, &first);
        let verified = if revoked.is_empty() {
            first
        } else {
            Self::verify(i, k, &revoked)
        };
        Self::judge(i, verified, revoked)
    }

    /// When each key was revoked: by itself, or at the time the k-th verified
    /// organisation (other than its own) says.
    fn revocations(
        i: &TrustInputs,
        k: usize,
        verified: &HashMap<PublisherKey, (String, Basis)>,
    ) -> HashMap<PublisherKey, u64> {
        let mut out: HashMap<PublisherKey, u64> = HashMap::new();
        let mut by_others: BTreeMap<PublisherKey, BTreeMap<&str, u64>> = BTreeMap::new();
        for (revoker, subject, at) in &i.revocations {
            if revoker == subject {
                let e = out.entry(*subject).or_insert(*at);
                *e = (*e).min(*at);
            } else if let Some((org, _)) = verified.get(revoker)
                && i.claims.get(subject) != Some(org)
            {
                let e = by_others
                    .entry(*subject)
                    .or_default()
                    .entry(org.as_str())
                    .or_insert(*at);
                *e = (*e).min(*at);
            }
        }
        for (subject, orgs) in by_others {
            if orgs.len() >= k {
                let mut times: Vec<u64> = orgs.into_values().collect();
                times.sort_unstable();
                let at = times[k - 1];
                let e = out.entry(subject).or_insert(at);
                *e = (*e).min(at);
            }
        }
        out
    }

    /// The verified keys and why, grown outwards from the operator's list; keys in
    /// `revoked` neither count nor vouch.
    fn verify(
        i: &TrustInputs,
        k: usize,
        revoked: &HashMap<PublisherKey, u64>,
    ) -> HashMap<PublisherKey, (String, Basis)> {
        // key → (organisation, basis), grown outwards from the operator's list.
        let mut verified: HashMap<PublisherKey, (String, Basis)> = i
            .operator
            .iter()
            .filter(|(pk, _)| !revoked.contains_key(pk))
            .map(|(pk, org)| (*pk, (org.clone(), Basis::Operator)))
            .collect();
        for (pk, (org, host)) in &i.domains {
            if !revoked.contains_key(pk) && !verified.contains_key(pk) {
                verified.insert(*pk, (org.clone(), Basis::Domain(host.clone())));
            }
        }
        let mut by_subject: BTreeMap<PublisherKey, Vec<(PublisherKey, &str)>> = BTreeMap::new();
        for (endorser, subject, org) in &i.endorsements {
            if endorser != subject && !revoked.contains_key(endorser) {
                by_subject
                    .entry(*subject)
                    .or_default()
                    .push((*endorser, org.as_str()));
            }
        }
        // Each round verifies every key that the keys verified so far vouch for; at most
        // one round per key, and each round is linear in the endorsements.
        loop {
            let mut newly = vec![];
            for (subject, list) in &by_subject {
                if verified.contains_key(subject) || revoked.contains_key(subject) {
                    continue;
                }
                let Some(claim) = i.claims.get(subject) else {
                    continue;
                };
                let mut orgs = BTreeSet::new();
                let mut endorsers = vec![];
                for (endorser, org) in list {
                    if *org != claim.as_str() {
                        continue;
                    }
                    if let Some((endorser_org, _)) = verified.get(endorser)
                        && endorser_org != claim
                    {
                        orgs.insert(endorser_org.as_str());
                        endorsers.push(*endorser);
                    }
                }
                if orgs.len() >= k {
                    endorsers.sort();
                    newly.push((*subject, claim.clone(), endorsers));
                }
            }
            let mut successors = vec![];
            for (old, new, _) in &i.rotations {
                if verified.contains_key(new) || revoked.contains_key(new) {
                    continue;
                }
                if let Some((org, _)) = verified.get(old)
                    && i.claims.get(new).is_none_or(|c| c == org)
                {
                    successors.push((*new, org.clone(), *old));
                }
            }
            if newly.is_empty() && successors.is_empty() {
                break;
            }
            for (subject, org, by) in newly {
                verified.insert(subject, (org, Basis::Endorsed(by)));
            }
            for (new, org, old) in successors {
                verified.insert(new, (org, Basis::Rotation(old)));
            }
        }
        verified
    }

    fn judge(
        i: &TrustInputs,
        verified: HashMap<PublisherKey, (String, Basis)>,
        revoked: HashMap<PublisherKey, u64>,
    ) -> TrustView {
        let mut by_subject: BTreeMap<PublisherKey, Vec<(PublisherKey, &str)>> = BTreeMap::new();
        for (endorser, subject, org) in &i.endorsements {
            if endorser != subject {
                by_subject
                    .entry(*subject)
                    .or_default()
                    .push((*endorser, org.as_str()));
            }
        }
        let rotated: HashMap<PublisherKey, (PublisherKey, u64)> = i
            .rotations
            .iter()
            .map(|(old, new, at)| (*old, (*new, *at)))
            .collect();
        let linked = |a: &PublisherKey, b: &PublisherKey| {
            rotated.get(a).is_some_and(|(n, _)| n == b)
                || rotated.get(b).is_some_and(|(n, _)| n == a)
        };

        let mut claimants: HashMap<&str, Vec<PublisherKey>> = HashMap::new();
        for (pk, org) in &i.claims {
            claimants.entry(org.as_str()).or_default().push(*pk);
        }
        let mut keys = HashMap::new();
        let all = i
            .claims
            .keys()
            .chain(i.operator.keys())
            .chain(i.domains.keys())
            .chain(by_subject.keys())
            .chain(revoked.keys())
            .copied()
            .collect::<BTreeSet<_>>();
        for pk in all {
            let claimed_org = i.claims.get(&pk).cloned();
            let mut rivals: Vec<PublisherKey> = claimed_org
                .as_deref()
                .and_then(|c| claimants.get(c))
                .map(|v| {
                    v.iter()
                        .filter(|o| **o != pk && !linked(o, &pk))
                        .copied()
                        .collect()
                })
                .unwrap_or_default();
            rivals.sort();
            let v = verified.get(&pk);
            let state = match (v, &claimed_org) {
                _ if revoked.contains_key(&pk) => Verification::Revoked,
                (Some((org, _)), Some(claim)) if org != claim => Verification::Conflicting,
                (Some(_), _) => Verification::Verified,
                (None, _) if !rivals.is_empty() => Verification::Conflicting,
                (None, _) => Verification::Unverified,
            };
            let mut endorsed_by: Vec<(PublisherKey, String)> = by_subject
                .get(&pk)
                .map(|l| l.iter().map(|(e, o)| (*e, (*o).to_owned())).collect())
                .unwrap_or_default();
            endorsed_by.sort();
            keys.insert(
                pk,
                PublisherTrust {
                    key: pk,
                    state,
                    claimed_org,
                    verified_org: v.map(|(o, _)| o.clone()),
                    basis: v.map(|(_, b)| b.clone()),
                    endorsed_by,
                    rivals,
                    revoked_at: revoked.get(&pk).copied(),
                    rotated_to: rotated.get(&pk).copied(),
                },
            );
        }
        TrustView { keys }
    }

    /// The judgement of `key`: unverified when this node knows nothing of it.
    pub fn of(&self, key: &PublisherKey) -> Verification {
        self.keys
            .get(key)
            .map_or(Verification::Unverified, |t| t.state)
    }

    /// The whole record of `key`, when this node knows anything of it.
    pub fn get(&self, key: &PublisherKey) -> Option<&PublisherTrust> {
        self.keys.get(key)
    }

    /// From when nothing `key` signs is accepted: its revocation, or its rotation to a
    /// successor, whichever is earlier.
    pub fn cutoff(&self, key: &PublisherKey) -> Option<u64> {
        let t = self.keys.get(key)?;
        match (t.revoked_at, t.rotated_to.map(|(_, at)| at)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use lgmesh_protocol::identity::SecretKey;

    fn key(n: u8) -> PublisherKey {
        SecretKey::from_seed(&[n; 32]).public()
    }

    fn inputs(k: usize) -> TrustInputs {
        TrustInputs {
            required: k,
            ..Default::default()
        }
    }

    fn claim(i: &mut TrustInputs, n: u8, org: &str) -> PublisherKey {
        let pk = key(n);
        i.claims.insert(pk, org.into());
        pk
    }

    #[test]
    fn operator_trust_and_k_endorsements_verify_and_grow_transitively() {
        let mut i = inputs(2);
        let a = claim(&mut i, 1, "gss:E07000209");
        let b = claim(&mut i, 2, "gss:E07000210");
        let c = claim(&mut i, 3, "gss:E07000211");
        let d = claim(&mut i, 4, "gss:E07000212");
        i.operator.insert(a, "gss:E07000209".into());
        i.operator.insert(b, "gss:E07000210".into());
        i.endorsements.push((a, c, "gss:E07000211".into()));
        i.endorsements.push((b, c, "gss:E07000211".into()));
        // d is endorsed by a and c: c becomes verified first, then d.
        i.endorsements.push((a, d, "gss:E07000212".into()));
        i.endorsements.push((c, d, "gss:E07000212".into()));
        let v = TrustView::compute(&i);
        for pk in [a, b, c, d] {
            assert_eq!(v.of(&pk), Verification::Verified, "{pk}");
        }
        assert_eq!(
            v.get(&d).and_then(|t| t.basis.clone()),
            Some(Basis::Endorsed({
                let mut e = vec![a, c];
                e.sort();
                e
            }))
        );
    }

    #[test]
    fn one_endorsement_is_not_enough_when_k_is_two() {
        let mut i = inputs(2);
        let a = claim(&mut i, 1, "gss:E07000209");
        let c = claim(&mut i, 3, "gss:E07000211");
        i.operator.insert(a, "gss:E07000209".into());
        i.endorsements.push((a, c, "gss:E07000211".into()));
        let v = TrustView::compute(&i);
        assert_eq!(v.of(&c), Verification::Unverified);
        assert_eq!(v.get(&c).map(|t| t.endorsed_by.len()), Some(1));
    }

    #[test]
    fn loops_among_unverified_keys_and_self_endorsement_count_for_nothing() {
        let mut i = inputs(1);
        let a = claim(&mut i, 1, "gss:E07000209");
        let b = claim(&mut i, 2, "gss:E07000210");
        let c = claim(&mut i, 3, "gss:E07000211");
        i.endorsements.push((a, b, "gss:E07000210".into()));
        i.endorsements.push((b, c, "gss:E07000211".into()));
        i.endorsements.push((c, a, "gss:E07000209".into()));
        i.endorsements.push((a, a, "gss:E07000209".into()));
        let v = TrustView::compute(&i);
        for pk in [a, b, c] {
            assert_eq!(v.of(&pk), Verification::Unverified);
        }
    }

    #[test]
    fn an_organisation_cannot_vouch_for_its_own_second_key() {
        let mut i = inputs(1);
        let a = claim(&mut i, 1, "gss:E07000209");
        let a2 = claim(&mut i, 2, "gss:E07000209");
        i.operator.insert(a, "gss:E07000209".into());
        i.endorsements.push((a, a2, "gss:E07000209".into()));
        let v = TrustView::compute(&i);
        assert_eq!(v.of(&a), Verification::Verified);
        assert_eq!(v.of(&a2), Verification::Conflicting);
    }

    #[test]
    fn endorsements_from_one_organisation_count_once() {
        let mut i = inputs(2);
        let a = claim(&mut i, 1, "gss:E07000209");
        let a2 = claim(&mut i, 2, "gss:E07000209");
        let c = claim(&mut i, 3, "gss:E07000211");
        i.operator.insert(a, "gss:E07000209".into());
        i.operator.insert(a2, "gss:E07000209".into());
        i.endorsements.push((a, c, "gss:E07000211".into()));
        i.endorsements.push((a2, c, "gss:E07000211".into()));
        assert_eq!(TrustView::compute(&i).of(&c), Verification::Unverified);
    }

    #[test]
    fn an_endorsement_for_another_organisation_than_the_card_claims_does_not_count() {
        let mut i = inputs(1);
        let a = claim(&mut i, 1, "gss:E07000209");
        let c = claim(&mut i, 3, "gss:E07000211");
        i.operator.insert(a, "gss:E07000209".into());
        i.endorsements.push((a, c, "gss:E07000299".into()));
        assert_eq!(TrustView::compute(&i).of(&c), Verification::Unverified);
    }

    #[test]
    fn a_second_key_claiming_a_verified_organisation_is_conflicting() {
        let mut i = inputs(2);
        let real = claim(&mut i, 1, "gss:E07000209");
        let fake = claim(&mut i, 9, "gss:E07000209");
        i.operator.insert(real, "gss:E07000209".into());
        let v = TrustView::compute(&i);
        assert_eq!(v.of(&real), Verification::Verified);
        assert_eq!(v.of(&fake), Verification::Conflicting);
        assert_eq!(v.get(&fake).map(|t| t.rivals.clone()), Some(vec![real]));
        // Trusted for one organisation while its card claims another: conflicting.
        let mut i = inputs(2);
        let k = claim(&mut i, 1, "gss:E07000209");
        i.operator.insert(k, "gss:E07000210".into());
        assert_eq!(TrustView::compute(&i).of(&k), Verification::Conflicting);
    }

    #[test]
    fn a_domain_proof_verifies_and_its_key_can_endorse() {
        let mut i = inputs(1);
        let a = claim(&mut i, 1, "gss:E07000209");
        let c = claim(&mut i, 3, "gss:E07000211");
        i.domains
            .insert(a, ("gss:E07000209".into(), "www.guildford.gov.uk".into()));
        i.endorsements.push((a, c, "gss:E07000211".into()));
        let v = TrustView::compute(&i);
        assert_eq!(v.of(&a), Verification::Verified);
        assert_eq!(
            v.get(&a).and_then(|t| t.basis.clone()),
            Some(Basis::Domain("www.guildford.gov.uk".into()))
        );
        assert_eq!(v.of(&c), Verification::Verified);
        // The operator's own word comes first.
        i.operator.insert(a, "gss:E07000209".into());
        let v = TrustView::compute(&i);
        assert_eq!(
            v.get(&a).and_then(|t| t.basis.clone()),
            Some(Basis::Operator)
        );
        // A revoked key stays revoked whatever its website says.
        i.operator.clear();
        i.revocations.push((a, a, 1));
        assert_eq!(TrustView::compute(&i).of(&a), Verification::Revoked);
    }

    #[test]
    fn domain_proof_records_round_trip_and_garbage_is_refused() {
        let p = DomainProof {
            website: "https://www.guildford.gov.uk/".into(),
            org_id: "gss:E07000209".into(),
            host: "www.guildford.gov.uk".into(),
            checked_at: 5,
            proven_at: 4,
            valid_until: 9,
            result: "proven".into(),
            detail: "listed\0 here".into(),
        };
        assert_eq!(DomainProof::decode(&p.encode()), Some(p.clone()));
        let bytes = p.encode();
        for cut in 0..bytes.len() {
            assert_eq!(DomainProof::decode(&bytes[..cut]), None, "cut at {cut}");
        }
    }
}
