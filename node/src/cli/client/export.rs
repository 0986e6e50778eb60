//! `lgmesh export`: the catalogue in an open format, from a running node.
//!
//! `dcat`: the node's HTTP address comes from the node itself (gRPC `Info`), then every
//! page of `/catalog.jsonld` is fetched and merged into one document.
//!
//! `ukgov`: every live service and dataset, listed by gRPC `Search`, written as records
//! of the UK metadata model ([`crate::export::ukgov`]), one file each, into a directory.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use lgmesh_proto::v1::{
    self, manifest_body::Kind, node_client::NodeClient, registry_client::RegistryClient,
};
use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::identity::PublisherKey;
use tonic::transport::Channel;

use super::connect;
use crate::cli::args::{ExportArgs, ExportFormat};
use crate::cli::status_line;
use crate::datadir::DataDir;
use crate::export::{dcat, ukgov};

/// Pages fetched at most (a million resources at 500 a page): a node that keeps naming
/// a next page is not followed for ever.
const MAX_PAGES: usize = 2000;

pub async fn export(dir: &DataDir, a: ExportArgs) -> Result<()> {
    match a.format {
        ExportFormat::Dcat => export_dcat(dir, a).await,
        ExportFormat::Ukgov => export_ukgov(dir, a).await,
    }
}

