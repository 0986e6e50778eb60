//! Dialling: the node's own dials (answered once the peer says which network it is
//! on), the bootstrap peers, growing toward `target_peers` from the routing table and
//! mDNS, and the words an operator reads when a dial fails.

use super::*;

/// An error with its sources, on one line: libp2p's transport error says nothing itself
/// (the cause is in its source). A port in use is named as such.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![];
    let mut next: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !text.is_empty() && !parts.contains(&text) {
            parts.push(text);
        }
        next = err.source();
    }
    let all = parts.join(": ");
    if all.contains("Address already in use") || all.contains("os error 98") {
        return format!(
            "the port is already in use (another lgmesh node, or an IPFS node on 4001?): {all}"
        );
    }
    if all.is_empty() {
        format!("{e:?}")
    } else {
        all
    }
}

/// `text` in the words of the first `known` (substring, words) pair it contains;
/// otherwise itself, on one line and cut to 300 characters.
pub(super) fn in_words(text: &str, known: &[(&str, &str)]) -> String {
    if let Some((_, words)) = known.iter().find(|(k, _)| text.contains(k)) {
        return (*words).to_string();
    }
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(300).collect()
}

/// Why a dial failed, in a few words where libp2p's error is a recognisable nest (a
/// line per address and layer). A connection refused by a local limit, which libp2p
/// shows only as "Dial error", names the limit.
pub(super) fn dial_reason(e: &libp2p::swarm::DialError) -> String {
    if let libp2p::swarm::DialError::Denied { cause } = e {
        return format!("refused here: {}", error_chain(cause));
    }
    const KNOWN: [(&str, &str); 7] = [
        ("no records found", "the name does not resolve (DNS)"),
        (
            "Connection refused",
            "connection refused (nothing listening there?)",
        ),
        ("timed out", "timed out (a firewall, or the wrong address?)"),
        (
            "Unexpected peer ID",
            "a different node answers at that address (is the /p2p/ id current?)",
        ),
        ("No route to host", "no route to host"),
        (
            "Handshake failed",
            "the other end does not speak libp2p (its gRPC or HTTP port instead of its \
             network.listen port?)",
        ),
        ("Network is unreachable", "network unreachable"),
    ];
    in_words(&e.to_string(), &KNOWN)
}

/// A `Dial` waiting for its answer.
pub(super) struct PendingDial {
    /// The address asked for, for the error.
    pub(super) addr: String,
    pub(super) reply: oneshot::Sender<Result<PeerId, NetError>>,
}

/// At most one warning per key in ten minutes, over at most 1,024 keys (then it starts
/// afresh): for what peers or a config can cause again and again.
pub(super) struct Throttle<K>(HashMap<K, Instant>);

impl<K: std::hash::Hash + Eq> Throttle<K> {
    pub(super) fn new() -> Self {
        Self(HashMap::new())
    }

    /// Whether to warn about `key` now (and, if so, not again for ten minutes).
    pub(super) fn allow(&mut self, key: K) -> bool {
        let now = Instant::now();
        if self
            .0
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(600))
        {
            return false;
        }
        if self.0.len() >= 1024 {
            self.0.clear();
        }
        self.0.insert(key, now);
        true
    }
}

