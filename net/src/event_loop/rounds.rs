//! Sync scheduling: which peer to reconcile with and when (periodic, on connect, on a
//! nudge), how many rounds run at once, backoff after failures, and answering peers'
//! sync requests on blocking threads, one at a time per peer. The rounds themselves are
//! in [`crate::sync`].

use super::*;

/// The longest a peer whose rounds keep failing waits for the next.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(1800);

/// An outbound sync request waiting for its answer.
pub(super) struct Outbound {
    pub(super) reply: oneshot::Sender<Result<SyncResponse, NetError>>,
    pub(super) peer: PeerId,
    pub(super) sent: Instant,
}

/// How a round ended, and with whom.
pub(super) type RoundEnd = (PeerId, Result<RoundReport, NetError>);

/// An answer to a peer's sync request, worked out on a blocking thread.
pub(super) type Answered = (
    PeerId,
    request_response::InboundRequestId,
    request_response::ResponseChannel<SyncResponse>,
    Result<SyncResponse, Refusal>,
);

/// A refusal as the peer reads it.
pub(super) fn refusal(why: &str) -> SyncResponse {
    SyncResponse {
        kind: Some(sync_response::Kind::Refused(why.into())),
    }
}

impl EventLoop {
    pub(super) fn queue_sync(&mut self, peer: PeerId) {
        if !self.syncing.contains(&peer) && !self.sync_queue.contains(&peer) {
            self.sync_queue.push_back(peer);
        }
        self.start_syncs();
    }

    pub(super) fn sync_random(&mut self) {
        let now = Instant::now();
        let ready: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(p, s)| {
                s.identified
                    && !self.syncing.contains(p)
                    && self.standing.get(p).is_none_or(|s| s.in_good_standing(now))
            })
            .map(|(p, _)| *p)
            .collect();
        if ready.is_empty() {
            return;
        }
        let i = (getrandom::u64().unwrap_or(0) as usize) % ready.len();
        self.queue_sync(ready[i]);
    }

    /// Starts queued rounds while fewer than `max_concurrent` are making progress. A
    /// round whose peer has kept it waiting past `stalled_after` does not count, so
    /// peers that stall cannot hold every slot; all rounds together stay under four
    /// times `max_concurrent`, and each ends by `round_timeout`.
    pub(super) fn start_syncs(&mut self) {
        let limits = &self.cfg.sync;
        let now = Instant::now();
        let stalled: HashSet<PeerId> = self
            .requests
            .values()
            .filter(|r| now.duration_since(r.sent) >= limits.stalled_after)
            .map(|r| r.peer)
            .collect();
        let mut active = self.syncing.difference(&stalled).count();
        let cap = limits.max_concurrent.saturating_mul(4);
        while active < limits.max_concurrent && self.syncing.len() < cap {
            let Some(peer) = self.sync_queue.pop_front() else {
                break;
            };
            if !self.swarm.is_connected(&peer) || self.syncing.contains(&peer) {
                continue;
            }
            self.syncing.insert(peer);
            active += 1;
            let net = self.tx.clone();
            let shared = self.shared.clone();
            let deadline = limits.round_timeout;
            let span = tracing::debug_span!("sync_round", peer = %short(&peer));
            let task = self.rounds.spawn(
                async move {
                    let round = sync::run_round(net, shared, peer);
                    let result = match tokio::time::timeout(deadline, round).await {
                        Ok(r) => r,
                        Err(_) => Err(NetError::Peer {
                            peer,
                            reason: format!("the round took over {} s", deadline.as_secs()),
                        }),
                    };
                    (peer, result)
                }
                .instrument(span),
            );
            self.round_peers.insert(task.id(), peer);
        }
    }

    /// A round ended: the next with this peer waits longer after each failure.
    pub(super) fn round_done(&mut self, done: Result<(TaskId, RoundEnd), tokio::task::JoinError>) {
        let (task, result) = match done {
            Ok((task, (_, result))) => (task, result),
            Err(e) => (
                e.id(),
                Err(NetError::Config(format!("sync round task: {e}"))),
            ),
        };
        let Some(peer) = self.round_peers.remove(&task) else {
            return;
        };
        self.syncing.remove(&peer);
        let now = Instant::now();
        let interval = self.cfg.sync.interval;
        let s = self.standing(peer);
        match result {
            Ok(r) => {
                s.synced_at = Some(now);
                s.failures = 0;
                s.retry_at = None;
                tracing::debug!(%peer, round_trips = r.round_trips, fetched = r.fetched, bytes = r.bytes_in, partial = r.partial, "sync round done");
                if r.partial {
                    // It has more for us than one round takes: go on with it.
                    self.queue_sync(peer);
                }
            }
            Err(e) => {
                let wait = interval
                    .saturating_mul(1 << s.failures.min(10))
                    .min(MAX_BACKOFF);
                s.failures = s.failures.saturating_add(1);
                s.retry_at = Some(now + wait);
                let timed_out = matches!(&e, NetError::Peer { reason, .. } if reason.starts_with("the round took"));
                if timed_out {
                    self.tx.stats.refused(Refusal::RoundTimeout);
                }
                tracing::debug!(%peer, error = %e, retry_in_s = wait.as_secs(), "sync round failed");
            }
        }
        self.start_syncs();
    }

    /// A peer's request is answered: sent back, and a strike if it broke the protocol.
    pub(super) fn answered(&mut self, done: Result<(TaskId, Answered), tokio::task::JoinError>) {
        let (task, answer) = match done {
            Ok((task, answer)) => (task, Some(answer)),
            Err(e) => (e.id(), None),
        };
        let asker = self.answering_peers.remove(&task);
        let Some((peer, request_id, channel, result)) = answer else {
            if let Some(s) = asker.and_then(|p| self.standing.get_mut(&p)) {
                s.serving = false;
            }
            return;
        };
        let response = match result {
            Ok(r) => r,
            Err(why) => {
                self.tx.stats.refused(why);
                if why == Refusal::BadRequest {
                    self.strike(peer, 1);
                }
                refusal(why.as_str())
            }
        };
        self.tx
            .stats
            .sync_served
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, response)
        {
            // Its place frees once the answer has left (`ResponseSent`) or failed.
            Ok(()) => {
                self.sending.insert(request_id, peer);
            }
            Err(_) => self.sent(request_id, peer),
        }
    }

    /// An answer left, or could not: the peer may ask again.
    pub(super) fn sent(&mut self, request_id: request_response::InboundRequestId, peer: PeerId) {
        self.sending.remove(&request_id);
        if let Some(s) = self.standing.get_mut(&peer) {
            s.serving = false;
        }
    }

    pub(super) fn refuse(
        &mut self,
        channel: request_response::ResponseChannel<SyncResponse>,
        why: Refusal,
    ) {
        self.tx.stats.refused(why);
        let _ = self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, refusal(why.as_str()));
    }

    pub(super) fn on_sync_request(
        &mut self,
        peer: PeerId,
        request_id: request_response::InboundRequestId,
        request: SyncRequest,
        channel: request_response::ResponseChannel<SyncResponse>,
    ) {
        if request.kind.is_none() {
            // Oversized, undecodable or empty: the codec could not make sense of it.
            self.strike(peer, 1);
            return self.refuse(channel, Refusal::BadFrame);
        }
        if let Err(why) = self.shared.well_formed(&request) {
            self.strike(peer, 1);
            return self.refuse(channel, why);
        }
        let (rate, burst) = (self.cfg.sync.requests_per_sec, self.cfg.sync.request_burst);
        let interval = self.cfg.sync.interval;
        let now = Instant::now();
        let syncing = self.syncing.contains(&peer);
        // Answers being worked out and those not yet sent, together.
        let busy = self.answering.len() + self.sending.len() >= self.cfg.sync.max_inbound;
        let connected_at = self.peers.get(&peer).map(|p| p.since);
        let s = self.standing(peer);
        if !s.requests.take(rate, burst) {
            return self.refuse(channel, Refusal::RateLimited);
        }
        if let Some(sync_request::Kind::Nudge(n)) = &request.kind {
            // One a sync interval, and one on each new connection (a peer back from a
            // restart with news). Reconnecting to nudge again gains a liar nothing: a
            // round that fails sets it back, and that outlives the connection.
            let due = s.nudged_at.is_none_or(|t| {
                now.duration_since(t) >= interval || connected_at.is_some_and(|c| t < c)
            });
            let good = s.in_good_standing(now);
            let accept = due && good && !syncing;
            if accept {
                s.nudged_at = Some(now);
                tracing::debug!(%peer, missing = n.missing, "nudged: syncing with it now");
                self.tx
                    .stats
                    .syncs_nudged
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.queue_sync(peer);
            } else if !good {
                // A peer with strikes, or whose rounds fail, cannot start rounds here.
                self.tx.stats.refused(Refusal::NudgeIgnored);
            }
            let _ = self.swarm.behaviour_mut().sync.send_response(
                channel,
                SyncResponse {
                    kind: Some(sync_response::Kind::Nudged(accept)),
                },
            );
            return;
        }
        if s.serving {
            // Its rounds ask one thing at a time: a second request before the first is
            // answered would only hold another slot.
            return self.refuse(channel, Refusal::PeerBusy);
        }
        if busy {
            return self.refuse(channel, Refusal::Busy);
        }
        s.serving = true;
        let shared = self.shared.clone();
        let span = tracing::debug_span!("sync_answer", peer = %short(&peer));
        let task = self.answering.spawn_blocking(move || {
            let _in = span.enter();
            (peer, request_id, channel, shared.respond(request))
        });
        self.answering_peers.insert(task.id(), peer);
    }
}

