//! `lgmesh init`'s files: two keys, the admin token and the commented config.

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

/// Creates a data directory: keys, token, config. Refuses to touch an initialised one.
pub fn init(dir: &DataDir, o: &InitOptions) -> Result<Config> {
    if dir.is_initialised() {
        bail!(
            "{} is already initialised (it has lgmesh.toml and publisher.key)",
            dir.0.display()
        );
    }
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
        },
        ..Default::default()
    };
    // Made before anything is written: a config that cannot be rendered leaves no
    // half-made data dir behind.
    let template = config::docs::template(&config)?;
    fs::create_dir_all(&dir.0).with_context(|| format!("cannot create {}", dir.0.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o700))?;
    }
    let publisher = SecretKey::generate().map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let node = SecretKey::generate().map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    write_secret(
        &dir.publisher_key(),
        &format!("{}\n", hex::encode(publisher.to_seed().as_ref())),
    )?;
    write_secret(
        &dir.node_key(),
        &format!("{}\n", hex::encode(node.to_seed().as_ref())),
    )?;
    write_secret(&dir.admin_token(), &format!("{}\n", new_token()?))?;
    write_atomic(&dir.config(), &template)?;
    Ok(config)
}
