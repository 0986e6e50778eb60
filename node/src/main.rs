//! `lgmesh`: run a node and talk to it.
//!
//! Every command takes `--data-dir` (default `./lgmesh-data`, or `$LGMESH_DATA_DIR`).
//! Commands other than `init`, `run` and `check` talk to the running node over gRPC; they
//! find it through `<data-dir>/node.json`, which `run` writes.

/// mimalloc, built with its arenas committed as they are used (see `.cargo/config.toml`):
/// sled copies a tree node for every key it writes, and glibc's malloc spent a fifth of
/// a catch-up in allocation and kept the freed memory (BENCHMARKS.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use lgmesh::{cli, datadir, server};

/// lgmesh: a federated catalogue of shared public-sector services and datasets.
#[derive(Parser)]
#[command(name = "lgmesh", version, about, long_about = None)]
struct Cli {
    /// The node's data directory (keys, config, store).
    #[arg(
        long,
        global = true,
        env = "LGMESH_DATA_DIR",
        default_value = "lgmesh-data"
    )]
    data_dir: PathBuf,
    /// Log as JSON lines instead of text.
    #[arg(long, global = true, env = "LGMESH_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the data dir: publisher key, node key, admin token, config and org card.
    Init(cli::InitArgs),
    /// Run the node: gRPC API, health and metrics. Initialises a development identity
    /// in an empty data dir.
    Run(RunArgs),
    /// Publish (or update) a service or dataset from a TOML manifest, or a UK metadata
    /// model record in YAML or JSON.
    Publish(cli::PublishArgs),
    /// Check a file without publishing it (any UK model class: DataService, Dataset,
    /// Distribution, ContactPoint).
    Check(cli::CheckArgs),
    /// Withdraw one of this node's manifests.
    Retract(cli::RetractArgs),
    /// Search the catalogue.
    Search(cli::SearchArgs),
    /// Show one manifest: by id, PUBLISHER/NAME, or NAME (this node's).
    Show(cli::ShowArgs),
    /// Every version of a manifest, newest first.
    History(cli::ShowArgs),
    /// The running node's identity and addresses.
    Info(cli::OutputArgs),
    /// The running node's counters.
    Stats(cli::OutputArgs),
    /// The peers the running node is connected to.
    Peers(cli::OutputArgs),
    /// Connect the running node to a peer: a multiaddr ending in /p2p/<peer id>.
    Dial(cli::DialArgs),
    /// Print manifests as the running node receives them, until Ctrl-C.
    Watch(cli::WatchArgs),
    /// Whom this node trusts: add, remove, show, list.
    #[command(subcommand)]
    Trust(cli::TrustCommand),
    /// Publish an endorsement: vouch that a key belongs to an organisation.
    Endorse(cli::EndorseArgs),
    /// Publish that your organisation uses a service: PUBLISHER/NAME.
    Adopt(cli::AdoptArgs),
    /// Publish a need: a problem you want solved, by LGSL code and text.
    Need(cli::NeedArgs),
    /// Publish a revocation: a key (yours or another's) is compromised.
    Revoke(cli::RevokeArgs),
    /// Manage this organisation's publisher key.
    #[command(subcommand)]
    Keys(cli::KeysCommand),
    /// Start a local demo federation of real councils on this machine and keep it running.
    Demo(lgmesh::demo::DemoArgs),
}

/// `lgmesh run` flags. Each overrides `lgmesh.toml`.
#[derive(Args)]
struct RunArgs {
    /// gRPC listen address (port 0 picks a free port).
    #[arg(long, env = "LGMESH_GRPC_ADDR")]
    grpc_addr: Option<String>,
    /// HTTP listen address for /healthz, /readyz, /metrics (port 0 picks a free port).
    #[arg(long, env = "LGMESH_HTTP_ADDR")]
    http_addr: Option<String>,
    /// Allow a non-loopback gRPC address without TLS.
    #[arg(long, env = "LGMESH_ALLOW_REMOTE_GRPC")]
    allow_remote_grpc: bool,
    /// libp2p listen multiaddr, e.g. /ip4/0.0.0.0/tcp/4001 (repeatable; port 0 picks a
    /// free port). Replaces network.listen.
    #[arg(long, value_name = "MULTIADDR")]
    listen: Vec<String>,
    /// A peer to join through, ending in /p2p/<peer id> (repeatable). Added to
    /// network.bootstrap.
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<String>,
    /// The network (federation) name; part of every protocol id.
    #[arg(long, env = "LGMESH_NETWORK")]
    network: Option<String>,
    /// Discover peers on the local network with mDNS.
    #[arg(long)]
    mdns: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_json, matches!(cli.command, Command::Run(_)));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dir = datadir::DataDir(cli.data_dir);
    let result = rt.block_on(async move {
        match cli.command {
            Command::Init(a) => cli::init(&dir, a).await,
            Command::Run(a) => run(dir, a).await,
            Command::Publish(a) => cli::publish(&dir, a).await,
            Command::Check(a) => cli::check(&dir, a),
            Command::Retract(a) => cli::retract(&dir, a).await,
            Command::Search(a) => cli::search(&dir, a).await,
            Command::Show(a) => cli::show(&dir, a).await,
            Command::History(a) => cli::history(&dir, a).await,
            Command::Info(a) => cli::info(&dir, a).await,
            Command::Stats(a) => cli::stats(&dir, a).await,
            Command::Peers(a) => cli::peers(&dir, a).await,
            Command::Dial(a) => cli::dial(&dir, a).await,
            Command::Watch(a) => cli::watch(&dir, a).await,
            Command::Trust(c) => cli::trust(&dir, c).await,
            Command::Endorse(a) => cli::endorse(&dir, a).await,
            Command::Adopt(a) => cli::adopt(&dir, a).await,
            Command::Need(a) => cli::need(&dir, a).await,
            Command::Revoke(a) => cli::revoke(&dir, a).await,
            Command::Keys(c) => cli::keys(&dir, c).await,
            Command::Demo(a) => lgmesh::demo::run(a).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli::one_line(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(dir: datadir::DataDir, a: RunArgs) -> anyhow::Result<()> {
    if !dir.is_initialised() {
        cli::init_development(&dir)?;
    }
    let mut config = dir.load_config()?;
    if let Some(g) = a.grpc_addr {
        config.grpc.addr = g;
    }
    if let Some(h) = a.http_addr {
        config.http.addr = h;
    }
    config.grpc.allow_remote |= a.allow_remote_grpc;
    if !a.listen.is_empty() {
        config.network.listen = a.listen;
    }
    config.network.bootstrap.extend(a.bootstrap);
    if let Some(n) = a.network {
        config.network.name = n;
    }
    config.network.mdns |= a.mdns;
    server::run(server::RunOptions { dir, config }).await
}

fn init_logging(json: bool, verbose: bool) {
    use tracing_subscriber::EnvFilter;
    // Kademlia warns when it has no peers to start a lookup with, as a node without
    // bootstrap peers always has at first; `run` says that in words of its own.
    let default = if verbose {
        "info,libp2p_kad::behaviour=error"
    } else {
        "warn,libp2p_kad::behaviour=error"
    };
    let filter = EnvFilter::try_from_env("LGMESH_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}
