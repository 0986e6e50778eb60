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
//! A [`Checker`] fetches and judges one file; [`Proofs`] is the checker as a node runs
//! it: [`Proofs::check_due`] walks the org cards and checks those whose last check is
//! old, recording each outcome in the store (a [`DomainProof`]) where the trust judgement
//! reads it. It is given the store (through the [`Intake`]) and the node's [`Tasks`], not
//! the whole node, so this module depends on nothing above it. A proof holds for
//! `domain_recheck_hours` plus `domain_grace_hours`: a website that is down for a day
//! does not unverify a council (X-Road's lesson), but one that stops listing the key, or
//! answers 404, ends the proof at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_protocol::now_ms;
use lgmesh_registry::{DomainProof, OrgCard, Registry};
use prometheus_client::metrics::{counter::Counter, family::Family};
use reqwest::Url;

use crate::config::TrustConfig;
use crate::intake::Intake;
use crate::tasks::Tasks;

/// The path every organisation serves its keys at.
pub const WELL_KNOWN: &str = "/.well-known/lgmesh.json";

/// The largest `lgmesh.json` read.
const MAX_FILE_BYTES: usize = 64 * 1024;
/// Most keys one file may list.
const MAX_LISTED: usize = 1000;
/// Redirects followed, each to a host under the suffixes.
const MAX_REDIRECTS: usize = 3;
/// Checks run at once.
const CONCURRENT_CHECKS: usize = 8;
/// How soon a check that could not reach the website is tried again (at most
/// `domain_recheck_hours`).
const RETRY_UNREACHABLE: Duration = Duration::from_secs(3600);
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

/// A fetched `lgmesh.json`, for judging every card that names its website.
pub struct Fetched {
    host: String,
    file: Url,
    wk: WellKnown,
}

