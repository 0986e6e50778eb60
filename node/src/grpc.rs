//! The gRPC services: thin impls that parse the request into domain types, call one
//! [`App`] function and map the result. The one place where domain errors become
//! `tonic::Status`. Each call runs in a span of its own ([`call_span`]).

use std::sync::Arc;

use lgmesh_proto::v1::{self, node_server::Node, registry_server::Registry as RegistryApi};
use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_registry::Query;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::app::{App, AppError, Outcome, Write, Written};

impl From<AppError> for Status {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Invalid(m) => Status::invalid_argument(m),
            AppError::Conflict(m) => Status::failed_precondition(m),
            AppError::NotFound(m) => Status::not_found(m),
            AppError::Busy(m) => Status::resource_exhausted(m),
            AppError::Unavailable(m) => Status::unavailable(m),
            AppError::TimedOut(m) => Status::deadline_exceeded(m),
            AppError::Internal(m) => {
                tracing::error!("internal error: {m}");
                Status::internal(m)
            }
        }
    }
}

/// The span one gRPC call runs in, under `node` (the node's root span: the server's
/// connections run in tasks of their own, outside it): the method, and the caller's
/// address, or `admin-socket`. For `Server::trace_fn`.
pub fn call_span(node: &tracing::Span, req: &tonic::codegen::http::Request<()>) -> tracing::Span {
    let peer = req
        .extensions()
        .get::<tonic::transport::server::TcpConnectInfo>()
        .and_then(|c| c.remote_addr())
        .map_or_else(|| "admin-socket".to_owned(), |a| a.to_string());
    let span = tracing::info_span!(parent: node, "grpc", method = %req.uri().path(), peer = %peer);
    // Where INFO is filtered out, what the call logs still names the node.
    if span.is_disabled() {
        node.clone()
    } else {
        span
    }
}

/// How writes are allowed on a listener.
#[derive(Clone)]
pub enum Access {
    /// The admin socket (`<data-dir>/admin.sock`, mode 0600): whoever can open it owns
    /// the data dir already, so writes need nothing more, as with Docker's socket.
    Socket,
    /// A TCP listener: writes need `authorization: Bearer <token>`, and, when the
    /// listener is in clear (`tls` false), must come from this machine: a token sent in
    /// clear over a network is a token given away.
    Token {
        /// The admin token.
        token: String,
        /// Whether the listener serves TLS.
        tls: bool,
    },
}

/// The registry service.
pub struct RegistryService {
    app: Arc<App>,
    access: Access,
}

/// The node service.
pub struct NodeService {
    app: Arc<App>,
    info: v1::InfoResponse,
    access: Access,
}

/// The filter fields that Search and Watch share (empty or 0: no filter).
struct Filters {
    text: String,
    kind: String,
    lgsl: u32,
    area: String,
    org: String,
    status: String,
    standard: String,
    answers: String,
    include_retracted: bool,
    verified_only: bool,
}

impl Filters {
    fn query(self) -> Query {
        let nonempty = |s: String| Some(s).filter(|s| !s.is_empty());
        Query {
            text: self.text,
            kind: nonempty(self.kind),
            lgsl: Some(self.lgsl).filter(|n| *n != 0),
            area: nonempty(self.area),
            org: nonempty(self.org),
            status: nonempty(self.status.to_ascii_uppercase()),
            standard: nonempty(self.standard),
            answers: nonempty(self.answers),
            include_retracted: self.include_retracted,
            verified_only: self.verified_only,
            ..Default::default()
        }
    }
}

