//! Trust state, endorsements, adoptions and expiry against a real sled store.

use lgmesh_protocol::envelope::UnsignedManifest;
use lgmesh_protocol::identity::{PublisherKey, SecretKey};
use lgmesh_protocol::sample;
use lgmesh_protocol::v1::ManifestBody;
use lgmesh_protocol::validate::Limits;
use lgmesh_registry::{PutOutcome, Query, Registry, Verification};

const NOW: u64 = 1_790_000_000_000;

fn put(reg: &Registry, key: &SecretKey, body: ManifestBody) {
    match reg
        .put(&UnsignedManifest(body).sign(key).to_bytes(), NOW)
        .expect("put")
    {
        PutOutcome::Stored(_) => {}
        other => panic!("expected stored, got {other:?}"),
    }
}

/// Four councils with org cards; returns their keys.
fn councils(reg: &Registry) -> Vec<SecretKey> {
    let orgs = [
        ("gss:E07000209", "Guildford Borough Council"),
        ("gss:E07000210", "Mole Valley District Council"),
        ("gss:E07000211", "Reigate and Banstead Borough Council"),
        ("gss:E07000212", "Runnymede Borough Council"),
    ];
    orgs.iter()
        .enumerate()
        .map(|(i, (id, name))| {
            let k = SecretKey::from_seed(&[i as u8 + 1; 32]);
            put(reg, &k, sample::org(id, name, 1, NOW));
            k
        })
        .collect()
}

fn service(reg: &Registry, k: &SecretKey, name: &str) {
    put(
        reg,
        k,
        sample::service(
            name,
            1,
            "Bin collection days",
            "By postcode.",
            &[524],
            &["E07000209"],
            NOW,
        ),
    );
}

fn publishers(reg: &Registry, q: Query) -> Vec<PublisherKey> {
    reg.wait_indexed().expect("indexed");
    let page = reg
        .search(&Query {
            page_size: 100,
            ..q
        })
        .expect("search");
    page.hits
        .iter()
        .map(|h| reg.get(&h.id).expect("get").expect("stored").publisher)
        .collect()
}

#[test]
fn endorsements_verify_a_key_once_k_verified_organisations_vouch_and_a_retraction_undoes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::open(dir.path(), Limits::default()).expect("open");
    let c = councils(&reg);
    let [a, b, x, y] = [0, 1, 2, 3].map(|i| c[i].public());
    reg.trust_add(&a, "gss:E07000209").expect("trust");
    reg.trust_add(&b, "gss:E07000210").expect("trust");
    assert_eq!(reg.trust().expect("trust").of(&x), Verification::Unverified);

    put(
        &reg,
        &c[0],
        sample::endorsement(&x, "gss:E07000211", 1, NOW),
    );
    assert_eq!(
        reg.trust().expect("trust").of(&x),
        Verification::Unverified,
        "k = 2"
    );
    put(
        &reg,
        &c[1],
        sample::endorsement(&x, "gss:E07000211", 1, NOW),
    );
    assert_eq!(reg.trust().expect("trust").of(&x), Verification::Verified);
    // y has endorsements only from unverified keys: nothing.
    put(
        &reg,
        &c[2],
        sample::endorsement(&y, "gss:E07000212", 1, NOW),
    );
    assert_eq!(
        reg.trust().expect("trust").of(&y),
        Verification::Unverified,
        "x's one endorsement"
    );
    reg.set_endorsements_required(1);
    assert_eq!(
        reg.trust().expect("trust").of(&y),
        Verification::Verified,
        "x is verified now, k = 1"
    );
    reg.set_endorsements_required(2);

    // b withdraws its endorsement: x falls back to one.
    let name = lgmesh_protocol::schema::endorsement_name(x.as_bytes());
    put(&reg, &c[1], sample::retraction(&name, 2, NOW));
    assert_eq!(reg.trust().expect("trust").of(&x), Verification::Unverified);
    // And the operator's list survives a reopen.
    drop(reg);
    let reg = Registry::open(dir.path(), Limits::default()).expect("reopen");
    let t = reg.trust().expect("trust");
    assert_eq!(t.of(&a), Verification::Verified);
    assert_eq!(t.get(&x).map(|t| t.endorsed_by.len()), Some(1));
    assert!(reg.trust_remove(&a).expect("remove"));
    assert_eq!(reg.trust().expect("trust").of(&a), Verification::Unverified);
}