/// The built-in official domains: each current principal council's own, by GSS code
/// (`node/data/council-domains.csv`, from mySociety's and GOV.UK's registers).
fn builtin_official_domains() -> HashMap<String, String> {
    include_str!("../data/council-domains.csv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("gss,"))
        .filter_map(|l| {
            let mut f = l.split(',');
            Some((format!("gss:{}", f.next()?), f.next()?.to_owned()))
        })
        .collect()
}

/// The file an organisation serves.
#[derive(serde::Deserialize)]
struct WellKnown {
    org: String,
    publishers: Vec<String>,
}

/// Fetches and judges `lgmesh.json` files. Cheap to share.
pub struct Checker {
    client: reqwest::Client,
    suffixes: Arc<[String]>,
    /// Organisation → its official domain: the built-in councils', then the config's.
    official: HashMap<String, String>,
    /// Checks under way, all rounds together, at most [`CONCURRENT_CHECKS`].
    permits: Arc<tokio::sync::Semaphore>,
    /// Origins being fetched now: a round started meanwhile leaves them be.
    in_flight: std::sync::Mutex<std::collections::HashSet<String>>,
    allow_http: bool,
    recheck: Duration,
    grace: Duration,
    /// Checks by outcome.
    pub metrics: DomainMetrics,
}

impl Checker {
    /// A checker for `[trust]`'s settings. Fails on an unreadable `domain_ca_file`.
    pub fn new(c: &TrustConfig) -> Result<Checker> {
        let suffixes: Arc<[String]> = c.domain_suffixes().into();
        let allow_http = c.domain_allow_http;
        let policy = {
            let suffixes = suffixes.clone();
            reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > MAX_REDIRECTS {
                    return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
                }
                match allowed(attempt.url(), &suffixes, allow_http) {
                    Ok(_) => attempt.follow(),
                    Err((_, why)) => {
                        let why = format!("redirected to {}: {why}", attempt.url());
                        attempt.error(RedirectRefused(why))
                    }
                }
            })
        };
        let timeout = Duration::from_secs(c.domain_timeout_secs);
        let mut b = reqwest::Client::builder()
            .user_agent(concat!(
                "lgmesh/",
                env!("CARGO_PKG_VERSION"),
                " (domain proof)"
            ))
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(policy)
            .https_only(!allow_http);
        if !c.domain_ca_file.is_empty() {
            let pem = std::fs::read(&c.domain_ca_file).with_context(|| {
                format!("trust.domain_ca_file: cannot read {}", c.domain_ca_file)
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
                format!(
                    "trust.domain_ca_file: {} is not PEM certificates",
                    c.domain_ca_file
                )
            })?;
            if certs.is_empty() {
                bail!(
                    "trust.domain_ca_file: {} holds no certificate",
                    c.domain_ca_file
                );
            }
            b = b.tls_certs_merge(certs);
        }
        let mut official = builtin_official_domains();
        official.extend(c.official_domains());
        Ok(Checker {
            client: b.build().context("the HTTPS client for domain proof")?,
            suffixes,
            official,
            permits: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_CHECKS)),
            in_flight: Default::default(),
            allow_http,
            recheck: Duration::from_secs(c.domain_recheck_hours.saturating_mul(3600)),
            grace: Duration::from_secs(c.domain_grace_hours.saturating_mul(3600)),
            metrics: DomainMetrics::default(),
        })
    }

    /// Whether domain proof is on (some suffix is configured).
    pub fn enabled(&self) -> bool {
        !self.suffixes.is_empty()
    }

    /// Fetches `website`'s `lgmesh.json` and says whether it lists `key` for `org_id`.
    pub async fn fetch(&self, website: &str, org_id: &str, key: &PublisherKey) -> Finding {
        let f = match self.fetch_file(website).await {
            Ok(file) => self.judge(&file, org_id, key),
            Err(f) => f,
        };
        self.metrics.count(f.code);
        f
    }

    /// Whether `host` is under the official domain of `org_id`.
    pub fn is_official(&self, host: &str, org_id: &str) -> bool {
        self.official.get(org_id).is_some_and(|d| under(host, d))
    }

    /// Fetches the `lgmesh.json` of `website`'s origin once, for every card that names
    /// it; or why it could not (a finding for every such card).
    pub async fn fetch_file(&self, website: &str) -> Result<Fetched, Finding> {
        let refuse = |code, host: &str, detail: String| Finding {
            code,
            host: host.to_owned(),
            detail,
            official: false,
        };
        let url = match Url::parse(website.trim()) {
            Ok(u) => u,
            Err(e) => {
                return Err(refuse(
                    Code::BadWebsite,
                    "",
                    format!("website {website:?}: {e}"),
                ));
            }
        };
        let host = match allowed(&url, &self.suffixes, self.allow_http) {
            Ok(h) => h,
            Err((code, why)) => return Err(refuse(code, url.host_str().unwrap_or(""), why)),
        };
        let mut file = url.clone();
        file.set_path(WELL_KNOWN);
        file.set_query(None);
        file.set_fragment(None);
        let mut resp = match self.client.get(file.clone()).send().await {
            Ok(r) => r,
            Err(e) => return Err(self.failed(&host, &file, e)),
        };
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Err(refuse(
                Code::NotFound,
                &host,
                format!("{file}: HTTP {status}"),
            ));
        }
        if !status.is_success() {
            return Err(refuse(
                Code::HttpError,
                &host,
                format!("{file}: HTTP {status}"),
            ));
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if body.len() + c.len() > MAX_FILE_BYTES {
                        return Err(refuse(
                            Code::TooLarge,
                            &host,
                            format!("{file}: larger than {} KiB", MAX_FILE_BYTES / 1024),
                        ));
                    }
                    body.extend_from_slice(&c);
                }
                Ok(None) => break,
                Err(e) => return Err(self.failed(&host, &file, e)),
            }
        }
        let wk: WellKnown = match serde_json::from_slice(&body) {
            Ok(w) => w,
            Err(e) => {
                return Err(refuse(
                    Code::BadFile,
                    &host,
                    format!(
                        "{file}: not {{\"org\": \"scheme:value\", \"publishers\": [\"did:key:…\"]}}: {e}"
                    ),
                ));
            }
        };
        if wk.publishers.len() > MAX_LISTED {
            return Err(refuse(
                Code::BadFile,
                &host,
                format!("{file}: publishers: more than {MAX_LISTED} keys"),
            ));
        }
        Ok(Fetched { host, file, wk })
    }

    /// What a fetched file says of `key` for `org_id`.
    pub fn judge(&self, f: &Fetched, org_id: &str, key: &PublisherKey) -> Finding {
        let Fetched { host, file, wk } = f;
        let refuse = |code, detail: String| Finding {
            code,
            host: host.clone(),
            detail,
            official: false,
        };
        // An org id of scheme `domain:` names the domain itself: the website must be it.
        if let Some(d) = org_id.strip_prefix("domain:")
            && !under(host, &d.to_ascii_lowercase())
        {
            return refuse(
                Code::OutsideSuffixes,
                format!("{host} is not under {d}, the domain the organisation id names"),
            );
        }
        if wk.org.trim() != org_id {
            return refuse(
                Code::WrongOrg,
                format!(
                    "{file}: org is {:?}, but the org card claims {org_id}",
                    wk.org.trim()
                ),
            );
        }
        let listed = wk
            .publishers
            .iter()
            .any(|p| p.trim().parse::<PublisherKey>().is_ok_and(|pk| pk == *key));
        if !listed {
            return refuse(
                Code::NotListed,
                format!(
                    "{file}: publishers lists {} key(s), not this one",
                    wk.publishers.len()
                ),
            );
        }
        let official = self.is_official(host, org_id) || org_id.strip_prefix("domain:").is_some();
        Finding {
            code: Code::Proven,
            host: host.clone(),
            detail: format!("{file} lists this key for {org_id}"),
            official,
        }
    }

    fn failed(&self, host: &str, file: &Url, e: reqwest::Error) -> Finding {
        let code = if e.is_timeout() {
            Code::Timeout
        } else if e.is_redirect() {
            Code::BadRedirect
        } else {
            Code::Unreachable
        };
        // reqwest's message repeats the URL; the innermost cause says what failed.
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            cause = s.to_string();
            source = s.source();
        }
        let what = match code {
            Code::Timeout => "no answer in time",
            Code::BadRedirect => "redirect refused",
            _ if e.is_connect() => "cannot connect",
            _ => "request failed",
        };
        let detail = format!("{file}: {what}: {cause}");
        Finding {
            code,
            host: host.to_owned(),
            detail,
            official: false,
        }
    }

    /// The record after `finding`, given the last one.
    pub fn record(
        &self,
        card: &OrgCard,
        prev: Option<&DomainProof>,
        finding: &Finding,
        now: u64,
    ) -> DomainProof {
        let same = prev.filter(|p| p.website == card.website && p.org_id == card.org_id);
        let (valid_until, proven_at, host) = match finding.code {
            Code::Proven => (
                now.saturating_add(ms(self.recheck + self.grace)),
                now,
                finding.host.clone(),
            ),
            c if c.is_transient() => same
                .map(|p| (p.valid_until, p.proven_at, p.host.clone()))
                .unwrap_or_default(),
            _ => (0, same.map_or(0, |p| p.proven_at), String::new()),
        };
        DomainProof {
            official: finding.code == Code::Proven && finding.official,
            website: card.website.clone(),
            org_id: card.org_id.clone(),
            host,
            checked_at: now,
            proven_at,
            valid_until,
            result: finding.code.as_str().to_owned(),
            detail: finding.detail.clone(),
        }
    }

    /// Whether `card` is due a check, given its last record.
    pub fn due(&self, card: &OrgCard, rec: Option<&DomainProof>, now: u64) -> bool {
        let Some(r) = rec else { return true };
        if r.website != card.website || r.org_id != card.org_id {
            return true;
        }
        let transient = Code::ALL
            .iter()
            .find(|c| c.as_str() == r.result)
            .is_none_or(|c| c.is_transient());
        let wait = if transient {
            self.recheck.min(RETRY_UNREACHABLE)
        } else {
            self.recheck
        };
        now >= r.checked_at.saturating_add(ms(wait))
    }
}

