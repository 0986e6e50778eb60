//! The node's domain glue: signing and storing this organisation's manifests, and
//! reading the store, with errors a person can act on. gRPC and the CLI sit on top.

use std::sync::Arc;

use lgmesh_protocol::document::{self, Content, Defaults, DocumentError, Format};
use lgmesh_protocol::envelope::{ManifestId, UnsignedManifest};
use lgmesh_protocol::identity::{OrgId, PublisherKey, SecretKey};
use lgmesh_protocol::schema::{self, ORG_CARD_NAME};
use lgmesh_protocol::v1::{self, ManifestBody, manifest_body::Kind};
use lgmesh_protocol::validate::{Reason, Rejection};
use lgmesh_protocol::{YEAR_MS, now_ms};
use lgmesh_registry::{Durability, IfBusy, PutOutcome, Registry, Stored};

use crate::config::Config;
use crate::domain::Proofs;
use crate::intake::Intake;
use crate::metrics::{Metrics, Source};
use crate::tasks::Tasks;

mod views;

pub use views::{Write, Written};

/// What went wrong, sorted by who must act.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input is wrong: fix it and try again.
    #[error("{0}")]
    Invalid(String),
    /// The input conflicts with what is stored (rollback, equivocation, retracted).
    #[error("{0}")]
    Conflict(String),
    /// Nothing by that id or name.
    #[error("{0}")]
    NotFound(String),
    /// A limit of the node is reached (open streams, a client too far behind): ask for
    /// less, or later.
    #[error("{0}")]
    Busy(String),
    /// The node cannot serve this now (it is stopping): ask again later, or elsewhere.
    #[error("{0}")]
    Unavailable(String),
    /// What was asked did not happen in the time allowed.
    #[error("{0}")]
    TimedOut(String),
    /// The node failed.
    #[error("{0}")]
    Internal(String),
}

