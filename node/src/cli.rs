//! The client commands: each reads the data dir, talks to the running node over gRPC,
//! and prints text for people or JSON (`--json`) for scripts.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use lgmesh_proto::v1::{self, node_client::NodeClient, registry_client::RegistryClient};
use lgmesh_protocol::document::{self, Defaults, Format};
use lgmesh_protocol::identity::OrgId;
use serde_json::json;
use tonic::transport::Channel;

use crate::config::{self, DataDir, InitOptions};
use crate::view;

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

/// `--json`.
#[derive(Args)]
pub struct OutputArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The node's gRPC address, e.g. 127.0.0.1:7420 (default: the admin socket
    /// <data-dir>/admin.sock). Writes over it send the admin token (LGMESH_TOKEN, or
    /// <data-dir>/admin.token).
    #[arg(long, env = "LGMESH_GRPC")]
    pub grpc: Option<String>,
}

/// `lgmesh init`.
#[derive(Args)]
pub struct InitArgs {
    /// Organisation id, scheme:value, e.g. gss:E07000209 (ONS GSS code).
    #[arg(long)]
    pub org: String,
    /// The organisation's official name, e.g. "Guildford Borough Council".
    #[arg(long)]
    pub name: String,
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
}

/// `lgmesh retract`.
#[derive(Args)]
pub struct RetractArgs {
    /// The name of one of this node's manifests.
    pub name: String,
    /// Why (shown to everyone).
    #[arg(long, default_value = "")]
    pub reason: String,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `lgmesh search`.
#[derive(Args)]
pub struct SearchArgs {
    /// Free text (title, summary, description, keywords).
    pub text: Vec<String>,
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
    /// Results per page (1-100).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Continue from a previous page's cursor.
    #[arg(long)]
    pub cursor: Option<String>,
    /// Include retracted names.
    #[arg(long)]
    pub include_retracted: bool,
    /// Only publishers this node verifies.
    #[arg(long)]
    pub verified_only: bool,
    /// Include manifests past their expiry.
    #[arg(long)]
    pub include_expired: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `lgmesh dial`.
#[derive(Args)]
pub struct DialArgs {
    /// A multiaddr, e.g. /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW… (see `lgmesh info` on the other node).
    pub addr: String,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `lgmesh watch`.
#[derive(Args)]
pub struct WatchArgs {
    /// Words that must all appear (title, summary, description, keywords).
    pub text: Vec<String>,
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
    /// Include retractions: those that match the filters, and those withdrawing a
    /// version that did (so `--lgsl 524 --include-retracted` shows a 524 service being
    /// withdrawn).
    #[arg(long)]
    pub include_retracted: bool,
    /// Only publishers this node verifies.
    #[arg(long)]
    pub verified_only: bool,
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
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Stop trusting a key directly (endorsements may still verify it).
    Remove {
        /// The key, did:key:z6Mk…
        publisher: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// How this node judges one key: state, reason, endorsements, rival claims.
    Show {
        /// The key, did:key:z6Mk…
        publisher: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Check a key's domain proof now: fetch /.well-known/lgmesh.json from the website
    /// on its org card and say what other nodes will find. Defaults to this node's key.
    Check {
        /// The key, did:key:z6Mk… (default: this node's own).
        publisher: Option<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Every key this node knows, with its state.
    List {
        /// Only keys in this state: verified, unverified or conflicting.
        #[arg(long)]
        state: Option<String>,
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
    Rotate,
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
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `lgmesh show` / `lgmesh history`.
#[derive(Args)]
pub struct ShowArgs {
    /// A manifest id (64 hex), PUBLISHER/NAME (did:key:…/name), or NAME (this node's).
    pub what: String,
    #[command(flatten)]
    pub out: OutputArgs,
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
    format!("{what}: {}", s.message())
}

/// `lgmesh init`.
pub async fn init(dir: &DataDir, a: InitArgs) -> Result<()> {
    let org: OrgId = a.org.parse().map_err(|e| anyhow!("--org: {e}"))?;
    let opts = InitOptions {
        org,
        name: a.name,
        org_type: a.org_type,
        website: a.website,
        contact_email: a.contact_email,
        development: false,
    };
    let c = config::init(dir, &opts)?;
    sign_org_card(dir, &c).await?;
    let key = dir.load_publisher_key()?;
    out!(
        "Initialised {} for {} ({}).",
        dir.0.display(),
        c.org.name,
        c.org.id
    );
    out!("  publisher  {}", key.public());
    out!("  node       {}", config::peer_id(&dir.load_node_key()?));
    out!("  config     {}", dir.config().display());
    out!(
        "  keys       {} and {} (mode 0600: back up the publisher key somewhere safe)",
        dir.publisher_key().display(),
        dir.node_key().display()
    );
    out!(
        "  token      {} (for writes over gRPC)",
        dir.admin_token().display()
    );
    out!();
    out!(
        "Start the node with: lgmesh run --data-dir {}",
        dir.0.display()
    );
    if !c.org.website.is_empty() {
        out!();
        out!(
            "To prove this key belongs to {}, serve this at {}/.well-known/lgmesh.json:",
            c.org.name,
            c.org.website.trim_end_matches('/')
        );
        out!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "org": c.org.id, "publishers": [key.public().to_string()] })
            )?
        );
        out!("Then, with the node running, check it with: lgmesh trust check");
    }
    Ok(())
}

/// Signs the org card into the store.
async fn sign_org_card(dir: &DataDir, c: &config::Config) -> Result<()> {
    let store = dir.store();
    let limits = c.limits();
    let reg = tokio::task::spawn_blocking(move || lgmesh_registry::Registry::open(&store, limits))
        .await??;
    let app = crate::app::App::new(
        std::sync::Arc::new(reg),
        dir.load_publisher_key()?,
        c.clone(),
    );
    app.ensure_org_card(&config::peer_id(&dir.load_node_key()?))
        .await
        .map_err(|e| anyhow!("org card: {e}"))?;
    app.registry().flush()?;
    Ok(())
}

/// Makes a throwaway identity so `lgmesh run` works on an empty data dir.
pub fn init_development(dir: &DataDir) -> Result<()> {
    let opts = InitOptions {
        org: "dev:local".parse().map_err(|e| anyhow!("{e}"))?,
        name: "Development node (not a real organisation)".into(),
        org_type: "other".into(),
        website: String::new(),
        contact_email: String::new(),
        development: true,
    };
    config::init(dir, &opts)?;
    eprintln!(
        "lgmesh: {} was empty, so it now holds a development identity (org dev:local).\n\
         lgmesh: for a real organisation, use a new data dir: lgmesh init --data-dir DIR --org gss:E07000209 --name \"Guildford Borough Council\"",
        dir.0.display()
    );
    Ok(())
}

/// Connects to the node: to its admin socket in the data dir, or to `--grpc ADDR`.
///
/// The socket is this user's own (mode 0600) and only the node that owns the data dir
/// listens on it, so nothing secret is ever sent to whatever happens to listen on a
/// port a stale `node.json` names (a node that crashed leaves one behind).
async fn connect(dir: &DataDir, o: &OutputArgs) -> Result<Channel> {
    let Some(addr) = &o.grpc else {
        let path = dir.admin_socket();
        if !path.exists() {
            bail!(
                "no running node found for {} (no {}); start one with: lgmesh run --data-dir {}",
                dir.0.display(),
                path.display(),
                dir.0.display()
            );
        }
        return tonic::transport::Endpoint::from_static("http://admin.sock")
            .timeout(Duration::from_secs(60))
            .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
                let path = path.clone();
                async move {
                    tokio::net::UnixStream::connect(path)
                        .await
                        .map(hyper_util::rt::TokioIo::new)
                }
            }))
            .await
            .map_err(|_| {
                anyhow!(
                    "cannot reach the node through {}; is `lgmesh run --data-dir {}` running?",
                    dir.admin_socket().display(),
                    dir.0.display()
                )
            });
    };
    let uri = if addr.starts_with("http") {
        addr.clone()
    } else {
        format!("http://{addr}")
    };
    tonic::transport::Endpoint::from_shared(uri)
        .map_err(|e| anyhow!("--grpc {addr:?}: {e}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|_| anyhow!("cannot reach the node at {addr}"))
}

/// `msg` as a request, with the admin token when it goes over TCP (`--grpc`): the
/// admin socket needs none. The token comes from `LGMESH_TOKEN` or the data dir.
fn with_token<T>(dir: &DataDir, o: &OutputArgs, msg: T) -> Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(msg);
    if o.grpc.is_none() {
        return Ok(req);
    }
    let token = match std::env::var("LGMESH_TOKEN") {
        Ok(t) if !t.is_empty() => t,
        _ => dir
            .load_admin_token()
            .context("writes over --grpc need the admin token")?,
    };
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| anyhow!("the admin token is not valid text"))?,
    );
    Ok(req)
}

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

