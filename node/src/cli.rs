//! The `lgmesh` commands. Every one takes `--data-dir` (default `./lgmesh-data`, or
//! `$LGMESH_DATA_DIR`) and prints text for people, or JSON (`--json`) for scripts.
//!
//! | module | holds |
//! | --- | --- |
//! | [`args`] | what each command takes: the clap definitions, and so `--help` |
//! | [`offline`] | the commands that need no running node: `init`, `run`, `check`, `keys` |
//! | [`client`] | the commands that talk to the running node over gRPC (its admin socket) |
//!
//! Here: running a command, reading the documents `publish` and `check` take, and
//! writing output and errors safely to a terminal.

pub mod args;
pub mod client;
pub mod offline;
pub mod progress;

pub use args::{Cli, Command};

use anyhow::{Context, Result, anyhow, bail};
use lgmesh_protocol::document::{self, Format};

use crate::datadir::DataDir;

impl Command {
    /// Runs the command on the data dir `dir`.
    pub async fn execute(self, dir: &DataDir) -> Result<()> {
        match self {
            Command::Init(a) => offline::init(dir, a).await,
            Command::Run(a) => offline::run(dir, a).await,
            Command::Publish(a) => client::publish(dir, a).await,
            Command::Check(a) => offline::check(dir, a),
            Command::Retract(a) => client::retract(dir, a).await,
            Command::Search(a) => client::search(dir, a).await,
            Command::Show(a) => client::show(dir, a).await,
            Command::History(a) => client::history(dir, a).await,
            Command::Info(a) => client::info(dir, a).await,
            Command::Stats(a) => client::stats(dir, a).await,
            Command::Peers(a) => client::peers(dir, a).await,
            Command::Dial(a) => client::dial(dir, a).await,
            Command::Watch(a) => client::watch(dir, a).await,
            Command::Trust(c) => client::trust(dir, c).await,
            Command::Endorse(a) => client::endorse(dir, a).await,
            Command::Adopt(a) => client::adopt(dir, a).await,
            Command::Need(a) => client::need(dir, a).await,
            Command::Revoke(a) => client::revoke(dir, a).await,
            Command::Keys(c) => offline::keys(dir, c).await,
            Command::Export(a) => client::export(dir, a).await,
            Command::Demo(a) => crate::demo::run(a).await,
            Command::Doctor(a) => client::doctor(dir, a).await,
            Command::Backup(a) => client::backup(dir, a).await,
            Command::Restore(a) => offline::restore(dir, a).await,
            Command::Completions(a) => offline::completions(a),
            Command::Man(a) => offline::man(a),
        }
    }
}

/// Writes command output to stdout (see `out!`). A closed pipe ends the process with
/// success; any other failure to write ends it with an error, naming stdout.
///
/// Everything printed passes through [`terminal_safe`]: what the node returns comes from
/// peers and files, and a control character in it (ESC, BEL, CR) or a bidi override
/// would act on the reader's terminal or disguise the line.
#[doc(hidden)]
pub fn emit(args: std::fmt::Arguments) {
    use std::io::Write;
    let text = args.to_string();
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(terminal_safe(&text).as_bytes()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Output for a terminal: every control character but line breaks and tabs, and every
/// invisible formatting character, written as an escape (`\u001b`). JSON output stays
/// valid JSON: these characters only ever occur inside its strings, where the escape
/// means the same.
pub fn terminal_safe(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\r') {
        return lgmesh_protocol::schema::escape_unsafe(s, true);
    }
    std::borrow::Cow::Owned(
        lgmesh_protocol::schema::escape_unsafe(s, true).replace('\r', "\\u000d"),
    )
}

/// The first line of an error chain, for a one-line CLI message (safe for a terminal:
/// it may quote what a peer or a file holds).
pub fn one_line(e: &anyhow::Error) -> String {
    let s = match e.downcast_ref::<tonic::Status>() {
        Some(s) => status_line(s),
        None => {
            let mut s = e.to_string();
            for cause in e.chain().skip(1) {
                s += &format!(": {cause}");
            }
            s
        }
    };
    lgmesh_protocol::schema::escape_unsafe(&s.replace('\n', " "), false).into_owned()
}

fn status_line(s: &tonic::Status) -> String {
    use tonic::Code::*;
    let what = match s.code() {
        InvalidArgument => "invalid",
        FailedPrecondition => "refused",
        NotFound => "not found",
        Unauthenticated => "not allowed",
        Unavailable => "unavailable",
        _ => "failed",
    };
    let m = s.message();
    let hint = if m.contains("h2 protocol error")
        || m == "transport error"
        || m == "operation was canceled"
    {
        // What hyper says when a TLS server hangs up on a client speaking in clear
        // (which of the three depends on timing).
        " (the node closed the connection; if it serves TLS there, use --grpc https://HOST:PORT)"
    } else {
        ""
    };
    format!("{what}: {}{hint}", s.message())
}

/// A document's format: `--format` if given, else the file's extension. Here because
/// both `publish` (a client command) and `check` (an offline one) read documents.
fn format_of(path: &str, explicit: Option<&str>) -> Result<Format> {
    match explicit {
        Some(f) => {
            Format::from_name(f).ok_or_else(|| anyhow!("--format: {f:?} is not toml, yaml or json"))
        }
        None => Format::from_path(path).ok_or_else(|| {
            anyhow!(
                "{path}: cannot tell the format from the extension; use --format toml|yaml|json"
            )
        }),
    }
}

/// A document's text, refusing a file over the size any node would accept before
/// reading it.
fn read_doc(path: &str) -> Result<String> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {path}"))?;
    if meta.len() > document::MAX_DOCUMENT_BYTES as u64 {
        bail!(
            "{path}: {} bytes is over the limit of {}",
            meta.len(),
            document::MAX_DOCUMENT_BYTES
        );
    }
    if !meta.is_file() {
        bail!("{path}: not a regular file");
    }
    // Bounded as read too: the file may grow between the two looks.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(
            std::fs::File::open(path).with_context(|| format!("cannot read {path}"))?,
            document::MAX_DOCUMENT_BYTES as u64 + 1,
        ),
        &mut bytes,
    )
    .with_context(|| format!("cannot read {path}"))?;
    if bytes.len() > document::MAX_DOCUMENT_BYTES {
        bail!(
            "{path}: over the limit of {} bytes",
            document::MAX_DOCUMENT_BYTES
        );
    }
    String::from_utf8(bytes).map_err(|_| anyhow!("cannot read {path} as UTF-8 text"))
}
