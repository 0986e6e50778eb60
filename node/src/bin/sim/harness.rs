//! What every run shares: a node started over the memory transport with its store and
//! intake, the configs it runs with, deterministic seeds, keys and topology, manifests
//! made and written in bulk, and the process's CPU time.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lgmesh::intake::Intake;
use lgmesh::metrics::Metrics;
use lgmesh_net::{Multiaddr, NetConfig, Network, TransportKind, keypair_from_seed};
use lgmesh_protocol::envelope::UnsignedManifest;
use lgmesh_protocol::identity::SecretKey;
use lgmesh_protocol::sample;
use lgmesh_protocol::validate::Limits;
use lgmesh_registry::Registry;

use crate::Result;

pub(crate) const NETWORK: &str = "sim";

/// A small deterministic PRNG (xorshift64*), so both stacks get the same topology.
pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Each node dials `degree` distinct earlier nodes: a connected random graph.
pub(crate) fn topology(n: usize, degree: usize) -> Vec<(usize, usize)> {
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

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn seed(i: u64, salt: u8) -> [u8; 32] {
    let mut s = [salt; 32];
    s[..8].copy_from_slice(&i.to_le_bytes());
    s
}

pub(crate) struct SimNode {
    pub(crate) net: Network,
    pub(crate) registry: Arc<Registry>,
    pub(crate) intake: Arc<Intake>,
    pub(crate) addr: Multiaddr,
}

pub(crate) async fn start_node(
    dir: &Path,
    i: usize,
    cfg: NetConfig,
    search: bool,
) -> Result<SimNode> {
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

/// `--max-peers`: each lgmesh node's `network.max_peers` (0: the default). Its
/// `target_peers` stays the default unless that is larger.
pub(crate) static MAX_PEERS: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

pub(crate) fn sim_config() -> NetConfig {
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

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// CPU time (user + system) this process has used, in seconds (Linux; 0 elsewhere).
pub(crate) fn cpu_secs() -> f64 {
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

/// `count` manifests from 500 publishers, in batches, with their total size.
pub(crate) fn make_manifests(count: usize) -> (Vec<Vec<Vec<u8>>>, u64) {
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

pub(crate) fn quiet_config() -> NetConfig {
    let mut c = sim_config();
    c.gossip = false;
    c
}

pub(crate) async fn fill(reg: &Arc<Registry>, batches: Vec<Vec<Vec<u8>>>) -> Result<()> {
    let reg = reg.clone();
    tokio::task::spawn_blocking(move || lgmesh::intake::write_pipelined(&reg, batches, now_ms()))
        .await??;
    Ok(())
}