fn read_doc(path: &str) -> Result<String> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {path}"))?;
    if meta.len() > document::MAX_DOCUMENT_BYTES as u64 {
        bail!(
            "{path}: {} bytes is over the limit of {}",
            meta.len(),
            document::MAX_DOCUMENT_BYTES
        );
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {path} as UTF-8 text"))
}

fn outcome_word(o: i32) -> &'static str {
    match v1::Outcome::try_from(o) {
        Ok(v1::Outcome::Stored) => "Published",
        Ok(v1::Outcome::Unchanged) => "Unchanged",
        Ok(v1::Outcome::Duplicate) => "Already stored",
        Ok(v1::Outcome::Stale) => "Stale",
        _ => "Done",
    }
}

fn print_write(r: v1::PublishResponse, json_out: bool) -> Result<()> {
    let m = r
        .manifest
        .ok_or_else(|| anyhow!("the node returned no manifest"))?;
    if json_out {
        let mut v = view::manifest_json(&m);
        v["outcome"] = json!(
            v1::Outcome::try_from(r.outcome)
                .map(|o| o.as_str_name())
                .unwrap_or("")
        );
        out!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let b = m.body.clone().unwrap_or_default();
        match &b.kind {
            Some(v1::manifest_body::Kind::Retraction(rt)) => {
                out!(
                    "Retracted {} (tombstone v{}): {}",
                    b.name,
                    b.version,
                    rt.reason
                )
            }
            _ => out!(
                "{} {} {} v{}: {}",
                outcome_word(r.outcome),
                m.kind,
                b.name,
                b.version,
                view::title(&b)
            ),
        }
        out!("  id         {}", m.id);
        out!("  publisher  {}/{}", m.publisher, b.name);
    }
    Ok(())
}

