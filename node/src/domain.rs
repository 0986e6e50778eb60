//! Domain proof: an organisation shows that a publisher key is its own by listing the
//! key at `/.well-known/lgmesh.json` on the website its org card names.
//!
//! ```json
//! { "org": "gss:E07000209", "publishers": ["did:key:z6Mk…"] }
//! ```
//!
//! Every node checks for itself, over HTTPS, only for websites under the configured
//! public-sector suffixes (`gov.uk`, `gov.scot`, `gov.wales`, `llyw.cymru` and the
//! Northern Ireland councils' own domains by default): whoever controls such a domain is
//! a public body, so its word about its own key is worth as much as an endorsement.
//!
//! A [`Checker`] (domain/checker.rs) fetches and judges one file; [`Proofs`]
//! (domain/proofs.rs) is the checker as a node runs it: [`Proofs::check_due`] walks the
//! org cards and checks those whose last check is old, recording each outcome in the
//! store (a [`DomainProof`](lgmesh_registry::DomainProof)) where the trust judgement
//! reads it. It is given the store (through the [`Intake`](crate::intake::Intake)) and
//! the node's [`Tasks`](crate::tasks::Tasks), not the whole node, so this module depends
//! on nothing above it. A proof holds for
//! `domain_recheck_hours` plus `domain_grace_hours`: a website that is down for a day
//! does not unverify a council (X-Road's lesson), but one that stops listing the key, or
//! answers 404, ends the proof at once.

use std::time::Duration;

use prometheus_client::metrics::{counter::Counter, family::Family};

mod checker;
mod proofs;

pub use checker::{Checker, Fetched};
pub use proofs::Proofs;

/// The path every organisation serves its keys at.
pub const WELL_KNOWN: &str = "/.well-known/lgmesh.json";

/// How often [`Proofs::run`] looks for cards due a check.
pub const ROUND: Duration = Duration::from_secs(60);
/// How soon after manifests arrive [`Proofs::run`] looks again (at most this often).
pub const SOON: Duration = Duration::from_secs(5);

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The file lists the key, for the organisation the card claims.
    Proven,
    /// The card's website is not a usable `https://` URL with a host name.
    BadWebsite,
    /// The website's host is not under a configured suffix.
    OutsideSuffixes,
    /// `http://` while plain HTTP is not allowed (it is only for development).
    Insecure,
    /// A redirect left the suffixes, or went to plain HTTP, or there were too many.
    BadRedirect,
    /// 404 or 410: the website has no `lgmesh.json`.
    NotFound,
    /// The file is not the expected JSON.
    BadFile,
    /// The file is larger than 64 KiB.
    TooLarge,
    /// The file is for another organisation than the card claims.
    WrongOrg,
    /// The file does not list the key.
    NotListed,
    /// No answer: DNS, connection or TLS failure.
    Unreachable,
    /// No answer in time.
    Timeout,
    /// Another HTTP status (5xx, 403, 429…).
    HttpError,
}

impl Code {
    /// Every code, in metrics order.
    pub const ALL: [Code; 13] = [
        Code::Proven,
        Code::BadWebsite,
        Code::OutsideSuffixes,
        Code::Insecure,
        Code::BadRedirect,
        Code::NotFound,
        Code::BadFile,
        Code::TooLarge,
        Code::WrongOrg,
        Code::NotListed,
        Code::Unreachable,
        Code::Timeout,
        Code::HttpError,
    ];

    /// The label in metrics and in the stored record.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Proven => "proven",
            Code::BadWebsite => "bad_website",
            Code::OutsideSuffixes => "outside_suffixes",
            Code::Insecure => "insecure",
            Code::BadRedirect => "bad_redirect",
            Code::NotFound => "not_found",
            Code::BadFile => "bad_file",
            Code::TooLarge => "too_large",
            Code::WrongOrg => "wrong_org",
            Code::NotListed => "not_listed",
            Code::Unreachable => "unreachable",
            Code::Timeout => "timeout",
            Code::HttpError => "http_error",
        }
    }

    /// Whether the website may just be down for a while: the proof it had stands (for
    /// the grace period) and the check is retried sooner.
    pub fn is_transient(self) -> bool {
        matches!(self, Code::Unreachable | Code::Timeout | Code::HttpError)
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What it found.
    pub code: Code,
    /// The host checked (empty when the website had none).
    pub host: String,
    /// For people: what was fetched and what was wrong.
    pub detail: String,
    /// The host is under the official domain of the organisation the card claims.
    pub official: bool,
}

/// Counts of checks by outcome: `lgmesh_domain_checks_total{result}` in `/metrics`.
pub struct DomainMetrics {
    checks: Family<[(&'static str, &'static str); 1], Counter>,
}

impl Default for DomainMetrics {
    fn default() -> Self {
        let checks = Family::default();
        // Every result is served, at 0 until it happens.
        for c in Code::ALL {
            checks.get_or_create_owned(&Self::labels(c));
        }
        Self { checks }
    }
}

impl DomainMetrics {
    fn labels(c: Code) -> [(&'static str, &'static str); 1] {
        [("result", c.as_str())]
    }

    fn count(&self, c: Code) {
        self.checks.get_or_create(&Self::labels(c)).inc();
    }

    /// Checks by outcome.
    pub fn snapshot(&self) -> Vec<(Code, u64)> {
        Code::ALL
            .iter()
            .map(|c| (*c, self.checks.get_or_create(&Self::labels(*c)).get()))
            .collect()
    }

    /// Adds the family to `registry` (the one `/metrics` serves).
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "lgmesh_domain_checks",
            "Domain proof checks (/.well-known/lgmesh.json), by result",
            self.checks.clone(),
        );
    }
}
