//! What each command takes: the clap definitions, whose doc comments are the `--help`
//! text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// lgmesh: a federated catalogue of shared public-sector services and datasets.
#[derive(Parser)]
#[command(name = "lgmesh", version, about, long_about = None)]
pub struct Cli {
    /// The node's data directory (keys, config, store).
    #[arg(
        long,
        global = true,
        env = "LGMESH_DATA_DIR",
        default_value = "lgmesh-data"
    )]
    pub data_dir: PathBuf,
    /// Log as JSON lines instead of text.
    #[arg(long, global = true, env = "LGMESH_LOG_JSON")]
    pub log_json: bool,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands, in the order `lgmesh --help` lists them; [`Command::execute`] runs one.
#[derive(Subcommand)]
pub enum Command {
    /// Create the data dir: publisher key, node key, admin token, config and org card.
    Init(InitArgs),
    /// Run the node: gRPC API, health and metrics. Initialises a development identity
    /// in an empty data dir.
    Run(RunArgs),
    /// Publish (or update) a service or dataset from a TOML manifest, or a UK metadata
    /// model record in YAML or JSON.
    Publish(PublishArgs),
    /// Check a file without publishing it (any UK model class: DataService, Dataset,
    /// Distribution, ContactPoint).
    Check(CheckArgs),
    /// Withdraw one of this node's manifests.
    Retract(RetractArgs),
    /// Search the catalogue.
    Search(SearchArgs),
    /// Show one manifest: by id, PUBLISHER/NAME, or NAME (this node's).
    Show(ShowArgs),
    /// Every version of a manifest, newest first.
    History(ShowArgs),
    /// The running node's identity and addresses.
    Info(OutputArgs),
    /// The running node's counters.
    Stats(OutputArgs),
    /// The peers the running node is connected to.
    Peers(OutputArgs),
    /// Connect the running node to a peer: a multiaddr ending in /p2p/<peer id>.
    Dial(DialArgs),
    /// Print manifests as the running node receives them, until Ctrl-C.
    Watch(WatchArgs),
    /// Whom this node trusts: add, remove, show, list.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Publish an endorsement: vouch that a key belongs to an organisation.
    Endorse(EndorseArgs),
    /// Publish that your organisation uses a service: PUBLISHER/NAME.
    Adopt(AdoptArgs),
    /// Publish a need: a problem you want solved, by LGSL code and text.
    Need(NeedArgs),
    /// Publish a revocation: a key (yours or another's) is compromised.
    Revoke(RevokeArgs),
    /// Manage this organisation's publisher key.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write the catalogue in an open format from a running node (dcat: DCAT-AP 3 JSON-LD;
    /// ukgov: UK metadata model records in YAML).
    Export(ExportArgs),
    /// Start a local demo federation of real councils on this machine and keep it running.
    Demo(crate::demo::DemoArgs),
    /// Check this node's set-up and say what to do about each problem: the config, key
    /// permissions, ports, TLS certificate, store, disk space, bootstrap peers, clock
    /// and domain proof. Exit code 0 (all well), 1 (warnings) or 2 (errors).
    Doctor(DoctorArgs),
    /// Write a consistent copy of the node's store to FILE: through the running node, or
    /// from the data dir when no node runs. Back up the keys apart (`lgmesh keys`).
    Backup(BackupArgs),
    /// Make a stopped node's store from a backup made by `lgmesh backup`. The data dir
    /// must have no store yet (move the old one aside).
    Restore(RestoreArgs),
    /// Print the shell completion script for SHELL, e.g.
    /// `lgmesh completions bash > /etc/bash_completion.d/lgmesh`.
    Completions(CompletionsArgs),
    /// Write the manual pages (roff): lgmesh.1 to standard output, or, with --out DIR,
    /// lgmesh.1 and one page per command (lgmesh-run.1, …) into DIR.
    Man(ManArgs),
}