/// `lgmesh publish`.
pub async fn publish(dir: &DataDir, a: PublishArgs) -> Result<()> {
    let format = format_of(&a.file, a.format.as_deref())?;
    let text = read_doc(&a.file)?;
    let name_label = match format {
        Format::Toml => "toml",
        Format::Yaml => "yaml",
        Format::Json => "json",
    };
    let req = with_token(
        dir,
        &a.out,
        v1::PublishRequest {
            name: a.name.unwrap_or_default(),
            content: Some(v1::publish_request::Content::Document(v1::Document {
                format: name_label.into(),
                text,
            })),
        },
    )?;
    let mut client = RegistryClient::new(connect(dir, &a.out).await?);
    let r = client
        .publish(req)
        .await
        .map_err(|s| anyhow!("{}: {}", a.file, status_line(&s)))?
        .into_inner();
    print_write(r, a.out.json)
}

/// `lgmesh check`.
pub fn check(dir: &DataDir, a: CheckArgs) -> Result<()> {
    let format = format_of(&a.file, a.format.as_deref())?;
    let text = read_doc(&a.file)?;
    // publisher and creator default to the node's organisation; outside a data dir,
    // check with a stand-in so that only the file's own problems are reported.
    let org_id = dir
        .load_config()
        .map(|c| c.org.id)
        .unwrap_or_else(|_| "dev:local".into());
    let class = document::check(&text, format, &Defaults { org_id })
        .map_err(|e| anyhow!("{}: {e}", a.file))?;
    out!("{}: a valid {class:?} record", a.file);
    Ok(())
}

/// `lgmesh retract`.
pub async fn retract(dir: &DataDir, a: RetractArgs) -> Result<()> {
    let req = with_token(
        dir,
        &a.out,
        v1::RetractRequest {
            name: a.name,
            reason: a.reason,
        },
    )?;
    let mut client = RegistryClient::new(connect(dir, &a.out).await?);
    let r = client.retract(req).await?.into_inner();
    print_write(r, a.out.json)
}

/// `lgmesh search`.
pub async fn search(dir: &DataDir, a: SearchArgs) -> Result<()> {
    let mut client = RegistryClient::new(connect(dir, &a.out).await?);
    let r = client
        .search(v1::SearchRequest {
            text: a.text.join(" "),
            kind: a.kind.unwrap_or_default(),
            lgsl: a.lgsl.unwrap_or(0),
            area: a.area.unwrap_or_default(),
            org: a.org.unwrap_or_default(),
            status: a.status.unwrap_or_default(),
            page_size: a.limit,
            cursor: a.cursor.unwrap_or_default(),
            include_retracted: a.include_retracted,
            verified_only: a.verified_only,
            include_expired: a.include_expired,
        })
        .await?
        .into_inner();
    if a.out.json {
        let hits: Vec<_> = r
            .hits
            .iter()
            .filter_map(|h| {
                h.manifest.as_ref().map(|m| {
                    let mut v = view::manifest_json(m);
                    v["score"] = json!(h.score);
                    v
                })
            })
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "total": r.total, "nextCursor": r.next_cursor, "hits": hits })
            )?
        );
        return Ok(());
    }
    if r.hits.is_empty() {
        out!("No results.");
        return Ok(());
    }
    for h in &r.hits {
        let Some(m) = &h.manifest else { continue };
        let b = m.body.clone().unwrap_or_default();
        let org = if m.org_name.is_empty() {
            m.publisher.clone()
        } else {
            m.org_name.clone()
        };
        out!("{}{}", view::title(&b), view::flags(m));
        out!(
            "  {} · {} · {}/{} v{}{}",
            m.kind,
            org,
            m.publisher,
            b.name,
            b.version,
            used_by(m)
        );
    }
    out!();
    out_part!("{} of {} result(s).", r.hits.len(), r.total);
    if !r.next_cursor.is_empty() {
        out_part!(" More: --cursor {}", r.next_cursor);
    }
    out!();
    Ok(())
}

