//! The checker: fetches an organisation's `lgmesh.json` over HTTPS, from hosts under
//! the public-sector suffixes only, and judges it against an org card.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_registry::{DomainProof, OrgCard};
use reqwest::Url;

use super::{Code, DomainMetrics, Finding, WELL_KNOWN};
use crate::config::TrustConfig;

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
/// A fetched `lgmesh.json`, for judging every card that names its website.
pub struct Fetched {
    host: String,
    file: Url,
    wk: WellKnown,
}

/// The built-in official domains: each current principal council's own, by GSS code
/// (`node/data/council-domains.csv`, from mySociety's and GOV.UK's registers).
fn builtin_official_domains() -> HashMap<String, String> {
    include_str!("../../data/council-domains.csv")
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
    pub(super) permits: Arc<tokio::sync::Semaphore>,
    /// Origins being fetched now: a round started meanwhile leaves them be.
    pub(super) in_flight: std::sync::Mutex<std::collections::HashSet<String>>,
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
