//! The node's configuration, `lgmesh.toml`: its settings, their defaults and their
//! checks. The data directory that holds the file, and the keys beside it, are
//! [`crate::datadir`]'s.
//!
//! Precedence: command-line flag, then `LGMESH_*` environment variable (both handled by
//! clap), then `lgmesh.toml`, then the defaults here.

use anyhow::{Result, bail};
use lgmesh_protocol::identity::OrgId;
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

/// `[trust]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustConfig {
    /// Endorsements from verified organisations (other than the key's own) that verify a
    /// key: *k*, 1-100.
    pub endorsements_required: usize,
    /// Manifests one unverified publisher may have stored here (what it has now: an
    /// update replaces, expired ones are swept away; tombstones and evidence count).
    pub unverified_max_manifests: u64,
    /// KiB one unverified publisher may store here.
    pub unverified_max_kb: u64,
    /// MiB all unverified publishers together may store here.
    pub unverified_total_mb: u64,
    /// Domain proof is checked only for websites under these domains; empty turns it off.
    pub domain_suffixes: Vec<String>,
    /// Hours between checks of one website.
    pub domain_recheck_hours: u64,
    /// Hours a proof outlives a re-check that cannot reach the website.
    pub domain_grace_hours: u64,
    /// Seconds one check may take.
    pub domain_timeout_secs: u64,
    /// Check `http://` websites too. Development only: a proof over plain HTTP proves
    /// nothing on a real network.
    pub domain_allow_http: bool,
    /// PEM certificates trusted besides the system's (e.g. a TLS-inspecting proxy's).
    pub domain_ca_file: String,
    /// Official domains besides the built-in list of councils' own (`org=domain`, e.g.
    /// `"gss:E04012345=exampleparish.gov.uk"`): a key proven by a website under its
    /// organisation's official domain may vouch for others.
    pub official_domains: Vec<String>,
}

/// The public-sector domains domain proof is checked under by default: the UK, Scottish
/// and Welsh government domains, and the Northern Ireland councils that use their own.
pub const DEFAULT_DOMAIN_SUFFIXES: &[&str] = &[
    "gov.uk",
    "gov.scot",
    "gov.wales",
    "llyw.cymru",
    "derrystrabane.com",
    "fermanaghomagh.com",
    "midulstercouncil.org",
    "newrymournedown.org",
];

impl Default for TrustConfig {
    fn default() -> Self {
        let q = lgmesh_registry::Quota::default();
        Self {
            endorsements_required: lgmesh_registry::store::DEFAULT_ENDORSEMENTS_REQUIRED,
            unverified_max_manifests: q.max_manifests,
            unverified_max_kb: q.max_bytes / 1024,
            unverified_total_mb: q.max_total_bytes / (1024 * 1024),
            domain_suffixes: DEFAULT_DOMAIN_SUFFIXES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            domain_recheck_hours: 24,
            domain_grace_hours: 7 * 24,
            domain_timeout_secs: 10,
            domain_allow_http: false,
            domain_ca_file: String::new(),
            official_domains: vec![],
        }
    }
}

impl TrustConfig {
    /// Checks the values, naming the one that is wrong.
    pub fn check(&self) -> Result<()> {
        if !(1..=100).contains(&self.endorsements_required) {
            bail!(
                "trust.endorsements_required: {} is not between 1 and 100",
                self.endorsements_required
            );
        }
        for (field, v) in [
            ("unverified_max_manifests", self.unverified_max_manifests),
            ("unverified_max_kb", self.unverified_max_kb),
            ("unverified_total_mb", self.unverified_total_mb),
        ] {
            if v == 0 {
                bail!("trust.{field}: must be at least 1");
            }
        }
        if !(1..=24 * 365).contains(&self.domain_recheck_hours) {
            bail!(
                "trust.domain_recheck_hours: {} is not between 1 and 8760",
                self.domain_recheck_hours
            );
        }
        if self.domain_grace_hours > 24 * 365 {
            bail!(
                "trust.domain_grace_hours: {} is more than a year (8760)",
                self.domain_grace_hours
            );
        }
        if !(1..=120).contains(&self.domain_timeout_secs) {
            bail!(
                "trust.domain_timeout_secs: {} is not between 1 and 120",
                self.domain_timeout_secs
            );
        }
        for e in &self.official_domains {
            let ok = e
                .split_once('=')
                .is_some_and(|(org, d)| org.trim().parse::<OrgId>().is_ok() && is_domain(d.trim()));
            if !ok {
                bail!(
                    "trust.official_domains: {e:?} is not org=domain (e.g. \"gss:E04012345=exampleparish.gov.uk\")"
                );
            }
        }
        for s in &self.domain_suffixes {
            if !is_domain(s.trim().trim_start_matches('.')) {
                bail!("trust.domain_suffixes: {s:?} is not a domain name (e.g. \"gov.uk\")");
            }
        }
        Ok(())
    }

