//! The checker as a node runs it: rounds over the org cards due a check, recording each
//! outcome in the store.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_protocol::now_ms;
use lgmesh_registry::{DomainProof, OrgCard, Registry};
use reqwest::Url;

use super::{Checker, Code, Finding, ROUND, SOON};
use crate::intake::Intake;
use crate::tasks::Tasks;

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
