//! Backups of a store: a consistent copy of a running node's records in one file, and
//! a store made again from it.
//!
//! [`Registry::backup`] holds the write lock and waits until every placed batch has
//! been applied, so the copy is of one moment: no manifest write is half in it. The
//! operator's own records (trusted keys, domain proofs) are single records and are
//! copied as they are at that moment. Writes wait while the copy is made (about a
//! second for 100,000 manifests); reads go on.
//!
//! The file, all integers big-endian:
//!
//! ```text
//! "LGMESHBK" | file version (u32) = 1 | store format (u64) | written at, Unix ms (u64)
//! then, per record:  1 (u8) | key length (u32) | key | value length (u32) | value
//! then:              0 (u8) | records (u64) | SHA-256 of every byte before it (32)
//! ```
//!
//! [`restore`] reads the whole file and checks its length, bounds and checksum before
//! it writes anything, then builds the store beside the target and renames it into
//! place: a damaged or truncated file, or one of a store format this build does not
//! read, leaves nothing behind. The restored store is migrated like any other when it
//! is opened, and its text index is rebuilt.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::layout::{FORMAT_VERSION, TREE};
use super::migrate::format_of;
use super::{Registry, StoreError};

const MAGIC: &[u8; 8] = b"LGMESHBK";
const FILE_VERSION: u32 = 1;
/// The longest key a store holds is a prefix, a key, a name (at most 128 bytes) and a
/// version: far below this.
const MAX_KEY: usize = 4096;
/// The largest value is one envelope (at most 64 KiB) or an org card: far below this.
const MAX_VALUE: usize = 4 << 20;

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records copied.
    pub records: u64,
    /// Bytes in the file.
    pub bytes: u64,
    /// The store format the records follow.
    pub format: u64,
    /// When it was written, Unix milliseconds.
    pub written_at_ms: u64,
    /// SHA-256 of the file up to its checksum.
    pub sha256: [u8; 32],
}

/// Why a backup could not be made or restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// Reading or writing the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file is not a whole, undamaged lgmesh backup.
    #[error("{path}: not a usable lgmesh backup: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The target exists already.
    #[error(
        "{0}: exists already; restore into a data dir without a store (move the old one aside)"
    )]
    Exists(PathBuf),
}

type Result<T> = std::result::Result<T, BackupError>;

/// Bytes written, hashed as they go.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Registry {
    /// Writes a consistent copy of the store to `path`, which must not exist; the file
    /// is made with mode 0600 and synced before this returns. Holds the write lock
    /// while it copies.
    pub fn backup(&self, path: &Path, now_ms: u64) -> Result<Summary> {
        let io = |source| BackupError::Io {
            path: path.to_owned(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(io)?;
        let written = self.copy_to(&file, path, now_ms).and_then(|s| {
            file.sync_all().map_err(io)?;
            Ok(s)
        });
        if written.is_err() {
            // Half a backup is worse than none: it could be taken for one.
            let _ = std::fs::remove_file(path);
        }
        written
    }

    fn copy_to(&self, file: &File, path: &Path, now_ms: u64) -> Result<Summary> {
        let io = |source| BackupError::Io {
            path: path.to_owned(),
            source,
        };
        let _writer = self.write.lock().unwrap_or_else(|p| p.into_inner());
        // Batches placed before the lock was taken are applied without it. A batch
        // whose owner died unapplied would keep the queue from draining: give up then,
        // rather than hold every write for ever.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !self.staging.is_drained() {
            if std::time::Instant::now() > deadline {
                return Err(BackupError::Store(StoreError::Corrupt(
                    "writes placed before the backup were not applied within 30 s; try again, or restart the node".into(),
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let format = format_of(&self.tree)?;
        let mut out = Hashing {
            inner: BufWriter::with_capacity(1 << 20, file),
            hash: Sha256::new(),
            bytes: 0,
        };
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&FILE_VERSION.to_be_bytes()).map_err(io)?;
        out.write_all(&format.to_be_bytes()).map_err(io)?;
        out.write_all(&now_ms.to_be_bytes()).map_err(io)?;
        let mut records = 0u64;
        for kv in self.tree.iter() {
            let (k, v) = kv.map_err(StoreError::from)?;
            out.write_all(&[1]).map_err(io)?;
            for part in [&k[..], &v[..]] {
                let len = u32::try_from(part.len()).map_err(|_| {
                    BackupError::Store(StoreError::Corrupt("a record over 4 GiB".into()))
                })?;
                out.write_all(&len.to_be_bytes()).map_err(io)?;
                out.write_all(part).map_err(io)?;
            }
            records += 1;
        }
        out.write_all(&[0]).map_err(io)?;
        out.write_all(&records.to_be_bytes()).map_err(io)?;
        let sha256: [u8; 32] = out.hash.clone().finalize().into();
        let bytes = out.bytes + 32;
        out.inner.write_all(&sha256).map_err(io)?;
        out.inner.flush().map_err(io)?;
        Ok(Summary {
            records,
            bytes,
            format,
            written_at_ms: now_ms,
            sha256,
        })
    }
}

/// Reads a backup, calling `each` with every record once the header is read; checks
/// bounds, the end marker, the count and the checksum.
fn read(path: &Path, mut each: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<Summary> {
    let invalid = |why: String| BackupError::Invalid {
        path: path.to_owned(),
        why,
    };
    let file = File::open(path).map_err(|source| BackupError::Io {
        path: path.to_owned(),
        source,
    })?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut hash = Sha256::new();
    let mut read_exact = |buf: &mut [u8], hash: &mut Sha256, what: &str| -> Result<()> {
        r.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                invalid(format!("it ends in the middle of {what} (truncated?)"))
            } else {
                BackupError::Io {
                    path: path.to_owned(),
                    source: e,
                }
            }
        })?;
        hash.update(&*buf);
        Ok(())
    };
    let mut head = [0u8; 28];
    read_exact(&mut head, &mut hash, "its header")?;
    if &head[..8] != MAGIC {
        return Err(invalid("it does not start as one (LGMESHBK)".into()));
    }
    let u32_at = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap_or_default());
    let u64_at = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap_or_default());
    let version = u32_at(&head[8..12]);
    if version != FILE_VERSION {
        return Err(invalid(format!(
            "file version {version}; this lgmesh reads version {FILE_VERSION}"
        )));
    }
    let format = u64_at(&head[12..20]);
    if format == 0 || format > FORMAT_VERSION {
        return Err(BackupError::Store(StoreError::Format {
            found: format,
            supported: FORMAT_VERSION,
        }));
    }
    let written_at_ms = u64_at(&head[20..28]);
    let mut records = 0u64;
    let mut key = Vec::new();
    let mut value = Vec::new();
    loop {
        let mut tag = [0u8; 1];
        read_exact(&mut tag, &mut hash, "a record")?;
        match tag[0] {
            0 => break,
            1 => {}
            t => return Err(invalid(format!("record {records}: unknown tag {t}"))),
        }
        for (buf, max, what) in [(&mut key, MAX_KEY, "key"), (&mut value, MAX_VALUE, "value")] {
            let mut len = [0u8; 4];
            read_exact(&mut len, &mut hash, "a record")?;
            let len = u32::from_be_bytes(len) as usize;
            if len > max {
                return Err(invalid(format!(
                    "record {records}: a {what} of {len} bytes (at most {max})"
                )));
            }
            buf.resize(len, 0);
            read_exact(buf, &mut hash, "a record")?;
        }
        each(&key, &value)?;
        records += 1;
    }
    let mut count = [0u8; 8];
    read_exact(&mut count, &mut hash, "its end")?;
    if u64::from_be_bytes(count) != records {
        return Err(invalid(format!(
            "it says it holds {} records, but holds {records}",
            u64::from_be_bytes(count)
        )));
    }
    let sha256: [u8; 32] = hash.finalize().into();
    let mut want = [0u8; 32];
    r.read_exact(&mut want)
        .map_err(|_| invalid("it ends before its checksum (truncated?)".into()))?;
    if want != sha256 {
        return Err(invalid(
            "its checksum does not match: the file is damaged".into(),
        ));
    }
    let mut rest = [0u8; 1];
    if r.read(&mut rest).map_err(|source| BackupError::Io {
        path: path.to_owned(),
        source,
    })? != 0
    {
        return Err(invalid("bytes follow its end".into()));
    }
    Ok(Summary {
        records,
        bytes: total,
        format,
        written_at_ms,
        sha256,
    })
}

