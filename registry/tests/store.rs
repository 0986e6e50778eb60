//! The registry against a real sled store in a temp dir.

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

#[test]
fn search_ranks_filters_and_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let guildford = SecretKey::from_seed(&[4; 32]);
    let leeds = SecretKey::from_seed(&[5; 32]);
    reg.put(
        &sign(
            &guildford,
            sample::org("gss:E07000209", "Guildford Borough Council", 1, NOW),
        ),
        NOW,
    )
    .expect("org");
    reg.put(
        &sign(
            &leeds,
            sample::org("gss:E08000035", "Leeds City Council", 1, NOW),
        ),
        NOW,
    )
    .expect("org");
    let addr = stored(
        reg.put(
            &sign(
                &guildford,
                sample::service(
                    "address-lookup",
                    1,
                    "Address lookup",
                    "Search addresses by postcode and UPRN.",
                    &[1421],
                    &["E07000209"],
                    NOW,
                ),
            ),
            NOW,
        )
        .expect("put"),
    );
    let bins_leeds = stored(
        reg.put(
            &sign(
                &leeds,
                sample::service(
                    "bins",
                    1,
                    "Bin collection days",
                    "When are my bins collected? Lookup by address.",
                    &[524],
                    &["E08000035"],
                    NOW,
                ),
            ),
            NOW,
        )
        .expect("put"),
    );
    for i in 0..25 {
        reg.put(
            &sign(
                &leeds,
                sample::service(
                    &format!("svc-{i}"),
                    1,
                    &format!("Parking permit service {i}"),
                    "Apply for a parking permit.",
                    &[1000],
                    &["E08000035"],
                    NOW,
                ),
            ),
            NOW,
        )
        .expect("put");
    }
    let q = |text: &str| Query {
        text: text.into(),
        page_size: 10,
        ..Default::default()
    };

    let p = reg.search(&q("address")).expect("search");
    assert_eq!(p.hits[0].id, addr, "the title match ranks first");
    assert_eq!(p.total, 2);

    let p = reg
        .search(&Query {
            lgsl: Some(524),
            ..q("")
        })
        .expect("search");
    assert_eq!(
        p.hits.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![bins_leeds]
    );
    let p = reg
        .search(&Query {
            area: Some("E07000209".into()),
            kind: Some("service".into()),
            ..q("")
        })
        .expect("search");
    assert_eq!(p.hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![addr]);
    let p = reg
        .search(&Query {
            org: Some("gss:E07000209".into()),
            kind: Some("service".into()),
            ..q("")
        })
        .expect("search");
    assert_eq!(p.hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![addr]);
    let p = reg
        .search(&Query {
            status: Some("LIVE".into()),
            ..q("collected")
        })
        .expect("search");
    assert_eq!(
        p.hits.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![bins_leeds],
        "stemmed match"
    );
    assert!(
        reg.search(&Query {
            area: Some("leeds".into()),
            ..q("")
        })
        .is_err(),
        "a bad GSS code is refused"
    );

    // Paging visits every permit exactly once.
    let mut seen = std::collections::HashSet::new();
    let mut cursor = None;
    loop {
        let p = reg
            .search(&Query {
                cursor: cursor.clone(),
                page_size: 7,
                ..q("parking permit")
            })
            .expect("search");
        assert_eq!(p.total, 25);
        for h in &p.hits {
            assert!(seen.insert(h.id), "seen twice");
        }
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    assert!(
        reg.search(&Query {
            cursor: Some("zz".into()),
            ..q("x")
        })
        .is_err(),
        "a forged cursor is refused"
    );
}

#[test]
fn an_update_replaces_the_indexed_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let key = SecretKey::from_seed(&[6; 32]);
    reg.put(
        &sign(
            &key,
            sample::service(
                "x",
                1,
                "Pothole reporting",
                "Report a pothole.",
                &[],
                &[],
                NOW,
            ),
        ),
        NOW,
    )
    .expect("put");
    let v2 = stored(
        reg.put(
            &sign(
                &key,
                sample::service(
                    "x",
                    2,
                    "Street lighting faults",
                    "Report a broken street light.",
                    &[],
                    &[],
                    NOW,
                ),
            ),
            NOW,
        )
        .expect("put"),
    );
    assert!(
        reg.search(&Query {
            text: "pothole".into(),
            page_size: 5,
            ..Default::default()
        })
        .expect("s")
        .hits
        .is_empty()
    );
    let p = reg
        .search(&Query {
            text: "lighting".into(),
            page_size: 5,
            ..Default::default()
        })
        .expect("s");
    assert_eq!(p.hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![v2]);
}