#[test]
fn verified_only_search_hides_unverified_and_conflicting_publishers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::open(dir.path(), Limits::default()).expect("open");
    let c = councils(&reg);
    let impostor = SecretKey::from_seed(&[66; 32]);
    put(
        &reg,
        &impostor,
        sample::org("gss:E07000209", "Guildford Borough Council", 1, NOW),
    );
    reg.trust_add(&c[0].public(), "gss:E07000209")
        .expect("trust");
    for k in [&c[0], &c[1], &impostor] {
        service(&reg, k, "bin-collection");
    }
    let t = reg.trust().expect("trust");
    assert_eq!(t.of(&impostor.public()), Verification::Conflicting);
    assert_eq!(t.of(&c[0].public()), Verification::Verified);
    assert_eq!(t.of(&c[1].public()), Verification::Unverified);

    let q = Query {
        text: "bin".into(),
        ..Default::default()
    };
    assert_eq!(publishers(&reg, q.clone()).len(), 3);
    assert_eq!(
        publishers(
            &reg,
            Query {
                verified_only: true,
                ..q
            }
        ),
        vec![c[0].public()]
    );
}

#[test]
fn adoptions_are_listed_per_service_and_withdrawn_by_retraction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::open(dir.path(), Limits::default()).expect("open");
    let c = councils(&reg);
    let owner = c[0].public();
    service(&reg, &c[0], "bin-collection");
    put(
        &reg,
        &c[1],
        sample::adoption(&owner, "bin-collection", 1, NOW),
    );
    put(
        &reg,
        &c[2],
        sample::adoption(&owner, "bin-collection", 1, NOW),
    );
    let mut users: Vec<_> = reg
        .adopters(&owner, "bin-collection")
        .expect("adopters")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    users.sort();
    let mut want = vec![c[1].public(), c[2].public()];
    want.sort();
    assert_eq!(users, want);
    let name = lgmesh_protocol::schema::adoption_name(owner.as_bytes(), "bin-collection");
    put(&reg, &c[2], sample::retraction(&name, 2, NOW));
    assert_eq!(
        reg.adopters(&owner, "bin-collection").expect("adopters"),
        vec![(c[1].public(), 1)]
    );
    // Needs are searchable by LGSL code.
    put(
        &reg,
        &c[3],
        sample::need("bulky-waste", "Bulky waste booking", &[863], NOW),
    );
    let found = publishers(
        &reg,
        Query {
            lgsl: Some(863),
            ..Default::default()
        },
    );
    assert_eq!(found, vec![c[3].public()]);
}

#[test]
fn expired_heads_are_hidden_from_default_search_but_can_be_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::open(dir.path(), Limits::default()).expect("open");
    let k = SecretKey::from_seed(&[5; 32]);
    service(&reg, &k, "bin-collection");
    let later = NOW + lgmesh_protocol::YEAR_MS + 1;
    let q = Query {
        text: "bin".into(),
        now_ms: NOW,
        ..Default::default()
    };
    assert_eq!(publishers(&reg, q.clone()).len(), 1);
    let q = Query { now_ms: later, ..q };
    assert!(publishers(&reg, q.clone()).is_empty());
    assert_eq!(
        publishers(
            &reg,
            Query {
                include_expired: true,
                ..q
            }
        )
        .len(),
        1
    );
    // A frozen publisher (no renewals) shows up in the observer's count.
    assert_eq!(reg.expired_heads(NOW).expect("count"), 0);
    assert_eq!(reg.expired_heads(later).expect("count"), 1);
}

#[test]
fn malformed_endorsements_and_adoptions_are_refused_with_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::open(dir.path(), Limits::default()).expect("open");
    let k = SecretKey::from_seed(&[5; 32]);
    let other = SecretKey::from_seed(&[6; 32]).public();
    let cases: Vec<(ManifestBody, &str)> = vec![
        (
            sample::endorsement(&k.public(), "gss:E07000209", 1, NOW),
            "subject",
        ),
        (sample::endorsement(&other, "gss:nonsense", 1, NOW), "orgId"),
        (
            ManifestBody {
                name: "endorse-wrong".into(),
                ..sample::endorsement(&other, "gss:E07000209", 1, NOW)
            },
            "name",
        ),
        (
            ManifestBody {
                name: "adopt-wrong".into(),
                ..sample::adoption(&other, "bins", 1, NOW)
            },
            "name",
        ),
        (sample::need("bulky-waste", "Bulky waste", &[], NOW), "lgsl"),
    ];
    for (body, field) in cases {
        match reg
            .put(&UnsignedManifest(body).sign(&k).to_bytes(), NOW)
            .expect("put")
        {
            PutOutcome::Rejected(r) => {
                assert!(r.fields.iter().any(|f| f.field == field), "{field}: {r}")
            }
            other => panic!("{field}: expected a rejection, got {other:?}"),
        }
    }
    assert_eq!(reg.counts().expect("counts").manifests, 0);
}

