//! `lgmesh export`: the catalogue in an open format, from a running node. The node's
//! HTTP address comes from the node itself (gRPC `Info`), then every page of
//! `/catalog.jsonld` is fetched and merged into one document.

use std::io::Write;

use anyhow::{Context, Result, bail};
use lgmesh_proto::v1::{self, node_client::NodeClient};

use super::connect;
use crate::cli::args::{ExportArgs, ExportFormat};
use crate::datadir::DataDir;
use crate::export::dcat;

/// Pages fetched at most (a million resources at 500 a page): a node that keeps naming
/// a next page is not followed for ever.
const MAX_PAGES: usize = 2000;

pub async fn export(dir: &DataDir, a: ExportArgs) -> Result<()> {
    let mut node = NodeClient::new(connect(dir, &a.node).await?);
    let info = node.info(v1::InfoRequest {}).await?.into_inner();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()?;
    let doc = match a.format {
        ExportFormat::Dcat => {
            let mut pages = vec![];
            let mut page = 1;
            loop {
                let url = format!("http://{}/catalog.jsonld?page={page}", info.http_addr);
                let r = client
                    .get(&url)
                    .send()
                    .await
                    .with_context(|| format!("cannot fetch {url}"))?;
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
                if !next {
                    break;
                }
                page += 1;
                if page > MAX_PAGES {
                    bail!("the node named more than {MAX_PAGES} pages; stopped");
                }
            }
            dcat::merge(pages)
        }
    };
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
