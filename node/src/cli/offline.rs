//! The commands that work on the data directory itself, with no node to talk to:
//! `init`, `check`, `keys` (rotate, export, import), and `run`, which becomes the node.

use anyhow::{Context, Result, anyhow};
use lgmesh_protocol::document::{self, Defaults};
use lgmesh_protocol::identity::OrgId;
use serde_json::json;

use super::args::{CheckArgs, InitArgs, KeysCommand, KeysExportArgs, KeysImportArgs, RunArgs};
use super::{format_of, read_doc};
use crate::config;
use crate::datadir::{self, DataDir, InitOptions};

/// `lgmesh init`.
pub async fn init(dir: &DataDir, a: InitArgs) -> Result<()> {
    if a.observer {
        datadir::init_observer(dir)?;
        if a.json {
            out!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "dataDir": dir.0, "observer": true,
                    "peerId": datadir::peer_id(&dir.load_node_key()?).to_string(),
                    "config": dir.config(), "nodeKey": dir.node_key(), "adminToken": dir.admin_token(),
                }))?
            );
            return Ok(());
        }
        return observer_initialised(dir, "Initialised");
    }
    let (Some(org), Some(name)) = (a.org, a.name) else {
        anyhow::bail!("--org and --name are required (or --observer)");
    };
    let org: OrgId = org.parse().map_err(|e| anyhow!("--org: {e}"))?;
    let opts = InitOptions {
        org,
        name,
        org_type: a.org_type,
        website: a.website,
        contact_email: a.contact_email,
        development: false,
    };
    let c = datadir::init(dir, &opts)?;
    sign_org_card(dir, &c).await?;
    let key = dir.load_publisher_key()?;
    if a.json {
        let well_known = (!c.org.website.is_empty()).then(|| {
            json!({
                "url": format!("{}/.well-known/lgmesh.json", c.org.website.trim_end_matches('/')),
                "body": { "org": c.org.id, "publishers": [key.public().to_string()] },
            })
        });
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "dataDir": dir.0, "observer": false, "orgId": c.org.id, "orgName": c.org.name,
                "publisher": key.public().to_string(),
                "peerId": datadir::peer_id(&dir.load_node_key()?).to_string(),
                "config": dir.config(), "publisherKey": dir.publisher_key(),
                "nodeKey": dir.node_key(), "adminToken": dir.admin_token(),
                "wellKnown": well_known,
            }))?
        );
        return Ok(());
    }
    out!(
        "Initialised {} for {} ({}).",
        dir.0.display(),
        c.org.name,
        c.org.id
    );
    out!("  publisher  {}", key.public());
    out!("  node       {}", datadir::peer_id(&dir.load_node_key()?));
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
        Some(dir.load_publisher_key()?),
        c.clone(),
    );
    app.ensure_org_card(&datadir::peer_id(&dir.load_node_key()?))
        .await
        .map_err(|e| anyhow!("org card: {e}"))?;
    app.registry().flush()?;
    Ok(())
}

/// Says what an observer's data dir holds, and how to run it.
fn observer_initialised(dir: &DataDir, what: &str) -> Result<()> {
    out!(
        "{what} {} as an observer: it syncs and serves the federation and publishes nothing.",
        dir.0.display()
    );
    out!("  node       {}", datadir::peer_id(&dir.load_node_key()?));
    out!("  config     {}", dir.config().display());
    out!(
        "  token      {} (for changes to whom this node trusts over gRPC)",
        dir.admin_token().display()
    );
    out!();
    out!(
        "Start it with: lgmesh run --data-dir {} --bootstrap MULTIADDR",
        dir.0.display()
    );
    out!(
        "It verifies publishers by their domain proofs and by the keys you trust: add those you know with lgmesh trust add did:key:... --org ID (ops/README.md, Deciding whom to trust)."
    );
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
    datadir::init(dir, &opts)?;
    eprintln!(
        "lgmesh: {} was empty, so it now holds a development identity (org dev:local).\n\
         lgmesh: for a real organisation, use a new data dir: lgmesh init --data-dir DIR --org gss:E07000209 --name \"Guildford Borough Council\"",
        dir.0.display()
    );
    Ok(())
}

