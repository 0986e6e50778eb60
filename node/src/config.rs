//! The node's configuration, `lgmesh.toml`: its settings, their defaults and their
//! checks. The data directory that holds the file, and the keys beside it, are
//! [`crate::datadir`]'s.
//!
//! Precedence: command-line flag, then `LGMESH_*` environment variable (both handled by
//! clap), then `lgmesh.toml`, then the defaults here.

mod network;
mod org;
mod trust;

pub use network::NetworkConfig;
pub use org::{OrgConfig, org_type_value};
pub use trust::{DEFAULT_DOMAIN_SUFFIXES, TrustConfig};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// Default gRPC address: loopback only.
pub const DEFAULT_GRPC: &str = "127.0.0.1:7420";
/// Default HTTP address (health, metrics): loopback only.
pub const DEFAULT_HTTP: &str = "127.0.0.1:7421";

/// `lgmesh.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Who this node speaks for.
    pub org: OrgConfig,
    /// The gRPC API.
    pub grpc: GrpcConfig,
    /// The HTTP endpoints.
    pub http: HttpConfig,
    /// Manifest rules.
    pub manifests: ManifestConfig,
    /// The store.
    pub store: StoreConfig,
    /// The peer-to-peer network.
    pub network: NetworkConfig,
    /// Whom this node trusts.
    pub trust: TrustConfig,
}

/// `[store]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Upper bound of sled's page cache, MiB.
    pub cache_mb: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            cache_mb: lgmesh_registry::store::DEFAULT_CACHE_BYTES / (1024 * 1024),
        }
    }
}

/// `[grpc]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// Listen address; port 0 picks a free port.
    pub addr: String,
    /// Allow a non-loopback address without TLS.
    pub allow_remote: bool,
    /// Largest request accepted, bytes.
    pub max_request_bytes: usize,
    /// Concurrent requests per connection.
    pub max_concurrent_per_connection: usize,
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

/// `[http]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address; port 0 picks a free port.
    pub addr: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            addr: DEFAULT_HTTP.into(),
        }
    }
}

/// `[manifests]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ManifestConfig {
    /// Lifetime of a manifest this node signs, in days.
    pub expiry_days: u64,
    /// Largest manifest accepted, bytes.
    pub max_manifest_bytes: usize,
    /// How far in the future a manifest's issue time may be, seconds.
    pub max_clock_skew_secs: u64,
    /// Re-sign this node's own manifests when they have fewer than this many days left.
    pub renew_days_before: u64,
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
    /// Validation limits from the config.
    pub fn limits(&self) -> lgmesh_protocol::validate::Limits {
        lgmesh_protocol::validate::Limits {
            max_manifest_bytes: self.manifests.max_manifest_bytes,
            max_clock_skew_ms: self.manifests.max_clock_skew_secs.saturating_mul(1000),
            allow_expired: false,
        }
    }
}