/// A name's first head is indexed without deleting anything first (there is nothing to
/// delete); a later version of it, in the same batch or the next, still replaces it.
#[test]
fn a_new_name_and_its_update_in_one_batch_leave_one_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let key = SecretKey::from_seed(&[5; 32]);
    let svc = |v: u64, title: &str| {
        sign(
            &key,
            sample::service("x", v, title, "Report it.", &[], &[], NOW),
        )
    };
    let hits = |text: &str| {
        reg.wait_indexed().expect("indexed");
        reg.search(&Query {
            text: text.into(),
            page_size: 5,
            ..Default::default()
        })
        .expect("search")
        .hits
        .iter()
        .map(|h| h.id)
        .collect::<Vec<_>>()
    };
    let out = reg
        .put_batch(
            &[
                svc(1, "Pothole reporting"),
                svc(2, "Street lighting faults"),
            ],
            NOW,
        )
        .expect("batch");
    let v2 = stored(out[1].clone());
    assert!(
        hits("pothole").is_empty(),
        "v1 was replaced within the batch"
    );
    assert_eq!(hits("lighting"), vec![v2]);
    let v3 = stored(
        reg.put_batch(&[svc(3, "Graffiti removal")], NOW)
            .expect("batch")[0]
            .clone(),
    );
    assert!(
        hits("lighting").is_empty(),
        "v2 was replaced by the next batch"
    );
    assert_eq!(hits("graffiti"), vec![v3]);
    assert_eq!(reg.counts().expect("counts").heads, 1);
}

#[test]
fn a_lost_text_index_is_rebuilt_from_sled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed(&[7; 32]);
    let id = {
        let reg = open(&dir);
        stored(
            reg.put(&sign(&key, bins(1, "Bin collection days")), NOW)
                .expect("put"),
        )
    };
    std::fs::remove_dir_all(dir.path().join("text-v3")).expect("remove index");
    let reg = open(&dir);
    let p = reg
        .search(&Query {
            text: "collection".into(),
            page_size: 5,
            ..Default::default()
        })
        .expect("search");
    assert_eq!(p.hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![id]);
}

#[test]
fn a_batch_may_hold_several_versions_of_one_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let key = SecretKey::from_seed(&[8; 32]);
    let other = SecretKey::from_seed(&[10; 32]);
    let items = vec![
        sign(&key, bins(1, "One")),
        sign(&key, bins(2, "Two")),
        sign(&key, bins(2, "Two but different")),
        b"garbage".to_vec(),
        sign(&key, bins(1, "One")),
        sign(&other, bins(1, "Another council's bins")),
    ];
    let out = reg.put_batch(&items, NOW).expect("batch");
    reg.wait_indexed().expect("indexed");
    assert!(matches!(out[0], PutOutcome::Stored(_)));
    let v2 = stored(out[1].clone());
    assert_eq!(rejected(out[2].clone()), Reason::Equivocation);
    assert_eq!(rejected(out[3].clone()), Reason::Decode);
    assert_eq!(rejected(out[4].clone()), Reason::Rollback);
    assert!(matches!(out[5], PutOutcome::Stored(_)));
    assert_eq!(
        reg.resolve(&key.public(), "bin-collection")
            .expect("r")
            .expect("head")
            .id,
        v2
    );
    let c = reg.counts().expect("counts");
    assert_eq!(
        (c.manifests, c.heads),
        (3, 2),
        "v2, the evidence, the other council's (v1 went: its publisher is not verified \
         here, and no history is kept for it)"
    );
    let p = reg
        .search(&Query {
            text: "bins".into(),
            page_size: 5,
            ..Default::default()
        })
        .expect("search");
    assert_eq!(p.total, 2, "one head per name: {p:?}");
    let p = reg
        .search(&Query {
            text: "two".into(),
            page_size: 5,
            ..Default::default()
        })
        .expect("search");
    assert_eq!(p.hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![v2]);
    let p = reg
        .search(&Query {
            text: "one".into(),
            page_size: 5,
            ..Default::default()
        })
        .expect("search");
    assert_eq!(p.total, 0, "replaced versions are not indexed");
    assert_eq!(
        reg.sync_items().expect("sync set").len(),
        3,
        "the sync set holds the live heads and the proof of the equivocation"
    );
}