#[test]
fn an_unverified_publisher_is_held_to_its_quota_and_a_verified_one_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::open(dir.path(), Limits::default()).expect("open");
    reg.set_quota(lgmesh_registry::Quota {
        max_manifests: 5,
        max_bytes: 1 << 20,
        max_total_bytes: 1 << 30,
    });
    let flooder = SecretKey::from_seed(&[77; 32]);
    let honest = SecretKey::from_seed(&[1; 32]);
    reg.trust_add(&honest.public(), "gss:E07000209")
        .expect("trust");
    let body =
        |i: usize| sample::service(&format!("spam-{i}"), 1, "Spam", "Spam.", &[524], &[], NOW);
    let sign = |k: &SecretKey, b: ManifestBody| UnsignedManifest(b).sign(k).to_bytes();
    let flood: Vec<Vec<u8>> = (0..20).map(|i| sign(&flooder, body(i))).collect();
    let outcomes = reg.put_batch(&flood, NOW).expect("batch");
    let stored = outcomes
        .iter()
        .filter(|o| matches!(o, PutOutcome::Stored(_)))
        .count();
    assert_eq!(stored, 5, "the quota holds within one batch");
    match &outcomes[5] {
        PutOutcome::Rejected(r) => {
            assert_eq!(r.reason, lgmesh_protocol::validate::Reason::Quota);
            assert!(r.message.contains("quota of 5 manifests"), "{r}");
        }
        other => panic!("expected a quota rejection, got {other:?}"),
    }
    // Across batches and a reopen too; a retraction is still accepted.
    drop(reg);
    let reg = Registry::open(dir.path(), Limits::default()).expect("reopen");
    reg.set_quota(lgmesh_registry::Quota {
        max_manifests: 5,
        max_bytes: 1 << 20,
        max_total_bytes: 1 << 30,
    });
    assert!(matches!(
        reg.put(&sign(&flooder, body(99)), NOW).expect("put"),
        PutOutcome::Rejected(_)
    ));
    assert!(matches!(
        reg.put(&sign(&flooder, sample::retraction("spam-0", 2, NOW)), NOW)
            .expect("put"),
        PutOutcome::Stored(_)
    ));
    assert_eq!(reg.usage(&flooder.public()).expect("usage").0, 5);
    // The verified publisher is not limited.
    for i in 0..10 {
        assert!(matches!(
            reg.put(&sign(&honest, body(i)), NOW).expect("put"),
            PutOutcome::Stored(_)
        ));
    }
}

fn put_at(reg: &Registry, key: &SecretKey, body: ManifestBody) -> PutOutcome {
    reg.put(&UnsignedManifest(body).sign(key).to_bytes(), NOW)
        .expect("put")
}

fn at(name: &str, t: u64) -> ManifestBody {
    sample::service(
        name,
        1,
        "Bin collection days",
        "By postcode.",
        &[524],
        &[],
        t,
    )
}

fn stored_id(o: PutOutcome) -> lgmesh_protocol::envelope::ManifestId {
    match o {
        PutOutcome::Stored(id) => id,
        other => panic!("expected stored, got {other:?}"),
    }
}

fn revoked(o: PutOutcome) {
    match o {
        PutOutcome::Rejected(r) => {
            assert_eq!(r.reason, lgmesh_protocol::validate::Reason::Revoked, "{r}")
        }
        other => panic!("expected revoked, got {other:?}"),
    }
}

/// A revocation of `subject` signed at `NOW` that names `valid` as still genuine.
fn revocation(
    subject: &PublisherKey,
    valid: &[lgmesh_protocol::envelope::ManifestId],
) -> ManifestBody {
    let mut b = sample::revocation(subject, NOW - 60_000, NOW);
    if let Some(lgmesh_protocol::v1::manifest_body::Kind::Revocation(r)) = &mut b.kind {
        r.valid_ids = valid.iter().map(|id| id.as_bytes().to_vec()).collect();
    }
    b
}