fn list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| q(s)).collect();
    format!("[{}]", items.join(", "))
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// The commented config file.
pub fn render_config(c: &Config) -> String {
    format!(
        r#"# lgmesh node configuration.
# Every value here can be overridden by a command-line flag or an LGMESH_* environment
# variable (see `lgmesh run --help`). Keys and the admin token live beside this file;
# this file holds no secret.

[org]
# The organisation this node speaks for: scheme:value. gss: is the ONS GSS code.
id = {id}
name = {name}
# county, district, unitary, london-borough, metropolitan-district, scottish-council,
# welsh-council, ni-council, parish-town, combined-authority, third-sector, central, other
type = {ty}
# Homepage. Other nodes may check /.well-known/lgmesh.json there (domain proof).
website = {web}
# Where people write about this organisation's manifests.
contact_email = {email}
# true only for the throwaway identity `lgmesh run` makes in an empty data dir.
development = {dev}

[grpc]
# The gRPC API (registry and node services, health, reflection).
# Loopback by default: reads are open to anyone who can reach it. Port 0 picks a free port.
addr = {grpc}
# Binding a non-loopback address without TLS needs this set to true.
allow_remote = {remote}
# Largest request accepted, bytes.
max_request_bytes = {maxreq}
# Concurrent requests on one connection.
max_concurrent_per_connection = {maxconc}

[http]
# /healthz, /readyz and /metrics (Prometheus text format). Port 0 picks a free port.
addr = {http}

[store]
# Upper bound of the store's page cache, MiB. It fills only as the store is used (an
# idle node holds far less); larger speeds up bulk ingest and search over big stores.
cache_mb = {cache}

[network]
# The federation to join. Part of every protocol id: nodes of different networks never
# talk. "uk" is the real federation; use your own name for tests and demos.
name = {net}
# libp2p listen addresses (multiaddrs). TCP and QUIC on port 4001 by default; port 0
# picks a free port. A node behind NAT can add a relay circuit address:
# "/ip4/RELAY-IP/tcp/4001/p2p/RELAY-PEER-ID/p2p-circuit".
listen = {listen}
# Peers to join through: full multiaddrs ending in /p2p/<peer id>.
bootstrap = {boot}
# Addresses other nodes reach this node at, when you know better than AutoNAT
# (a forwarded port, a public IP). Usually empty.
external = {ext}
# Find peers on the local network with mDNS (off for production).
mdns = {mdns}
# Kademlia mode: "auto" (server until AutoNAT says unreachable), "server" or "client".
kad = {kad}
# Relay connections for nodes behind NAT. The node relays only once it knows its
# public address: set `external` above (or wait for AutoNAT to confirm one).
relay_server = {relay}
# Peers to keep: below target_peers the node dials more; above max_peers it disconnects
# the surplus (never gossip mesh or bootstrap peers), back down to halfway between the two.
target_peers = {target}
max_peers = {maxpeers}
# Connections in all (a hard limit), and inbound connections from one IP address.
max_connections = {maxconn}
max_connections_per_ip = {perip}
# Anti-entropy: seconds between reconciliations with a random peer (every new
# connection reconciles too), ids per fetch, KiB per response, rounds at once,
# requests answered at once, and requests per second one peer may make.
sync_interval_secs = {syncint}
sync_max_fetch_ids = {fetchids}
sync_max_response_kb = {respkb}
sync_max_concurrent = {syncconc}
sync_max_inbound = {syncin}
sync_requests_per_sec = {syncrate:?}
# Gossip messages one peer may hand this node per second (bursts of five times that);
# beyond it they are ignored, so one flooding peer cannot crowd out the others.
gossip_per_peer_per_sec = {gossiprate:?}
# Bad manifests or frames from one peer before it is cut off, and for how long (s).
max_strikes = {strikes}
ban_secs = {ban}

[manifests]
# How long a manifest this node signs stays current, in days.
expiry_days = {exp}
# Largest manifest accepted from anyone, bytes.
max_manifest_bytes = {maxm}
# How far in the future a manifest's issue time may be, seconds.
max_clock_skew_secs = {skew}
# While it runs, the node re-signs its own manifests (same content, next version, new
# expiry) once they have fewer than this many days left, so they never lapse.
renew_days_before = {renew}

[trust]
# A publisher key is verified on this node when you trust it directly
# (`lgmesh trust add did:key:... --org gss:...`) or when this many organisations that
# this node already verifies have endorsed it (`lgmesh endorse`).
endorsements_required = {k}
# What a publisher this node does not verify may have stored here: manifests (its
# current ones, tombstones included, and any evidence against it; an update replaces
# what it updates, and expired ones are swept away), KiB, and MiB for all unverified
# publishers together. Beyond these its manifests are refused (reason "quota") and not
# relayed; verified publishers have no quota.
unverified_max_manifests = {qm}
unverified_max_kb = {qkb}
unverified_total_mb = {qtot}
# Domain proof: a key is verified too when the website on its org card serves
# /.well-known/lgmesh.json listing it (`lgmesh init` prints the file). Checked over
# HTTPS, only for websites under these domains; [] turns domain proof off.
domain_suffixes = {dsuf}
# Hours between checks of each website, and hours a proof outlives re-checks that
# cannot reach the website (a 404 or a file without the key ends it at once).
domain_recheck_hours = {drecheck}
domain_grace_hours = {dgrace}
domain_timeout_secs = {dtimeout}
# Development only: check http:// websites too.
domain_allow_http = {dhttp}
# PEM certificates to trust besides the system's (e.g. your TLS-inspecting proxy).
domain_ca_file = {dca}
# A key proven by its organisation's own official domain may vouch for others
# (endorse, revoke); one proven by any other website under the suffixes may not.
# Principal councils' domains are built in; add others as "org=domain".
official_domains = {doff}
"#,
        id = q(&c.org.id),
        name = q(&c.org.name),
        ty = q(&c.org.org_type),
        web = q(&c.org.website),
        email = q(&c.org.contact_email),
        dev = c.org.development,
        grpc = q(&c.grpc.addr),
        remote = c.grpc.allow_remote,
        maxreq = c.grpc.max_request_bytes,
        maxconc = c.grpc.max_concurrent_per_connection,
        http = q(&c.http.addr),
        exp = c.manifests.expiry_days,
        maxm = c.manifests.max_manifest_bytes,
        skew = c.manifests.max_clock_skew_secs,
        renew = c.manifests.renew_days_before,
        cache = c.store.cache_mb,
        net = q(&c.network.name),
        listen = list(&c.network.listen),
        boot = list(&c.network.bootstrap),
        ext = list(&c.network.external),
        mdns = c.network.mdns,
        kad = q(&c.network.kad),
        relay = c.network.relay_server,
        maxconn = c.network.max_connections,
        target = c.network.target_peers,
        maxpeers = c.network.max_peers,
        perip = c.network.max_connections_per_ip,
        syncint = c.network.sync_interval_secs,
        fetchids = c.network.sync_max_fetch_ids,
        respkb = c.network.sync_max_response_kb,
        syncconc = c.network.sync_max_concurrent,
        syncin = c.network.sync_max_inbound,
        syncrate = c.network.sync_requests_per_sec,
        gossiprate = c.network.gossip_per_peer_per_sec,
        strikes = c.network.max_strikes,
        ban = c.network.ban_secs,
        k = c.trust.endorsements_required,
        qm = c.trust.unverified_max_manifests,
        qkb = c.trust.unverified_max_kb,
        qtot = c.trust.unverified_total_mb,
        dsuf = list(&c.trust.domain_suffixes),
        drecheck = c.trust.domain_recheck_hours,
        dgrace = c.trust.domain_grace_hours,
        dtimeout = c.trust.domain_timeout_secs,
        dhttp = c.trust.domain_allow_http,
        dca = q(&c.trust.domain_ca_file),
        doff = list(&c.trust.official_domains),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_config_parses_back() {
        let c = Config::default();
        let back: Config = toml::from_str(&render_config(&c)).expect("parses");
        assert_eq!(back.grpc.addr, DEFAULT_GRPC);
    }
}
