//! Batches that are placed but not yet in sled.
//!
//! Storing a batch has two halves. Placing it against the heads needs the write lock
//! and reads the store; applying it writes the sled batch, the sync set and the text
//! index. The write lock covers only the first half, so the next batch can be placed
//! while this one is applied, and a new node catching up keeps both cores busy instead
//! of one.
//!
//! Three rules keep that exactly equivalent to one write at a time:
//! - a batch placed while others wait here reads their writes first (newest first),
//!   then sled, so it sees everything placed before it;
//! - batches are applied strictly in the order they were placed;
//! - nothing is placed while a batch that changes the trust judgement waits here,
//!   since the judgement is computed from sled.
//!
//! If a batch fails to apply (or its owner drops it unapplied, which only a panic
//! does), every batch placed on top of it fails too, and the writer's caches, which
//! already counted what it placed, are reloaded before the next placement.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use sled::IVec;

/// The writes of one placed batch: a value, or `None` for a removal.
pub(crate) type Writes = HashMap<IVec, Option<IVec>>;

/// One placed batch, as later placements read it.
pub(crate) struct Staged {
    pub(crate) writes: Writes,
    /// It changes an input of the trust judgement.
    pub(crate) trust_changed: bool,
}

/// The queue of placed batches, oldest first. One per registry.
#[derive(Default)]
pub(crate) struct Staging {
    state: Mutex<State>,
    turn: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Entry>,
    next_seq: u64,
    /// Bumped by every failure: a batch placed before it and applied after it fails.
    generation: u64,
    /// A batch failed: the writer's caches may count what it placed.
    stale_writer: bool,
}

struct Entry {
    seq: u64,
    staged: Arc<Staged>,
    /// Its ticket was dropped unapplied: it fails when its turn comes.
    abandoned: bool,
}

/// What a placement starts from.
pub(crate) struct Base {
    /// The batches waiting to be applied, newest first.
    pub(crate) before: Vec<Arc<Staged>>,
    pub(crate) generation: u64,
    /// The writer must reload its caches from sled before placing.
    pub(crate) reload: bool,
}

impl Base {
    /// The value `key` will have once every batch before this one is applied, if one of
    /// them writes it.
    pub(crate) fn read(&self, key: &[u8]) -> Option<Option<IVec>> {
        self.before.iter().find_map(|s| s.writes.get(key).cloned())
    }
}

/// A batch's place in the queue, from staging until it is applied.
pub(crate) struct Ticket<'a> {
    staging: &'a Staging,
    seq: u64,
    generation: u64,
    settled: bool,
}

/// The batch was not applied: one placed before it failed.
#[derive(Debug)]
pub(crate) struct Aborted;

impl Staging {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'g>(&self, g: MutexGuard<'g, State>) -> MutexGuard<'g, State> {
        self.turn.wait(g).unwrap_or_else(|p| p.into_inner())
    }

    /// Called under the write lock before placing. Waits while a batch that changes the
    /// trust judgement is queued, and after a failure until the queue is empty.
    pub(crate) fn begin(&self) -> Base {
        let mut s = self.lock();
        loop {
            s.settle_abandoned();
            let wait = if s.stale_writer {
                !s.queue.is_empty()
            } else {
                s.queue.iter().any(|e| e.staged.trust_changed)
            };
            if !wait {
                break;
            }
            s = self.wait(s);
        }
        self.turn.notify_all();
        let reload = std::mem::take(&mut s.stale_writer);
        Base {
            before: s.queue.iter().rev().map(|e| e.staged.clone()).collect(),
            generation: s.generation,
            reload,
        }
    }

    /// Whether every placed batch has been applied (or has failed).
    pub(crate) fn is_drained(&self) -> bool {
        self.lock().queue.is_empty()
    }

    /// Whether nothing is waiting to be applied: a batch staged now (under the write
    /// lock) is applied without waiting.
    pub(crate) fn is_idle(&self) -> bool {
        let s = self.lock();
        s.queue.is_empty() && !s.stale_writer
    }

    /// Queues a batch placed from `base`, under the write lock. Fails if a batch it was
    /// placed on has failed meanwhile.
    pub(crate) fn stage(&self, staged: Staged, base: &Base) -> Result<Ticket<'_>, Aborted> {
        let mut s = self.lock();
        if s.generation != base.generation {
            return Err(Aborted);
        }
        let seq = s.next_seq;
        s.next_seq += 1;
        s.queue.push_back(Entry {
            seq,
            staged: Arc::new(staged),
            abandoned: false,
        });
        Ok(Ticket {
            staging: self,
            seq,
            generation: base.generation,
            settled: false,
        })
    }
}

