//! What the web pages summarise, computed from the whole store in one pass and kept
//! until the store changes: counts by kind, organisations, LGSL coverage, reuse and
//! anomalies. Pages read the last snapshot and never scan the store themselves, so a
//! page costs the same on 100 manifests as on 100,000.
//!
//! A rebuild reads every head once (blocking, on the blocking pool). It runs only while
//! someone looks (a page asked in the last [`WANTED_FOR`], or a browser listens for live
//! updates), when the store's change sequence moved, no sooner than [`MIN_INTERVAL`]
//! after the last one and no more often than ten times its own duration, so a node busy
//! catching up spends at most a tenth of one core on it. The first page builds one if
//! there is none. Nobody looking, one is built a day for the growth history.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use lgmesh_proto::v1::{self, manifest_body::Kind};
use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_registry::{Equivocation, Registry, Verification};
use tokio::sync::watch;

use crate::app::App;

/// The shortest time between two rebuilds.
pub const MIN_INTERVAL: Duration = Duration::from_secs(2);
/// How often the store's change sequence is looked at.
const POLL: Duration = Duration::from_millis(500);
/// A publisher that has signed nothing for this long is listed as gone quiet. Nodes
/// renew what they publish well before it expires (a year by default), so a live
/// node signs something at least every few months.
pub const QUIET_AFTER_MS: u64 = 120 * 24 * 3600 * 1000;
/// The most rows a list of anomalies keeps (expired heads, equivocations): the count
/// is exact, the list stops here.
pub const LIST_CAP: usize = 1000;

/// One organisation (or a key without an org card) as the pages show it.
#[derive(Debug, Clone)]
pub struct OrgRow {
    pub publisher: PublisherKey,
    /// From its org card; empty without one.
    pub org_id: String,
    pub name: String,
    pub org_type: i32,
    pub website: String,
    /// The node ids its org card names.
    pub node_ids: Vec<String>,
    pub verification: Verification,
    pub reason: String,
    /// The latest `issued_at_ms` among its heads, no later than the snapshot (a signer
    /// may claim an earlier time, never a later one: validation refuses the future).
    pub last_signed_ms: u64,
    pub services: u32,
    pub datasets: u32,
    pub needs: u32,
    pub adoptions: u32,
}

/// One live service or dataset, as the coverage and reuse pages need it.
#[derive(Debug, Clone)]
pub struct Offer {
    pub id: ManifestId,
    pub publisher: PublisherKey,
    pub name: String,
    pub title: String,
    pub kind: &'static str,
}

/// One live adoption: `adopter` uses `(service_publisher, service_name)`.
#[derive(Debug, Clone)]
pub struct Use {
    pub id: ManifestId,
    pub adopter: PublisherKey,
    pub service_publisher: PublisherKey,
    pub service_name: String,
    pub version: u64,
    pub note: String,
}

/// One live need.
#[derive(Debug, Clone)]
pub struct NeedRow {
    pub id: ManifestId,
    pub publisher: PublisherKey,
    pub name: String,
    pub title: String,
    pub lgsl: Vec<u32>,
}

/// An LGSL code's publishers and users.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// Organisations (keys this node verifies) publishing a live service or dataset
    /// for it: an unverified key could otherwise make a service look duplicated.
    pub publishers: BTreeSet<PublisherKey>,
    /// Keys this node does not verify that publish for it.
    pub unverified: BTreeSet<PublisherKey>,
    /// Organisations (verified keys) that adopt one of those services, their own
    /// excluded: using what you built is not reuse.
    pub adopters: BTreeSet<PublisherKey>,
    /// Live needs that name it.
    pub needs: u32,
}

/// A head past its expiry.
#[derive(Debug, Clone)]
pub struct Expired {
    pub id: ManifestId,
    pub publisher: PublisherKey,
    pub title: String,
    pub kind: &'static str,
    pub expires_at_ms: u64,
}

