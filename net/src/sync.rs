//! Anti-entropy: negentropy reconciliation of the live-head sets, then bounded fetches;
//! a full stream for an empty node. The responder side answers from a cached snapshot of
//! the sync set; the initiator side runs as its own task and talks to the peer through
//! the [`Network`] handle. Nothing here runs on the swarm's task.

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
    NetError, Network, SyncLimits,
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
        }
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

    /// Checks a page of envelopes (blocking; signatures on every core). Nothing is
    /// stored yet: [`SyncShared::store`] does that, in page order.
    fn check(&self, envelopes: Vec<Vec<u8>>, proofs: Vec<Evidence>, now_ms: u64) -> Page {
        self.stats.received(Path::Sync, envelopes.len() as u64);
        let proofs: Vec<(Vec<u8>, Vec<u8>)> =
            proofs.into_iter().map(|e| (e.first, e.second)).collect();
        let checked = self.store.check(&envelopes, &proofs, now_ms);
        // A checked manifest carries its id; only a refused one needs it worked out.
        let ids = checked
            .manifests
            .iter()
            .zip(&envelopes)
            .map(|(m, e)| match m {
                Ok(m) => Some(m.id()),
                Err(_) => crate::behaviour::manifest_id_of(e),
            })
            .collect();
        Page { ids, checked }
    }

    /// Stores a checked page (blocking) as one flushed batch, sending on `placed` once
    /// it is placed against the heads (the next page may be placed from then on).
    /// Returns how many were bad input (strikes against the peer).
    fn store(&self, page: Page, placed: tokio::sync::oneshot::Sender<()>) -> Result<u32, NetError> {
        let mut placed = Some(placed);
        let offered = self
            .store
            .offer(
                page.checked,
                Path::Sync,
                Durability::Flushed,
                true,
                &mut |_| {
                    if let Some(p) = placed.take() {
                        let _ = p.send(());
                    }
                },
            )
            .map_err(storage_err)?;
        let Offered::Done(outcomes) = offered else {
            return Err(storage_err("a write that waits came back busy"));
        };
        let mut strikes = 0;
        let mut declined = self.declined.lock().unwrap_or_else(|p| p.into_inner());
        // The manifests' outcomes, then the proofs'.
        let ids = page.ids.into_iter().chain(std::iter::repeat(None));
        for (o, id) in outcomes.iter().zip(ids) {
            if strikes_sender(o) {
                // Forged or malformed: its id is only a claim (the hash of a body
                // nobody signed), and must not keep the genuine manifest out.
                strikes += 1;
            } else if let (PutOutcome::Rejected(r), Some(id)) = (o, id)
                && lasting(r.reason)
            {
                // Verified and refused here for good (stale, withdrawn, revoked,
                // expired): not asked for again. Over quota or dated ahead of this
                // node's clock may pass later.
                declined.insert(id);
            }
        }
        Ok(strikes)
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

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NetError> + Send + 'static,
) -> Result<T, NetError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| NetError::Config(format!("sync task: {e}")))?
}

fn response_bytes(r: &SyncResponse) -> u64 {
    prost::Message::encoded_len(r) as u64
}

/// A page whose envelopes and proofs have been checked but not stored.
struct Page {
    /// The ids of its manifests (not of its proofs), where they decode.
    ids: Vec<Option<ManifestId>>,
    checked: Checked,
}

fn joined<T>(r: Result<T, tokio::task::JoinError>) -> Result<T, NetError> {
    r.map_err(|e| NetError::Config(format!("sync task: {e}")))
}

/// The pages of one round, taken in stages on blocking threads: checking (signatures,
/// on every core), then storing, which is placing against the heads (one page at a
/// time, under the registry's write lock) and applying to sled (in page order). A round
/// keeps one page checking and two storing, one placed while the other is applied,
/// while it asks for the next: the network, the signature checks, the placing and the
/// disk all work at once, with at most four pages held (the one arriving included).
/// Across all rounds, at most `4 × max_concurrent` rounds run (see the event loop), so
/// pages held are bounded by `16 × max_concurrent × max_response_bytes` in the worst
/// case, and only by what peers really sent.
struct Ingest {
    shared: Arc<SyncShared>,
    peer: PeerId,
    checking: Option<tokio::task::JoinHandle<Page>>,
    storing: std::collections::VecDeque<tokio::task::JoinHandle<Result<u32, NetError>>>,
    /// Sent once the last page given to storing is placed: the next waits for it, so
    /// that pages are placed in the order they came.
    placed: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// Pages being stored at once: one applied while the next is placed.
const STORING: usize = 2;

impl Ingest {
    fn new(shared: &Arc<SyncShared>, peer: PeerId) -> Self {
        Self {
            shared: shared.clone(),
            peer,
            checking: None,
            storing: Default::default(),
            placed: None,
        }
    }

