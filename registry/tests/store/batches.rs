//! Batches and pages: several versions at once, streams of batches, placing
//! before writing, pages pipelined as a sync round does.

use super::*;

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
