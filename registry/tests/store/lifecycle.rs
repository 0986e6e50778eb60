//! The store over its life: the sync set across reopens, and closing cleanly.

use super::*;

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