/// The error a refused redirect carries, so its message reaches the record.
#[derive(Debug)]
struct RedirectRefused(String);

impl std::fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedirectRefused {}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `host` is `suffix` or a subdomain of it.
fn under(host: &str, suffix: &str) -> bool {
    host == suffix
        || host
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// The host of `url` when a proof may be fetched from it; otherwise why not.
fn allowed(url: &Url, suffixes: &[String], allow_http: bool) -> Result<String, (Code, String)> {
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err((
                Code::Insecure,
                format!(
                    "{url}: plain http:// is not checked (only https://, unless trust.domain_allow_http is set for development)"
                ),
            ));
        }
        s => return Err((Code::BadWebsite, format!("{url}: scheme {s}: is not https"))),
    }
    let Some(host) = url.domain() else {
        return Err((
            Code::BadWebsite,
            format!("{url}: no host name (an IP address cannot prove a domain)"),
        ));
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if !suffixes.iter().any(|s| under(&host, s)) {
        return Err((
            Code::OutsideSuffixes,
            format!(
                "{host} is not under {} (trust.domain_suffixes)",
                suffixes.join(", ")
            ),
        ));
    }
    Ok(host)
}

/// The domain checker as a node runs it: the [`Checker`] (its settings), the store it
/// reads org cards from and records proofs in, reached through the [`Intake`] (which
/// also says when manifests arrive), and the node's [`Tasks`] for its store work and its
/// rounds. Cheap to clone.
#[derive(Clone)]
pub struct Proofs {
    checker: Arc<Checker>,
    intake: Arc<Intake>,
    tasks: Tasks,
}

