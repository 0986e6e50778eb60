//! The commands that talk to a running node over gRPC: through the admin socket in the
//! data dir, or over TCP with `--grpc`, sending the admin token for writes.

mod export;
mod manifests;
mod node;
mod trust;

pub use export::export;
pub use manifests::{adopt, history, need, publish, retract, search, show, watch};
pub use node::{dial, info, peers, stats};
pub use trust::{endorse, revoke, trust};

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use lgmesh_proto::v1::{self, registry_client::RegistryClient};
use serde_json::json;
use tonic::transport::Channel;

use super::args::OutputArgs;
use crate::datadir::DataDir;
use crate::view;

/// Connects to the node: to its admin socket in the data dir, or to `--grpc ADDR`.
///
/// The socket is this user's own (mode 0600) and only the node that owns the data dir
/// listens on it, so nothing secret is ever sent to whatever happens to listen on a
/// port a stale `node.json` names (a node that crashed leaves one behind).
async fn connect(dir: &DataDir, o: &OutputArgs) -> Result<Channel> {
    let Some(addr) = &o.grpc else {
        let path = dir.admin_socket();
        if !path.exists() {
            bail!(
                "no running node found for {} (no {}); start one with: lgmesh run --data-dir {}",
                dir.0.display(),
                path.display(),
                dir.0.display()
            );
        }
        return tonic::transport::Endpoint::from_static("http://admin.sock")
            .timeout(Duration::from_secs(60))
            .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
                let path = path.clone();
                async move {
                    tokio::net::UnixStream::connect(path)
                        .await
                        .map(hyper_util::rt::TokioIo::new)
                }
            }))
            .await
            .map_err(|_| {
                anyhow!(
                    "cannot reach the node through {}; is `lgmesh run --data-dir {}` running?",
                    dir.admin_socket().display(),
                    dir.0.display()
                )
            });
    };
    let uri = if addr.starts_with("http") {
        addr.clone()
    } else {
        format!("http://{addr}")
    };
    tonic::transport::Endpoint::from_shared(uri)
        .map_err(|e| anyhow!("--grpc {addr:?}: {e}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|_| anyhow!("cannot reach the node at {addr}"))
}

/// `msg` as a request, with the admin token when it goes over TCP (`--grpc`): the
/// admin socket needs none. The token comes from `LGMESH_TOKEN` or the data dir.
fn with_token<T>(dir: &DataDir, o: &OutputArgs, msg: T) -> Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(msg);
    if o.grpc.is_none() {
        return Ok(req);
    }
    let token = match std::env::var("LGMESH_TOKEN") {
        Ok(t) if !t.is_empty() => t,
        _ => dir
            .load_admin_token()
            .context("writes over --grpc need the admin token")?,
    };
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| anyhow!("the admin token is not valid text"))?,
    );
    Ok(req)
}

fn outcome_word(o: i32) -> &'static str {
    match v1::Outcome::try_from(o) {
        Ok(v1::Outcome::Stored) => "Published",
        Ok(v1::Outcome::Unchanged) => "Unchanged",
        Ok(v1::Outcome::Duplicate) => "Already stored",
        Ok(v1::Outcome::Stale) => "Stale",
        _ => "Done",
    }
}

fn print_write(r: v1::PublishResponse, json_out: bool) -> Result<()> {
    let m = r
        .manifest
        .ok_or_else(|| anyhow!("the node returned no manifest"))?;
    if json_out {
        let mut v = view::manifest_json(&m);
        v["outcome"] = json!(
            v1::Outcome::try_from(r.outcome)
                .map(|o| o.as_str_name())
                .unwrap_or("")
        );
        out!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let b = m.body.clone().unwrap_or_default();
        match &b.kind {
            Some(v1::manifest_body::Kind::Retraction(rt)) => {
                out!(
                    "Retracted {} (tombstone v{}): {}",
                    b.name,
                    b.version,
                    rt.reason
                )
            }
            _ => out!(
                "{} {} {} v{}: {}",
                outcome_word(r.outcome),
                m.kind,
                b.name,
                b.version,
                view::title(&b)
            ),
        }
        out!("  id         {}", m.id);
        out!("  publisher  {}/{}", m.publisher, b.name);
    }
    Ok(())
}

enum Target {
    Id(String),
    Name { publisher: String, name: String },
}

fn target(s: &str) -> Target {
    let s = s.trim();
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Target::Id(s.to_owned());
    }
    match s.rsplit_once('/') {
        Some((p, n)) => Target::Name {
            publisher: p.to_owned(),
            name: n.to_owned(),
        },
        None => Target::Name {
            publisher: String::new(),
            name: s.to_owned(),
        },
    }
}

async fn publish_content(
    dir: &DataDir,
    out: &OutputArgs,
    name: String,
    content: v1::publish_request::Content,
) -> Result<()> {
    let req = with_token(
        dir,
        out,
        v1::PublishRequest {
            name,
            content: Some(content),
        },
    )?;
    let mut client = RegistryClient::new(connect(dir, out).await?);
    let r = client.publish(req).await?.into_inner();
    print_write(r, out.json)
}

fn key_arg(flag: &str, s: &str) -> Result<lgmesh_protocol::identity::PublisherKey> {
    s.trim().parse().map_err(|e| anyhow!("{flag}: {e}"))
}