/// Allows a write: always on the admin socket; on TCP, with `authorization: Bearer
/// <token>`, compared in constant time.
fn authorise<T>(app: &App, access: &Access, req: &Request<T>) -> Result<(), Status> {
    let token = match access {
        Access::Socket => return Ok(()),
        Access::Token { token, tls } => {
            let local = req
                .remote_addr()
                .is_some_and(|a| a.ip().to_canonical().is_loopback());
            if !tls && !local {
                app.metrics().cleartext_write();
                return Err(Status::permission_denied(
                    "writes in clear from another machine are refused: the admin token would cross the network readable; serve TLS (tls.cert_file and tls.key_file) and call with https://, or write through the admin socket on the node's machine",
                ));
            }
            token.as_str()
        }
    };
    let given = req
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let ok = match given {
        Some(g) => {
            let (a, b) = (g.trim().as_bytes(), token.as_bytes());
            a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        app.metrics().unauthenticated();
        Err(Status::unauthenticated(match given {
            None => {
                "authorization: missing; writes need the admin socket (<data-dir>/admin.sock, which the lgmesh command uses) or `authorization: Bearer <token>` (the token is in <data-dir>/admin.token)"
            }
            Some(_) => "authorization: wrong admin token",
        }))
    }
}

/// The API's answer to a write.
fn publish_response(w: Written) -> v1::PublishResponse {
    let outcome = match w.outcome {
        Outcome::Stored => v1::Outcome::Stored,
        Outcome::Unchanged => v1::Outcome::Unchanged,
        Outcome::Duplicate => v1::Outcome::Duplicate,
    };
    v1::PublishResponse {
        outcome: outcome as i32,
        manifest: Some(w.manifest),
    }
}

impl RegistryService {
    /// Serves `app`; writes as `access` allows. Watches end when the node stops.
    pub fn new(app: Arc<App>, access: Access) -> Self {
        Self { app, access }
    }

    fn authorise<T>(&self, req: &Request<T>) -> Result<(), Status> {
        authorise(&self.app, &self.access, req)
    }

    /// Authorises `req`, parses it into a write, and does it.
    async fn write<T>(
        &self,
        req: Request<T>,
        parse: impl FnOnce(T) -> Result<Write, Status>,
    ) -> Result<Response<v1::PublishResponse>, Status> {
        let r = async {
            self.authorise(&req)?;
            let w = parse(req.into_inner())?;
            Ok(publish_response(self.app.write(w).await?))
        }
        .await;
        done(&self.app, r)
    }
}

/// The answer to a call, counted in `lgmesh_grpc_requests_total` (and, when it fails,
/// `lgmesh_grpc_errors_total`).
fn done<T>(app: &App, r: Result<T, Status>) -> Result<Response<T>, Status> {
    app.metrics().grpc(r.is_ok());
    r.map(Response::new)
}

fn parse_id(s: &str) -> Result<ManifestId, AppError> {
    s.parse()
        .map_err(|e: &str| AppError::Invalid(format!("id: {e}")))
}

fn name_arg(s: &str) -> Result<String, AppError> {
    if s.is_empty() {
        return Err(AppError::Invalid("name: required".into()));
    }
    Ok(s.to_owned())
}

#[tonic::async_trait]
impl RegistryApi for RegistryService {
    async fn publish(
        &self,
        req: Request<v1::PublishRequest>,
    ) -> Result<Response<v1::PublishResponse>, Status> {
        self.write(req, |req| {
            let content = req.content.ok_or_else(|| {
                Status::invalid_argument(
                    "content: one of document, service, dataset, org, endorsement, adoption or need is required",
                )
            })?;
            Ok(Write::Publish {
                name: Some(req.name).filter(|n| !n.is_empty()),
                content: Box::new(content),
            })
        })
        .await
    }

    async fn submit(
        &self,
        req: Request<v1::SubmitRequest>,
    ) -> Result<Response<v1::PublishResponse>, Status> {
        self.write(req, |req| {
            let env = req
                .envelope
                .ok_or_else(|| Status::invalid_argument("envelope: required"))?;
            Ok(Write::Submit(env.encode_to_vec()))
        })
        .await
    }

    async fn retract(
        &self,
        req: Request<v1::RetractRequest>,
    ) -> Result<Response<v1::PublishResponse>, Status> {
        self.write(req, |req| {
            Ok(Write::Retract {
                name: name_arg(&req.name)?,
                reason: req.reason,
            })
        })
        .await
    }

    async fn get(&self, req: Request<v1::GetRequest>) -> Result<Response<v1::Manifest>, Status> {
        let r = async {
            let id = parse_id(&req.into_inner().id)?;
            Ok(self.app.manifest_view(id).await?)
        }
        .await;
        done(&self.app, r)
    }

    async fn resolve(
        &self,
        req: Request<v1::ResolveRequest>,
    ) -> Result<Response<v1::Manifest>, Status> {
        let r = async {
            let req = req.into_inner();
            let pk = self.app.publisher_or_self(&req.publisher)?;
            Ok(self.app.head_view(pk, name_arg(&req.name)?).await?)
        }
        .await;
        done(&self.app, r)
    }

    async fn history(
        &self,
        req: Request<v1::HistoryRequest>,
    ) -> Result<Response<v1::HistoryResponse>, Status> {
        let r = async {
            let req = req.into_inner();
            let pk = self.app.publisher_or_self(&req.publisher)?;
            let limit = match req.page_size as usize {
                0 => crate::app::HISTORY_PAGE,
                n if n > crate::app::MAX_HISTORY_PAGE => {
                    return Err(Status::invalid_argument(format!(
                        "page_size: at most {}",
                        crate::app::MAX_HISTORY_PAGE
                    )));
                }
                n => n,
            };
            let before = (req.before_version > 0).then_some(req.before_version);
            Ok(self
                .app
                .history_view(pk, name_arg(&req.name)?, before, limit)
                .await?)
        }
        .await;
        done(&self.app, r)
    }

    async fn search(
        &self,
        req: Request<v1::SearchRequest>,
    ) -> Result<Response<v1::SearchResponse>, Status> {
        let r = async {
            let req = req.into_inner();
            let mut q = Filters {
                text: req.text,
                kind: req.kind,
                lgsl: req.lgsl,
                area: req.area,
                org: req.org,
                status: req.status,
                standard: req.standard,
                answers: req.answers,
                include_retracted: req.include_retracted,
                verified_only: req.verified_only,
            }
            .query();
            q.include_expired = req.include_expired;
            q.page_size = if req.page_size == 0 {
                20
            } else {
                req.page_size as usize
            };
            q.cursor = Some(req.cursor).filter(|c| !c.is_empty());
            Ok(self.app.search(q).await?)
        }
        .await;
        done(&self.app, r)
    }

    type WatchStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<v1::Manifest, Status>> + Send>>;

    async fn watch(
        &self,
        req: Request<v1::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let req = req.into_inner();
        let q = Filters {
            text: req.text,
            kind: req.kind,
            lgsl: req.lgsl,
            area: req.area,
            org: req.org,
            status: req.status,
            standard: req.standard,
            answers: req.answers,
            include_retracted: req.include_retracted,
            verified_only: req.verified_only,
        }
        .query();
        if let Err(e) = q.check() {
            return Err(Status::invalid_argument(e.to_string()));
        }
        let admin = matches!(self.access, Access::Socket);
        let r = self.app.watch(q, admin).map_err(Status::from).map(|rx| {
            let stream = tokio_stream::StreamExt::map(
                tokio_stream::wrappers::ReceiverStream::new(rx),
                |item| item.map_err(Status::from),
            );
            Box::pin(stream) as Self::WatchStream
        });
        done(&self.app, r)
    }
}

impl NodeService {
    /// Serves identity, counters and peers; dialling as `access` allows.
    pub fn new(app: Arc<App>, info: v1::InfoResponse, access: Access) -> Self {
        Self { app, info, access }
    }
}

#[tonic::async_trait]
impl Node for NodeService {
    async fn info(
        &self,
        _req: Request<v1::InfoRequest>,
    ) -> Result<Response<v1::InfoResponse>, Status> {
        let r = self.app.info(&self.info).await.map_err(Status::from);
        done(&self.app, r)
    }

    async fn peers(
        &self,
        _req: Request<v1::PeersRequest>,
    ) -> Result<Response<v1::PeersResponse>, Status> {
        let r = self.app.peers().await.map_err(Status::from);
        done(&self.app, r)
    }

    async fn dial(
        &self,
        req: Request<v1::DialRequest>,
    ) -> Result<Response<v1::DialResponse>, Status> {
        let r = async {
            authorise(&self.app, &self.access, &req)?;
            Ok(self.app.dial(&req.into_inner().addr).await?)
        }
        .await;
        done(&self.app, r)
    }

    async fn stats(
        &self,
        _req: Request<v1::StatsRequest>,
    ) -> Result<Response<v1::StatsResponse>, Status> {
        let r = self.app.stats().await.map_err(Status::from);
        done(&self.app, r)
    }

    async fn backup(
        &self,
        req: Request<v1::BackupRequest>,
    ) -> Result<Response<v1::BackupResponse>, Status> {
        let r = async {
            if !matches!(self.access, Access::Socket) {
                return Err(Status::permission_denied(
                    "backup: only through the admin socket: run `lgmesh backup FILE` on the node's machine, as the node's user",
                ));
            }
            let path = std::path::PathBuf::from(req.into_inner().path);
            if !path.is_absolute() || path.as_os_str().len() > 4096 {
                return Err(Status::invalid_argument(
                    "path: must be an absolute path on the node's machine",
                ));
            }
            if path.exists() {
                return Err(Status::invalid_argument(format!(
                    "path: {} exists already; name a new file",
                    path.display()
                )));
            }
            let reg = self.app.registry().clone();
            let now = lgmesh_protocol::now_ms();
            let s = self
                .app
                .blocking(move || {
                    reg.backup(&path, now).map_err(|e| match e {
                        lgmesh_registry::backup::BackupError::Store(e) => {
                            AppError::Internal(format!("backup: {e}"))
                        }
                        // The file: its directory, permissions, the disk.
                        e => AppError::Invalid(format!("path: {e}")),
                    })
                })
                .await??;
            tracing::info!(records = s.records, bytes = s.bytes, "store backed up");
            Ok(v1::BackupResponse {
                records: s.records,
                bytes: s.bytes,
                format: s.format,
                sha256: hex::encode(s.sha256),
            })
        }
        .await;
        done(&self.app, r)
    }
}

/// The trust service.
pub struct TrustService {
    app: Arc<App>,
    access: Access,
}

impl TrustService {
    /// Serves trust judgements; changing the operator's list as `access` allows.
    pub fn new(app: Arc<App>, access: Access) -> Self {
        Self { app, access }
    }
}

/// Keys in one Trust.List page, by default and at most.
const TRUST_PAGE: usize = 1_000;
const MAX_TRUST_PAGE: usize = 5_000;

fn publisher_arg(s: &str) -> Result<PublisherKey, AppError> {
    if s.trim().is_empty() {
        return Err(AppError::Invalid(
            "publisher: required, a did:key:z6Mk… key".into(),
        ));
    }
    s.trim()
        .parse()
        .map_err(|e| AppError::Invalid(format!("publisher: {e}")))
}

#[tonic::async_trait]
impl v1::trust_server::Trust for TrustService {
    async fn add(
        &self,
        req: Request<v1::TrustAddRequest>,
    ) -> Result<Response<v1::PublisherTrust>, Status> {
        let r = async {
            authorise(&self.app, &self.access, &req)?;
            let req = req.into_inner();
            let pk = publisher_arg(&req.publisher)?;
            let org: lgmesh_protocol::identity::OrgId = req
                .org_id
                .trim()
                .parse()
                .map_err(|e| AppError::Invalid(format!("orgId: {e}")))?;
            Ok(self.app.trust_add(pk, org).await?)
        }
        .await;
        done(&self.app, r)
    }

    async fn remove(
        &self,
        req: Request<v1::TrustRemoveRequest>,
    ) -> Result<Response<v1::PublisherTrust>, Status> {
        let r = async {
            authorise(&self.app, &self.access, &req)?;
            let pk = publisher_arg(&req.into_inner().publisher)?;
            Ok(self.app.trust_remove(pk).await?)
        }
        .await;
        done(&self.app, r)
    }

    async fn get(
        &self,
        req: Request<v1::TrustGetRequest>,
    ) -> Result<Response<v1::PublisherTrust>, Status> {
        let r = async {
            let pk = publisher_arg(&req.into_inner().publisher)?;
            Ok(self.app.judge(pk).await?)
        }
        .await;
        done(&self.app, r)
    }

    async fn list(
        &self,
        req: Request<v1::TrustListRequest>,
    ) -> Result<Response<v1::TrustListResponse>, Status> {
        let r = async {
            let req = req.into_inner();
            let state = match v1::Verification::try_from(req.verification) {
                Ok(v1::Verification::Unspecified) => None,
                Ok(v) => Some(v),
                Err(_) => {
                    return Err(Status::invalid_argument("verification: not a known state"));
                }
            };
            let page = match req.page_size as usize {
                0 => TRUST_PAGE,
                n if n > MAX_TRUST_PAGE => {
                    return Err(Status::invalid_argument(format!(
                        "pageSize: at most {MAX_TRUST_PAGE}"
                    )));
                }
                n => n,
            };
            let after = match req.after.trim() {
                "" => None,
                a => Some(publisher_arg(a)?),
            };
            Ok(self.app.judge_all(state, after, page).await?)
        }
        .await;
        done(&self.app, r)
    }

    async fn check_domain(
        &self,
        req: Request<v1::TrustGetRequest>,
    ) -> Result<Response<v1::PublisherTrust>, Status> {
        let r = async {
            authorise(&self.app, &self.access, &req)?;
            let pk = publisher_arg(&req.into_inner().publisher)?;
            Ok(self.app.check_domain(pk).await?)
        }
        .await;
        done(&self.app, r)
    }
}