impl From<lgmesh_registry::StoreError> for AppError {
    fn from(e: lgmesh_registry::StoreError) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl From<Rejection> for AppError {
    fn from(r: Rejection) -> Self {
        if r.reason.is_bad_input() {
            AppError::Invalid(r.to_string())
        } else {
            AppError::Conflict(r.to_string())
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new head was stored.
    Stored,
    /// Same content as the head: nothing stored.
    Unchanged,
    /// This exact manifest was already stored.
    Duplicate,
}

/// The node's domain layer: what gRPC, HTTP and the CLI call. Its state is private;
/// other modules reach what they need through its methods.
pub struct App {
    /// The store.
    registry: Arc<Registry>,
    /// The organisation's signing key; none on an observer, which publishes nothing.
    key: Option<SecretKey>,
    /// The config in force.
    config: Config,
    /// Counters.
    metrics: Arc<Metrics>,
    /// The one way into the store, for every path.
    intake: Arc<Intake>,
    /// Where store work and streams run, and what tells them to stop.
    tasks: Tasks,
    /// One local publish at a time, so versions never collide.
    publish_lock: tokio::sync::Mutex<()>,
    /// The network, when the node runs: what this node stores locally is gossiped.
    net: Option<lgmesh_net::Network>,
    /// The domain proof checker, when the node runs.
    domain: Option<Proofs>,
    /// Places for open `Watch` streams on the TCP listener (`MAX_WATCHES`).
    watches: Arc<tokio::sync::Semaphore>,
    /// Places for open `Watch` streams on the admin socket, apart, so that clients over
    /// TCP cannot take them all from the operator.
    admin_watches: Arc<tokio::sync::Semaphore>,
}

/// What a running node builds its [`App`] from, in the order it starts them
/// (`server::start`): the intake over the opened store, the node's tasks, the network
/// and the domain checker.
pub struct Parts {
    /// The organisation's signing key; none on an observer.
    pub key: Option<SecretKey>,
    /// The config in force.
    pub config: Config,
    /// Counters, shared with the intake.
    pub metrics: Arc<Metrics>,
    /// The one way into the store (and the store behind it).
    pub intake: Arc<Intake>,
    /// The node's tasks.
    pub tasks: Tasks,
    /// The network, if any.
    pub net: Option<lgmesh_net::Network>,
    /// The domain proof checker, if any.
    pub domain: Option<Proofs>,
}

/// `Watch` streams open at once on each listener (TCP, and the admin socket): each
/// holds a task and a queue.
pub const MAX_WATCHES: usize = 64;

/// A `Watch` client that reads nothing for this long, with manifests waiting for it,
/// loses its stream (and its place).
pub const WATCH_STALL: std::time::Duration = std::time::Duration::from_secs(30);

/// Versions in one `History` page, unless the client asks for fewer.
pub const HISTORY_PAGE: usize = 100;
/// The most a client may ask for in one `History` page.
pub const MAX_HISTORY_PAGE: usize = 1000;

impl App {
    /// An App over an opened store on its own: no network, no domain checks, tasks of
    /// its own. For commands that work on a stopped node, and tests.
    pub fn new(registry: Arc<Registry>, key: Option<SecretKey>, config: Config) -> Self {
        let metrics = Arc::new(Metrics::default());
        Self::from_parts(Parts {
            key,
            config,
            intake: Arc::new(Intake::new(registry, metrics.clone())),
            metrics,
            tasks: Tasks::new(),
            net: None,
            domain: None,
        })
    }

    /// The App of a running node, from what it started.
    pub fn from_parts(p: Parts) -> Self {
        Self {
            registry: p.intake.registry().clone(),
            key: p.key,
            config: p.config,
            metrics: p.metrics,
            intake: p.intake,
            tasks: p.tasks,
            publish_lock: tokio::sync::Mutex::new(()),
            net: p.net,
            domain: p.domain,
            watches: Arc::new(tokio::sync::Semaphore::new(MAX_WATCHES)),
            admin_watches: Arc::new(tokio::sync::Semaphore::new(MAX_WATCHES)),
        }
    }

    /// The store.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The config in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The node's counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The one way into the store.
    pub fn intake(&self) -> &Arc<Intake> {
        &self.intake
    }

    /// Where the App's store work and streams run.
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// The network, when the node runs one.
    pub fn net(&self) -> Option<&lgmesh_net::Network> {
        self.net.as_ref()
    }

    /// The domain proof checker, when the node runs one.
    pub fn domain(&self) -> Option<&crate::domain::Checker> {
        self.domain.as_ref().map(Proofs::checker)
    }

    /// This node's publisher key; none on an observer.
    pub fn publisher(&self) -> Option<PublisherKey> {
        self.key.as_ref().map(SecretKey::public)
    }

    /// The key this node signs with, or why it signs nothing.
    fn signer(&self) -> Result<&SecretKey, AppError> {
        self.key.as_ref().ok_or_else(|| {
            AppError::Conflict(
                "this node is an observer: it publishes nothing (publishing needs an organisation's data dir, made by `lgmesh init --org ID --name NAME`, run without --observer)".into(),
            )
        })
    }

    /// This node's publisher key, for what only a publishing node does.
    fn own(&self) -> Result<PublisherKey, AppError> {
        self.signer().map(SecretKey::public)
    }

    fn defaults(&self) -> Defaults {
        Defaults {
            org_id: self.config.org.id.clone(),
        }
    }

    /// Parses a document and publishes it.
    pub async fn publish_document(
        &self,
        format: &str,
        text: &str,
        name: Option<&str>,
    ) -> Result<(Outcome, Stored), AppError> {
        self.signer()?;
        let format = Format::from_name(format).ok_or_else(|| {
            AppError::Invalid(format!("format: {format:?} is not toml, yaml or json"))
        })?;
        let parsed = match document::parse(text, format, name, &self.defaults()) {
            Ok(p) => p,
            Err(e) => {
                self.metrics.rejected(
                    Source::Local,
                    match e {
                        DocumentError::TooLarge(_) => Reason::Size,
                        DocumentError::Syntax { .. } => Reason::Decode,
                        _ => Reason::Schema,
                    },
                );
                return Err(AppError::Invalid(e.to_string()));
            }
        };
        let kind = match parsed.content {
            Content::Service(s) => Kind::Service(s),
            Content::Dataset(d) => Kind::Dataset(d),
        };
        self.publish_kind(&parsed.name, kind).await
    }

    /// Signs and stores `kind` under `name` as the next version, unless it equals the head.
    pub async fn publish_kind(
        &self,
        name: &str,
        kind: Kind,
    ) -> Result<(Outcome, Stored), AppError> {
        self.sign_next(name, kind, false).await
    }

    /// Re-signs every head of this node's own that expires within `window_ms` of
    /// `now_ms` as a new version with the same content and a new expiry, so that what
    /// this organisation publishes never lapses while the node runs. Tombstones are left
    /// alone: they already outlive what they retract. Returns how many it renewed.
    pub async fn renew_due(&self, now_ms: u64, window_ms: u64) -> Result<usize, AppError> {
        let Some(pk) = self.publisher() else {
            return Ok(0);
        };
        let reg = self.registry.clone();
        let heads = self.blocking(move || reg.heads_of(&pk)).await??;
        let mut renewed = 0;
        for h in heads {
            if h.body.expires_at_ms > now_ms.saturating_add(window_ms) {
                continue;
            }
            let Some(kind) = h.body.kind.clone() else {
                continue;
            };
            if matches!(kind, Kind::Retraction(_)) {
                continue;
            }
            let (outcome, s) = self.sign_next(&h.body.name, kind, true).await?;
            if outcome == Outcome::Stored {
                renewed += 1;
                tracing::info!(name = %s.body.name, version = s.body.version, expires = s.body.expires_at_ms, "renewed before expiry");
            }
        }
        Ok(renewed)
    }

    /// The next version of `name` with `kind`; `renew` signs it even when the content
    /// equals the head's (a renewal only moves the expiry).
    async fn sign_next(
        &self,
        name: &str,
        kind: Kind,
        renew: bool,
    ) -> Result<(Outcome, Stored), AppError> {
        let key = self.signer()?;
        let me = key.public();
        if !matches!(kind, Kind::Revocation(_)) {
            let reg = self.registry.clone();
            let pk = me;
            let retired = self
                .blocking(move || reg.trust().map(|t| t.retired(&pk).is_some()))
                .await??;
            if retired {
                self.metrics.rejected(Source::Local, Reason::Revoked);
                return Err(AppError::Conflict(format!(
                    "publisher: this node's key {me} was revoked or rotated away from; it signs nothing more (see `lgmesh keys rotate`)",
                )));
            }
        }
        if !lgmesh_protocol::identity::is_slug(name) {
            return Err(AppError::Invalid(format!(
                "name: {name:?} must be 1-64 of a-z, 0-9 and '-', not starting with '-'"
            )));
        }
        if matches!(kind, Kind::Org(_)) != (name == ORG_CARD_NAME) {
            return Err(AppError::Invalid(format!(
                "name: {ORG_CARD_NAME:?} is reserved for the org card"
            )));
        }
        let _guard = self.publish_lock.lock().await;
        let head = self
            .blocking({
                let reg = self.registry.clone();
                let name = name.to_owned();
                move || reg.resolve(&me, &name)
            })
            .await??;
        if let Some(h) = &head {
            if matches!(h.body.kind, Some(Kind::Retraction(_)))
                && !matches!(kind, Kind::Retraction(_))
            {
                self.metrics.rejected(Source::Local, Reason::Retracted);
                return Err(AppError::Conflict(format!(
                    "name: {name:?} was retracted at version {}; publish under a new name",
                    h.body.version
                )));
            }
            if h.body.kind.as_ref() == Some(&kind) && !renew {
                self.metrics.unchanged();
                return Ok((Outcome::Unchanged, h.clone()));
            }
        }
        let now = now_ms();
        let version = head.as_ref().map_or(1, |h| h.body.version + 1);
        let body = ManifestBody {
            publisher: vec![],
            name: name.to_owned(),
            version,
            // Never before the head's issue time, so a clock step back cannot reorder.
            issued_at_ms: head
                .as_ref()
                .map_or(now, |h| now.max(h.body.issued_at_ms + 1)),
            // A tombstone lives as long as anything may: longer than every version it
            // withdraws, so none of them can come back from a node that missed it.
            expires_at_ms: if matches!(kind, Kind::Retraction(_)) {
                now + lgmesh_protocol::MAX_LIFETIME_MS
            } else {
                now + self
                    .config
                    .manifests
                    .expiry_days
                    .saturating_mul(YEAR_MS / 365)
            },
            kind: Some(kind),
        };
        if let Err(fields) = schema::check_body(&ManifestBody {
            publisher: me.as_bytes().to_vec(),
            ..body.clone()
        }) {
            self.metrics.rejected(Source::Local, Reason::Schema);
            return Err(AppError::Invalid(schema::join(&fields)));
        }
        let bytes = UnsignedManifest(body).sign(key).to_bytes();
        self.store(bytes, Source::Local).await
    }

    /// Stores envelope bytes signed by anyone (the same validation as every path).
    pub async fn submit(&self, bytes: Vec<u8>) -> Result<(Outcome, Stored), AppError> {
        // An observer stores only what reaches it from its peers.
        self.signer()?;
        self.store(bytes, Source::Submit).await
    }

    async fn store(&self, bytes: Vec<u8>, source: Source) -> Result<(Outcome, Stored), AppError> {
        let (intake, reg) = (self.intake.clone(), self.registry.clone());
        let gossip = self.net.as_ref().map(|_| bytes.clone());
        let (outcome, stored) = self
            .blocking(move || -> Result<_, lgmesh_registry::StoreError> {
                let checked = intake.check(&[bytes], &[], now_ms());
                // Searchable when it returns: the publisher searches for it next.
                let out = intake
                    .write(
                        checked,
                        source,
                        Durability::Searchable,
                        IfBusy::Wait,
                        |_| {},
                    )?
                    .pop()
                    .ok_or_else(|| {
                        lgmesh_registry::StoreError::Corrupt(
                            "a write of one gave no outcome".into(),
                        )
                    })?;
                let id = match &out {
                    PutOutcome::Stored(id) | PutOutcome::Duplicate(id) => Some(*id),
                    PutOutcome::Rejected(_) => None,
                };
                let stored = match id {
                    Some(id) => reg.get(&id)?,
                    None => None,
                };
                Ok((out, stored))
            })
            .await??;
        match (outcome, stored) {
            (PutOutcome::Stored(_), Some(s)) => {
                tracing::info!(manifest = %s.id.fmt_short(), publisher = %s.publisher.fmt_short(), name = %s.body.name, version = s.body.version, "stored");
                // Stored durably (and announced) first, then gossiped.
                if let (Some(net), Some(bytes)) = (&self.net, gossip) {
                    net.publish(bytes, s.id);
                }
                Ok((Outcome::Stored, s))
            }
            (PutOutcome::Duplicate(_), Some(s)) => Ok((Outcome::Duplicate, s)),
            (PutOutcome::Rejected(r), _) => {
                tracing::info!(reason = r.reason.as_str(), "refused: {}", r.message);
                Err(r.into())
            }
            (_, None) => Err(AppError::Internal(
                "stored manifest not found on read-back".into(),
            )),
        }
    }

    /// Retracts one of this node's names.
    pub async fn retract(&self, name: &str, reason: &str) -> Result<(Outcome, Stored), AppError> {
        if name == ORG_CARD_NAME {
            return Err(AppError::Invalid(
                "name: the org card cannot be retracted".into(),
            ));
        }
        let exists = self
            .blocking({
                let reg = self.registry.clone();
                let pk = self.own()?;
                let name = name.to_owned();
                move || reg.head(&pk, &name)
            })
            .await??;
        match exists {
            None => Err(AppError::NotFound(format!(
                "name: this node has published nothing called {name:?}"
            ))),
            Some(h) if h.retracted => Err(AppError::Conflict(format!(
                "name: {name:?} is already retracted"
            ))),
            Some(_) => {
                self.publish_kind(
                    name,
                    Kind::Retraction(v1::Retraction {
                        reason: reason.to_owned(),
                    }),
                )
                .await
            }
        }
    }

    /// Publishes an endorsement: "key `subject` belongs to organisation `org_id`".
    pub async fn endorse(&self, e: v1::Endorsement) -> Result<(Outcome, Stored), AppError> {
        let subject = PublisherKey::from_bytes(&e.subject)
            .map_err(|err| AppError::Invalid(format!("subject: {err}")))?;
        if subject == self.own()? {
            return Err(AppError::Invalid(
                "subject: a publisher cannot endorse its own key".into(),
            ));
        }
        let org: OrgId = e
            .org_id
            .trim()
            .parse()
            .map_err(|err| AppError::Invalid(format!("orgId: {err}")))?;
        let name = schema::endorsement_name(subject.as_bytes());
        self.publish_kind(
            &name,
            Kind::Endorsement(v1::Endorsement {
                subject: subject.as_bytes().to_vec(),
                org_id: org.to_string(),
                note: e.note,
            }),
        )
        .await
    }

    /// Publishes an adoption of a service or dataset this node has stored. The version
    /// adopted defaults to the head's.
    pub async fn adopt(&self, a: v1::Adoption) -> Result<(Outcome, Stored), AppError> {
        self.signer()?;
        let publisher = PublisherKey::from_bytes(&a.publisher)
            .map_err(|err| AppError::Invalid(format!("service.publisher: {err}")))?;
        let head = self.resolve(publisher, a.name.clone()).await?;
        let kind = head.kind();
        if !matches!(kind, "service" | "dataset") {
            return Err(AppError::Invalid(format!(
                "service: {publisher}/{} is a {kind}, not a service or dataset",
                a.name
            )));
        }
        let name = schema::adoption_name(publisher.as_bytes(), &a.name);
        self.publish_kind(
            &name,
            Kind::Adoption(v1::Adoption {
                publisher: publisher.as_bytes().to_vec(),
                version: if a.version == 0 {
                    head.body.version
                } else {
                    a.version
                },
                name: a.name,
                note: a.note,
                answers: a.answers,
            }),
        )
        .await
    }

    /// Publishes a need, under `name` or a slug of its title.
    pub async fn need(
        &self,
        name: Option<&str>,
        n: v1::Need,
    ) -> Result<(Outcome, Stored), AppError> {
        self.signer()?;
        let name = match name {
            Some(n) => n.to_owned(),
            None => lgmesh_protocol::identity::slugify(&n.title),
        };
        self.publish_kind(&name, Kind::Need(n)).await
    }

    /// The ids of `publisher`'s current manifests (its heads, tombstones included) that
    /// this node holds, newest first, at most [`schema::MAX_VALID_IDS`]: what a rotation
    /// or revocation names as standing. `Err` when there are more and `all` is asked.
    async fn valid_ids(
        &self,
        publisher: PublisherKey,
        all: bool,
    ) -> Result<Vec<Vec<u8>>, AppError> {
        let reg = self.registry.clone();
        let mut heads = self.blocking(move || reg.heads_of(&publisher)).await??;
        if all && heads.len() > schema::MAX_VALID_IDS {
            return Err(AppError::Conflict(format!(
                "publisher: {publisher} has {} current manifests; a rotation or revocation can name at most {} (retract what is no longer needed first)",
                heads.len(),
                schema::MAX_VALID_IDS
            )));
        }
        heads.sort_by_key(|h| std::cmp::Reverse(h.body.issued_at_ms));
        Ok(heads
            .iter()
            .take(schema::MAX_VALID_IDS)
            .map(|h| h.id.as_bytes().to_vec())
            .collect())
    }

    /// Publishes a revocation of `subject` (this node's own key included): it names
    /// what this node holds of the subject's current manifests as still genuine (its
    /// own, for its own key), unless `r.valid_ids` says otherwise. `revoked_at_ms` (0:
    /// now) is for people.
    pub async fn revoke(&self, r: v1::Revocation) -> Result<(Outcome, Stored), AppError> {
        self.signer()?;
        let subject = PublisherKey::from_bytes(&r.subject)
            .map_err(|err| AppError::Invalid(format!("subject: {err}")))?;
        let valid_ids = if r.valid_ids.is_empty() {
            self.valid_ids(subject, subject == self.own()?).await?
        } else {
            r.valid_ids
        };
        let now = now_ms();
        if r.revoked_at_ms > now {
            return Err(AppError::Invalid(
                "revokedAt: must not be in the future".into(),
            ));
        }
        let name = schema::revocation_name(subject.as_bytes());
        self.publish_kind(
            &name,
            Kind::Revocation(v1::Revocation {
                subject: subject.as_bytes().to_vec(),
                revoked_at_ms: if r.revoked_at_ms == 0 {
                    now
                } else {
                    r.revoked_at_ms
                },
                reason: r.reason,
                valid_ids,
            }),
        )
        .await
    }

    /// Moves everything this organisation publishes to `new`: re-signs each current
    /// manifest (services, datasets, needs, endorsements, adoptions) under the new key,
    /// retracts the old names, then publishes the key rotation signed by both keys, after
    /// which the old key signs nothing. Returns how many manifests moved. `app_new` is
    /// an App over the same store with the new key.
    pub async fn rotate_to(&self, app_new: &App, node_id: &str) -> Result<usize, AppError> {
        let reg = self.registry.clone();
        let pk = self.own()?;
        let heads = self.blocking(move || reg.heads_of(&pk)).await??;
        let new_pk = app_new.own()?;
        let mut moved = 0;
        for h in heads {
            let Some(kind) = h.body.kind.clone() else {
                continue;
            };
            if matches!(
                kind,
                Kind::Retraction(_) | Kind::Org(_) | Kind::KeyRotation(_) | Kind::Revocation(_)
            ) {
                continue;
            }
            let name = h.body.name.clone();
            app_new.publish_kind(&name, kind).await?;
            self.retract(&name, &format!("moved to the new key {new_pk}"))
                .await?;
            moved += 1;
        }
        app_new.ensure_org_card(node_id).await?;
        let sig = lgmesh_protocol::envelope::sign_rotation(app_new.signer()?, &pk);
        // What the old key signed that stands: its manifests as they are now (the
        // tombstones just written, its org card). Nothing it signs later counts.
        let valid_ids = self.valid_ids(pk, true).await?;
        self.publish_kind(
            schema::ROTATION_NAME,
            Kind::KeyRotation(v1::KeyRotation {
                new_key: new_pk.as_bytes().to_vec(),
                new_key_signature: sig.to_vec(),
                valid_ids,
            }),
        )
        .await?;
        Ok(moved)
    }

    /// Publishes the org card from the config if the stored one differs.
    pub async fn ensure_org_card(&self, node_id: &str) -> Result<(Outcome, Stored), AppError> {
        let o = &self.config.org;
        let org_type = crate::config::org_type_value(&o.org_type)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let card = v1::OrgCard {
            org_id: o.id.clone(),
            name: o.name.clone(),
            org_type,
            website: o.website.clone(),
            contact: if o.contact_email.is_empty() {
                None
            } else {
                Some(v1::ContactPoint {
                    contact_name: o.name.clone(),
                    email: o.contact_email.clone(),
                    ..Default::default()
                })
            },
            node_ids: vec![node_id.to_owned()],
        };
        self.publish_kind(ORG_CARD_NAME, Kind::Org(card)).await
    }

    /// Runs store work on the blocking pool (sled reads can touch disk, puts fsync), as
    /// one of the node's tasks, so that shutdown waits for it before flushing the store.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        self.tasks
            .spawn_blocking(f)
            .await
            .map_err(|e| AppError::Internal(format!("task failed: {e}")))
    }

    /// One manifest by id.
    pub async fn get(&self, id: ManifestId) -> Result<Stored, AppError> {
        let reg = self.registry.clone();
        self.blocking(move || reg.get(&id))
            .await??
            .ok_or_else(|| AppError::NotFound(format!("id: no manifest {id}")))
    }

    /// Resolves a publisher (empty: this node) to a key.
    pub fn publisher_or_self(&self, s: &str) -> Result<PublisherKey, AppError> {
        if s.trim().is_empty() {
            self.publisher().ok_or_else(|| {
                AppError::Invalid(
                    "publisher: required on an observer, which publishes nothing of its own".into(),
                )
            })
        } else {
            s.parse()
                .map_err(|e| AppError::Invalid(format!("publisher: {e}")))
        }
    }

    /// The head of `(publisher, name)`.
    pub async fn resolve(&self, publisher: PublisherKey, name: String) -> Result<Stored, AppError> {
        let reg = self.registry.clone();
        let n = name.clone();
        self.blocking(move || reg.resolve(&publisher, &n))
            .await??
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "name: {publisher} has published nothing called {name:?}"
                ))
            })
    }

    /// Every version of `(publisher, name)`, newest first.
    /// One page of a name's versions, newest first: those older than `before` (all
    /// when none), at most `limit`; and the version to pass as `before` for the next
    /// page, if there is more.
    pub async fn history(
        &self,
        publisher: PublisherKey,
        name: String,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Stored>, Option<u64>), AppError> {
        let reg = self.registry.clone();
        let n = name.clone();
        let (h, next) = self
            .blocking(move || reg.history_page(&publisher, &n, before, limit))
            .await??;
        if h.is_empty() && before.is_none() {
            return Err(AppError::NotFound(format!(
                "name: {publisher} has published nothing called {name:?}"
            )));
        }
        Ok((h, next))
    }
}
