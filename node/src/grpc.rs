//! The gRPC services: thin impls that parse the request, call one `App` function and
//! map the result. The one place where domain errors become `tonic::Status`.

use std::sync::Arc;

use lgmesh_proto::v1::{
    self, node_server::Node, publish_request::Content, registry_server::Registry as RegistryApi,
};
use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_protocol::now_ms;
use lgmesh_registry::{Query, SearchError, Stored, TrustView, Verification};
use prost::Message;
use tonic::{Request, Response, Status};

use crate::app::{App, AppError, Outcome};
use crate::metrics::Source;

impl From<AppError> for Status {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Invalid(m) => Status::invalid_argument(m),
            AppError::Conflict(m) => Status::failed_precondition(m),
            AppError::NotFound(m) => Status::not_found(m),
            AppError::Internal(m) => {
                tracing::error!("internal error: {m}");
                Status::internal(m)
            }
        }
    }
}

/// How writes are allowed on a listener.
#[derive(Clone)]
pub enum Access {
    /// The admin socket (`<data-dir>/admin.sock`, mode 0600): whoever can open it owns
    /// the data dir already, so writes need nothing more, as with Docker's socket.
    Socket,
    /// A TCP listener: writes need `authorization: Bearer <token>`.
    Token(String),
}

/// The registry service.
pub struct RegistryService {
    app: Arc<App>,
    access: Access,
    /// Cancelled when the node begins to stop: open `Watch` streams end then, so that
    /// they do not hold the server's graceful shutdown open.
    stop: tokio_util::sync::CancellationToken,
}

/// The node service.
pub struct NodeService {
    app: Arc<App>,
    info: v1::InfoResponse,
    net: lgmesh_net::Network,
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
            include_retracted: self.include_retracted,
            verified_only: self.verified_only,
            ..Default::default()
        }
    }
}

/// The API's name for a trust judgement.
pub fn verification(v: Verification) -> v1::Verification {
    match v {
        Verification::Unverified => v1::Verification::Unverified,
        Verification::Verified => v1::Verification::Verified,
        Verification::Conflicting => v1::Verification::Conflicting,
        Verification::Revoked => v1::Verification::Revoked,
        Verification::Rotated => v1::Verification::Rotated,
    }
}

/// The judgement of `pk` with its reason, for people.
fn judged(trust: &TrustView, pk: &PublisherKey) -> (v1::Verification, String) {
    match trust.get(pk) {
        Some(t) => (verification(t.state), t.explain()),
        None => (
            v1::Verification::Unverified,
            "this node has no org card or endorsement for it".into(),
        ),
    }
}

/// The judgement of one manifest: its publisher's, except that what a rotated-away or
/// revoked key signed counts as verified only when its rotation or revocation names it.
fn judged_manifest(
    trust: &TrustView,
    pk: &PublisherKey,
    id: &ManifestId,
) -> (v1::Verification, String) {
    let (key_state, why) = judged(trust, pk);
    let v = verification(trust.of_manifest(pk, id));
    if v == v1::Verification::Verified && key_state != v1::Verification::Verified {
        let why = format!("{why}; this manifest is one its rotation or revocation names");
        return (v, why);
    }
    (v, why)
}

/// Allows a write: always on the admin socket; on TCP, with `authorization: Bearer
/// <token>`, compared in constant time.
fn authorise<T>(app: &App, access: &Access, req: &Request<T>) -> Result<(), Status> {
    let token = match access {
        Access::Socket => return Ok(()),
        Access::Token(t) => t.as_str(),
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
        app.metrics.unauthenticated();
        Err(Status::unauthenticated(match given {
            None => {
                "authorization: missing; writes need the admin socket (<data-dir>/admin.sock, which the lgmesh command uses) or `authorization: Bearer <token>` (the token is in <data-dir>/admin.token)"
            }
            Some(_) => "authorization: wrong admin token",
        }))
    }
}