#[test]
fn a_stream_of_batches_is_stored_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let key = SecretKey::from_seed(&[11; 32]);
    let batches: Vec<Vec<Vec<u8>>> = (0..5)
        .map(|b| {
            (0..100)
                .map(|i| {
                    sign(
                        &key,
                        sample::service(
                            &format!("s-{b}-{i}"),
                            1,
                            "Street lighting",
                            "Report a broken light.",
                            &[],
                            &[],
                            NOW,
                        ),
                    )
                })
                .chain(std::iter::once(b"not a manifest".to_vec()))
                .collect()
        })
        .collect();
    let mut out = vec![];
    for b in batches {
        let checked = reg.check(&b, &[], NOW);
        out.extend(
            reg.write(checked, Durability::Flushed, IfBusy::Wait, |_| {})
                .expect("stream"),
        );
    }
    assert_eq!(out.len(), 505);
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, PutOutcome::Stored(_)))
            .count(),
        500
    );
    assert!(
        matches!(out[100], PutOutcome::Rejected(_)),
        "the bad item of the first batch, in place"
    );
    reg.wait_indexed().expect("indexed");
    let p = reg
        .search(&Query {
            text: "lighting".into(),
            page_size: 10,
            ..Default::default()
        })
        .expect("search");
    assert_eq!(p.total, 500);
    drop(reg);
    let reg = open(&dir);
    assert_eq!(reg.counts().expect("counts").heads, 500, "durable");
}

#[test]
fn a_batch_only_applied_is_placed_before_it_is_written_and_survives_a_flush_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed(&[21; 32]);
    let v1 = sign(&key, bins(1, "Bin collection days"));
    let v2 = sign(&key, bins(2, "Bin collection days API"));
    let forged = {
        let mut b = sign(&key, bins(3, "Forged"));
        let n = b.len();
        b[n - 1] ^= 1;
        b
    };
    let id2;
    {
        let reg = open(&dir);
        let mut seen = vec![];
        let checked = reg.check(&[v1.clone(), v1, v2, forged], &[], NOW);
        let out = reg
            .write(checked, Durability::Applied, IfBusy::Wait, |o| {
                // Decided, but not yet written: the store does not have v1 yet.
                if let PutOutcome::Stored(id) = &o[0] {
                    assert!(reg.get(id).expect("get").is_none(), "written before placed");
                }
                seen = o.to_vec();
            })
            .expect("applied batch");
        assert_eq!(seen.len(), 4);
        assert_eq!(
            format!("{seen:?}"),
            format!("{out:?}"),
            "what was placed is what was written"
        );
        assert!(matches!(out[0], PutOutcome::Stored(_)));
        assert!(matches!(out[1], PutOutcome::Duplicate(_)));
        id2 = stored(out[2].clone());
        assert_eq!(rejected(out[3].clone()), Reason::Signature);
        // Readable at once, before any flush.
        assert!(reg.get(&id2).expect("get").is_some());
        reg.flush().expect("flush");
    }
    let reg = open(&dir);
    let head = reg
        .head(&key.public(), "bin-collection")
        .expect("head")
        .expect("a head");
    assert_eq!(head.id, id2);
    // Sync can fetch by the first 16 bytes of an id, not by fewer.
    let by_prefix = reg
        .envelope_bytes_by_prefix(&id2.as_bytes()[..16])
        .expect("by prefix")
        .expect("found by prefix");
    assert_eq!(Some(by_prefix), reg.envelope_bytes(&id2).expect("by id"));
    assert_eq!(
        reg.envelope_bytes_by_prefix(&id2.as_bytes()[..8])
            .expect("short"),
        None
    );
}

