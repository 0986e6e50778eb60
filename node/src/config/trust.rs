//! `[trust]`: whom this node trusts, what unverified publishers may store here, and
//! domain proof.

use anyhow::{Result, bail};
use lgmesh_protocol::identity::OrgId;
use serde::{Deserialize, Serialize};

use super::docs::documented;

documented! {
    /// `[trust]`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct TrustConfig {
        /// *k*: a key is verified on this node when this many organisations it already
        /// verifies (other than the key's own) have endorsed it (`lgmesh endorse`), each
        /// for the organisation the key's org card claims. 1-100.
        pub endorsements_required: usize,
        /// Manifests one publisher this node does not verify may have stored here: its
        /// current ones (tombstones too) and any evidence against it. An update replaces
        /// what it updates, and expired ones are swept away. Beyond this, or the two
        /// limits below, its manifests are refused (reason "quota") and not relayed;
        /// verified publishers have no quota.
        pub unverified_max_manifests: u64,
        /// KiB one unverified publisher may store here.
        pub unverified_max_kb: u64,
        /// MiB all unverified publishers together may store here.
        pub unverified_total_mb: u64,
        /// Domain proof: a key is verified too when the website on its org card serves
        /// `/.well-known/lgmesh.json` listing it (`lgmesh init` prints the file). It is
        /// checked over HTTPS, only for websites under these domains: by default the UK,
        /// Scottish and Welsh government domains and the Northern Ireland councils' own.
        /// `[]` turns domain proof off.
        pub domain_suffixes: Vec<String>,
        /// Hours between checks of each website, 1-8760.
        pub domain_recheck_hours: u64,
        /// Hours a proof outlives re-checks that cannot reach the website (a 404, or a
        /// file without the key, ends it at once); at most 8760.
        pub domain_grace_hours: u64,
        /// Seconds one check may take, 1-120.
        pub domain_timeout_secs: u64,
        /// Check `http://` websites too. Development only: a proof over plain HTTP proves
        /// nothing on a real network.
        pub domain_allow_http: bool,
        /// PEM certificates to trust besides the system's (e.g. your TLS-inspecting
        /// proxy's CA).
        pub domain_ca_file: String,
        /// Official domains besides the built-in list of principal councils' own, as
        /// "org=domain" (e.g. "gss:E04012345=exampleparish.gov.uk"). A key proven by its
        /// organisation's own official domain may vouch for others (endorse, revoke); one
        /// proven by any other website under the suffixes may not.
        pub official_domains: Vec<String>,
    }
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