impl RegistryService {
    /// Serves `app`; writes as `access` allows; watches end when `stop` is cancelled.
    pub fn new(app: Arc<App>, access: Access, stop: tokio_util::sync::CancellationToken) -> Self {
        Self { app, access, stop }
    }

    fn authorise<T>(&self, req: &Request<T>) -> Result<(), Status> {
        authorise(&self.app, &self.access, req)
    }

    fn done<T>(&self, r: Result<T, Status>) -> Result<Response<T>, Status> {
        self.app.metrics.grpc(r.is_ok());
        r.map(Response::new)
    }

    async fn write_response(
        &self,
        r: Result<(Outcome, Stored), AppError>,
    ) -> Result<v1::PublishResponse, Status> {
        let (outcome, stored) = r?;
        let outcome = match outcome {
            Outcome::Stored => v1::Outcome::Stored,
            Outcome::Unchanged => v1::Outcome::Unchanged,
            Outcome::Duplicate => v1::Outcome::Duplicate,
        };
        Ok(v1::PublishResponse {
            outcome: outcome as i32,
            manifest: Some(view(&self.app, stored).await?),
        })
    }
}

/// Adopters listed on one manifest.
const MAX_ADOPTERS: usize = 100;

/// Builds the API view of a stored manifest: flags from the store and the org card.
pub async fn view(app: &App, s: Stored) -> Result<v1::Manifest, AppError> {
    let mut many = views(app, vec![s]).await?;
    many.pop()
        .ok_or_else(|| AppError::Internal("view lost".into()))
}