/// ` · used by 2 verified organisations` when anyone says they use it.
fn used_by(m: &v1::Manifest) -> String {
    if m.adopters.is_empty() {
        return String::new();
    }
    format!(
        " · used by {} verified organisation(s){}",
        m.verified_adopters,
        match m.adopters.len() as u32 - m.verified_adopters {
            0 => String::new(),
            n => format!(" and {n} unverified"),
        }
    )
}

enum Target {
    Id(String),
    Name { publisher: String, name: String },
}

fn target(s: &str) -> Target {
    let s = s.trim();
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Target::Id(s.to_owned());
    }
    match s.rsplit_once('/') {
        Some((p, n)) => Target::Name {
            publisher: p.to_owned(),
            name: n.to_owned(),
        },
        None => Target::Name {
            publisher: String::new(),
            name: s.to_owned(),
        },
    }
}

/// `lgmesh show`.
pub async fn show(dir: &DataDir, a: ShowArgs) -> Result<()> {
    let mut client = RegistryClient::new(connect(dir, &a.out).await?);
    let m = match target(&a.what) {
        Target::Id(id) => client.get(v1::GetRequest { id }).await?.into_inner(),
        Target::Name { publisher, name } => client
            .resolve(v1::ResolveRequest { publisher, name })
            .await?
            .into_inner(),
    };
    if a.out.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&view::manifest_json(&m))?
        );
    } else {
        out_part!("{}", view::manifest_text(&m));
    }
    Ok(())
}

/// `lgmesh history`.
pub async fn history(dir: &DataDir, a: ShowArgs) -> Result<()> {
    let (publisher, name) = match target(&a.what) {
        Target::Name { publisher, name } => (publisher, name),
        Target::Id(_) => bail!("history takes NAME or PUBLISHER/NAME, not an id"),
    };
    let mut client = RegistryClient::new(connect(dir, &a.out).await?);
    // Every page, newest first.
    let mut manifests = vec![];
    let mut before_version = 0;
    loop {
        let r = client
            .history(v1::HistoryRequest {
                publisher: publisher.clone(),
                name: name.clone(),
                page_size: 0,
                before_version,
            })
            .await?
            .into_inner();
        manifests.extend(r.manifests);
        let next = r.next_before_version;
        // Each page must move on (a node that says otherwise is not followed round).
        if next == 0 || (before_version != 0 && next >= before_version) {
            break;
        }
        before_version = next;
    }
    if a.out.json {
        let items: Vec<_> = manifests.iter().map(view::manifest_json).collect();
        out!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    for m in &manifests {
        let b = m.body.clone().unwrap_or_default();
        out!(
            "v{:<4} {}  {}  {}{}",
            b.version,
            view::rfc3339(b.issued_at_ms),
            m.id,
            view::title(&b),
            view::flags(m)
        );
    }
    Ok(())
}

/// `lgmesh info`.
pub async fn info(dir: &DataDir, a: OutputArgs) -> Result<()> {
    let mut client = NodeClient::new(connect(dir, &a).await?);
    let i = client.info(v1::InfoRequest {}).await?.into_inner();
    if a.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "orgId": i.org_id, "orgName": i.org_name, "publisher": i.publisher, "peerId": i.node_id,
                "network": i.network, "listenAddrs": i.listen_addrs, "externalAddrs": i.external_addrs,
                "peers": i.peers, "meshPeers": i.mesh_peers, "nat": i.nat,
                "grpcAddr": i.grpc_addr, "httpAddr": i.http_addr, "version": i.version,
                "developmentIdentity": i.development_identity,
            }))?
        );
    } else {
        out!(
            "{} ({}){}",
            i.org_name,
            i.org_id,
            if i.development_identity {
                " [development identity]"
            } else {
                ""
            }
        );
        out!("  publisher  {}", i.publisher);
        out!("  peer id    {}", i.node_id);
        out!("  network    {}", i.network);
        out!(
            "  peers      {} connected, {} in the gossip mesh; reachability {}",
            i.peers,
            i.mesh_peers,
            i.nat
        );
        out!("  gRPC       {}", i.grpc_addr);
        out!("  HTTP       http://{}/metrics", i.http_addr);
        out!("  version    {}", i.version);
        out!("  listening on (give one to another node as --bootstrap):");
        // An address confirmed reachable from outside (AutoNAT, `network.external`, a
        // relay reservation) is marked so, and listed once.
        for a in &i.listen_addrs {
            if i.external_addrs.contains(a) {
                out!("    {a} (external)");
            } else {
                out!("    {a}");
            }
        }
        for a in &i.external_addrs {
            if i.listen_addrs.contains(a) {
                continue;
            }
            out!("    {a} (external)");
        }
    }
    Ok(())
}

