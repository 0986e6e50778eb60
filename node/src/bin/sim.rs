//! `lgmesh-sim`: the federation simulated in one process, over libp2p's memory transport
//! (Noise, Yamux), measured against a bare gossipsub baseline in the same run.
//!
//! ```text
//! cargo run --release -p lgmesh --bin lgmesh-sim -- propagate --nodes 100,433,1000
//! cargo run --release -p lgmesh --bin lgmesh-sim -- catchup --manifests 100000
//! cargo run --release -p lgmesh --bin lgmesh-sim -- catchup-liars --manifests 100000
//! cargo run --release -p lgmesh --bin lgmesh-sim -- reconcile --manifests 100000 --missing 1000
//! ```
//! Figures go to stdout; see BENCHMARKS.md.

/// The node's allocator (see `node/src/main.rs`), so that the figures are the node's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lgmesh::intake::Intake;
use lgmesh::metrics::{Metrics, Source};
use lgmesh_net::{Multiaddr, NetConfig, Network, TransportKind, keypair_from_seed};
use lgmesh_protocol::envelope::UnsignedManifest;
use lgmesh_protocol::identity::SecretKey;
use lgmesh_protocol::sample;
use lgmesh_protocol::validate::Limits;
use lgmesh_registry::{Durability, IfBusy, PutOutcome, Registry};
use libp2p::{Transport, core::upgrade, gossipsub, noise, swarm::SwarmEvent, yamux};
use tokio::sync::mpsc;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const NETWORK: &str = "sim";

/// `--settle-ms`: how long to let meshes form before publishing (0: 3 s + 3 ms per node).
static SETTLE_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn usage() -> ! {
    eprintln!(
        "usage: lgmesh-sim propagate [--nodes 100,433,1000] [--publishes 20] [--degree 4]\n\
         \x20      lgmesh-sim catchup [--manifests 100000]\n\
         \x20      lgmesh-sim catchup-loopback [--manifests 100000]\n\
         \x20      lgmesh-sim catchup-liars [--manifests 100000] [--liars 4]\n\
         \x20      lgmesh-sim reconcile [--manifests 100000] [--missing 1000]\n\
         options for all: --dir DIR (scratch space; default the system temp dir),\n\
         \x20                 --settle-ms N (wait before publishing; default 3 s + 3 ms per node),\n\
         \x20                 --join-ms N (propagate: lgmesh nodes join N ms apart; default 50)"
    );
    std::process::exit(2)
}

struct Args {
    cmd: String,
    nodes: Vec<usize>,
    publishes: usize,
    degree: usize,
    manifests: usize,
    missing: usize,
    liars: usize,
    dir: PathBuf,
}

fn parse() -> Args {
    let mut a = Args {
        cmd: String::new(),
        nodes: vec![100, 433, 1000],
        publishes: 20,
        degree: 4,
        manifests: 100_000,
        missing: 1000,
        liars: 4,
        dir: std::env::temp_dir(),
    };
    let mut it = std::env::args().skip(1);
    a.cmd = it.next().unwrap_or_else(|| usage());
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| usage());
        let num = |v: &str| v.parse::<usize>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--nodes" => a.nodes = v.split(',').map(num).collect(),
            "--publishes" => a.publishes = num(&v),
            "--degree" => a.degree = num(&v).max(1),
            "--manifests" => a.manifests = num(&v),
            "--missing" => a.missing = num(&v),
            "--liars" => a.liars = num(&v),
            "--dir" => a.dir = PathBuf::from(v),
            "--settle-ms" => SETTLE_MS.store(num(&v) as u64, std::sync::atomic::Ordering::Relaxed),
            "--join-ms" => JOIN_MS.store(num(&v) as u64, std::sync::atomic::Ordering::Relaxed),
            "--max-peers" => MAX_PEERS.store(num(&v).max(1), std::sync::atomic::Ordering::Relaxed),
            _ => usage(),
        }
    }
    a
}

