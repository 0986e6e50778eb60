//! The judgement: verification grown outwards from the operator's choices with a work
//! list, then retirements, then the verdict on each key.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::identity::PublisherKey;

use super::{Basis, PublisherTrust, RIVALS_LISTED, Retirement, TrustView, Verification};

/// An endorsement: endorser, subject, the organisation it names, its manifest id.
pub type Endorsement = (PublisherKey, PublisherKey, String, ManifestId);

/// What the judgement is computed from.
#[derive(Debug, Default, Clone)]
pub struct TrustInputs {
    /// Each publisher's org card claim.
    pub claims: HashMap<PublisherKey, String>,
    /// The operator's list: key → organisation.
    pub operator: HashMap<PublisherKey, String>,
    /// Keys proven by a website: key → (organisation, host, official: the host is the
    /// organisation's own domain).
    pub domains: HashMap<PublisherKey, (String, String, bool)>,
    /// Live endorsements.
    pub endorsements: Vec<Endorsement>,
    /// Endorsements from verified organisations a key needs (*k*, at least 1).
    pub required: usize,
    /// Revocations: (revoker, subject, revoked from, manifest id).
    pub revocations: Vec<(PublisherKey, PublisherKey, u64, ManifestId)>,
    /// Key rotations: (old, new, when, manifest id).
    pub rotations: Vec<(PublisherKey, PublisherKey, u64, ManifestId)>,
}

/// Keys verified so far: organisation, basis, and whether the key's word counts.
type Verified = HashMap<PublisherKey, (String, Basis, bool)>;

impl TrustView {
    /// Judges every key the inputs mention. `valid_ids` gives the `valid_ids` a
    /// rotation or revocation manifest names (empty when it is not stored); it is asked
    /// only about the statements that retire a key.
    pub fn compute(
        i: &TrustInputs,
        valid_ids: &dyn Fn(&ManifestId) -> Vec<ManifestId>,
    ) -> TrustView {
        let k = i.required.max(1);
        // Rotations by old key, each distinct body once.
        let mut rotations: HashMap<PublisherKey, Vec<(PublisherKey, u64, ManifestId)>> =
            HashMap::new();
        for (old, new, at, id) in &i.rotations {
            let v = rotations.entry(*old).or_default();
            if !v.iter().any(|(_, _, x)| x == id) {
                v.push((*new, *at, *id));
            }
        }
        // Verify ignoring revocations, find which count, then verify again without
        // the revoked keys' say.
        let none = HashMap::new();
        let first = Self::verify(i, k, &rotations, &none);
        let retired = Self::retirements(i, k, &rotations, &first, valid_ids);
        let verified = if retired.values().any(|r| r.revoked) {
            Self::verify(i, k, &rotations, &retired)
        } else {
            Self::verify(i, k, &rotations, &none)
        };
        Self::judge(i, &rotations, verified, &first, retired)
    }