impl State {
    /// Fails the abandoned batches at the front of the queue.
    fn settle_abandoned(&mut self) {
        while self.queue.front().is_some_and(|e| e.abandoned) {
            self.queue.pop_front();
            self.fail();
        }
    }

    fn fail(&mut self) {
        self.generation += 1;
        self.stale_writer = true;
    }

    fn pop(&mut self, seq: u64) {
        if let Some(i) = self.queue.iter().position(|e| e.seq == seq) {
            self.queue.remove(i);
        }
    }
}

impl Ticket<'_> {
    /// Waits until every batch placed before this one is applied (or has failed).
    /// `Err` if one it was placed on failed: the ticket is settled as failed.
    pub(crate) fn wait_turn(&mut self) -> Result<(), Aborted> {
        let mut s = self.staging.lock();
        loop {
            s.settle_abandoned();
            if s.queue.front().is_some_and(|e| e.seq == self.seq) {
                break;
            }
            s = self.staging.wait(s);
        }
        if s.generation != self.generation {
            drop(s);
            self.failed();
            return Err(Aborted);
        }
        Ok(())
    }

    /// The batch is in sled: the next may be applied.
    pub(crate) fn applied(mut self) {
        self.settled = true;
        self.staging.lock().pop(self.seq);
        self.staging.turn.notify_all();
    }

    /// The batch could not be applied: those placed on it must not be either.
    pub(crate) fn failed(&mut self) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        let mut s = self.staging.lock();
        s.pop(self.seq);
        s.fail();
        drop(s);
        self.staging.turn.notify_all();
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut s = self.staging.lock();
        if let Some(e) = s.queue.iter_mut().find(|e| e.seq == self.seq) {
            e.abandoned = true;
        }
        s.settle_abandoned();
        drop(s);
        self.staging.turn.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(trust_changed: bool) -> Staged {
        Staged {
            writes: HashMap::from([(IVec::from(&b"k"[..]), Some(IVec::from(&b"v"[..])))]),
            trust_changed,
        }
    }

    /// A batch placed on one that fails is not applied, and the writer is told to
    /// reload its caches before the next placement.
    #[test]
    fn a_failure_aborts_the_batches_placed_on_it() {
        let st = Staging::default();
        let base = st.begin();
        assert!(base.before.is_empty() && !base.reload);
        let mut first = st.stage(staged(false), &base).expect("stage");
        let base2 = st.begin();
        assert_eq!(
            base2.read(b"k").flatten().as_deref(),
            Some(&b"v"[..]),
            "a later placement reads what the earlier one wrote"
        );
        let mut second = st.stage(staged(false), &base2).expect("stage");
        first.wait_turn().expect("first in line");
        first.failed();
        assert!(second.wait_turn().is_err());
        let base3 = st.begin();
        assert!(base3.reload && base3.before.is_empty());
        let mut third = st.stage(staged(false), &base3).expect("stage");
        third.wait_turn().expect("placed after the failure");
        third.applied();
        assert!(st.is_idle());
    }

    /// A ticket dropped unapplied (a panic) fails in its turn: the queue moves on.
    #[test]
    fn an_abandoned_batch_does_not_stall_the_queue() {
        let st = Staging::default();
        let base = st.begin();
        let dropped = st.stage(staged(true), &base).expect("stage");
        drop(dropped);
        let base = st.begin();
        assert!(base.reload);
        let mut next = st.stage(staged(false), &base).expect("stage");
        next.wait_turn().expect("turn");
        next.applied();
    }

    /// Batches are applied in the order they were placed, whatever order their
    /// threads get there in.
    #[test]
    fn batches_are_applied_in_the_order_they_were_placed() {
        let st = Staging::default();
        let order = Mutex::new(vec![]);
        let tickets: Vec<_> = (0..8)
            .map(|_| {
                let base = st.begin();
                st.stage(staged(false), &base).expect("stage")
            })
            .collect();
        std::thread::scope(|s| {
            for (i, mut t) in tickets.into_iter().enumerate().rev() {
                let order = &order;
                s.spawn(move || {
                    t.wait_turn().expect("turn");
                    order.lock().expect("lock").push(i);
                    t.applied();
                });
            }
        });
        assert_eq!(
            order.into_inner().expect("lock"),
            (0..8).collect::<Vec<_>>()
        );
    }
}
