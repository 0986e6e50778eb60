//! `lgmesh keys export` and `lgmesh keys import`: what a data dir cannot be rebuilt
//! without (the publisher key, the node key, the admin token and the config) in one file,
//! encrypted under a passphrase in the age format ([`age`]), so that it also opens with
//! the standard `age -d`, without lgmesh.
//!
//! Decrypted, the file is TOML (`format` names its version; each other field holds one
//! file of the data dir, byte for byte):
//!
//! ```toml
//! format = "lgmesh-keys/1"
//! created_ms = 1764921600000
//! org = "gss:E07000209"          # "" for an observer
//! observer = false
//! publisher = "did:key:z6Mk…"    # absent for an observer, as is publisher_key
//! publisher_key = "…\n"          # publisher.key
//! node_key = "…\n"               # node.key
//! admin_token = "…\n"            # admin.token
//! config = "…"                   # lgmesh.toml
//! ```
//!
//! A [`Backup`] is what a file or a data dir holds; [`Backup::check`] makes the
//! [`CheckedBackup`] that export seals and import writes: its keys parse, the publisher
//! key is the `did:key` it names, and the config is one this node reads.

pub mod age;

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use lgmesh_protocol::identity::{PublisherKey, SecretKey};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::config::Config;
use crate::datadir::{self, DataDir};

/// The version of the plaintext inside the age file.
pub const FORMAT: &str = "lgmesh-keys/1";

/// The shortest passphrase export takes, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

/// The largest key, token or passphrase file read: they hold a line each.
const MAX_SECRET_FILE_BYTES: u64 = 4096;
/// The largest `lgmesh.toml` exported (the commented default is about 20 KiB).
const MAX_CONFIG_BYTES: u64 = 256 * 1024;

/// The files of a data dir that a backup holds, as they are on disk.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    /// [`FORMAT`].
    pub format: String,
    /// When it was made, Unix milliseconds.
    pub created_ms: u64,
    /// The organisation id (`org.id` of the config); empty for an observer.
    pub org: String,
    /// An observer's data dir: no publisher key.
    pub observer: bool,
    /// The publisher key's `did:key`, so that import can check the key against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// `publisher.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher_key: Option<String>,
    /// `node.key`.
    pub node_key: String,
    /// `admin.token`.
    pub admin_token: String,
    /// `lgmesh.toml`.
    pub config: String,
}

impl Drop for Backup {
    fn drop(&mut self) {
        self.publisher_key.zeroize();
        self.node_key.zeroize();
        self.admin_token.zeroize();
    }
}

/// A backup whose keys parse and agree with what it says of itself.
pub struct CheckedBackup {
    backup: Backup,
    publisher: Option<PublisherKey>,
    node: String,
}

impl CheckedBackup {
    /// The files it holds.
    pub fn backup(&self) -> &Backup {
        &self.backup
    }
    /// The publisher key (none for an observer).
    pub fn publisher(&self) -> Option<&PublisherKey> {
        self.publisher.as_ref()
    }
    /// The node's peer id.
    pub fn node(&self) -> &str {
        &self.node
    }
    /// The names of the files it holds.
    pub fn files(&self) -> Vec<&'static str> {
        let mut f = Vec::with_capacity(4);
        if self.backup.publisher_key.is_some() {
            f.push("publisher.key");
        }
        f.extend(["node.key", "admin.token", "lgmesh.toml"]);
        f
    }
}

impl Backup {
    /// Reads a data dir's files, refusing key files that others can read (as the node
    /// does) and a rotation left part-way.
    pub fn read(dir: &DataDir) -> Result<Backup> {
        if !dir.is_initialised() {
            bail!(
                "{} is not a data dir (no lgmesh.toml): there is nothing to export",
                dir.0.display()
            );
        }
        let pending = dir.0.join("publisher.key.new");
        if pending.exists() {
            bail!(
                "{} exists: a key rotation stopped part-way; finish it (ops/README.md) before exporting",
                pending.display()
            );
        }
        let config = read_bounded(&dir.config(), MAX_CONFIG_BYTES)?;
        let parsed: Config = toml::from_str(&config)
            .map_err(|e| anyhow!("{}: {}", dir.config().display(), e.message()))?;
        let publisher_key = if dir.publisher_key().exists() || !parsed.org.observer {
            Some(read_secret(&dir.publisher_key())?)
        } else {
            None
        };
        let publisher = match &publisher_key {
            Some(text) => Some(
                parse_key(text)
                    .ok_or_else(|| {
                        anyhow!(
                            "{}: not a key (64 hex characters expected)",
                            dir.publisher_key().display()
                        )
                    })?
                    .public()
                    .to_string(),
            ),
            None => None,
        };
        Ok(Backup {
            format: FORMAT.into(),
            created_ms: lgmesh_protocol::now_ms(),
            org: parsed.org.id.clone(),
            observer: parsed.org.observer,
            publisher,
            publisher_key: publisher_key.map(|k| k.to_string()),
            node_key: read_secret(&dir.node_key())?.to_string(),
            admin_token: read_secret(&dir.admin_token())?.to_string(),
            config: config.to_string(),
        })
    }

