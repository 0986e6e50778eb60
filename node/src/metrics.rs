//! `/metrics`: the node's counters and gauges beside libp2p's own (swarm, gossipsub,
//! Kademlia, identify, ping, relay, DCUtR), through `prometheus-client`, the library
//! libp2p's metrics are written with.
//!
//! One registry per node, in [`Metrics`]: the node's counters (atomics that the hot paths
//! bump, read at each scrape) and libp2p's families, made when [`Metrics::libp2p`] hands
//! them to the network. What only a scrape can read (the store's gauges, the network's
//! counters and peers) and what modules above this one keep (the domain checker's
//! family) go into a registry made for each scrape and passed to [`Metrics::render`]:
//! this module depends on nothing of the node above it.

mod format;
mod net;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use lgmesh_net::Libp2pMetrics;
use lgmesh_protocol::validate::Reason;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

pub use format::Format;
pub use net::NetFamilies;

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

/// Why a TLS connection was closed before its handshake completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailure {
    /// The client sent something that is not a TLS handshake we accept (plain HTTP, a
    /// protocol version or cipher we do not offer, a certificate it refused).
    Handshake,
    /// The client did not finish within the handshake timeout.
    Timeout,
    /// Too many handshakes were in progress at once.
    Busy,
}

impl TlsFailure {
    const ALL: [TlsFailure; 3] = [Self::Handshake, Self::Timeout, Self::Busy];

    fn as_str(self) -> &'static str {
        match self {
            Self::Handshake => "handshake",
            Self::Timeout => "timeout",
            Self::Busy => "busy",
        }
    }
}

/// Why the gRPC or HTTP listener closed a connection as soon as it was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnRefusal {
    /// The listener had its most connections open.
    Full,
    /// The client (an address, or an IPv6 /64) had its most connections open.
    Client,
    /// Accepting failed (out of file descriptors, most likely).
    AcceptFailed,
}

impl ConnRefusal {
    const ALL: [ConnRefusal; 3] = [Self::Full, Self::Client, Self::AcceptFailed];

    fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Client => "client",
            Self::AcceptFailed => "accept_failed",
        }
    }
}

/// Sources that are this node's own clients (`lgmesh_manifests_*`); the others are
/// peers (`lgmesh_net_manifests_*`).
const CLIENTS: [Source; 2] = [Source::Local, Source::Submit];

/// The node's counters, and the registry `/metrics` serves them from.
pub struct Metrics {
    counters: Arc<Counters>,
    /// The last [`LAG_WINDOW`] propagation lags of gossip arrivals, in ms.
    lag: Mutex<std::collections::VecDeque<u64>>,
    /// The node's families and, once the network has them, libp2p's.
    registry: Arc<Mutex<Registry>>,
    libp2p: OnceLock<Libp2pMetrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        let counters = Arc::new(Counters::default());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(counters.clone()));
        Self {
            counters,
            lag: Mutex::default(),
            registry: Arc::new(Mutex::new(registry)),
            libp2p: OnceLock::new(),
        }
    }
}

/// How many gossip arrivals the propagation lag is judged over.
pub const LAG_WINDOW: usize = 1024;

impl Metrics {
    /// Manifests that came by gossip were stored `lags_ms` after their publishers
    /// signed them (by the publishers' clocks: validation refuses times in the future,
    /// so a lying clock can only make a lag look longer; the figure is a median). One
    /// lock for a batch.
    pub fn propagated(&self, lags_ms: &[u64]) {
        if lags_ms.is_empty() {
            return;
        }
        let mut w = self.lag.lock().unwrap_or_else(PoisonError::into_inner);
        for &lag in lags_ms {
            if w.len() == LAG_WINDOW {
                w.pop_front();
            }
            w.push_back(lag);
        }
    }

    /// The median and 95th percentile of the last gossip arrivals' propagation lag, in
    /// ms; `None` before any.
    pub fn propagation_lag(&self) -> Option<(u64, u64)> {
        let mut v: Vec<u64> = self
            .lag
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let at = |q: usize| v[(v.len() - 1) * q / 100];
        Some((at(50), at(95)))
    }