/// `lgmesh peers`.
pub async fn peers(dir: &DataDir, a: OutputArgs) -> Result<()> {
    let mut client = NodeClient::new(connect(dir, &a).await?);
    let r = client.peers(v1::PeersRequest {}).await?.into_inner();
    if a.json {
        let peers: Vec<_> = r
            .peers
            .iter()
            .map(|p| {
                json!({ "peerId": p.peer_id, "addrs": p.addrs, "agent": p.agent, "rttMs": p.rtt_ms,
                        "outbound": p.outbound, "inMesh": p.in_mesh, "strikes": p.strikes })
            })
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({ "peers": peers }))?
        );
        return Ok(());
    }
    if r.peers.is_empty() {
        out!(
            "No peers. Connect with: lgmesh dial /ip4/…/tcp/4001/p2p/12D3KooW… (see `lgmesh info` on the other node)"
        );
        return Ok(());
    }
    for p in &r.peers {
        let rtt = if p.rtt_ms > 0.0 {
            format!("{:.1} ms", p.rtt_ms)
        } else {
            "-".into()
        };
        out!(
            "{}  {}  {}  rtt {}{}{}",
            p.peer_id,
            if p.outbound { "out" } else { "in " },
            p.addrs.first().map(String::as_str).unwrap_or("-"),
            rtt,
            if p.in_mesh { "  mesh" } else { "" },
            if p.strikes > 0 {
                format!("  strikes {}", p.strikes)
            } else {
                String::new()
            }
        );
    }
    out!("\n{} peer(s).", r.peers.len());
    Ok(())
}

/// `lgmesh dial`.
pub async fn dial(dir: &DataDir, a: DialArgs) -> Result<()> {
    let mut client = NodeClient::new(connect(dir, &a.out).await?);
    let r = client
        .dial(with_token(dir, &a.out, v1::DialRequest { addr: a.addr })?)
        .await?
        .into_inner();
    if a.out.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({ "peerId": r.peer_id }))?
        );
    } else {
        out!("Connected to {}", r.peer_id);
    }
    Ok(())
}

/// `lgmesh watch`.
pub async fn watch(dir: &DataDir, a: WatchArgs) -> Result<()> {
    let mut client = RegistryClient::new(connect(dir, &a.out).await?);
    let mut stream = client
        .watch(v1::WatchRequest {
            text: a.text.join(" "),
            kind: a.kind.unwrap_or_default(),
            lgsl: a.lgsl.unwrap_or(0),
            area: a.area.unwrap_or_default(),
            org: a.org.unwrap_or_default(),
            status: a.status.unwrap_or_default(),
            include_retracted: a.include_retracted,
            verified_only: a.verified_only,
        })
        .await?
        .into_inner();
    if !a.out.json {
        eprintln!("Watching for new manifests; Ctrl-C to stop.");
    }
    while let Some(m) = stream.message().await? {
        if a.out.json {
            out!("{}", serde_json::to_string(&view::manifest_json(&m))?);
        } else {
            let b = m.body.clone().unwrap_or_default();
            let org = if m.org_name.is_empty() {
                m.publisher.clone()
            } else {
                m.org_name.clone()
            };
            out!("{}{}", view::title(&b), view::flags(&m));
            out!(
                "  {} · {} · {}/{} v{}",
                m.kind,
                org,
                m.publisher,
                b.name,
                b.version
            );
        }
    }
    Ok(())
}