async fn export_dcat(dir: &DataDir, a: ExportArgs) -> Result<()> {
    let mut node = NodeClient::new(connect(dir, &a.node).await?);
    let info = node.info(v1::InfoRequest {}).await?.into_inner();
    let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(120));
    if info.http_tls
        && let Some(ca) = &a.node.ca
    {
        let pem =
            std::fs::read(ca).with_context(|| format!("--ca: cannot read {}", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("--ca: {} is not PEM certificates", ca.display()))?;
        builder = builder.tls_certs_merge(certs);
    }
    let client = builder.build()?;
    let scheme = if info.http_tls { "https" } else { "http" };
    // Where to reach the web address: as bound, unless bound to every interface
    // (0.0.0.0, [::]), which names no host: then the host `--grpc` named (the name its
    // certificate is for), or this machine.
    let host = match info.http_addr.parse::<std::net::SocketAddr>() {
        Ok(bound) if bound.ip().is_unspecified() => {
            let name = a
                .node
                .grpc
                .as_deref()
                .and_then(|g| g.split_once("://").map_or(Some(g), |(_, r)| Some(r)))
                .and_then(|r| r.rsplit_once(':').map(|(h, _)| h.to_owned()))
                .unwrap_or_else(|| "localhost".into());
            format!("{name}:{}", bound.port())
        }
        _ => info.http_addr.clone(),
    };
    let bar = crate::cli::progress::counter("catalogue pages");
    let mut pages = vec![];
    let mut page = 1;
    loop {
        let url = format!("{scheme}://{host}/catalog.jsonld?page={page}");
        // A node building other pages for harvesters answers 503: wait and ask again.
        let mut tries = 0;
        let r = loop {
            let r = client
                .get(&url)
                .send()
                .await
                .with_context(|| format!("cannot fetch {url}"))?;
            tries += 1;
            if r.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE || tries == 10 {
                break r;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        };
        if !r.status().is_success() {
            bail!("{url}: HTTP {}", r.status());
        }
        let bytes = r
            .bytes()
            .await
            .with_context(|| format!("cannot fetch {url}"))?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).with_context(|| format!("{url}: not JSON"))?;
        let next = v["@graph"]
            .as_array()
            .is_some_and(|g| g.iter().any(|n| n.get("hydra:nextPage").is_some()));
        pages.push(v);
        bar.inc(1);
        if !next {
            break;
        }
        page += 1;
        if page > MAX_PAGES {
            bail!("the node named more than {MAX_PAGES} pages; stopped");
        }
    }
    bar.finish_and_clear();
    let doc = dcat::merge(pages);
    let text = serde_json::to_string_pretty(&doc)?;
    match &a.out {
        Some(path) => {
            std::fs::write(path, text + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("Wrote {}", path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{text}")?;
        }
    }
    Ok(())
}

/// Results to a page of `Search`: its largest.
const PAGE_SIZE: u32 = 100;
/// Pages of one search followed at most: twice as many as search pages through (it
/// stops at 10,000 results), so a node that keeps naming a next page is not followed
/// for ever.
const MAX_SEARCH_PAGES: usize = 200;
/// The largest answer taken from the node: what it sends at most. A page of 100
/// manifests of 64 KiB, each as signed bytes and decoded, is over tonic's default 4 MiB.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// `lgmesh export ukgov --out DIR`.
///
/// Every record is listed and made before anything is written, so an export that fails
/// on the way writes nothing; each file is created new, so nothing is ever overwritten.
async fn export_ukgov(dir: &DataDir, a: ExportArgs) -> Result<()> {
    let Some(out) = a.out.as_deref() else {
        bail!("ukgov writes one file per record: give --out DIR, a new or empty directory");
    };
    refuse_used_dir(out)?;
    let mut client = RegistryClient::new(connect(dir, &a.node).await?)
        .max_decoding_message_size(MAX_ANSWER_BYTES);
    let mut files = BTreeMap::new();
    let mut differ = vec![];
    let mut counts = [0; 2];
    let bar = crate::cli::progress::counter("records read");
    for (count, kind) in counts.iter_mut().zip(["service", "dataset"]) {
        let heads = live_heads(&mut client, kind).await?;
        *count = heads.len();
        bar.inc(heads.len() as u64);
        for m in heads {
            let (file, text, reads_back) = record_file(&m)?;
            if let Err(why) = reads_back {
                differ.push(format!("{file}: {why}"));
            }
            if files.insert(file.clone(), text).is_some() {
                bail!("two records would both be written as {file}; nothing written");
            }
        }
    }
    bar.finish_and_clear();
    std::fs::create_dir_all(out).with_context(|| format!("--out {}", out.display()))?;
    for (file, text) in &files {
        let path = out.join(file);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    for d in &differ {
        eprintln!("warning: {d}; publishing it again would make a new version");
    }
    let [services, datasets] = counts;
    eprintln!(
        "Wrote {} records ({services} services, {datasets} datasets) to {}",
        files.len(),
        out.display()
    );
    Ok(())
}

/// One head's file name and YAML, and whether the YAML reads back as the head.
fn record_file(m: &v1::Manifest) -> Result<(String, String, Result<(), String>)> {
    // What the node says is parsed, not trusted: a file name and the comment in the file
    // are made from these.
    let publisher: PublisherKey = m
        .publisher
        .parse()
        .map_err(|e| anyhow!("the node listed a publisher that is not a key ({e})"))?;
    let id: ManifestId =
        m.id.parse()
            .map_err(|e| anyhow!("the node listed a manifest id that is not one ({e})"))?;
    let body = m
        .body
        .as_ref()
        .ok_or_else(|| anyhow!("the node listed manifest {id} without its body"))?;
    let text = ukgov::to_yaml(
        ukgov::Source {
            publisher: &publisher,
            id: &id,
        },
        body,
    )
    .with_context(|| format!("{publisher}/{}", body.name))?;
    let file = ukgov::file_name(&m.org_id, &publisher.to_string(), &body.name);
    let reads_back = ukgov::reads_back(&text, body);
    Ok((file, text, reads_back))
}

/// Refuses an `--out` that holds anything: an export never mixes with other files.
fn refuse_used_dir(out: &Path) -> Result<()> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "--out {}: the directory is not empty; give a new or empty one",
                    out.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => bail!("--out {}: {e}", out.display()),
    }
}

/// Where search pages come from: the node, or a stand-in in tests.
trait Searcher {
    async fn page(&mut self, q: v1::SearchRequest) -> Result<v1::SearchResponse>;
}

impl Searcher for RegistryClient<Channel> {
    async fn page(&mut self, q: v1::SearchRequest) -> Result<v1::SearchResponse> {
        Ok(self
            .search(q)
            .await
            .map_err(|s| anyhow!("search: {}", status_line(&s)))?
            .into_inner())
    }
}

/// The heads one search lists, each (publisher, name) once.
#[derive(Default)]
struct Listing {
    heads: BTreeMap<(String, String), v1::Manifest>,
    /// How many heads the node says match, by its last page.
    total: u64,
}

impl Listing {
    fn add(&mut self, m: v1::Manifest) {
        let Some(b) = &m.body else { return };
        // A head replaced while the pages were read can be listed twice: the later
        // version stays.
        let version = b.version;
        let key = (m.publisher.clone(), b.name.clone());
        if self
            .heads
            .get(&key)
            .and_then(|old| old.body.as_ref())
            .is_none_or(|old| old.version < version)
        {
            self.heads.insert(key, m);
        }
    }

    fn complete(&self) -> bool {
        self.heads.len() as u64 >= self.total
    }
}

/// Every page of one search: live heads of `kind`, of the organisation `org` (or of
/// every one when empty).
async fn list(s: &mut impl Searcher, kind: &str, org: &str) -> Result<Listing> {
    let mut listing = Listing::default();
    let mut cursor = String::new();
    for _ in 0..MAX_SEARCH_PAGES {
        let r = s
            .page(v1::SearchRequest {
                kind: kind.to_owned(),
                org: org.to_owned(),
                page_size: PAGE_SIZE,
                cursor: std::mem::take(&mut cursor),
                ..Default::default()
            })
            .await?;
        listing.total = r.total;
        let listed = r.hits.len();
        for m in r.hits.into_iter().filter_map(|h| h.manifest) {
            if m.kind == kind {
                listing.add(m);
            }
        }
        if r.next_cursor.is_empty() || listed == 0 {
            return Ok(listing);
        }
        cursor = r.next_cursor;
    }
    bail!("the node named more than {MAX_SEARCH_PAGES} pages of {kind}s; stopped, nothing written")
}

/// Every live head of `kind`: the current version of each (publisher, name), neither
/// retracted nor expired.
///
/// Search pages by offset and stops after the first 10,000 results of one query
/// (`MAX_OFFSET` in the registry's search), so a catalogue bigger than that cannot be
/// listed by one query. It is then listed again organisation by organisation (the `org`
/// filter, by the org cards the node holds), each a query of its own and each far
/// below the limit. Whatever that still does not reach (publishers with no org card, or
/// one organisation with more than the limit) is an error that says how many are
/// missing: an export is never silently short.
async fn live_heads(s: &mut impl Searcher, kind: &str) -> Result<Vec<v1::Manifest>> {
    let mut all = list(s, kind, "").await?;
    if all.complete() {
        return Ok(all.heads.into_values().collect());
    }
    let total = all.total;
    let cards = list(s, "org", "").await?;
    if !cards.complete() {
        bail!(
            "the node holds {total} {kind}s, more than one search lists, and {} org cards, \
             more than one search lists to go organisation by organisation; nothing written",
            cards.total
        );
    }
    let orgs: BTreeSet<String> = cards
        .heads
        .values()
        .filter_map(|m| match m.body.as_ref()?.kind.as_ref()? {
            Kind::Org(o) if !o.org_id.is_empty() => Some(o.org_id.clone()),
            _ => None,
        })
        .collect();
    for org in &orgs {
        let part = list(s, kind, org)
            .await
            .with_context(|| format!("{kind}s of {org}"))?;
        for m in part.heads.into_values() {
            all.add(m);
        }
    }
    if !all.complete() {
        bail!(
            "the node holds {total} live {kind}s but search lists only {} of them, even \
             organisation by organisation (the rest are by publishers with no org card, or \
             by an organisation with more than search pages through); nothing written",
            all.heads.len()
        );
    }
    Ok(all.heads.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node's search over `heads` (kind, org, name), paging by offset and stopping at
    /// `max_offset` as the registry's does.
    struct Fake {
        heads: Vec<(&'static str, String, String)>,
        max_offset: usize,
        queries: usize,
    }

    fn manifest(kind: &str, org: &str, name: &str) -> v1::Manifest {
        let publisher = format!("did:key:{org}");
        let kind_body = match kind {
            "org" => Kind::Org(v1::OrgCard {
                org_id: org.to_owned(),
                ..Default::default()
            }),
            _ => Kind::Service(v1::Service::default()),
        };
        v1::Manifest {
            publisher,
            kind: kind.to_owned(),
            org_id: org.to_owned(),
            body: Some(v1::ManifestBody {
                name: name.to_owned(),
                version: 1,
                kind: Some(kind_body),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    impl Searcher for Fake {
        async fn page(&mut self, q: v1::SearchRequest) -> Result<v1::SearchResponse> {
            self.queries += 1;
            let matching: Vec<_> = self
                .heads
                .iter()
                .filter(|(k, o, _)| *k == q.kind && (q.org.is_empty() || *o == q.org))
                .collect();
            let offset: usize = if q.cursor.is_empty() {
                0
            } else {
                q.cursor.parse()?
            };
            let size = q.page_size as usize;
            let hits = matching
                .iter()
                .skip(offset)
                .take(size)
                .map(|(k, o, n)| v1::SearchHit {
                    manifest: Some(manifest(k, o, n)),
                    ..Default::default()
                })
                .collect();
            let next = offset + size;
            Ok(v1::SearchResponse {
                hits,
                next_cursor: if next < matching.len() && next < self.max_offset {
                    next.to_string()
                } else {
                    String::new()
                },
                total: matching.len() as u64,
            })
        }
    }

    /// `n` services for each of `orgs`, and an org card for each.
    fn catalogue(orgs: &[&str], n: usize) -> Vec<(&'static str, String, String)> {
        let mut heads = vec![];
        for org in orgs {
            heads.push(("org", (*org).to_owned(), "org".to_owned()));
            for i in 0..n {
                heads.push(("service", (*org).to_owned(), format!("s{i}")));
            }
        }
        heads
    }

    #[tokio::test]
    async fn a_catalogue_search_pages_through_is_listed_by_one_search() {
        let mut fake = Fake {
            heads: catalogue(&["a", "b"], 150),
            max_offset: 1000,
            queries: 0,
        };
        let heads = live_heads(&mut fake, "service").await.expect("listed");
        assert_eq!(heads.len(), 300);
        assert_eq!(fake.queries, 3);
    }

    #[tokio::test]
    async fn a_catalogue_bigger_than_search_pages_through_is_listed_by_organisation() {
        let mut fake = Fake {
            heads: catalogue(&["a", "b", "c"], 150),
            max_offset: 200,
            queries: 0,
        };
        let heads = live_heads(&mut fake, "service").await.expect("listed");
        assert_eq!(heads.len(), 450);
    }

    #[tokio::test]
    async fn what_no_search_reaches_is_an_error_not_a_shorter_export() {
        let mut heads = catalogue(&["a", "b"], 150);
        // A publisher with no org card.
        heads.push(("service", "nobody".to_owned(), "orphan".to_owned()));
        let mut fake = Fake {
            heads,
            max_offset: 200,
            queries: 0,
        };
        let err = live_heads(&mut fake, "service")
            .await
            .expect_err("one is out of reach")
            .to_string();
        assert!(
            err.contains("holds 301 live services but search lists only 300"),
            "{err}"
        );
    }

    #[test]
    fn a_used_out_directory_is_refused_and_a_new_or_empty_one_taken() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert!(refuse_used_dir(&tmp.path().join("new")).is_ok());
        assert!(refuse_used_dir(tmp.path()).is_ok());
        std::fs::write(tmp.path().join("x.yaml"), "").expect("write");
        let err = refuse_used_dir(tmp.path())
            .expect_err("not empty")
            .to_string();
        assert!(err.contains("is not empty"), "{err}");
        let err = refuse_used_dir(&tmp.path().join("x.yaml"))
            .expect_err("a file")
            .to_string();
        assert!(err.starts_with("--out "), "{err}");
    }
}
