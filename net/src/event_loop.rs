//! The task that owns the swarm. It reacts to swarm events and to commands from the
//! [`Network`] handle, and hands every slow job (validation, storage, sync rounds,
//! answering sync requests) to other tasks: nothing here waits on disk or CPU-heavy work.

mod dials;
mod gossip;
mod peers;
mod relays;
mod rounds;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lgmesh_proto::v1::{SyncRequest, SyncResponse, sync_request, sync_response};
use lgmesh_protocol::envelope::ManifestId;
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
use tracing::Instrument;

use crate::{
    KadMode, NetConfig, NetError, TransportKind,
    behaviour::{Behaviour, BehaviourEvent},
    command::{Command, Internal, LoopTx, NetInfo, PeerInfo, Request, Verdict},
    ingest::{GossipJob, ingest_worker},
    short,
    stats::{Path, Refusal},
    store::Store,
    sync::{self, RoundReport, Strikes, SyncShared},
    topic_name,
};
use dials::*;
use peers::*;
use relays::*;
use rounds::*;

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    cfg: NetConfig,
    kind: TransportKind,
    rx: mpsc::Receiver<Command>,
    /// To this task, for the tasks it spawns (rounds), and the counters.
    tx: LoopTx,
    shared: Arc<SyncShared>,
    topic: gossipsub::IdentTopic,
    /// Gossip to the ingest task; taken at shutdown, so that the task drains and ends.
    ingest: Option<mpsc::Sender<GossipJob>>,
    /// The ingest task, awaited at shutdown.
    ingest_task: Option<tokio::task::JoinHandle<()>>,
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
        tx: LoopTx,
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
            tx.stats.clone(),
            strikes.clone(),
        ));
        let cfg_burst = cfg.sync.on_connect_burst;
        let (ingest, ingest_rx) = mpsc::channel(cfg.ingest_queue.max(1));
        let ingest_task = tokio::spawn(
            ingest_worker(ingest_rx, store, tx.clone(), strikes.clone())
                .instrument(tracing::info_span!("gossip_ingest")),
        );
        Ok(Self {
            topic: gossipsub::IdentTopic::new(topic_name(&cfg.network)),
            id_protocol: format!("/lgmesh/{}/id/1", cfg.network),
            bootstrap: cfg.bootstrap.clone(),
            swarm,
            cfg,
            kind,
            rx,
            tx,
            shared,
            ingest: Some(ingest),
            ingest_task: Some(ingest_task),
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

    pub(crate) async fn run(mut self) {
        let mut sync_tick = tokio::time::interval(self.cfg.sync.interval);
        sync_tick.tick().await;
        let mut house = tokio::time::interval(Duration::from_secs(5));
        // Queued rounds start as soon as a slot frees or a running round stalls.
        let mut slots = tokio::time::interval(Duration::from_millis(250));
        slots.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let strikes = self.strikes.clone();
        let done = loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => {
                    self.cfg.metrics.record(&ev);
                    self.on_event(ev);
                }
                cmd = self.rx.recv() => match cmd {
                    Some(Command::Public(Request::Shutdown { done })) => break Some(done),
                    None => break None,
                    Some(Command::Public(r)) => self.on_request(r),
                    Some(Command::Internal(m)) => self.on_internal(m),
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
        };
        self.shut_down().await;
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    /// Stops in order: intake first (no more gossip taken in, no more requests
    /// answered, rounds ended), then the ingest task drains what it was given, stores
    /// it and flushes; connections close when the swarm is dropped, last.
    async fn shut_down(&mut self) {
        self.rounds.abort_all();
        self.answering.abort_all();
        drop(self.ingest.take());
        if let Some(mut task) = self.ingest_task.take() {
            // The ingest task may wait for room to send its verdicts here: read and
            // drop what comes until it ends. Requests get no answer (their senders
            // see the network stopped).
            loop {
                tokio::select! {
                    _ = &mut task => break,
                    cmd = self.rx.recv() => if cmd.is_none() {
                        let _ = (&mut task).await;
                        break;
                    },
                }
            }
        }
        while self.rounds.join_next().await.is_some() {}
        while self.answering.join_next().await.is_some() {}
        // The pages of aborted rounds still being checked or written.
        self.shared.settle().await;
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

    fn on_request(&mut self, r: Request) {
        match r {
            Request::Publish { data, id } => self.publish(data, id),
            Request::Dial { addr, reply } => self.dial(addr, reply),
            Request::Peers { reply } => {
                let _ = reply.send(self.peer_list());
            }
            Request::Info { reply } => {
                let _ = reply.send(self.info());
            }
            Request::SyncNow { peer } => match peer {
                Some(p) => self.queue_sync(p),
                None => self.sync_random(),
            },
            // Handled by `run`, which stops.
            Request::Shutdown { .. } => {}
        }
    }

    fn on_internal(&mut self, m: Internal) {
        match m {
            Internal::Ask {
                peer,
                request,
                reply,
            } => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                let sent = Instant::now();
                self.requests.insert(id, Outbound { reply, peer, sent });
            }
            Internal::Validated(verdicts) => self.validated(verdicts),
        }
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

    fn on_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => self.connected(peer_id, connection_id, &endpoint),
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => self.disconnected(peer_id, connection_id, num_established),
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => self.dial_failed(connection_id, peer_id, &error),
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
            }) => self.gossip_arrived(propagation_source, message_id, message.data),
            BehaviourEvent::Identify(identify::Event::Sent { peer_id, .. }) => {
                if let Some(p) = self.peers.get_mut(&peer_id) {
                    p.told = true;
                }
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.identified(peer_id, info)
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
            BehaviourEvent::Sync(ev) => self.on_sync(ev),
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
                        self.tx.stats.hole_punched.fetch_add(1, Relaxed);
                        tracing::info!(peer = %remote_peer_id, "connected directly through NAT (hole punch)");
                    }
                    Err(e) => {
                        self.tx.stats.hole_punch_failed.fetch_add(1, Relaxed);
                        tracing::debug!(peer = %remote_peer_id, "hole punch failed, staying on the relay: {e}");
                    }
                }
            }
            BehaviourEvent::Mdns(libp2p::mdns::Event::Discovered(found)) => self.discovered(found),
            _ => {}
        }
        let _ = self.kind;
    }
}
