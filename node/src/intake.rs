//! The one way manifests enter this node's store, whichever way they came (a local
//! publish, a submit, gossip, sync), and the one place for what follows once they are
//! written: the counters by source, and the announcement of each new head to `Watch`
//! streams and the domain checker. The network reaches the store only through
//! [`lgmesh_net::Store`], which [`Intake`] implements.

use std::sync::Arc;

use lgmesh_net::{Offered, StoreFailure, SyncPayload};
use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::validate::{Checked, PutOutcome};
use lgmesh_registry::{Durability, IfBusy, Registry, StoreError};
use tokio::sync::broadcast;

use crate::metrics::{Metrics, Source};

/// New heads announced at once to `Watch` streams and the domain checker; a receiver
/// that falls further behind is told it lagged.
const ARRIVALS: usize = 1024;

/// The store's front door: the registry, with the node's counters and announcements.
pub struct Intake {
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    arrivals: broadcast::Sender<ManifestId>,
}

impl Intake {
    /// A front door to `registry`, counting into `metrics`.
    pub fn new(registry: Arc<Registry>, metrics: Arc<Metrics>) -> Self {
        Self {
            registry,
            metrics,
            arrivals: broadcast::channel(ARRIVALS).0,
        }
    }

    /// The store behind it.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Every manifest stored from now on, by any path, by id.
    pub fn subscribe(&self) -> broadcast::Receiver<ManifestId> {
        self.arrivals.subscribe()
    }

    /// Checks envelopes and equivocation proofs (blocking; signatures on every core).
    pub fn check(
        &self,
        envelopes: &[Vec<u8>],
        proofs: &[(Vec<u8>, Vec<u8>)],
        now_ms: u64,
    ) -> Checked {
        self.registry.check(envelopes, proofs, now_ms)
    }

    /// Writes a checked batch that came from `source` (blocking, unless `if_busy` says
    /// not to wait), then counts and announces what it stored.
    pub fn write(
        &self,
        batch: Checked,
        source: Source,
        durability: Durability,
        if_busy: IfBusy,
        placed: impl FnOnce(&[PutOutcome]),
    ) -> Result<Vec<PutOutcome>, StoreError> {
        let manifests = batch.manifests.len();
        // Signing times of what came by gossip, for the propagation lag.
        let signed: Vec<u64> = if source == Source::Gossip {
            batch
                .manifests
                .iter()
                .map(|m| m.as_ref().map_or(0, |m| m.body().issued_at_ms))
                .collect()
        } else {
            vec![]
        };
        let now = lgmesh_protocol::now_ms();
        let mut lags = Vec::with_capacity(signed.len());
        let outcomes = self.registry.write(batch, durability, if_busy, placed)?;
        for (i, o) in outcomes.iter().enumerate() {
            match o {
                PutOutcome::Stored(id) => {
                    self.metrics.accepted(source);
                    // A manifest is announced (nobody listening is no failure); an
                    // equivocation proof (after the manifests) is not one.
                    if i < manifests {
                        let _ = self.arrivals.send(*id);
                    }
                    if let Some(t) = signed.get(i).filter(|t| **t > 0) {
                        lags.push(now.saturating_sub(*t));
                    }
                }
                PutOutcome::Duplicate(_) => self.metrics.duplicate(source),
                PutOutcome::Rejected(r) => self.metrics.rejected(source, r.reason),
            }
        }
        self.metrics.propagated(&lags);
        Ok(outcomes)
    }
}

fn failure(e: impl std::fmt::Display) -> StoreFailure {
    StoreFailure(e.to_string())
}

impl lgmesh_net::Store for Intake {
    fn check(&self, envelopes: &[Vec<u8>], proofs: &[(Vec<u8>, Vec<u8>)], now_ms: u64) -> Checked {
        Intake::check(self, envelopes, proofs, now_ms)
    }

    fn offer(
        &self,
        batch: Checked,
        path: lgmesh_net::Path,
        durability: lgmesh_net::Durability,
        wait: bool,
        placed: &mut dyn FnMut(&[PutOutcome]),
    ) -> Result<Offered, StoreFailure> {
        let durability = match durability {
            lgmesh_net::Durability::Applied => Durability::Applied,
            lgmesh_net::Durability::Flushed => Durability::Flushed,
        };
        let if_busy = if wait { IfBusy::Wait } else { IfBusy::GiveBack };
        match self.write(batch, path.into(), durability, if_busy, placed) {
            Ok(outcomes) => Ok(Offered::Done(outcomes)),
            Err(StoreError::Busy(batch)) => Ok(Offered::Busy(*batch)),
            Err(e) => Err(failure(e)),
        }
    }

    fn flush(&self) -> Result<(), StoreFailure> {
        self.registry.flush().map_err(failure)
    }

    fn is_empty(&self) -> Result<bool, StoreFailure> {
        Ok(self.registry.counts().map_err(failure)?.heads == 0)
    }

    fn sync_generation(&self) -> Result<u64, StoreFailure> {
        self.registry.sync_generation().map_err(failure)
    }

    fn sync_items(&self) -> Result<Vec<(u64, ManifestId)>, StoreFailure> {
        self.registry.sync_items().map_err(failure)
    }

    fn sync_items_after(
        &self,
        after: Option<(u64, ManifestId)>,
        limit: usize,
    ) -> Result<Vec<(u64, ManifestId)>, StoreFailure> {
        self.registry
            .sync_items_after(after, limit)
            .map_err(failure)
    }

    fn sync_item(&self, id_prefix: &[u8]) -> Result<Option<SyncPayload>, StoreFailure> {
        Ok(
            match self
                .registry
                .sync_item_by_prefix(id_prefix)
                .map_err(failure)?
            {
                Some(lgmesh_registry::SyncPayload::Manifest(e)) => Some(SyncPayload::Manifest(e)),
                Some(lgmesh_registry::SyncPayload::Proof(a, b)) => Some(SyncPayload::Proof(a, b)),
                None => None,
            },
        )
    }
}

/// Writes a stream of batches, each atomic and flushed before the next, while the next
/// batch's signatures are checked on another thread: verification overlaps storage,
/// with one checked batch waiting at most. For bulk ingest (an import, a benchmark, a
/// simulation filling a node). Returns every outcome in order; stops at the first
/// storage error.
pub fn write_pipelined<I>(
    registry: &Registry,
    batches: I,
    now_ms: u64,
) -> Result<Vec<PutOutcome>, StoreError>
where
    I: IntoIterator<Item = Vec<Vec<u8>>>,
    I::IntoIter: Send,
{
    let batches = batches.into_iter();
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        s.spawn(move || {
            for b in batches {
                if tx.send(registry.check(&b, &[], now_ms)).is_err() {
                    break;
                }
            }
        });
        let mut out = vec![];
        for checked in rx {
            out.extend(registry.write(checked, Durability::Flushed, IfBusy::Wait, |_| {})?);
        }
        Ok(out)
    })
}