/// `lgmesh run`: the flags override `lgmesh.toml`, then the node runs until it is stopped.
pub async fn run(dir: &DataDir, a: RunArgs) -> Result<()> {
    if !dir.is_initialised() {
        if a.observer {
            datadir::init_observer(dir)?;
            eprintln!(
                "lgmesh: {} was empty, so it now holds an observer's node key and config",
                dir.0.display()
            );
        } else {
            init_development(dir)?;
        }
    }
    let mut config = dir.load_config()?;
    config.org.observer |= a.observer;
    if let Some(g) = a.grpc_addr {
        config.grpc.addr = g;
    }
    if let Some(h) = a.http_addr {
        config.http.addr = h;
    }
    config.grpc.allow_remote |= a.allow_remote_grpc;
    config.http.allow_remote |= a.allow_remote_http;
    if let Some(c) = a.tls_cert {
        config.tls.cert_file = c;
    }
    if let Some(k) = a.tls_key {
        config.tls.key_file = k;
    }
    if !a.listen.is_empty() {
        config.network.listen = a.listen;
    }
    config.network.bootstrap.extend(a.bootstrap);
    if let Some(n) = a.network {
        config.network.name = n;
    }
    config.network.mdns |= a.mdns;
    crate::server::run(crate::server::RunOptions {
        dir: dir.clone(),
        config,
    })
    .await
}

/// `lgmesh check`.
pub fn check(dir: &DataDir, a: CheckArgs) -> Result<()> {
    let format = format_of(&a.file, a.format.as_deref())?;
    let text = read_doc(&a.file)?;
    // publisher and creator default to the node's organisation; outside a data dir,
    // check with a stand-in so that only the file's own problems are reported.
    // An observer's config has no organisation id either.
    let org_id = dir
        .load_config()
        .ok()
        .map(|c| c.org.id)
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "dev:local".into());
    let class = document::check(&text, format, &Defaults { org_id })
        .map_err(|e| anyhow!("{}: {e}", a.file))?;
    if a.json {
        out!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "file": a.file, "valid": true, "class": format!("{class:?}") })
            )?
        );
    } else {
        out!("{}: a valid {class:?} record", a.file);
    }
    Ok(())
}

/// `lgmesh keys`: `rotate` works on the store of a stopped node; `export` and `import`
/// on the data dir's files alone.
pub async fn keys(dir: &DataDir, c: KeysCommand) -> Result<()> {
    match c {
        KeysCommand::Rotate(a) => rotate(dir, a.json).await,
        KeysCommand::Export(a) => keys_export(dir, a),
        KeysCommand::Import(a) => keys_import(dir, a),
    }
}

/// `lgmesh keys export FILE`.
fn keys_export(dir: &DataDir, a: KeysExportArgs) -> Result<()> {
    use crate::keys::{self, Backup, Passphrase};
    // Everything that can be refused is, before the passphrase is asked for.
    if a.file.exists() {
        anyhow::bail!(
            "{} exists: an export never replaces a file; choose a new name",
            a.file.display()
        );
    }
    let backup = Backup::read(dir)?.check()?;
    let passphrase = Passphrase::new_backup(a.passphrase.passphrase_file.as_deref())?;
    let sealed = keys::seal(&backup, &passphrase, keys::age::WORK_FACTOR)?;
    datadir::write_secret_bytes(&a.file, &sealed)?;
    let b = backup.backup();
    let publisher = backup.publisher().map(ToString::to_string);
    if a.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "file": a.file, "format": keys::FORMAT, "org": b.org, "observer": b.observer,
                "publisher": publisher, "node": backup.node(), "files": backup.files(),
                "bytes": sealed.len(), "workFactor": keys::age::WORK_FACTOR,
            }))?
        );
        return Ok(());
    }
    let whose = if b.observer {
        "this observer".to_owned()
    } else {
        b.org.clone()
    };
    out!(
        "Wrote the keys of {whose} to {}, encrypted under the passphrase (age format).",
        a.file.display()
    );
    if let Some(p) = &publisher {
        out!("  publisher  {p}");
    }
    out!("  node       {}", backup.node());
    out!("  files      {}", backup.files().join(", "));
    out!();
    out!("Keep the file and the passphrase apart: together they let anyone publish as {whose}.");
    out!(
        "Restore with: lgmesh keys import {} --data-dir NEW-DIR (age -d also opens it)",
        a.file.display()
    );
    Ok(())
}

