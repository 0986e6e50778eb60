//! Backups and store formats: a backup made while writes go on restores to a store
//! that holds exactly what the backup's moment held; damaged files restore nothing; a
//! store of a newer format is refused untouched.

use std::sync::Arc;

use lgmesh_protocol::identity::SecretKey;
use lgmesh_protocol::validate::Limits;
use lgmesh_registry::backup::{self, BackupError};
use lgmesh_registry::{FORMAT_VERSION, Query, Registry, StoreError};

use super::{NOW, bins, open, sign, stored};

/// Everything a reader can see of a store: every head's history, the sync set, the
/// trusted keys and the counts.
fn contents(reg: &Registry, keys: &[SecretKey]) -> String {
    let mut out = format!(
        "{:?}\n{:?}\n",
        reg.counts().expect("counts"),
        reg.trusted().expect("trusted")
    );
    for k in keys {
        let h = reg.history(&k.public(), "bin-collection").expect("history");
        out += &format!("{:?}\n", h.iter().map(|s| s.id).collect::<Vec<_>>());
    }
    out += &format!("{:?}", reg.sync_items().expect("sync"));
    out
}

#[test]
fn a_backup_taken_during_writes_restores_one_consistent_moment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys: Vec<SecretKey> = (1..=20u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
    let reg = Arc::new(open(&dir));
    reg.trust_add(&keys[0].public(), "gss:E07000209")
        .expect("trust");
    for k in &keys {
        stored(
            reg.put(&sign(k, bins(1, "Bin collection days")), NOW)
                .expect("put"),
        );
    }
    // A writer keeps going while the backup is made.
    let writer = {
        let reg = reg.clone();
        let keys: Vec<SecretKey> = (1..=20u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
        std::thread::spawn(move || {
            for v in 2..=3 {
                for k in &keys {
                    reg.put_batch(&[sign(k, bins(v, "Bin collection days"))], NOW)
                        .expect("put");
                }
            }
        })
    };
    let file = dir.path().join("store.lgb");
    let made = reg.backup(&file, NOW).expect("backup");
    writer.join().expect("writer");
    assert_eq!(made.format, FORMAT_VERSION);
    assert!(made.records > 20);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Not over an existing file.
    assert!(matches!(
        reg.backup(&file, NOW),
        Err(BackupError::Io { .. })
    ));

    let target = tempfile::tempdir().expect("tempdir");
    let back = backup::restore(&file, target.path()).expect("restore");
    assert_eq!(back.records, made.records);
    assert_eq!(back.sha256, made.sha256);
    let restored = Registry::open(target.path(), Limits::default()).expect("open restored");
    // Every publisher's history is whole: each head's versions are all there, and the
    // counts agree with them (no write half in).
    let counts = restored.counts().expect("counts");
    let mut versions = 0;
    for k in &keys {
        let h = restored
            .history(&k.public(), "bin-collection")
            .expect("history");
        let head = restored
            .resolve(&k.public(), "bin-collection")
            .expect("resolve")
            .expect("head");
        assert_eq!(h.first().map(|s| s.id), Some(head.id));
        versions += h.len() as u64;
    }
    assert_eq!(counts.heads, 20);
    assert!(versions <= counts.manifests, "{versions} > {counts:?}");
    assert_eq!(restored.trusted().expect("trusted").len(), 1);
    // Searchable: the text index was rebuilt.
    let page = restored
        .search(&Query {
            text: "bin".into(),
            ..Default::default()
        })
        .expect("search");
    assert_eq!(page.total, 20);
    // Into a store that exists: refused.
    assert!(matches!(
        backup::restore(&file, target.path()),
        Err(BackupError::Exists(_))
    ));
    drop(restored);

    // The original, now that the writer is done, backs up and restores to the same.
    let file2 = dir.path().join("after.lgb");
    reg.backup(&file2, NOW).expect("backup");
    let again = tempfile::tempdir().expect("tempdir");
    backup::restore(&file2, again.path()).expect("restore");
    let copy = Registry::open(again.path(), Limits::default()).expect("open");
    assert_eq!(contents(&copy, &keys), contents(&reg, &keys));
}

#[test]
fn a_damaged_backup_restores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed(&[7; 32]);
    let file = dir.path().join("store.lgb");
    {
        let reg = open(&dir);
        stored(
            reg.put(&sign(&key, bins(1, "Bin collection days")), NOW)
                .expect("put"),
        );
        reg.backup(&file, NOW).expect("backup");
    }
    let good = std::fs::read(&file).expect("read");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() - 40].to_vec()),
        ("one bit flipped", {
            let mut b = good.clone();
            let i = b.len() / 2;
            b[i] ^= 1;
            b
        }),
        ("trailing bytes", [good.clone(), vec![0]].concat()),
        (
            "not a backup",
            b"hello, world, this is not a backup file at all".to_vec(),
        ),
        ("empty", vec![]),
        ("a huge length", {
            let mut b = good[..28].to_vec();
            b.push(1);
            b.extend_from_slice(&u32::MAX.to_be_bytes());
            b
        }),
    ];
    for (what, bytes) in cases {
        let bad = dir.path().join(format!("{what}.lgb"));
        std::fs::write(&bad, &bytes).expect("write");
        let target = tempfile::tempdir().expect("tempdir");
        let err = backup::restore(&bad, target.path()).expect_err(what);
        assert!(matches!(err, BackupError::Invalid { .. }), "{what}: {err}");
        assert!(
            std::fs::read_dir(target.path())
                .expect("ls")
                .next()
                .is_none(),
            "{what}: the restore left something in the target"
        );
    }
    // A backup of a newer store format: refused, naming the format.
    let mut newer = good.clone();
    newer[12..20].copy_from_slice(&(FORMAT_VERSION + 1).to_be_bytes());
    let path = dir.path().join("newer.lgb");
    std::fs::write(&path, &newer).expect("write");
    let err =
        backup::restore(&path, tempfile::tempdir().expect("tempdir").path()).expect_err("newer");
    assert!(err.to_string().contains("newer lgmesh"), "{err}");
}

