//! The swarm's side of gossip: this node's own manifests published, and peers'
//! messages handed to the ingest task ([`crate::ingest`]) within each peer's rate and
//! the queue's bound, or released unforwarded.

use super::*;

impl EventLoop {
    /// Publishes a manifest this node has stored. No peers yet, or a message already
    /// seen: sync carries it.
    pub(super) fn publish(&mut self, data: Vec<u8>, id: ManifestId) {
        let topic = self.topic.clone();
        if let Some(g) = self.swarm.behaviour_mut().gossipsub.as_mut() {
            match g.publish(topic, data) {
                Ok(_) => {
                    self.tx
                        .stats
                        .gossip_published
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::debug!(manifest = %id.fmt_short(), error = %e, "not gossiped")
                }
            }
        }
    }

    /// A peer's gossip message: to the ingest task, unless the peer is over its rate
    /// or the queue is full.
    pub(super) fn gossip_arrived(&mut self, source: PeerId, message_id: MessageId, data: Vec<u8>) {
        self.tx.stats.received(Path::Gossip, 1);
        let (rate, burst) = self.cfg.gossip_per_peer;
        if !self.standing(source).gossip.take(rate, burst) {
            // One peer may not crowd out the others' messages: what it sends beyond its
            // rate is neither validated nor forwarded by us (sync fetches anything
            // valid later, within the same bounds).
            self.tx.stats.refused(Refusal::GossipRateLimited);
            return self.release(&message_id, &source);
        }
        let job = GossipJob {
            id: message_id.clone(),
            source,
            data,
            arrived: std::time::Instant::now(),
        };
        let sent = self.ingest.as_ref().map(|i| i.try_send(job).is_ok());
        if sent != Some(true) {
            self.tx.stats.refused(Refusal::IngestFull);
            self.release(&message_id, &source);
        }
    }

    /// Gossipsub's verdicts from the ingest task.
    pub(super) fn validated(&mut self, verdicts: Vec<Verdict>) {
        if let Some(g) = self.swarm.behaviour_mut().gossipsub.as_mut() {
            for (id, peer, acceptance) in verdicts {
                g.report_message_validation_result(&id, &peer, acceptance);
            }
        }
    }

    /// Lets gossipsub forget a message without forwarding it or blaming its sender.
    fn release(&mut self, message_id: &MessageId, source: &PeerId) {
        if let Some(g) = self.swarm.behaviour_mut().gossipsub.as_mut() {
            g.report_message_validation_result(message_id, source, MessageAcceptance::Ignore);
        }
    }
}