    /// Starts checking `envelopes`, once the page before has moved on to storing.
    async fn push(
        &mut self,
        envelopes: Vec<Vec<u8>>,
        proofs: Vec<Evidence>,
    ) -> Result<(), NetError> {
        self.advance().await?;
        let s = self.shared.clone();
        self.checking = Some(tokio::task::spawn_blocking(move || {
            s.check(envelopes, proofs, now_ms())
        }));
        Ok(())
    }

    /// Moves the checked page on to storing, once a storing slot is free and the page
    /// before it is placed.
    async fn advance(&mut self) -> Result<(), NetError> {
        let Some(c) = self.checking.take() else {
            return Ok(());
        };
        let page = joined(c.await)?;
        while self.storing.len() >= STORING {
            self.wait_stored().await?;
        }
        if let Some(placed) = self.placed.take() {
            // An error (the page failed before it was placed) shows in its result.
            let _ = placed.await;
        }
        let s = self.shared.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.placed = Some(rx);
        self.storing
            .push_back(tokio::task::spawn_blocking(move || s.store(page, tx)));
        Ok(())
    }

    /// Waits for the oldest page being stored.
    async fn wait_stored(&mut self) -> Result<(), NetError> {
        if let Some(h) = self.storing.pop_front() {
            let strikes = joined(h.await)??;
            self.shared.strikes.add(self.peer, strikes);
        }
        Ok(())
    }

