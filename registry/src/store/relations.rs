//! Relations between keys, and what this node makes of them: the org claims,
//! endorsements, adoptions, revocations and rotations that manifests carry (kept as
//! secondary records beside their heads), the operator's own list of trusted keys, the
//! domain proofs this node found, and the trust judgement computed from them all and
//! cached until one of them changes.

use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_protocol::v1::{ManifestBody, manifest_body::Kind};

use super::layout::{adoption_key, key, prefix, read_u64};
use super::{OrgCard, OrgInfo, Registry, Result, StoreError, Stored};
use crate::trust::{DomainProof, TrustInputs, TrustView};

/// How long a trust judgement is reused when nothing it depends on changed (endorsements
/// expire with time, so it is recomputed now and then regardless).
const TRUST_CACHE_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// The secondary records a manifest carries, each with whether it is an input of the
/// trust judgement: its org claim, an endorsement, an adoption, a revocation, a key
/// rotation. Derived from the manifest alone, so that they can be derived again.
pub(super) fn relation_records(
    publisher: &PublisherKey,
    b: &ManifestBody,
    id: &ManifestId,
) -> Vec<(Vec<u8>, Vec<u8>, bool)> {
    match &b.kind {
        Some(Kind::Org(o)) => vec![(
            key(prefix::ORG, &[publisher.as_bytes()]),
            format!("{}\0{}", o.org_id, o.name).into_bytes(),
            true,
        )],
        Some(Kind::Endorsement(e)) => {
            let mut v = b.expires_at_ms.to_be_bytes().to_vec();
            v.extend_from_slice(id.as_bytes());
            v.extend_from_slice(e.org_id.as_bytes());
            vec![(
                key(prefix::ENDORSEMENT, &[&e.subject, publisher.as_bytes()]),
                v,
                true,
            )]
        }
        Some(Kind::Adoption(a)) => {
            let mut v = a.version.to_be_bytes().to_vec();
            v.extend_from_slice(&b.expires_at_ms.to_be_bytes());
            vec![(adoption_key(&a.publisher, &a.name, publisher), v, false)]
        }
        Some(Kind::Revocation(r)) => vec![(
            key(
                prefix::REVOCATION,
                &[&r.subject, publisher.as_bytes(), id.as_bytes()],
            ),
            r.revoked_at_ms.to_be_bytes().to_vec(),
            true,
        )],
        Some(Kind::KeyRotation(r)) => {
            let mut v = r.new_key.clone();
            v.extend_from_slice(&b.issued_at_ms.to_be_bytes());
            vec![(
                key(prefix::ROTATION, &[publisher.as_bytes(), id.as_bytes()]),
                v,
                true,
            )]
        }
        _ => vec![],
    }
}

impl Registry {
    /// The organisation a publisher's org card names, if this store has it.
    pub fn org_of(&self, publisher: &PublisherKey) -> Result<Option<OrgInfo>> {
        Ok(self
            .tree
            .get(key(prefix::ORG, &[publisher.as_bytes()]))?
            .and_then(|v| {
                let s = String::from_utf8_lossy(&v);
                s.split_once('\0').map(|(id, name)| OrgInfo {
                    org_id: id.to_owned(),
                    name: name.to_owned(),
                })
            }))
    }