    /// The TOML inside the age file.
    fn to_text(&self) -> Result<Zeroizing<String>> {
        let body = Zeroizing::new(toml::to_string(self).context("cannot write the backup")?);
        Ok(Zeroizing::new(format!(
            "# An lgmesh key backup, made by `lgmesh keys export`: restore it with\n\
             # `lgmesh keys import FILE --data-dir DIR`. Each field below holds one file of the\n\
             # data dir, as it was; whoever reads this can publish as the organisation.\n{}",
            body.as_str()
        )))
    }

    /// Reads the TOML inside the age file: a version this release knows, with the
    /// fields it expects and no others.
    fn from_text(text: &str) -> Result<Backup> {
        let table: toml::Table = toml::from_str(text).map_err(|e| anyhow!("{}", e.message()))?;
        match table.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(other) => bail!(
                "format {:?}: this lgmesh reads {FORMAT:?} (a newer lgmesh made it?)",
                other.chars().take(40).collect::<String>()
            ),
            None => bail!("format: missing (not an lgmesh key backup)"),
        }
        drop(table);
        toml::from_str(text).map_err(|e| anyhow!("{}", e.message()))
    }

    /// Checks that the keys parse, that the publisher key is the `did:key` named, and
    /// that the config is one this node reads, for this organisation.
    pub fn check(self) -> Result<CheckedBackup> {
        let config: Config = toml::from_str(&self.config)
            .map_err(|e| anyhow!("config (lgmesh.toml): {}", e.message()))?;
        if config.org.id != self.org || config.org.observer != self.observer {
            bail!(
                "org: {:?} (observer: {}) is not what its lgmesh.toml says ({:?}, observer: {})",
                self.org,
                self.observer,
                config.org.id,
                config.org.observer
            );
        }
        let node = parse_key(&self.node_key)
            .ok_or_else(|| anyhow!("node_key: not a key (64 hex characters expected)"))?;
        let publisher = match (&self.publisher_key, &self.publisher) {
            (Some(key), Some(did)) => {
                let key = parse_key(key).ok_or_else(|| {
                    anyhow!("publisher_key: not a key (64 hex characters expected)")
                })?;
                let did: PublisherKey = did.parse().map_err(|e| anyhow!("publisher: {e}"))?;
                if key.public() != did {
                    bail!(
                        "publisher_key: not the key of {did} that the backup names (damaged, or edited?)"
                    );
                }
                Some(did)
            }
            (Some(_), None) => bail!("publisher: missing, though the backup holds a publisher key"),
            (None, Some(_)) => bail!("publisher_key: missing, though the backup names a publisher"),
            (None, None) if !self.observer => {
                bail!("publisher_key: missing, and the backup is not an observer's")
            }
            (None, None) => None,
        };
        let token = self.admin_token.trim();
        if token.is_empty() || token.len() > 1024 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            bail!("admin_token: not a token (1 to 1,024 visible ASCII characters)");
        }
        Ok(CheckedBackup {
            node: datadir::peer_id(&node),
            publisher,
            backup: self,
        })
    }
}

/// Encrypts a backup under `passphrase`, with scrypt work factor `work_factor`.
pub fn seal(b: &CheckedBackup, passphrase: &Passphrase, work_factor: u8) -> Result<Vec<u8>> {
    let text = b.backup.to_text()?;
    age::encrypt(text.as_bytes(), passphrase.as_bytes(), work_factor)
        .map_err(|e| anyhow!("cannot encrypt the backup: {e}"))
}

/// Decrypts and checks a backup. `name` names the file in errors.
pub fn open(name: &str, file: &[u8], passphrase: &Passphrase) -> Result<CheckedBackup> {
    let plain = age::decrypt(file, passphrase.as_bytes()).map_err(|e| anyhow!("{name}: {e}"))?;
    let text = std::str::from_utf8(&plain)
        .map_err(|_| anyhow!("{name}: decrypted, but not an lgmesh key backup (not text)"))?;
    let backup = Backup::from_text(text)
        .map_err(|e| anyhow!("{name}: decrypted, but not an lgmesh key backup: {e}"))?;
    backup.check().map_err(|e| anyhow!("{name}: {e}"))
}