    /// Which keys are retired, and what of each stands.
    fn retirements(
        i: &TrustInputs,
        k: usize,
        rotations: &HashMap<PublisherKey, Vec<(PublisherKey, u64, ManifestId)>>,
        verified: &Verified,
        valid_ids: &dyn Fn(&ManifestId) -> Vec<ManifestId>,
    ) -> HashMap<PublisherKey, Retirement> {
        // Statements against each key: its own (rotations, self-revocations), and
        // revocations by others whose word counts, by organisation.
        let mut own: HashMap<PublisherKey, Vec<ManifestId>> = HashMap::new();
        let mut self_revoked: HashSet<PublisherKey> = HashSet::new();
        let mut by_others: HashMap<PublisherKey, HashMap<&str, Vec<ManifestId>>> = HashMap::new();
        for (old, rots) in rotations {
            own.entry(*old)
                .or_default()
                .extend(rots.iter().map(|(_, _, id)| *id));
        }
        for (revoker, subject, _, id) in &i.revocations {
            if revoker == subject {
                own.entry(*subject).or_default().push(*id);
                self_revoked.insert(*subject);
            } else if let Some((org, _, true)) = verified.get(revoker)
                && i.claims.get(subject) != Some(org)
            {
                by_others
                    .entry(*subject)
                    .or_default()
                    .entry(org.as_str())
                    .or_default()
                    .push(*id);
            }
        }
        let mut out = HashMap::new();
        let keys: BTreeSet<PublisherKey> = own.keys().chain(by_others.keys()).copied().collect();
        for key in keys {
            let others = by_others
                .get(&key)
                .filter(|orgs| orgs.len() >= k)
                .map(|orgs| orgs.values().flatten().copied().collect::<Vec<_>>())
                .unwrap_or_default();
            let mine = own.get(&key).cloned().unwrap_or_default();
            if mine.is_empty() && others.is_empty() {
                continue;
            }
            let n_rotations = rotations.get(&key).map_or(0, Vec::len);
            // What stands is what every statement names: a second one (a thief's) can
            // only take away, never add.
            let mut valid: Option<HashSet<ManifestId>> = None;
            for id in mine.iter().chain(&others) {
                let named: HashSet<ManifestId> = valid_ids(id).into_iter().collect();
                valid = Some(match valid {
                    None => named,
                    Some(v) => v.intersection(&named).copied().collect(),
                });
            }
            out.insert(
                key,
                Retirement {
                    valid: Arc::new(valid.unwrap_or_default()),
                    was_verified: verified.contains_key(&key),
                    revoked: self_revoked.contains(&key) || !others.is_empty() || n_rotations > 1,
                    rotations: n_rotations,
                },
            );
        }
        out
    }

    /// The verified keys, why, and whether their word counts; grown outwards from the
    /// operator's list and the domain proofs with a work list, each endorsement and
    /// rotation looked at once. Keys revoked in `retired` neither count nor vouch.
    fn verify(
        i: &TrustInputs,
        k: usize,
        rotations: &HashMap<PublisherKey, Vec<(PublisherKey, u64, ManifestId)>>,
        retired: &HashMap<PublisherKey, Retirement>,
    ) -> Verified {
        let revoked = |pk: &PublisherKey| retired.get(pk).is_some_and(|r| r.revoked);
        let mut verified: Verified = HashMap::new();
        let mut queue: VecDeque<PublisherKey> = VecDeque::new();
        for (pk, org) in &i.operator {
            if !revoked(pk) {
                verified.insert(*pk, (org.clone(), Basis::Operator, true));
                queue.push_back(*pk);
            }
        }
        for (pk, (org, host, official)) in &i.domains {
            if !revoked(pk) && !verified.contains_key(pk) {
                let basis = Basis::Domain {
                    host: host.clone(),
                    official: *official,
                };
                verified.insert(*pk, (org.clone(), basis, *official));
                queue.push_back(*pk);
            }
        }
        let mut by_endorser: HashMap<PublisherKey, Vec<(PublisherKey, &str, ManifestId)>> =
            HashMap::new();
        for (endorser, subject, org, id) in &i.endorsements {
            if endorser != subject {
                by_endorser
                    .entry(*endorser)
                    .or_default()
                    .push((*subject, org.as_str(), *id));
            }
        }
        // For each subject: the organisations whose word for it counts so far, and who.
        let mut support: HashMap<PublisherKey, HashMap<String, Vec<PublisherKey>>> = HashMap::new();
        while let Some(e) = queue.pop_front() {
            let Some((e_org, _, vouches)) = verified.get(&e).cloned() else {
                continue;
            };
            if vouches {
                for (subject, org, id) in by_endorser.get(&e).into_iter().flatten() {
                    if verified.contains_key(subject) || revoked(subject) {
                        continue;
                    }
                    // A retired endorser's word counts only where its retirement says
                    // what it signed stands.
                    if retired.get(&e).is_some_and(|r| !r.valid.contains(id)) {
                        continue;
                    }
                    let Some(claim) = i.claims.get(subject) else {
                        continue;
                    };
                    if *org != claim.as_str() || e_org == *claim {
                        continue;
                    }
                    let orgs = support.entry(*subject).or_default();
                    orgs.entry(e_org.clone()).or_default().push(e);
                    if orgs.len() >= k {
                        let mut by: Vec<PublisherKey> = orgs.values().flatten().copied().collect();
                        by.sort();
                        by.dedup();
                        verified.insert(*subject, (claim.clone(), Basis::Endorsed(by), true));
                        queue.push_back(*subject);
                    }
                }
            }
            // The one successor of a key that signed exactly one rotation, and was not
            // revoked, is verified for the same organisation.
            if let Some([(new, _, _)]) = rotations.get(&e).map(Vec::as_slice)
                && !revoked(&e)
                && !revoked(new)
                && !verified.contains_key(new)
                && i.claims.get(new).is_none_or(|c| *c == e_org)
            {
                verified.insert(*new, (e_org.clone(), Basis::Rotation(e), vouches));
                queue.push_back(*new);
            }
        }
        verified
    }

