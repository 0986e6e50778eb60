//! The node's configuration, `lgmesh.toml`: its settings, their defaults and their
//! checks. The data directory that holds the file, and the keys beside it, are
//! [`crate::datadir`]'s.
//!
//! Each setting is described once, in the doc comment on its field: the structs are
//! declared through `docs::documented!`, and [`docs`] makes the commented file that
//! `lgmesh init` writes and `ops/config-reference.md` from those comments. To change
//! what a setting says, change its doc comment, then run
//! `LGMESH_BLESS=1 cargo test -p lgmesh --test config_docs`.
//!
//! | file | holds |
//! | --- | --- |
//! | `config.rs` | the file as a whole; `[grpc]`, `[http]`, `[store]`, `[manifests]` |
//! | `config/org.rs` | `[org]`, and the organisation types |
//! | `config/network.rs` | `[network]`, and its translation into the network layer's config |
//! | `config/trust.rs` | `[trust]`: endorsements, quotas, domain proof |
//! | `config/docs.rs` | the template and the reference, made from the doc comments |
//!
//! Precedence: command-line flag, then `LGMESH_*` environment variable (both handled by
//! clap), then `lgmesh.toml`, then the defaults here.

pub mod docs;
mod network;
mod org;
mod trust;

pub use network::NetworkConfig;
pub use org::{OrgConfig, org_type_value};
pub use trust::{DEFAULT_DOMAIN_SUFFIXES, TrustConfig};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use docs::documented;

/// Default gRPC address: loopback only.
pub const DEFAULT_GRPC: &str = "127.0.0.1:7420";
/// Default HTTP address (health, metrics): loopback only.
pub const DEFAULT_HTTP: &str = "127.0.0.1:7421";

documented! {
    /// `lgmesh.toml`: one table per section, each with a `Default` that works for local
    /// development. The fields' doc comments head the tables in the file `init` writes.
    #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
    pub struct Config {
        /// Who this node speaks for: the organisation on its org card.
        pub org: OrgConfig,
        /// The gRPC API: the registry, trust and node services, health and reflection.
        pub grpc: GrpcConfig,
        /// Health and metrics over HTTP: `/healthz`, `/readyz` and `/metrics` (Prometheus
        /// text format).
        pub http: HttpConfig,
        /// TLS for gRPC and HTTP: served whenever they listen beyond loopback (another
        /// machine can then read the catalogue, and write with the admin token, which
        /// TLS keeps secret). A renewed certificate is served without a restart.
        pub tls: TlsConfig,
        /// The store: sled, with the search index beside it.
        pub store: StoreConfig,
        /// The peer-to-peer network (libp2p): addresses, peers, sync and the limits that
        /// keep one peer from crowding out the others.
        pub network: NetworkConfig,
        /// What this node signs, and what it accepts from anyone.
        pub manifests: ManifestConfig,
        /// Whom this node trusts: a publisher key is verified when you trust it directly
        /// (`lgmesh trust add`), when enough organisations this node verifies endorse it,
        /// when its organisation's website lists it (domain proof), or when a verified key
        /// rotated to it.
        pub trust: TrustConfig,
    }
}

documented! {
    /// `[grpc]`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct GrpcConfig {
        /// Listen address. Loopback by default: reads are open to anyone who can reach
        /// it, writes need the admin token. Beyond loopback (e.g. "0.0.0.0:7420") it
        /// serves TLS, so `[tls]` needs a certificate. Port 0 picks a free port.
        #[flag = "grpc-addr"]
        pub addr: String,
        /// Serve in clear beyond loopback, without `[tls]`: only behind a proxy that
        /// terminates TLS. Writes in clear are still refused unless they come from
        /// this machine (a proxy on the same host).
        #[flag = "allow-remote-grpc"]
        pub allow_remote: bool,
        /// Largest request accepted, bytes.
        pub max_request_bytes: usize,
        /// Requests served at once on one connection.
        pub max_concurrent_per_connection: usize,
    }
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            addr: DEFAULT_GRPC.into(),
            allow_remote: false,
            max_request_bytes: 512 * 1024,
            max_concurrent_per_connection: 64,
        }
    }
}

