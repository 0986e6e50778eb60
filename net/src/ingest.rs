//! Gossip ingest: messages from gossipsub, validated and stored in batches off the
//! swarm's task, their verdicts sent back to gossipsub as soon as the batch is placed,
//! and the store flushed behind them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lgmesh_protocol::validate::{PutOutcome, Reason};
use libp2p::PeerId;
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use tokio::sync::mpsc;

use crate::command::{Command, Internal, LoopTx, Verdict};
use crate::stats::Path;
use crate::store::{Durability, Offered, Store, StoreFailure};
use crate::sync::{self, Strikes};

/// The longest a relayed manifest waits in memory before it is flushed to disk.
const GOSSIP_FLUSH_DELAY: Duration = Duration::from_millis(250);

/// A gossip message waiting for validation.
pub(crate) struct GossipJob {
    pub(crate) id: MessageId,
    pub(crate) source: PeerId,
    pub(crate) data: Vec<u8>,
    pub(crate) arrived: std::time::Instant,
}

/// Validates gossip in batches: whatever has queued up while the last batch was being
/// stored goes in the next. The verdicts go back to gossipsub as soon as the batch is
/// placed against the heads, before it is written, and a separate task flushes to disk
/// behind it (one flush for however many batches came meanwhile). Forwarding waits for
/// neither: on a busy machine a write takes a few hundred microseconds and a flush tens
/// of milliseconds, and every hop would pay both.
pub(crate) async fn ingest_worker(
    mut rx: mpsc::Receiver<GossipJob>,
    store: Arc<dyn Store>,
    tx: LoopTx,
    strikes: Arc<Strikes>,
) {
    const MAX_BATCH: usize = 256;
    let dirty = Arc::new(tokio::sync::Notify::new());
    let flusher = tokio::spawn(flush_worker(store.clone(), dirty.clone()));
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let data: Vec<Vec<u8>> = jobs
            .iter_mut()
            .map(|j| std::mem::take(&mut j.data))
            .collect();
        let arrived: Vec<std::time::Instant> = jobs.iter().map(|j| j.arrived).collect();
        let keys: Vec<(MessageId, PeerId)> = jobs.into_iter().map(|j| (j.id, j.source)).collect();
        // One or a few messages (the usual case) are checked and placed right here,
        // unless another write (a sync page) holds the store: a signature and a
        // placement take a fraction of a millisecond, less than the hand-over to a
        // blocking thread and back costs on a busy machine. A burst, or a batch the
        // store was too busy for, goes to a blocking thread, where its signatures are
        // checked on every core.
        let mut reported = false;
        let inline = if data.len() <= INLINE_BATCH {
            let checked = store.check(&data, &[], sync::now_ms());
            let mut report = reporter(&keys, &arrived, &tx, &strikes, Mode::Try, &mut reported);
            Some(store.offer(
                checked,
                Path::Gossip,
                Durability::Applied,
                false,
                &mut report,
            ))
        } else {
            None
        };
        let stored = match inline {
            Some(Ok(Offered::Done(o))) => Ok((Ok(o), keys, reported)),
            Some(Err(e)) => Ok((Err(e), keys, reported)),
            // Busy (checked already) or a burst (not yet): to a blocking thread.
            busy => {
                let checked = match busy {
                    Some(Ok(Offered::Busy(checked))) => Some(checked),
                    _ => None,
                };
                let (st, t2, s2) = (store.clone(), tx.clone(), strikes.clone());
                tokio::task::spawn_blocking(move || {
                    let mut reported = false;
                    let checked = checked.unwrap_or_else(|| st.check(&data, &[], sync::now_ms()));
                    let r = {
                        let mut report =
                            reporter(&keys, &arrived, &t2, &s2, Mode::Blocking, &mut reported);
                        st.offer(
                            checked,
                            Path::Gossip,
                            Durability::Applied,
                            true,
                            &mut report,
                        )
                    };
                    (r.and_then(done), keys, reported)
                })
                .await
            }
        };
        match stored {
            Ok((Ok(_), _, _)) => dirty.notify_one(),
            Ok((Err(e), keys, reported)) => {
                tracing::error!(error = %e, "store failed: gossip batch not stored");
                if !reported {
                    // Failed before any verdict: release the messages unforwarded.
                    let v = keys
                        .into_iter()
                        .map(|(id, peer)| (id, peer, MessageAcceptance::Ignore))
                        .collect();
                    let _ = tx.tx.send(Command::Internal(Internal::Validated(v))).await;
                }
            }
            Err(_) => {}
        }
        if tx.is_closed() {
            break;
        }
    }
    // Last flush once the network stops. The flusher may have been flushing when the
    // last batch was applied, and then ends without another: flush once more here, so
    // that what the network stored is on disk when it says it has stopped.
    dirty.notify_one();
    drop(dirty);
    let _ = flusher.await;
    let st = store.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || st.flush()).await {
        tracing::error!(error = %e, "flushing gossip to disk failed");
    }
}

