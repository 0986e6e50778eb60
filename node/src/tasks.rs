//! The node's tasks: everything a node spawns goes through one [`Tasks`], so that
//! shutdown can tell them all to stop (a root [`CancellationToken`]) and then wait until
//! every one has ended (a [`TaskTracker`]) before the store is flushed. Nothing the node
//! starts is spawned and forgotten.
//!
//! Each task runs in the span that was current when it was spawned (a task spawned with
//! `tokio::spawn` starts with none), so that what it logs names the node and the call or
//! actor that started it.

use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TrackedFuture;
use tracing::Instrument;
use tracing::instrument::Instrumented;

/// The root of what a node runs: a stop signal every task listens to, and a tracker
/// every task is counted in. Cheap to clone; clones share both.
#[derive(Clone, Debug, Default)]
pub struct Tasks {
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Tasks {
    /// A new root: not stopping, no tasks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns `task`, counted until it ends, in the current span.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task.in_current_span())
    }

    /// Runs `f` on the blocking pool, counted until it returns, in the current span.
    /// Store work runs here: a blocking task cannot be cancelled, so shutdown must be able
    /// to wait for it before it flushes the store.
    pub fn spawn_blocking<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let span = tracing::Span::current();
        self.tracker.spawn_blocking(move || span.in_scope(f))
    }

    /// `task`, counted until it ends or is dropped, in the current span: for a task that
    /// something else spawns (a `JoinSet`, which aborts its tasks when dropped).
    pub fn track<F: Future>(&self, task: F) -> TrackedFuture<Instrumented<F>> {
        self.tracker.track_future(task.in_current_span())
    }

    /// Tells every task to stop. Idempotent.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Whether [`Tasks::stop`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Completes once [`Tasks::stop`] is called. Cancel-safe.
    pub fn stopping(&self) -> WaitForCancellationFuture<'_> {
        self.stop.cancelled()
    }

    /// The stop signal itself, for what takes a token or a `'static` future (servers'
    /// graceful shutdown).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Waits until every task spawned so far, and any spawned meanwhile, has ended.
    /// Call it after [`Tasks::stop`], or it waits for tasks that were never told to end.
    pub async fn wait(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// Tasks running now.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    /// Whether no task is running.
    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_returns_once_every_task_has_seen_stop_and_ended() {
        let tasks = Tasks::new();
        let ended = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for _ in 0..3 {
            let (t, ended) = (tasks.clone(), ended.clone());
            tasks.spawn(async move {
                t.stopping().await;
                ended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        let blocking = tasks.spawn_blocking(|| 7);
        assert_eq!(blocking.await.expect("blocking"), 7);
        assert_eq!(tasks.len(), 3);
        tasks.stop();
        tasks.wait().await;
        assert_eq!(ended.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert!(tasks.is_empty());
    }
}