/// Everything the pages summarise, as of `seq`.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The store's change sequence it was built at.
    pub seq: u64,
    /// When it was built (Unix ms), and how long that took.
    pub built_at_ms: u64,
    pub build_ms: u64,
    /// Live heads (neither retracted nor expired) by kind.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Live heads whose publisher this node verifies.
    pub verified: u64,
    /// Live heads in all.
    pub live: u64,
    /// Tombstones.
    pub retracted: u64,
    /// Every publisher with a head, org card holders first, by organisation name.
    pub orgs: Vec<OrgRow>,
    /// Index into `orgs` by key.
    pub org_index: HashMap<PublisherKey, usize>,
    /// Live services and datasets by LGSL code.
    pub coverage: BTreeMap<u32, Coverage>,
    /// Live services and datasets by id, in (publisher, name) order: the DCAT-AP
    /// catalogue's pages.
    pub catalogue: Vec<ManifestId>,
    /// Live services and datasets (for reuse: who offers what).
    pub offers: HashMap<(PublisherKey, String), Offer>,
    pub uses: Vec<Use>,
    pub needs: Vec<NeedRow>,
    /// Live services and adoptions that answer each need (publisher, name).
    pub answered: HashMap<(PublisherKey, String), u32>,
    /// Standards and how many live manifests conform to each.
    pub standards: BTreeMap<String, u32>,
    pub expired: Vec<Expired>,
    pub expired_count: u64,
    pub equivocations: Vec<Equivocation>,
    /// Distinct node ids named on org cards.
    pub nodes_on_cards: usize,
    /// Live manifests by the month of their current version (`YYYY-MM`), as signed.
    pub by_month: BTreeMap<String, u64>,
}

impl Snapshot {
    /// The row of `pk`, if it has one.
    pub fn org(&self, pk: &PublisherKey) -> Option<&OrgRow> {
        self.org_index.get(pk).map(|&i| &self.orgs[i])
    }

    /// A person's name for `pk`: its organisation's name, else a short key.
    pub fn who(&self, pk: &PublisherKey) -> String {
        match self.org(pk) {
            Some(o) if !o.name.is_empty() => o.name.clone(),
            _ => short_key(pk),
        }
    }

    /// Publishers that have signed nothing for [`QUIET_AFTER_MS`].
    pub fn quiet(&self) -> impl Iterator<Item = &OrgRow> {
        let cut = self.built_at_ms.saturating_sub(QUIET_AFTER_MS);
        self.orgs.iter().filter(move |o| o.last_signed_ms < cut)
    }

    /// Publishers judged conflicting (another key claims their organisation).
    pub fn conflicting(&self) -> impl Iterator<Item = &OrgRow> {
        self.orgs
            .iter()
            .filter(|o| o.verification == Verification::Conflicting)
    }
}

/// A did:key cut short for tables: `did:key:z6Mk…abcd`.
pub fn short_key(pk: &PublisherKey) -> String {
    let s = pk.to_string();
    match (s.get(..14), s.get(s.len().saturating_sub(4)..)) {
        (Some(a), Some(b)) => format!("{a}…{b}"),
        _ => s,
    }
}

fn count_answers(answered: &mut HashMap<(PublisherKey, String), u32>, refs: &[v1::NeedRef]) {
    for r in refs {
        if let Ok(pk) = PublisherKey::from_stored(&r.publisher) {
            *answered.entry((pk, r.name.clone())).or_default() += 1;
        }
    }
}