    /// A manifest was stored.
    pub fn accepted(&self, s: Source) {
        self.counters.accepted[s as usize].fetch_add(1, Relaxed);
    }
    /// A manifest was already stored.
    pub fn duplicate(&self, s: Source) {
        self.counters.duplicate[s as usize].fetch_add(1, Relaxed);
    }
    /// A publish found nothing changed.
    pub fn unchanged(&self) {
        self.counters.unchanged.fetch_add(1, Relaxed);
    }
    /// A manifest or document was refused.
    pub fn rejected(&self, s: Source, r: Reason) {
        if let Some(i) = Reason::ALL.iter().position(|x| *x == r) {
            self.counters.rejected[s as usize][i].fetch_add(1, Relaxed);
        }
    }
    /// A gRPC call, and whether it failed.
    pub fn grpc(&self, ok: bool) {
        self.counters.grpc_requests.fetch_add(1, Relaxed);
        if !ok {
            self.counters.grpc_errors.fetch_add(1, Relaxed);
        }
    }
    /// A write without a valid token.
    pub fn unauthenticated(&self) {
        self.counters.unauthenticated.fetch_add(1, Relaxed);
    }
    /// A write with a token refused because it came in clear from another machine.
    pub fn cleartext_write(&self) {
        self.counters.cleartext_writes.fetch_add(1, Relaxed);
    }
    /// A connection closed as soon as it was accepted.
    pub fn connection_refused(&self, which: crate::listener::Which, why: ConnRefusal) {
        self.counters.conns_refused[which as usize][why as usize].fetch_add(1, Relaxed);
    }
    /// A TLS connection closed before its handshake completed.
    pub fn tls_failed(&self, which: crate::listener::Which, why: TlsFailure) {
        let w = which as usize;
        self.counters.tls_failed[w][why as usize].fetch_add(1, Relaxed);
    }
    /// The TLS certificate served expires at `not_after` (Unix seconds).
    pub fn tls_serving(&self, not_after: i64) {
        self.counters
            .tls_not_after
            .store(u64::try_from(not_after).unwrap_or(0), Relaxed);
    }
    /// A changed certificate was loaded (`ok`) or could not be; the one served expires at
    /// `not_after`.
    pub fn tls_reloaded(&self, ok: bool, not_after: i64) {
        self.counters.tls_reloads[usize::from(!ok)].fetch_add(1, Relaxed);
        self.tls_serving(not_after);
    }
    /// A search ran.
    pub fn search(&self) {
        self.counters.searches.fetch_add(1, Relaxed);
    }
    /// Stored since start from this node's clients (publish and submit).
    pub fn accepted_total(&self) -> u64 {
        CLIENTS.iter().map(|s| self.stored(*s)).sum()
    }
    /// Stored since start from `s`.
    pub fn stored(&self, s: Source) -> u64 {
        self.counters.accepted[s as usize].load(Relaxed)
    }
    /// Already stored, from `s`.
    pub fn duplicates(&self, s: Source) -> u64 {
        self.counters.duplicate[s as usize].load(Relaxed)
    }
    /// Rejections by reason, from `sources` together.
    pub fn rejected_by_reason(&self, sources: &[Source]) -> Vec<(Reason, u64)> {
        self.counters.rejected_by_reason(sources)
    }

    /// libp2p's metrics, registered beside the node's (as `libp2p_…`) the first time they
    /// are asked for, for the network to record its swarm's events in
    /// ([`lgmesh_net::NetConfig::metrics`]).
    pub fn libp2p(&self) -> Libp2pMetrics {
        self.libp2p
            .get_or_init(|| Libp2pMetrics::new(self.registry.clone()))
            .clone()
    }

    /// The exposition of every family, the node's and libp2p's and then `scrape`'s, in
    /// `format`.
    pub fn render(&self, scrape: &Registry, format: Format) -> Result<String, fmt::Error> {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut s = String::new();
        encode_registry(&mut s, &self.registry())?;
        encode_registry(&mut s, scrape)?;
        encode_eof(&mut s)?;
        Ok(format.finish(s))
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What [`Metrics`] counts: atomics, cheap to bump from any thread, read by the registry
/// at each scrape.
#[derive(Debug)]
struct Counters {
    started: Instant,
    accepted: [AtomicU64; 4],
    duplicate: [AtomicU64; 4],
    unchanged: AtomicU64,
    rejected: [[AtomicU64; Reason::ALL.len()]; 4],
    grpc_requests: AtomicU64,
    grpc_errors: AtomicU64,
    unauthenticated: AtomicU64,
    cleartext_writes: AtomicU64,
    searches: AtomicU64,
    /// By listener (gRPC, HTTP) and [`TlsFailure`].
    tls_failed: [[AtomicU64; 3]; 2],
    conns_refused: [[AtomicU64; 3]; 2],
    /// Loaded, failed.
    tls_reloads: [AtomicU64; 2],
    /// Unix seconds; 0 when the node serves no TLS.
    tls_not_after: AtomicU64,
}

impl Default for Counters {
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
            cleartext_writes: AtomicU64::new(0),
            searches: AtomicU64::new(0),
            tls_failed: Default::default(),
            conns_refused: Default::default(),
            tls_reloads: Default::default(),
            tls_not_after: AtomicU64::new(0),
        }
    }
}