/// Placing a new name skips the head read when the in-memory set of head keys says
/// there is none. That set is loaded at a reopened store's first write and kept by every
/// write path; were it ever missing a head, an old version or a second signing of a
/// stored version would be taken as a new name and stored. Every path here must see
/// the head instead.
#[test]
fn heads_written_before_a_reopen_or_by_any_path_are_found_when_placing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed(&[9; 32]);
    let named = |name: &str, version: u64, title: &str| {
        let mut b = bins(version, title);
        b.name = name.into();
        sign(&key, b)
    };
    {
        let reg = open(&dir);
        stored(reg.put(&named("by-put", 2, "Put"), NOW).expect("put"));
        let out = reg
            .put_batch(&[named("by-batch", 2, "Batch")], NOW)
            .expect("batch");
        stored(out.into_iter().next().expect("one"));
        let checked = reg.check(&[named("by-apply", 2, "Apply")], &[], NOW);
        let out = reg
            .write(checked, Durability::Applied, IfBusy::GiveBack, |_| {})
            .expect("relay");
        stored(out.into_iter().next().expect("one"));
        reg.flush().expect("flush");
        // In the same process, right after each path wrote it.
        for name in ["by-put", "by-batch", "by-apply"] {
            assert_eq!(
                rejected(reg.put(&named(name, 1, "Old"), NOW).expect("put")),
                Reason::Rollback,
                "{name}"
            );
        }
    }
    // After a reopen, whose first write is a batch that loads the set.
    let reg = open(&dir);
    let out = reg
        .put_batch(
            &[
                named("by-put", 1, "Old"),
                named("by-batch", 2, "Batch again, differently"),
                named("by-apply", 1, "Old"),
                named("brand-new", 1, "New"),
            ],
            NOW,
        )
        .expect("batch");
    let reasons: Vec<String> = out.iter().map(|o| format!("{o:?}")).collect();
    assert!(
        matches!(&out[0], PutOutcome::Rejected(r) if r.reason == Reason::Rollback),
        "{reasons:?}"
    );
    assert!(
        matches!(&out[1], PutOutcome::Rejected(r) if r.reason == Reason::Equivocation),
        "{reasons:?}"
    );
    assert!(
        matches!(&out[2], PutOutcome::Rejected(r) if r.reason == Reason::Rollback),
        "{reasons:?}"
    );
    assert!(matches!(&out[3], PutOutcome::Stored(_)), "{reasons:?}");
    assert_eq!(reg.counts().expect("counts").heads, 4);
}

/// The sync set is exactly the live heads (a retraction included, replaced versions
/// and evidence not), in `(issued_at, id)` order, whichever way they came; kept up to
/// date in memory, it equals the set loaded from the head records after a reopen, and
/// paging through it gives the whole of it once.
#[test]
fn the_sync_set_is_the_live_heads_in_order_and_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed(&[21; 32]);
    let other = SecretKey::from_seed(&[22; 32]);
    let service = |name: &str, version, at| {
        sample::service(name, version, "Parking permits", "Apply.", &[], &[], at)
    };
    let expected;
    let before;
    {
        let reg = open(&dir);
        // Loaded now, so every write below changes it in memory; the reopen loads it
        // from the head records instead. Both must agree.
        assert_eq!(reg.sync_len().expect("sync set"), 0);
        let mut want = std::collections::BTreeSet::new();
        // One per batch, then batches of several, updates and a retraction.
        for i in 0..5u64 {
            let id = stored(
                reg.put(&sign(&key, service(&format!("s{i}"), 1, NOW - i)), NOW)
                    .expect("put"),
            );
            want.insert((NOW - i, id));
        }
        let out = reg
            .put_batch(
                &[
                    sign(&key, service("s0", 2, NOW + 1)),
                    sign(&key, service("s0", 3, NOW + 2)),
                    sign(&key, sample::retraction("s1", 2, NOW + 3)),
                    sign(&key, service("s2", 2, NOW + 4)),
                    sign(&key, service("s2", 2, NOW + 5)), // equivocates: evidence only
                    sign(&other, service("s0", 1, NOW)),
                ],
                NOW,
            )
            .expect("batch");
        want.retain(|(at, _)| ![NOW, NOW - 1, NOW - 2].contains(at));
        want.insert((NOW + 2, stored(out[1].clone())));
        want.insert((NOW + 3, stored(out[2].clone())));
        want.insert((NOW + 4, stored(out[3].clone())));
        assert_eq!(rejected(out[4].clone()), Reason::Equivocation);
        want.insert((NOW, stored(out[5].clone())));
        // The equivocation travels as a proof, placed at the later of the two.
        let s2 = reg
            .resolve(&key.public(), "s2")
            .expect("r")
            .expect("head")
            .id;
        let evidence = lgmesh_protocol::envelope::ManifestId::of_evidence(
            &s2,
            &UnsignedManifest(service("s2", 2, NOW + 5)).sign(&key).id(),
        );
        want.insert((NOW + 5, evidence));
        expected = want.into_iter().collect::<Vec<_>>();
        before = reg.sync_items().expect("sync set");
        assert_eq!(before, expected, "the live heads and the proof, in order");
        assert_eq!(reg.sync_len().expect("sync set"), expected.len());
        assert_eq!(
            reg.counts().expect("counts").heads as usize + 1,
            expected.len(),
            "one item per head, and one for the proof"
        );
    }
    let reg = open(&dir);
    assert_eq!(
        reg.sync_items().expect("sync set"),
        before,
        "the same after a reopen"
    );
    let mut paged = vec![];
    let mut after = None;
    loop {
        let page = reg.sync_items_after(after, 2).expect("page");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(*last);
        paged.extend(page);
    }
    assert_eq!(paged, expected, "paging gives every item once, in order");
}