/// Reads an age file of at most [`age::MAX_FILE_BYTES`].
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > age::MAX_FILE_BYTES as u64 {
        bail!(
            "{}: {} bytes is more than a key backup holds (at most {})",
            path.display(),
            meta.len(),
            age::MAX_FILE_BYTES
        );
    }
    if !meta.is_file() {
        bail!("{}: not a regular file", path.display());
    }
    // Bounded as read too: the file may grow between the two looks.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(
            fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
            age::MAX_FILE_BYTES as u64 + 1,
        ),
        &mut bytes,
    )
    .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() > age::MAX_FILE_BYTES {
        bail!("{}: more than a key backup holds", path.display());
    }
    Ok(bytes)
}

/// What [`restore`] did with each file.
pub struct Restored {
    /// Files it wrote.
    pub written: Vec<&'static str>,
    /// Files that were there already, identical to the backup's.
    pub unchanged: Vec<&'static str>,
}

/// Writes a backup's files into `dir` (mode 0600), made if missing. A file that is
/// there already must be identical to the backup's: nothing is ever replaced, and
/// nothing is written until every existing file has been compared.
pub fn restore(dir: &DataDir, b: &CheckedBackup) -> Result<Restored> {
    let b = &b.backup;
    let files = [
        (
            "publisher.key",
            dir.publisher_key(),
            b.publisher_key.as_deref(),
        ),
        ("node.key", dir.node_key(), Some(b.node_key.as_str())),
        (
            "admin.token",
            dir.admin_token(),
            Some(b.admin_token.as_str()),
        ),
        // Last, as `init` does: its presence is what makes a data dir initialised.
        ("lgmesh.toml", dir.config(), Some(b.config.as_str())),
    ];
    let (mut to_write, mut unchanged) = (Vec::new(), Vec::new());
    for (name, path, content) in &files {
        let exists = match fs::symlink_metadata(path) {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => bail!("cannot read {}: {e}", path.display()),
        };
        match (exists, content) {
            (false, Some(content)) => to_write.push((*name, path, *content)),
            (false, None) => {}
            (true, None) => bail!(
                "{} exists, and the backup is an observer's, which has none: import into a new data dir",
                path.display()
            ),
            (true, Some(content)) => {
                let limit = MAX_CONFIG_BYTES.max(content.len() as u64);
                let same = read_bounded(path, limit)
                    .map(|on_disk| on_disk.as_bytes() == content.as_bytes())
                    .unwrap_or(false);
                if !same {
                    bail!(
                        "{} exists and is not the backup's: import never replaces a file; import into a new data dir, or move it aside",
                        path.display()
                    );
                }
                if *name != "lgmesh.toml" {
                    datadir::check_private(path)?;
                }
                unchanged.push(*name);
            }
        }
    }
    if !to_write.is_empty() && !dir.0.exists() {
        fs::create_dir_all(&dir.0).with_context(|| format!("cannot create {}", dir.0.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o700))?;
        }
    }
    let mut written = Vec::new();
    for (name, path, content) in to_write {
        datadir::write_secret(path, content).with_context(|| {
            format!("wrote {written:?} before this failed; run the import again once it is fixed")
        })?;
        written.push(name);
    }
    Ok(Restored { written, unchanged })
}

/// A passphrase, wiped from memory when dropped. Read from a terminal without echo, or
/// from a file only its owner can read; never from the command line or the environment,
/// where other users and logs can see it.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// The passphrase for a new backup: from `file`, or asked twice on the terminal; at
    /// least [`MIN_PASSPHRASE_CHARS`] characters.
    pub fn new_backup(file: Option<&Path>) -> Result<Passphrase> {
        let p = match file {
            Some(f) => Passphrase::from_file(f)?,
            None => Passphrase::ask("Passphrase for the key backup: ")?,
        };
        let n = p.0.chars().count();
        if n < MIN_PASSPHRASE_CHARS {
            bail!(
                "passphrase: {n} characters is too short; use at least {MIN_PASSPHRASE_CHARS} (a few words are easy to remember and hard to guess)"
            );
        }
        if file.is_none() {
            let again = Passphrase::ask("The same passphrase again: ")?;
            if again.0 != p.0 {
                bail!("passphrase: the two entries differ; nothing was written");
            }
        }
        Ok(p)
    }

    /// The passphrase of an existing backup: from `file`, or asked once.
    pub fn existing(file: Option<&Path>) -> Result<Passphrase> {
        let p = match file {
            Some(f) => Passphrase::from_file(f)?,
            None => Passphrase::ask("Passphrase of the key backup: ")?,
        };
        if p.0.is_empty() {
            bail!("passphrase: empty");
        }
        Ok(p)
    }

    fn ask(prompt: &str) -> Result<Passphrase> {
        rpassword::prompt_password(prompt)
            .map(|p| Passphrase(Zeroizing::new(p)))
            .map_err(|e| {
                anyhow!(
                    "passphrase: cannot ask on the terminal ({e}); without one, use --passphrase-file PATH"
                )
            })
    }

    /// The file's one line (its line end dropped). The file must be private.
    fn from_file(path: &Path) -> Result<Passphrase> {
        datadir::check_private(path).map_err(|e| anyhow!("--passphrase-file: {e}"))?;
        let text = read_bounded(path, MAX_SECRET_FILE_BYTES)
            .map_err(|e| anyhow!("--passphrase-file: {e}"))?;
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.contains('\n') {
            bail!(
                "--passphrase-file: {} has more than one line; it must hold the passphrase alone",
                path.display()
            );
        }
        Ok(Passphrase(Zeroizing::new(line.to_owned())))
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// A secret file of the data dir, refused if others can read it.
fn read_secret(path: &Path) -> Result<Zeroizing<String>> {
    datadir::check_private(path)?;
    read_bounded(path, MAX_SECRET_FILE_BYTES)
}

/// A text file of at most `limit` bytes, whole.
fn read_bounded(path: &Path, limit: u64) -> Result<Zeroizing<String>> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > limit {
        bail!(
            "{}: {} bytes is over the limit of {limit}",
            path.display(),
            meta.len()
        );
    }
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read {} as UTF-8 text", path.display()))?;
    Ok(Zeroizing::new(text))
}

