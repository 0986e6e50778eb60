//! The task that owns the swarm. It reacts to swarm events and to commands from the
//! [`Network`] handle, and hands every slow job (validation, storage, sync rounds,
//! answering sync requests) to other tasks: nothing here waits on disk or CPU-heavy work.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lgmesh_proto::v1::{SyncRequest, SyncResponse, sync_request, sync_response};
use lgmesh_protocol::validate::{PutOutcome, Reason};
use libp2p::{
    Multiaddr, PeerId, Swarm,
    core::ConnectedPoint,
    core::transport::ListenerId,
    gossipsub::{self, MessageAcceptance, MessageId},
    identify, kad,
    multiaddr::Protocol,
    ping, request_response,
    swarm::{ConnectionId, SwarmEvent, dial_opts::DialOpts},
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{Id as TaskId, JoinSet};

use crate::{
    KadMode, NetConfig, NetError, NetInfo, Network, PeerInfo, TransportKind,
    behaviour::{Behaviour, BehaviourEvent},
    handle::Command,
    stats::{Path, Refusal},
    store::{Durability, Offered, Store},
    sync::{self, RoundReport, Strikes, SyncShared},
    topic_name,
};

/// How long a `Dial` waits, once connected, for the peer to say which network it is on.
const IDENTIFY_WAIT: Duration = Duration::from_secs(10);
/// How long a connection to a peer on another network stays open after our identify went
/// out, so that the peer reads why before we hang up: closing a connection drops what is
/// still queued on it, and the peer would hear only "the connection closed". Nothing else
/// passes meanwhile: every other protocol id names the network.
const HANG_UP_AFTER: Duration = Duration::from_secs(1);

/// An error with its sources, on one line: libp2p's transport error says nothing itself
/// (the cause is in its source). A port in use is named as such.
fn error_chain(e: &dyn std::error::Error) -> String {
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
fn in_words(text: &str, known: &[(&str, &str)]) -> String {
    if let Some((_, words)) = known.iter().find(|(k, _)| text.contains(k)) {
        return (*words).to_string();
    }
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(300).collect()
}

/// Why a dial failed, in a few words where libp2p's error is a recognisable nest (a
/// line per address and layer). A connection refused by a local limit, which libp2p
/// shows only as "Dial error", names the limit.
fn dial_reason(e: &libp2p::swarm::DialError) -> String {
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

/// The first wait before listening through a relay again; it doubles with each failure…
const RELAY_RETRY_MIN: Duration = Duration::from_secs(5);
/// …up to this.
const RELAY_RETRY_MAX: Duration = Duration::from_secs(300);

/// Listening through a relay (`…/p2p-circuit`).
struct RelayListen {
    addr: Multiaddr,
    /// The listener while it is open.
    listener: Option<ListenerId>,
    /// Failures in a row.
    failures: u32,
    /// When to try again, once closed.
    retry_at: Instant,
}

/// Why a relay listener closed, in words an operator can act on (libp2p's error is a
/// nest of enum variants).
fn relay_reason(e: &std::io::Error) -> String {
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

/// A `Dial` waiting for its answer.
struct PendingDial {
    /// The address asked for, for the error.
    addr: String,
    reply: oneshot::Sender<Result<PeerId, NetError>>,
}

/// At most one warning per key in ten minutes, over at most 1,024 keys (then it starts
/// afresh): for what peers or a config can cause again and again.
struct Throttle<K>(HashMap<K, Instant>);

impl<K: std::hash::Hash + Eq> Throttle<K> {
    fn new() -> Self {
        Self(HashMap::new())
    }

    /// Whether to warn about `key` now (and, if so, not again for ten minutes).
    fn allow(&mut self, key: K) -> bool {
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

/// The longest a relayed manifest waits in memory before it is flushed to disk.
const GOSSIP_FLUSH_DELAY: Duration = Duration::from_millis(250);

/// A gossip message waiting for validation.
struct GossipJob {
    id: MessageId,
    source: PeerId,
    data: Vec<u8>,
    arrived: std::time::Instant,
}

/// A token bucket: `rate` per second, up to `burst`.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, rate: f64, burst: f64) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * rate).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A connected peer.
struct Peer {
    conns: HashMap<ConnectionId, (Multiaddr, bool)>,
    agent: String,
    rtt: Option<Duration>,
    identified: bool,
    /// When the first of its connections opened.
    since: Instant,
    /// This node's identify went out to the peer, so it can know which network we are on.
    told: bool,
    /// On another network since then: hang up once it has been told (see `HANG_UP_AFTER`).
    hang_up: Option<Instant>,
}

/// What this node holds against a peer, and allows it, whether or not it is connected:
/// kept across its reconnects (up to `MAX_STANDING` peers), so that hanging up and
/// dialling again wipes neither its strikes nor its rate limits.
struct Standing {
    /// Strikes, as of `struck_at`; one is forgiven every `STRIKE_DECAY`.
    strikes: u32,
    struck_at: Instant,
    /// Sync requests it may still make (`SyncLimits::requests_per_sec`).
    requests: Bucket,
    /// Gossip messages it may still hand us (`NetConfig::gossip_per_peer`).
    gossip: Bucket,
    /// When it last nudged this node into a round (at most one per sync interval).
    nudged_at: Option<Instant>,
    /// When this node last finished a round with it.
    synced_at: Option<Instant>,
    /// Rounds with it that failed in a row, and when the next may start.
    failures: u32,
    retry_at: Option<Instant>,
    /// A request of its is being answered or the answer sent (one at a time per peer,
    /// until the answer has left: a peer that does not read cannot pile them up).
    serving: bool,
    /// When it last did anything, for choosing whom to forget.
    seen: Instant,
}

/// Peers whose standing is kept. Beyond it the least worth remembering (not connected,
/// fewest strikes, longest unseen) is forgotten.
const MAX_STANDING: usize = 4096;

/// One strike is forgiven after this long, so an honest peer that once relayed
/// something odd is not held against for ever, and a liar's record outlasts its
/// reconnects.
const STRIKE_DECAY: Duration = Duration::from_secs(600);

/// Peers banned at once; beyond it the oldest ban is lifted.
const MAX_BANNED: usize = 16_384;

/// The longest a peer whose rounds keep failing waits for the next.
const MAX_BACKOFF: Duration = Duration::from_secs(1800);

impl Standing {
    fn new(cfg: &NetConfig, now: Instant) -> Self {
        Self {
            strikes: 0,
            struck_at: now,
            requests: Bucket {
                tokens: cfg.sync.request_burst,
                at: now,
            },
            gossip: Bucket {
                tokens: cfg.gossip_per_peer.1,
                at: now,
            },
            nudged_at: None,
            synced_at: None,
            failures: 0,
            retry_at: None,
            serving: false,
            seen: now,
        }
    }

    /// Its strikes now, once those forgiven since are taken off.
    fn strikes(&self, now: Instant) -> u32 {
        let forgiven = now.duration_since(self.struck_at).as_secs() / STRIKE_DECAY.as_secs();
        self.strikes
            .saturating_sub(u32::try_from(forgiven).unwrap_or(u32::MAX))
    }

    /// Whether this node may start a round with it on its own account (periodic, on
    /// connect, or when it nudges): no strikes, and not waiting after failed rounds.
    fn in_good_standing(&self, now: Instant) -> bool {
        self.strikes(now) == 0 && self.retry_at.is_none_or(|t| now >= t)
    }
}

/// An outbound sync request waiting for its answer.
struct Outbound {
    reply: oneshot::Sender<Result<SyncResponse, NetError>>,
    peer: PeerId,
    sent: Instant,
}

/// How a round ended, and with whom.
type RoundEnd = (PeerId, Result<RoundReport, NetError>);

/// An answer to a peer's sync request, worked out on a blocking thread.
type Answered = (
    PeerId,
    request_response::InboundRequestId,
    request_response::ResponseChannel<SyncResponse>,
    Result<SyncResponse, Refusal>,
);

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    cfg: NetConfig,
    kind: TransportKind,
    rx: mpsc::Receiver<Command>,
    net: Network,
    shared: Arc<SyncShared>,
    topic: gossipsub::IdentTopic,
    ingest: mpsc::Sender<GossipJob>,
    /// `Dial`s not yet connected, by the connection they opened.
    dials: HashMap<ConnectionId, PendingDial>,
    /// `Dial`s connected, answered once the peer says which network it is on; since when.
    identifying: HashMap<PeerId, (Instant, Vec<PendingDial>)>,
    /// Warnings about peers this node dialled that are on another network.
    other_network_warned: Throttle<PeerId>,
    /// The relays this node listens through (`…/p2p-circuit` in `listen`).
    relays: Vec<RelayListen>,
    /// Dials to bootstrap peers in flight, by connection.
    bootstrap_dials: HashMap<ConnectionId, Multiaddr>,
    /// Warnings about bootstrap addresses that failed.
    bootstrap_warned: Throttle<Multiaddr>,
    requests: HashMap<request_response::OutboundRequestId, Outbound>,
    peers: HashMap<PeerId, Peer>,
    standing: HashMap<PeerId, Standing>,
    /// Strikes sync and gossip tasks have earned peers, applied as they come.
    strikes: Arc<Strikes>,
    /// Rounds running, and with whom.
    rounds: JoinSet<RoundEnd>,
    round_peers: HashMap<TaskId, PeerId>,
    syncing: HashSet<PeerId>,
    sync_queue: VecDeque<PeerId>,
    /// Peers' requests being answered, and whose.
    answering: JoinSet<Answered>,
    answering_peers: HashMap<TaskId, PeerId>,
    /// Answers handed to libp2p and not yet sent, and to whom.
    sending: HashMap<request_response::InboundRequestId, PeerId>,
    banned: HashMap<PeerId, Instant>,
    per_ip: HashMap<IpAddr, u32>,
    nat: &'static str,
    bootstrap: Vec<Multiaddr>,
    last_bootstrap_dial: Option<Instant>,
    kad_refreshed: Option<Instant>,
    id_protocol: String,
    /// Budget for rounds started by new connections.
    on_connect: Bucket,
}

impl EventLoop {
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        cfg: NetConfig,
        kind: TransportKind,
        store: Arc<dyn Store>,
        net: Network,
        rx: mpsc::Receiver<Command>,
    ) -> Result<Self, NetError> {
        for a in &cfg.bootstrap {
            if !matches!(a.iter().last(), Some(Protocol::P2p(_))) {
                return Err(NetError::Config(format!(
                    "bootstrap address {a}: must end with /p2p/<peer id>"
                )));
            }
        }
        let strikes = Arc::new(Strikes::default());
        let shared = Arc::new(SyncShared::new(
            store.clone(),
            cfg.sync.clone(),
            net.stats.clone(),
            strikes.clone(),
        ));
        let cfg_burst = cfg.sync.on_connect_burst;
        let (ingest, ingest_rx) = mpsc::channel(cfg.ingest_queue.max(1));
        tokio::spawn(ingest_worker(
            ingest_rx,
            store,
            net.clone(),
            strikes.clone(),
        ));
        Ok(Self {
            topic: gossipsub::IdentTopic::new(topic_name(&cfg.network)),
            id_protocol: format!("/lgmesh/{}/id/1", cfg.network),
            bootstrap: cfg.bootstrap.clone(),
            swarm,
            cfg,
            kind,
            rx,
            net,
            shared,
            ingest,
            dials: HashMap::new(),
            identifying: HashMap::new(),
            other_network_warned: Throttle::new(),
            relays: vec![],
            bootstrap_dials: HashMap::new(),
            bootstrap_warned: Throttle::new(),
            requests: HashMap::new(),
            peers: HashMap::new(),
            standing: HashMap::new(),
            strikes,
            rounds: JoinSet::new(),
            round_peers: HashMap::new(),
            syncing: HashSet::new(),
            sync_queue: VecDeque::new(),
            answering: JoinSet::new(),
            answering_peers: HashMap::new(),
            sending: HashMap::new(),
            banned: HashMap::new(),
            per_ip: HashMap::new(),
            nat: "unknown",
            last_bootstrap_dial: None,
            kad_refreshed: None,
            on_connect: Bucket {
                tokens: cfg_burst,
                at: Instant::now(),
            },
        })
    }

    /// Opens the listeners (waiting until each has its address) and dials the bootstrap peers.
    pub(crate) async fn listen_and_bootstrap(&mut self) -> Result<(), NetError> {
        let mut waiting = HashSet::new();
        for addr in self.cfg.listen.clone() {
            let id = self
                .swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::Listen {
                    addr: addr.clone(),
                    reason: error_chain(&e),
                })?;
            if is_relayed(&addr) {
                // Through a relay: waited for, but a relay that is down or refuses does
                // not stop the node; it tries again later.
                self.relays.push(RelayListen {
                    addr: addr.clone(),
                    listener: Some(id),
                    failures: 0,
                    retry_at: Instant::now(),
                });
            }
            waiting.insert((id, addr));
        }
        for a in self.cfg.external.clone() {
            self.swarm.add_external_address(a);
        }
        if self.cfg.relay_server && self.cfg.external.is_empty() {
            tracing::warn!(
                "network.relay_server is on, but this node relays only once it has a public \
                 address: set network.external, or wait for AutoNAT to confirm one"
            );
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !waiting.is_empty() {
            let Ok(ev) = tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await
            else {
                // A slow relay does not hold up the start: its address comes when it comes.
                let direct = waiting
                    .iter()
                    .find(|(id, _)| !self.relays.iter().any(|r| r.listener == Some(*id)));
                if let Some((_, addr)) = direct {
                    return Err(NetError::Listen {
                        addr: addr.clone(),
                        reason: "no address after 10 s".into(),
                    });
                }
                tracing::warn!("no answer from the relay yet; starting without its address");
                break;
            };
            self.cfg.metrics.record(&ev);
            match ev {
                SwarmEvent::NewListenAddr { listener_id, .. } => {
                    waiting.retain(|(id, _)| *id != listener_id);
                }
                SwarmEvent::ListenerClosed {
                    listener_id,
                    reason,
                    ..
                } => {
                    if self.relay_lost(listener_id, &reason) {
                        waiting.retain(|(id, _)| *id != listener_id);
                    } else if let Some((_, addr)) =
                        waiting.iter().find(|(id, _)| *id == listener_id).cloned()
                    {
                        return Err(NetError::Listen {
                            addr,
                            reason: format!("{reason:?}"),
                        });
                    }
                }
                SwarmEvent::ListenerError { listener_id, error } => {
                    if self.relays.iter().any(|r| r.listener == Some(listener_id)) {
                        tracing::debug!(%error, "relay listener error");
                    } else if let Some((_, addr)) =
                        waiting.iter().find(|(id, _)| *id == listener_id).cloned()
                    {
                        return Err(NetError::Listen {
                            addr,
                            reason: error_chain(&error),
                        });
                    }
                }
                other => self.on_event(other),
            }
        }
        self.dial_bootstrap();
        Ok(())
    }

    fn dial_bootstrap(&mut self) {
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

    pub(crate) async fn run(mut self) {
        let mut sync_tick = tokio::time::interval(self.cfg.sync.interval);
        sync_tick.tick().await;
        let mut house = tokio::time::interval(Duration::from_secs(5));
        // Queued rounds start as soon as a slot frees or a running round stalls.
        let mut slots = tokio::time::interval(Duration::from_millis(250));
        slots.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let strikes = self.strikes.clone();
        loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => {
                    self.cfg.metrics.record(&ev);
                    self.on_event(ev);
                }
                cmd = self.rx.recv() => match cmd {
                    Some(Command::Shutdown) | None => break,
                    Some(c) => self.on_command(c),
                },
                Some(done) = self.rounds.join_next_with_id(), if !self.rounds.is_empty() => {
                    self.round_done(done);
                }
                Some(done) = self.answering.join_next_with_id(), if !self.answering.is_empty() => {
                    self.answered(done);
                }
                () = strikes.wake.notified() => {
                    for (peer, n) in strikes.take() {
                        self.strike(peer, n);
                    }
                }
                _ = slots.tick(), if !self.sync_queue.is_empty() => self.start_syncs(),
                _ = sync_tick.tick() => self.sync_random(),
                _ = house.tick() => self.housekeeping(),
            }
        }
        self.rounds.abort_all();
        tracing::debug!("network task stopped");
    }

    fn housekeeping(&mut self) {
        let now = Instant::now();
        self.retry_relays(now);
        let silent: Vec<PeerId> = self
            .identifying
            .iter()
            .filter(|(_, (since, _))| now.duration_since(*since) > IDENTIFY_WAIT)
            .map(|(p, _)| *p)
            .collect();
        for p in silent {
            self.answer_dials(
                p,
                Err("connected, but the peer did not say which network it is on within 10 s: is it an lgmesh node?"),
            );
        }
        let foreign: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                p.hang_up.is_some_and(|t| {
                    let waited = now.duration_since(t);
                    (p.told && waited >= HANG_UP_AFTER) || waited > IDENTIFY_WAIT
                })
            })
            .map(|(id, _)| *id)
            .collect();
        for p in foreign {
            let _ = self.swarm.disconnect_peer_id(p);
        }
        let ban_for = self.cfg.ban_for;
        let expired: Vec<PeerId> = self
            .banned
            .iter()
            .filter(|(_, at)| now.duration_since(**at) > ban_for)
            .map(|(p, _)| *p)
            .collect();
        for p in expired {
            self.unban(p);
        }
        let connected = self.swarm.connected_peers().count();
        if connected == 0
            && !self.bootstrap.is_empty()
            && self
                .last_bootstrap_dial
                .is_none_or(|t| now.duration_since(t) > Duration::from_secs(10))
        {
            self.dial_bootstrap();
        }
        // Refresh the routing table every 10 minutes, or every minute while short of
        // peers. Every lookup dials peers, so more often only adds churn.
        let every = if connected < self.cfg.target_peers {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(600)
        };
        if connected > 0
            && self
                .kad_refreshed
                .is_none_or(|t| now.duration_since(t) > every)
        {
            self.kad_refreshed = Some(now);
            // One lookup of our own id keeps the neighbourhood fresh. A full bootstrap also
            // looks up a random key in every bucket: many times the requests, and Kademlia
            // already runs one by itself while its table is small.
            let me = *self.swarm.local_peer_id();
            self.swarm.behaviour_mut().kad.get_closest_peers(me);
        }
        self.grow_peers();
        self.trim_peers();
    }

    /// Closes surplus connections once over `max_peers`, back down to halfway between
    /// `target_peers` and `max_peers` (trimming all the way down would leave peers on the
    /// other end short and dialling). The newest unprotected ones go first, so the
    /// long-standing links stay; gossip mesh, bootstrap and syncing peers and connections
    /// within their `connection_grace` are protected.
    fn trim_peers(&mut self) {
        let connected = self.swarm.connected_peers().count();
        if connected <= self.cfg.max_peers {
            return;
        }
        let mut protected: HashSet<PeerId> = match self.swarm.behaviour().gossipsub.as_ref() {
            Some(g) => g.mesh_peers(&self.topic.hash()).copied().collect(),
            None => HashSet::new(),
        };
        protected.extend(self.syncing.iter().copied());
        protected.extend(self.bootstrap.iter().filter_map(|a| match a.iter().last() {
            Some(Protocol::P2p(p)) => Some(p),
            _ => None,
        }));
        let (now, grace) = (Instant::now(), self.cfg.connection_grace);
        let mut surplus: Vec<(Instant, PeerId)> = self
            .peers
            .iter()
            .filter(|(id, p)| !protected.contains(id) && now.duration_since(p.since) > grace)
            .map(|(id, p)| (p.since, *id))
            .collect();
        surplus.sort_by(|a, b| b.cmp(a));
        let keep = (self.cfg.target_peers + self.cfg.max_peers) / 2;
        let excess = connected.saturating_sub(keep);
        for (_, peer) in surplus.into_iter().take(excess) {
            let _ = self.swarm.disconnect_peer_id(peer);
            self.net
                .stats
                .connections_trimmed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Dials peers from the routing table while the node has fewer than it wants.
    fn grow_peers(&mut self) {
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
    fn dialable(&self, a: &Multiaddr) -> bool {
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

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Publish { data, id } => {
                let topic = self.topic.clone();
                if let Some(g) = self.swarm.behaviour_mut().gossipsub.as_mut() {
                    match g.publish(topic, data) {
                        Ok(_) => {
                            self.net
                                .stats
                                .gossip_published
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        // No peers yet, or already seen: sync carries it.
                        Err(e) => {
                            tracing::debug!(manifest = %id.fmt_short(), error = %e, "not gossiped")
                        }
                    }
                }
            }
            Command::Dial { addr, reply } => {
                if let Some(Protocol::P2p(p)) = addr.iter().last() {
                    if p == *self.swarm.local_peer_id() {
                        let _ = reply.send(Err(NetError::Dial {
                            addr: addr.to_string(),
                            reason: "that is this node's own address".into(),
                        }));
                        return;
                    }
                    if self.swarm.is_connected(&p) {
                        let _ = reply.send(Ok(p));
                        return;
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
            Command::Peers { reply } => {
                let _ = reply.send(self.peer_list());
            }
            Command::Info { reply } => {
                let _ = reply.send(self.info());
            }
            Command::Request {
                peer,
                request,
                reply,
            } => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                let sent = Instant::now();
                self.requests.insert(id, Outbound { reply, peer, sent });
            }
            Command::Validated(results) => {
                if let Some(g) = self.swarm.behaviour_mut().gossipsub.as_mut() {
                    for (id, peer, acceptance) in results {
                        g.report_message_validation_result(&id, &peer, acceptance);
                    }
                }
            }
            Command::SyncNow { peer } => match peer {
                Some(p) => self.queue_sync(p),
                None => self.sync_random(),
            },
            Command::Shutdown => {}
        }
    }

    /// The peer's standing, made if it has none (forgetting another, when full).
    fn standing(&mut self, peer: PeerId) -> &mut Standing {
        let now = Instant::now();
        if !self.standing.contains_key(&peer) && self.standing.len() >= MAX_STANDING {
            let forget = self
                .standing
                .iter()
                .filter(|(p, _)| !self.peers.contains_key(p) && !self.syncing.contains(p))
                .min_by_key(|(_, s)| (s.strikes(now), s.seen))
                .map(|(p, _)| *p);
            match forget {
                Some(p) => {
                    self.standing.remove(&p);
                }
                // Every one is connected or syncing: connections are bounded well
                // below this, so it cannot happen; if it does, the oldest goes.
                None => {
                    if let Some(p) = self
                        .standing
                        .iter()
                        .min_by_key(|(_, s)| s.seen)
                        .map(|(p, _)| *p)
                    {
                        self.standing.remove(&p);
                    }
                }
            }
        }
        let cfg = &self.cfg;
        let s = self
            .standing
            .entry(peer)
            .or_insert_with(|| Standing::new(cfg, now));
        s.seen = now;
        s
    }

    fn strike(&mut self, peer: PeerId, n: u32) {
        let now = Instant::now();
        let s = self.standing(peer);
        s.strikes = s.strikes(now).saturating_add(n);
        s.struck_at = now;
        let strikes = s.strikes;
        if strikes >= self.cfg.max_strikes && !self.banned.contains_key(&peer) {
            tracing::warn!(%peer, strikes, "peer sent bad data repeatedly: banned");
            self.net.stats.refused(Refusal::Banned);
            if self.banned.len() >= MAX_BANNED
                && let Some(oldest) = self.banned.iter().min_by_key(|(_, t)| **t).map(|(p, _)| *p)
            {
                // Peer ids are free: the list is bounded, and the oldest ban goes first
                // (its strikes stay in its standing).
                self.unban(oldest);
            }
            self.banned.insert(peer, Instant::now());
            if let Some(g) = self.swarm.behaviour_mut().gossipsub.as_mut() {
                g.blacklist_peer(&peer);
            }
            self.swarm.behaviour_mut().blocked.block_peer(peer);
        }
    }

    fn unban(&mut self, p: PeerId) {
        self.banned.remove(&p);
        self.swarm.behaviour_mut().blocked.unblock_peer(p);
        if let Some(g) = self.swarm.behaviour_mut().gossipsub.as_mut() {
            g.remove_blacklisted_peer(&p);
        }
    }

    fn queue_sync(&mut self, peer: PeerId) {
        if !self.syncing.contains(&peer) && !self.sync_queue.contains(&peer) {
            self.sync_queue.push_back(peer);
        }
        self.start_syncs();
    }

    fn sync_random(&mut self) {
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
    fn start_syncs(&mut self) {
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
            let net = self.net.clone();
            let shared = self.shared.clone();
            let deadline = limits.round_timeout;
            let task = self.rounds.spawn(async move {
                let round = sync::run_round(net, shared, peer);
                let result = match tokio::time::timeout(deadline, round).await {
                    Ok(r) => r,
                    Err(_) => Err(NetError::Peer {
                        peer,
                        reason: format!("the round took over {} s", deadline.as_secs()),
                    }),
                };
                (peer, result)
            });
            self.round_peers.insert(task.id(), peer);
        }
    }

    /// A round ended: the next with this peer waits longer after each failure.
    fn round_done(&mut self, done: Result<(TaskId, RoundEnd), tokio::task::JoinError>) {
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
                    self.net.stats.refused(Refusal::RoundTimeout);
                }
                tracing::debug!(%peer, error = %e, retry_in_s = wait.as_secs(), "sync round failed");
            }
        }
        self.start_syncs();
    }

    /// A peer's request is answered: sent back, and a strike if it broke the protocol.
    fn answered(&mut self, done: Result<(TaskId, Answered), tokio::task::JoinError>) {
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
                self.net.stats.refused(why);
                if why == Refusal::BadRequest {
                    self.strike(peer, 1);
                }
                refusal(why.as_str())
            }
        };
        self.net
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
    fn sent(&mut self, request_id: request_response::InboundRequestId, peer: PeerId) {
        self.sending.remove(&request_id);
        if let Some(s) = self.standing.get_mut(&peer) {
            s.serving = false;
        }
    }

    fn peer_list(&mut self) -> Vec<PeerInfo> {
        let mesh: HashSet<PeerId> = match self.swarm.behaviour().gossipsub.as_ref() {
            Some(g) => g.mesh_peers(&self.topic.hash()).copied().collect(),
            None => HashSet::new(),
        };
        let now = Instant::now();
        let mut out: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(id, p)| PeerInfo {
                peer_id: *id,
                addrs: {
                    // One line per address, though two connections may share it.
                    let mut a: Vec<Multiaddr> = p.conns.values().map(|(a, _)| a.clone()).collect();
                    a.sort();
                    a.dedup();
                    a
                },
                agent: p.agent.clone(),
                rtt_ms: p.rtt.map(|d| d.as_secs_f64() * 1000.0),
                outbound: p.conns.values().any(|(_, out)| *out),
                in_mesh: mesh.contains(id),
                strikes: self.standing.get(id).map_or(0, |s| s.strikes(now)),
            })
            .collect();
        out.sort_by_key(|p| p.peer_id.to_string());
        out
    }

    fn info(&self) -> NetInfo {
        let me = *self.swarm.local_peer_id();
        let full = |a: &Multiaddr| a.clone().with_p2p(me).unwrap_or_else(|a| a);
        NetInfo {
            peer_id: me,
            network: self.cfg.network.clone(),
            listen: self.swarm.listeners().map(full).collect(),
            external: {
                // `network.external` and the same address confirmed by AutoNAT (with and
                // without `/p2p/`) are one address.
                let mut e: Vec<Multiaddr> = self.swarm.external_addresses().map(full).collect();
                e.sort();
                e.dedup();
                e
            },
            peers: self.swarm.connected_peers().count(),
            mesh_peers: self
                .swarm
                .behaviour()
                .gossipsub
                .as_ref()
                .map(|g| g.mesh_peers(&self.topic.hash()).count())
                .unwrap_or(0),
            nat: self.nat.to_string(),
        }
    }

    /// If `listener` was one through a relay, says why it closed and schedules another
    /// try (5 s, doubling to 5 minutes); returns whether it was.
    fn relay_lost(&mut self, listener: ListenerId, reason: &Result<(), std::io::Error>) -> bool {
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
    fn retry_relays(&mut self, now: Instant) {
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

    /// Tells the operator a bootstrap peer could not be reached (a typo, a name that does
    /// not resolve, a firewall), at most once in ten minutes per address: the node
    /// retries every 10 s while it has no peers.
    fn bootstrap_failed(&mut self, addr: Multiaddr, error: &libp2p::swarm::DialError) {
        let why = dial_reason(error);
        if self.bootstrap_warned.allow(addr.clone()) {
            tracing::warn!(%addr, "cannot reach bootstrap peer (retrying while alone): {why}");
        } else {
            tracing::debug!(%addr, "bootstrap dial failed: {why}");
        }
    }

    /// Answers the `Dial`s waiting on `peer`: connected and on this network, or why not.
    fn answer_dials(&mut self, peer: PeerId, outcome: Result<(), &str>) {
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

    /// A peer said it is on another network (or is not lgmesh at all): never mix. The
    /// operator hears of it when this node dialled the peer (a wrong bootstrap address
    /// or network name), at most once in ten minutes per peer; a stranger dialling in is
    /// only counted.
    fn other_network(&mut self, peer: PeerId, protocol_version: &str) {
        if self.peers.get(&peer).is_some_and(|p| p.hang_up.is_some()) {
            return; // told again (an identify push): already counted and hanging up
        }
        self.net.stats.refused(Refusal::OtherNetwork);
        let theirs = protocol_version
            .strip_prefix("/lgmesh/")
            .and_then(|s| s.strip_suffix("/id/1"));
        let shown: String = theirs
            .unwrap_or(protocol_version)
            .chars()
            .take(64)
            .collect();
        let why = match theirs {
            Some(_) => format!(
                "the peer is on network {shown:?}, this node on {:?} (network.name, or --network)",
                self.cfg.network
            ),
            None => format!("the peer is not an lgmesh node (it identified as {shown:?})"),
        };
        let dialled = self
            .peers
            .get(&peer)
            .is_some_and(|p| p.conns.values().any(|(_, outbound)| *outbound));
        if dialled && self.other_network_warned.allow(peer) {
            tracing::warn!(%peer, "disconnected: {why}");
        } else {
            tracing::debug!(%peer, "disconnected: {why}");
        }
        self.answer_dials(peer, Err(&why));
        // Hung up in `housekeeping`, once the peer has had time to read which network
        // this node is on (`HANG_UP_AFTER`).
        match self.peers.get_mut(&peer) {
            Some(p) => p.hang_up = Some(Instant::now()),
            None => {
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    fn on_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                let (addr, outbound) = match &endpoint {
                    ConnectedPoint::Dialer { address, .. } => (address.clone(), true),
                    // Through a relay the other end's address is only `/p2p/ID`: name the
                    // relay it came through instead.
                    ConnectedPoint::Listener { local_addr, .. } if is_relayed(local_addr) => {
                        (local_addr.clone(), false)
                    }
                    ConnectedPoint::Listener { send_back_addr, .. } => {
                        (send_back_addr.clone(), false)
                    }
                };
                self.net
                    .stats
                    .connections_opened
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.bootstrap_dials.remove(&connection_id);
                if let Some(dial) = self.dials.remove(&connection_id) {
                    if self.peers.get(&peer_id).is_some_and(|p| p.identified) {
                        let _ = dial.reply.send(Ok(peer_id));
                    } else {
                        self.identifying
                            .entry(peer_id)
                            .or_insert_with(|| (Instant::now(), vec![]))
                            .1
                            .push(dial);
                    }
                }
                if let Some(ip) = ip_of(&addr) {
                    let n = self.per_ip.entry(ip).or_default();
                    *n += 1;
                    if !outbound && *n > self.cfg.max_connections_per_ip && !ip.is_loopback() {
                        self.net.stats.refused(Refusal::ConnectionsPerIp);
                        self.swarm.close_connection(connection_id);
                    }
                }
                self.standing(peer_id);
                let p = self.peers.entry(peer_id).or_insert_with(|| Peer {
                    conns: HashMap::new(),
                    agent: String::new(),
                    rtt: None,
                    identified: false,
                    since: Instant::now(),
                    told: false,
                    hang_up: None,
                });
                p.conns.insert(connection_id, (addr, outbound));
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                if let Some(p) = self.peers.get_mut(&peer_id) {
                    if let Some((addr, _)) = p.conns.remove(&connection_id)
                        && let Some(ip) = ip_of(&addr)
                        && let Some(n) = self.per_ip.get_mut(&ip)
                    {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            self.per_ip.remove(&ip);
                        }
                    }
                    if num_established == 0 {
                        self.peers.remove(&peer_id);
                    }
                }
                if num_established == 0 {
                    self.answer_dials(
                        peer_id,
                        Err("the connection closed before the peer said which network it is on"),
                    );
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                tracing::debug!(?peer_id, %error, "dial failed");
                if let Some(addr) = self.bootstrap_dials.remove(&connection_id) {
                    self.bootstrap_failed(addr, &error);
                }
                if let Some(dial) = self.dials.remove(&connection_id) {
                    let _ = dial.reply.send(Err(NetError::Dial {
                        addr: dial.addr,
                        reason: dial_reason(&error),
                    }));
                }
            }
            SwarmEvent::NewListenAddr {
                address,
                listener_id,
            } => {
                if let Some(r) = self
                    .relays
                    .iter_mut()
                    .find(|r| r.listener == Some(listener_id))
                {
                    r.failures = 0;
                }
                tracing::info!(address = %address.clone().with_p2p(*self.swarm.local_peer_id()).unwrap_or(address), "listening");
            }
            SwarmEvent::ExternalAddrConfirmed { address } => {
                tracing::info!(%address, "external address confirmed");
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                self.relay_lost(listener_id, &reason);
            }
            SwarmEvent::Behaviour(b) => self.on_behaviour(b),
            _ => {}
        }
    }

    fn on_behaviour(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                self.net.stats.received(Path::Gossip, 1);
                let (rate, burst) = self.cfg.gossip_per_peer;
                let allowed = self.standing(propagation_source).gossip.take(rate, burst);
                if !allowed {
                    // One peer may not crowd out the others' messages: what it sends
                    // beyond its rate is neither validated nor forwarded by us (sync
                    // fetches anything valid later, within the same bounds).
                    self.net.stats.refused(Refusal::GossipRateLimited);
                    if let Some(g) = self.swarm.behaviour_mut().gossipsub.as_mut() {
                        g.report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Ignore,
                        );
                    }
                    return;
                }
                let job = GossipJob {
                    id: message_id.clone(),
                    source: propagation_source,
                    data: message.data,
                    arrived: std::time::Instant::now(),
                };
                if self.ingest.try_send(job).is_err() {
                    self.net.stats.refused(Refusal::IngestFull);
                    if let Some(g) = self.swarm.behaviour_mut().gossipsub.as_mut() {
                        g.report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Ignore,
                        );
                    }
                }
            }
            BehaviourEvent::Identify(identify::Event::Sent { peer_id, .. }) => {
                if let Some(p) = self.peers.get_mut(&peer_id) {
                    p.told = true;
                }
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if info.protocol_version != self.id_protocol {
                    self.other_network(peer_id, &info.protocol_version);
                    return;
                }
                let kad_proto = format!("/lgmesh/{}/kad/1", self.cfg.network);
                if info.protocols.iter().any(|p| p.as_ref() == kad_proto) {
                    // Its loopback addresses are for a peer on this machine only (a demo
                    // or a test); elsewhere they would spread through Kademlia and lead
                    // every node that dials them back to itself.
                    let on_this_machine = self.peers.get(&peer_id).is_some_and(|p| {
                        p.conns
                            .values()
                            .any(|(a, _)| ip_of(a).is_some_and(|ip| ip.is_loopback()))
                    });
                    let addrs: Vec<Multiaddr> = info
                        .listen_addrs
                        .iter()
                        .filter(|a| on_this_machine || !ip_of(a).is_some_and(|ip| ip.is_loopback()))
                        .filter(|a| self.dialable(a))
                        .take(8)
                        .cloned()
                        .collect();
                    for a in addrs {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, a);
                    }
                }
                let first = match self.peers.get_mut(&peer_id) {
                    Some(p) => {
                        // Shown by `lgmesh peers` and in logs: what the peer says,
                        // cut short and with no character that could act on a terminal.
                        let said: String = info.agent_version.chars().take(64).collect();
                        p.agent = lgmesh_protocol::schema::escape_unsafe(&said, false).into_owned();
                        !std::mem::replace(&mut p.identified, true)
                    }
                    None => false,
                };
                self.answer_dials(peer_id, Ok(()));
                let now = Instant::now();
                // Not again for a peer that reconnects soon after a round.
                let interval = self.cfg.sync.interval;
                let fresh = self.standing.get(&peer_id).is_none_or(|s| {
                    s.synced_at
                        .is_none_or(|t| now.duration_since(t) >= interval)
                        && s.in_good_standing(now)
                });
                if first && fresh {
                    let s = &self.cfg.sync;
                    if self
                        .on_connect
                        .take(s.on_connect_per_sec, s.on_connect_burst)
                    {
                        self.queue_sync(peer_id);
                    } else {
                        self.net
                            .stats
                            .syncs_deferred
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
            BehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            }) => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.rtt = Some(rtt);
                }
            }
            BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request,
                        channel,
                        request_id,
                    } => self.on_sync_request(peer, request_id, request, channel),
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        if let Some(r) = self.requests.remove(&request_id) {
                            let _ = r.reply.send(Ok(response));
                        }
                    }
                }
            }
            BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            }) => {
                if let request_response::OutboundFailure::Io(e) = &error
                    && e.kind() == std::io::ErrorKind::InvalidData
                {
                    self.net.stats.refused(Refusal::BadFrame);
                    self.strike(peer, 1);
                }
                if let Some(r) = self.requests.remove(&request_id) {
                    let _ = r.reply.send(Err(NetError::Peer {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            BehaviourEvent::Sync(request_response::Event::InboundFailure {
                peer,
                error,
                request_id,
                ..
            }) => {
                if let request_response::InboundFailure::Io(e) = &error
                    && e.kind() == std::io::ErrorKind::InvalidData
                {
                    self.net.stats.refused(Refusal::BadFrame);
                    self.strike(peer, 1);
                }
                if self.sending.contains_key(&request_id) {
                    self.sent(request_id, peer);
                }
            }
            BehaviourEvent::Sync(request_response::Event::ResponseSent {
                peer,
                request_id,
                ..
            }) if self.sending.contains_key(&request_id) => self.sent(request_id, peer),
            BehaviourEvent::Autonat(libp2p::autonat::Event::StatusChanged { new, .. }) => {
                use libp2p::autonat::NatStatus;
                self.nat = match new {
                    NatStatus::Public(_) => "public",
                    NatStatus::Private => "private",
                    NatStatus::Unknown => "unknown",
                };
                if self.cfg.kad == KadMode::Auto {
                    let mode = match new {
                        NatStatus::Private => kad::Mode::Client,
                        _ => kad::Mode::Server,
                    };
                    self.swarm.behaviour_mut().kad.set_mode(Some(mode));
                }
            }
            BehaviourEvent::Dcutr(libp2p::dcutr::Event {
                remote_peer_id,
                result,
            }) => {
                use std::sync::atomic::Ordering::Relaxed;
                match result {
                    Ok(_) => {
                        self.net.stats.hole_punched.fetch_add(1, Relaxed);
                        tracing::info!(peer = %remote_peer_id, "connected directly through NAT (hole punch)");
                    }
                    Err(e) => {
                        self.net.stats.hole_punch_failed.fetch_add(1, Relaxed);
                        tracing::debug!(peer = %remote_peer_id, "hole punch failed, staying on the relay: {e}");
                    }
                }
            }
            BehaviourEvent::Mdns(libp2p::mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    if !self.swarm.is_connected(&peer) && !self.banned.contains_key(&peer) {
                        let _ = self
                            .swarm
                            .dial(DialOpts::peer_id(peer).addresses(vec![addr]).build());
                    }
                }
            }
            _ => {}
        }
        let _ = self.kind;
    }

    fn refuse(&mut self, channel: request_response::ResponseChannel<SyncResponse>, why: Refusal) {
        self.net.stats.refused(why);
        let _ = self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, refusal(why.as_str()));
    }

    fn on_sync_request(
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
                self.net
                    .stats
                    .syncs_nudged
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.queue_sync(peer);
            } else if !good {
                // A peer with strikes, or whose rounds fail, cannot start rounds here.
                self.net.stats.refused(Refusal::NudgeIgnored);
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
        let task = self
            .answering
            .spawn_blocking(move || (peer, request_id, channel, shared.respond(request)));
        self.answering_peers.insert(task.id(), peer);
    }
}

