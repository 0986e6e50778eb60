//! Counters for `/metrics`, in the Prometheus text format. Plain atomics: the set is
//! small and fixed, so no registry crate is needed.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use lgmesh_protocol::validate::Reason;

/// Where a manifest came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `Publish` / `Retract` (signed by this node).
    Local,
    /// `Submit` (signed elsewhere).
    Submit,
    /// Pushed by a peer over gossipsub.
    Gossip,
    /// Pulled from a peer by sync.
    Sync,
}

impl From<lgmesh_net::Path> for Source {
    fn from(p: lgmesh_net::Path) -> Self {
        match p {
            lgmesh_net::Path::Gossip => Source::Gossip,
            lgmesh_net::Path::Sync => Source::Sync,
        }
    }
}

/// Sources that are this node's own clients (`lgmesh_manifests_*`); the others are
/// peers (`lgmesh_net_manifests_*`).
const CLIENTS: [Source; 2] = [Source::Local, Source::Submit];

/// The node's counters.
pub struct Metrics {
    started: Instant,
    accepted: [AtomicU64; 4],
    duplicate: [AtomicU64; 4],
    unchanged: AtomicU64,
    rejected: [[AtomicU64; Reason::ALL.len()]; 4],
    grpc_requests: AtomicU64,
    grpc_errors: AtomicU64,
    unauthenticated: AtomicU64,
    searches: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            accepted: Default::default(),
            duplicate: Default::default(),
            unchanged: AtomicU64::new(0),
            rejected: Default::default(),
            grpc_requests: AtomicU64::new(0),
            grpc_errors: AtomicU64::new(0),
            unauthenticated: AtomicU64::new(0),
            searches: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// A manifest was stored.
    pub fn accepted(&self, s: Source) {
        self.accepted[s as usize].fetch_add(1, Relaxed);
    }
    /// A manifest was already stored.
    pub fn duplicate(&self, s: Source) {
        self.duplicate[s as usize].fetch_add(1, Relaxed);
    }
    /// A publish found nothing changed.
    pub fn unchanged(&self) {
        self.unchanged.fetch_add(1, Relaxed);
    }
    /// A manifest or document was refused.
    pub fn rejected(&self, s: Source, r: Reason) {
        if let Some(i) = Reason::ALL.iter().position(|x| *x == r) {
            self.rejected[s as usize][i].fetch_add(1, Relaxed);
        }
    }
    /// A gRPC call, and whether it failed.
    pub fn grpc(&self, ok: bool) {
        self.grpc_requests.fetch_add(1, Relaxed);
        if !ok {
            self.grpc_errors.fetch_add(1, Relaxed);
        }
    }
    /// A write without a valid token.
    pub fn unauthenticated(&self) {
        self.unauthenticated.fetch_add(1, Relaxed);
    }
    /// A search ran.
    pub fn search(&self) {
        self.searches.fetch_add(1, Relaxed);
    }
    /// Stored since start from this node's clients (publish and submit).
    pub fn accepted_total(&self) -> u64 {
        CLIENTS.iter().map(|s| self.stored(*s)).sum()
    }
    /// Stored since start from `s`.
    pub fn stored(&self, s: Source) -> u64 {
        self.accepted[s as usize].load(Relaxed)
    }
    /// Already stored, from `s`.
    pub fn duplicates(&self, s: Source) -> u64 {
        self.duplicate[s as usize].load(Relaxed)
    }
    /// Rejections by reason, from `sources` together.
    pub fn rejected_by_reason(&self, sources: &[Source]) -> Vec<(Reason, u64)> {
        Reason::ALL
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let n = sources
                    .iter()
                    .map(|s| self.rejected[*s as usize][i].load(Relaxed))
                    .sum();
                (*r, n)
            })
            .collect()
    }

    /// The Prometheus text exposition, with the store's gauges when it answered.
    pub fn render(&self, store: Option<&StoreGauges>) -> String {
        let mut s = String::new();
        let mut counter = |name: &str, help: &str, rows: &[(&str, u64)]| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in rows {
                let _ = writeln!(s, "{name}{labels} {v}");
            }
        };
        counter(
            "lgmesh_manifests_accepted_total",
            "Manifests stored, by source.",
            &[
                ("{source=\"local\"}", self.accepted[0].load(Relaxed)),
                ("{source=\"submit\"}", self.accepted[1].load(Relaxed)),
            ],
        );
        let rej: Vec<(String, u64)> = self
            .rejected_by_reason(&CLIENTS)
            .into_iter()
            .map(|(r, c)| (format!("{{reason=\"{}\"}}", r.as_str()), c))
            .collect();
        let rej_rows: Vec<(&str, u64)> = rej.iter().map(|(l, c)| (l.as_str(), *c)).collect();
        counter(
            "lgmesh_manifests_rejected_total",
            "Manifests and documents refused, by reason.",
            &rej_rows,
        );
        counter(
            "lgmesh_manifests_duplicate_total",
            "Manifests offered that were already stored.",
            &[("", CLIENTS.iter().map(|s| self.duplicates(*s)).sum::<u64>())],
        );
        let peers = [("gossip", Source::Gossip), ("sync", Source::Sync)];
        let by_path = |f: &dyn Fn(Source) -> u64| -> Vec<(String, u64)> {
            peers
                .iter()
                .map(|(p, s)| (format!("{{path=\"{p}\"}}"), f(*s)))
                .collect()
        };
        let stored = by_path(&|s| self.stored(s));
        let dup = by_path(&|s| self.duplicates(s));
        let mut rejected = vec![];
        for (p, src) in peers {
            for (r, c) in self.rejected_by_reason(&[src]) {
                rejected.push((format!("{{path=\"{p}\",reason=\"{}\"}}", r.as_str()), c));
            }
        }
        for (name, help, v) in [
            (
                "lgmesh_net_manifests_stored_total",
                "Manifests from peers that were valid and new, by path.",
                &stored,
            ),
            (
                "lgmesh_net_manifests_duplicate_total",
                "Manifests from peers that were already stored, by path.",
                &dup,
            ),
            (
                "lgmesh_net_manifests_rejected_total",
                "Manifests from peers refused by validation, by path and reason.",
                &rejected,
            ),
        ] {
            let v: Vec<(&str, u64)> = v.iter().map(|(l, c)| (l.as_str(), *c)).collect();
            counter(name, help, &v);
        }
        counter(
            "lgmesh_publish_unchanged_total",
            "Publishes whose content equalled the head.",
            &[("", self.unchanged.load(Relaxed))],
        );
        counter(
            "lgmesh_grpc_requests_total",
            "gRPC calls handled.",
            &[("", self.grpc_requests.load(Relaxed))],
        );
        counter(
            "lgmesh_grpc_errors_total",
            "gRPC calls that returned an error.",
            &[("", self.grpc_errors.load(Relaxed))],
        );
        counter(
            "lgmesh_grpc_unauthenticated_total",
            "Writes refused for a missing or wrong admin token.",
            &[("", self.unauthenticated.load(Relaxed))],
        );
        counter(
            "lgmesh_searches_total",
            "Searches run.",
            &[("", self.searches.load(Relaxed))],
        );
        if let Some(g) = store {
            let StoreGauges {
                manifests,
                heads,
                expired,
                publishers,
            } = g;
            let _ = writeln!(
                s,
                "# HELP lgmesh_store_expired_heads Current heads whose expiry has passed (hidden from default search).\n# TYPE lgmesh_store_expired_heads gauge\nlgmesh_store_expired_heads {expired}"
            );
            let _ = writeln!(
                s,
                "# HELP lgmesh_publishers Publisher keys this node knows, by how it judges them.\n# TYPE lgmesh_publishers gauge"
            );
            for (state, n) in publishers {
                let _ = writeln!(s, "lgmesh_publishers{{state=\"{state}\"}} {n}");
            }
            let _ = writeln!(
                s,
                "# HELP lgmesh_store_manifests Manifests in the store (every version).\n# TYPE lgmesh_store_manifests gauge\nlgmesh_store_manifests {manifests}"
            );
            let _ = writeln!(
                s,
                "# HELP lgmesh_store_heads Current heads in the store.\n# TYPE lgmesh_store_heads gauge\nlgmesh_store_heads {heads}"
            );
        }
        let _ = writeln!(
            s,
            "# HELP lgmesh_uptime_seconds Seconds since the node started.\n# TYPE lgmesh_uptime_seconds gauge\nlgmesh_uptime_seconds {}",
            self.started.elapsed().as_secs()
        );
        let _ = writeln!(
            s,
            "# HELP lgmesh_build_info The running version.\n# TYPE lgmesh_build_info gauge\nlgmesh_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        s
    }
}