impl Counters {
    fn rejected_by_reason(&self, sources: &[Source]) -> Vec<(Reason, u64)> {
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
}

impl Collector for Counters {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let n = |a: &AtomicU64| a.load(Relaxed);
        let sum = |of: &[AtomicU64; 4], sources: &[Source]| -> u64 {
            sources.iter().map(|s| n(&of[*s as usize])).sum()
        };
        counter(
            &mut e,
            "lgmesh_manifests_accepted",
            "Manifests stored, by source.",
            None,
            [
                (
                    [("source", "local")],
                    n(&self.accepted[Source::Local as usize]),
                ),
                (
                    [("source", "submit")],
                    n(&self.accepted[Source::Submit as usize]),
                ),
            ],
        )?;
        counter(
            &mut e,
            "lgmesh_manifests_rejected",
            "Manifests and documents refused, by reason.",
            None,
            self.rejected_by_reason(&CLIENTS)
                .into_iter()
                .map(|(r, c)| ([("reason", r.as_str())], c)),
        )?;
        counter(
            &mut e,
            "lgmesh_manifests_duplicate",
            "Manifests offered that were already stored.",
            None,
            [([], sum(&self.duplicate, &CLIENTS))],
        )?;
        let peers = [("gossip", Source::Gossip), ("sync", Source::Sync)];
        counter(
            &mut e,
            "lgmesh_net_manifests_stored",
            "Manifests from peers that were valid and new, by path.",
            None,
            peers.map(|(p, s)| ([("path", p)], sum(&self.accepted, &[s]))),
        )?;
        counter(
            &mut e,
            "lgmesh_net_manifests_duplicate",
            "Manifests from peers that were already stored, by path.",
            None,
            peers.map(|(p, s)| ([("path", p)], sum(&self.duplicate, &[s]))),
        )?;
        counter(
            &mut e,
            "lgmesh_net_manifests_rejected",
            "Manifests from peers refused by validation, by path and reason.",
            None,
            peers.iter().flat_map(|(p, s)| {
                self.rejected_by_reason(&[*s])
                    .into_iter()
                    .map(move |(r, c)| ([("path", *p), ("reason", r.as_str())], c))
            }),
        )?;
        for (name, help, v) in [
            (
                "lgmesh_publish_unchanged",
                "Publishes whose content equalled the head.",
                &self.unchanged,
            ),
            (
                "lgmesh_grpc_requests",
                "gRPC calls handled.",
                &self.grpc_requests,
            ),
            (
                "lgmesh_grpc_errors",
                "gRPC calls that returned an error.",
                &self.grpc_errors,
            ),
            (
                "lgmesh_grpc_unauthenticated",
                "Writes refused for a missing or wrong admin token.",
                &self.unauthenticated,
            ),
            (
                "lgmesh_grpc_cleartext_writes_refused",
                "Writes refused because they came in clear from another machine (use TLS or the admin socket).",
                &self.cleartext_writes,
            ),
            ("lgmesh_searches", "Searches run.", &self.searches),
        ] {
            counter(&mut e, name, help, None, [([], n(v))])?;
        }
        let listeners = [("grpc", 0), ("http", 1)];
        counter(
            &mut e,
            "lgmesh_tls_handshakes_failed",
            "TLS connections closed before the handshake completed, by listener and reason (handshake: not TLS or refused; timeout; busy: too many at once, or from one client).",
            None,
            listeners.iter().flat_map(|(l, i)| {
                TlsFailure::ALL.map(|f| {
                    (
                        [("listener", *l), ("reason", f.as_str())],
                        n(&self.tls_failed[*i][f as usize]),
                    )
                })
            }),
        )?;
        counter(
            &mut e,
            "lgmesh_listener_connections_refused",
            "gRPC and HTTP connections closed as soon as they were accepted, by listener and reason (full: the listener's most open; client: that client's most open; accept_failed: out of file descriptors, most likely).",
            None,
            listeners.iter().flat_map(|(l, i)| {
                ConnRefusal::ALL.map(|f| {
                    (
                        [("listener", *l), ("reason", f.as_str())],
                        n(&self.conns_refused[*i][f as usize]),
                    )
                })
            }),
        )?;
        counter(
            &mut e,
            "lgmesh_tls_reloads",
            "Changed TLS certificate files, loaded or not (the previous certificate stays when not).",
            None,
            [
                ([("result", "loaded")], n(&self.tls_reloads[0])),
                ([("result", "failed")], n(&self.tls_reloads[1])),
            ],
        )?;
        let not_after = n(&self.tls_not_after);
        if not_after > 0 {
            gauge(
                &mut e,
                "lgmesh_tls_certificate_expiry",
                "When the TLS certificate served expires, Unix time (absent without TLS).",
                Some(&Unit::Seconds),
                [([], not_after)],
            )?;
        }
        gauge(
            &mut e,
            "lgmesh_uptime",
            "Seconds since the node started.",
            Some(&Unit::Seconds),
            [([], self.started.elapsed().as_secs())],
        )?;
        gauge(
            &mut e,
            "lgmesh_build_info",
            "The running version.",
            None,
            [([("version", env!("CARGO_PKG_VERSION"))], 1u64)],
        )
    }
}

