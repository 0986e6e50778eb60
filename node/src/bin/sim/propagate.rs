//! `propagate`: how fast a publish reaches every node, for lgmesh and for bare gossipsub
//! on the same topology in the same run, with what each costs in CPU. Here too: the
//! nodes joining, the network settling before publishing, and the bare swarms.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lgmesh::metrics::Source;
use lgmesh_net::{Multiaddr, Network, keypair_from_seed};
use lgmesh_protocol::envelope::UnsignedManifest;
use lgmesh_protocol::identity::SecretKey;
use lgmesh_protocol::sample;
use lgmesh_registry::{Durability, IfBusy, PutOutcome};
use libp2p::{Transport, core::upgrade, gossipsub, noise, swarm::SwarmEvent, yamux};
use tokio::sync::mpsc;

use crate::Result;
use crate::harness::{
    NETWORK, Rng, SimNode, cpu_secs, now_ms, percentile, seed, sim_config, start_node, topology,
};

/// `--settle-ms`: how long to let meshes form before publishing (0: 3 s + 3 ms per node).
pub(crate) static SETTLE_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

struct Outcome {
    latencies_ms: Vec<f64>,
    delivered: usize,
    expected: usize,
    /// CPU use of the whole process while publishing, % of one core.
    cpu_pct: f64,
    /// CPU use just before publishing, % of one core.
    idle_pct: f64,
    /// How long each publish took at its origin before it went out (for lgmesh: stored
    /// and flushed, as a real publish is), included in the latencies.
    publish_ms: Vec<f64>,
    /// For each publish delivered everywhere: the times (ms) until half, 90 % and 99 %
    /// of the other nodes held it. A tail far behind the 99th node is a mesh that
    /// leaves a few nodes to lazy gossip; all of them late is a busy machine.
    reached_ms: Vec<[f64; 3]>,
}

impl Outcome {
    fn print(&self, label: &str) {
        let mut l = self.latencies_ms.clone();
        l.sort_by(|a, b| a.total_cmp(b));
        println!(
            "  {label:<8} all-nodes latency p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  delivery {:.2} % ({}/{})  cpu {:.0} %",
            percentile(&l, 0.5),
            percentile(&l, 0.99),
            l.last().copied().unwrap_or(f64::NAN),
            100.0 * self.delivered as f64 / self.expected.max(1) as f64,
            self.delivered,
            self.expected,
            self.cpu_pct
        );
        let mut p = self.publish_ms.clone();
        p.sort_by(|a, b| a.total_cmp(b));
        println!(
            "  {label:<8} of which the publish at the origin p50 {:>7.1} ms",
            percentile(&p, 0.5)
        );
        let median = |k: usize| {
            let mut v: Vec<f64> = self.reached_ms.iter().map(|r| r[k]).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            percentile(&v, 0.5)
        };
        println!(
            "  {label:<8} nodes reached (p50 over publishes): half in {:.1} ms, 90 % in {:.1} ms, 99 % in {:.1} ms; all within 1 s in {} of {} publishes",
            median(0),
            median(1),
            median(2),
            l.iter().filter(|ms| **ms <= 1000.0).count(),
            self.publish_ms.len()
        );
    }
    fn p50(&self) -> f64 {
        let mut l = self.latencies_ms.clone();
        l.sort_by(|a, b| a.total_cmp(b));
        percentile(&l, 0.5)
    }
}

pub(crate) async fn propagate(dir: &Path, n: usize, publishes: usize, degree: usize) -> Result<()> {
    println!(
        "propagate: {n} nodes, degree {degree}, {publishes} publishes (memory transport, Noise, Yamux)"
    );
    let edges = topology(n, degree);
    let base = bare(n, &edges, publishes).await?;
    base.print("bare");
    // lgmesh counts as settled once it idles about as low as bare gossipsub did, allowing
    // for its heartbeats, pings and routing-table upkeep, which grow with N (a 433-node
    // network idles at ~13 % of a core).
    let quiet = base.idle_pct * 1.5 + 10.0 + 5.0 * n as f64 / 100.0;
    let ours = lgmesh(dir, n, &edges, publishes, quiet).await?;
    ours.print("lgmesh");
    println!(
        "  ratio    lgmesh p50 / bare p50 = {:.2}",
        ours.p50() / base.p50()
    );
    Ok(())
}