impl Proofs {
    /// Checks with `checker`, recording into the store behind `intake`, on `tasks`.
    pub fn new(checker: Arc<Checker>, intake: Arc<Intake>, tasks: Tasks) -> Self {
        Self {
            checker,
            intake,
            tasks,
        }
    }

    /// The checker: its settings and its counts.
    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    fn registry(&self) -> Arc<Registry> {
        self.intake.registry().clone()
    }

    /// Runs store work on the blocking pool, as one of the node's tasks.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        self.tasks
            .spawn_blocking(f)
            .await
            .context("the domain checker's store work failed")
    }

    /// Checks one card now and records the outcome. `None` when the card names no
    /// website.
    pub async fn check_card(&self, card: &OrgCard) -> Result<Option<DomainProof>> {
        let reg = self.registry();
        let pk = card.publisher;
        if card.website.trim().is_empty() {
            self.blocking(move || reg.remove_domain_proof(&pk))
                .await??;
            return Ok(None);
        }
        let finding = self.checker.fetch(&card.website, &card.org_id, &pk).await;
        self.record_finding(card, &finding).await.map(Some)
    }

    /// Records what a check of `card` found, and says so in the log when it matters.
    async fn record_finding(&self, card: &OrgCard, finding: &Finding) -> Result<DomainProof> {
        let reg = self.registry();
        let pk = card.publisher;
        let prev = {
            let reg = reg.clone();
            self.blocking(move || reg.domain_proof(&pk)).await??
        };
        let rec = self.checker.record(card, prev.as_ref(), finding, now_ms());
        if finding.code == Code::Proven {
            tracing::info!(publisher = %pk, org = %card.org_id, host = %finding.host, official = finding.official, "domain proof holds");
        } else if prev.as_ref().is_some_and(|p| p.valid_until > 0) && rec.valid_until == 0 {
            tracing::warn!(publisher = %pk, org = %card.org_id, result = finding.code.as_str(), "domain proof ended: {}", finding.detail);
        } else {
            tracing::debug!(publisher = %pk, org = %card.org_id, result = finding.code.as_str(), "no domain proof: {}", finding.detail);
        }
        let stored = rec.clone();
        self.blocking(move || reg.set_domain_proof(&pk, &stored))
            .await??;
        Ok(rec)
    }

    /// Checks every card that is due and forgets records whose card is gone. Cards are
    /// grouped by their website's origin: one fetch of its `lgmesh.json` answers for
    /// every card that names it, so however many cards name a council's website, each
    /// node asks it once per check. Origins go in order of worth: re-checks of proofs
    /// that hold, then websites never checked, then those that failed, oldest first (not
    /// in key order, which whoever makes the keys can choose); at most 64 a round, 2 per
    /// host, 8 at once. Returns how many cards it checked.
    pub async fn check_due(&self) -> Result<usize> {
        let checker = &self.checker;
        if !checker.enabled() {
            return Ok(0);
        }
        let reg = self.registry();
        let (cards, recs) = self
            .blocking(move || -> Result<_, lgmesh_registry::StoreError> {
                Ok((reg.org_cards()?, reg.domain_proofs()?))
            })
            .await??;
        let recs: HashMap<PublisherKey, DomainProof> = recs.into_iter().collect();
        let now = now_ms();
        let mut seen = std::collections::HashSet::new();
        let mut checked = 0;
        // Origin → (priority, cards).
        let mut origins: HashMap<String, Origin> = HashMap::new();
        for card in cards {
            seen.insert(card.publisher);
            let rec = recs.get(&card.publisher);
            if card.website.trim().is_empty() {
                if rec.is_some() {
                    // Its card names no website any more: the record goes (no fetch).
                    self.check_card(&card).await?;
                    checked += 1;
                }
                continue;
            }
            if !checker.due(&card, rec, now) {
                continue;
            }
            let origin = match Url::parse(card.website.trim()) {
                Ok(u) => u.origin().ascii_serialization(),
                Err(_) => format!("unparsed {}", card.website.trim()),
            };
            let class = match rec {
                Some(r) if r.valid_until > now => 0,
                None => 1,
                Some(_) => 2,
            };
            let priority = (class, rec.map_or(0, |r| r.checked_at));
            let e = origins.entry(origin).or_insert((priority, vec![]));
            e.0 = e.0.min(priority);
            e.1.push(card);
        }
        let gone: Vec<PublisherKey> = recs.keys().filter(|k| !seen.contains(k)).copied().collect();
        if !gone.is_empty() {
            let reg = self.registry();
            self.blocking(move || gone.iter().try_for_each(|pk| reg.remove_domain_proof(pk)))
                .await??;
        }
        // Order by worth; ties in an order no one can choose (a hash salted afresh).
        let salt = std::hash::RandomState::new();
        let mut order: Vec<(String, Origin)> = origins.into_iter().collect();
        order.sort_by_key(|(o, (p, _))| (*p, std::hash::BuildHasher::hash_one(&salt, o)));
        let mut picked = vec![];
        {
            let mut per_host: HashMap<String, usize> = HashMap::new();
            let mut in_flight = checker.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            for (origin, (_, group)) in order {
                if picked.len() >= ORIGINS_PER_ROUND {
                    break;
                }
                if in_flight.contains(&origin) {
                    continue;
                }
                let host = Url::parse(&origin)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default();
                let n = per_host.entry(host).or_default();
                if *n >= ORIGINS_PER_HOST {
                    continue;
                }
                *n += 1;
                in_flight.insert(origin.clone());
                picked.push((origin, group));
            }
        }
        let mut set = tokio::task::JoinSet::new();
        for (origin, group) in picked {
            let this = self.clone();
            set.spawn(self.tasks.track(async move {
                let checker = &this.checker;
                // Unmarked however the task ends.
                let _done = Unmark(checker, origin);
                let Ok(_permit) = checker.permits.clone().acquire_owned().await else {
                    return Ok(0);
                };
                let fetched = checker.fetch_file(&group[0].website).await;
                let mut n = 0;
                for card in &group {
                    let finding = match &fetched {
                        Ok(f) => checker.judge(f, &card.org_id, &card.publisher),
                        Err(f) => f.clone(),
                    };
                    checker.metrics.count(finding.code);
                    this.record_finding(card, &finding).await?;
                    n += 1;
                }
                anyhow::Ok(n)
            }));
        }
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Err(e)) => tracing::warn!("domain check: {e:#}"),
                Err(e) => tracing::warn!("domain check task: {e}"),
                Ok(Ok(n)) => checked += n,
            }
        }
        Ok(checked)
    }

    /// Checks due cards every [`ROUND`] until the node stops, and [`SOON`] after
    /// manifests arrive (a new council's card is checked within seconds, not a minute).
    #[tracing::instrument(name = "domain_checker", skip_all)]
    pub async fn run(self) {
        use tokio::sync::broadcast::error::RecvError;
        if !self.checker.enabled() {
            return;
        }
        let mut arrivals = self.intake.subscribe();
        // Dropped (so aborted) when the node stops.
        let mut rounds = tokio::task::JoinSet::new();
        let mut last: Option<tokio::time::Instant> = None;
        let mut arrived = false;
        loop {
            let next = match last {
                None => tokio::time::Instant::now(),
                Some(t) => t + if arrived { SOON } else { ROUND },
            };
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                r = arrivals.recv() => {
                    match r {
                        Ok(_) | Err(RecvError::Lagged(_)) => arrived = true,
                        Err(RecvError::Closed) => return,
                    }
                    continue;
                }
                _ = self.tasks.stopping() => return,
            }
            last = Some(tokio::time::Instant::now());
            arrived = false;
            // A round waits for its slowest website; the next may start meanwhile (on the
            // other websites: one under way is left be), at most a few at a time.
            while rounds.try_join_next().is_some() {}
            if rounds.len() >= MAX_ROUNDS {
                continue;
            }
            let this = self.clone();
            rounds.spawn(self.tasks.track(async move {
                if let Err(e) = this.check_due().await {
                    tracing::warn!("domain checks failed (will retry): {e:#}");
                }
            }));
        }
    }
}