/// A key file's contents: a 32-byte seed in hex.
fn parse_key(text: &str) -> Option<SecretKey> {
    let mut seed = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), seed.as_mut()).ok()?;
    Some(SecretKey::from_seed(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(observer: bool) -> Backup {
        let publisher = SecretKey::from_seed(&[1; 32]);
        Backup {
            format: FORMAT.into(),
            created_ms: 1,
            org: if observer {
                String::new()
            } else {
                "gss:E07000209".into()
            },
            observer,
            publisher: (!observer).then(|| publisher.public().to_string()),
            publisher_key: (!observer).then(|| format!("{}\n", hex::encode([1; 32]))),
            node_key: format!("{}\n", hex::encode([2; 32])),
            admin_token: "abc123\n".into(),
            config: if observer {
                "[org]\nobserver = true\n".into()
            } else {
                "[org]\nid = \"gss:E07000209\"\nname = \"Guildford\"\n".into()
            },
        }
    }

    #[test]
    fn the_text_round_trips_and_is_checked() {
        for observer in [false, true] {
            let b = backup(observer);
            let text = b.to_text().expect("text");
            assert!(
                text.contains("format = \"lgmesh-keys/1\""),
                "{}",
                text.as_str()
            );
            let back = Backup::from_text(&text)
                .expect("parse")
                .check()
                .expect("check");
            assert_eq!(back.backup.node_key, b.node_key);
            assert_eq!(back.backup.config, b.config);
            assert_eq!(back.publisher.is_some(), !observer);
        }
    }

    #[test]
    fn a_backup_that_contradicts_itself_is_refused() {
        let other = SecretKey::from_seed(&[9; 32]).public().to_string();
        type Edit = Box<dyn Fn(&mut Backup)>;
        let cases: Vec<(&str, Edit)> = vec![
            (
                "publisher_key: not the key",
                Box::new(move |b| b.publisher = Some(other.clone())),
            ),
            (
                "publisher_key: not a key",
                Box::new(|b| b.publisher_key = Some("zz".into())),
            ),
            (
                "publisher_key: missing",
                Box::new(|b| b.publisher_key = None),
            ),
            (
                "node_key: not a key",
                Box::new(|b| b.node_key = "12".into()),
            ),
            ("org: ", Box::new(|b| b.org = "gss:E07000001".into())),
            ("admin_token", Box::new(|b| b.admin_token = "a b".into())),
            (
                "config (lgmesh.toml)",
                Box::new(|b| b.config = "[org".into()),
            ),
        ];
        for (want, edit) in cases {
            let mut b = backup(false);
            edit(&mut b);
            let err = b.check().err().expect("refused").to_string();
            assert!(err.starts_with(want), "{want}: {err}");
        }
    }

    #[test]
    fn another_format_or_field_is_refused() {
        let text = backup(false).to_text().expect("text");
        let newer = text.replace("lgmesh-keys/1", "lgmesh-keys/2");
        let err = Backup::from_text(&newer)
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("lgmesh-keys/2"), "{err}");
        let extra = format!("{}\nsurprise = 1\n", text.as_str());
        assert!(Backup::from_text(&extra).is_err());
        assert!(Backup::from_text("node_key = \"x\"").is_err());
    }
}
