//! The store's format version and the migrations between formats.
//!
//! Every store records its format ([`FORMAT_VERSION`], under `C|format`). Opening a store
//! checks it before writing anything: a store of a newer format (written by a newer
//! lgmesh) is refused, so that going back to an older release never half-reads or
//! rewrites data it does not understand; an older one is brought forward one format at
//! a time. Each step is idempotent and the new format is recorded, and flushed, only
//! after the step, so a migration cut short by a crash runs again from that step at the
//! next start.
//!
//! A new format is added by writing its step here, appending it to [`STEPS`], raising
//! [`FORMAT_VERSION`], and committing a store written by the previous release under
//! `node/tests/fixtures/` for the migration test.

use super::layout::{COUNT_FORMAT, FORMAT_VERSION, key, prefix, read_u64};
use super::sync::drop_sync_keys;
use super::{Result, StoreError};

/// The step from format `n` to `n + 1` is `STEPS[n - 1]`.
const STEPS: &[fn(&sled::Tree) -> Result<()>] = &[to_2];

/// 1 → 2: drop the sync set's old on-disk copy (`S|` keys): the set lives in memory.
fn to_2(tree: &sled::Tree) -> Result<()> {
    drop_sync_keys(tree)
}

/// A store's format and counts, read without migrating or changing it (`lgmesh
/// doctor`): fails as opening would on a format this build does not read.
pub fn inspect(dir: &std::path::Path) -> Result<(u64, super::Counts)> {
    let db = sled::Config::new()
        .path(dir.join("db"))
        .flush_every_ms(None)
        .open()?;
    let tree = db.open_tree(super::layout::TREE)?;
    let format = format_of(&tree)?;
    if format > FORMAT_VERSION || format == 0 {
        return Err(StoreError::Format {
            found: format,
            supported: FORMAT_VERSION,
        });
    }
    let count = |name: &[u8]| -> Result<u64> {
        Ok(tree
            .get(key(prefix::COUNTER, &[name]))?
            .map_or(0, |v| read_u64(&v)))
    };
    Ok((
        format,
        super::Counts {
            manifests: count(super::layout::COUNT_MANIFESTS)?,
            heads: count(super::layout::COUNT_HEADS)?,
        },
    ))
}

/// The format of the store in `tree`: 1 when it has no record of one.
pub(super) fn format_of(tree: &sled::Tree) -> Result<u64> {
    Ok(tree
        .get(key(prefix::COUNTER, &[COUNT_FORMAT]))?
        .map_or(1, |v| read_u64(&v)))
}

/// Checks the store's format and migrates it to [`FORMAT_VERSION`]. Returns the format
/// it was in when it was older, `None` when it needed nothing. A new (empty) store is
/// stamped with the current format.
pub(super) fn migrate(db: &sled::Db, tree: &sled::Tree) -> Result<Option<u64>> {
    let stamp = |v: u64| -> Result<()> {
        tree.insert(key(prefix::COUNTER, &[COUNT_FORMAT]), &v.to_be_bytes()[..])?;
        db.flush()?;
        Ok(())
    };
    if tree.is_empty() {
        stamp(FORMAT_VERSION)?;
        return Ok(None);
    }
    let found = format_of(tree)?;
    if found > FORMAT_VERSION || found == 0 {
        return Err(StoreError::Format {
            found,
            supported: FORMAT_VERSION,
        });
    }
    for from in found..FORMAT_VERSION {
        let step = usize::try_from(from - 1)
            .ok()
            .and_then(|i| STEPS.get(i))
            .ok_or(StoreError::Format {
                found,
                supported: FORMAT_VERSION,
            })?;
        step(tree)?;
        stamp(from + 1)?;
    }
    Ok((found < FORMAT_VERSION).then_some(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_has_its_step() {
        assert_eq!(STEPS.len() as u64, FORMAT_VERSION - 1);
    }
}
