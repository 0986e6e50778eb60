//! The data directory: where each file lives, reading the keys and the token, and
//! writing secret files so that nobody else can read them.
//!
//! | file | what |
//! | --- | --- |
//! | `lgmesh.toml` | the configuration, commented ([`crate::config`]) |
//! | `publisher.key` | the organisation's ed25519 signing key (hex seed, mode 0600); none on an observer |
//! | `node.key` | the node's own key, its libp2p identity (hex seed, mode 0600) |
//! | `admin.token` | the bearer token for writes over gRPC on TCP (mode 0600) |
//! | `admin.sock` | while the node runs: its admin socket, gRPC for this user only (mode 0600) |
//! | `store/` | the sled store |
//! | `node.json` | written by `lgmesh run`: the addresses it actually bound |
//!
//! [`init`] creates one; `lgmesh keys import` ([`crate::keys`]) makes one from a backup.

mod init;

pub use init::{InitOptions, init, init_observer};

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use lgmesh_protocol::identity::SecretKey;
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct DataDir(pub PathBuf);

impl DataDir {
    /// `lgmesh.toml`.
    pub fn config(&self) -> PathBuf {
        self.0.join("lgmesh.toml")
    }
    /// `publisher.key`.
    pub fn publisher_key(&self) -> PathBuf {
        self.0.join("publisher.key")
    }
    /// `node.key`.
    pub fn node_key(&self) -> PathBuf {
        self.0.join("node.key")
    }
    /// `admin.token`.
    pub fn admin_token(&self) -> PathBuf {
        self.0.join("admin.token")
    }
    /// `store/`.
    pub fn store(&self) -> PathBuf {
        self.0.join("store")
    }
    /// `observatory.csv`: the web overview's growth history, a line a day.
    pub fn observatory_history(&self) -> PathBuf {
        self.0.join("observatory.csv")
    }
    /// `node.json`.
    pub fn node_json(&self) -> PathBuf {
        self.0.join("node.json")
    }
    /// `admin.sock`: the running node's local admin endpoint (mode 0600).
    pub fn admin_socket(&self) -> PathBuf {
        self.0.join("admin.sock")
    }

    /// Has `lgmesh init` run here? (An observer's data dir has no `publisher.key`.)
    pub fn is_initialised(&self) -> bool {
        self.config().exists()
    }

    /// Reads `lgmesh.toml`.
    pub fn load_config(&self) -> Result<Config> {
        let path = self.config();
        let text =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))
    }

    /// Reads the publisher key, refusing a file others can read.
    pub fn load_publisher_key(&self) -> Result<SecretKey> {
        read_key(&self.publisher_key())
    }

    /// Reads the node key.
    pub fn load_node_key(&self) -> Result<SecretKey> {
        read_key(&self.node_key())
    }

    /// Reads the admin token.
    pub fn load_admin_token(&self) -> Result<String> {
        let path = self.admin_token();
        check_private(&path)?;
        let t =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(t.trim().to_owned())
    }
}

fn read_key(path: &Path) -> Result<SecretKey> {
    check_private(path)?;
    let text = zeroize::Zeroizing::new(
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), seed.as_mut()).map_err(|_| {
        anyhow::anyhow!("{}: not a key (64 hex characters expected)", path.display())
    })?;
    Ok(SecretKey::from_seed(&seed))
}

/// Refuses a secret file that group or others can read.
#[cfg(unix)]
pub(crate) fn check_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by others (mode {mode:o}); run: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_private(_path: &Path) -> Result<()> {
    Ok(())
}

/// Writes a secret file with mode 0600, refusing to overwrite one.
pub fn write_secret(path: &Path, content: &str) -> Result<()> {
    write_secret_bytes(path, content.as_bytes())
}

/// As [`write_secret`], for bytes (an encrypted key backup).
pub fn write_secret_bytes(path: &Path, content: &[u8]) -> Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(content)?;
    f.sync_all()?;
    Ok(())
}

/// Writes a file atomically (temp file, then rename).
pub fn write_atomic(path: &Path, content: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f =
            fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(content.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// A fresh random token, 32 bytes as hex.
pub fn new_token() -> Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(b))
}

/// The libp2p PeerId of an ed25519 node key: base58 of the identity multihash of the
/// protobuf-encoded public key (`12D3KooW…`).
pub fn peer_id(key: &SecretKey) -> String {
    let mut buf = vec![0x00, 36, 0x08, 0x01, 0x12, 0x20];
    buf.extend_from_slice(key.public().as_bytes());
    bs58::encode(buf).into_string()
}

/// What `lgmesh run` writes so other commands can find it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Running {
    /// gRPC address bound.
    pub grpc: SocketAddr,
    /// HTTP address bound.
    pub http: SocketAddr,
    /// Process id.
    pub pid: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_has_the_ed25519_prefix() {
        let k = SecretKey::from_seed(&[1; 32]);
        assert!(peer_id(&k).starts_with("12D3KooW"), "{}", peer_id(&k));
    }
}