/// Reads the whole store into a snapshot (blocking).
pub fn build(reg: &Registry, now_ms: u64) -> Result<Snapshot, lgmesh_registry::StoreError> {
    let started = Instant::now();
    let seq = reg.change_seq()?;
    let trust = reg.trust()?;
    let mut s = Snapshot {
        seq,
        built_at_ms: now_ms,
        ..Default::default()
    };
    let mut orgs: HashMap<PublisherKey, OrgRow> = HashMap::new();
    let mut nodes = BTreeSet::new();
    let mut offer_lgsl: HashMap<(PublisherKey, String), Vec<u32>> = HashMap::new();
    reg.for_each_head(|m| {
        let pk = m.publisher;
        let row = orgs.entry(pk).or_insert_with(|| {
            let (verification, reason) = match trust.get(&pk) {
                Some(t) => (t.state, t.explain()),
                None => (Verification::Unverified, String::new()),
            };
            OrgRow {
                publisher: pk,
                org_id: String::new(),
                name: String::new(),
                org_type: 0,
                website: String::new(),
                node_ids: vec![],
                verification,
                reason,
                last_signed_ms: 0,
                services: 0,
                datasets: 0,
                needs: 0,
                adoptions: 0,
            }
        });
        let b = &m.body;
        row.last_signed_ms = row.last_signed_ms.max(b.issued_at_ms.min(now_ms));
        let kind = m.kind();
        if kind == "retraction" {
            s.retracted += 1;
            return true;
        }
        if b.expires_at_ms <= now_ms {
            s.expired_count += 1;
            if s.expired.len() < LIST_CAP {
                s.expired.push(Expired {
                    id: m.id,
                    publisher: pk,
                    title: crate::view::title(b),
                    kind,
                    expires_at_ms: b.expires_at_ms,
                });
            }
            return true;
        }
        s.live += 1;
        *s.by_kind.entry(kind).or_default() += 1;
        let verified = trust.of_manifest(&pk, &m.id) == Verification::Verified;
        if verified {
            s.verified += 1;
        }
        if let Some(month) = crate::view::rfc3339(b.issued_at_ms.min(now_ms)).get(..7) {
            *s.by_month.entry(month.to_owned()).or_default() += 1;
        }
        // A service or dataset others may adopt.
        let mut offer = |l: Option<&v1::LocalGov>| {
            s.catalogue.push(m.id);
            s.offers.insert(
                (pk, b.name.clone()),
                Offer {
                    id: m.id,
                    publisher: pk,
                    name: b.name.clone(),
                    title: crate::view::title(b),
                    kind,
                },
            );
            if let Some(l) = l {
                offer_lgsl.insert((pk, b.name.clone()), l.lgsl.clone());
            }
        };
        let (local, standards): (Option<&v1::LocalGov>, Vec<&String>) = match &b.kind {
            Some(Kind::Org(o)) => {
                row.org_id = o.org_id.clone();
                row.name = o.name.clone();
                row.org_type = o.org_type;
                row.website = o.website.clone();
                row.node_ids = o.node_ids.clone();
                nodes.extend(o.node_ids.iter().cloned());
                (None, vec![])
            }
            Some(Kind::Service(x)) => {
                row.services += 1;
                if verified {
                    count_answers(&mut s.answered, &x.answers);
                }
                let l = x.local.as_ref();
                offer(l);
                (
                    l,
                    l.map(|l| l.standards.iter().collect()).unwrap_or_default(),
                )
            }
            Some(Kind::Dataset(x)) => {
                row.datasets += 1;
                let l = x.local.as_ref();
                offer(l);
                let mut st: Vec<&String> = x.conforms_to.iter().collect();
                st.extend(l.iter().flat_map(|l| l.standards.iter()));
                (l, st)
            }
            Some(Kind::Need(n)) => {
                row.needs += 1;
                for code in &n.lgsl {
                    s.coverage.entry(*code).or_default().needs += 1;
                }
                s.needs.push(NeedRow {
                    id: m.id,
                    publisher: pk,
                    name: b.name.clone(),
                    title: n.title.clone(),
                    lgsl: n.lgsl.clone(),
                });
                (None, vec![])
            }
            Some(Kind::Adoption(a)) => {
                row.adoptions += 1;
                if verified {
                    count_answers(&mut s.answered, &a.answers);
                }
                if let Ok(sp) = PublisherKey::from_stored(&a.publisher) {
                    s.uses.push(Use {
                        id: m.id,
                        adopter: pk,
                        service_publisher: sp,
                        service_name: a.name.clone(),
                        version: a.version,
                        note: a.note.clone(),
                    });
                }
                (None, vec![])
            }
            _ => (None, vec![]),
        };
        if let Some(l) = local {
            for code in &l.lgsl {
                let c = s.coverage.entry(*code).or_default();
                if verified {
                    c.publishers.insert(pk);
                } else {
                    c.unverified.insert(pk);
                }
            }
        }
        let mut seen = BTreeSet::new();
        for st in standards {
            let k = lgmesh_registry::search::standard_key(st);
            if seen.insert(k) {
                *s.standards.entry(st.trim().to_owned()).or_default() += 1;
            }
        }
        true
    })?;
    s.equivocations = reg.all_equivocations(LIST_CAP)?;
    let mut rows: Vec<OrgRow> = orgs.into_values().collect();
    rows.sort_by(|a, b| {
        (a.name.is_empty(), a.name.to_lowercase(), a.publisher).cmp(&(
            b.name.is_empty(),
            b.name.to_lowercase(),
            b.publisher,
        ))
    });
    s.org_index = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.publisher, i))
        .collect();
    s.orgs = rows;
    // Adoptions count towards the LGSL codes of what they name, when it is live.
    for u in &s.uses {
        let adopter_verified = s
            .org_index
            .get(&u.adopter)
            .is_some_and(|&i| s.orgs[i].verification == Verification::Verified);
        // Own services, and the same organisation under another key, are not reuse.
        let same_org = |a: &PublisherKey, b: &PublisherKey| {
            a == b
                || matches!(
                    (s.org_index.get(a), s.org_index.get(b)),
                    (Some(&i), Some(&j)) if !s.orgs[i].org_id.is_empty() && s.orgs[i].org_id == s.orgs[j].org_id
                )
        };
        if !adopter_verified || same_org(&u.adopter, &u.service_publisher) {
            continue;
        }
        if let Some(codes) = offer_lgsl.get(&(u.service_publisher, u.service_name.clone())) {
            for code in codes {
                s.coverage
                    .entry(*code)
                    .or_default()
                    .adopters
                    .insert(u.adopter);
            }
        }
    }
    s.nodes_on_cards = nodes.len();
    s.uses.sort_by(|a, b| {
        (a.service_publisher, &a.service_name, a.adopter).cmp(&(
            b.service_publisher,
            &b.service_name,
            b.adopter,
        ))
    });
    s.build_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(s)
}