/// `lgmesh doctor`.
#[derive(Args)]
pub struct DoctorArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `lgmesh backup`.
#[derive(Args)]
pub struct BackupArgs {
    /// The file to write; it must not exist. Made with mode 0600.
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `lgmesh restore`.
#[derive(Args)]
pub struct RestoreArgs {
    /// A file written by `lgmesh backup`.
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `lgmesh completions`.
#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `lgmesh man`.
#[derive(Args)]
pub struct ManArgs {
    /// A directory to write every page into (created if missing).
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// What `lgmesh export` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// DCAT-AP 3 JSON-LD of every live service and dataset (what /catalog.jsonld serves,
    /// all pages in one document), for data.gov.uk- and CKAN-style harvesters.
    Dcat,
    /// the UK Cross-Government Metadata Exchange Model: one YAML record per live service
    /// (DataService) and dataset (Dataset), written into the directory given with --out.
    Ukgov,
}

/// `lgmesh export`.
#[derive(Args)]
pub struct ExportArgs {
    /// The format.
    #[arg(value_enum)]
    pub format: ExportFormat,
    /// Write to this file instead of standard output. For ukgov, required: a new or empty
    /// directory, which gets one file per record, <organisation>--<name>--<hash>.yaml.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Where the node is.
    #[command(flatten)]
    pub node: OutputArgs,
}

/// `lgmesh run` flags. Each overrides `lgmesh.toml`.
#[derive(Args)]
pub struct RunArgs {
    /// gRPC listen address (port 0 picks a free port).
    #[arg(long, env = "LGMESH_GRPC_ADDR")]
    pub grpc_addr: Option<String>,
    /// HTTP listen address for the web interface, /healthz, /readyz and /metrics (port 0
    /// picks a free port).
    #[arg(long, env = "LGMESH_HTTP_ADDR")]
    pub http_addr: Option<String>,
    /// Serve gRPC in clear beyond loopback, without TLS: only behind a proxy that
    /// terminates TLS.
    #[arg(long, env = "LGMESH_ALLOW_REMOTE_GRPC")]
    pub allow_remote_grpc: bool,
    /// Serve HTTP in clear beyond loopback, without TLS: only behind a proxy that
    /// terminates TLS.
    #[arg(long, env = "LGMESH_ALLOW_REMOTE_HTTP")]
    pub allow_remote_http: bool,
    /// PEM certificate chain that gRPC and HTTP serve beyond loopback. Replaces
    /// tls.cert_file.
    #[arg(long, env = "LGMESH_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<String>,
    /// PEM private key of --tls-cert. Replaces tls.key_file.
    #[arg(long, env = "LGMESH_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<String>,
    /// libp2p listen multiaddr, e.g. /ip4/0.0.0.0/tcp/4001 (repeatable; port 0 picks a
    /// free port). Replaces network.listen.
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// A peer to join through, ending in /p2p/<peer id> (repeatable). Added to
    /// network.bootstrap.
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// The network (federation) name; part of every protocol id.
    #[arg(long, env = "LGMESH_NETWORK")]
    pub network: Option<String>,
    /// Discover peers on the local network with mDNS.
    #[arg(long)]
    pub mdns: bool,
    /// Run as an observer: sync and serve everything, publish nothing, no organisation
    /// key needed. In an empty data dir, makes an observer's (no development identity).
    #[arg(long, env = "LGMESH_OBSERVER")]
    pub observer: bool,
}

/// `--json`.
#[derive(Args, Default)]
pub struct OutputArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The node's gRPC address: 127.0.0.1:7420 in clear (this machine only), or
    /// https://HOST:PORT over TLS (default: the admin socket <data-dir>/admin.sock).
    /// Writes over it send the admin token (LGMESH_TOKEN, or <data-dir>/admin.token),
    /// which is never sent in clear to another machine.
    #[arg(long, env = "LGMESH_GRPC")]
    pub grpc: Option<String>,
    /// PEM file of the CA certificate(s) that signed the node's TLS certificate, for
    /// --grpc https://HOST:PORT (default: the system's CA certificates).
    #[arg(long, env = "LGMESH_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

/// `lgmesh init`.
#[derive(Args)]
pub struct InitArgs {
    /// Organisation id, scheme:value, e.g. gss:E07000209 (ONS GSS code).
    #[arg(long, required_unless_present = "observer")]
    pub org: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The organisation's official name, e.g. "Guildford Borough Council".
    #[arg(long, required_unless_present = "observer")]
    pub name: Option<String>,
    /// county, district, unitary, london-borough, metropolitan-district, scottish-council,
    /// welsh-council, ni-council, parish-town, combined-authority, third-sector, central, other.
    #[arg(long = "type", default_value = "")]
    pub org_type: String,
    /// Homepage, e.g. https://www.guildford.gov.uk.
    #[arg(long, default_value = "")]
    pub website: String,
    /// Contact email for the organisation's manifests.
    #[arg(long, default_value = "")]
    pub contact_email: String,
    /// An observer's data dir: the node syncs and serves everything and speaks for no
    /// organisation, so it has no organisation key and publishes nothing.
    #[arg(long, conflicts_with_all = ["org", "name", "org_type", "website", "contact_email"])]
    pub observer: bool,
}

/// `lgmesh publish`.
#[derive(Args)]
pub struct PublishArgs {
    /// The file: .toml (lgmesh manifest), .yaml/.yml or .json (UK metadata model record).
    pub file: String,
    /// Publish under this name instead of the file's `name` (or its identifier's slug).
    #[arg(long)]
    pub name: Option<String>,
    /// The file's format when its extension does not say: toml, yaml or json.
    #[arg(long)]
    pub format: Option<String>,
    /// Where the node is, and how to print.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `lgmesh check`.
#[derive(Args)]
pub struct CheckArgs {
    /// The file to check.
    pub file: String,
    /// toml, yaml or json, when the extension does not say.
    #[arg(long)]
    pub format: Option<String>,
    /// Print JSON instead of text (an invalid file is still an error, on stderr).
    #[arg(long)]
    pub json: bool,
}

/// `lgmesh retract`.
#[derive(Args)]
pub struct RetractArgs {
    /// The name of one of this node's manifests.
    pub name: String,
    /// Why (shown to everyone).
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Where the node is, and how to print.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// The filters `search` and `watch` share: what a manifest must match. Every filter
/// given must match; none given matches everything.
#[derive(Args)]
pub struct FilterArgs {
    /// LGSL code, e.g. 524.
    #[arg(long)]
    pub lgsl: Option<u32>,
    /// GSS area code, e.g. E07000209.
    #[arg(long)]
    pub area: Option<String>,
    /// service, dataset, org, need or retraction; endorsement, adoption, key-rotation or
    /// revocation (records of trust and reuse, listed only when asked for).
    #[arg(long)]
    pub kind: Option<String>,
    /// Publisher's organisation id, e.g. gss:E07000209.
    #[arg(long)]
    pub org: Option<String>,
    /// Service status, e.g. LIVE.
    #[arg(long)]
    pub status: Option<String>,
    /// A standard it conforms to (a URI or a name, matched whole, ignoring case), e.g.
    /// https://www.openreferraluk.org/.
    #[arg(long)]
    pub standard: Option<String>,
    /// Only services and adoptions that answer a need: NEED as did:key:…/name, a
    /// publisher's did:key for any of its needs, or "mine" for this node's needs.
    #[arg(long, value_name = "NEED")]
    pub answers: Option<String>,
    /// Only publishers this node verifies.
    #[arg(long)]
    pub verified_only: bool,
}

/// `lgmesh search`.
#[derive(Args)]
pub struct SearchArgs {
    /// Free text (title, summary, description, keywords).
    pub text: Vec<String>,
    /// What the manifests must match.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Results per page (1-100).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Continue from a previous page's cursor.
    #[arg(long)]
    pub cursor: Option<String>,
    /// Include retracted names.
    #[arg(long)]
    pub include_retracted: bool,
    /// Include manifests past their expiry.
    #[arg(long)]
    pub include_expired: bool,
    /// Where the node is, and how to print.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `lgmesh dial`.
#[derive(Args)]
pub struct DialArgs {
    /// A multiaddr, e.g. /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW… (see `lgmesh info` on the other node).
    pub addr: String,
    /// Where the node is, and how to print.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `lgmesh watch`.
#[derive(Args)]
pub struct WatchArgs {
    /// Words that must all appear (title, summary, description, keywords).
    pub text: Vec<String>,
    /// What the manifests must match.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Include retractions: those that match the filters, and those withdrawing a
    /// version that did (so `--lgsl 524 --include-retracted` shows a 524 service being
    /// withdrawn).
    #[arg(long)]
    pub include_retracted: bool,
    /// Where the node is, and how to print.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `lgmesh trust`.
#[derive(clap::Subcommand)]
pub enum TrustCommand {
    /// Trust a publisher key directly, for an organisation (local to this node).
    Add {
        /// The key, did:key:z6Mk…
        publisher: String,
        /// The organisation it belongs to, e.g. gss:E07000209.
        #[arg(long)]
        org: String,
        /// Where the node is, and how to print.
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Stop trusting a key directly (endorsements may still verify it).
    Remove {
        /// The key, did:key:z6Mk…
        publisher: String,
        /// Where the node is, and how to print.
        #[command(flatten)]
        out: OutputArgs,
    },
    /// How this node judges one key: state, reason, endorsements, rival claims.
    Show {
        /// The key, did:key:z6Mk…
        publisher: String,
        /// Where the node is, and how to print.
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Check a key's domain proof now: fetch /.well-known/lgmesh.json from the website
    /// on its org card and say what other nodes will find. Defaults to this node's key.
    Check {
        /// The key, did:key:z6Mk… (default: this node's own).
        publisher: Option<String>,
        /// Where the node is, and how to print.
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Every key this node knows, with its state.
    List {
        /// Only keys in this state: verified, unverified or conflicting.
        #[arg(long)]
        state: Option<String>,
        /// Where the node is, and how to print.
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// `lgmesh endorse`.
#[derive(Args)]
pub struct EndorseArgs {
    /// The key to vouch for, did:key:z6Mk…
    pub publisher: String,
    /// The organisation it belongs to, e.g. gss:E07000209.
    #[arg(long)]
    pub org: String,
    /// How you checked, e.g. "confirmed by phone with their digital team".
    #[arg(long, default_value = "")]
    pub note: String,
    /// Where the node is, and how to print.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `lgmesh revoke`.
#[derive(Args)]
pub struct RevokeArgs {
    /// The compromised key, did:key:z6Mk… (this node's own, or another organisation's).
    pub publisher: String,
    /// Why (shown to everyone).
    #[arg(long)]
    pub reason: String,
    /// From when it is compromised, Unix milliseconds (default: now). Everything the key
    /// signed from then on is refused.
    #[arg(long)]
    pub since_ms: Option<u64>,
    /// Where the node is, and how to print.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `lgmesh keys`.
#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Replace the organisation's publisher key with a new one (the node must be
    /// stopped). Every current manifest is re-signed by the new key, the old names are
    /// retracted, and a key rotation signed by both keys tells other nodes to trust the
    /// new key as they trusted the old one.
    Rotate(KeysRotateArgs),
    /// Write the data dir's keys, admin token and config to FILE, encrypted under a
    /// passphrase (the age format: `age -d FILE` also opens it). Needs no running node.
    Export(KeysExportArgs),
    /// Write the keys, admin token and config from a backup made by `keys export` into
    /// the data dir (made if missing). Never replaces a file that differs.
    Import(KeysImportArgs),
}

/// `lgmesh keys rotate`.
#[derive(Args)]
pub struct KeysRotateArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `lgmesh keys export`.
#[derive(Args)]
pub struct KeysExportArgs {
    /// The file to write; it must not exist. Made with mode 0600.
    pub file: PathBuf,
    /// How to get the passphrase.
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `lgmesh keys import`.
#[derive(Args)]
pub struct KeysImportArgs {
    /// A file written by `lgmesh keys export` (or by `age -p` from such a file's text).
    pub file: PathBuf,
    /// How to get the passphrase.
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Where the passphrase comes from: the terminal, without echo, by default.
#[derive(Args)]
pub struct PassphraseArgs {
    /// Read the passphrase from this file (its one line) instead of asking on the
    /// terminal, for scripts. Only its owner may read it (chmod 600). Export asks for
    /// at least 12 characters.
    #[arg(long, value_name = "PATH")]
    pub passphrase_file: Option<PathBuf>,
}

/// `lgmesh adopt`.
#[derive(Args)]
pub struct AdoptArgs {
    /// The service or dataset: PUBLISHER/NAME (did:key:…/name).
    pub service: String,
    /// The manifest version you use (default: the current one).
    #[arg(long)]
    pub version: Option<u64>,
    /// Free text, e.g. "live since April for bin day lookups".
    #[arg(long, default_value = "")]
    pub note: String,
    /// A need this adoption answers, as did:key:…/name (repeatable): the need's poster
    /// hears of it.
    #[arg(long, value_name = "NEED")]
    pub answers: Vec<String>,
    /// Where the node is, and how to print.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `lgmesh need`.
#[derive(Args)]
pub struct NeedArgs {
    /// What is needed, e.g. "Bulky waste collection booking".
    pub title: Vec<String>,
    /// LGSL code (repeatable), e.g. 863.
    #[arg(long, required = true)]
    pub lgsl: Vec<u32>,
    /// GSS area code where it is needed (repeatable).
    #[arg(long)]
    pub area: Vec<String>,
    /// More detail.
    #[arg(long, default_value = "")]
    pub description: String,
    /// The manifest name (default: a slug of the title).
    #[arg(long)]
    pub name: Option<String>,
    /// Where the node is, and how to print.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `lgmesh show` / `lgmesh history`.
#[derive(Args)]
pub struct ShowArgs {
    /// A manifest id (64 hex), PUBLISHER/NAME (did:key:…/name), or NAME (this node's).
    pub what: String,
    /// Where the node is, and how to print.
    #[command(flatten)]
    pub out: OutputArgs,
}