    fn judge(
        i: &TrustInputs,
        rotations: &HashMap<PublisherKey, Vec<(PublisherKey, u64, ManifestId)>>,
        verified: Verified,
        first: &Verified,
        retired: HashMap<PublisherKey, Retirement>,
    ) -> TrustView {
        let mut endorsed: HashMap<PublisherKey, Vec<(PublisherKey, String)>> = HashMap::new();
        for (endorser, subject, org, _) in &i.endorsements {
            if endorser != subject {
                endorsed
                    .entry(*subject)
                    .or_default()
                    .push((*endorser, org.clone()));
            }
        }
        let rotated: HashMap<PublisherKey, (PublisherKey, u64)> = rotations
            .iter()
            .filter_map(|(old, v)| match v.as_slice() {
                [(new, at, _)] => Some((*old, (*new, *at))),
                _ => None,
            })
            .collect();
        let mut rotated_from: HashMap<PublisherKey, Vec<PublisherKey>> = HashMap::new();
        for (old, (new, _)) in &rotated {
            rotated_from.entry(*new).or_default().push(*old);
        }
        let linked = |a: &PublisherKey, b: &PublisherKey| {
            rotated.get(a).is_some_and(|(n, _)| n == b)
                || rotated.get(b).is_some_and(|(n, _)| n == a)
        };
        let mut revoked_at: HashMap<PublisherKey, u64> = HashMap::new();
        for (_, subject, at, _) in &i.revocations {
            let e = revoked_at.entry(*subject).or_insert(*at);
            *e = (*e).min(*at);
        }
        // Claimants per organisation, in key order: a count and a few names each, so
        // that thousands of keys claiming one organisation cost memory in proportion.
        let mut claimants: HashMap<&str, Vec<PublisherKey>> = HashMap::new();
        for (pk, org) in &i.claims {
            claimants.entry(org.as_str()).or_default().push(*pk);
        }
        for v in claimants.values_mut() {
            v.sort();
        }
        let mut keys = HashMap::new();
        let all = i
            .claims
            .keys()
            .chain(i.operator.keys())
            .chain(i.domains.keys())
            .chain(endorsed.keys())
            .chain(retired.keys())
            .copied()
            .collect::<BTreeSet<_>>();
        for pk in all {
            let claimed_org = i.claims.get(&pk).cloned();
            let same = claimed_org
                .as_deref()
                .and_then(|c| claimants.get(c))
                .map(Vec::as_slice)
                .unwrap_or_default();
            // Itself and its rotation predecessors and successor that claim the same:
            // found from the rotations, not by walking every claimant.
            let linked_here = 1 + rotated
                .get(&pk)
                .map(|(n, _)| *n)
                .into_iter()
                .chain(rotated_from.get(&pk).into_iter().flatten().copied())
                .filter(|o| *o != pk && i.claims.get(o) == claimed_org.as_ref())
                .count();
            let rival_count = same.len().saturating_sub(linked_here);
            let rivals: Vec<PublisherKey> = same
                .iter()
                .filter(|o| **o != pk && !linked(o, &pk))
                .take(RIVALS_LISTED)
                .copied()
                .collect();
            let ret = retired.get(&pk).cloned();
            let v = verified
                .get(&pk)
                .or_else(|| first.get(&pk).filter(|_| ret.is_some()));
            let state = match (&ret, v, &claimed_org) {
                (Some(r), _, _) if r.revoked => Verification::Revoked,
                (Some(_), _, _) => Verification::Rotated,
                (None, Some((org, _, _)), Some(claim)) if org != claim => Verification::Conflicting,
                (None, Some(_), _) => Verification::Verified,
                (None, None, _) if rival_count > 0 => Verification::Conflicting,
                (None, None, _) => Verification::Unverified,
            };
            let mut endorsed_by = endorsed.get(&pk).cloned().unwrap_or_default();
            endorsed_by.sort();
            keys.insert(
                pk,
                PublisherTrust {
                    key: pk,
                    state,
                    claimed_org,
                    verified_org: v.map(|(o, _, _)| o.clone()),
                    basis: v.map(|(_, b, _)| b.clone()),
                    endorsed_by,
                    rivals,
                    rival_count,
                    revoked_at: revoked_at
                        .get(&pk)
                        .copied()
                        .filter(|_| ret.as_ref().is_some_and(|r| r.revoked)),
                    rotated_to: rotated.get(&pk).copied(),
                    retired: ret,
                },
            );
        }
        TrustView { keys }
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

    fn id(n: u8) -> ManifestId {
        ManifestId([n; 32])
    }

    fn endorse(i: &mut TrustInputs, by: PublisherKey, subject: PublisherKey, org: &str) {
        let mut e = [0xee; 32];
        e[..8].copy_from_slice(&(i.endorsements.len() as u64).to_le_bytes());
        i.endorsements
            .push((by, subject, org.into(), ManifestId(e)));
    }

    fn compute(i: &TrustInputs) -> TrustView {
        TrustView::compute(i, &|_| vec![])
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
        endorse(&mut i, a, c, "gss:E07000211");
        endorse(&mut i, b, c, "gss:E07000211");
        // d is endorsed by a and c: c becomes verified first, then d.
        endorse(&mut i, a, d, "gss:E07000212");
        endorse(&mut i, c, d, "gss:E07000212");
        let v = compute(&i);
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
        endorse(&mut i, a, c, "gss:E07000211");
        let v = compute(&i);
        assert_eq!(v.of(&c), Verification::Unverified);
        assert_eq!(v.get(&c).map(|t| t.endorsed_by.len()), Some(1));
    }

    #[test]
    fn loops_among_unverified_keys_and_self_endorsement_count_for_nothing() {
        let mut i = inputs(1);
        let a = claim(&mut i, 1, "gss:E07000209");
        let b = claim(&mut i, 2, "gss:E07000210");
        let c = claim(&mut i, 3, "gss:E07000211");
        endorse(&mut i, a, b, "gss:E07000210");
        endorse(&mut i, b, c, "gss:E07000211");
        endorse(&mut i, c, a, "gss:E07000209");
        endorse(&mut i, a, a, "gss:E07000209");
        let v = compute(&i);
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
        endorse(&mut i, a, a2, "gss:E07000209");
        let v = compute(&i);
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
        endorse(&mut i, a, c, "gss:E07000211");
        endorse(&mut i, a2, c, "gss:E07000211");
        assert_eq!(compute(&i).of(&c), Verification::Unverified);
    }

    #[test]
    fn an_endorsement_for_another_organisation_than_the_card_claims_does_not_count() {
        let mut i = inputs(1);
        let a = claim(&mut i, 1, "gss:E07000209");
        let c = claim(&mut i, 3, "gss:E07000211");
        i.operator.insert(a, "gss:E07000209".into());
        endorse(&mut i, a, c, "gss:E07000299");
        assert_eq!(compute(&i).of(&c), Verification::Unverified);
    }

    #[test]
    fn a_second_key_claiming_a_verified_organisation_is_conflicting() {
        let mut i = inputs(2);
        let real = claim(&mut i, 1, "gss:E07000209");
        let fake = claim(&mut i, 9, "gss:E07000209");
        i.operator.insert(real, "gss:E07000209".into());
        let v = compute(&i);
        assert_eq!(v.of(&real), Verification::Verified);
        assert_eq!(v.of(&fake), Verification::Conflicting);
        assert_eq!(v.get(&fake).map(|t| t.rivals.clone()), Some(vec![real]));
        // Trusted for one organisation while its card claims another: conflicting.
        let mut i = inputs(2);
        let k = claim(&mut i, 1, "gss:E07000209");
        i.operator.insert(k, "gss:E07000210".into());
        assert_eq!(compute(&i).of(&k), Verification::Conflicting);
    }

    #[test]
    fn a_domain_proof_verifies_and_its_key_can_endorse() {
        let mut i = inputs(1);
        let a = claim(&mut i, 1, "gss:E07000209");
        let c = claim(&mut i, 3, "gss:E07000211");
        i.domains.insert(
            a,
            ("gss:E07000209".into(), "www.guildford.gov.uk".into(), true),
        );
        endorse(&mut i, a, c, "gss:E07000211");
        let v = compute(&i);
        assert_eq!(v.of(&a), Verification::Verified);
        assert_eq!(
            v.get(&a).and_then(|t| t.basis.clone()),
            Some(Basis::Domain {
                host: "www.guildford.gov.uk".into(),
                official: true
            })
        );
        assert_eq!(v.of(&c), Verification::Verified);
        // The operator's own word comes first.
        i.operator.insert(a, "gss:E07000209".into());
        let v = compute(&i);
        assert_eq!(
            v.get(&a).and_then(|t| t.basis.clone()),
            Some(Basis::Operator)
        );
        // A revoked key stays revoked whatever its website says.
        i.operator.clear();
        i.revocations.push((a, a, 1, id(1)));
        assert_eq!(compute(&i).of(&a), Verification::Revoked);
    }

    /// Ten thousand keys claiming one organisation: each judgement names at most ten
    /// rivals and counts the rest, so the whole costs memory in proportion to the keys.
    #[test]
    fn thousands_of_claimants_of_one_organisation_cost_memory_in_proportion() {
        let mut i = inputs(2);
        let n = 10_000u32;
        let keys: Vec<PublisherKey> = (0..n)
            .map(|j| {
                let mut seed = [9u8; 32];
                seed[..4].copy_from_slice(&j.to_le_bytes());
                SecretKey::from_seed(&seed).public()
            })
            .collect();
        for k in &keys {
            i.claims.insert(*k, "gss:E07000209".into());
        }
        i.operator.insert(keys[0], "gss:E07000209".into());
        let v = compute(&i);
        let listed: usize = v.all().iter().map(|t| t.rivals.len()).sum();
        assert!(listed <= RIVALS_LISTED * n as usize, "{listed}");
        assert_eq!(v.of(&keys[0]), Verification::Verified);
        let t = v.get(&keys[1]).expect("judged");
        assert_eq!(t.state, Verification::Conflicting);
        assert_eq!(t.rival_count, n as usize - 1);
    }

    /// A chain of endorsements, each key vouched for by the one before (k = 1): every
    /// key is verified, each endorsement looked at once (the round-by-round judgement
    /// this replaced took one pass over all of them per link).
    #[test]
    fn a_long_chain_of_endorsements_is_followed_to_its_end() {
        let mut i = inputs(1);
        let n = 3_000u32;
        let keys: Vec<PublisherKey> = (0..n)
            .map(|j| {
                let mut seed = [8u8; 32];
                seed[..4].copy_from_slice(&j.to_le_bytes());
                SecretKey::from_seed(&seed).public()
            })
            .collect();
        for (j, k) in keys.iter().enumerate() {
            i.claims.insert(*k, format!("gss:E0{:08}", j));
        }
        i.operator.insert(keys[0], "gss:E000000000".into());
        for j in 1..keys.len() {
            let org = format!("gss:E0{:08}", j);
            endorse(&mut i, keys[j - 1], keys[j], &org);
        }
        let v = compute(&i);
        assert!(keys.iter().all(|k| v.of(k) == Verification::Verified));
    }
}
