//! The commands that talk to a running node over gRPC: through the admin socket in the
//! data dir, or over TCP with `--grpc`, sending the admin token for writes.

mod backup;
mod doctor;
mod export;
mod manifests;
mod node;
mod trust;

pub use backup::backup;
pub use doctor::doctor;
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
    let target = GrpcAddr::parse(addr)?;
    let endpoint = tonic::transport::Endpoint::from_shared(target.uri.clone())
        .map_err(|e| anyhow!("--grpc {addr:?}: {e}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .tcp_nodelay(true);
    if !target.tls {
        return endpoint.connect().await.map_err(|_| {
            anyhow!(
                "cannot reach the node at {addr}; if it serves TLS, use --grpc https://{}",
                target.authority
            )
        });
    }
    let tls = crate::tls::client_config(o.ca.as_deref())?;
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls));
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|_| anyhow!("--grpc {addr:?}: {:?} is not a host name", target.host))?;
    let (authority, port) = (target.host.clone(), target.port);
    // The certificate's problem, kept for the error: tonic's own says only "transport
    // error".
    let why = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let seen = why.clone();
    let channel = endpoint
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let (connector, name, host, seen) = (
                connector.clone(),
                name.clone(),
                authority.clone(),
                seen.clone(),
            );
            async move {
                let tcp =
                    tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port)).await?;
                tcp.set_nodelay(true)?;
                match connector.connect(name, tcp).await {
                    Ok(s) => Ok(hyper_util::rt::TokioIo::new(s)),
                    Err(e) => {
                        if let Ok(mut w) = seen.lock() {
                            *w = Some(e.to_string());
                        }
                        Err(e)
                    }
                }
            }
        }))
        .await;
    channel.map_err(|_| {
        match why.lock().ok().and_then(|mut w| w.take()) {
            // By what is wrong with the certificate: the CA hint only where it helps.
            Some(e) if e.contains("NotValidForName") || e.contains("not valid for name") => {
                anyhow!(
                    "the node at {addr} has a certificate for other names ({e}); give --grpc one of the names it is for"
                )
            }
            Some(e) if e.contains("expired") || e.contains("Expired") => anyhow!(
                "the node at {addr} presented an expired certificate ({e}); its operator must renew it"
            ),
            Some(e) if e.contains("NotValidYet") || e.contains("not valid yet") => anyhow!(
                "the node at {addr} presented a certificate not valid yet ({e}); check this machine's clock, and the node's"
            ),
            Some(e) if e.contains("certificate") || e.contains("Certificate") => anyhow!(
                "the node at {addr} presented a certificate this machine does not trust ({e}); give its CA with --ca FILE (or LGMESH_CA)"
            ),
            Some(e) => anyhow!("cannot reach the node at {addr} over TLS: {e}"),
            None => anyhow!("cannot reach the node at {addr}"),
        }
    })
}

/// Where `--grpc` points: `HOST:PORT` or `http://HOST:PORT` in clear, `https://HOST:PORT`
/// over TLS.
struct GrpcAddr {
    uri: String,
    tls: bool,
    /// `HOST:PORT`.
    authority: String,
    host: String,
    port: u16,
}

impl GrpcAddr {
    fn parse(addr: &str) -> Result<Self> {
        let (tls, rest) = match addr.split_once("://") {
            Some(("https", r)) => (true, r),
            Some(("http", r)) => (false, r),
            Some((s, _)) => bail!("--grpc {addr:?}: the scheme {s:?} is neither http nor https"),
            None => (false, addr),
        };
        let authority = rest.trim_end_matches('/');
        let uri: tonic::transport::Uri = format!("http://{authority}")
            .parse()
            .map_err(|_| anyhow!("--grpc {addr:?}: not HOST:PORT"))?;
        let (Some(host), Some(port)) = (uri.host(), uri.port_u16()) else {
            bail!(
                "--grpc {addr:?}: not HOST:PORT, e.g. 127.0.0.1:7420 or https://lgmesh.example.gov.uk:7420"
            );
        };
        Ok(Self {
            uri: format!("{}://{authority}", if tls { "https" } else { "http" }),
            tls,
            authority: authority.to_owned(),
            host: host.trim_matches(['[', ']']).to_owned(),
            port,
        })
    }

    /// Whether a token may be sent: over TLS, or in clear to this machine.
    fn keeps_secrets(&self) -> bool {
        self.tls
            || self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.to_canonical().is_loopback())
    }
}

/// `msg` as a request, with the admin token when it goes over TCP (`--grpc`): the
/// admin socket needs none. The token comes from `LGMESH_TOKEN` or the data dir.
fn with_token<T>(dir: &DataDir, o: &OutputArgs, msg: T) -> Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(msg);
    let Some(addr) = &o.grpc else {
        return Ok(req);
    };
    if !GrpcAddr::parse(addr)?.keeps_secrets() {
        bail!(
            "--grpc {addr}: writes send the admin token, which must not cross the network in clear; use --grpc https://{} (the node serves TLS beyond loopback), or run the command on the node's machine",
            addr.trim_start_matches("http://")
        );
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