/// Waits for `expected` arrivals of `id` (reported as (node, id, time)); returns when
/// each node that got it got it, in order.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<(usize, Vec<u8>, Instant)>,
    id: &[u8],
    expected: usize,
    timeout: Duration,
) -> Vec<Instant> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = std::collections::HashSet::new();
    let mut times = vec![];
    while seen.len() < expected {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((node, got, at))) => {
                if got == id && seen.insert(node) {
                    times.push(at);
                }
            }
            _ => break,
        }
    }
    // Stamped by each node's own listener task, so they may come a little out of order.
    times.sort();
    times
}

async fn lgmesh(
    dir: &Path,
    n: usize,
    edges: &[(usize, usize)],
    publishes: usize,
    quiet_pct: f64,
) -> Result<Outcome> {
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        nodes.push(start_node(dir, i, sim_config(), false).await?);
    }
    let churn = tokio::spawn(report_churn(nodes.iter().map(|n| n.net.clone()).collect()));
    connect_all(edges, |i| nodes[i].net.clone(), |j| nodes[j].addr.clone()).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    for (i, node) in nodes.iter().enumerate() {
        let mut sub = node.intake.subscribe();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok(id) = sub.recv().await {
                if tx
                    .send((i, id.as_bytes().to_vec(), Instant::now()))
                    .is_err()
                {
                    return;
                }
            }
        });
    }
    // …and once the connections Kademlia's first lookups opened are trimmed.
    let max_peers = sim_config().max_peers;
    let idle = settle("lgmesh", n, quiet_pct, async || {
        let mut peers = 0;
        for node in &nodes {
            peers += node.net.info().await.map(|i| i.peers).unwrap_or(0);
        }
        peers <= n * max_peers
    })
    .await;
    let (mut mesh, mut peers) = (vec![], 0);
    for node in &nodes {
        let info = node.net.info().await?;
        mesh.push(info.mesh_peers);
        peers += info.peers;
    }
    println!(
        "  lgmesh   gossip mesh peers per node: min {} mean {:.1}; connected peers per node: mean {:.1}",
        mesh.iter().min().copied().unwrap_or(0),
        mesh.iter().sum::<usize>() as f64 / n as f64,
        peers as f64 / n as f64
    );
    let conns = |nodes: &[SimNode]| -> u64 {
        nodes
            .iter()
            .map(|n| n.net.stats().snapshot().connections_opened)
            .sum()
    };
    churn.abort();
    let conns_before = conns(&nodes);
    let out = publish_all(n, publishes, &mut rx, async |origin, env| {
        let intake = nodes[origin].intake.clone();
        let e2 = env.clone();
        let stored = tokio::task::spawn_blocking(move || {
            let checked = intake.check(&[e2], &[], now_ms());
            intake
                .write(
                    checked,
                    Source::Local,
                    Durability::Searchable,
                    IfBusy::Wait,
                    |_| {},
                )
                .map(|mut o| o.pop())
        })
        .await??;
        let Some(PutOutcome::Stored(id)) = stored else {
            return Err(format!("publish refused: {stored:?}").into());
        };
        nodes[origin].net.publish(env, id);
        Ok(id.as_bytes().to_vec())
    })
    .await?;
    println!(
        "  lgmesh   connection ends opened while publishing: {}",
        conns(&nodes) - conns_before
    );
    let mut refused: HashMap<&'static str, u64> = HashMap::new();
    let (mut rounds_ok, mut rounds_failed, mut deferred) = (0, 0, 0);
    let (mut validated, mut held_us) = (0, 0);
    for node in &nodes {
        let s = node.net.stats().snapshot();
        validated += s.gossip_validated;
        held_us += s.gossip_validation_us;
        for (r, c) in s.refused {
            *refused.entry(r).or_default() += c;
        }
        rounds_ok += s.syncs_completed;
        rounds_failed += s.syncs_failed;
        deferred += s.syncs_deferred;
    }
    refused.retain(|_, c| *c > 0);
    println!(
        "  lgmesh   sync rounds {rounds_ok} completed, {rounds_failed} failed, {deferred} deferred; refusals {refused:?}"
    );
    println!(
        "  lgmesh   gossip held from arrival to verdict: mean {:.2} ms over {validated} messages",
        held_us as f64 / 1000.0 / validated.max(1) as f64
    );
    for node in &nodes {
        node.net.shutdown().await;
    }
    let mut out = out;
    out.idle_pct = idle;
    Ok(out)
}

