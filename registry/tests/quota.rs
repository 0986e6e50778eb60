//! Quotas as facts about what is stored, the sweep of expired heads, and equivocation
//! proofs, against a real sled store in a temp dir.

use lgmesh_protocol::envelope::UnsignedManifest;
use lgmesh_protocol::identity::{PublisherKey, SecretKey};
use lgmesh_protocol::sample;
use lgmesh_protocol::v1::ManifestBody;
use lgmesh_protocol::validate::{Limits, Reason};
use lgmesh_registry::{Durability, IfBusy, PutOutcome, Quota, Registry};

const NOW: u64 = 1_790_000_000_000;

fn sign(key: &SecretKey, body: ManifestBody) -> Vec<u8> {
    UnsignedManifest(body).sign(key).to_bytes()
}

fn open(dir: &tempfile::TempDir) -> Registry {
    Registry::open(dir.path(), Limits::default()).expect("open")
}

fn service(name: &str, version: u64, title: &str) -> ManifestBody {
    sample::service(name, version, title, "A shared service.", &[524], &[], NOW)
}

fn put(reg: &Registry, key: &SecretKey, body: ManifestBody) -> PutOutcome {
    reg.put(&sign(key, body), NOW).expect("put")
}

fn is_stored(o: &PutOutcome) -> bool {
    matches!(o, PutOutcome::Stored(_))
}

/// The usage of every key, as the store keeps it.
fn usages(reg: &Registry, keys: &[PublisherKey]) -> Vec<(u64, u64)> {
    keys.iter().map(|k| reg.usage(k).expect("usage")).collect()
}

/// Whatever a key does (publish, update, retract, equivocate, expire and be swept), its
/// usage is what it has stored: the counts add up to the store's, and deriving them
/// again from the manifests gives the same.
#[test]
fn usage_is_what_is_stored_and_derives_again_to_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let verified = SecretKey::from_seed(&[1; 32]);
    let free = SecretKey::from_seed(&[2; 32]);
    let other = SecretKey::from_seed(&[3; 32]);
    reg.trust_add(&verified.public(), "gss:E07000209")
        .expect("trust");
    for key in [&verified, &free, &other] {
        for i in 0..6 {
            assert!(is_stored(&put(
                &reg,
                key,
                service(&format!("s{i}"), 1, "One")
            )));
        }
        // Updates: history for the verified key, replacement for the others.
        for i in 0..3 {
            assert!(is_stored(&put(
                &reg,
                key,
                service(&format!("s{i}"), 2, "Two")
            )));
        }
        // A retraction of a name nobody published, and of one that exists.
        assert!(is_stored(&put(
            &reg,
            key,
            sample::retraction("never", 1, NOW)
        )));
        assert!(is_stored(&put(&reg, key, sample::retraction("s5", 2, NOW))));
        // Equivocation: kept as evidence.
        let o = put(&reg, key, service("s3", 1, "A second body"));
        assert!(
            matches!(&o, PutOutcome::Rejected(r) if r.reason == Reason::Equivocation),
            "{o:?}"
        );
    }
    // A short-lived manifest of the unverified key expires and is swept away.
    let mut brief = service("brief", 1, "Brief");
    brief.expires_at_ms = NOW + 10;
    assert!(is_stored(&put(&reg, &free, brief)));
    let keys = [verified.public(), free.public(), other.public()];
    let before_sweep = usages(&reg, &keys)[1];
    assert_eq!(reg.sweep_expired(NOW + 20).expect("sweep"), 1);
    assert_eq!(
        usages(&reg, &keys)[1],
        (
            before_sweep.0 - 1,
            before_sweep.1
                - sign(&free, {
                    let mut b = service("brief", 1, "Brief");
                    b.expires_at_ms = NOW + 10;
                    b
                })
                .len() as u64
        ),
        "the swept manifest no longer counts"
    );

    let kept = usages(&reg, &keys);
    let total: u64 = kept.iter().map(|u| u.0).sum();
    assert_eq!(
        total,
        reg.counts().expect("counts").manifests,
        "every manifest counted once"
    );
    // Each keeps its six first versions (s5's, withdrawn, kept with its tombstone) but
    // where an update replaced them, two tombstones and one body as evidence; the
    // verified key keeps the three replaced versions too, as history.
    assert_eq!(kept[0].0, 6 + 3 + 2 + 1);
    assert_eq!(kept[1].0, 3 + 3 + 2 + 1);
    assert_eq!(kept[2].0, 3 + 3 + 2 + 1);
    reg.rederive().expect("derive again");
    assert_eq!(usages(&reg, &keys), kept, "derived again, the same");
    drop(reg);
    let reg = open(&dir);
    assert_eq!(usages(&reg, &keys), kept, "and after a reopen");
}

