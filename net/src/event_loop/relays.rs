//! Listening through relays (`…/p2p-circuit` in `listen`): a relay that refuses or
//! goes away is tried again later, with the reason in words.

use super::*;

/// The first wait before listening through a relay again; it doubles with each failure…
pub(super) const RELAY_RETRY_MIN: Duration = Duration::from_secs(5);

/// …up to this.
pub(super) const RELAY_RETRY_MAX: Duration = Duration::from_secs(300);

/// Listening through a relay (`…/p2p-circuit`).
pub(super) struct RelayListen {
    pub(super) addr: Multiaddr,
    /// The listener while it is open.
    pub(super) listener: Option<ListenerId>,
    /// Failures in a row.
    pub(super) failures: u32,
    /// When to try again, once closed.
    pub(super) retry_at: Instant,
}

/// Why a relay listener closed, in words an operator can act on (libp2p's error is a
/// nest of enum variants).
pub(super) fn relay_reason(e: &std::io::Error) -> String {
    const KNOWN: [(&str, &str); 4] = [
        (
            "Unsupported",
            "the relay does not offer relaying (its network.relay_server is off, or it has \
             no public address yet: network.external)",
        ),
        (
            "NoAddressesInReservation",
            "the relay has no public address (network.external on the relay)",
        ),
        ("ResourceLimitExceeded", "the relay is full"),
        ("PermissionDenied", "the relay refused this node"),
    ];
    in_words(&format!("{e:?}"), &KNOWN)
}

impl EventLoop {
    /// If `listener` was one through a relay, says why it closed and schedules another
    /// try (5 s, doubling to 5 minutes); returns whether it was.
    pub(super) fn relay_lost(
        &mut self,
        listener: ListenerId,
        reason: &Result<(), std::io::Error>,
    ) -> bool {
        let Some(r) = self
            .relays
            .iter_mut()
            .find(|r| r.listener == Some(listener))
        else {
            return false;
        };
        r.listener = None;
        let wait = RELAY_RETRY_MIN
            .saturating_mul(1 << r.failures.min(6))
            .min(RELAY_RETRY_MAX);
        r.failures = r.failures.saturating_add(1);
        r.retry_at = Instant::now() + wait;
        let why = match reason {
            Ok(()) => "the connection to the relay closed".to_string(),
            Err(e) => relay_reason(e),
        };
        tracing::warn!(
            relay = %r.addr,
            "not listening through the relay: {why}; trying again in {} s",
            wait.as_secs()
        );
        true
    }

    /// Listens again through each relay whose listener closed, once its wait is over.
    pub(super) fn retry_relays(&mut self, now: Instant) {
        for i in 0..self.relays.len() {
            let r = &self.relays[i];
            if r.listener.is_some() || now < r.retry_at {
                continue;
            }
            let addr = r.addr.clone();
            match self.swarm.listen_on(addr) {
                Ok(id) => self.relays[i].listener = Some(id),
                Err(e) => {
                    let r = &mut self.relays[i];
                    r.retry_at = now + RELAY_RETRY_MAX;
                    tracing::warn!(relay = %r.addr, "cannot listen through the relay: {}", error_chain(&e));
                }
            }
        }
    }
}
