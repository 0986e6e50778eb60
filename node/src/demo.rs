//! `lgmesh demo`: a local federation of real councils in one process. Each council is a
//! full node (its own keys, store, libp2p swarm on loopback, gRPC and HTTP), so the
//! usual commands work against any of them with `--data-dir`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Deserialize;
use tracing::Instrument;

use crate::datadir::{self, DataDir, InitOptions};
use crate::server::{self, RunOptions, Started};

/// The councils and their example manifests, built into the binary so the demo runs
/// from anywhere. Names, GSS codes, types and homepages are from the shared data.
const COUNCILS: &str = include_str!("../../examples/councils.toml");
const MANIFESTS: &[(&str, &str)] = &[
    (
        "manifests/guildford-bin-collection.toml",
        include_str!("../../examples/manifests/guildford-bin-collection.toml"),
    ),
    (
        "manifests/leeds-address-lookup.toml",
        include_str!("../../examples/manifests/leeds-address-lookup.toml"),
    ),
    (
        "manifests/camden-waste-rounds.toml",
        include_str!("../../examples/manifests/camden-waste-rounds.toml"),
    ),
    (
        "manifests/manchester-parking-zones.toml",
        include_str!("../../examples/manifests/manchester-parking-zones.toml"),
    ),
    (
        "manifests/bristol-report-a-problem.toml",
        include_str!("../../examples/manifests/bristol-report-a-problem.toml"),
    ),
    (
        "manifests/edinburgh-bin-collection.toml",
        include_str!("../../examples/manifests/edinburgh-bin-collection.toml"),
    ),
];

/// `lgmesh demo` flags.
#[derive(Args)]
pub struct DemoArgs {
    /// Where the councils' data dirs go (kept between runs).
    #[arg(long, default_value = "lgmesh-demo")]
    pub dir: PathBuf,
    /// How many councils to start (5 or more; at most the number in examples/councils.toml).
    #[arg(long, default_value_t = 6)]
    pub councils: usize,
    /// The network name: a demo never mixes with the real federation.
    #[arg(long, default_value = "demo")]
    pub network: String,
}

#[derive(Deserialize)]
struct CouncilsFile {
    council: Vec<Council>,
}

#[derive(Deserialize)]
struct Council {
    org: String,
    name: String,
    #[serde(rename = "type")]
    org_type: String,
    website: String,
    manifests: Vec<String>,
}