/// As [`view`], for many (one trip to the blocking pool).
pub async fn views(app: &App, items: Vec<Stored>) -> Result<Vec<v1::Manifest>, AppError> {
    let reg = app.registry.clone();
    let now = now_ms();
    app.blocking(
        move || -> Result<Vec<v1::Manifest>, lgmesh_registry::StoreError> {
            let mut out = Vec::with_capacity(items.len());
            let trust = reg.trust()?;
            for s in items {
                let head = reg.head(&s.publisher, &s.body.name)?;
                let org = reg.org_of(&s.publisher)?;
                // Flagged on every result once this node holds proof that the publisher
                // equivocated, under any name.
                let equivocation = reg.equivocated(&s.publisher)?;
                let (v, why) = judged_manifest(&trust, &s.publisher, &s.id);
                let mut adopters = vec![];
                if matches!(s.kind(), "service" | "dataset") {
                    for (pk, version) in reg
                        .adopters(&s.publisher, &s.body.name)?
                        .into_iter()
                        .take(MAX_ADOPTERS)
                    {
                        let org = reg.org_of(&pk)?;
                        adopters.push(v1::Adopter {
                            publisher: pk.to_string(),
                            org_id: org.as_ref().map(|o| o.org_id.clone()).unwrap_or_default(),
                            org_name: org.map(|o| o.name).unwrap_or_default(),
                            verification: verification(trust.of(&pk)) as i32,
                            version,
                        });
                    }
                    adopters.sort_by_key(|a| {
                        (
                            a.verification != v1::Verification::Verified as i32,
                            a.org_name.clone(),
                        )
                    });
                }
                let verified_adopters = adopters
                    .iter()
                    .filter(|a| a.verification == v1::Verification::Verified as i32)
                    .count() as u32;
                out.push(v1::Manifest {
                    verification: v as i32,
                    verification_reason: why,
                    adopters,
                    verified_adopters,
                    id: s.id.to_string(),
                    publisher: s.publisher.to_string(),
                    kind: s.kind().to_owned(),
                    org_id: org.as_ref().map(|o| o.org_id.clone()).unwrap_or_default(),
                    org_name: org.map(|o| o.name).unwrap_or_default(),
                    is_head: head.is_some_and(|h| h.id == s.id),
                    retracted: head.is_some_and(|h| h.retracted),
                    expired: s.body.expires_at_ms <= now,
                    equivocation,
                    body: Some(s.body),
                    envelope: Some(s.envelope),
                });
            }
            Ok(out)
        },
    )
    .await?
    .map_err(AppError::from)
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
        let r = async {
            self.authorise(&req)?;
            let req = req.into_inner();
            let name = Some(req.name.as_str()).filter(|n| !n.is_empty());
            let res = match req.content {
                Some(Content::Document(d)) => {
                    self.app.publish_document(&d.format, &d.text, name).await
                }
                Some(Content::Service(s)) => match name {
                    Some(n) => {
                        self.app
                            .publish_kind(n, v1::manifest_body::Kind::Service(s))
                            .await
                    }
                    None => Err(AppError::Invalid(
                        "name: required when publishing a service field by field".into(),
                    )),
                },
                Some(Content::Dataset(d)) => match name {
                    Some(n) => {
                        self.app
                            .publish_kind(n, v1::manifest_body::Kind::Dataset(d))
                            .await
                    }
                    None => Err(AppError::Invalid(
                        "name: required when publishing a dataset field by field".into(),
                    )),
                },
                Some(Content::Org(o)) => {
                    self.app
                        .publish_kind(
                            lgmesh_protocol::schema::ORG_CARD_NAME,
                            v1::manifest_body::Kind::Org(o),
                        )
                        .await
                }
                Some(Content::Endorsement(e)) => self.app.endorse(e).await,
                Some(Content::Adoption(a)) => self.app.adopt(a).await,
                Some(Content::Need(n)) => self.app.need(name, n).await,
                Some(Content::Revocation(r)) => self.app.revoke(r).await,
                None => Err(AppError::Invalid(
                    "content: one of document, service, dataset, org, endorsement, adoption or need is required".into(),
                )),
            };
            self.write_response(res).await
        }
        .await;
        self.done(r)
    }

    async fn submit(
        &self,
        req: Request<v1::SubmitRequest>,
    ) -> Result<Response<v1::PublishResponse>, Status> {
        let r = async {
            self.authorise(&req)?;
            let env = req
                .into_inner()
                .envelope
                .ok_or_else(|| Status::invalid_argument("envelope: required"))?;
            let res = self.app.submit(env.encode_to_vec()).await;
            self.write_response(res).await
        }
        .await;
        self.done(r)
    }

    async fn retract(
        &self,
        req: Request<v1::RetractRequest>,
    ) -> Result<Response<v1::PublishResponse>, Status> {
        let r = async {
            self.authorise(&req)?;
            let req = req.into_inner();
            let name = name_arg(&req.name)?;
            let res = self.app.retract(&name, &req.reason).await;
            self.write_response(res).await
        }
        .await;
        self.done(r)
    }

    async fn get(&self, req: Request<v1::GetRequest>) -> Result<Response<v1::Manifest>, Status> {
        let r = async {
            let id = parse_id(&req.into_inner().id)?;
            let s = self.app.get(id).await?;
            Ok(view(&self.app, s).await?)
        }
        .await;
        self.done(r)
    }

    async fn resolve(
        &self,
        req: Request<v1::ResolveRequest>,
    ) -> Result<Response<v1::Manifest>, Status> {
        let r = async {
            let req = req.into_inner();
            let pk = self.app.publisher_or_self(&req.publisher)?;
            let s = self.app.resolve(pk, name_arg(&req.name)?).await?;
            Ok(view(&self.app, s).await?)
        }
        .await;
        self.done(r)
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
            let (items, next) = self
                .app
                .history(pk, name_arg(&req.name)?, before, limit)
                .await?;
            Ok(v1::HistoryResponse {
                manifests: views(&self.app, items).await?,
                next_before_version: next.unwrap_or(0),
            })
        }
        .await;
        self.done(r)
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
            self.app.metrics.search();
            let reg = self.app.registry.clone();
            let page = self
                .app
                .blocking(move || -> Result<_, SearchError> {
                    let page = reg.search(&q)?;
                    let mut items = Vec::with_capacity(page.hits.len());
                    for h in &page.hits {
                        if let Some(s) = reg.get(&h.id)? {
                            items.push((s, h.score));
                        }
                    }
                    Ok((items, page.next_cursor, page.total))
                })
                .await?;
            let (items, next, total) = page.map_err(|e| match e {
                SearchError::Query(q) => AppError::Invalid(q.to_string()),
                SearchError::Store(s) => AppError::from(s),
                other => AppError::Internal(other.to_string()),
            })?;
            let scores: Vec<f64> = items.iter().map(|(_, s)| *s).collect();
            let manifests = views(&self.app, items.into_iter().map(|(s, _)| s).collect()).await?;
            Ok(v1::SearchResponse {
                hits: manifests
                    .into_iter()
                    .zip(scores)
                    .map(|(m, score)| v1::SearchHit {
                        manifest: Some(m),
                        score,
                    })
                    .collect(),
                next_cursor: next.unwrap_or_default(),
                total,
            })
        }
        .await;
        self.done(r)
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
            include_retracted: req.include_retracted,
            verified_only: req.verified_only,
        }
        .query();
        if q.text.len() > lgmesh_registry::search::MAX_QUERY {
            return Err(Status::invalid_argument(format!(
                "text: longer than {} bytes",
                lgmesh_registry::search::MAX_QUERY
            )));
        }
        if let Some(k) = &q.kind
            && !lgmesh_protocol::schema::KINDS.contains(&k.as_str())
        {
            return Err(Status::invalid_argument(format!(
                "kind: {k:?} is not one of {}",
                lgmesh_protocol::schema::KINDS.join(", ")
            )));
        }
        let places = match self.access {
            Access::Socket => &self.app.admin_watches,
            Access::Token(_) => &self.app.watches,
        };
        let Ok(place) = places.clone().try_acquire_owned() else {
            self.app.metrics.grpc(false);
            return Err(Status::resource_exhausted(format!(
                "watch: {} streams are open on this listener, its limit; close one or use Search",
                crate::app::MAX_WATCHES
            )));
        };
        let mut arrivals = self.app.intake.subscribe();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let app = self.app.clone();
        let stop = self.stop.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            let _place = place; // given back when the stream ends
            loop {
                let id = tokio::select! {
                    r = arrivals.recv() => match r {
                        Ok(id) => id,
                        Err(RecvError::Lagged(n)) => {
                            let _ = tx.send(Err(Status::resource_exhausted(format!(
                                "watch: the client fell {n} manifests behind; resume with Search"
                            )))).await;
                            return;
                        }
                        Err(RecvError::Closed) => return,
                    },
                    _ = tx.closed() => return,
                    _ = stop.cancelled() => {
                        let _ = tx
                            .send(Err(Status::unavailable("watch: the node is shutting down")))
                            .await;
                        return;
                    }
                };
                let reg = app.registry.clone();
                let q = q.clone();
                let found = app
                    .blocking(
                        move || -> Result<Option<Stored>, lgmesh_registry::StoreError> {
                            let Some(s) = reg.get(&id)? else {
                                return Ok(None);
                            };
                            Ok(reg.stream_matches(&q, &s)?.then_some(s))
                        },
                    )
                    .await;
                let s = match found {
                    Ok(Ok(Some(s))) => s,
                    Ok(Ok(None)) => continue,
                    Ok(Err(e)) => {
                        let _ = tx.send(Err(Status::internal(e.to_string()))).await;
                        return;
                    }
                    Err(_) => return,
                };
                let item = match views(&app, vec![s]).await {
                    Ok(mut v) => match v.pop() {
                        Some(m) => Ok(m),
                        None => continue,
                    },
                    Err(e) => Err(Status::from(e)),
                };
                // A client that stops reading loses its stream, and its place.
                let sent = tokio::time::timeout(crate::app::WATCH_STALL, tx.send(item)).await;
                if !matches!(sent, Ok(Ok(()))) {
                    return;
                }
            }
        });
        self.app.metrics.grpc(true);
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