documented! {
    /// `[http]`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct HttpConfig {
        /// Listen address; port 0 picks a free port. Beyond loopback (e.g.
        /// "0.0.0.0:7421") it serves HTTPS, so `[tls]` needs a certificate.
        #[flag = "http-addr"]
        pub addr: String,
        /// Serve in clear beyond loopback, without `[tls]`: only behind a proxy that
        /// terminates TLS.
        #[flag = "allow-remote-http"]
        pub allow_remote: bool,
        /// The address people and harvesters reach the web interface at, when it is
        /// not `http://` plus `addr` (behind a reverse proxy), e.g.
        /// "https://lgmesh.guildford.gov.uk". The DCAT-AP catalogue's IRIs start with
        /// it. Empty: `http://` and the address bound.
        pub public_url: String,
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            addr: DEFAULT_HTTP.into(),
            allow_remote: false,
            public_url: String::new(),
        }
    }
}

documented! {
    /// `[tls]`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct TlsConfig {
        /// PEM file of the certificate chain, the node's own certificate first, e.g.
        /// "/etc/lgmesh/tls/fullchain.pem". Empty: no TLS, and gRPC and HTTP must
        /// listen on loopback.
        #[flag = "tls-cert"]
        pub cert_file: String,
        /// PEM file of the certificate's private key (PKCS#8, SEC1 or PKCS#1), e.g.
        /// "/etc/lgmesh/tls/privkey.pem". Its group may read it, other users may not.
        #[flag = "tls-key"]
        pub key_file: String,
        /// Serve TLS on loopback addresses too.
        pub on_loopback: bool,
        /// How often the two files are checked for a renewed certificate, seconds; a
        /// change is served from the next connection. SIGHUP checks at once.
        pub reload_secs: u64,
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert_file: String::new(),
            key_file: String::new(),
            on_loopback: false,
            reload_secs: 300,
        }
    }
}

impl TlsConfig {
    /// The certificate and key files, when both are set; an error names the one missing.
    pub fn files(&self) -> Result<Option<crate::tls::TlsFiles>> {
        match (self.cert_file.trim(), self.key_file.trim()) {
            ("", "") => Ok(None),
            ("", _) => bail!("tls.cert_file: empty, but tls.key_file is set; set both or neither"),
            (_, "") => bail!("tls.key_file: empty, but tls.cert_file is set; set both or neither"),
            (c, k) => Ok(Some(crate::tls::TlsFiles {
                cert: c.into(),
                key: k.into(),
            })),
        }
    }

    /// Whether a listener on `addr` serves TLS: beyond loopback always (when there is
    /// a certificate), on loopback with `on_loopback`.
    pub fn applies_to(&self, addr: &std::net::SocketAddr) -> bool {
        !addr.ip().to_canonical().is_loopback() || self.on_loopback
    }
}

documented! {
    /// `[store]`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct StoreConfig {
        /// Upper bound of the store's page cache, MiB. It fills only as the store is used
        /// (an idle node holds far less); larger speeds up bulk ingest and search over big
        /// stores. Outside it, the node keeps the federation's live heads in memory for
        /// sync, 65-80 bytes each (8 MB at 100,000), read from the store at the first sync
        /// after a start (about half a second at 100,000).
        pub cache_mb: u64,
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            cache_mb: lgmesh_registry::store::DEFAULT_CACHE_BYTES / (1024 * 1024),
        }
    }
}

documented! {
    /// `[manifests]`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ManifestConfig {
        /// How long a manifest this node signs stays current, days: 1 to three years (the
        /// protocol's longest lifetime).
        pub expiry_days: u64,
        /// Largest manifest accepted from anyone, bytes.
        pub max_manifest_bytes: usize,
        /// How far in the future a manifest's issue time may be, seconds.
        pub max_clock_skew_secs: u64,
        /// While it runs, the node re-signs its own manifests (same content, next version,
        /// new expiry) once they have fewer than this many days left, so they never lapse;
        /// it looks every hour. Less than `expiry_days`.
        pub renew_days_before: u64,
    }
}

