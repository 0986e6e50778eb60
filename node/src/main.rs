//! `lgmesh`: run a node and talk to it. The commands are the library's ([`lgmesh::cli`]);
//! this is the process around them: allocator, logs, runtime and exit code.

/// mimalloc, built with its arenas committed as they are used (see `.cargo/config.toml`):
/// sled copies a tree node for every key it writes, and glibc's malloc spent a fifth of
/// a catch-up in allocation and kept the freed memory (BENCHMARKS-HISTORY.md, "the
/// allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;
use lgmesh::cli::{self, Cli, Command};
use lgmesh::datadir::DataDir;

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
    let dir = DataDir(cli.data_dir);
    let result = rt.block_on(cli.command.execute(&dir));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli::one_line(&e));
            ExitCode::FAILURE
        }
    }
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