/// The outcomes of a write that waited: busy is a broken store, not a verdict (its
/// messages are then released unforwarded, as on any store failure).
fn done(o: Offered) -> Result<Vec<PutOutcome>, StoreFailure> {
    match o {
        Offered::Done(o) => Ok(o),
        Offered::Busy(_) => Err(StoreFailure("a write that waits came back busy".into())),
    }
}

/// At most this many gossip messages are validated on the ingest task itself (a
/// runtime thread) instead of a blocking thread.
const INLINE_BATCH: usize = 4;

/// Where a gossip batch is validated.
#[derive(Clone, Copy)]
enum Mode {
    /// On a runtime thread: only if the store is free at once; verdicts are sent
    /// without waiting.
    Try,
    /// On a blocking thread: waits for the store, and for room in the command queue.
    Blocking,
}

/// What reports a gossip batch's verdicts to the event loop, as soon as the batch is
/// placed (before it is written), and counts how long they were held; sets `reported`.
fn reporter<'a>(
    keys: &'a [(MessageId, PeerId)],
    arrived: &'a [std::time::Instant],
    tx: &'a LoopTx,
    strikes: &'a Strikes,
    mode: Mode,
    reported: &'a mut bool,
) -> impl FnMut(&[PutOutcome]) + 'a {
    move |outcomes| {
        if *reported {
            return;
        }
        let (verdicts, struck) = verdicts_of(keys, outcomes);
        match mode {
            // Waits only if the event loop is far behind.
            Mode::Blocking => tx.verdicts_blocking(verdicts),
            Mode::Try => tx.verdicts(verdicts),
        }
        let held: u128 = arrived.iter().map(|t| t.elapsed().as_micros()).sum();
        let stats = &tx.stats;
        stats.gossip_validation_us.fetch_add(
            u64::try_from(held).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
        stats
            .gossip_validated
            .fetch_add(arrived.len() as u64, std::sync::atomic::Ordering::Relaxed);
        for (peer, n) in struck {
            strikes.add(peer, n);
        }
        *reported = true;
    }
}

/// Gossipsub's verdict on each message of a batch, and the strikes its senders earned.
fn verdicts_of(
    keys: &[(MessageId, PeerId)],
    outcomes: &[PutOutcome],
) -> (Vec<Verdict>, HashMap<PeerId, u32>) {
    let mut verdicts = Vec::with_capacity(keys.len());
    let mut strikes: HashMap<PeerId, u32> = HashMap::new();
    for ((id, source), o) in keys.iter().zip(outcomes) {
        if sync::strikes_sender(o) {
            *strikes.entry(*source).or_default() += 1;
        }
        let acceptance = match o {
            PutOutcome::Stored(_) => MessageAcceptance::Accept,
            PutOutcome::Duplicate(_) => MessageAcceptance::Ignore,
            PutOutcome::Rejected(r) => acceptance_of(r.reason),
        };
        verdicts.push((id.clone(), *source, acceptance));
    }
    (verdicts, strikes)
}

/// Flushes the store within `GOSSIP_FLUSH_DELAY` of the ingest worker applying something,
/// so that a burst of gossip shares one disk write; stops once the worker is gone (after
/// a final flush).
async fn flush_worker(store: Arc<dyn Store>, dirty: Arc<tokio::sync::Notify>) {
    loop {
        dirty.notified().await;
        if Arc::strong_count(&dirty) > 1 {
            tokio::time::sleep(GOSSIP_FLUSH_DELAY).await;
        }
        let st = store.clone();
        match tokio::task::spawn_blocking(move || st.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "flushing gossip to disk failed"),
            Err(_) => return,
        }
        if Arc::strong_count(&dirty) == 1 {
            return;
        }
    }
}

/// What gossipsub should do with a refused manifest. Invalid data and equivocation are
/// rejected (not forwarded; the sender's score drops). Stale, retracted or mistimed
/// manifests are ignored: honest peers relay those when messages cross or clocks differ.
pub(crate) fn acceptance_of(reason: Reason) -> MessageAcceptance {
    match reason {
        // Over quota is this node's policy, not the relaying peer's fault.
        Reason::Rollback | Reason::Retracted | Reason::Time | Reason::Quota | Reason::Revoked => {
            MessageAcceptance::Ignore
        }
        _ => MessageAcceptance::Reject,
    }
}