/// Starts the demo federation and runs until Ctrl-C.
pub async fn run(a: DemoArgs) -> Result<()> {
    let file: CouncilsFile = toml::from_str(COUNCILS).context("examples/councils.toml")?;
    if a.councils < 5 || a.councils > file.council.len() {
        bail!(
            "--councils: must be 5-{} (the councils in examples/councils.toml)",
            file.council.len()
        );
    }
    std::fs::create_dir_all(&a.dir)
        .with_context(|| format!("cannot create {}", a.dir.display()))?;
    let started_at = Instant::now();
    let mut nodes: Vec<(String, DataDir, Started)> = vec![];
    let mut bootstrap: Option<String> = None;
    for c in file.council.iter().take(a.councils) {
        let dir = DataDir(a.dir.join(lgmesh_protocol::identity::slugify(&c.name)));
        if !dir.is_initialised() {
            let opts = InitOptions {
                org: c
                    .org
                    .parse()
                    .map_err(|e| anyhow::anyhow!("{}: {e}", c.org))?,
                name: c.name.clone(),
                org_type: c.org_type.clone(),
                website: c.website.clone(),
                contact_email: String::new(),
                development: false,
            };
            datadir::init(&dir, &opts)?;
        }
        let mut cfg = dir.load_config()?;
        cfg.grpc.addr = "127.0.0.1:0".into();
        cfg.http.addr = "127.0.0.1:0".into();
        cfg.network.name = a.network.clone();
        cfg.network.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        cfg.network.bootstrap = bootstrap.iter().cloned().collect();
        cfg.network.sync_interval_secs = 10;
        // The demo's keys are not on the councils' real websites: do not ask them.
        cfg.trust.domain_suffixes.clear();
        let started = server::start(RunOptions {
            dir: DataDir(dir.0.clone()),
            config: cfg,
        })
        .await
        .with_context(|| format!("{}: cannot start", c.name))?;
        if bootstrap.is_none() {
            let info = started.net.info().await?;
            bootstrap = info.listen.first().map(ToString::to_string);
        }
        for m in &c.manifests {
            let Some((_, text)) = MANIFESTS.iter().find(|(p, _)| p == m) else {
                bail!("examples/councils.toml names {m}, which the demo does not carry");
            };
            // In the council's span, as everything its node does: the line says whose.
            started
                .app
                .publish_document("toml", text, None)
                .instrument(started.span().clone())
                .await
                .map_err(|e| anyhow::anyhow!("{}: {m}: {e}", c.name))?;
        }
        nodes.push((c.name.clone(), dir, started));
    }

    // A web of trust, as operators would build it: every council trusts the first two
    // directly (they checked their keys by phone), and those two endorse the others,
    // so every key ends up verified on every node without anyone trusting everyone.
    let anchors = nodes
        .iter()
        .take(2)
        .map(|(_, _, s)| Ok((publisher(s)?, s.app.config().org.id.clone())))
        .collect::<Result<Vec<_>>>()?;
    for (name, _, s) in &nodes {
        for (pk, org) in &anchors {
            let org = org
                .parse()
                .map_err(|e| anyhow::anyhow!("{name}: org id {org}: {e}"))?;
            s.app
                .trust_add(*pk, org)
                .instrument(s.span().clone())
                .await
                .map_err(|e| anyhow::anyhow!("{name}: trust: {e}"))?;
        }
    }
    for (name, _, s) in nodes.iter().take(2) {
        for (_, _, other) in nodes.iter().skip(2) {
            s.app
                .endorse(lgmesh_proto::v1::Endorsement {
                    subject: publisher(other)?.as_bytes().to_vec(),
                    org_id: other.app.config().org.id.clone(),
                    note: "demo: checked with their digital team".into(),
                })
                .instrument(s.span().clone())
                .await
                .map_err(|e| anyhow::anyhow!("{name}: endorsement: {e}"))?;
        }
    }

    // Wait until every council holds every council's manifests, searchable (the text
    // index commits a moment after the store).
    let union = union_size(&nodes)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let converged = loop {
        let mut all = true;
        for (_, _, st) in &nodes {
            all &= st.app.registry().counts()?.heads >= union;
        }
        if all {
            for (name, _, st) in &nodes {
                let reg = st.app.registry().clone();
                st.app
                    .blocking(move || reg.wait_indexed())
                    .await?
                    .with_context(|| format!("{name}: search index"))?;
            }
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let first = &nodes[0].1;
    out!(
        "lgmesh demo: {} councils running on network {:?} (data in {}/).",
        nodes.len(),
        a.network,
        a.dir.display()
    );
    for (name, dir, s) in &nodes {
        out!(
            "  {:<28} gRPC {:<16} web http://{:<16} --data-dir {}",
            name,
            s.grpc,
            s.http,
            dir.0.display()
        );
    }
    if converged {
        out!(
            "Every council holds all {} manifests ({} ms after start).",
            union,
            started_at.elapsed().as_millis()
        );
    } else {
        out!("Still converging; sync will finish the job within a minute.");
    }
    let d = first.0.display();
    let last = nodes[nodes.len() - 1].1.0.display();
    out!();
    out!(
        "Open http://{}/ in a browser: the federation's overview, catalogue, coverage and reuse.",
        nodes[nodes.len() - 1].2.http
    );
    out!("From another terminal (prefix with `cargo run --` if lgmesh is not installed):");
    out!("  lgmesh search \"bin collection\" --data-dir {last}");
    out!("  lgmesh search --lgsl 524 --verified-only --data-dir {last}");
    out!("  lgmesh trust list --data-dir {last}");
    out!("  lgmesh peers --data-dir {d}");
    out!("  lgmesh watch --data-dir {last}");
    out!("  lgmesh publish examples/manifests/guildford-bin-collection.toml --data-dir {d}");
    out!("Ctrl-C stops them all.");

    server::wait_for_signal().await;
    eprintln!("lgmesh demo: stopping");
    // All begin at once; each then stops in order within its own deadline.
    for (_, _, s) in &nodes {
        s.stop();
    }
    for (name, _, s) in nodes {
        if let Err(e) = s.shutdown(server::SHUTDOWN_DEADLINE).await {
            eprintln!("{name}: {e:#}");
        }
    }
    Ok(())
}

/// A council's publisher key (every demo council has one).
fn publisher(s: &Started) -> Result<lgmesh_protocol::identity::PublisherKey> {
    s.app
        .publisher()
        .ok_or_else(|| anyhow::anyhow!("a demo council runs without its key"))
}

/// Heads across the federation: the sum of each council's own (org card and manifests).
fn union_size(nodes: &[(String, DataDir, Started)]) -> Result<u64> {
    let mut n = 0;
    for (_, _, s) in nodes {
        let me = publisher(s)?;
        n += s
            .app
            .registry()
            .sync_items()?
            .into_iter()
            .filter(|(_, id)| {
                s.app
                    .registry()
                    .get(id)
                    .ok()
                    .flatten()
                    .is_some_and(|m| m.publisher == me)
            })
            .count() as u64;
    }
    Ok(n)
}