/// Writes that land while the sync set is being loaded (the load runs without a lock)
/// end up in it: after both, it equals the set a reopen loads from the head records.
#[test]
fn writes_during_the_first_load_of_the_sync_set_are_not_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Six councils: an unverified publisher may store 1,000 manifests here.
    let keys: Vec<SecretKey> = (0..6)
        .map(|i| SecretKey::from_seed(&[30 + i; 32]))
        .collect();
    let service = |name: &str, version| {
        let n: usize = name
            .trim_start_matches(char::is_alphabetic)
            .parse()
            .expect("n");
        sign(
            &keys[n % keys.len()],
            sample::service(name, version, "Parking permits", "Apply.", &[], &[], NOW),
        )
    };
    let live = {
        let reg = std::sync::Arc::new(open(&dir));
        let first: Vec<Vec<u8>> = (0..3000).map(|i| service(&format!("s{i}"), 1)).collect();
        for chunk in first.chunks(500) {
            reg.put_batch(chunk, NOW).expect("fill");
        }
        let writer = {
            let reg = reg.clone();
            let updates: Vec<Vec<u8>> = (0..300)
                .map(|i| service(&format!("s{}", i * 7), 2))
                .chain((0..100).map(|i| service(&format!("new{i}"), 1)))
                .collect();
            std::thread::spawn(move || {
                for u in &updates {
                    let checked = reg.check(std::slice::from_ref(u), &[], NOW);
                    let out = reg
                        .write(checked, Durability::Applied, IfBusy::Wait, |_| {})
                        .expect("put");
                    stored(out[0].clone());
                }
            })
        };
        let loaded = reg.sync_len().expect("load");
        assert!(loaded >= 3000, "{loaded}");
        writer.join().expect("writer");
        let live = reg.sync_items().expect("sync set");
        assert_eq!(live.len(), 3100, "3,000 names, 300 updated, 100 new");
        live
    };
    let reg = open(&dir);
    assert_eq!(reg.sync_items().expect("sync set"), live);
}

