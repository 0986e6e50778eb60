//! The pages of a round, checked and stored in stages on blocking threads, in the
//! order they came.

use super::*;

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
pub(super) struct Ingest {
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
    pub(super) fn new(shared: &Arc<SyncShared>, peer: PeerId) -> Self {
        Self {
            shared: shared.clone(),
            peer,
            checking: None,
            storing: Default::default(),
            placed: None,
        }
    }

    /// Starts checking `envelopes`, once the page before has moved on to storing.
    pub(super) async fn push(
        &mut self,
        envelopes: Vec<Vec<u8>>,
        proofs: Vec<Evidence>,
    ) -> Result<(), NetError> {
        self.advance().await?;
        let s = self.shared.clone();
        self.checking = Some(
            self.shared
                .spawn_blocking(move || s.check(envelopes, proofs, now_ms())),
        );
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
            .push_back(self.shared.spawn_blocking(move || s.store(page, tx)));
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
    pub(super) async fn finish(mut self) -> Result<(), NetError> {
        self.advance().await?;
        while !self.storing.is_empty() {
            self.wait_stored().await?;
        }
        Ok(())
    }
}

impl SyncShared {
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
}