/// A page's interest in the summary lasts this long: it is kept up to date meanwhile.
pub const WANTED_FOR: Duration = Duration::from_secs(600);
/// When nobody looks, one summary a day is still built for the growth history, no
/// sooner than this after the node starts.
const DAILY_AFTER: Duration = Duration::from_secs(600);

/// Held while a browser listens to `/events`.
pub struct Listening(Arc<Snapshots>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0
            .listening
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One day of the federation as this node saw it: the last snapshot of that day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub live: u64,
    pub orgs: u64,
}

/// Days of history kept (ten years).
const HISTORY_DAYS: usize = 3650;
/// The most of the history file read.
const HISTORY_MAX_BYTES: u64 = 1 << 20;

/// The last snapshot, rebuilt in the background as the store changes; subscribers hear
/// of each new one (the web pages' live updates). It also keeps a point a day of what
/// it saw (the overview's growth chart), in a small CSV file in the data dir, because
/// no node can know the federation's past before it joined.
pub struct Snapshots {
    current: RwLock<Arc<Snapshot>>,
    /// When a page last asked for the summary; none are built while nobody looks
    /// (beyond one a day for the growth history), so an idle node holds none of it.
    wanted: std::sync::Mutex<Option<Instant>>,
    /// Browsers listening to `/events` now: they want every change.
    listening: std::sync::atomic::AtomicUsize,
    /// One build at a time.
    building: tokio::sync::Mutex<()>,
    changed: watch::Sender<u64>,
    history: std::sync::Mutex<Vec<Point>>,
    /// Where the history is kept; `None` keeps it in memory only.
    file: Option<std::path::PathBuf>,
}

