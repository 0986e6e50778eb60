//! The peer book: who is connected and how, what this node holds against each peer
//! (strikes, rate limits, round backoff) across its reconnects, bans, which network a
//! peer says it is on, and trimming surplus connections.

use super::*;

/// How long a `Dial` waits, once connected, for the peer to say which network it is on.
pub(super) const IDENTIFY_WAIT: Duration = Duration::from_secs(10);

/// How long a connection to a peer on another network stays open after our identify went
/// out, so that the peer reads why before we hang up: closing a connection drops what is
/// still queued on it, and the peer would hear only "the connection closed". Nothing else
/// passes meanwhile: every other protocol id names the network.
pub(super) const HANG_UP_AFTER: Duration = Duration::from_secs(1);

/// A token bucket: `rate` per second, up to `burst`.
pub(super) struct Bucket {
    pub(super) tokens: f64,
    pub(super) at: Instant,
}

impl Bucket {
    pub(super) fn take(&mut self, rate: f64, burst: f64) -> bool {
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
pub(super) struct Peer {
    pub(super) conns: HashMap<ConnectionId, (Multiaddr, bool)>,
    pub(super) agent: String,
    pub(super) rtt: Option<Duration>,
    pub(super) identified: bool,
    /// When the first of its connections opened.
    pub(super) since: Instant,
    /// This node's identify went out to the peer, so it can know which network we are on.
    pub(super) told: bool,
    /// On another network since then: hang up once it has been told (see `HANG_UP_AFTER`).
    pub(super) hang_up: Option<Instant>,
}

/// What this node holds against a peer, and allows it, whether or not it is connected:
/// kept across its reconnects (up to `MAX_STANDING` peers), so that hanging up and
/// dialling again wipes neither its strikes nor its rate limits.
pub(super) struct Standing {
    /// Strikes, as of `struck_at`; one is forgiven every `STRIKE_DECAY`.
    pub(super) strikes: u32,
    pub(super) struck_at: Instant,
    /// Sync requests it may still make (`SyncLimits::requests_per_sec`).
    pub(super) requests: Bucket,
    /// Gossip messages it may still hand us (`NetConfig::gossip_per_peer`).
    pub(super) gossip: Bucket,
    /// When it last nudged this node into a round (at most one per sync interval).
    pub(super) nudged_at: Option<Instant>,
    /// When this node last finished a round with it.
    pub(super) synced_at: Option<Instant>,
    /// Rounds with it that failed in a row, and when the next may start.
    pub(super) failures: u32,
    pub(super) retry_at: Option<Instant>,
    /// A request of its is being answered or the answer sent (one at a time per peer,
    /// until the answer has left: a peer that does not read cannot pile them up).
    pub(super) serving: bool,
    /// When it last did anything, for choosing whom to forget.
    pub(super) seen: Instant,
}

/// Peers whose standing is kept. Beyond it the least worth remembering (not connected,
/// fewest strikes, longest unseen) is forgotten.
pub(super) const MAX_STANDING: usize = 4096;

/// One strike is forgiven after this long, so an honest peer that once relayed
/// something odd is not held against for ever, and a liar's record outlasts its
/// reconnects.
pub(super) const STRIKE_DECAY: Duration = Duration::from_secs(600);

/// Peers banned at once; beyond it the oldest ban is lifted.
pub(super) const MAX_BANNED: usize = 16_384;

impl Standing {
    pub(super) fn new(cfg: &NetConfig, now: Instant) -> Self {
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
    pub(super) fn strikes(&self, now: Instant) -> u32 {
        let forgiven = now.duration_since(self.struck_at).as_secs() / STRIKE_DECAY.as_secs();
        self.strikes
            .saturating_sub(u32::try_from(forgiven).unwrap_or(u32::MAX))
    }

    /// Whether this node may start a round with it on its own account (periodic, on
    /// connect, or when it nudges): no strikes, and not waiting after failed rounds.
    pub(super) fn in_good_standing(&self, now: Instant) -> bool {
        self.strikes(now) == 0 && self.retry_at.is_none_or(|t| now >= t)
    }
}

impl EventLoop {
    /// The peer's standing, made if it has none (forgetting another, when full).
    pub(super) fn standing(&mut self, peer: PeerId) -> &mut Standing {
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

    pub(super) fn strike(&mut self, peer: PeerId, n: u32) {
        let now = Instant::now();
        let s = self.standing(peer);
        s.strikes = s.strikes(now).saturating_add(n);
        s.struck_at = now;
        let strikes = s.strikes;
        if strikes >= self.cfg.max_strikes && !self.banned.contains_key(&peer) {
            tracing::warn!(%peer, strikes, "peer sent bad data repeatedly: banned");
            self.tx.stats.refused(Refusal::Banned);
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

    pub(super) fn unban(&mut self, p: PeerId) {
        self.banned.remove(&p);
        self.swarm.behaviour_mut().blocked.unblock_peer(p);
        if let Some(g) = self.swarm.behaviour_mut().gossipsub.as_mut() {
            g.remove_blacklisted_peer(&p);
        }
    }

    /// Closes surplus connections once over `max_peers`, back down to halfway between
    /// `target_peers` and `max_peers` (trimming all the way down would leave peers on the
    /// other end short and dialling). The newest unprotected ones go first, so the
    /// long-standing links stay; gossip mesh, bootstrap and syncing peers and connections
    /// within their `connection_grace` are protected.
    pub(super) fn trim_peers(&mut self) {
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
            self.tx
                .stats
                .connections_trimmed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub(super) fn peer_list(&mut self) -> Vec<PeerInfo> {
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

    /// A peer said it is on another network (or is not lgmesh at all): never mix. The
    /// operator hears of it when this node dialled the peer (a wrong bootstrap address
    /// or network name), at most once in ten minutes per peer; a stranger dialling in is
    /// only counted.
    pub(super) fn other_network(&mut self, peer: PeerId, protocol_version: &str) {
        if self.peers.get(&peer).is_some_and(|p| p.hang_up.is_some()) {
            return; // told again (an identify push): already counted and hanging up
        }
        self.tx.stats.refused(Refusal::OtherNetwork);
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
}

impl EventLoop {
    /// A connection opened: counted, charged to its IP (over the limit, closed), and
    /// entered in the peer book; a `Dial` waiting on it waits on for identify.
    pub(super) fn connected(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        endpoint: &ConnectedPoint,
    ) {
        let (addr, outbound) = match endpoint {
            ConnectedPoint::Dialer { address, .. } => (address.clone(), true),
            // Through a relay the other end's address is only `/p2p/ID`: name the
            // relay it came through instead.
            ConnectedPoint::Listener { local_addr, .. } if is_relayed(local_addr) => {
                (local_addr.clone(), false)
            }
            ConnectedPoint::Listener { send_back_addr, .. } => (send_back_addr.clone(), false),
        };
        self.tx
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
                self.tx.stats.refused(Refusal::ConnectionsPerIp);
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

    /// A connection closed: its IP's count goes down, and the peer leaves the book with
    /// its last connection.
    pub(super) fn disconnected(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        num_established: u32,
    ) {
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

    /// The peer said who it is (identify): on another network it is hung up on; on
    /// ours its addresses go to Kademlia, waiting `Dial`s are answered, and a first
    /// identify starts a round, within the on-connect budget.
    pub(super) fn identified(&mut self, peer_id: PeerId, info: identify::Info) {
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
                self.tx
                    .stats
                    .syncs_deferred
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}