/// `lgmesh stats`.
pub async fn stats(dir: &DataDir, a: OutputArgs) -> Result<()> {
    let mut client = NodeClient::new(connect(dir, &a).await?);
    let s = client.stats(v1::StatsRequest {}).await?.into_inner();
    if a.json {
        let rejected: serde_json::Map<String, serde_json::Value> = s
            .rejected
            .iter()
            .map(|r| (r.reason.clone(), json!(r.count)))
            .collect();
        let counts = |v: &[v1::ReasonCount]| -> serde_json::Map<String, serde_json::Value> {
            v.iter()
                .map(|r| (r.reason.clone(), json!(r.count)))
                .collect()
        };
        let paths: serde_json::Map<String, serde_json::Value> = s
            .paths
            .iter()
            .map(|p| {
                (
                    p.path.clone(),
                    json!({ "received": p.received, "stored": p.stored, "duplicate": p.duplicate,
                            "rejected": counts(&p.rejected) }),
                )
            })
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "manifests": s.manifests, "heads": s.heads, "accepted": s.accepted, "rejected": rejected,
                "paths": paths, "refused": counts(&s.refused),
                "sync": { "completed": s.syncs_completed, "failed": s.syncs_failed, "deferred": s.syncs_deferred,
                          "roundTrips": s.sync_round_trips, "bytesIn": s.sync_bytes_in, "served": s.sync_served },
                "gossipPublished": s.gossip_published,
                "expiredHeads": s.expired_heads,
                "publishers": { "verified": s.publishers_verified, "unverified": s.publishers_unverified,
                                "conflicting": s.publishers_conflicting, "revoked": s.publishers_revoked },
            }))?
        );
    } else {
        out!(
            "manifests {}  heads {} ({} expired)  accepted since start {}",
            s.manifests,
            s.heads,
            s.expired_heads,
            s.accepted
        );
        out!(
            "publishers verified {}  unverified {}  conflicting {}  revoked {}",
            s.publishers_verified,
            s.publishers_unverified,
            s.publishers_conflicting,
            s.publishers_revoked
        );
        for r in s.rejected.iter().filter(|r| r.count > 0) {
            out!("  rejected {:<13} {}", r.reason, r.count);
        }
        for p in &s.paths {
            out!(
                "{:<7} received {}  stored {}  duplicate {}",
                p.path,
                p.received,
                p.stored,
                p.duplicate
            );
            for r in p.rejected.iter().filter(|r| r.count > 0) {
                out!("  rejected {:<13} {}", r.reason, r.count);
            }
        }
        out!(
            "sync    rounds {} (failed {}, deferred {})  round trips {}  bytes in {}  requests served {}",
            s.syncs_completed,
            s.syncs_failed,
            s.syncs_deferred,
            s.sync_round_trips,
            s.sync_bytes_in,
            s.sync_served
        );
        for r in s.refused.iter().filter(|r| r.count > 0) {
            out!("  refused {:<18} {}", r.reason, r.count);
        }
    }
    Ok(())
}

fn state_arg(s: Option<&str>) -> Result<v1::Verification> {
    Ok(match s.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("all") => v1::Verification::Unspecified,
        Some("verified") => v1::Verification::Verified,
        Some("unverified") => v1::Verification::Unverified,
        Some("conflicting") => v1::Verification::Conflicting,
        Some("revoked") => v1::Verification::Revoked,
        Some("rotated") => v1::Verification::Rotated,
        Some(other) => {
            bail!("--state: {other:?} is not verified, unverified, conflicting, revoked or rotated")
        }
    })
}

fn trust_json(t: &v1::PublisherTrust) -> serde_json::Value {
    json!({
        "publisher": t.publisher, "verification": view::verification_word(t.verification),
        "reason": t.reason, "claimedOrgId": t.claimed_org_id, "orgName": t.org_name,
        "verifiedOrgId": t.verified_org_id, "operatorTrusted": t.operator_trusted,
        "endorsedBy": t.endorsed_by.iter().map(|e| json!({
            "publisher": e.publisher, "orgId": e.org_id,
            "verification": view::verification_word(e.verification),
        })).collect::<Vec<_>>(),
        "rivals": t.rivals, "rivalCount": t.rival_count,
        "rotatedTo": (!t.rotated_to.is_empty()).then_some(&t.rotated_to),
        "validCount": t.valid_count,
        "domainProof": t.domain_proof.as_ref().map(|d| json!({
            "website": d.website, "proven": d.proven, "host": d.host,
            "checkedAt": view::rfc3339(d.checked_at_ms),
            "provenAt": (d.proven_at_ms > 0).then(|| view::rfc3339(d.proven_at_ms)),
            "validUntil": (d.valid_until_ms > 0).then(|| view::rfc3339(d.valid_until_ms)),
            "result": d.result, "detail": d.detail,
        })),
    })
}

fn print_trust(t: &v1::PublisherTrust) {
    let org = if t.org_name.is_empty() {
        "(no org card seen)".to_owned()
    } else {
        format!("{} ({})", t.org_name, t.claimed_org_id)
    };
    out!(
        "{}  {}",
        t.publisher,
        view::verification_word(t.verification)
    );
    out!("  organisation  {org}");
    out!("  why           {}", t.reason);
    if t.operator_trusted {
        out!(
            "  trusted by this node's operator for {}",
            t.verified_org_id
        );
    }
    for e in &t.endorsed_by {
        out!(
            "  endorsed by   {} as {} ({})",
            e.publisher,
            e.org_id,
            view::verification_word(e.verification)
        );
    }
    for r in &t.rivals {
        out!("  also claims {}: {r}", t.claimed_org_id);
    }
    if t.rival_count > t.rivals.len() as u64 {
        out!(
            "  and {} more keys claim {} (lgmesh trust list)",
            t.rival_count - t.rivals.len() as u64,
            t.claimed_org_id
        );
    }
    if !t.rotated_to.is_empty() {
        out!("  rotated to    {}", t.rotated_to);
    }
    if t.valid_count > 0 {
        out!(
            "  still counts  {} manifest(s) its rotation or revocation names",
            t.valid_count
        );
    }
    if let Some(d) = &t.domain_proof {
        if d.proven {
            out!(
                "  domain proof  holds: {} (checked {}, counts until {})",
                d.host,
                view::rfc3339(d.checked_at_ms),
                view::rfc3339(d.valid_until_ms)
            );
        } else {
            out!(
                "  domain proof  none: {} (checked {})",
                d.result,
                view::rfc3339(d.checked_at_ms)
            );
        }
        if d.result != "proven" {
            out!("                {}", d.detail);
        }
    }
}