/// Names and sizes of every file under `dir`.
fn listing(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = vec![];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let e = e.expect("dir entry");
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                todo.push(e.path());
            } else {
                out.push((e.path(), meta.len()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_closed_store_leaves_nothing_writing_in_its_directory() {
    // Each `put` waits until it is searchable: a commit, and a segment of its own. The
    // last batch is still uncommitted when the store closes, so closing commits it, and
    // that eighth segment starts a merge. Closing must wait for the merge: left
    // running, it writes into a directory that its owner may already be removing (a
    // temp dir here; for an operator, a data dir being moved or restored).
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let leeds = SecretKey::from_seed(&[6; 32]);
    let permit = |i: usize| {
        let body = sample::service(
            &format!("permit-{i}"),
            1,
            &format!("Parking permit {i}"),
            "Apply for a residents' parking permit.",
            &[1000],
            &["E08000035"],
            NOW,
        );
        sign(&leeds, body)
    };
    for i in 0..7 {
        stored(reg.put(&permit(i), NOW).expect("put"));
    }
    let last: Vec<Vec<u8>> = (7..40).map(permit).collect();
    for o in reg.put_batch(&last, NOW).expect("batch") {
        stored(o);
    }
    drop(reg);
    let closed = listing(dir.path());
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        closed,
        listing(dir.path()),
        "files changed after the store was closed"
    );
}

/// Pages written on several threads, each starting once the page before
/// it is placed (as a sync round does: the next page is placed while the one before is
/// applied), end exactly as the same pages stored one at a time: each page reads the
/// heads, evidence and quota use of the pages still being applied before it.
#[test]
fn pages_placed_while_the_page_before_is_applied_end_as_if_stored_one_at_a_time() {
    let key = SecretKey::from_seed(&[21; 32]);
    let pk = key.public();
    let names = 120;
    let body = |name: usize, version: u64, title: &str| {
        sample::service(
            &format!("service-{name}"),
            version,
            title,
            "A shared council service offered for reuse.",
            &[524],
            &["E07000209"],
            NOW + version,
        )
    };
    // Page p holds version p + 1 of every name; page 2 also starts with a second,
    // different version 2 of ten names (equivocation evidence against the heads that
    // page 1 set).
    let mut pages: Vec<Vec<Vec<u8>>> = (0..5u64)
        .map(|p| {
            (0..names)
                .map(|n| sign(&key, body(n, p + 1, "Shared service")))
                .collect()
        })
        .collect();
    let conflicts = (0..10).map(|n| sign(&key, body(n, 2, "A conflicting version two")));
    pages[2].splice(0..0, conflicts);
    // The publisher is unverified: each version replaces the one before in its quota,
    // and the evidence is kept on top, so the quota runs out within page 2's
    // conflicts, whichever thread stores it.
    let quota = lgmesh_registry::Quota {
        max_manifests: names as u64 + 5,
        ..Default::default()
    };

    let (one, many) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let (serial, serial_out) = store_pages(&one, quota, &pages, false);
    let (piped, piped_out) = store_pages(&many, quota, &pages, true);

    let show = |o: &[Vec<PutOutcome>]| format!("{o:?}");
    assert_eq!(
        show(&piped_out),
        show(&serial_out),
        "the same outcomes, in order"
    );
    assert!(
        piped_out[2]
            .iter()
            .any(|o| matches!(o, PutOutcome::Rejected(r) if r.reason == Reason::Quota)),
        "the quota ran out on page 2"
    );
    assert_eq!(
        piped.counts().expect("counts").heads,
        serial.counts().expect("counts").heads
    );
    assert_eq!(
        piped.counts().expect("counts").manifests,
        serial.counts().expect("counts").manifests
    );
    assert_eq!(
        piped.sync_items().expect("sync"),
        serial.sync_items().expect("sync")
    );
    for n in [0, 5, 50, names - 1] {
        let name = format!("service-{n}");
        let ids = |r: &Registry| -> Vec<_> {
            r.history(&pk, &name)
                .expect("history")
                .into_iter()
                .map(|s| s.id)
                .collect()
        };
        assert_eq!(ids(&piped), ids(&serial), "history of {name}");
        assert_eq!(
            piped.equivocations(&pk, &name).expect("evidence"),
            serial.equivocations(&pk, &name).expect("evidence"),
            "evidence of {name}"
        );
    }
    assert_eq!(
        piped
            .equivocations(&pk, "service-3")
            .expect("evidence")
            .len(),
        1,
        "the conflicting version two is kept as evidence"
    );
}

/// Stores `pages` in a new registry in `dir`, one at a time or, `piped`, each on its own
/// thread started once the page before it is placed (as a sync round does). Returns the
/// registry and every page's outcomes.
fn store_pages(
    dir: &tempfile::TempDir,
    quota: lgmesh_registry::Quota,
    pages: &[Vec<Vec<u8>>],
    piped: bool,
) -> (Registry, Vec<Vec<PutOutcome>>) {
    let reg = open(dir);
    reg.set_quota(quota);
    let checked: Vec<_> = pages.iter().map(|p| reg.check(p, &[], NOW)).collect();
    if !piped {
        let out = checked
            .into_iter()
            .map(|c| {
                reg.write(c, Durability::Flushed, IfBusy::Wait, |_| {})
                    .expect("store")
            })
            .collect();
        return (reg, out);
    }
    let out = std::thread::scope(|s| {
        let mut before: Option<std::sync::mpsc::Receiver<()>> = None;
        let mut handles = vec![];
        for page in checked {
            let (tx, rx) = std::sync::mpsc::channel();
            let wait = before.replace(rx);
            let reg = &reg;
            handles.push(s.spawn(move || {
                if let Some(w) = wait {
                    w.recv().expect("the page before was placed");
                }
                reg.write(page, Durability::Flushed, IfBusy::Wait, |_| {
                    tx.send(()).expect("send")
                })
                .expect("store")
            }));
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("join"))
            .collect()
    });
    (reg, out)
}

/// A page that changes the trust judgement (here a key revoking itself) is in sled
/// before the next page is placed: what the key signed after its revocation is refused
/// exactly as when the pages are stored one at a time.
#[test]
fn a_page_placed_after_a_revocation_still_being_applied_is_judged_under_it() {
    let key = SecretKey::from_seed(&[23; 32]);
    let pk = key.public();
    let service = |n: usize, issued: u64| {
        sample::service(
            &format!("service-{n}"),
            1,
            "Shared service",
            "A shared council service offered for reuse.",
            &[524],
            &["E07000209"],
            issued,
        )
    };
    let revoked_at = NOW - 1_000;
    // Page 0: what the key signed before, then its revocation. Page 1: signed after.
    let mut first: Vec<_> = (0..150)
        .map(|n| sign(&key, service(n, revoked_at - 10_000)))
        .collect();
    first.push(sign(&key, sample::revocation(&pk, revoked_at, revoked_at)));
    let second: Vec<_> = (150..300).map(|n| sign(&key, service(n, NOW))).collect();
    let pages = vec![first, second];

    let (one, many) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let quota = lgmesh_registry::Quota::default();
    let (_, serial_out) = store_pages(&one, quota, &pages, false);
    let (piped, piped_out) = store_pages(&many, quota, &pages, true);
    assert!(
        serial_out[1]
            .iter()
            .all(|o| matches!(o, PutOutcome::Rejected(r) if r.reason == Reason::Revoked)),
        "one at a time, everything signed after the revocation is refused"
    );
    assert_eq!(format!("{piped_out:?}"), format!("{serial_out:?}"));
    assert_eq!(piped.counts().expect("counts").heads, 151);
}

#[test]
fn a_watch_filter_hears_of_a_matching_service_being_withdrawn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let key = SecretKey::from_seed(&[31; 32]);
    let other = SecretKey::from_seed(&[32; 32]);
    stored(reg.put(&sign(&key, bins(1, "Bins")), NOW).expect("put"));
    let mut parking = bins(1, "Parking permits");
    parking.name = "parking".into();
    if let Some(lgmesh_protocol::v1::manifest_body::Kind::Service(s)) = &mut parking.kind
        && let Some(l) = &mut s.local
    {
        l.lgsl = vec![1109];
    }
    stored(reg.put(&sign(&other, parking), NOW).expect("put"));
    let gone = |reg: &Registry, key: &SecretKey, name: &str| {
        let id = stored(
            reg.put(&sign(key, sample::retraction(name, 2, NOW)), NOW)
                .expect("put"),
        );
        reg.get(&id).expect("get").expect("stored")
    };
    let bins_gone = gone(&reg, &key, "bin-collection");
    let parking_gone = gone(&reg, &other, "parking");
    let q = |lgsl: u32, kind: Option<&str>, include_retracted: bool| Query {
        lgsl: Some(lgsl),
        kind: kind.map(str::to_string),
        include_retracted,
        now_ms: NOW,
        ..Default::default()
    };
    let hears = |q: &Query, s| reg.stream_matches(q, s).expect("match");
    // Following LGSL 524 with retractions: the bins service's withdrawal, not parking's.
    assert!(hears(&q(524, None, true), &bins_gone));
    assert!(!hears(&q(524, None, true), &parking_gone));
    assert!(hears(&q(524, Some("service"), true), &bins_gone));
    assert!(!hears(&q(524, Some("dataset"), true), &bins_gone));
    // Without include_retracted, a withdrawal stays hidden, as in search.
    assert!(!hears(&q(524, None, false), &bins_gone));
    // A text filter is judged against the withdrawn version too.
    let text = |t: &str| Query {
        text: t.into(),
        include_retracted: true,
        now_ms: NOW,
        ..Default::default()
    };
    assert!(hears(&text("bins"), &bins_gone));
    assert!(!hears(&text("parking"), &bins_gone));
    // A retraction of a name this node never held matches by its own fields only.
    let stranger = SecretKey::from_seed(&[33; 32]);
    let never = gone(&reg, &stranger, "bin-collection");
    assert!(!hears(&q(524, None, true), &never));
    assert!(hears(&text(""), &never));
}