/// Labels of one sample: `[]` for a family's only sample.
type Labels<'a, const N: usize> = [(&'a str, &'a str); N];

/// Writes a counter family with a sample per row. `name` is without `_total` (and
/// without the unit): the encoder appends them.
pub(crate) fn counter<'a, const N: usize, V: EncodeCounterValue>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    rows: impl IntoIterator<Item = (Labels<'a, N>, V)>,
) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, unit, MetricType::Counter)?;
    for (labels, v) in rows {
        if N == 0 {
            m.encode_counter::<NoLabelSet, V, u64>(&v, None)?;
        } else {
            m.encode_family(&labels)?
                .encode_counter::<NoLabelSet, V, u64>(&v, None)?;
        }
    }
    Ok(())
}

/// Writes a gauge family with a sample per row. `name` is without the unit.
pub(crate) fn gauge<'a, const N: usize, V: EncodeGaugeValue>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    rows: impl IntoIterator<Item = (Labels<'a, N>, V)>,
) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, v) in rows {
        if N == 0 {
            m.encode_gauge(&v)?;
        } else {
            m.encode_family(&labels)?.encode_gauge(&v)?;
        }
    }
    Ok(())
}

/// The propagation lag as one scrape read it ([`Metrics::propagation_lag`]); no family
/// before any manifest came by gossip.
#[derive(Debug)]
pub struct PropagationLag(Option<(u64, u64)>);

impl PropagationLag {
    /// Reads it from `m`.
    pub fn of(m: &Metrics) -> Self {
        Self(m.propagation_lag())
    }
}

impl Collector for PropagationLag {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let Some((p50, p95)) = self.0 else {
            return Ok(());
        };
        // A label of its own: `quantile` is reserved for summaries, which this is not.
        gauge(
            &mut e,
            "lgmesh_propagation_lag",
            "Time from a publisher signing a manifest to this node storing it, over the last 1,024 manifests that came by gossip, by percentile (50, 95).",
            Some(&Unit::Seconds),
            [
                ([("percentile", "50")], p50 as f64 / 1e3),
                ([("percentile", "95")], p95 as f64 / 1e3),
            ],
        )
    }
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