/// `lgmesh trust …`.
pub async fn trust(dir: &DataDir, c: TrustCommand) -> Result<()> {
    use v1::trust_client::TrustClient;
    let checking = matches!(c, TrustCommand::Check { .. });
    let (out, r) = match c {
        TrustCommand::Add {
            publisher,
            org,
            out,
        } => {
            let mut client = TrustClient::new(connect(dir, &out).await?);
            let req = with_token(
                dir,
                &out,
                v1::TrustAddRequest {
                    publisher,
                    org_id: org,
                },
            )?;
            (out, client.add(req).await?.into_inner())
        }
        TrustCommand::Remove { publisher, out } => {
            let mut client = TrustClient::new(connect(dir, &out).await?);
            let req = with_token(dir, &out, v1::TrustRemoveRequest { publisher })?;
            (out, client.remove(req).await?.into_inner())
        }
        TrustCommand::Check { publisher, out } => {
            let channel = connect(dir, &out).await?;
            let publisher = match publisher {
                Some(p) => p,
                None => {
                    v1::node_client::NodeClient::new(channel.clone())
                        .info(v1::InfoRequest {})
                        .await?
                        .into_inner()
                        .publisher
                }
            };
            let mut client = TrustClient::new(channel);
            let req = with_token(dir, &out, v1::TrustGetRequest { publisher })?;
            (out, client.check_domain(req).await?.into_inner())
        }
        TrustCommand::Show { publisher, out } => {
            let mut client = TrustClient::new(connect(dir, &out).await?);
            let r = client.get(v1::TrustGetRequest { publisher }).await?;
            (out, r.into_inner())
        }
        TrustCommand::List { state, out } => {
            let verification = state_arg(state.as_deref())? as i32;
            let mut client = TrustClient::new(connect(dir, &out).await?);
            // A page at a time: a node may know tens of thousands of keys.
            let (mut after, mut all, mut n) = (String::new(), vec![], 0usize);
            loop {
                let r = client
                    .list(v1::TrustListRequest {
                        verification,
                        page_size: 0,
                        after: after.clone(),
                    })
                    .await?
                    .into_inner();
                n += r.publishers.len();
                for t in &r.publishers {
                    if out.json {
                        all.push(trust_json(t));
                        continue;
                    }
                    let org = if t.org_name.is_empty() {
                        "-"
                    } else {
                        &t.org_name
                    };
                    out!(
                        "{:<12} {}  {} ({})",
                        view::verification_word(t.verification),
                        t.publisher,
                        org,
                        t.reason
                    );
                }
                if r.next.is_empty() {
                    break;
                }
                after = r.next;
            }
            if out.json {
                out!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "publishers": all }))?
                );
            } else if n == 0 {
                out!("No publishers known yet.");
            } else {
                out!("\n{n} publisher(s).");
            }
            return Ok(());
        }
    };
    if out.json {
        out!("{}", serde_json::to_string_pretty(&trust_json(&r))?);
    } else {
        print_trust(&r);
    }
    if checking && !r.domain_proof.as_ref().is_some_and(|d| d.proven) {
        let why = r
            .domain_proof
            .as_ref()
            .map_or("not checked".to_owned(), |d| d.detail.clone());
        bail!("domain proof does not hold: {why}");
    }
    Ok(())
}

async fn publish_content(
    dir: &DataDir,
    out: &OutputArgs,
    name: String,
    content: v1::publish_request::Content,
) -> Result<()> {
    let req = with_token(
        dir,
        out,
        v1::PublishRequest {
            name,
            content: Some(content),
        },
    )?;
    let mut client = RegistryClient::new(connect(dir, out).await?);
    let r = client.publish(req).await?.into_inner();
    print_write(r, out.json)
}

fn key_arg(flag: &str, s: &str) -> Result<lgmesh_protocol::identity::PublisherKey> {
    s.trim().parse().map_err(|e| anyhow!("{flag}: {e}"))
}

/// `lgmesh endorse`.
pub async fn endorse(dir: &DataDir, a: EndorseArgs) -> Result<()> {
    let subject = key_arg("publisher", &a.publisher)?;
    let org: OrgId = a.org.parse().map_err(|e| anyhow!("--org: {e}"))?;
    let content = v1::publish_request::Content::Endorsement(v1::Endorsement {
        subject: subject.as_bytes().to_vec(),
        org_id: org.to_string(),
        note: a.note,
    });
    publish_content(dir, &a.out, String::new(), content).await
}

