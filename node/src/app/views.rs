//! What clients see: the API's views of stored manifests, trust judgements, counters and
//! the network (identity, peers, dialling),
//! built here from the store (one trip to the blocking pool for many), so that the gRPC
//! handlers only parse a request, call one [`App`] function and map its result.

use lgmesh_proto::v1::{self, publish_request::Content};
use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::identity::{OrgId, PublisherKey};
use lgmesh_protocol::now_ms;
use lgmesh_registry::{Query, Registry, SearchError, StoreError, Stored, TrustView, Verification};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::{App, AppError, Outcome, WATCH_STALL};
use crate::metrics::Source;

/// Adopters listed on one manifest.
const MAX_ADOPTERS: usize = 100;
/// Answers listed on a need.
const MAX_ANSWERS: usize = 100;
/// Endorsers listed on one key.
const MAX_ENDORSERS_LISTED: usize = 200;
/// Manifests queued for one `Watch` client.
const WATCH_QUEUE: usize = 64;
/// How long a dial asked for by a client may take.
const DIAL_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// A write a client asks for.
pub enum Write {
    /// Sign and store `content` as this node's, under `name` (needed for what the
    /// content does not name itself).
    Publish {
        /// The name, when given.
        name: Option<String>,
        /// What to publish (boxed: it is most of the size of any write).
        content: Box<Content>,
    },
    /// Store an envelope signed by anyone, after the same validation as every path.
    Submit(Vec<u8>),
    /// Retract one of this node's names.
    Retract {
        /// The name.
        name: String,
        /// Why, for people.
        reason: String,
    },
}

/// What a write did, and the manifest as clients see it.
pub struct Written {
    /// Stored, unchanged or duplicate.
    pub outcome: Outcome,
    /// The manifest written (or the head that was already there).
    pub manifest: v1::Manifest,
}

/// The API's name for a trust judgement.
pub(crate) fn verification(v: Verification) -> v1::Verification {
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

/// The API views of `items` at `now`: flags from the store and the org card (blocking).
fn manifests(
    reg: &Registry,
    items: Vec<Stored>,
    now: u64,
) -> Result<Vec<v1::Manifest>, StoreError> {
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
        let mut answers = vec![];
        if s.kind() == "need" {
            let q = Query {
                answers: Some(format!("{}/{}", s.publisher, s.body.name)),
                page_size: MAX_ANSWERS,
                now_ms: now,
                ..Default::default()
            };
            // Only a store error can fail it (the filter is well formed): the view
            // goes without its answers rather than not at all.
            let hits = reg.search(&q).map(|p| p.hits).unwrap_or_default();
            for h in hits {
                let Some(a) = reg.get(&h.id)? else { continue };
                let org = reg.org_of(&a.publisher)?;
                answers.push(v1::Answer {
                    id: a.id.to_string(),
                    publisher: a.publisher.to_string(),
                    name: a.body.name.clone(),
                    kind: a.kind().to_owned(),
                    title: crate::view::title(&a.body),
                    org_name: org.map(|o| o.name).unwrap_or_default(),
                    verification: verification(trust.of(&a.publisher)) as i32,
                });
            }
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
            answers,
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
}

/// Trust judgements of keys in key order (or just `only`), optionally in one state,
/// after `after`, at most `page`; and the last key when more follow (blocking).
fn publishers(
    reg: &Registry,
    only: Option<PublisherKey>,
    state: Option<v1::Verification>,
    after: Option<PublisherKey>,
    page: usize,
) -> Result<(Vec<v1::PublisherTrust>, Option<PublisherKey>), StoreError> {
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
            proven: p.valid_until > now_ms(),
            website: p.website,
            host: p.host,
            checked_at_ms: p.checked_at,
            proven_at_ms: p.proven_at,
            valid_until_ms: p.valid_until,
            result: p.result,
            detail: p.detail,
        });
        // Those whose word counts first; a few hundred at most (a flood of endorsements
        // from unknown keys says nothing).
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
        endorsed_by.sort_by_key(|e| e.verification != v1::Verification::Verified as i32);
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
}

/// Counts by rejection reason, as the API lists them.
fn reasons(counts: Vec<(lgmesh_protocol::validate::Reason, u64)>) -> Vec<v1::ReasonCount> {
    counts
        .into_iter()
        .map(|(r, count)| v1::ReasonCount {
            reason: r.as_str().to_owned(),
            count,
        })
        .collect()
}