/// The gauges as read, for the scrape that read them.
impl Collector for StoreGauges {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        gauge(
            &mut e,
            "lgmesh_store_expired_heads",
            "Current heads whose expiry has passed (hidden from default search).",
            None,
            [([], self.expired)],
        )?;
        gauge(
            &mut e,
            "lgmesh_publishers",
            "Publisher keys this node knows, by how it judges them.",
            None,
            self.publishers.map(|(state, n)| ([("state", state)], n)),
        )?;
        gauge(
            &mut e,
            "lgmesh_store_manifests",
            "Manifests in the store (every version).",
            None,
            [([], self.manifests)],
        )?;
        gauge(
            &mut e,
            "lgmesh_store_heads",
            "Current heads in the store.",
            None,
            [([], self.heads)],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_propagation_lag_is_the_median_of_the_last_window() {
        let m = Metrics::default();
        assert_eq!(m.propagation_lag(), None);
        // Old arrivals leave the window: only the last LAG_WINDOW count.
        m.propagated(&vec![1_000_000; LAG_WINDOW]);
        let recent: Vec<u64> = (1..=LAG_WINDOW as u64).collect();
        m.propagated(&recent);
        let (p50, p95) = m.propagation_lag().expect("lags");
        assert_eq!((p50, p95), (512, 972));
    }

    #[test]
    fn the_propagation_lag_is_served_in_seconds_once_gossip_arrived() {
        let m = Metrics::default();
        let render = |m: &Metrics| {
            let mut scrape = Registry::default();
            scrape.register_collector(Box::new(PropagationLag::of(m)));
            m.render(&scrape, Format::Text).expect("render")
        };
        assert!(!render(&m).contains("lgmesh_propagation_lag"));
        m.propagated(&[1_500; 20]);
        let text = render(&m);
        for line in [
            "# TYPE lgmesh_propagation_lag_seconds gauge",
            "lgmesh_propagation_lag_seconds{percentile=\"50\"} 1.5",
            "lgmesh_propagation_lag_seconds{percentile=\"95\"} 1.5",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
    }

    /// The names and labels of the families (ops alerts and dashboards use them), in
    /// both formats.
    #[test]
    fn families_keep_their_names_and_labels() {
        let m = Metrics::default();
        m.accepted(Source::Local);
        m.accepted(Source::Gossip);
        m.duplicate(Source::Submit);
        m.rejected(Source::Sync, Reason::Signature);
        m.rejected(Source::Local, Reason::Retracted);
        m.grpc(false);
        let mut scrape = Registry::default();
        scrape.register_collector(Box::new(StoreGauges {
            heads: 8,
            publishers: [
                ("verified", 2),
                ("unverified", 0),
                ("conflicting", 0),
                ("revoked", 0),
                ("rotated", 0),
            ],
            ..Default::default()
        }));
        let text = m.render(&scrape, Format::Text).expect("render");
        for line in [
            "# TYPE lgmesh_manifests_accepted_total counter",
            "lgmesh_manifests_accepted_total{source=\"local\"} 1",
            "lgmesh_manifests_accepted_total{source=\"submit\"} 0",
            "lgmesh_manifests_rejected_total{reason=\"retracted\"} 1",
            "lgmesh_manifests_duplicate_total 1",
            "lgmesh_net_manifests_stored_total{path=\"gossip\"} 1",
            "lgmesh_net_manifests_rejected_total{path=\"sync\",reason=\"signature\"} 1",
            "lgmesh_grpc_requests_total 1",
            "lgmesh_grpc_errors_total 1",
            "# TYPE lgmesh_uptime_seconds gauge",
            "lgmesh_store_heads 8",
            "lgmesh_publishers{state=\"verified\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
        assert!(text.contains("\nlgmesh_build_info{version=\""), "{text}");
        assert!(
            !text.contains("# EOF") && !text.contains("# UNIT"),
            "{text}"
        );

        let om = m.render(&scrape, Format::OpenMetrics).expect("render");
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert!(
            om.contains("# TYPE lgmesh_manifests_accepted counter\n"),
            "{om}"
        );
        assert!(
            om.contains("# UNIT lgmesh_uptime_seconds seconds\n"),
            "{om}"
        );
        assert!(
            om.contains("\nlgmesh_manifests_duplicate_total 1\n"),
            "{om}"
        );
    }

    /// libp2p's families join the same exposition once the network has them.
    #[test]
    fn libp2p_families_are_registered_beside_ours_once() {
        let m = Metrics::default();
        let _a = m.libp2p();
        let _b = m.libp2p();
        let text = m
            .render(&Registry::default(), Format::Text)
            .expect("render");
        // Empty families are left out until libp2p records something; the node's are
        // always there.
        assert!(text.contains("lgmesh_searches_total 0"), "{text}");
        assert_eq!(text.matches("# TYPE lgmesh_searches_total").count(), 1);
    }
}
