//! Anti-entropy: negentropy reconciliation of the live-head sets, then bounded fetches;
//! a full stream for an empty node. Here: the state the sync tasks share and the
//! responder, which answers from a cached snapshot of the sync set. The initiator's
//! round is in `round`, the pipeline that checks and stores its pages in `pages`. A
//! round runs as its own task and talks to the peer through
//! the swarm's task's queue (`LoopTx`). Nothing here runs on the swarm's task.

mod pages;
mod round;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use lgmesh_proto::v1::{
    Evidence, FetchRequest, Manifests, Nudge, StreamRequest, SyncRequest, SyncResponse,
    sync_request, sync_response,
};
use lgmesh_protocol::envelope::{ID_PREFIX_LEN, ManifestId};
use lgmesh_protocol::validate::{Checked, PutOutcome};
use libp2p::PeerId;
use negentropy::{Id, Negentropy, NegentropyStorageBase, NegentropyStorageVector, Storage};
use tokio::sync::Notify;

use crate::{
    NetError, SyncLimits,
    command::LoopTx,
    stats::{NetStats, Path, Refusal},
    store::{Durability, Offered, Store, SyncPayload},
};

/// The sync set as negentropy storage, shared between rounds while the store is unchanged.
#[derive(Clone)]
pub(crate) struct Snapshot(Arc<NegentropyStorageVector>);

impl NegentropyStorageBase for Snapshot {
    fn size(&self) -> Result<usize, negentropy::Error> {
        self.0.size()
    }
    fn get_item(&self, i: usize) -> Result<Option<negentropy::Item>, negentropy::Error> {
        self.0.get_item(i)
    }
    fn iterate(
        &self,
        begin: usize,
        end: usize,
        cb: &mut dyn FnMut(negentropy::Item, usize) -> Result<bool, negentropy::Error>,
    ) -> Result<(), negentropy::Error> {
        self.0.iterate(begin, end, cb)
    }
    fn find_lower_bound(&self, first: usize, last: usize, value: &negentropy::Bound) -> usize {
        self.0.find_lower_bound(first, last, value)
    }
}

/// Strikes earned by peers, waiting for the event loop to apply them. Tasks add to it
/// the moment a peer's fault shows (a forged manifest in a page, data nobody asked for);
/// the loop is woken and applies them at once, so a peer is cut off mid-round, not when
/// the round ends. Never full and never dropped: one counter per peer.
#[derive(Default)]
pub(crate) struct Strikes {
    pending: Mutex<HashMap<PeerId, u32>>,
    pub(crate) wake: Notify,
}

impl Strikes {
    pub(crate) fn add(&self, peer: PeerId, n: u32) {
        if n == 0 {
            return;
        }
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let e = p.entry(peer).or_default();
        *e = e.saturating_add(n);
        drop(p);
        self.wake.notify_one();
    }

    pub(crate) fn take(&self) -> HashMap<PeerId, u32> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// State shared by the sync tasks of one node.
pub(crate) struct SyncShared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) limits: SyncLimits,
    pub(crate) stats: Arc<NetStats>,
    pub(crate) strikes: Arc<Strikes>,
    snapshot: Mutex<Option<(u64, Snapshot)>>,
    /// Ids of verified manifests this node refused (stale, expired, over quota): not
    /// fetched again. Never the id of an envelope that failed its checks: that id is
    /// the hash of a body nobody signed, and the genuine manifest must still come in.
    declined: Mutex<Declined>,
    /// Rounds' checks and writes on the blocking pool: a round ended early leaves them
    /// running, and the network waits for them before it says it has stopped.
    blocking: tokio_util::task::TaskTracker,
}

/// A bounded set of declined ids (oldest forgotten first).
struct Declined {
    set: HashSet<ManifestId>,
    order: std::collections::VecDeque<ManifestId>,
}

const MAX_DECLINED: usize = 100_000;