/// Checks that `path` is a whole, undamaged backup this build can restore.
pub fn verify(path: &Path) -> Result<Summary> {
    read(path, |_, _| Ok(()))
}

/// Makes the store `store_dir/db` from the backup at `path`. Refuses when `store_dir/db`
/// exists; checks the whole file before writing anything.
pub fn restore(path: &Path, store_dir: &Path) -> Result<Summary> {
    let target = store_dir.join("db");
    if target.exists() {
        return Err(BackupError::Exists(target));
    }
    verify(path)?;
    let building = store_dir.join("db.restoring");
    let io = |source| BackupError::Io {
        path: building.clone(),
        source,
    };
    if building.exists() {
        // What a restore cut short left.
        std::fs::remove_dir_all(&building).map_err(io)?;
    }
    std::fs::create_dir_all(store_dir).map_err(io)?;
    let summary = {
        // No flusher thread: it would hold the store's lock past the rename.
        let db = sled::Config::new()
            .path(&building)
            .flush_every_ms(None)
            .open()
            .map_err(StoreError::from)?;
        let tree = db.open_tree(TREE).map_err(StoreError::from)?;
        let mut batch = sled::Batch::default();
        let (mut n, mut bytes) = (0, 0);
        let summary = read(path, |k, v| {
            batch.insert(k, v);
            n += 1;
            bytes += k.len() + v.len();
            // Applied by count and by size: values may be large.
            if n == 10_000 || bytes >= 64 << 20 {
                tree.apply_batch(std::mem::take(&mut batch))
                    .map_err(StoreError::from)?;
                (n, bytes) = (0, 0);
            }
            Ok(())
        })?;
        tree.apply_batch(batch).map_err(StoreError::from)?;
        db.flush().map_err(StoreError::from)?;
        summary
    };
    // sled's threads let go of the store a moment after it is dropped: wait, so that
    // whoever opens it next (in this process too) finds it free.
    wait_unlocked(&building.join("db")).map_err(io)?;
    // A search index left beside the old store describes that store, not this one:
    // dropped, so that the node rebuilds it from the restored records.
    if let Ok(entries) = std::fs::read_dir(store_dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("text-v") {
                std::fs::remove_dir_all(e.path()).map_err(io)?;
            }
        }
    }
    std::fs::rename(&building, &target).map_err(io)?;
    Ok(summary)
}

/// Waits (at most 10 s) until nobody holds sled's lock on `file`.
fn wait_unlocked(file: &Path) -> std::io::Result<()> {
    use fs4::fs_std::FileExt;
    let f = File::open(file)?;
    for _ in 0..1000 {
        // fs4's (flock, as sled's): std's own `File::try_lock` needs a newer Rust.
        if FileExt::try_lock_exclusive(&f)? {
            // Closing the file lets go of the lock.
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(std::io::Error::other(
        "the new store stayed locked for 10 s",
    ))
}