impl App {
    /// The API view of one stored manifest: flags from the store and the org card.
    pub async fn view(&self, s: Stored) -> Result<v1::Manifest, AppError> {
        let mut many = self.views(vec![s]).await?;
        many.pop()
            .ok_or_else(|| AppError::Internal("view lost".into()))
    }

    /// As [`App::view`], for many (one trip to the blocking pool).
    pub async fn views(&self, items: Vec<Stored>) -> Result<Vec<v1::Manifest>, AppError> {
        let reg = self.registry.clone();
        let now = now_ms();
        Ok(self.blocking(move || manifests(&reg, items, now)).await??)
    }

    /// Does what a client asks to write, and views the result.
    pub async fn write(&self, w: Write) -> Result<Written, AppError> {
        // An observer refuses every write before looking at it.
        self.signer()?;
        let (outcome, stored) = match w {
            Write::Publish { name, content } => self.publish(name.as_deref(), *content).await?,
            Write::Submit(bytes) => self.submit(bytes).await?,
            Write::Retract { name, reason } => self.retract(&name, &reason).await?,
        };
        Ok(Written {
            outcome,
            manifest: self.view(stored).await?,
        })
    }

    /// Publishes `content` as this node's, under `name` where the content needs one.
    async fn publish(
        &self,
        name: Option<&str>,
        content: Content,
    ) -> Result<(Outcome, lgmesh_registry::Stored), AppError> {
        use v1::manifest_body::Kind;
        match content {
            Content::Document(d) => self.publish_document(&d.format, &d.text, name).await,
            Content::Service(s) => match name {
                Some(n) => self.publish_kind(n, Kind::Service(s)).await,
                None => Err(AppError::Invalid(
                    "name: required when publishing a service field by field".into(),
                )),
            },
            Content::Dataset(d) => match name {
                Some(n) => self.publish_kind(n, Kind::Dataset(d)).await,
                None => Err(AppError::Invalid(
                    "name: required when publishing a dataset field by field".into(),
                )),
            },
            Content::Org(o) => {
                self.publish_kind(lgmesh_protocol::schema::ORG_CARD_NAME, Kind::Org(o))
                    .await
            }
            Content::Endorsement(e) => self.endorse(e).await,
            Content::Adoption(a) => self.adopt(a).await,
            Content::Need(n) => self.need(name, n).await,
            Content::Revocation(r) => self.revoke(r).await,
        }
    }

    /// One manifest by id, as clients see it.
    pub async fn manifest_view(&self, id: ManifestId) -> Result<v1::Manifest, AppError> {
        let s = self.get(id).await?;
        self.view(s).await
    }

    /// The head of `(publisher, name)`, as clients see it.
    pub async fn head_view(
        &self,
        publisher: PublisherKey,
        name: String,
    ) -> Result<v1::Manifest, AppError> {
        let s = self.resolve(publisher, name).await?;
        self.view(s).await
    }

    /// One page of a name's versions, newest first, as clients see them (see
    /// [`App::history`]).
    pub async fn history_view(
        &self,
        publisher: PublisherKey,
        name: String,
        before: Option<u64>,
        limit: usize,
    ) -> Result<v1::HistoryResponse, AppError> {
        let (items, next) = self.history(publisher, name, before, limit).await?;
        Ok(v1::HistoryResponse {
            manifests: self.views(items).await?,
            next_before_version: next.unwrap_or(0),
        })
    }