/// A quota holds an unverified key to what it has stored: it may update and retract
/// what it has at a full quota (each replaces), not add more; and once its short-lived
/// manifests expire and are swept, it may publish again.
#[test]
fn a_full_quota_allows_replacing_not_adding_and_frees_up_as_things_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    reg.set_quota(Quota {
        max_manifests: 4,
        max_bytes: 1 << 20,
        max_total_bytes: 1 << 30,
    });
    let key = SecretKey::from_seed(&[4; 32]);
    for i in 0..4 {
        let mut b = service(&format!("s{i}"), 1, "One");
        b.expires_at_ms = NOW + 1_000;
        assert!(is_stored(&put(&reg, &key, b)));
    }
    let o = put(&reg, &key, service("s9", 1, "One too many"));
    assert!(
        matches!(&o, PutOutcome::Rejected(r) if r.reason == Reason::Quota),
        "{o:?}"
    );
    let o = put(&reg, &key, sample::retraction("never", 1, NOW));
    assert!(
        matches!(&o, PutOutcome::Rejected(r) if r.reason == Reason::Quota),
        "a tombstone of a name it never had adds one: {o:?}"
    );
    for v in 2..5 {
        let mut b = service("s0", v, "Renewed");
        b.expires_at_ms = NOW + 1_000;
        assert!(is_stored(&put(&reg, &key, b)), "renewal {v} replaces");
    }
    assert!(is_stored(&put(
        &reg,
        &key,
        sample::retraction("s1", 2, NOW)
    )));
    assert_eq!(reg.usage(&key.public()).expect("usage").0, 4);
    // Once they expire and are swept, the quota is free again.
    assert_eq!(reg.sweep_expired(NOW + 2_000).expect("sweep"), 3);
    assert_eq!(
        reg.usage(&key.public()).expect("usage").0,
        1,
        "the tombstone"
    );
    for i in 10..13 {
        assert!(is_stored(&put(
            &reg,
            &key,
            service(&format!("s{i}"), 1, "New")
        )));
    }
    assert!(
        reg.resolve(&key.public(), "s2").expect("resolve").is_none(),
        "swept"
    );
}

/// Expired heads of a publisher this node verifies stay (shown as expired), and every
/// expired head leaves the sync set: peers never fetch what they would refuse.
#[test]
fn expired_heads_leave_the_sync_set_and_verified_ones_stay_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let key = SecretKey::from_seed(&[5; 32]);
    reg.trust_add(&key.public(), "gss:E07000209")
        .expect("trust");
    let now = lgmesh_protocol::now_ms();
    let mut b = sample::service("brief", 1, "Brief", "Soon gone.", &[], &[], now);
    // Long enough that a loaded machine still stores it before it expires.
    b.expires_at_ms = now + 3000;
    let id = match reg.put(&sign(&key, b), now).expect("put") {
        PutOutcome::Stored(id) => id,
        o => panic!("{o:?}"),
    };
    assert_eq!(reg.sync_items().expect("sync").len(), 1);
    let left = (now + 3100).saturating_sub(lgmesh_protocol::now_ms());
    std::thread::sleep(std::time::Duration::from_millis(left));
    assert!(
        reg.sync_items().expect("sync").is_empty(),
        "expired: out of the sync set"
    );
    assert_eq!(
        reg.sweep_expired(lgmesh_protocol::now_ms()).expect("sweep"),
        0
    );
    assert!(
        reg.get(&id).expect("get").is_some(),
        "a verified publisher's stays"
    );
    drop(reg);
    let reg = open(&dir);
    assert!(
        reg.sync_items().expect("sync").is_empty(),
        "and after a reopen"
    );
}

/// A proof of equivocation received from a peer flags the publisher, joins the sync set
/// (so it travels on), and is served back by its id; a pair that does not contradict
/// is refused.
#[test]
fn a_received_proof_flags_the_publisher_and_travels_on() {
    let (d1, d2) = (
        tempfile::tempdir().expect("t"),
        tempfile::tempdir().expect("t"),
    );
    let (seen, told) = (open(&d1), open(&d2));
    let key = SecretKey::from_seed(&[6; 32]);
    let a = sign(&key, service("x", 1, "One body"));
    let b = sign(&key, service("x", 1, "Another body"));
    assert!(is_stored(&seen.put(&a, NOW).expect("put")));
    assert!(matches!(
        seen.put(&b, NOW).expect("put"),
        PutOutcome::Rejected(_)
    ));
    assert!(seen.equivocated(&key.public()).expect("flag"));
    // What sync sends for the proof's item.
    let items = seen.sync_items().expect("sync");
    assert_eq!(items.len(), 2, "the head and the proof");
    let proof = items
        .iter()
        .find_map(|(_, id)| seen.proof(id).expect("proof").map(|p| (*id, p)))
        .expect("a proof in the sync set");
    let (pid, (first, second)) = proof;
    // Another node holding nothing of it takes it.
    let out = put_proofs(&told, &[(first.clone(), second.clone())]);
    assert!(
        matches!(out[..], [PutOutcome::Stored(id)] if id == pid),
        "{out:?}"
    );
    assert!(told.equivocated(&key.public()).expect("flag"));
    assert!(
        told.resolve(&key.public(), "x").expect("r").is_none(),
        "no head from a proof"
    );
    assert!(told.sync_items().expect("sync").contains(&(NOW, pid)));
    assert_eq!(put_proofs(&told, &[(first, second)]).len(), 1);
    // Two bodies of different versions are no proof; nor one body twice.
    let c = sign(&key, service("x", 2, "Version two"));
    let out = put_proofs(&told, &[(a.clone(), c), (a.clone(), a)]);
    for o in out {
        assert!(
            matches!(&o, PutOutcome::Rejected(r) if r.reason == Reason::Schema),
            "{o:?}"
        );
    }
}

/// Checks and writes equivocation proofs, as sync does.
fn put_proofs(reg: &Registry, proofs: &[(Vec<u8>, Vec<u8>)]) -> Vec<PutOutcome> {
    let checked = reg.check(&[], proofs, NOW);
    reg.write(checked, Durability::Flushed, IfBusy::Wait, |_| {})
        .expect("put")
}