#[test]
fn a_revoked_key_is_refused_whatever_time_it_claims_and_what_its_revocation_names_stays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::open(dir.path(), Limits::default()).expect("open");
    let c = councils(&reg);
    let [a, b, x] = [0, 1, 2].map(|i| c[i].public());
    reg.trust_add(&a, "gss:E07000209").expect("trust");
    reg.trust_add(&b, "gss:E07000210").expect("trust");
    reg.trust_add(&x, "gss:E07000211").expect("trust");
    let before = stored_id(put_at(&reg, &c[2], at("before", NOW - 10_000)));
    // One other organisation's revocation is not enough (k = 2).
    stored_id(put_at(&reg, &c[0], revocation(&x, &[before])));
    assert_eq!(reg.trust().expect("trust").of(&x), Verification::Verified);
    let fine = stored_id(put_at(&reg, &c[2], at("still-fine", NOW)));
    // A second organisation: revoked. Only what both revocations name stands.
    stored_id(put_at(&reg, &c[1], revocation(&x, &[before, fine])));
    let t = reg.trust().expect("trust");
    assert_eq!(t.of(&x), Verification::Revoked);
    assert_eq!(t.of_manifest(&x, &before), Verification::Verified);
    assert_eq!(
        t.of_manifest(&x, &fine),
        Verification::Revoked,
        "named by one only"
    );
    // Nothing new, not even backdated to before either revocation was signed.
    revoked(put_at(&reg, &c[2], at("after", NOW)));
    revoked(put_at(&reg, &c[2], at("backdated", NOW - 1_000_000)));
    assert!(reg.resolve(&x, "before").expect("resolve").is_some());
    // A key can revoke itself, and that cannot be taken back: a retraction of it is a
    // second statement (equivocation), not an undo.
    let y = &c[3];
    stored_id(put_at(&reg, y, revocation(&y.public(), &[])));
    assert_eq!(
        reg.trust().expect("trust").of(&y.public()),
        Verification::Revoked
    );
    let name = lgmesh_protocol::schema::revocation_name(y.public().as_bytes());
    match put_at(&reg, y, sample::retraction(&name, 2, NOW)) {
        PutOutcome::Rejected(r) => {
            assert_eq!(
                r.reason,
                lgmesh_protocol::validate::Reason::Equivocation,
                "{r}"
            )
        }
        other => panic!("signed after its own revocation: {other:?}"),
    }
    assert_eq!(
        reg.trust().expect("trust").of(&y.public()),
        Verification::Revoked
    );
}

/// A rotation of `old` to `new`, signed by both, naming `valid` as standing.
fn rotation(
    old: &SecretKey,
    new: &SecretKey,
    version: u64,
    issued: u64,
    valid: &[lgmesh_protocol::envelope::ManifestId],
) -> ManifestBody {
    ManifestBody {
        publisher: vec![],
        name: lgmesh_protocol::schema::ROTATION_NAME.into(),
        version,
        issued_at_ms: issued,
        expires_at_ms: issued + lgmesh_protocol::YEAR_MS,
        kind: Some(lgmesh_protocol::v1::manifest_body::Kind::KeyRotation(
            lgmesh_protocol::v1::KeyRotation {
                new_key: new.public().as_bytes().to_vec(),
                new_key_signature: lgmesh_protocol::envelope::sign_rotation(new, &old.public())
                    .to_vec(),
                valid_ids: valid.iter().map(|id| id.as_bytes().to_vec()).collect(),
            },
        )),
    }
}