/// `lgmesh keys import FILE`.
fn keys_import(dir: &DataDir, a: KeysImportArgs) -> Result<()> {
    use crate::keys::{self, Passphrase};
    let file = keys::read_file(&a.file)?;
    let passphrase = Passphrase::existing(a.passphrase.passphrase_file.as_deref())?;
    let backup = keys::open(&a.file.display().to_string(), &file, &passphrase)?;
    let done = keys::restore(dir, &backup)?;
    let b = backup.backup();
    let publisher = backup.publisher().map(ToString::to_string);
    if a.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "file": a.file, "dataDir": dir.0, "format": b.format, "org": b.org,
                "observer": b.observer, "publisher": publisher, "node": backup.node(),
                "createdMs": b.created_ms, "written": done.written, "unchanged": done.unchanged,
            }))?
        );
        return Ok(());
    }
    let whose = if b.observer {
        "an observer"
    } else {
        b.org.as_str()
    };
    out!(
        "Imported the keys of {whose} from {} into {}.",
        a.file.display(),
        dir.0.display()
    );
    if let Some(p) = &publisher {
        out!("  publisher  {p}");
    }
    out!("  node       {}", backup.node());
    if !done.written.is_empty() {
        out!("  written    {}", done.written.join(", "));
    }
    if !done.unchanged.is_empty() {
        out!(
            "  unchanged  {} (already the backup's)",
            done.unchanged.join(", ")
        );
    }
    out!();
    out!(
        "Start the node: lgmesh run --data-dir {} (to bring back its store too, first: lgmesh restore STORE-BACKUP --data-dir {})",
        dir.0.display(),
        dir.0.display()
    );
    Ok(())
}

async fn rotate(dir: &DataDir, json_out: bool) -> Result<()> {
    let c = dir.load_config()?;
    if c.org.observer {
        anyhow::bail!("this data dir is an observer's: it has no organisation key to rotate");
    }
    let old = dir.load_publisher_key()?;
    let node_id = datadir::peer_id(&dir.load_node_key()?);
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
    datadir::write_secret(&pending, &hex::encode(*new_seed)).with_context(|| {
        format!(
            "a previous rotation stopped part-way: inspect {}",
            pending.display()
        )
    })?;
    let (old_pk, new_pk) = (old.public(), new.public());
    let app_old = crate::app::App::new(reg.clone(), Some(old), c.clone());
    let app_new = crate::app::App::new(
        reg.clone(),
        Some(lgmesh_protocol::identity::SecretKey::from_seed(&new_seed)),
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
    if json_out {
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "old": old_pk.to_string(), "new": new_pk.to_string(), "retiredKeyFile": retired,
                "moved": moved,
            }))?
        );
        return Ok(());
    }
    out!("Rotated the publisher key.");
    out!("  old        {old_pk} (kept as {})", retired.display());
    out!("  new        {new_pk}");
    out!("  moved      {moved} manifest(s) to the new key; the old names are retracted");
    out!();
    out!("Start the node again: other nodes learn of the rotation by sync.");
    Ok(())
}

/// `lgmesh completions SHELL`: the script, from the clap definition.
pub fn completions(a: super::args::CompletionsArgs) -> Result<()> {
    use clap::CommandFactory;
    let mut cmd = super::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "lgmesh", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(())
}

/// `lgmesh man [--out DIR]`: the manual pages, from the clap definition.
pub fn man(a: super::args::ManArgs) -> Result<()> {
    use clap::CommandFactory;
    let cmd = super::Cli::command();
    let Some(dir) = a.out else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut page)
            .context("cannot render the manual page")?;
        out!("{}", String::from_utf8_lossy(&page));
        return Ok(());
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("--out {}", dir.display()))?;
    clap_mangen::generate_to(cmd, &dir)
        .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?;
    out!("Wrote the manual pages into {}.", dir.display());
    Ok(())
}

/// `lgmesh restore FILE`: the store of a stopped node's data dir, made from a backup.
pub async fn restore(dir: &DataDir, a: super::args::RestoreArgs) -> Result<()> {
    if !dir.is_initialised() {
        anyhow::bail!(
            "{} is not a data dir (no lgmesh.toml): restore into one made by `lgmesh keys import` (or a copy of the old one without its store/)",
            dir.0.display()
        );
    }
    if dir.admin_socket().exists() {
        // A node that was killed leaves its socket behind: only one that answers counts.
        if std::os::unix::net::UnixStream::connect(dir.admin_socket()).is_ok() {
            anyhow::bail!(
                "a node is running on {} (it answers on its admin socket): stop it first",
                dir.0.display()
            );
        }
        std::fs::remove_file(dir.admin_socket())
            .with_context(|| format!("cannot remove the stale {}", dir.admin_socket().display()))?;
    }
    let (file, store) = (a.file.clone(), dir.store());
    let s = tokio::task::spawn_blocking(move || lgmesh_registry::backup::restore(&file, &store))
        .await?
        .map_err(|e| anyhow!("restore: {e}"))?;
    if a.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "file": a.file, "records": s.records, "bytes": s.bytes, "format": s.format,
                "sha256": hex::encode(s.sha256), "writtenAtMs": s.written_at_ms,
            }))?
        );
    } else {
        out!(
            "Restored {} store records (store format {}) into {}.",
            s.records,
            s.format,
            dir.store().display()
        );
        out!(
            "Start the node: lgmesh run --data-dir {} (it rebuilds its search index, then catches up with its peers)",
            dir.0.display()
        );
    }
    Ok(())
}