/// `lgmesh adopt`.
pub async fn adopt(dir: &DataDir, a: AdoptArgs) -> Result<()> {
    let (publisher, name) = match target(&a.service) {
        Target::Name { publisher, name } if !publisher.is_empty() => (publisher, name),
        _ => bail!("service: give it as PUBLISHER/NAME, e.g. did:key:z6Mk…/address-lookup"),
    };
    let publisher = key_arg("service", &publisher)?;
    let content = v1::publish_request::Content::Adoption(v1::Adoption {
        publisher: publisher.as_bytes().to_vec(),
        name,
        version: a.version.unwrap_or(0),
        note: a.note,
    });
    publish_content(dir, &a.out, String::new(), content).await
}

/// `lgmesh need`.
pub async fn need(dir: &DataDir, a: NeedArgs) -> Result<()> {
    let title = a.title.join(" ");
    if title.trim().is_empty() {
        bail!(
            "title: say what is needed, e.g. lgmesh need --lgsl 863 \"Bulky waste collection booking\""
        );
    }
    let content = v1::publish_request::Content::Need(v1::Need {
        title,
        description: a.description,
        lgsl: a.lgsl,
        coverage: a.area,
        contact: None,
    });
    publish_content(dir, &a.out, a.name.unwrap_or_default(), content).await
}

/// `lgmesh revoke`.
pub async fn revoke(dir: &DataDir, a: RevokeArgs) -> Result<()> {
    let subject = key_arg("publisher", &a.publisher)?;
    if a.reason.trim().is_empty() {
        bail!("--reason: say why the key is revoked");
    }
    let content = v1::publish_request::Content::Revocation(v1::Revocation {
        valid_ids: vec![],
        subject: subject.as_bytes().to_vec(),
        revoked_at_ms: a.since_ms.unwrap_or(0),
        reason: a.reason,
    });
    publish_content(dir, &a.out, String::new(), content).await
}

/// `lgmesh keys rotate`: offline, on the store itself.
pub async fn keys(dir: &DataDir, c: KeysCommand) -> Result<()> {
    match c {
        KeysCommand::Rotate => rotate(dir).await,
    }
}

async fn rotate(dir: &DataDir) -> Result<()> {
    let c = dir.load_config()?;
    let old = dir.load_publisher_key()?;
    let node_id = config::peer_id(&dir.load_node_key()?);
    let store = dir.store();
    let limits = c.limits();
    let reg = tokio::task::spawn_blocking(move || lgmesh_registry::Registry::open(&store, limits))
        .await?
        .map_err(|e| {
            anyhow!("cannot open the store ({e}); stop the node first: keys rotate works on a stopped node")
        })?;
    let reg = std::sync::Arc::new(reg);
    let new = lgmesh_protocol::identity::SecretKey::generate()
        .map_err(|e| anyhow!("no randomness for a new key: {e}"))?;
    let new_seed = new.to_seed();
    // On disk before the store names it, so a failure part-way never loses the key
    // that other nodes are about to be told to trust.
    let pending = dir.0.join("publisher.key.new");
    config::write_secret(&pending, &hex::encode(*new_seed)).with_context(|| {
        format!(
            "a previous rotation stopped part-way: inspect {}",
            pending.display()
        )
    })?;
    let app_old = crate::app::App::new(reg.clone(), old, c.clone());
    let app_new = crate::app::App::new(
        reg.clone(),
        lgmesh_protocol::identity::SecretKey::from_seed(&new_seed),
        c,
    );
    let moved = app_old
        .rotate_to(&app_new, &node_id)
        .await
        .map_err(|e| anyhow!("rotation: {e}"))?;
    reg.flush()?;
    // Keep the old key (renamed) until the operator has checked the rotation spread.
    let retired = dir.0.join(format!(
        "publisher.key.retired-{}",
        lgmesh_protocol::now_ms()
    ));
    std::fs::rename(dir.publisher_key(), &retired)
        .with_context(|| format!("cannot move the old key to {}", retired.display()))?;
    std::fs::rename(&pending, dir.publisher_key()).with_context(|| {
        format!(
            "the new key is in {}; move it to publisher.key",
            pending.display()
        )
    })?;
    out!("Rotated the publisher key.");
    out!(
        "  old        {} (kept as {})",
        app_old.publisher(),
        retired.display()
    );
    out!("  new        {}", app_new.publisher());
    out!("  moved      {moved} manifest(s) to the new key; the old names are retracted");
    out!();
    out!("Start the node again: other nodes learn of the rotation by sync.");
    Ok(())
}