    /// Stores what is left.
    async fn finish(mut self) -> Result<(), NetError> {
        self.advance().await?;
        while !self.storing.is_empty() {
            self.wait_stored().await?;
        }
        Ok(())
    }
}

/// One sync round with `peer`, as initiator.
pub(crate) async fn run_round(
    net: Network,
    shared: Arc<SyncShared>,
    peer: PeerId,
) -> Result<RoundReport, NetError> {
    let store = shared.store.clone();
    let empty = blocking(move || store.is_empty().map_err(storage_err)).await?;
    let mut report = RoundReport::default();
    let result = if empty {
        stream_all(&net, &shared, peer, &mut report).await
    } else {
        reconcile(&net, &shared, peer, &mut report).await
    };
    match result {
        Ok(()) => {
            if report.they_lack > 0 {
                // Tell the peer, so it pulls now rather than at its next periodic round.
                let nudge = SyncRequest {
                    kind: Some(sync_request::Kind::Nudge(Nudge {
                        missing: report.they_lack,
                    })),
                };
                if let Err(e) = net.request(peer, nudge).await {
                    tracing::debug!(%peer, error = %e, "nudge not delivered");
                }
            }
            shared.stats.syncs_completed.fetch_add(1, Relaxed);
            Ok(report)
        }
        Err(e) => {
            shared.stats.syncs_failed.fetch_add(1, Relaxed);
            Err(e)
        }
    }
}

fn unexpected(peer: PeerId, r: &SyncResponse) -> NetError {
    let reason = match &r.kind {
        Some(sync_response::Kind::Refused(why)) => format!("refused: {why}"),
        _ => "unexpected response".into(),
    };
    NetError::Peer { peer, reason }
}

/// Pages through the peer's whole set; each page is stored while the next is requested.
async fn stream_all(
    net: &Network,
    shared: &Arc<SyncShared>,
    peer: PeerId,
    report: &mut RoundReport,
) -> Result<(), NetError> {
    let mut after: Option<(u64, Vec<u8>)> = None;
    let mut ingest = Ingest::new(shared, peer);
    loop {
        let (at, id) = after.clone().unwrap_or_default();
        let req = SyncRequest {
            kind: Some(sync_request::Kind::Stream(StreamRequest {
                after_issued_at_ms: at,
                after_id: id,
                max_items: shared.limits.max_stream_items as u32,
            })),
        };
        let resp = net.request(peer, req).await?;
        report.bytes_in += response_bytes(&resp);
        let Some(sync_response::Kind::Manifests(m)) = resp.kind else {
            return Err(unexpected(peer, &resp));
        };
        report.fetched += (m.envelopes.len() + m.evidence.len()) as u64;
        let more = m.more && !(m.envelopes.is_empty() && m.evidence.is_empty());
        let next = (m.last_issued_at_ms, m.last_id);
        // The stream is in (issued_at, id) order: a page that does not move the cursor
        // on would be asked for again for ever, and every item in it must lie past the
        // last cursor and up to the new one (else the same page, replayed under a
        // cursor that moves, would be checked again and again).
        let in_order = |pos: Option<(u64, [u8; 32])>| {
            pos.is_none_or(|(at, id)| {
                let pos = (at, id.to_vec());
                after.as_ref().is_none_or(|a| pos > *a) && pos <= next
            })
        };
        let out_of_order = !m.envelopes.iter().all(|e| in_order(stream_position(e)))
            || !m
                .evidence
                .iter()
                .all(|e| in_order(proof_position(&e.first, &e.second)));
        if out_of_order || (more && after.as_ref().is_some_and(|a| next <= *a)) {
            shared.stats.refused(Refusal::StreamStuck);
            shared.strikes.add(peer, 1);
            ingest.push(m.envelopes, m.evidence).await?;
            ingest.finish().await?;
            return Err(NetError::Peer {
                peer,
                reason: "its stream did not move on".into(),
            });
        }
        after = Some(next);
        ingest.push(m.envelopes, m.evidence).await?;
        if !more {
            break;
        }
        if report.fetched as usize >= shared.limits.max_round_items {
            // Enough for one round: the next reconciles from here.
            report.partial = true;
            break;
        }
    }
    ingest.finish().await
}

async fn reconcile(
    net: &Network,
    shared: &Arc<SyncShared>,
    peer: PeerId,
    report: &mut RoundReport,
) -> Result<(), NetError> {
    let s = shared.clone();
    let snap = blocking(move || s.snapshot()).await?;
    let neg_err = |e: negentropy::Error| NetError::Peer {
        peer,
        reason: format!("negentropy: {e}"),
    };
    let mut neg =
        Negentropy::new(Storage::Owned(snap), shared.limits.frame_bytes).map_err(neg_err)?;
    let mut frame = neg.initiate().map_err(neg_err)?;
    let mut need: Vec<Id> = vec![];
    loop {
        if report.round_trips as usize >= shared.limits.max_round_trips {
            // A large difference (a node that holds little) takes more than one round:
            // fetch what this one found, and the next goes on.
            report.partial = true;
            break;
        }
        let resp = net
            .request(
                peer,
                SyncRequest {
                    kind: Some(sync_request::Kind::Reconcile(frame)),
                },
            )
            .await?;
        // Counted as it happens, so the figure never lags what the round has stored.
        report.round_trips += 1;
        shared.stats.sync_round_trips.fetch_add(1, Relaxed);
        report.bytes_in += response_bytes(&resp);
        let Some(sync_response::Kind::Reconcile(reply)) = resp.kind else {
            return Err(unexpected(peer, &resp));
        };
        let mut have = vec![];
        let next = neg
            .reconcile_with_ids(&reply, &mut have, &mut need)
            .map_err(neg_err)?;
        report.they_lack += have.len() as u64;
        if need.len() >= shared.limits.max_round_ids {
            // Enough for one round (a peer could claim any number of ids): fetch these,
            // and the next round finds the rest.
            need.truncate(shared.limits.max_round_ids);
            report.partial = true;
            break;
        }
        match next {
            Some(next) => frame = next,
            None => break,
        }
    }
    let want: Vec<Vec<u8>> = need
        .into_iter()
        .map(|id| *id.as_bytes())
        .filter(|id| !shared.is_declined(&ManifestId(*id)))
        .map(|id| id.to_vec())
        .collect();
    fetch(net, shared, peer, want, report).await
}

/// Where an envelope stands in a stream: its `(issued_at_ms, id)`; none when it does
/// not decode (its checks strike it anyway).
fn stream_position(envelope: &[u8]) -> Option<(u64, [u8; 32])> {
    use prost::Message;
    let e = lgmesh_proto::v1::Envelope::decode(envelope).ok()?;
    let body = lgmesh_proto::v1::ManifestBody::decode(e.body.as_slice()).ok()?;
    Some((body.issued_at_ms, ManifestId::of(&e.body).0))
}

/// Where a proof stands in a stream: the later of its two manifests' times, its id.
fn proof_position(first: &[u8], second: &[u8]) -> Option<(u64, [u8; 32])> {
    let (a, b) = (stream_position(first)?, stream_position(second)?);
    let id = ManifestId::of_evidence(&ManifestId(a.1), &ManifestId(b.1));
    Some((a.0.max(b.0), id.0))
}

/// Fetches `want` in batches of `max_fetch_ids`, storing each while asking for the next.
async fn fetch(
    net: &Network,
    shared: &Arc<SyncShared>,
    peer: PeerId,
    mut want: Vec<Vec<u8>>,
    report: &mut RoundReport,
) -> Result<(), NetError> {
    let mut ingest = Ingest::new(shared, peer);
    want.reverse(); // pop from the end, oldest first
    while !want.is_empty() {
        let n = want.len().min(shared.limits.max_fetch_ids);
        let batch: Vec<Vec<u8>> = want.split_off(want.len() - n).into_iter().rev().collect();
        let asked: HashSet<Vec<u8>> = batch.iter().cloned().collect();
        let resp = net
            .request(
                peer,
                SyncRequest {
                    kind: Some(sync_request::Kind::Fetch(FetchRequest {
                        ids: vec![],
                        id_prefixes: batch
                            .iter()
                            .flat_map(|id| id[..ID_PREFIX_LEN].to_vec())
                            .collect(),
                    })),
                },
            )
            .await?;
        report.bytes_in += response_bytes(&resp);
        let Some(sync_response::Kind::Manifests(m)) = resp.kind else {
            return Err(unexpected(peer, &resp));
        };
        // Only what was asked for counts; the rest (a response cut short by its byte
        // limit) is asked for again.
        let mut strikes = 0;
        let mut got = HashSet::new();
        let mut envelopes = Vec::with_capacity(m.envelopes.len());
        for e in m.envelopes {
            match crate::behaviour::manifest_id_of(&e) {
                Some(id) if asked.contains(id.as_bytes().as_slice()) && got.insert(id) => {
                    envelopes.push(e)
                }
                _ => strikes += 1, // unasked-for or undecodable data
            }
        }
        let mut proofs = Vec::with_capacity(m.evidence.len());
        for e in m.evidence {
            let id = match (
                crate::behaviour::manifest_id_of(&e.first),
                crate::behaviour::manifest_id_of(&e.second),
            ) {
                (Some(a), Some(b)) => Some(ManifestId::of_evidence(&a, &b)),
                _ => None,
            };
            match id {
                Some(id) if asked.contains(id.as_bytes().as_slice()) && got.insert(id) => {
                    proofs.push(e)
                }
                _ => strikes += 1,
            }
        }
        shared.strikes.add(peer, strikes);
        report.fetched += (envelopes.len() + proofs.len()) as u64;
        if got.is_empty() && batch.len() >= EMPTY_FETCH_MIN {
            // It offered these a moment ago and now has none of them: it claimed ids
            // it does not hold (an honest peer drops one now and then as it expires or
            // is replaced, not a whole batch). The round ends here.
            ingest.finish().await?;
            shared.stats.refused(Refusal::EmptyFetch);
            return Err(NetError::Peer {
                peer,
                reason: format!("it offered {} manifests and sent none of them", batch.len()),
            });
        }
        if !got.is_empty() {
            want.extend(batch.into_iter().rev().filter(|id| {
                <[u8; 32]>::try_from(id.as_slice()).is_ok_and(|id| !got.contains(&ManifestId(id)))
            }));
        }
        // A peer that sent nothing of a small batch no longer has it: move on.
        ingest.push(envelopes, proofs).await?;
    }
    ingest.finish().await
}

/// A fetch of at least this many ids answered with none ends the round.
const EMPTY_FETCH_MIN: usize = 8;

/// Entry points for the fuzz targets in `fuzz/`: what a hostile peer's bytes reach on
/// the sync path, without a swarm. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;
    use crate::codec::{MAX_REQUEST_BYTES, read_frame};
    use prost::Message;