impl Declined {
    fn insert(&mut self, id: ManifestId) {
        if self.set.insert(id) {
            self.order.push_back(id);
            if self.order.len() > MAX_DECLINED
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }
}

fn payload_len(p: &SyncPayload) -> usize {
    match p {
        SyncPayload::Manifest(e) => e.len(),
        SyncPayload::Proof(a, b) => a.len() + b.len(),
    }
}

fn push_payload(m: &mut Manifests, p: SyncPayload) {
    match p {
        SyncPayload::Manifest(e) => m.envelopes.push(e),
        SyncPayload::Proof(first, second) => m.evidence.push(Evidence { first, second }),
    }
}

fn storage_err(e: impl std::fmt::Display) -> NetError {
    NetError::Config(format!("store: {e}"))
}

impl SyncShared {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        limits: SyncLimits,
        stats: Arc<NetStats>,
        strikes: Arc<Strikes>,
    ) -> Self {
        Self {
            store,
            limits,
            stats,
            strikes,
            snapshot: Mutex::new(None),
            declined: Mutex::new(Declined {
                set: HashSet::new(),
                order: Default::default(),
            }),
            blocking: tokio_util::task::TaskTracker::new(),
        }
    }

    /// Runs `f` on the blocking pool, tracked: see [`SyncShared::settle`].
    pub(crate) fn spawn_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.blocking.spawn_blocking(f)
    }

    /// Waits until every check and write a round started has ended, rounds aborted
    /// included, so that nothing is written after the network has stopped.
    pub(crate) async fn settle(&self) {
        self.blocking.close();
        self.blocking.wait().await;
    }

    /// The sync set as it is now (blocking: call from a blocking thread).
    pub(crate) fn snapshot(&self) -> Result<Snapshot, NetError> {
        let seq = self.store.sync_generation().map_err(storage_err)?;
        if let Some((s, snap)) = &*self.snapshot.lock().unwrap_or_else(|p| p.into_inner())
            && *s == seq
        {
            return Ok(snap.clone());
        }
        let mut v = NegentropyStorageVector::new();
        for (at, id) in self.store.sync_items().map_err(storage_err)? {
            v.insert(at, Id::from_byte_array(id.0))
                .map_err(storage_err)?;
        }
        v.seal().map_err(storage_err)?;
        let snap = Snapshot(Arc::new(v));
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = Some((seq, snap.clone()));
        Ok(snap)
    }

    /// Whether a request is well formed, as far as can be told without the store: the
    /// event loop asks this before giving it a thread, so malformed requests are struck
    /// however many come at once.
    pub(crate) fn well_formed(&self, req: &SyncRequest) -> Result<(), Refusal> {
        match &req.kind {
            Some(sync_request::Kind::Fetch(FetchRequest { ids, id_prefixes })) => {
                if id_prefixes.len() % ID_PREFIX_LEN != 0
                    || ids.len() + id_prefixes.len() / ID_PREFIX_LEN > self.limits.max_fetch_ids
                    || ids.iter().any(|id| id.len() != 32)
                {
                    return Err(Refusal::BadRequest);
                }
                Ok(())
            }
            Some(sync_request::Kind::Stream(StreamRequest { after_id, .. })) => {
                if after_id.is_empty() || after_id.len() == 32 {
                    Ok(())
                } else {
                    Err(Refusal::BadRequest)
                }
            }
            Some(_) => Ok(()),
            None => Err(Refusal::BadRequest),
        }
    }

    /// Answers one request (blocking: call from a blocking thread).
    pub(crate) fn respond(&self, req: SyncRequest) -> Result<SyncResponse, Refusal> {
        self.well_formed(&req)?;
        let kind = |k| SyncResponse { kind: Some(k) };
        match req.kind {
            Some(sync_request::Kind::Reconcile(frame)) => {
                let snap = self.snapshot().map_err(|_| Refusal::Busy)?;
                let mut neg = Negentropy::new(Storage::Owned(snap), self.limits.frame_bytes)
                    .map_err(|_| Refusal::BadRequest)?;
                let out = neg.reconcile(&frame).map_err(|_| Refusal::BadRequest)?;
                Ok(kind(sync_response::Kind::Reconcile(out)))
            }
            Some(sync_request::Kind::Fetch(FetchRequest { ids, id_prefixes })) => {
                let mut m = Manifests::default();
                let mut bytes = 0;
                let wanted = ids
                    .iter()
                    .map(Vec::as_slice)
                    .chain(id_prefixes.chunks(ID_PREFIX_LEN));
                for id in wanted {
                    if let Ok(Some(item)) = self.store.sync_item(id) {
                        bytes += payload_len(&item);
                        let any = !m.envelopes.is_empty() || !m.evidence.is_empty();
                        if bytes > self.limits.max_response_bytes && any {
                            break; // the initiator asks again for what is left
                        }
                        push_payload(&mut m, item);
                    }
                }
                Ok(kind(sync_response::Kind::Manifests(m)))
            }
            Some(sync_request::Kind::Stream(StreamRequest {
                after_issued_at_ms,
                after_id,
                max_items,
            })) => {
                let after = if after_id.is_empty() {
                    None
                } else {
                    let id: [u8; 32] = after_id
                        .as_slice()
                        .try_into()
                        .map_err(|_| Refusal::BadRequest)?;
                    Some((after_issued_at_ms, ManifestId(id)))
                };
                let max = (max_items as usize).clamp(1, self.limits.max_stream_items);
                let mut m = Manifests {
                    more: true,
                    ..Default::default()
                };
                let mut bytes = 0;
                // One more than a page: if it is there, there is more to come.
                let items = self
                    .store
                    .sync_items_after(after, max + 1)
                    .map_err(|_| Refusal::Busy)?;
                let mut rest = items.iter();
                let mut sent = 0;
                loop {
                    if sent >= max || bytes >= self.limits.max_response_bytes {
                        break;
                    }
                    let Some(&(at, id)) = rest.next() else {
                        m.more = items.len() > max;
                        break;
                    };
                    // The cursor moves past every item, sent or (gone meanwhile) not.
                    sent += 1;
                    m.last_issued_at_ms = at;
                    m.last_id = id.0.to_vec();
                    if let Ok(Some(item)) = self.store.sync_item(&id.0) {
                        bytes += payload_len(&item);
                        push_payload(&mut m, item);
                    }
                }
                Ok(kind(sync_response::Kind::Manifests(m)))
            }
            // Answered by the event loop, which owns the per-peer state it needs.
            Some(sync_request::Kind::Nudge(_)) => Ok(kind(sync_response::Kind::Nudged(false))),
            None => Err(Refusal::BadRequest),
        }
    }

    fn is_declined(&self, id: &ManifestId) -> bool {
        self.declined
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set
            .contains(id)
    }
}

