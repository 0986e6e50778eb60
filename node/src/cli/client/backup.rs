//! `lgmesh backup`: a consistent copy of the store, made by the running node (through
//! the admin socket) or, when none runs, from the data dir itself.

use anyhow::{Context, Result, anyhow, bail};
use lgmesh_proto::v1::{self, node_client::NodeClient};
use serde_json::json;

use super::super::args::{BackupArgs, OutputArgs};
use super::connect;
use crate::datadir::DataDir;

pub async fn backup(dir: &DataDir, a: BackupArgs) -> Result<()> {
    // The node writes the file: give it a path that means the same to it.
    let file = absolute(&a.file)?;
    if file.exists() {
        bail!("{}: exists already; name a new file", file.display());
    }
    // Through the node when one answers on the socket (a killed node leaves its socket
    // behind: then the data dir is read here).
    let live = dir.admin_socket().exists()
        && std::os::unix::net::UnixStream::connect(dir.admin_socket()).is_ok();
    let r = if live {
        let channel = connect(dir, &OutputArgs::default()).await?;
        let r = NodeClient::new(channel)
            .backup(v1::BackupRequest {
                path: file.to_string_lossy().into_owned(),
            })
            .await?
            .into_inner();
        // The node wrote it: under systemd, with a private /tmp and a read-only system,
        // it may have written where this command cannot see.
        if !file.exists() {
            bail!(
                "the node wrote {} where this command cannot see it (systemd gives the service a private /tmp and a read-only system); back up into the data dir, e.g. {}/backups/, then copy the file elsewhere",
                file.display(),
                dir.0.display()
            );
        }
        r
    } else {
        offline(dir, &file).await?
    };
    if a.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "file": file, "records": r.records, "bytes": r.bytes,
                "format": r.format, "sha256": r.sha256,
            }))?
        );
    } else {
        out!(
            "Backed up {} store records ({} bytes, store format {}) to {}.",
            r.records,
            r.bytes,
            r.format,
            file.display()
        );
        out!("  sha256  {}", r.sha256);
        out!(
            "Restore it into a data dir without a store: lgmesh restore {} --data-dir DIR",
            file.display()
        );
        out!("The keys are not in it: back them up apart (see `lgmesh keys --help`).");
    }
    Ok(())
}

/// `path` made absolute against the current directory, its directory resolved.
fn absolute(path: &std::path::Path) -> Result<std::path::PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file name", path.display()))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    let parent = parent
        .canonicalize()
        .with_context(|| format!("{}: no such directory", parent.display()))?;
    Ok(parent.join(name))
}

/// The backup made from the data dir, when no node has the store open.
async fn offline(dir: &DataDir, file: &std::path::Path) -> Result<v1::BackupResponse> {
    if !dir.store().join("db").exists() {
        bail!(
            "{} has no store to back up (and no node is running on it)",
            dir.0.display()
        );
    }
    let config = dir.load_config()?;
    let (store, limits, file) = (dir.store(), config.limits(), file.to_owned());
    tokio::task::spawn_blocking(move || {
        let reg = lgmesh_registry::Registry::open(&store, limits).map_err(|e| {
            anyhow!("cannot open the store ({e}); if a node runs on it, its admin socket is missing: restart it")
        })?;
        let s = reg
            .backup(&file, lgmesh_protocol::now_ms())
            .map_err(|e| anyhow!("backup: {e}"))?;
        Ok(v1::BackupResponse {
            records: s.records,
            bytes: s.bytes,
            format: s.format,
            sha256: hex::encode(s.sha256),
        })
    })
    .await?
}