    /// A node's sync state over a store.
    pub struct SyncTarget(SyncShared);

    impl SyncTarget {
        /// Sync state over `store` with the default limits.
        pub fn new(store: Arc<dyn Store>) -> Self {
            Self(SyncShared::new(
                store,
                SyncLimits::default(),
                Arc::new(NetStats::default()),
                Arc::default(),
            ))
        }

        /// Bytes as a peer's inbound request stream: framed, decoded and answered.
        /// Returns how far it got.
        pub fn request(&self, data: &[u8]) -> &'static str {
            let mut io = futures::io::Cursor::new(data);
            let Ok(frame) = futures::executor::block_on(read_frame(&mut io, MAX_REQUEST_BYTES))
            else {
                return "frame";
            };
            let Ok(req) = SyncRequest::decode(frame.as_slice()) else {
                return "decode";
            };
            let what = match &req.kind {
                Some(sync_request::Kind::Reconcile(_)) => ["reconcile-refused", "reconcile"],
                Some(sync_request::Kind::Fetch(_)) => ["fetch-refused", "fetch"],
                Some(sync_request::Kind::Stream(_)) => ["stream-refused", "stream"],
                Some(sync_request::Kind::Nudge(_)) => ["nudge-refused", "nudge"],
                None => ["empty-refused", "empty"],
            };
            match self.0.respond(req) {
                Ok(_) => what[1],
                Err(_) => what[0],
            }
        }