impl Snapshots {
    /// An empty snapshot, replaced by the first build, with the history in `file`
    /// (read now; a missing or damaged file starts an empty history).
    pub fn new(file: Option<std::path::PathBuf>) -> Arc<Self> {
        // Ten years of lines are under 400 KB: a bigger file is not ours to read whole.
        let history = file
            .as_deref()
            .and_then(|f| {
                use std::io::Read;
                let mut text = String::new();
                std::fs::File::open(f)
                    .and_then(|h| h.take(HISTORY_MAX_BYTES).read_to_string(&mut text))
                    .ok()
                    .map(|_| text)
            })
            .map(|text| parse_history(&text))
            .unwrap_or_default();
        Arc::new(Self {
            current: RwLock::new(Arc::new(Snapshot::default())),
            wanted: std::sync::Mutex::new(None),
            listening: std::sync::atomic::AtomicUsize::new(0),
            building: tokio::sync::Mutex::new(()),
            changed: watch::channel(0).0,
            history: std::sync::Mutex::new(history),
            file,
        })
    }

    /// A point a day, oldest first.
    pub fn history(&self) -> Vec<Point> {
        match self.history.lock() {
            Ok(h) => h.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Records `s` as its day's point; writes the file when a day begins, and at most
    /// every ten minutes otherwise.
    fn note(&self, s: &Snapshot, last_write: &mut Option<Instant>) {
        let Some(day) = crate::view::rfc3339(s.built_at_ms)
            .get(..10)
            .map(str::to_owned)
        else {
            return;
        };
        let orgs = s.orgs.iter().filter(|o| !o.org_id.is_empty()).count() as u64;
        let point = Point {
            day,
            live: s.live,
            orgs,
        };
        let mut h = match self.history.lock() {
            Ok(h) => h,
            Err(p) => p.into_inner(),
        };
        let new_day = h.last().is_none_or(|p| p.day != point.day);
        match h.last_mut() {
            Some(p) if p.day == point.day => *p = point,
            _ => h.push(point),
        }
        if h.len() > HISTORY_DAYS {
            let extra = h.len() - HISTORY_DAYS;
            h.drain(..extra);
        }
        let due = new_day || last_write.is_none_or(|t| t.elapsed() > Duration::from_secs(600));
        if let (Some(file), true) = (&self.file, due) {
            let mut text = String::from("day,live,orgs\n");
            for p in h.iter() {
                text.push_str(&format!("{},{},{}\n", p.day, p.live, p.orgs));
            }
            let tmp = file.with_extension("csv.tmp");
            let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, file));
            if let Err(e) = written {
                tracing::warn!(file = %file.display(), error = %e, "web: the growth history could not be saved");
            }
            *last_write = Some(Instant::now());
        }
    }

    /// The summary for a page: the last one built, or, before any, one built now (a
    /// second or so on 100,000 manifests). Marks the summary wanted, so that it is
    /// kept up to date for the next [`WANTED_FOR`].
    pub async fn current(&self, app: &App) -> Arc<Snapshot> {
        *self
            .wanted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        let s = self.get();
        if s.built_at_ms > 0 {
            return s;
        }
        let _one = self.building.lock().await;
        if self.get().built_at_ms == 0
            && let Err(e) = self.refresh(app).await
        {
            tracing::warn!(error = %e, "web: the summary of the store could not be built");
        }
        self.get()
    }

    /// A browser listens to `/events` until the guard is dropped.
    pub fn listen(self: &Arc<Self>) -> Listening {
        self.listening
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Listening(self.clone())
    }

    fn is_wanted(&self) -> bool {
        self.listening.load(std::sync::atomic::Ordering::Relaxed) > 0
            || self
                .wanted
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_some_and(|t| t.elapsed() < WANTED_FOR)
    }