/// Whether an outcome is the sender's fault: forged or malformed data, which no honest
/// peer relays. The one rule for gossip and sync alike.
pub(crate) fn strikes_sender(o: &PutOutcome) -> bool {
    matches!(o, PutOutcome::Rejected(r) if r.reason.strikes_sender())
}

/// Whether a refusal of a verified manifest stands for good on this node.
fn lasting(reason: lgmesh_protocol::validate::Reason) -> bool {
    use lgmesh_protocol::validate::Reason;
    !matches!(reason, Reason::Quota | Reason::Time)
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What one round did, for logs and the simulation.
#[derive(Debug, Default, Clone, Copy)]
pub struct RoundReport {
    /// Negentropy round trips (0 for a stream).
    pub round_trips: u64,
    /// Manifests fetched.
    pub fetched: u64,
    /// Bytes of responses.
    pub bytes_in: u64,
    /// Manifests this node holds that the peer lacks (found by reconciliation).
    pub they_lack: u64,
    /// The round stopped at one of its caps (round trips, ids, items) with more to
    /// come: the next round with this peer starts at once.
    pub partial: bool,
}

pub(crate) use round::run_round;

/// Entry points for the fuzz targets in `fuzz/`: what a hostile peer's bytes reach on
/// the sync path, without a swarm. Not an API.
#[doc(hidden)]
pub mod fuzzing;