        /// Bytes as a peer's answer to this node's reconciliation or fetch: framed,
        /// decoded, then a reconcile frame goes to negentropy and manifests through
        /// the signature and schema checks.
        pub fn response(&self, data: &[u8]) -> &'static str {
            let mut io = futures::io::Cursor::new(data);
            let max = self.0.limits.max_response_bytes + crate::codec::RESPONSE_OVERHEAD;
            let Ok(frame) = futures::executor::block_on(read_frame(&mut io, max)) else {
                return "frame";
            };
            let Ok(resp) = SyncResponse::decode(frame.as_slice()) else {
                return "decode";
            };
            match resp.kind {
                Some(sync_response::Kind::Reconcile(reply)) => {
                    let Ok(snap) = self.0.snapshot() else {
                        return "snapshot";
                    };
                    let Ok(mut neg) =
                        Negentropy::new(Storage::Owned(snap), self.0.limits.frame_bytes)
                    else {
                        return "negentropy";
                    };
                    if neg.initiate().is_err() {
                        return "initiate";
                    }
                    let (mut have, mut need) = (vec![], vec![]);
                    match neg.reconcile_with_ids(&reply, &mut have, &mut need) {
                        Ok(Some(_)) => "reconcile-more",
                        Ok(None) => "reconcile-done",
                        Err(_) => "reconcile-error",
                    }
                }
                Some(sync_response::Kind::Manifests(m)) => {
                    let n = m.envelopes.len().min(self.0.limits.max_fetch_ids);
                    let checked = self.0.store.check(&m.envelopes[..n], &[], now_ms());
                    let proofs: Vec<(Vec<u8>, Vec<u8>)> = m
                        .evidence
                        .into_iter()
                        .take(self.0.limits.max_fetch_ids)
                        .map(|e| (e.first, e.second))
                        .collect();
                    let proofs = self.0.store.check(&[], &proofs, now_ms());
                    let proven = matches!(
                        self.0.store.offer(proofs, Path::Sync, Durability::Flushed, true, &mut |_| {}),
                        Ok(Offered::Done(o)) if o.iter().any(|o| matches!(o, PutOutcome::Stored(_)))
                    );
                    if proven {
                        "evidence-stored"
                    } else if checked.manifests.iter().any(Result::is_ok) {
                        "manifests-valid"
                    } else {
                        "manifests"
                    }
                }
                Some(sync_response::Kind::Refused(_)) => "refused",
                Some(sync_response::Kind::Nudged(_)) => "nudged",
                None => "empty",
            }
        }
    }
}