impl NodeService {
    /// Serves identity, counters and peers; dialling as `access` allows.
    pub fn new(
        app: Arc<App>,
        info: v1::InfoResponse,
        net: lgmesh_net::Network,
        access: Access,
    ) -> Self {
        Self {
            app,
            info,
            net,
            access,
        }
    }
}

#[tonic::async_trait]
impl Node for NodeService {
    async fn info(
        &self,
        _req: Request<v1::InfoRequest>,
    ) -> Result<Response<v1::InfoResponse>, Status> {
        let n = self
            .net
            .info()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        self.app.metrics.grpc(true);
        Ok(Response::new(v1::InfoResponse {
            listen_addrs: n.listen.iter().map(ToString::to_string).collect(),
            external_addrs: n.external.iter().map(ToString::to_string).collect(),
            peers: n.peers as u32,
            mesh_peers: n.mesh_peers as u32,
            nat: n.nat,
            ..self.info.clone()
        }))
    }

    async fn peers(
        &self,
        _req: Request<v1::PeersRequest>,
    ) -> Result<Response<v1::PeersResponse>, Status> {
        let peers = self
            .net
            .peers()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        self.app.metrics.grpc(true);
        Ok(Response::new(v1::PeersResponse {
            peers: peers
                .into_iter()
                .map(|p| v1::Peer {
                    peer_id: p.peer_id.to_string(),
                    addrs: p.addrs.iter().map(ToString::to_string).collect(),
                    agent: p.agent,
                    rtt_ms: p.rtt_ms.unwrap_or(0.0),
                    outbound: p.outbound,
                    in_mesh: p.in_mesh,
                    strikes: p.strikes,
                })
                .collect(),
        }))
    }