/// Prints, every 20 s until aborted, what the lgmesh nodes did with their connections in
/// that window: how a network of N nodes spends its CPU before anything is published.
async fn report_churn(nets: Vec<Network>) {
    let sum = |nets: &[Network]| {
        let mut t = [0u64; 4];
        for n in nets {
            let s = n.stats().snapshot();
            t[0] += s.connections_opened;
            t[1] += s.connections_trimmed;
            t[2] += s.syncs_completed;
            t[3] += s.syncs_deferred;
        }
        t
    };
    let t0 = Instant::now();
    let (mut before, mut cpu) = (sum(&nets), cpu_secs());
    loop {
        tokio::time::sleep(Duration::from_secs(20)).await;
        let (now, c) = (sum(&nets), cpu_secs());
        let d: Vec<u64> = now.iter().zip(before).map(|(a, b)| a - b).collect();
        println!(
            "  lgmesh   at {:>4.0} s: {:.0} % cpu; in 20 s {} connection ends opened, {} trimmed, {} sync rounds, {} deferred",
            t0.elapsed().as_secs_f64(),
            100.0 * (c - cpu) / 20.0,
            d[0],
            d[1],
            d[2],
            d[3]
        );
        (before, cpu) = (now, c);
    }
}

/// `--join-ms`: lgmesh nodes join one after another this far apart, each dialling its
/// edges. A real federation never has all its nodes start in the same second; when they
/// do, every node's first Kademlia bootstrap (a few hundred lookups' worth of
/// connections each) lands at once and a 2-core machine needs minutes to work through it.
pub(crate) static JOIN_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(50);

async fn connect_all(
    edges: &[(usize, usize)],
    net: impl Fn(usize) -> Network,
    addr: impl Fn(usize) -> Multiaddr,
) -> Result<()> {
    let mut failed = 0usize;
    for node in edges.chunk_by(|a, b| a.0 == b.0) {
        let dials = node.iter().map(|&(i, j)| {
            let (n, a) = (net(i), addr(j));
            async move { n.dial(a).await }
        });
        for r in futures::future::join_all(dials).await {
            // On saturated cores a peer may take longer to identify than a dial waits;
            // the edge is then missing, as in a real federation, and the run goes on.
            if let Err(e) = r {
                failed += 1;
                if failed <= 3 {
                    eprintln!("  a joining dial failed: {e}");
                }
            }
        }
        let gap = JOIN_MS.load(std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(gap)).await;
    }
    if failed > 0 {
        println!(
            "  {failed} of {} joining dials failed (the network formed without them)",
            edges.len()
        );
    }
    Ok(())
}