    /// Sets *k*: how many verified organisations must endorse a key to verify it (at
    /// least 1).
    pub fn set_endorsements_required(&self, k: usize) {
        self.endorsements_required
            .store(k.max(1), std::sync::atomic::Ordering::Release);
        self.trust_gen
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// The operator trusts `publisher` as a key of `org_id` (`lgmesh trust add`). Local
    /// to this node; flushed before it returns.
    pub fn trust_add(&self, publisher: &PublisherKey, org_id: &str) -> Result<()> {
        self.tree.insert(
            key(prefix::TRUSTED, &[publisher.as_bytes()]),
            org_id.as_bytes(),
        )?;
        self.db.flush()?;
        self.trust_gen
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Takes `publisher` off the operator's list; false when it was not on it.
    pub fn trust_remove(&self, publisher: &PublisherKey) -> Result<bool> {
        let had = self
            .tree
            .remove(key(prefix::TRUSTED, &[publisher.as_bytes()]))?
            .is_some();
        self.db.flush()?;
        self.trust_gen
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(had)
    }

    /// The operator's list: key and organisation.
    pub fn trusted(&self) -> Result<Vec<(PublisherKey, String)>> {
        let mut out = vec![];
        for kv in self.tree.scan_prefix([prefix::TRUSTED]) {
            let (k, v) = kv?;
            if let Ok(pk) = PublisherKey::from_stored(&k[1..]) {
                out.push((pk, String::from_utf8_lossy(&v).into_owned()));
            }
        }
        Ok(out)
    }

    /// Every org card this store holds: its publisher, the organisation it claims and
    /// its website (empty when it names none). One read per publisher.
    pub fn org_cards(&self) -> Result<Vec<OrgCard>> {
        let mut out = vec![];
        for kv in self.tree.scan_prefix([prefix::ORG]) {
            let (k, _) = kv?;
            if let Ok(pk) = PublisherKey::from_stored(&k[1..]) {
                out.extend(self.org_card(&pk)?);
            }
        }
        Ok(out)
    }

    /// `publisher`'s current org card, if this store has one.
    pub fn org_card(&self, publisher: &PublisherKey) -> Result<Option<OrgCard>> {
        Ok(
            match self.resolve(publisher, lgmesh_protocol::schema::ORG_CARD_NAME)? {
                Some(Stored {
                    body:
                        ManifestBody {
                            kind: Some(Kind::Org(o)),
                            ..
                        },
                    ..
                }) => Some(OrgCard {
                    publisher: *publisher,
                    org_id: o.org_id,
                    website: o.website,
                }),
                _ => None,
            },
        )
    }

    /// What this node last found at `publisher`'s website (domain proof).
    pub fn domain_proof(&self, publisher: &PublisherKey) -> Result<Option<DomainProof>> {
        match self
            .tree
            .get(key(prefix::DOMAIN, &[publisher.as_bytes()]))?
        {
            Some(v) => Ok(Some(DomainProof::decode(&v).ok_or_else(|| {
                StoreError::Corrupt(format!("domain proof of {publisher}"))
            })?)),
            None => Ok(None),
        }
    }

    /// Every domain proof record, in key order.
    pub fn domain_proofs(&self) -> Result<Vec<(PublisherKey, DomainProof)>> {
        let mut out = vec![];
        for kv in self.tree.scan_prefix([prefix::DOMAIN]) {
            let (k, v) = kv?;
            if let (Ok(pk), Some(p)) = (PublisherKey::from_stored(&k[1..]), DomainProof::decode(&v))
            {
                out.push((pk, p));
            }
        }
        Ok(out)
    }

    /// Records the outcome of a domain check of `publisher`. Derived data (the next
    /// check finds it again), so it is not flushed at once.
    pub fn set_domain_proof(&self, publisher: &PublisherKey, p: &DomainProof) -> Result<()> {
        let old = self
            .tree
            .insert(key(prefix::DOMAIN, &[publisher.as_bytes()]), p.encode())?
            .and_then(|v| DomainProof::decode(&v));
        // Only what the judgement reads makes it stale: a re-check that finds the same
        // leaves the cached judgement alone (it is recomputed each minute regardless, as
        // proofs lapse with time).
        let says = |d: &DomainProof| (d.valid_until > 0, d.org_id.clone(), d.host.clone());
        if old.as_ref().map(says) != Some(says(p)) {
            self.trust_gen
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        Ok(())
    }

    /// Forgets the domain check of `publisher` (its org card is gone).
    pub fn remove_domain_proof(&self, publisher: &PublisherKey) -> Result<()> {
        if self
            .tree
            .remove(key(prefix::DOMAIN, &[publisher.as_bytes()]))?
            .is_some()
        {
            self.trust_gen
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        Ok(())
    }

    /// How this node judges every publisher key it knows (see [`crate::trust`]).
    /// Computed from the org cards, live endorsements and the operator's list, and
    /// reused until one of them changes (or a minute has passed, as endorsements expire).
    pub fn trust(&self) -> Result<std::sync::Arc<TrustView>> {
        let gen_now = self.trust_gen.load(std::sync::atomic::Ordering::Acquire);
        let mut cache = self.trust_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, at, view)) = cache.as_ref()
            && *g == gen_now
            && at.elapsed() < TRUST_CACHE_FOR
        {
            return Ok(view.clone());
        }
        let now = lgmesh_protocol::now_ms();
        let mut i = TrustInputs {
            required: self
                .endorsements_required
                .load(std::sync::atomic::Ordering::Acquire),
            ..Default::default()
        };
        for kv in self.tree.scan_prefix([prefix::ORG]) {
            let (k, v) = kv?;
            if let (Ok(pk), Some(org)) = (
                PublisherKey::from_stored(&k[1..]),
                v.split(|b| *b == 0).next(),
            ) {
                i.claims
                    .insert(pk, String::from_utf8_lossy(org).into_owned());
            }
        }
        i.operator.extend(self.trusted()?);
        for (pk, p) in self.domain_proofs()? {
            // A proof counts while it is fresh, and only for the organisation the key's
            // card claims now (a changed card is checked again).
            if p.valid_until > now && i.claims.get(&pk) == Some(&p.org_id) {
                i.domains.insert(pk, (p.org_id, p.host, p.official));
            }
        }
        for kv in self.tree.scan_prefix([prefix::ENDORSEMENT]) {
            let (k, v) = kv?;
            if k.len() != 65 || v.len() < 40 || read_u64(&v[..8]) <= now {
                continue;
            }
            if let (Ok(subject), Ok(endorser)) = (
                PublisherKey::from_stored(&k[1..33]),
                PublisherKey::from_stored(&k[33..65]),
            ) {
                let id = ManifestId(v[8..40].try_into().unwrap_or([0; 32]));
                i.endorsements.push((
                    endorser,
                    subject,
                    String::from_utf8_lossy(&v[40..]).into_owned(),
                    id,
                ));
            }
        }
        for kv in self.tree.scan_prefix([prefix::REVOCATION]) {
            let (k, v) = kv?;
            if k.len() != 97 || v.len() != 8 {
                continue;
            }
            if let (Ok(subject), Ok(revoker), Ok(id)) = (
                PublisherKey::from_stored(&k[1..33]),
                PublisherKey::from_stored(&k[33..65]),
                <[u8; 32]>::try_from(&k[65..97]),
            ) {
                i.revocations
                    .push((revoker, subject, read_u64(&v), ManifestId(id)));
            }
        }
        for kv in self.tree.scan_prefix([prefix::ROTATION]) {
            let (k, v) = kv?;
            if k.len() != 65 || v.len() != 40 {
                continue;
            }
            if let (Ok(old), Ok(new), Ok(id)) = (
                PublisherKey::from_stored(&k[1..33]),
                PublisherKey::from_stored(&v[..32]),
                <[u8; 32]>::try_from(&k[33..65]),
            ) {
                i.rotations
                    .push((old, new, read_u64(&v[32..]), ManifestId(id)));
            }
        }
        // What a rotation or revocation names as staying valid, read from its body only
        // for the statements that retire a key.
        let valid_ids = |id: &ManifestId| -> Vec<ManifestId> {
            let named = match self.get(id) {
                Ok(Some(s)) => match s.body.kind {
                    Some(Kind::KeyRotation(r)) => r.valid_ids,
                    Some(Kind::Revocation(r)) => r.valid_ids,
                    _ => vec![],
                },
                _ => vec![],
            };
            named
                .iter()
                .filter_map(|b| <[u8; 32]>::try_from(b.as_slice()).ok().map(ManifestId))
                .collect()
        };
        let view = std::sync::Arc::new(TrustView::compute(&i, &valid_ids));
        self.recount_unverified(&view)?;
        *cache = Some((gen_now, std::time::Instant::now(), view.clone()));
        Ok(view)
    }

    /// Who uses the service `(publisher, name)`: each adopter's key and the version it
    /// named (0 when unstated), live adoptions only.
    pub fn adopters(
        &self,
        publisher: &PublisherKey,
        name: &str,
    ) -> Result<Vec<(PublisherKey, u64)>> {
        let now = lgmesh_protocol::now_ms();
        let mut p = key(prefix::ADOPTION, &[publisher.as_bytes(), name.as_bytes()]);
        p.push(0);
        let mut out = vec![];
        for kv in self.tree.scan_prefix(&p) {
            let (k, v) = kv?;
            if v.len() != 16 || read_u64(&v[8..]) <= now {
                continue;
            }
            if let Ok(pk) = PublisherKey::from_stored(&k[p.len()..]) {
                out.push((pk, read_u64(&v[..8])));
            }
        }
        Ok(out)
    }

    /// Publishers whose org card claims `org_id` (a scan of the org cards: one per publisher).
    pub fn publishers_of_org(&self, org_id: &str) -> Result<Vec<PublisherKey>> {
        let mut out = vec![];
        for kv in self.tree.scan_prefix([prefix::ORG]) {
            let (k, v) = kv?;
            if v.split(|b| *b == 0).next() == Some(org_id.as_bytes())
                && let Ok(pk) = PublisherKey::from_stored(&k[1..])
            {
                out.push(pk);
            }
        }
        Ok(out)
    }
}