#[test]
fn a_key_rotation_passes_verification_to_the_successor_and_retires_the_old_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::open(dir.path(), Limits::default()).expect("open");
    let c = councils(&reg);
    let old = &c[0];
    reg.trust_add(&old.public(), "gss:E07000209")
        .expect("trust");
    let new = SecretKey::from_seed(&[99; 32]);
    let kept = stored_id(put_at(&reg, old, at("kept", NOW - 5_000)));
    // Without the new key's signature it is refused, naming the field.
    let mut bad = rotation(old, &new, 1, NOW - 1000, &[kept]);
    if let Some(lgmesh_protocol::v1::manifest_body::Kind::KeyRotation(r)) = &mut bad.kind {
        r.new_key_signature = vec![7; 64];
    }
    match put_at(&reg, old, bad) {
        PutOutcome::Rejected(r) => {
            assert!(r.fields.iter().any(|f| f.field == "newKeySignature"), "{r}")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    stored_id(put_at(
        &reg,
        old,
        rotation(old, &new, 1, NOW - 1000, &[kept]),
    ));
    // The successor's card claims the same organisation: verified, not conflicting.
    put(
        &reg,
        &new,
        sample::org("gss:E07000209", "Guildford Borough Council", 1, NOW),
    );
    let t = reg.trust().expect("trust");
    assert_eq!(t.of(&new.public()), Verification::Verified);
    assert!(t.get(&new.public()).is_some_and(|t| t.rival_count == 0));
    assert_eq!(t.of(&old.public()), Verification::Rotated);
    assert_eq!(
        t.of_manifest(&old.public(), &kept),
        Verification::Verified,
        "named"
    );
    // The old key signs nothing new, however early it says it signed it.
    revoked(put_at(&reg, old, at("after-rotation", NOW)));
    revoked(put_at(&reg, old, at("backdated", NOW - 60_000)));
}

/// Two different rotations from one key (the owner's and a thief's) are equivocation:
/// both are kept, the key is revoked, and neither successor is verified by rotation,
/// whichever arrives first.
#[test]
fn two_rotations_from_one_key_verify_neither_successor_in_either_order() {
    let owner_new = SecretKey::from_seed(&[98; 32]);
    let thief = SecretKey::from_seed(&[97; 32]);
    for thief_first in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = Registry::open(dir.path(), Limits::default()).expect("open");
        let c = councils(&reg);
        let old = &c[0];
        reg.trust_add(&old.public(), "gss:E07000209")
            .expect("trust");
        let genuine = rotation(old, &owner_new, 1, NOW - 1000, &[]);
        // The thief's: a later version, backdated before the genuine one.
        let forged = rotation(old, &thief, 2, NOW - 50_000, &[]);
        let (first, second) = if thief_first {
            (forged, genuine)
        } else {
            (genuine, forged)
        };
        stored_id(put_at(&reg, old, first));
        match put_at(&reg, old, second) {
            PutOutcome::Rejected(r) => {
                assert_eq!(
                    r.reason,
                    lgmesh_protocol::validate::Reason::Equivocation,
                    "{r}"
                )
            }
            other => panic!("a second rotation: {other:?}"),
        }
        for k in [&owner_new, &thief] {
            put(
                &reg,
                k,
                sample::org("gss:E07000209", "Guildford Borough Council", 1, NOW),
            );
        }
        let t = reg.trust().expect("trust");
        assert_eq!(
            t.of(&old.public()),
            Verification::Revoked,
            "thief first: {thief_first}"
        );
        assert_ne!(t.of(&owner_new.public()), Verification::Verified);
        assert_ne!(t.of(&thief.public()), Verification::Verified);
        assert!(reg.equivocated(&old.public()).expect("flag"), "flagged");
    }
}

#[test]
fn records_of_trust_and_reuse_are_listed_only_when_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::open(dir.path(), Limits::default()).expect("open");
    let c = councils(&reg);
    service(&reg, &c[0], "bin-collection");
    put(
        &reg,
        &c[0],
        sample::endorsement(&c[1].public(), "gss:E07000210", 1, NOW),
    );
    put(
        &reg,
        &c[1],
        sample::adoption(&c[0].public(), "bin-collection", 1, NOW),
    );
    reg.wait_indexed().expect("indexed");
    let kinds = |q: Query| -> Vec<String> {
        let page = reg
            .search(&Query {
                page_size: 100,
                ..q
            })
            .expect("search");
        let mut k: Vec<String> = page
            .hits
            .iter()
            .map(|h| {
                reg.get(&h.id)
                    .expect("get")
                    .expect("stored")
                    .kind()
                    .to_owned()
            })
            .collect();
        k.sort();
        k
    };
    let all = kinds(Query::default());
    assert!(
        !all.iter().any(|k| k == "endorsement" || k == "adoption"),
        "{all:?}"
    );
    assert_eq!(
        kinds(Query {
            kind: Some("endorsement".into()),
            ..Default::default()
        }),
        vec!["endorsement"]
    );
    assert_eq!(
        kinds(Query {
            kind: Some("adoption".into()),
            ..Default::default()
        }),
        vec!["adoption"]
    );
    // Text never matches them either (they carry none).
    let text = kinds(Query {
        text: "gss:E07000210".into(),
        ..Default::default()
    });
    assert!(
        !text.is_empty() && text.iter().all(|k| k == "org"),
        "{text:?}"
    );
}