/// The IP a connection comes from; none through a relay (the relay's IP is not the peer's).
pub(super) fn ip_of(a: &Multiaddr) -> Option<IpAddr> {
    if is_relayed(a) {
        return None;
    }
    a.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

pub(super) fn is_relayed(a: &Multiaddr) -> bool {
    a.iter().any(|p| p == Protocol::P2pCircuit)
}

impl EventLoop {
    pub(super) fn dial_bootstrap(&mut self) {
        self.last_bootstrap_dial = Some(Instant::now());
        for addr in self.bootstrap.clone() {
            if let Some(Protocol::P2p(peer)) = addr.iter().last() {
                if peer == *self.swarm.local_peer_id() || self.swarm.is_connected(&peer) {
                    continue;
                }
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
                let opts = DialOpts::from(addr.clone());
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.bootstrap_dials.insert(id, addr);
                    }
                    Err(e) => self.bootstrap_failed(addr, &e),
                }
            }
        }
    }

    /// Dials peers from the routing table while the node has fewer than it wants.
    pub(super) fn grow_peers(&mut self) {
        let connected = self.swarm.connected_peers().count();
        if connected >= self.cfg.target_peers {
            return;
        }
        let me = *self.swarm.local_peer_id();
        let mut candidates = vec![];
        for bucket in self.swarm.behaviour_mut().kad.kbuckets() {
            for e in bucket.iter() {
                let p = *e.node.key.preimage();
                if p != me {
                    candidates.push((p, e.node.value.iter().cloned().collect::<Vec<_>>()));
                }
            }
        }
        let mut need = self.cfg.target_peers - connected;
        for (p, addrs) in candidates {
            if need == 0 {
                break;
            }
            if self.swarm.is_connected(&p) || self.banned.contains_key(&p) {
                continue;
            }
            let addrs: Vec<Multiaddr> = addrs.into_iter().filter(|a| self.dialable(a)).collect();
            if addrs.is_empty() {
                continue;
            }
            let opts = DialOpts::peer_id(p).addresses(addrs).build();
            if self.swarm.dial(opts).is_ok() {
                need -= 1;
            }
        }
    }

    /// Whether an address a peer gave is worth dialling: not unspecified, and not one of
    /// this node's own. Every node on the default port answers at 127.0.0.1:4001, and two
    /// councils' containers may both be 172.17.0.2: dialling the peer there reaches this
    /// node itself, and libp2p then fails the whole dial, the peer's good addresses with it.
    pub(super) fn dialable(&self, a: &Multiaddr) -> bool {
        if ip_of(a).is_some_and(|ip| ip.is_unspecified()) {
            return false;
        }
        // Without the peer's own `/p2p/ID`; a relayed address keeps the relay's.
        let mut bare = a.clone();
        if matches!(bare.iter().last(), Some(Protocol::P2p(_))) {
            bare.pop();
        }
        !self
            .swarm
            .listeners()
            .chain(self.swarm.external_addresses())
            .any(|mine| *mine == bare)
    }

    /// Tells the operator a bootstrap peer could not be reached (a typo, a name that does
    /// not resolve, a firewall), at most once in ten minutes per address: the node
    /// retries every 10 s while it has no peers.
    pub(super) fn bootstrap_failed(&mut self, addr: Multiaddr, error: &libp2p::swarm::DialError) {
        let why = dial_reason(error);
        if self.bootstrap_warned.allow(addr.clone()) {
            tracing::warn!(%addr, "cannot reach bootstrap peer (retrying while alone): {why}");
        } else {
            tracing::debug!(%addr, "bootstrap dial failed: {why}");
        }
    }

    /// Answers the `Dial`s waiting on `peer`: connected and on this network, or why not.
    pub(super) fn answer_dials(&mut self, peer: PeerId, outcome: Result<(), &str>) {
        let Some((_, dials)) = self.identifying.remove(&peer) else {
            return;
        };
        for dial in dials {
            let _ = dial.reply.send(match outcome {
                Ok(()) => Ok(peer),
                Err(reason) => Err(NetError::Dial {
                    addr: dial.addr,
                    reason: reason.to_string(),
                }),
            });
        }
    }
}

impl EventLoop {
    /// The node's `Dial`: answered at once for this node itself or a peer already
    /// connected, otherwise once the peer has said which network it is on.
    pub(super) fn dial(
        &mut self,
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, NetError>>,
    ) {
        if let Some(Protocol::P2p(p)) = addr.iter().last() {
            if p == *self.swarm.local_peer_id() {
                let _ = reply.send(Err(NetError::Dial {
                    addr: addr.to_string(),
                    reason: "that is this node's own address".into(),
                }));
                return;
            }
            if self.swarm.is_connected(&p) {
                match self.peers.get(&p) {
                    // Said it is on another network: being hung up on.
                    Some(peer) if peer.hang_up.is_some() => {
                        let _ = reply.send(Err(NetError::Dial {
                            addr: addr.to_string(),
                            reason: "the peer is not on this node's network (it is being disconnected for that)".into(),
                        }));
                        return;
                    }
                    Some(peer) if peer.identified => {
                        let _ = reply.send(Ok(p));
                        return;
                    }
                    // Not yet identified: dial, and answer once identify says.
                    _ => {}
                }
            }
        }
        let opts = DialOpts::from(addr.clone());
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                let addr = addr.to_string();
                self.dials.insert(id, PendingDial { addr, reply });
            }
            Err(e) => {
                let _ = reply.send(Err(NetError::Dial {
                    addr: addr.to_string(),
                    reason: dial_reason(&e),
                }));
            }
        }
    }

    /// A dial failed: the operator hears of a bootstrap peer out of reach, and a
    /// `Dial` gets the reason in words.
    pub(super) fn dial_failed(
        &mut self,
        connection_id: ConnectionId,
        peer_id: Option<PeerId>,
        error: &libp2p::swarm::DialError,
    ) {
        tracing::debug!(?peer_id, %error, "dial failed");
        if let Some(addr) = self.bootstrap_dials.remove(&connection_id) {
            self.bootstrap_failed(addr, error);
        }
        if let Some(dial) = self.dials.remove(&connection_id) {
            let _ = dial.reply.send(Err(NetError::Dial {
                addr: dial.addr,
                reason: dial_reason(error),
            }));
        }
    }

    /// Peers found on the LAN (mDNS) are dialled, unless connected or banned.
    pub(super) fn discovered(&mut self, found: Vec<(PeerId, Multiaddr)>) {
        for (peer, addr) in found {
            if !self.swarm.is_connected(&peer) && !self.banned.contains_key(&peer) {
                let _ = self
                    .swarm
                    .dial(DialOpts::peer_id(peer).addresses(vec![addr]).build());
            }
        }
    }
}