/// A refusal as the peer reads it.
fn refusal(why: &str) -> SyncResponse {
    SyncResponse {
        kind: Some(sync_response::Kind::Refused(why.into())),
    }
}

/// The IP a connection comes from; none through a relay (the relay's IP is not the peer's).
fn ip_of(a: &Multiaddr) -> Option<IpAddr> {
    if is_relayed(a) {
        return None;
    }
    a.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

fn is_relayed(a: &Multiaddr) -> bool {
    a.iter().any(|p| p == Protocol::P2pCircuit)
}

/// Validates gossip in batches: whatever has queued up while the last batch was being
/// stored goes in the next. The verdicts go back to gossipsub as soon as the batch is
/// placed against the heads, before it is written, and a separate task flushes to disk
/// behind it (one flush for however many batches came meanwhile). Forwarding waits for
/// neither: on a busy machine a write takes a few hundred microseconds and a flush tens
/// of milliseconds, and every hop would pay both.
async fn ingest_worker(
    mut rx: mpsc::Receiver<GossipJob>,
    store: Arc<dyn Store>,
    net: Network,
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
            let mut report = reporter(&keys, &arrived, &net, &strikes, Mode::Try, &mut reported);
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
            Some(Ok(Offered::Busy(checked))) => {
                let (st, n2, s2) = (store.clone(), net.clone(), strikes.clone());
                tokio::task::spawn_blocking(move || {
                    let mut reported = false;
                    let r = {
                        let mut report =
                            reporter(&keys, &arrived, &n2, &s2, Mode::Blocking, &mut reported);
                        st.offer(
                            checked,
                            Path::Gossip,
                            Durability::Applied,
                            true,
                            &mut report,
                        )
                    };
                    (r.map(done), keys, reported)
                })
                .await
            }
            None => {
                let (st, n2, s2) = (store.clone(), net.clone(), strikes.clone());
                tokio::task::spawn_blocking(move || {
                    let mut reported = false;
                    let checked = st.check(&data, &[], sync::now_ms());
                    let r = {
                        let mut report =
                            reporter(&keys, &arrived, &n2, &s2, Mode::Blocking, &mut reported);
                        st.offer(
                            checked,
                            Path::Gossip,
                            Durability::Applied,
                            true,
                            &mut report,
                        )
                    };
                    (r.map(done), keys, reported)
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
                    let _ = net.tx.send(Command::Validated(v)).await;
                }
            }
            Err(_) => {}
        }
        if net.tx.is_closed() {
            break;
        }
    }
    // Last flush once the network stops.
    dirty.notify_one();
    drop(dirty);
    let _ = flusher.await;
}

/// The outcomes of a write that waited (it is never busy).
fn done(o: Offered) -> Vec<PutOutcome> {
    match o {
        Offered::Done(o) => o,
        Offered::Busy(_) => vec![],
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
    net: &'a Network,
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
            Mode::Blocking => {
                let _ = net.tx.blocking_send(Command::Validated(verdicts));
            }
            Mode::Try => net.send(Command::Validated(verdicts)),
        }
        let held: u128 = arrived.iter().map(|t| t.elapsed().as_micros()).sum();
        let stats = &net.stats;
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

/// Gossipsub's verdict on one message.
type Verdict = (MessageId, PeerId, MessageAcceptance);

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
