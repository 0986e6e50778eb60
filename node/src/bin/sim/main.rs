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
//!
//! | module | holds |
//! | --- | --- |
//! | `harness` | what every run shares: a node, its configs, seeds, manifests, CPU time |
//! | `propagate` | push: lgmesh against bare gossipsub on the same topology |
//! | `catchup` | a new node catching up: in one process, with liars, across two |
//! | `reconcile` | one sync round, with the newest manifests missing and in sync |
//!
//! Here: the arguments, the allocator and `main`.

/// The node's allocator (see `node/src/main.rs`), so that the figures are the node's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod catchup;
mod harness;
mod propagate;
mod reconcile;

use std::path::PathBuf;
use std::time::Duration;

use catchup::{catchup, catchup_liars, catchup_loopback, serve};
use harness::MAX_PEERS;
use propagate::{JOIN_MS, SETTLE_MS, propagate};
use reconcile::reconcile;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

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