/// Publishes `publishes` manifests, one every 200 ms from a random node, through
/// `publish(origin, envelope) -> id`, and times each until all other nodes report it.
async fn publish_all(
    n: usize,
    publishes: usize,
    rx: &mut mpsc::UnboundedReceiver<(usize, Vec<u8>, Instant)>,
    mut publish: impl AsyncFnMut(usize, Vec<u8>) -> Result<Vec<u8>>,
) -> Result<Outcome> {
    let mut rng = Rng(42);
    let mut out = Outcome {
        latencies_ms: vec![],
        delivered: 0,
        expected: 0,
        cpu_pct: 0.0,
        idle_pct: 0.0,
        publish_ms: vec![],
        reached_ms: vec![],
    };
    let cpu0 = cpu_secs();
    let started = Instant::now();
    for p in 0..publishes {
        let origin = rng.below(n);
        let key = SecretKey::from_seed(&seed(origin as u64, 2));
        let body = sample::service(
            &format!("service-{p}"),
            1,
            "Bin collection days",
            "Find your bin collection day by postcode or UPRN.",
            &[524],
            &["E07000209"],
            now_ms(),
        );
        let env = UnsignedManifest(body).sign(&key).to_bytes();
        let t0 = Instant::now();
        let id = publish(origin, env).await?;
        out.publish_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        let times = collect(rx, &id, n - 1, Duration::from_secs(10)).await;
        out.expected += n - 1;
        out.delivered += times.len();
        if n > 1 && times.len() == n - 1 {
            let ms = |k: usize| times[k].duration_since(t0).as_secs_f64() * 1000.0;
            // The k-th fraction of the n - 1 nodes is reached at arrival ceil(k (n-1)) - 1.
            let at = |f: f64| ms(((f * (n - 1) as f64).ceil() as usize).clamp(1, n - 1) - 1);
            out.reached_ms.push([at(0.5), at(0.9), at(0.99)]);
            out.latencies_ms.push(ms(n - 2));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    out.cpu_pct = 100.0 * (cpu_secs() - cpu0) / started.elapsed().as_secs_f64();
    Ok(out)
}

/// Lets the network settle before publishing: at least `--settle-ms` (default 3 s +
/// 3 ms per node, a few gossip heartbeats), then until the process is quiet: a one-second
/// window using under `quiet_pct` % of a core, with `ready()` true (at most 600 s more).
/// The benchmark is of propagation in a running federation, not of all nodes starting
/// in the same second. Returns the CPU % of the last window.
async fn settle(
    label: &str,
    n: usize,
    quiet_pct: f64,
    mut ready: impl AsyncFnMut() -> bool,
) -> f64 {
    let ms = match SETTLE_MS.load(std::sync::atomic::Ordering::Relaxed) {
        0 => 3000 + 3 * n as u64,
        ms => ms,
    };
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_millis(ms)).await;
    let mut pct;
    loop {
        let (c0, w0) = (cpu_secs(), Instant::now());
        tokio::time::sleep(Duration::from_secs(1)).await;
        pct = 100.0 * (cpu_secs() - c0) / w0.elapsed().as_secs_f64();
        if (pct <= quiet_pct && ready().await)
            || t0.elapsed() > Duration::from_millis(ms) + Duration::from_secs(600)
        {
            break;
        }
    }
    println!(
        "  {label:<8} settled after {:.1} s; cpu then {pct:.0} % of one core",
        t0.elapsed().as_secs_f64()
    );
    pct
}

/// libp2p's memory transport with Noise and Yamux, as the sim's own swarms use it.
pub(crate) fn memory_transport(
    k: &libp2p::identity::Keypair,
) -> std::result::Result<
    libp2p::core::transport::Boxed<(libp2p::PeerId, libp2p::core::muxing::StreamMuxerBox)>,
    Box<dyn std::error::Error + Send + Sync>,
> {
    Ok(libp2p::core::transport::MemoryTransport::default()
        .upgrade(upgrade::Version::V1)
        .authenticate(noise::Config::new(k)?)
        .multiplex(yamux::Config::default())
        .boxed())
}

/// The same topology of bare gossipsub swarms: no identify, no validation, no storage.
async fn bare(n: usize, edges: &[(usize, usize)], publishes: usize) -> Result<Outcome> {
    let topic = gossipsub::IdentTopic::new(lgmesh_net::topic_name(NETWORK));
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Vec<u8>, Instant)>();
    let mut handles = vec![];
    let mut addrs = vec![];
    for i in 0..n {
        let key = keypair_from_seed(seed(i as u64, 3))?;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_other_transport(memory_transport)?
            .with_behaviour(|_| -> Result<gossipsub::Behaviour> {
                let mut g: gossipsub::Behaviour = gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Anonymous,
                    lgmesh_net::bare_gossipsub_config(NETWORK).map_err(|e| e.to_string())?,
                )?;
                g.subscribe(&topic)?;
                Ok(g)
            })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
            .build();
        swarm.listen_on("/memory/0".parse()?)?;
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        addrs.push(addr);
        let (ctx, mut crx) = mpsc::unbounded_channel::<BareCmd>();
        handles.push(ctx);
        let tx = tx.clone();
        let topic = topic.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    ev = swarm.select_next_some() => {
                        if let SwarmEvent::Behaviour(gossipsub::Event::Message { message_id, .. }) = ev {
                            let _ = tx.send((i, message_id.0, Instant::now()));
                        }
                    }
                    c = crx.recv() => match c {
                        Some(BareCmd::Dial(a, reply)) => {
                            let _ = swarm.dial(a);
                            let _ = reply.send(());
                        }
                        Some(BareCmd::Publish(d)) => { let _ = swarm.behaviour_mut().publish(topic.clone(), d); }
                        None => return,
                    }
                }
            }
        });
    }
    for &(i, j) in edges {
        let (r, w) = tokio::sync::oneshot::channel();
        handles[i].send(BareCmd::Dial(addrs[j].clone(), r))?;
        let _ = w.await;
    }
    // Bare gossipsub settles within the minimum; its idle load sets the bar for lgmesh.
    let idle = settle("bare", n, f64::INFINITY, async || true).await;
    let out = publish_all(n, publishes, &mut rx, async |origin, env| {
        let id = lgmesh_net::gossip_message_id(&env);
        handles[origin].send(BareCmd::Publish(env))?;
        Ok(id)
    })
    .await?;
    drop(handles);
    let mut out = out;
    out.idle_pct = idle;
    Ok(out)
}

enum BareCmd {
    Dial(Multiaddr, tokio::sync::oneshot::Sender<()>),
    Publish(Vec<u8>),
}
