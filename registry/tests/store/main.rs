//! The registry against a real sled store in a temp dir.

mod backup;
mod batches;
mod lifecycle;
mod search;

use lgmesh_protocol::envelope::UnsignedManifest;
use lgmesh_protocol::identity::SecretKey;
use lgmesh_protocol::sample;
use lgmesh_protocol::v1::ManifestBody;
use lgmesh_protocol::validate::{Limits, Reason};
use lgmesh_registry::{Durability, IfBusy, PutOutcome, Query, Registry};

const NOW: u64 = 1_790_000_000_000;

fn sign(key: &SecretKey, body: ManifestBody) -> Vec<u8> {
    UnsignedManifest(body).sign(key).to_bytes()
}

fn open(dir: &tempfile::TempDir) -> Registry {
    Registry::open(dir.path(), Limits::default()).expect("open")
}

fn stored(o: PutOutcome) -> lgmesh_protocol::envelope::ManifestId {
    match o {
        PutOutcome::Stored(id) => id,
        other => panic!("expected stored, got {other:?}"),
    }
}

fn rejected(o: PutOutcome) -> Reason {
    match o {
        PutOutcome::Rejected(r) => r.reason,
        other => panic!("expected rejected, got {other:?}"),
    }
}

fn bins(version: u64, title: &str) -> ManifestBody {
    sample::service(
        "bin-collection",
        version,
        title,
        "Find your bin collection day by postcode or UPRN.",
        &[524],
        &["E07000209"],
        NOW,
    )
}

#[test]
fn put_get_resolve_history_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed(&[9; 32]);
    let pk = key.public();
    let (id1, id2);
    {
        let reg = open(&dir);
        // History is kept for publishers this node verifies.
        reg.trust_add(&pk, "gss:E07000209").expect("trust");
        id1 = stored(
            reg.put(&sign(&key, bins(1, "Bin collection days")), NOW)
                .expect("put"),
        );
        id2 = stored(
            reg.put(&sign(&key, bins(2, "Bin collection days API")), NOW)
                .expect("put"),
        );
        assert_eq!(
            reg.resolve(&pk, "bin-collection")
                .expect("resolve")
                .expect("head")
                .id,
            id2
        );
    }
    let reg = open(&dir);
    assert_eq!(
        reg.resolve(&pk, "bin-collection")
            .expect("resolve")
            .expect("head")
            .id,
        id2
    );
    let hist: Vec<_> = reg
        .history(&pk, "bin-collection")
        .expect("history")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(hist, vec![id2, id1], "newest first");
    assert_eq!(
        reg.get(&id1)
            .expect("get")
            .expect("old version kept")
            .body
            .version,
        1
    );
    let c = reg.counts().expect("counts");
    assert_eq!((c.manifests, c.heads), (2, 1));
    let page = reg
        .search(&Query {
            text: "bin".into(),
            page_size: 10,
            ..Default::default()
        })
        .expect("search");
    assert_eq!(
        page.hits.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![id2],
        "only the head is found"
    );
}

#[test]
fn duplicates_rollbacks_and_bad_signatures_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let key = SecretKey::from_seed(&[1; 32]);
    let v2 = sign(&key, bins(2, "Bins"));
    let id = stored(reg.put(&v2, NOW).expect("put"));
    assert!(matches!(reg.put(&v2, NOW).expect("put"), PutOutcome::Duplicate(d) if d == id));
    assert_eq!(
        rejected(reg.put(&sign(&key, bins(1, "Bins")), NOW).expect("put")),
        Reason::Rollback
    );

    let mut tampered = lgmesh_protocol::validate::verify_bytes(&v2, &Limits::default(), NOW)
        .expect("ok")
        .signed()
        .clone();
    tampered.body[10] ^= 0x20;
    assert!(matches!(
        rejected(reg.put(&tampered.to_bytes(), NOW).expect("put")),
        Reason::Signature | Reason::Decode | Reason::Schema
    ));
    assert_eq!(
        rejected(reg.put(b"garbage", NOW).expect("put")),
        Reason::Decode
    );
    let c = reg.counts().expect("counts");
    assert_eq!((c.manifests, c.heads), (1, 1));
    assert_eq!(
        reg.resolve(&key.public(), "bin-collection")
            .expect("r")
            .expect("head")
            .id,
        id
    );
}

#[test]
fn equivocation_is_kept_as_evidence_and_head_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let key = SecretKey::from_seed(&[2; 32]);
    let a = stored(reg.put(&sign(&key, bins(1, "Bins A")), NOW).expect("put"));
    let b = sign(&key, bins(1, "Bins B"));
    assert_eq!(
        rejected(reg.put(&b, NOW).expect("put")),
        Reason::Equivocation
    );
    assert_eq!(
        reg.resolve(&key.public(), "bin-collection")
            .expect("r")
            .expect("head")
            .id,
        a
    );
    let ev = reg
        .equivocations(&key.public(), "bin-collection")
        .expect("evidence");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].0, 1);
    assert_eq!(ev[0].1.len(), 2, "both manifests are named");
}

#[test]
fn retraction_is_a_tombstone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let key = SecretKey::from_seed(&[3; 32]);
    stored(reg.put(&sign(&key, bins(1, "Bins")), NOW).expect("put"));
    let t = stored(
        reg.put(
            &sign(&key, sample::retraction("bin-collection", 2, NOW)),
            NOW,
        )
        .expect("put"),
    );
    assert_eq!(
        reg.resolve(&key.public(), "bin-collection")
            .expect("r")
            .expect("head")
            .id,
        t
    );
    assert_eq!(
        rejected(
            reg.put(&sign(&key, bins(3, "Bins again")), NOW)
                .expect("put")
        ),
        Reason::Retracted
    );
    assert_eq!(
        rejected(reg.put(&sign(&key, bins(1, "Bins")), NOW).expect("put")),
        Reason::Rollback
    );
    let page = reg
        .search(&Query {
            text: "bins".into(),
            page_size: 10,
            ..Default::default()
        })
        .expect("search");
    assert!(page.hits.is_empty(), "a retracted service is not found");
    let all = reg
        .search(&Query {
            page_size: 10,
            ..Default::default()
        })
        .expect("search");
    assert!(all.hits.is_empty(), "tombstones are hidden by default");
    let with = reg
        .search(&Query {
            page_size: 10,
            include_retracted: true,
            ..Default::default()
        })
        .expect("search");
    assert_eq!(with.hits.len(), 1);
}