    /// The last snapshot built (empty before the first).
    pub fn get(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The change sequence of each new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn set(&self, s: Snapshot, last_write: &mut Option<Instant>) {
        self.note(&s, last_write);
        let seq = s.seq;
        match self.current.write() {
            Ok(mut g) => *g = Arc::new(s),
            Err(p) => *p.into_inner() = Arc::new(s),
        }
        self.changed.send_replace(seq);
    }

    /// Builds one snapshot now (blocking on the blocking pool) and keeps it.
    pub async fn refresh(&self, app: &App) -> Result<(), String> {
        self.refresh_noting(app, &mut None).await
    }

    async fn refresh_noting(
        &self,
        app: &App,
        last_write: &mut Option<Instant>,
    ) -> Result<(), String> {
        let reg = app.registry().clone();
        let s = app
            .blocking(move || build(&reg, lgmesh_protocol::now_ms()))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        self.set(s, last_write);
        Ok(())
    }

    /// Keeps the snapshot up to date until the node stops (spawned on the node's tasks).
    pub async fn run(self: Arc<Self>, app: Arc<App>) {
        let mut last_build = Duration::ZERO;
        let mut last_at: Option<Instant> = None;
        let mut built_seq = None;
        let mut last_write = None;
        let started = Instant::now();
        let mut ticker = tokio::time::interval(POLL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let tasks = app.tasks().clone();
        loop {
            tokio::select! {
                () = tasks.stopping() => return,
                _ = ticker.tick() => {}
            }
            let seq = app.registry().change_seq().ok();
            // Nobody looking: only the growth history's point a day, once the node has
            // run a while (a node that starts is busy enough catching up).
            if !self.is_wanted() {
                let today = crate::view::rfc3339(lgmesh_protocol::now_ms());
                let noted = self
                    .history()
                    .last()
                    .is_some_and(|p| today.starts_with(&p.day));
                if noted || started.elapsed() < DAILY_AFTER {
                    continue;
                }
            }
            // Expiry changes what is live without a write: rebuild at least each minute.
            let stale = last_at.is_none_or(|t| t.elapsed() > Duration::from_secs(60));
            if seq == built_seq && !stale {
                continue;
            }
            let wait = MIN_INTERVAL.max(last_build * 10);
            if last_at.is_some_and(|t| t.elapsed() < wait) {
                continue;
            }
            let began = Instant::now();
            let one = self.building.lock().await;
            if let Err(e) = self.refresh_noting(&app, &mut last_write).await {
                tracing::warn!(error = %e, "web: the summary of the store could not be built");
            }
            drop(one);
            last_build = began.elapsed();
            last_at = Some(Instant::now());
            built_seq = seq;
        }
    }
}

/// Reads the history file: `day,live,orgs` lines after a header; bad lines are skipped,
/// days kept in order and at most [`HISTORY_DAYS`].
fn parse_history(text: &str) -> Vec<Point> {
    let mut out: Vec<Point> = vec![];
    for line in text.lines().skip(1) {
        let mut f = line.split(',');
        let (Some(day), Some(live), Some(orgs), None) = (f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let well_formed = day.len() == 10
            && day.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        let (Ok(live), Ok(orgs)) = (live.parse(), orgs.parse()) else {
            continue;
        };
        if well_formed && out.last().is_none_or(|p| p.day.as_str() < day) {
            out.push(Point {
                day: day.to_owned(),
                live,
                orgs,
            });
        }
    }
    if out.len() > HISTORY_DAYS {
        out.drain(..out.len() - HISTORY_DAYS);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_well_formed_days_in_order() {
        let h = parse_history(
            "day,live,orgs\n2026-12-01,5,2\nnonsense\n2026-11-30,9,9\n2026-12-02,7,3,4\n2026-12-03,8,3\n",
        );
        assert_eq!(
            h.iter()
                .map(|p| (p.day.as_str(), p.live))
                .collect::<Vec<_>>(),
            vec![("2026-12-01", 5), ("2026-12-03", 8)]
        );
    }
}