    /// The official domains configured: organisation → domain, lower-case.
    pub fn official_domains(&self) -> Vec<(String, String)> {
        self.official_domains
            .iter()
            .filter_map(|e| e.split_once('='))
            .map(|(o, d)| (o.trim().to_owned(), d.trim().to_ascii_lowercase()))
            .collect()
    }

    /// The suffixes, lower-case, without a leading dot.
    pub fn domain_suffixes(&self) -> Vec<String> {
        self.domain_suffixes
            .iter()
            .map(|s| s.trim().trim_start_matches('.').to_ascii_lowercase())
            .collect()
    }

    /// The store's quota for unverified publishers.
    pub fn quota(&self) -> lgmesh_registry::Quota {
        lgmesh_registry::Quota {
            max_manifests: self.unverified_max_manifests,
            max_bytes: self.unverified_max_kb.saturating_mul(1024),
            max_total_bytes: self.unverified_total_mb.saturating_mul(1024 * 1024),
        }
    }
}

/// A domain name: dot-separated labels of letters, digits and '-'.
fn is_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `[network]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// The federation's name; part of every protocol id, so networks never mix.
    pub name: String,
    /// libp2p listen multiaddrs.
    pub listen: Vec<String>,
    /// Bootstrap peers: multiaddrs ending in `/p2p/<peer id>`.
    pub bootstrap: Vec<String>,
    /// Addresses others reach this node at, if AutoNAT cannot tell (e.g. port forwarding).
    pub external: Vec<String>,
    /// Discover peers on the local network with mDNS.
    pub mdns: bool,
    /// Kademlia: "auto", "server" or "client".
    pub kad: String,
    /// Relay connections for nodes behind NAT.
    pub relay_server: bool,
    /// Peers to keep connected: below this the node dials more.
    pub target_peers: usize,
    /// Peers above which the surplus is disconnected (back to halfway to target_peers).
    pub max_peers: usize,
    /// Connections in all.
    pub max_connections: u32,
    /// Inbound connections from one IP address.
    pub max_connections_per_ip: u32,
    /// Seconds between reconciliations with a random peer.
    pub sync_interval_secs: u64,
    /// Ids per sync fetch request.
    pub sync_max_fetch_ids: usize,
    /// Bytes of manifests per sync response, KiB.
    pub sync_max_response_kb: usize,
    /// Sync rounds run at once.
    pub sync_max_concurrent: usize,
    /// Sync requests answered at once, all peers together.
    pub sync_max_inbound: usize,
    /// Sync requests one peer may make per second.
    pub sync_requests_per_sec: f64,
    /// Gossip messages one peer may hand this node per second (bursts of five times).
    pub gossip_per_peer_per_sec: f64,
    /// Bad manifests or frames from one peer before it is banned.
    pub max_strikes: u32,
    /// How long a ban lasts, seconds.
    pub ban_secs: u64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        let n = lgmesh_net::NetConfig::default();
        Self {
            name: n.network,
            listen: vec![
                "/ip4/0.0.0.0/tcp/4001".into(),
                "/ip4/0.0.0.0/udp/4001/quic-v1".into(),
            ],
            bootstrap: vec![],
            external: vec![],
            mdns: false,
            kad: "auto".into(),
            relay_server: false,
            target_peers: n.target_peers,
            max_peers: n.max_peers,
            max_connections: n.max_connections,
            max_connections_per_ip: n.max_connections_per_ip,
            sync_interval_secs: n.sync.interval.as_secs(),
            sync_max_fetch_ids: n.sync.max_fetch_ids,
            sync_max_response_kb: n.sync.max_response_bytes / 1024,
            sync_max_concurrent: n.sync.max_concurrent,
            sync_max_inbound: n.sync.max_inbound,
            sync_requests_per_sec: n.sync.requests_per_sec,
            gossip_per_peer_per_sec: n.gossip_per_peer.0,
            max_strikes: n.max_strikes,
            ban_secs: n.ban_for.as_secs(),
        }
    }
}

impl NetworkConfig {
    /// The network layer's config, checked: every field that is wrong is named.
    pub fn to_net(&self, max_manifest_bytes: usize) -> Result<lgmesh_net::NetConfig> {
        use lgmesh_net::{KadMode, Multiaddr};
        let addrs = |field: &str, v: &[String]| -> Result<Vec<Multiaddr>> {
            v.iter()
                .map(|a| {
                    a.parse::<Multiaddr>().map_err(|e| {
                        anyhow::anyhow!("network.{field}: {a:?} is not a multiaddr ({e})")
                    })
                })
                .collect()
        };
        if !lgmesh_net::valid_network_name(&self.name) {
            bail!(
                "network.name: {:?} must be 1-32 lowercase letters, digits or '-'",
                self.name
            );
        }
        let bootstrap = addrs("bootstrap", &self.bootstrap)?;
        for (a, text) in bootstrap.iter().zip(&self.bootstrap) {
            if !matches!(a.iter().last(), Some(lgmesh_net::Protocol::P2p(_))) {
                bail!("network.bootstrap: {text:?} must end with /p2p/<peer id>");
            }
        }
        let kad = match self.kad.as_str() {
            "auto" => KadMode::Auto,
            "server" => KadMode::Server,
            "client" => KadMode::Client,
            other => bail!("network.kad: {other:?} is not auto, server or client"),
        };
        if self.sync_max_fetch_ids == 0 || self.sync_max_fetch_ids > 5000 {
            bail!("network.sync_max_fetch_ids: must be 1-5000");
        }
        if self.sync_max_response_kb < 64 || self.sync_max_response_kb > 64 * 1024 {
            bail!("network.sync_max_response_kb: must be 64-65536");
        }
        if !self.gossip_per_peer_per_sec.is_finite() || self.gossip_per_peer_per_sec <= 0.0 {
            bail!("network.gossip_per_peer_per_sec: must be above 0");
        }
        if !self.sync_requests_per_sec.is_finite() || self.sync_requests_per_sec <= 0.0 {
            bail!("network.sync_requests_per_sec: must be above 0");
        }
        if self.target_peers == 0 {
            bail!("network.target_peers: must be at least 1");
        }
        if self.max_peers < self.target_peers {
            bail!(
                "network.max_peers: must be at least target_peers ({})",
                self.target_peers
            );
        }
        if self.max_peers as u64 > u64::from(self.max_connections) {
            bail!(
                "network.max_peers: must not be above max_connections ({})",
                self.max_connections
            );
        }
        let mut n = lgmesh_net::NetConfig {
            network: self.name.clone(),
            listen: addrs("listen", &self.listen)?,
            bootstrap,
            external: addrs("external", &self.external)?,
            mdns: self.mdns,
            kad,
            relay_server: self.relay_server,
            target_peers: self.target_peers,
            max_peers: self.max_peers,
            max_connections: self.max_connections.max(1),
            max_connections_per_ip: self.max_connections_per_ip.max(1),
            max_strikes: self.max_strikes.max(1),
            ban_for: std::time::Duration::from_secs(self.ban_secs),
            max_message_bytes: max_manifest_bytes,
            ..Default::default()
        };
        n.sync.interval = std::time::Duration::from_secs(self.sync_interval_secs.max(1));
        n.sync.max_fetch_ids = self.sync_max_fetch_ids;
        n.sync.max_response_bytes = self.sync_max_response_kb * 1024;
        n.sync.max_concurrent = self.sync_max_concurrent.max(1);
        n.sync.max_inbound = self.sync_max_inbound.max(1);
        n.sync.requests_per_sec = self.sync_requests_per_sec;
        n.sync.request_burst = (self.sync_requests_per_sec * 3.0).max(10.0);
        n.gossip_per_peer = (
            self.gossip_per_peer_per_sec,
            (self.gossip_per_peer_per_sec * 5.0).max(10.0),
        );
        Ok(n)
    }
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

/// `[org]`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OrgConfig {
    /// `scheme:value`, e.g. `gss:E07000209`.
    pub id: String,
    /// Official name.
    pub name: String,
    /// county, district, unitary, london-borough, metropolitan-district, scottish-council,
    /// welsh-council, ni-council, parish-town, combined-authority, third-sector, central, other.
    #[serde(rename = "type")]
    pub org_type: String,
    /// Homepage URL.
    pub website: String,
    /// Contact email for the organisation's manifests.
    pub contact_email: String,
    /// True for the identity `lgmesh run` makes on an empty data dir.
    pub development: bool,
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

/// The org type's enum value.
pub fn org_type_value(s: &str) -> Result<i32> {
    use lgmesh_protocol::v1::OrgType as T;
    Ok(match s {
        "" => T::Unspecified,
        "county" => T::County,
        "district" => T::District,
        "unitary" => T::Unitary,
        "london-borough" => T::LondonBorough,
        "metropolitan-district" => T::MetropolitanDistrict,
        "scottish-council" => T::ScottishCouncil,
        "welsh-council" => T::WelshCouncil,
        "ni-council" => T::NiCouncil,
        "parish-town" => T::ParishTown,
        "combined-authority" => T::CombinedAuthority,
        "third-sector" => T::ThirdSector,
        "central" => T::Central,
        "other" => T::Other,
        other => bail!(
            "org type: {other:?} is not one of county, district, unitary, london-borough, metropolitan-district, scottish-council, welsh-council, ni-council, parish-town, combined-authority, third-sector, central, other"
        ),
    } as i32)
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

    #[test]
    fn network_config_errors_name_the_field() {
        let ok = NetworkConfig::default();
        let n = ok.to_net(65536).expect("the default is valid");
        assert_eq!(n.network, "uk");
        assert_eq!(n.listen.len(), 2);
        let peer = "12D3KooWKintN5smh8XsXqB1fk1ron2JNQHekFmQUpgrWydFKky9";
        let cases: Vec<(NetworkConfig, &str)> = vec![
            (
                NetworkConfig {
                    name: "UK!".into(),
                    ..ok.clone()
                },
                "network.name",
            ),
            (
                NetworkConfig {
                    listen: vec!["tcp/4001".into()],
                    ..ok.clone()
                },
                "network.listen",
            ),
            (
                NetworkConfig {
                    bootstrap: vec!["/ip4/192.0.2.7/tcp/4001".into()],
                    ..ok.clone()
                },
                "must end with /p2p/",
            ),
            (
                NetworkConfig {
                    kad: "sometimes".into(),
                    ..ok.clone()
                },
                "network.kad",
            ),
            (
                NetworkConfig {
                    sync_max_fetch_ids: 0,
                    ..ok.clone()
                },
                "sync_max_fetch_ids",
            ),
            (
                NetworkConfig {
                    sync_requests_per_sec: f64::NAN,
                    ..ok.clone()
                },
                "sync_requests_per_sec",
            ),
            (
                NetworkConfig {
                    max_peers: 4,
                    ..ok.clone()
                },
                "network.max_peers: must be at least target_peers",
            ),
            (
                NetworkConfig {
                    target_peers: 0,
                    ..ok.clone()
                },
                "network.target_peers",
            ),
        ];
        for (c, want) in cases {
            let e = c.to_net(65536).expect_err(want).to_string();
            assert!(e.contains(want), "{e}");
        }
        let good = NetworkConfig {
            bootstrap: vec![
                format!("/ip4/192.0.2.7/tcp/4001/p2p/{peer}"),
                format!("/dns4/lgmesh.example.gov.uk/tcp/4001/p2p/{peer}"),
                format!("/dnsaddr/example.gov.uk/p2p/{peer}"),
            ],
            ..ok
        };
        assert_eq!(good.to_net(65536).expect("valid").bootstrap.len(), 3);
    }
}