/// Domain checks by outcome, in the Prometheus text format.
pub fn render_domain(checks: &[(crate::domain::Code, u64)]) -> String {
    let mut s = String::from(
        "# HELP lgmesh_domain_checks_total Domain proof checks (/.well-known/lgmesh.json), by result.\n# TYPE lgmesh_domain_checks_total counter\n",
    );
    for (c, n) in checks {
        let _ = writeln!(
            s,
            "lgmesh_domain_checks_total{{result=\"{}\"}} {n}",
            c.as_str()
        );
    }
    s
}

/// Gauges read from the store for `/metrics` and Stats.
#[derive(Debug, Clone, Default)]
pub struct StoreGauges {
    /// Manifests stored, every version.
    pub manifests: u64,
    /// Current heads.
    pub heads: u64,
    /// Heads past their expiry.
    pub expired: u64,
    /// Publisher keys by judgement: verified, unverified, conflicting, revoked, rotated.
    pub publishers: [(&'static str, u64); 5],
}

impl StoreGauges {
    /// Reads them (a count over the index and the cached trust judgement).
    pub fn read(reg: &lgmesh_registry::Registry) -> Result<Self, lgmesh_registry::SearchError> {
        use lgmesh_registry::Verification as V;
        let c = reg.counts()?;
        let trust = reg.trust()?;
        let mut by = [
            ("verified", 0),
            ("unverified", 0),
            ("conflicting", 0),
            ("revoked", 0),
            ("rotated", 0),
        ];
        for t in trust.all() {
            let i = match t.state {
                V::Verified => 0,
                V::Unverified => 1,
                V::Conflicting => 2,
                V::Revoked => 3,
                V::Rotated => 4,
            };
            by[i].1 += 1;
        }
        Ok(Self {
            manifests: c.manifests,
            heads: c.heads,
            expired: reg.expired_heads(lgmesh_protocol::now_ms())?,
            publishers: by,
        })
    }
}

/// The network's counters in the Prometheus text format, with peer gauges from `info`.
pub fn render_net(n: &lgmesh_net::StatsSnapshot, info: Option<&lgmesh_net::NetInfo>) -> String {
    let mut s = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, u64)>| {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(s, "{name}{labels} {v}");
        }
    };
    family(
        "lgmesh_net_manifests_received_total",
        "counter",
        "Manifests received from peers, by path (gossip or sync).",
        n.by_path
            .iter()
            .map(|(p, c)| (format!("{{path=\"{p}\"}}"), *c))
            .collect(),
    );
    family(
        "lgmesh_net_refused_total",
        "counter",
        "Connections, requests and peers refused by the network layer, by reason.",
        n.refused
            .iter()
            .map(|(r, c)| (format!("{{reason=\"{r}\"}}"), *c))
            .collect(),
    );
    family(
        "lgmesh_net_connections_total",
        "counter",
        "Connections opened (both directions), peers disconnected as surplus over max_peers, and relayed peers reached directly through NAT by a hole punch or not.",
        vec![
            ("{event=\"opened\"}".into(), n.connections_opened),
            ("{event=\"trimmed\"}".into(), n.connections_trimmed),
            ("{event=\"hole_punched\"}".into(), n.hole_punched),
            ("{event=\"hole_punch_failed\"}".into(), n.hole_punch_failed),
        ],
    );
    family(
        "lgmesh_sync_rounds_total",
        "counter",
        "Anti-entropy rounds this node started, by result.",
        vec![
            ("{result=\"completed\"}".into(), n.syncs_completed),
            ("{result=\"failed\"}".into(), n.syncs_failed),
            ("{result=\"deferred\"}".into(), n.syncs_deferred),
        ],
    );
    family(
        "lgmesh_sync_nudged_total",
        "counter",
        "Rounds started because a peer found this node lacked manifests it holds.",
        vec![(String::new(), n.syncs_nudged)],
    );
    family(
        "lgmesh_sync_round_trips_total",
        "counter",
        "Negentropy round trips in all rounds.",
        vec![(String::new(), n.sync_round_trips)],
    );
    family(
        "lgmesh_sync_bytes_in_total",
        "counter",
        "Bytes of sync responses read.",
        vec![(String::new(), n.sync_bytes_in)],
    );
    family(
        "lgmesh_sync_served_total",
        "counter",
        "Sync requests answered for peers.",
        vec![(String::new(), n.sync_served)],
    );
    family(
        "lgmesh_gossip_validated_total",
        "counter",
        "Gossip messages from peers given a verdict (forward, ignore or reject).",
        vec![(String::new(), n.gossip_validated)],
    );
    family(
        "lgmesh_gossip_validation_microseconds_total",
        "counter",
        "Time from a gossip message's arrival to its verdict, summed: divided by lgmesh_gossip_validated_total, how long the node holds a message before forwarding it.",
        vec![(String::new(), n.gossip_validation_us)],
    );
    family(
        "lgmesh_gossip_published_total",
        "counter",
        "Local manifests published to gossip.",
        vec![(String::new(), n.gossip_published)],
    );
    if let Some(i) = info {
        family(
            "lgmesh_peers",
            "gauge",
            "Connected peers.",
            vec![(String::new(), i.peers as u64)],
        );
        family(
            "lgmesh_mesh_peers",
            "gauge",
            "Peers in the gossip mesh.",
            vec![(String::new(), i.mesh_peers as u64)],
        );
    }
    s
}