impl Default for ManifestConfig {
    fn default() -> Self {
        Self {
            expiry_days: 365,
            max_manifest_bytes: 64 * 1024,
            max_clock_skew_secs: 300,
            renew_days_before: 30,
        }
    }
}

impl HttpConfig {
    /// Checks `public_url`, naming it: empty, or an absolute http(s) URL without
    /// spaces or quotes (the catalogue's IRIs start with it).
    pub fn check(&self) -> Result<()> {
        let u = self.public_url.trim();
        let ok = u.is_empty()
            || ((u.starts_with("https://") || u.starts_with("http://"))
                && u.len() > 8
                && u.len() <= 512
                && u.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~:/@!$&'()*+,;=%".contains(&b)));
        if !ok {
            bail!(
                "http.public_url: {u:?} is not an absolute http(s) URL, e.g. \"https://lgmesh.guildford.gov.uk\""
            );
        }
        Ok(())
    }
}

impl ManifestConfig {
    /// Checks the values, naming the one that is wrong.
    pub fn check(&self) -> Result<()> {
        if self.expiry_days == 0 || self.expiry_days > lgmesh_protocol::MAX_LIFETIME_DAYS {
            bail!(
                "manifests.expiry_days: {} is not between 1 and {} (the protocol's longest lifetime)",
                self.expiry_days,
                lgmesh_protocol::MAX_LIFETIME_DAYS
            );
        }
        if self.renew_days_before >= self.expiry_days {
            bail!(
                "manifests.renew_days_before: {} must be less than manifests.expiry_days ({})",
                self.renew_days_before,
                self.expiry_days
            );
        }
        Ok(())
    }
}

impl Config {
    /// The gRPC and HTTP addresses, parsed; an error names the key.
    pub fn listen_addrs(&self) -> Result<(std::net::SocketAddr, std::net::SocketAddr)> {
        let parse = |key: &str, v: &str| -> Result<std::net::SocketAddr> {
            v.parse().map_err(|_| {
                anyhow::anyhow!("{key}: {v:?} is not an address, e.g. \"127.0.0.1:7420\"")
            })
        };
        Ok((
            parse("grpc.addr", &self.grpc.addr)?,
            parse("http.addr", &self.http.addr)?,
        ))
    }

    /// Checks every value a node needs before it starts, naming the first that is
    /// wrong (`lgmesh run` and `lgmesh doctor` both).
    pub fn check(&self) -> Result<()> {
        let (grpc, http) = self.listen_addrs()?;
        let files = self.tls.files()?;
        // Beyond loopback, in clear, only where a proxy is said to terminate TLS.
        for (what, addr, allowed) in [
            ("grpc", grpc, self.grpc.allow_remote),
            ("http", http, self.http.allow_remote),
        ] {
            if !addr.ip().to_canonical().is_loopback() && files.is_none() && !allowed {
                bail!(
                    "{what}.addr: {addr} is beyond loopback, which needs TLS: set tls.cert_file and tls.key_file (--tls-cert, --tls-key); behind a proxy that terminates TLS, set {what}.allow_remote (--allow-remote-{what}) instead"
                );
            }
        }
        self.trust.check()?;
        self.manifests.check()?;
        self.http.check()?;
        self.network.to_net(self.manifests.max_manifest_bytes)?;
        Ok(())
    }

    /// Validation limits from the config.
    pub fn limits(&self) -> lgmesh_protocol::validate::Limits {
        lgmesh_protocol::validate::Limits {
            max_manifest_bytes: self.manifests.max_manifest_bytes,
            max_clock_skew_ms: self.manifests.max_clock_skew_secs.saturating_mul(1000),
            allow_expired: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_config_parses_back() {
        let c = Config::default();
        let back: Config = toml::from_str(&docs::template(&c).expect("renders")).expect("parses");
        assert_eq!(back.grpc.addr, DEFAULT_GRPC);
        assert_eq!(back, c);
    }
}
