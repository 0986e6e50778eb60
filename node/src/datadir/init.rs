//! `lgmesh init`'s files: two keys (one for an observer), the admin token and the
//! commented config.

use std::fs;

use anyhow::{Context, Result, bail};
use lgmesh_protocol::identity::{OrgId, SecretKey};

use super::{DataDir, new_token, write_atomic, write_secret};
use crate::config::{self, Config, OrgConfig};

/// What `init` needs.
pub struct InitOptions {
    /// Organisation id.
    pub org: OrgId,
    /// Organisation name.
    pub name: String,
    /// Organisation type (see [`OrgConfig::org_type`]).
    pub org_type: String,
    /// Homepage.
    pub website: String,
    /// Contact email.
    pub contact_email: String,
    /// A development identity.
    pub development: bool,
}

/// Refuses a data dir that holds a config or a key already: nothing is overwritten.
fn refuse_initialised(dir: &DataDir) -> Result<()> {
    for f in [
        dir.config(),
        dir.publisher_key(),
        dir.node_key(),
        dir.admin_token(),
    ] {
        if f.exists() {
            bail!(
                "{} is already initialised, at least in part (it has {}); use a new data dir",
                dir.0.display(),
                f.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            );
        }
    }
    Ok(())
}

/// Creates an observer's data directory: the node key, the token and a config with
/// `org.observer = true`; no organisation key. Refuses to touch an initialised one.
pub fn init_observer(dir: &DataDir) -> Result<Config> {
    refuse_initialised(dir)?;
    let config = Config {
        org: OrgConfig {
            observer: true,
            ..Default::default()
        },
        ..Default::default()
    };
    create(dir, &config, None)?;
    Ok(config)
}

/// Creates a data directory: keys, token, config. Refuses to touch an initialised one.
pub fn init(dir: &DataDir, o: &InitOptions) -> Result<Config> {
    refuse_initialised(dir)?;
    if !o.website.is_empty() && !lgmesh_protocol::schema::is_http_url(&o.website) {
        bail!("--website: {:?} is not an http(s) URL", o.website);
    }
    if !o.contact_email.is_empty() && !lgmesh_protocol::schema::is_email(&o.contact_email) {
        bail!(
            "--contact-email: {:?} is not an email address",
            o.contact_email
        );
    }
    if o.name.trim().is_empty() || o.name.len() > 200 {
        bail!("--name: the organisation's name is required (1-200 characters)");
    }
    config::org_type_value(&o.org_type)?;
    let config = Config {
        org: OrgConfig {
            id: o.org.to_string(),
            name: o.name.trim().to_owned(),
            org_type: o.org_type.clone(),
            website: o.website.clone(),
            contact_email: o.contact_email.clone(),
            development: o.development,
            observer: false,
        },
        ..Default::default()
    };
    let publisher = SecretKey::generate().map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    create(dir, &config, Some(&publisher))?;
    Ok(config)
}

/// Writes the data dir's files for `config`: the organisation key when there is one,
/// a new node key, a new token, and the commented config, last.
fn create(dir: &DataDir, config: &Config, publisher: Option<&SecretKey>) -> Result<()> {
    // Made before anything is written: a config that cannot be rendered leaves no
    // half-made data dir behind.
    let template = config::docs::template(config)?;
    fs::create_dir_all(&dir.0).with_context(|| format!("cannot create {}", dir.0.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o700))?;
    }
    let node = SecretKey::generate().map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    if let Some(publisher) = publisher {
        write_secret(
            &dir.publisher_key(),
            &format!("{}\n", hex::encode(publisher.to_seed().as_ref())),
        )?;
    }
    write_secret(
        &dir.node_key(),
        &format!("{}\n", hex::encode(node.to_seed().as_ref())),
    )?;
    write_secret(&dir.admin_token(), &format!("{}\n", new_token()?))?;
    write_atomic(&dir.config(), &template)?;
    Ok(())
}