#[test]
fn a_store_of_a_newer_format_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed(&[5; 32]);
    {
        let reg = open(&dir);
        stored(
            reg.put(&sign(&key, bins(1, "Bin collection days")), NOW)
                .expect("put"),
        );
    }
    // Make a store that says it is of the next format, as a newer lgmesh would leave.
    {
        let db = sled_open(&dir);
        let tree = db.open_tree("lgmesh-v1").expect("tree");
        tree.insert(b"Cformat", &(FORMAT_VERSION + 1).to_be_bytes()[..])
            .expect("insert");
        db.flush().expect("flush");
    }
    let before = dump(&dir);
    let err = retry_locked(|| Registry::open(dir.path(), Limits::default()).err())
        .expect("a newer format is refused");
    assert!(
        matches!(err, StoreError::Format { found, supported } if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("newer lgmesh"), "{err}");
    assert_eq!(dump(&dir), before, "the refused store was changed");
}

/// Every record of the store in `dir`, read with sled directly.
fn dump(dir: &tempfile::TempDir) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = sled_open(dir);
    let tree = db.open_tree("lgmesh-v1").expect("tree");
    tree.iter()
        .map(|kv| {
            let (k, v) = kv.expect("kv");
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

/// `f` again while its answer is sled's "could not acquire lock": sled's threads let go
/// of a store a moment after the last handle to it is dropped.
fn retry_locked(f: impl Fn() -> Option<StoreError>) -> Option<StoreError> {
    for _ in 0..500 {
        match f() {
            Some(e) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
    f()
}

/// The store in `dir` opened with sled itself, waiting for the lock as above.
fn sled_open(dir: &tempfile::TempDir) -> sled::Db {
    for _ in 0..500 {
        match sled::Config::new()
            .path(dir.path().join("db"))
            .flush_every_ms(None)
            .open()
        {
            Ok(db) => return db,
            Err(e) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("sled: {e}"),
        }
    }
    panic!("the store stayed locked")
}