    async fn dial(
        &self,
        req: Request<v1::DialRequest>,
    ) -> Result<Response<v1::DialResponse>, Status> {
        authorise(&self.app, &self.access, &req)?;
        let text = req.into_inner().addr;
        let addr: lgmesh_net::Multiaddr = text.trim().parse().map_err(|e| {
            Status::invalid_argument(format!("addr: {text:?} is not a multiaddr ({e})"))
        })?;
        let dial = tokio::time::timeout(std::time::Duration::from_secs(20), self.net.dial(addr));
        let peer = match dial.await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Err(Status::unavailable(e.to_string())),
            Err(_) => return Err(Status::deadline_exceeded("addr: no connection within 20 s")),
        };
        self.app.metrics.grpc(true);
        Ok(Response::new(v1::DialResponse {
            peer_id: peer.to_string(),
        }))
    }

    async fn stats(
        &self,
        _req: Request<v1::StatsRequest>,
    ) -> Result<Response<v1::StatsResponse>, Status> {
        let reg = self.app.registry.clone();
        let counts = self
            .app
            .blocking(move || crate::metrics::StoreGauges::read(&reg))
            .await?
            .map_err(|e| AppError::Internal(e.to_string()))?;
        self.app.metrics.grpc(true);
        let n = self.net.stats().snapshot();
        Ok(Response::new(v1::StatsResponse {
            manifests: counts.manifests,
            heads: counts.heads,
            accepted: self.app.metrics.accepted_total(),
            rejected: self
                .app
                .metrics
                .rejected_by_reason(&[Source::Local, Source::Submit, Source::Gossip, Source::Sync])
                .into_iter()
                .map(|(r, count)| v1::ReasonCount {
                    reason: r.as_str().to_owned(),
                    count,
                })
                .collect(),
            paths: n
                .by_path
                .iter()
                .map(|(path, received)| {
                    let source = if *path == "gossip" {
                        Source::Gossip
                    } else {
                        Source::Sync
                    };
                    v1::PathStats {
                        path: (*path).to_owned(),
                        received: *received,
                        stored: self.app.metrics.stored(source),
                        duplicate: self.app.metrics.duplicates(source),
                        rejected: self
                            .app
                            .metrics
                            .rejected_by_reason(&[source])
                            .into_iter()
                            .map(|(r, count)| v1::ReasonCount {
                                reason: r.as_str().to_owned(),
                                count,
                            })
                            .collect(),
                    }
                })
                .collect(),
            refused: n
                .refused
                .iter()
                .map(|(r, c)| v1::ReasonCount {
                    reason: (*r).to_owned(),
                    count: *c,
                })
                .collect(),
            syncs_completed: n.syncs_completed,
            syncs_failed: n.syncs_failed,
            sync_round_trips: n.sync_round_trips,
            sync_bytes_in: n.sync_bytes_in,
            sync_served: n.sync_served,
            gossip_published: n.gossip_published,
            syncs_deferred: n.syncs_deferred,
            expired_heads: counts.expired,
            publishers_verified: counts.publishers[0].1,
            publishers_unverified: counts.publishers[1].1,
            publishers_conflicting: counts.publishers[2].1,
            publishers_revoked: counts.publishers[3].1,
        }))
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

    fn done<T>(&self, r: Result<T, Status>) -> Result<Response<T>, Status> {
        self.app.metrics.grpc(r.is_ok());
        r.map(Response::new)
    }

    async fn judge(&self, pk: PublisherKey) -> Result<v1::PublisherTrust, Status> {
        let (mut v, _) = self.judge_all(Some(pk), None, None, 1).await?;
        v.pop()
            .ok_or_else(|| Status::internal("trust judgement lost"))
    }

    /// Keys in key order (or just `only`), optionally in one state, after `after`, at
    /// most `page`; and the last key when more follow.
    async fn judge_all(
        &self,
        only: Option<PublisherKey>,
        state: Option<v1::Verification>,
        after: Option<PublisherKey>,
        page: usize,
    ) -> Result<(Vec<v1::PublisherTrust>, Option<PublisherKey>), Status> {
        let reg = self.app.registry.clone();
        let r = self
            .app
            .blocking(move || -> Result<_, lgmesh_registry::StoreError> {
                let trust = reg.trust()?;
                let operator: std::collections::HashSet<PublisherKey> =
                    reg.trusted()?.into_iter().map(|(k, _)| k).collect();
                let keys: Vec<PublisherKey> = match only {
                    Some(pk) => vec![pk],
                    None => trust
                        .all()
                        .iter()
                        .map(|t| t.key)
                        .filter(|k| after.is_none_or(|a| *k > a))
                        .collect(),
                };
                let mut out = vec![];
                let mut next = None;
                for pk in keys {
                    let (v, reason) = judged(&trust, &pk);
                    if state.is_some_and(|s| s != v) {
                        continue;
                    }
                    if out.len() >= page {
                        next = out
                            .last()
                            .and_then(|t: &v1::PublisherTrust| t.publisher.parse().ok());
                        break;
                    }
                    let t = trust.get(&pk);
                    let org = reg.org_of(&pk)?;
                    let domain_proof = reg.domain_proof(&pk)?.map(|p| v1::DomainProof {
                        proven: p.valid_until > lgmesh_protocol::now_ms(),
                        website: p.website,
                        host: p.host,
                        checked_at_ms: p.checked_at,
                        proven_at_ms: p.proven_at,
                        valid_until_ms: p.valid_until,
                        result: p.result,
                        detail: p.detail,
                    });
                    // Those whose word counts first; a few hundred at most (a flood of
                    // endorsements from unknown keys says nothing).
                    let mut endorsed_by: Vec<v1::Endorser> = t
                        .map(|t| {
                            t.endorsed_by
                                .iter()
                                .map(|(e, org)| v1::Endorser {
                                    publisher: e.to_string(),
                                    org_id: org.clone(),
                                    verification: verification(trust.of(e)) as i32,
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    endorsed_by
                        .sort_by_key(|e| e.verification != v1::Verification::Verified as i32);
                    endorsed_by.truncate(MAX_ENDORSERS_LISTED);
                    out.push(v1::PublisherTrust {
                        publisher: pk.to_string(),
                        verification: v as i32,
                        reason,
                        claimed_org_id: t.and_then(|t| t.claimed_org.clone()).unwrap_or_default(),
                        org_name: org.map(|o| o.name).unwrap_or_default(),
                        verified_org_id: t.and_then(|t| t.verified_org.clone()).unwrap_or_default(),
                        operator_trusted: operator.contains(&pk),
                        endorsed_by,
                        rivals: t
                            .map(|t| t.rivals.iter().map(ToString::to_string).collect())
                            .unwrap_or_default(),
                        rival_count: t.map_or(0, |t| t.rival_count as u64),
                        rotated_to: t
                            .and_then(|t| t.rotated_to)
                            .map(|(k, _)| k.to_string())
                            .unwrap_or_default(),
                        valid_count: t
                            .and_then(|t| t.retired.as_ref())
                            .map_or(0, |r| r.valid.len() as u64),
                        domain_proof,
                    });
                }
                Ok((out, next))
            })
            .await?;
        Ok(r.map_err(AppError::from)?)
    }
}

/// Keys in one Trust.List page, by default and at most.
const TRUST_PAGE: usize = 1_000;
const MAX_TRUST_PAGE: usize = 5_000;
/// Endorsers listed on one key.
const MAX_ENDORSERS_LISTED: usize = 200;

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
            let reg = self.app.registry.clone();
            self.app
                .blocking(move || reg.trust_add(&pk, org.as_str()))
                .await?
                .map_err(AppError::from)?;
            tracing::info!(publisher = %pk, org = %req.org_id.trim(), "trusted by the operator");
            self.judge(pk).await
        }
        .await;
        self.done(r)
    }

    async fn remove(
        &self,
        req: Request<v1::TrustRemoveRequest>,
    ) -> Result<Response<v1::PublisherTrust>, Status> {
        let r = async {
            authorise(&self.app, &self.access, &req)?;
            let pk = publisher_arg(&req.into_inner().publisher)?;
            let reg = self.app.registry.clone();
            let had = self
                .app
                .blocking(move || reg.trust_remove(&pk))
                .await?
                .map_err(AppError::from)?;
            if !had {
                return Err(AppError::NotFound(format!(
                    "publisher: {pk} is not on this node's trusted list"
                ))
                .into());
            }
            tracing::info!(publisher = %pk, "no longer trusted by the operator");
            self.judge(pk).await
        }
        .await;
        self.done(r)
    }

    async fn get(
        &self,
        req: Request<v1::TrustGetRequest>,
    ) -> Result<Response<v1::PublisherTrust>, Status> {
        let r = async {
            let pk = publisher_arg(&req.into_inner().publisher)?;
            self.judge(pk).await
        }
        .await;
        self.done(r)
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
            let (publishers, next) = self.judge_all(None, state, after, page).await?;
            Ok(v1::TrustListResponse {
                publishers,
                next: next.map(|k| k.to_string()).unwrap_or_default(),
            })
        }
        .await;
        self.done(r)
    }

    async fn check_domain(
        &self,
        req: Request<v1::TrustGetRequest>,
    ) -> Result<Response<v1::PublisherTrust>, Status> {
        let r = async {
            authorise(&self.app, &self.access, &req)?;
            let pk = publisher_arg(&req.into_inner().publisher)?;
            let checker = self
                .app
                .domain
                .get()
                .filter(|c| c.enabled())
                .ok_or_else(|| {
                    AppError::Conflict(
                        "domain proof is off on this node (trust.domain_suffixes is empty)".into(),
                    )
                })?
                .clone();
            let reg = self.app.registry.clone();
            let card = self
                .app
                .blocking(move || reg.org_card(&pk))
                .await?
                .map_err(AppError::from)?
                .ok_or_else(|| {
                    AppError::Conflict(format!(
                        "publisher: this node has no org card for {pk}, so no website to check"
                    ))
                })?;
            if card.website.trim().is_empty() {
                return Err(AppError::Conflict(format!(
                    "publisher: the org card of {pk} names no website"
                ))
                .into());
            }
            crate::domain::check_card(&self.app, &checker, &card)
                .await
                .map_err(|e| AppError::Internal(format!("{e:#}")))?;
            self.judge(pk).await
        }
        .await;
        self.done(r)
    }
}