fn main() -> Result<()> {
    let a = parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let scratch = a.dir.join(format!("lgmesh-sim-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let r = rt.block_on(async {
        match a.cmd.as_str() {
            "propagate" => {
                for &n in &a.nodes {
                    propagate(&scratch, n, a.publishes, a.degree).await?;
                }
                Ok(())
            }
            "catchup" => catchup(&scratch, a.manifests).await,
            "catchup-liars" => catchup_liars(&scratch, a.manifests, a.liars).await,
            "catchup-loopback" => catchup_loopback(&scratch, a.manifests).await,
            "serve" => serve(&scratch, a.manifests).await,
            "reconcile" => reconcile(&scratch, a.manifests, a.missing).await,
            _ => usage(),
        }
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&scratch);
    r
}

/// A small deterministic PRNG (xorshift64*), so both stacks get the same topology.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Each node dials `degree` distinct earlier nodes: a connected random graph.
fn topology(n: usize, degree: usize) -> Vec<(usize, usize)> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut edges = vec![];
    for i in 1..n {
        let mut picked = vec![];
        while picked.len() < degree.min(i) {
            let j = rng.below(i);
            if !picked.contains(&j) {
                picked.push(j);
            }
        }
        edges.extend(picked.into_iter().map(|j| (i, j)));
    }
    edges
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn seed(i: u64, salt: u8) -> [u8; 32] {
    let mut s = [salt; 32];
    s[..8].copy_from_slice(&i.to_le_bytes());
    s
}

struct SimNode {
    net: Network,
    registry: Arc<Registry>,
    intake: Arc<Intake>,
    addr: Multiaddr,
}

async fn start_node(dir: &Path, i: usize, cfg: NetConfig, search: bool) -> Result<SimNode> {
    let d = dir.join(format!("node-{i}"));
    let registry = Arc::new(if search {
        Registry::open(&d, Limits::default())?
    } else {
        Registry::open_without_search(&d, Limits::default(), 4 * 1024 * 1024)?
    });
    // The node's own way into the store: what a node does once a manifest is stored
    // is done here too.
    let intake = Arc::new(Intake::new(registry.clone(), Arc::new(Metrics::default())));
    let net = Network::start(
        keypair_from_seed(seed(i as u64, 1))?,
        cfg,
        TransportKind::Memory,
        intake.clone(),
    )
    .await?;
    let addr = net.info().await?.listen[0].clone();
    Ok(SimNode {
        net,
        registry,
        intake,
        addr,
    })
}

fn sim_config() -> NetConfig {
    let mut c = NetConfig {
        network: NETWORK.into(),
        listen: vec!["/memory/0".parse().expect("memory address")],
        max_connections: 10_000,
        ..NetConfig::default()
    };
    // Only connection-time sync: the measurement is of push.
    c.sync.interval = Duration::from_secs(3600);
    let max = MAX_PEERS.load(std::sync::atomic::Ordering::Relaxed);
    if max > 0 {
        c.max_peers = max;
        c.target_peers = c.target_peers.min(max);
    }
    c
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

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

async fn propagate(dir: &Path, n: usize, publishes: usize, degree: usize) -> Result<()> {
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
static JOIN_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(50);

/// `--max-peers`: each lgmesh node's `network.max_peers` (0: the default). Its
/// `target_peers` stays the default unless that is larger.
static MAX_PEERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

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

/// CPU time (user + system) this process has used, in seconds (Linux; 0 elsewhere).
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|r| r.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
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
fn memory_transport(
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

/// `count` manifests from 500 publishers, in batches, with their total size.
fn make_manifests(count: usize) -> (Vec<Vec<Vec<u8>>>, u64) {
    let now = now_ms();
    let keys: Vec<SecretKey> = (0..500u64)
        .map(|i| SecretKey::from_seed(&seed(i, 4)))
        .collect();
    let mut batches = vec![];
    let mut total = 0u64;
    let mut batch = vec![];
    for i in 0..count {
        let body = sample::service(
            &format!("service-{i}"),
            1,
            &format!("Shared service {i}"),
            "A shared council service: bins, parking, planning or licensing, offered for reuse by neighbouring councils.",
            &[524],
            &["E07000209"],
            now - (count - i) as u64,
        );
        let env = UnsignedManifest(body)
            .sign(&keys[i % keys.len()])
            .to_bytes();
        total += env.len() as u64;
        batch.push(env);
        if batch.len() == 2000 {
            batches.push(std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    (batches, total)
}

fn quiet_config() -> NetConfig {
    let mut c = sim_config();
    c.gossip = false;
    c
}

async fn fill(reg: &Arc<Registry>, batches: Vec<Vec<Vec<u8>>>) -> Result<()> {
    let reg = reg.clone();
    tokio::task::spawn_blocking(move || lgmesh::intake::write_pipelined(&reg, batches, now_ms()))
        .await??;
    Ok(())
}

async fn catchup(dir: &Path, count: usize) -> Result<()> {
    println!("catchup: a new node joins one that holds {count} manifests (memory transport)");
    let (batches, raw) = make_manifests(count);
    let a = start_node(dir, 0, quiet_config(), true).await?;
    let t = Instant::now();
    fill(&a.registry, batches).await?;
    println!(
        "  filled the first node in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let b = start_node(dir, 1, quiet_config(), true).await?;
    let (t0, cpu0) = (Instant::now(), cpu_secs());
    b.net.dial(a.addr.clone()).await?;
    let took = caught_up(&b.registry, count, t0).await?;
    report_catchup(count, took, cpu_secs() - cpu0, &b.net, raw);
    Ok(())
}

/// Catch-up with and without liars in the same run: a new node joins one that holds
/// `count` manifests, once alone and once after `liars` peers have taken its round
/// slots (half of them hold every request unanswered, half answer a stream with the
/// same page for ever). Runs alternate, three of each; the figure is the ratio of the
/// medians, without over with.
async fn catchup_liars(dir: &Path, count: usize, liars: usize) -> Result<()> {
    println!(
        "catchup-liars: a new node joins one that holds {count} manifests, with and without {liars} liars (memory transport)"
    );
    let (batches, _) = make_manifests(count);
    let page: Vec<Vec<u8>> = batches.iter().flatten().take(20).cloned().collect();
    let a = start_node(dir, 0, quiet_config(), true).await?;
    fill(&a.registry, batches).await?;
    let (mut plain, mut lied) = (vec![], vec![]);
    for run in 0..6 {
        let with = run % 2 == 1;
        let b = start_node(dir, 100 + run, quiet_config(), true).await?;
        let mut held = vec![];
        if with {
            for l in 0..liars {
                let stall = l % 2 == 0;
                held.push(spawn_liar(&b.addr, (run * 100 + l) as u64, stall, page.clone()).await?);
            }
            // Let them identify and take the new node's round slots first.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let t0 = Instant::now();
        b.net.dial(a.addr.clone()).await?;
        let took = caught_up(&b.registry, count, t0).await?;
        let s = b.net.stats().snapshot();
        let refused: Vec<String> = s
            .refused
            .iter()
            .filter(|r| r.1 > 0)
            .map(|r| format!("{} {}", r.0, r.1))
            .collect();
        println!(
            "  run {run}: {} liars: caught up in {:.2} s; refusals: {}",
            if with { liars } else { 0 },
            took.as_secs_f64(),
            if refused.is_empty() {
                "none".into()
            } else {
                refused.join(", ")
            }
        );
        if with {
            lied.push(took);
        } else {
            plain.push(took);
        }
        b.net.shutdown().await;
        drop(held);
    }
    plain.sort();
    lied.sort();
    let (p, l) = (plain[plain.len() / 2], lied[lied.len() / 2]);
    println!(
        "  median without liars {:.2} s, with {liars} liars {:.2} s: ratio {:.2} (goal >= 0.9)",
        p.as_secs_f64(),
        l.as_secs_f64(),
        p.as_secs_f64() / l.as_secs_f64()
    );
    Ok(())
}

#[derive(libp2p::swarm::NetworkBehaviour)]
struct LiarBehaviour {
    identify: libp2p::identify::Behaviour,
    sync: libp2p::request_response::Behaviour<lgmesh_net::codec::SyncCodec>,
}

/// A peer that speaks lgmesh's identify and sync and lies: `stall` holds every request
/// unanswered; otherwise it answers every stream request with `page`, claiming more,
/// and holds the rest. Dials `target`; runs until the returned sender is dropped.
async fn spawn_liar(
    target: &Multiaddr,
    i: u64,
    stall: bool,
    page: Vec<Vec<u8>>,
) -> Result<tokio::sync::oneshot::Sender<()>> {
    use lgmesh_proto::v1::{Manifests, SyncResponse, sync_request, sync_response};
    use libp2p::{StreamProtocol, identify, request_response};
    let key = keypair_from_seed(seed(i, 7))?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(memory_transport)?
        .with_behaviour(|k| -> Result<LiarBehaviour> {
            Ok(LiarBehaviour {
                identify: identify::Behaviour::new(identify::Config::new(
                    format!("/lgmesh/{NETWORK}/id/1"),
                    k.public(),
                )),
                sync: request_response::Behaviour::with_codec(
                    lgmesh_net::codec::SyncCodec::new(4 << 20),
                    [(
                        StreamProtocol::try_from_owned(format!("/lgmesh/{NETWORK}/sync/1"))?,
                        request_response::ProtocolSupport::Full,
                    )],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(600)),
                ),
            })
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
        .build();
    swarm.dial(target.clone())?;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut held = vec![];
        loop {
            tokio::select! {
                ev = swarm.select_next_some() => {
                    if let SwarmEvent::Behaviour(LiarBehaviourEvent::Sync(request_response::Event::Message {
                        message: request_response::Message::Request { request, channel, .. }, ..
                    })) = ev {
                        let streams = matches!(request.kind, Some(sync_request::Kind::Stream(_)));
                        if stall || !streams {
                            held.push(channel);
                        } else {
                            let r = SyncResponse {
                                kind: Some(sync_response::Kind::Manifests(Manifests {
                                    envelopes: page.clone(),
                                    more: true,
                                    ..Default::default()
                                })),
                            };
                            let _ = swarm.behaviour_mut().sync.send_response(channel, r);
                        }
                    }
                }
                _ = &mut stopped => return,
            }
        }
    });
    Ok(stop)
}

/// How long after `t0` `registry` held `count` heads (at most 300 s).
async fn caught_up(registry: &Registry, count: usize, t0: Instant) -> Result<Duration> {
    loop {
        if registry.counts()?.heads as usize >= count {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > Duration::from_secs(300) {
            return Err("catch-up did not finish in 300 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `cpu`: CPU seconds this process used meanwhile (both nodes in `catchup`, the new
/// one alone in `catchup-loopback`).
fn report_catchup(count: usize, took: Duration, cpu: f64, net: &Network, raw: u64) {
    let s = net.stats().snapshot();
    let wire = s.sync_bytes_in + s.sync_bytes_out;
    println!(
        "  caught up {count} manifests in {:.2} s ({:.0}/s); sync bytes {} (in {} + out {}) vs raw manifests {} = {:.3} x",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64(),
        wire,
        s.sync_bytes_in,
        s.sync_bytes_out,
        raw,
        wire as f64 / raw as f64
    );
    println!(
        "  this process used {cpu:.1} CPU seconds meanwhile ({:.2} cores), {:.0} µs a manifest",
        cpu / took.as_secs_f64(),
        cpu * 1e6 / count as f64
    );
}

/// A node over real TCP on 127.0.0.1 (as `lgmesh run` has), for the two-process runs.
fn loopback_config() -> NetConfig {
    let mut c = quiet_config();
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("tcp address")];
    c
}

/// The child of `catchup-loopback`: fills a node with `count` manifests, serves it over
/// TCP on 127.0.0.1, prints `listening ADDR`, and runs until its stdin closes.
async fn serve(dir: &Path, count: usize) -> Result<()> {
    let (batches, raw) = make_manifests(count);
    let d = dir.join("served");
    let registry = Arc::new(Registry::open(&d, Limits::default())?);
    let t = Instant::now();
    fill(&registry, batches).await?;
    let net = Network::start(
        keypair_from_seed(seed(0, 1))?,
        loopback_config(),
        TransportKind::Real,
        Arc::new(Intake::new(registry, Arc::new(Metrics::default()))),
    )
    .await?;
    let info = net.info().await?;
    let addr = info.listen.first().ok_or("no listen address")?;
    println!(
        "listening {addr} raw {raw} filled {:.1}",
        t.elapsed().as_secs_f64()
    );
    tokio::task::spawn_blocking(|| {
        let mut buf = String::new();
        let _ = std::io::stdin().read_line(&mut buf);
    })
    .await?;
    Ok(())
}

/// Catch-up as on two machines: the full node is another process (`serve`), reached
/// over TCP on 127.0.0.1 with Noise and Yamux, so the two stores share no lock.
async fn catchup_loopback(dir: &Path, count: usize) -> Result<()> {
    use std::io::BufRead;
    println!(
        "catchup-loopback: a new node joins another process that holds {count} manifests (TCP on 127.0.0.1)"
    );
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--manifests", &count.to_string(), "--dir"])
        .arg(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let line = {
        let out = child.stdout.take().ok_or("child stdout")?;
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(out)
                .read_line(&mut line)
                .map(|_| line)
        })
        .await??
    };
    let parts: Vec<&str> = line.split_whitespace().collect();
    let (Some(addr), Some(raw), Some(filled)) = (parts.get(1), parts.get(3), parts.get(5)) else {
        let _ = child.kill();
        return Err(format!("serve said {line:?}").into());
    };
    let raw: u64 = raw.parse()?;
    println!("  the other process filled its node in {filled} s");
    let addr: Multiaddr = addr.parse()?;
    let d = dir.join("joiner");
    let registry = Arc::new(Registry::open(&d, Limits::default())?);
    let net = Network::start(
        keypair_from_seed(seed(1, 1))?,
        loopback_config(),
        TransportKind::Real,
        Arc::new(Intake::new(registry.clone(), Arc::new(Metrics::default()))),
    )
    .await?;
    let (t0, cpu0) = (Instant::now(), cpu_secs());
    net.dial(addr).await?;
    let result = caught_up(&registry, count, t0).await;
    let cpu = cpu_secs() - cpu0;
    // The child stops when its stdin closes, whether or not the catch-up finished.
    drop(child.stdin.take());
    let _ = child.wait();
    report_catchup(count, result?, cpu, &net, raw);
    Ok(())
}

async fn reconcile(dir: &Path, count: usize, missing: usize) -> Result<()> {
    println!(
        "reconcile: {count} manifests; one node lacks the {missing} newest, then two nodes in sync"
    );
    let (batches, _) = make_manifests(count);
    let all: Vec<Vec<u8>> = batches.iter().flatten().cloned().collect();
    let a = start_node(dir, 0, quiet_config(), false).await?;
    fill(&a.registry, batches).await?;
    let keep = count.saturating_sub(missing);
    let missing_raw: u64 = all[keep..].iter().map(|e| e.len() as u64).sum();

    for (label, have, extra) in [("differing", keep, missing_raw), ("in sync", count, 0)] {
        let b = start_node(
            dir,
            if have == count { 2 } else { 1 },
            quiet_config(),
            false,
        )
        .await?;
        let part: Vec<Vec<Vec<u8>>> = all[..have].chunks(2000).map(|c| c.to_vec()).collect();
        fill(&b.registry, part).await?;
        // Each node loads its sync set from its head records at its first sync, once
        // per process; timed apart from the round, which is what the goals are about.
        for (who, reg) in [
            ("the full node's", &a.registry),
            ("this node's", &b.registry),
        ] {
            let (t, reg) = (Instant::now(), reg.clone());
            let n = tokio::task::spawn_blocking(move || reg.sync_len()).await??;
            if t.elapsed() > Duration::from_millis(1) {
                println!(
                    "  {who} sync set ({n} heads) loaded in {:.0} ms",
                    t.elapsed().as_secs_f64() * 1000.0
                );
            }
        }
        let t0 = Instant::now();
        b.net.dial(a.addr.clone()).await?;
        loop {
            let s = b.net.stats().snapshot();
            if s.syncs_completed + s.syncs_failed >= 1 {
                break;
            }
            if t0.elapsed() > Duration::from_secs(120) {
                return Err("reconciliation did not finish in 120 s".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let took = t0.elapsed();
        let s = b.net.stats().snapshot();
        let wire = s.sync_bytes_in + s.sync_bytes_out;
        println!(
            "  {label:<9} {} round trip(s), {} bytes on the wire, {} beyond the missing manifests ({} B), {:.0} ms, holds {}",
            s.sync_round_trips,
            wire,
            wire.saturating_sub(extra),
            extra,
            took.as_secs_f64() * 1000.0,
            b.registry.counts()?.heads
        );
        b.net.shutdown().await;
    }
    Ok(())
}