impl EventLoop {
    /// What the sync protocol reports: a peer's request, an answer to ours, a failure
    /// either way (a frame that does not decode is a strike), an answer of ours sent.
    pub(super) fn on_sync(&mut self, ev: request_response::Event<SyncRequest, SyncResponse>) {
        use request_response::{Event, InboundFailure, Message, OutboundFailure};
        match ev {
            Event::Message { peer, message, .. } => match message {
                Message::Request {
                    request,
                    channel,
                    request_id,
                } => self.on_sync_request(peer, request_id, request, channel),
                Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(r) = self.requests.remove(&request_id) {
                        let _ = r.reply.send(Ok(response));
                    }
                }
            },
            Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let OutboundFailure::Io(e) = &error
                    && e.kind() == std::io::ErrorKind::InvalidData
                {
                    self.tx.stats.refused(Refusal::BadFrame);
                    self.strike(peer, 1);
                }
                if let Some(r) = self.requests.remove(&request_id) {
                    let _ = r.reply.send(Err(NetError::Peer {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            Event::InboundFailure {
                peer,
                error,
                request_id,
                ..
            } => {
                if let InboundFailure::Io(e) = &error
                    && e.kind() == std::io::ErrorKind::InvalidData
                {
                    self.tx.stats.refused(Refusal::BadFrame);
                    self.strike(peer, 1);
                }
                if self.sending.contains_key(&request_id) {
                    self.sent(request_id, peer);
                }
            }
            Event::ResponseSent {
                peer, request_id, ..
            } if self.sending.contains_key(&request_id) => self.sent(request_id, peer),
            _ => {}
        }
    }
}