/// The cards due a check that name one website, and its place in the round: (class,
/// when its cards were last checked).
type Origin = ((u8, u64), Vec<OrgCard>);

/// Websites (origins) fetched per round; the rest wait for the next.
const ORIGINS_PER_ROUND: usize = 64;
/// Origins of one host fetched per round (another port is another origin).
const ORIGINS_PER_HOST: usize = 2;

/// Takes an origin off the checks under way when dropped.
struct Unmark<'a>(&'a Checker, String);

impl Drop for Unmark<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.1);
    }
}

/// Rounds of domain checks under way at once.
const MAX_ROUNDS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    fn suffixes() -> Vec<String> {
        vec!["gov.uk".into(), "llyw.cymru".into()]
    }

    #[test]
    fn only_hosts_under_a_suffix_over_https_may_prove() {
        let ok = |u: &str| allowed(&Url::parse(u).expect("url"), &suffixes(), false);
        assert_eq!(
            ok("https://www.guildford.gov.uk/").as_deref(),
            Ok("www.guildford.gov.uk")
        );
        assert_eq!(
            ok("https://WWW.Gwynedd.LLYW.cymru./x").as_deref(),
            Ok("www.gwynedd.llyw.cymru")
        );
        assert_eq!(ok("https://gov.uk").as_deref(), Ok("gov.uk"));
        for (u, code) in [
            ("https://evilgov.uk/", Code::OutsideSuffixes),
            ("https://gov.uk.evil.com/", Code::OutsideSuffixes),
            ("http://www.guildford.gov.uk/", Code::Insecure),
            ("ftp://www.guildford.gov.uk/", Code::BadWebsite),
            ("https://10.0.0.1/", Code::BadWebsite),
        ] {
            assert_eq!(ok(u).map_err(|e| e.0), Err(code), "{u}");
        }
        let dev = allowed(
            &Url::parse("http://council.localhost:8080/").expect("url"),
            &["localhost".into()],
            true,
        );
        assert_eq!(dev.as_deref(), Ok("council.localhost"));
    }

    /// A principal council's own domain is built in, from the register in
    /// `node/data/council-domains.csv`; the config adds others; any other website under
    /// the suffixes proves a key, but not as official (it cannot vouch for others).
    #[test]
    fn official_domains_are_the_councils_own() {
        let c = Checker::new(&TrustConfig {
            official_domains: vec!["gss:E04012345=exampleparish.gov.uk".into()],
            ..TrustConfig::default()
        })
        .expect("checker");
        assert!(c.is_official("www.guildford.gov.uk", "gss:E07000209"));
        assert!(c.is_official("guildford.gov.uk", "gss:E07000209"));
        assert!(!c.is_official("www.leeds.gov.uk", "gss:E07000209"));
        assert!(!c.is_official("guildford.gov.uk.evil.com", "gss:E07000209"));
        assert!(!c.is_official("notguildford.gov.uk", "gss:E07000209"));
        assert!(c.is_official("www.exampleparish.gov.uk", "gss:E04012345"));
        assert!(!c.is_official("www.exampleparish.gov.uk", "gss:E04099999"));
        // Every council of the register has one, under a public-sector or NI suffix.
        assert!(builtin_official_domains().len() > 350);
    }
}