    /// One page of search results, as clients see them.
    pub async fn search(&self, q: Query) -> Result<v1::SearchResponse, AppError> {
        self.metrics.search();
        let reg = self.registry.clone();
        let page = self
            .blocking(move || -> Result<_, SearchError> {
                let page = reg.search(&q)?;
                let mut items = Vec::with_capacity(page.hits.len());
                for h in &page.hits {
                    if let Some(s) = reg.get(&h.id)? {
                        items.push((s, h.score));
                    }
                }
                let now = now_ms();
                let scores: Vec<f64> = items.iter().map(|(_, s)| *s).collect();
                let views = manifests(&reg, items.into_iter().map(|(s, _)| s).collect(), now)?;
                Ok((views, scores, page.next_cursor, page.total))
            })
            .await?;
        let (views, scores, next, total) = page.map_err(|e| match e {
            SearchError::Query(q) => AppError::Invalid(q.to_string()),
            SearchError::Store(s) => AppError::from(s),
            other => AppError::Internal(other.to_string()),
        })?;
        Ok(v1::SearchResponse {
            hits: views
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

    /// Every manifest stored from now on that matches `q`, as clients see it, until the
    /// client goes, falls behind, or the node stops (the last two end the stream with an
    /// error). `admin` streams are counted apart from those over TCP.
    pub fn watch(
        &self,
        q: Query,
        admin: bool,
    ) -> Result<mpsc::Receiver<Result<v1::Manifest, AppError>>, AppError> {
        let places = if admin {
            &self.admin_watches
        } else {
            &self.watches
        };
        let Ok(place) = places.clone().try_acquire_owned() else {
            return Err(AppError::Busy(format!(
                "watch: {} streams are open on this listener, its limit; close one or use Search",
                super::MAX_WATCHES
            )));
        };
        let mut arrivals = self.intake.subscribe();
        let (tx, rx) = mpsc::channel(WATCH_QUEUE);
        let (reg, tasks) = (self.registry.clone(), self.tasks.clone());
        let stream = async move {
            use tokio::sync::broadcast::error::RecvError;
            let _place = place; // given back when the stream ends
            loop {
                let id = tokio::select! {
                    r = arrivals.recv() => match r {
                        Ok(id) => id,
                        Err(RecvError::Lagged(n)) => {
                            let busy = Err(AppError::Busy(format!(
                                "watch: the client fell {n} manifests behind; resume with Search"
                            )));
                            // A client that reads nothing is not waited for long, nor
                            // at all once the node stops.
                            tokio::select! {
                                _ = tokio::time::timeout(WATCH_STALL, tx.send(busy)) => {}
                                _ = tasks.stopping() => {}
                            }
                            return;
                        }
                        Err(RecvError::Closed) => return,
                    },
                    _ = tx.closed() => return,
                    _ = tasks.stopping() => {
                        // Shutdown does not wait on a client that reads nothing.
                        let _ = tx.try_send(Err(AppError::Unavailable(
                            "watch: the node is shutting down".into(),
                        )));
                        return;
                    }
                };
                let (reg, q) = (reg.clone(), q.clone());
                let found = tasks
                    .spawn_blocking(move || -> Result<Option<v1::Manifest>, StoreError> {
                        let Some(s) = reg.get(&id)? else {
                            return Ok(None);
                        };
                        if !reg.stream_matches(&q, &s)? {
                            return Ok(None);
                        }
                        Ok(manifests(&reg, vec![s], now_ms())?.pop())
                    })
                    .await;
                let item = match found {
                    Ok(Ok(Some(m))) => Ok(m),
                    Ok(Ok(None)) => continue,
                    Ok(Err(e)) => {
                        let _ = tx.try_send(Err(AppError::Internal(e.to_string())));
                        return;
                    }
                    Err(_) => return,
                };
                // A client that stops reading loses its stream, and its place; once the
                // node stops, nobody is waited for.
                let sent = tokio::select! {
                    r = tokio::time::timeout(WATCH_STALL, tx.send(item)) => matches!(r, Ok(Ok(()))),
                    _ = tasks.stopping() => false,
                };
                if !sent {
                    return;
                }
            }
        };
        self.tasks
            .spawn(stream.instrument(tracing::info_span!("watch")));
        Ok(rx)
    }

    /// The trust judgement of `pk`, as clients see it.
    pub async fn judge(&self, pk: PublisherKey) -> Result<v1::PublisherTrust, AppError> {
        let reg = self.registry.clone();
        let (mut v, _) = self
            .blocking(move || publishers(&reg, Some(pk), None, None, 1))
            .await??;
        v.pop()
            .ok_or_else(|| AppError::Internal("trust judgement lost".into()))
    }

    /// One page of trust judgements in key order, optionally in one `state`, after
    /// `after`, at most `page`.
    pub async fn judge_all(
        &self,
        state: Option<v1::Verification>,
        after: Option<PublisherKey>,
        page: usize,
    ) -> Result<v1::TrustListResponse, AppError> {
        let reg = self.registry.clone();
        let (publishers, next) = self
            .blocking(move || publishers(&reg, None, state, after, page))
            .await??;
        Ok(v1::TrustListResponse {
            publishers,
            next: next.map(|k| k.to_string()).unwrap_or_default(),
        })
    }

    /// Puts `pk` on the operator's trusted list for `org`; its judgement after.
    pub async fn trust_add(
        &self,
        pk: PublisherKey,
        org: OrgId,
    ) -> Result<v1::PublisherTrust, AppError> {
        let reg = self.registry.clone();
        let o = org.clone();
        self.blocking(move || reg.trust_add(&pk, o.as_str()))
            .await??;
        tracing::info!(publisher = %pk, org = %org, "trusted by the operator");
        self.judge(pk).await
    }

    /// Takes `pk` off the operator's trusted list; its judgement after.
    pub async fn trust_remove(&self, pk: PublisherKey) -> Result<v1::PublisherTrust, AppError> {
        let reg = self.registry.clone();
        let had = self.blocking(move || reg.trust_remove(&pk)).await??;
        if !had {
            return Err(AppError::NotFound(format!(
                "publisher: {pk} is not on this node's trusted list"
            )));
        }
        tracing::info!(publisher = %pk, "no longer trusted by the operator");
        self.judge(pk).await
    }

    /// Checks the website of `pk`'s org card now; its judgement after.
    pub async fn check_domain(&self, pk: PublisherKey) -> Result<v1::PublisherTrust, AppError> {
        let proofs = self
            .domain
            .as_ref()
            .filter(|d| d.checker().enabled())
            .ok_or_else(|| {
                AppError::Conflict(
                    "domain proof is off on this node (trust.domain_suffixes is empty)".into(),
                )
            })?;
        let reg = self.registry.clone();
        let card = self
            .blocking(move || reg.org_card(&pk))
            .await??
            .ok_or_else(|| {
                AppError::Conflict(format!(
                    "publisher: this node has no org card for {pk}, so no website to check"
                ))
            })?;
        if card.website.trim().is_empty() {
            return Err(AppError::Conflict(format!(
                "publisher: the org card of {pk} names no website"
            )));
        }
        proofs
            .check_card(&card)
            .await
            .map_err(|e| AppError::Internal(format!("{e:#}")))?;
        self.judge(pk).await
    }

    /// The running network, or why there is none.
    fn network(&self) -> Result<&lgmesh_net::Network, AppError> {
        self.net
            .as_ref()
            .ok_or_else(|| AppError::Unavailable("the network is not running".into()))
    }

    /// The node's identity and addresses: `base` (what does not change while the node
    /// runs) with what the network says now.
    pub async fn info(&self, base: &v1::InfoResponse) -> Result<v1::InfoResponse, AppError> {
        let n = self
            .network()?
            .info()
            .await
            .map_err(|e| AppError::Unavailable(e.to_string()))?;
        Ok(v1::InfoResponse {
            listen_addrs: n.listen.iter().map(ToString::to_string).collect(),
            external_addrs: n.external.iter().map(ToString::to_string).collect(),
            peers: u32::try_from(n.peers).unwrap_or(u32::MAX),
            mesh_peers: u32::try_from(n.mesh_peers).unwrap_or(u32::MAX),
            nat: n.nat,
            ..base.clone()
        })
    }

    /// The peers connected now.
    pub async fn peers(&self) -> Result<v1::PeersResponse, AppError> {
        let peers = self
            .network()?
            .peers()
            .await
            .map_err(|e| AppError::Unavailable(e.to_string()))?;
        Ok(v1::PeersResponse {
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
        })
    }

    /// Dials `addr` (a multiaddr, as text) and waits up to 20 s for the
    /// connection.
    pub async fn dial(&self, addr: &str) -> Result<v1::DialResponse, AppError> {
        let parsed: lgmesh_net::Multiaddr = addr
            .trim()
            .parse()
            .map_err(|e| AppError::Invalid(format!("addr: {addr:?} is not a multiaddr ({e})")))?;
        let net = self.network()?;
        let peer = match tokio::time::timeout(DIAL_WAIT, net.dial(parsed)).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Err(AppError::Unavailable(e.to_string())),
            Err(_) => {
                return Err(AppError::TimedOut(format!(
                    "addr: no connection within {} s",
                    DIAL_WAIT.as_secs()
                )));
            }
        };
        Ok(v1::DialResponse {
            peer_id: peer.to_string(),
        })
    }

    /// The node's counters: the store's, the App's and the network's.
    pub async fn stats(&self) -> Result<v1::StatsResponse, AppError> {
        let reg = self.registry.clone();
        let counts = self
            .blocking(move || crate::metrics::StoreGauges::read(&reg))
            .await?
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let n = self
            .net
            .as_ref()
            .map(|n| n.stats().snapshot())
            .unwrap_or_default();
        let m = &self.metrics;
        Ok(v1::StatsResponse {
            manifests: counts.manifests,
            heads: counts.heads,
            accepted: m.accepted_total(),
            rejected: reasons(m.rejected_by_reason(&[
                Source::Local,
                Source::Submit,
                Source::Gossip,
                Source::Sync,
            ])),
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
                        stored: m.stored(source),
                        duplicate: m.duplicates(source),
                        rejected: reasons(m.rejected_by_reason(&[source])),
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
        })
    }
}
