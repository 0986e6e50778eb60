//! `lgmesh run`: [`start`] builds the node (store, intake, tasks, domain checker,
//! network, App, listeners) and starts serving it, returning what it started
//! ([`Started`]); [`run`] serves until SIGINT/SIGTERM, then [`Started::shutdown`] stops
//! it in order: stop accepting, stop the network, flush the store, within a deadline.
//!
//! Everything the node runs goes through one [`Tasks`] and runs in the node's root span,
//! `node{org=…}`, so each line it logs names the organisation (the demo runs several
//! councils in one process).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use lgmesh_proto::v1::{
    self, node_server::NodeServer, registry_server::RegistryServer, trust_server::TrustServer,
};
use lgmesh_protocol::identity::SecretKey;
use lgmesh_registry::Registry;
use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::app::{App, Parts};
use crate::config::Config;
use crate::datadir::{DataDir, Running, peer_id, write_atomic};
use crate::domain::{Checker, Proofs};
use crate::grpc::{Access, NodeService, RegistryService, TrustService};
use crate::intake::Intake;
use crate::listener::{Incoming, Which};
use crate::metrics::Metrics;
use crate::tasks::Tasks;

/// Everything `run` needs, after flags and config are merged.
pub struct RunOptions {
    /// The data directory.
    pub dir: DataDir,
    /// The merged config.
    pub config: Config,
}

/// The one budget [`run`] gives the node to stop accepting, end its tasks and stop its
/// network, shared by the three steps; the network may run over it by up to
/// [`NETWORK_STOP_AT_LEAST`], and the store is flushed after, even when it ran out.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);
/// What the network gets to stop when the steps before it used up the deadline: enough
/// to settle its gossip ingest, so that nothing writes after the last flush.
pub const NETWORK_STOP_AT_LEAST: Duration = Duration::from_secs(2);

/// What [`start`] started: a node that serves until [`Started::stop`], then stops in
/// order in [`Started::shutdown`].
pub struct Started {
    /// gRPC address bound.
    pub grpc: SocketAddr,
    /// HTTP address bound.
    pub http: SocketAddr,
    /// The gRPC address as clients give it: `https://HOST:PORT` when it serves TLS.
    pub grpc_url: String,
    /// The web interface's URL, `https://` when it serves TLS.
    pub web_url: String,
    /// The node's domain layer (for in-process use: the demo, tests).
    pub app: Arc<App>,
    /// The node's network handle.
    pub net: lgmesh_net::Network,
    /// Every task the node runs, and the signal that stops them.
    tasks: Tasks,
    /// The listeners' servers, which stop accepting when the node stops.
    servers: Vec<Server>,
    /// Where `node.json` and the admin socket are, to remove them at the end.
    dir: DataDir,
    /// The node's root span: shutdown logs in it too.
    span: tracing::Span,
}

/// One listener's server, as a task of the node.
struct Server {
    /// Which: for errors.
    what: &'static str,
    handle: JoinHandle<Result<()>>,
}

/// Builds the node and starts serving it; returns once every listener is bound, the
/// network is up and `node.json` is written. Everything it starts runs in the node's
/// root span, `node{org=…}`.
pub async fn start(o: RunOptions) -> Result<Started> {
    // At ERROR level so that it is enabled whenever any line the node logs is: under the
    // CLI's `warn` filter (the demo) an INFO span would be left out, and its councils'
    // warnings with it would no longer say which council.
    let org = if o.config.org.observer {
        "observer"
    } else {
        o.config.org.id.as_str()
    };
    let span = tracing::error_span!("node", org = %org);
    build(o, span.clone()).instrument(span).await
}

async fn build(o: RunOptions, span: tracing::Span) -> Result<Started> {
    let RunOptions { dir, config } = o;
    config.check()?;
    let (grpc_addr, http_addr) = config.listen_addrs()?;
    let certs = tls_for(&config)?;
    // An observer signs nothing: it needs no organisation key, and reads none.
    let key = if config.org.observer {
        None
    } else {
        Some(dir.load_publisher_key()?)
    };
    let node_key = dir.load_node_key()?;
    let token = dir.load_admin_token()?;
    let registry = open_store(&dir, &config, key.as_ref().map(SecretKey::public)).await?;
    let tasks = Tasks::new();
    let metrics = Arc::new(Metrics::default());
    let intake = Arc::new(Intake::new(registry, metrics.clone()));
    let proofs = Proofs::new(
        Arc::new(Checker::new(&config.trust)?),
        intake.clone(),
        tasks.clone(),
    );
    let node_id = peer_id(&node_key);
    let mut net_config = config.network.to_net(config.manifests.max_manifest_bytes)?;
    net_config.metrics = metrics.libp2p();
    let keypair = lgmesh_net::keypair_from_seed(*node_key.to_seed())?;
    // Started in the node's span, so that the network's tasks can run in it too.
    let net = lgmesh_net::Network::start(
        keypair,
        net_config,
        lgmesh_net::TransportKind::Real,
        intake.clone(),
    )
    .await
    .context("cannot start the peer-to-peer network")?;
    let app = Arc::new(App::from_parts(Parts {
        key,
        config: config.clone(),
        metrics,
        intake,
        tasks: tasks.clone(),
        net: Some(net.clone()),
        domain: Some(proofs.clone()),
    }));
    let served = async {
        if !config.org.observer {
            app.ensure_org_card(&node_id)
                .await
                .map_err(|e| anyhow!("org card: {e}"))?;
        }
        let grpc_listener = TcpListener::bind(grpc_addr)
            .await
            .with_context(|| format!("cannot bind gRPC on {grpc_addr}"))?;
        let http_listener = TcpListener::bind(http_addr)
            .await
            .with_context(|| format!("cannot bind HTTP on {http_addr}"))?;
        // TLS where the address is beyond loopback (or everywhere, with tls.on_loopback).
        let tls_for = |addr: SocketAddr, alpn: &[&[u8]]| match &certs {
            Some(c) if config.tls.applies_to(&addr) => c.server_config(alpn).map(Some),
            _ => Ok(None),
        };
        let metrics = app.metrics().clone();
        let grpc_incoming = Incoming::start(
            grpc_listener,
            tls_for(grpc_addr, &[b"h2"])?,
            Which::Grpc,
            metrics.clone(),
            &tasks,
        )?;
        let http_incoming = Incoming::start(
            http_listener,
            tls_for(http_addr, &[b"http/1.1"])?,
            Which::Http,
            metrics,
            &tasks,
        )?;
        let grpc = grpc_incoming.local_addr();
        let http = http_incoming.local_addr();
        let admin_listener = bind_admin_socket(&dir.admin_socket())?;
        // An observer speaks for no organisation, even when run on a council's data dir.
        let (org_id, org_name) = if config.org.observer {
            (String::new(), String::new())
        } else {
            (config.org.id.clone(), config.org.name.clone())
        };
        let info = v1::InfoResponse {
            org_id,
            org_name,
            publisher: app.publisher().map(|p| p.to_string()).unwrap_or_default(),
            observer: config.org.observer,
            node_id,
            grpc_addr: grpc.to_string(),
            http_addr: http.to_string(),
            http_tls: certs.is_some() && config.tls.applies_to(&http),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            development_identity: config.org.development && !config.org.observer,
            network: config.network.name.clone(),
            ..Default::default()
        };
        let snaps = crate::web::snapshot::Snapshots::new(Some(dir.observatory_history()));
        let servers = serve(
            &app,
            &snaps,
            &info,
            &token,
            &span,
            Listeners {
                grpc: grpc_incoming,
                http: http_incoming,
                admin: admin_listener,
            },
        )
        .await?;
        anyhow::Ok((grpc, http, servers, snaps))
    }
    .await;
    let (grpc, http, servers, snaps) = match served {
        Ok(s) => s,
        Err(e) => {
            // Nothing is left running behind a failed start.
            tasks.stop();
            net.shutdown().await;
            tasks.wait().await;
            return Err(e);
        }
    };

    if !config.org.observer {
        let window = config.manifests.renew_days_before.saturating_mul(DAY_MS);
        tasks.spawn(renew_own(app.clone(), window));
    }
    tasks.spawn(sweep_expired(app.clone()));
    let tls_on = |addr: &SocketAddr| certs.is_some() && config.tls.applies_to(addr);
    let web = format!("{}://{http}/", if tls_on(&http) { "https" } else { "http" });
    // As `--grpc` takes it: https:// when TLS, else HOST:PORT.
    let grpc_url = if tls_on(&grpc) {
        format!("https://{grpc}")
    } else {
        grpc.to_string()
    };
    if let Some(certs) = certs {
        app.metrics().tls_serving(certs.not_after());
        let every = Duration::from_secs(config.tls.reload_secs);
        tasks.spawn(crate::tls::watch(
            certs,
            every,
            app.metrics().clone(),
            tasks.clone(),
        ));
    }
    tasks.spawn(proofs.run());
    tasks.spawn(snaps.run(app.clone()));

    let running = Running {
        grpc,
        http,
        pid: std::process::id(),
    };
    write_atomic(&dir.node_json(), &serde_json::to_string_pretty(&running)?)?;
    match app.publisher() {
        Some(p) => {
            tracing::info!(grpc = %grpc_url, %web, publisher = %p, network = %config.network.name, "serving")
        }
        None => {
            tracing::info!(grpc = %grpc_url, %web, network = %config.network.name, "serving as an observer")
        }
    }
    Ok(Started {
        grpc,
        http,
        grpc_url,
        web_url: web,
        app,
        net,
        tasks,
        servers,
        dir,
        span,
    })
}

/// Opens the store in `dir` with `config`'s limits and trust settings, with the
/// organisation's own key `own` trusted (an observer has none).
async fn open_store(
    dir: &DataDir,
    config: &Config,
    own: Option<lgmesh_protocol::identity::PublisherKey>,
) -> Result<Arc<Registry>> {
    let store_dir = dir.store();
    let limits = config.limits();
    let cache = config.store.cache_mb.saturating_mul(1024 * 1024);
    // Not yet one of the node's tasks: there is no node until the store opens.
    let registry =
        tokio::task::spawn_blocking(move || Registry::open_with_cache(&store_dir, limits, cache))
            .await?
            .with_context(|| format!("cannot open the store in {}", dir.store().display()))?;
    if let Some(from) = registry.migrated_from() {
        tracing::info!(
            from,
            to = lgmesh_registry::FORMAT_VERSION,
            "store migrated to the current format"
        );
    }
    registry.set_endorsements_required(config.trust.endorsements_required);
    registry.set_quota(config.trust.quota());
    let Some(own) = own else {
        return Ok(Arc::new(registry));
    };
    // The operator trusts their own organisation's key.
    let org = config.org.id.clone();
    let registry =
        tokio::task::spawn_blocking(move || registry.trust_add(&own, &org).map(|()| registry))
            .await?
            .context("cannot record this node's own key as trusted")?;
    Ok(Arc::new(registry))
}

/// The listeners, bound.
struct Listeners {
    grpc: Incoming,
    http: Incoming,
    admin: UnixListener,
}

/// The certificate the listeners serve, when `[tls]` names one (a bind beyond loopback
/// without it was refused by [`Config::check`]). Its names and expiry are logged.
fn tls_for(config: &Config) -> Result<Option<Arc<crate::tls::Certs>>> {
    let Some(files) = config.tls.files()? else {
        return Ok(None);
    };
    let certs = crate::tls::Certs::load(files)?;
    let s = crate::tls::inspect(certs.files())?;
    let days = s.days_left(crate::tls::now_secs());
    if days < 0 {
        tracing::warn!(names = %s.names.join(", "), "the TLS certificate has expired: clients will refuse it");
    } else {
        tracing::info!(names = %s.names.join(", "), days_left = days, "TLS certificate loaded");
    }
    Ok(Some(certs))
}

/// Serves the gRPC services on TCP and on the admin socket, and HTTP, each as a task of
/// the node that stops accepting when the node stops. Every gRPC call runs in a span of
/// its own under `node` ([`crate::grpc::call_span`]).
async fn serve(
    app: &Arc<App>,
    snaps: &Arc<crate::web::snapshot::Snapshots>,
    info: &v1::InfoResponse,
    token: &str,
    node: &tracing::Span,
    l: Listeners,
) -> Result<Vec<Server>> {
    let tasks = app.tasks();
    let config = app.config();
    let max = config.grpc.max_request_bytes;
    // The same services on two listeners: TCP (reads for anyone who can reach it, writes
    // with the admin token) and the admin socket (everything, for whoever can open it).
    let services = |access: Access| {
        let registry = RegistryServer::new(RegistryService::new(app.clone(), access.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(16 * 1024 * 1024);
        let node = NodeServer::new(NodeService::new(app.clone(), info.clone(), access.clone()));
        let trust = TrustServer::new(TrustService::new(app.clone(), access));
        (registry, node, trust)
    };
    let (health_reporter, health_svc) = tonic_health::server::health_reporter();
    for name in SERVED {
        health_reporter
            .set_service_status(name, tonic_health::ServingStatus::Serving)
            .await;
    }
    tasks.spawn(health_until_stop(health_reporter, tasks.clone()));
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(lgmesh_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("reflection")
    };
    let grpc_server = || {
        let node = node.clone();
        tonic::transport::Server::builder()
            .concurrency_limit_per_connection(config.grpc.max_concurrent_per_connection)
            .max_concurrent_streams(Some(256))
            .timeout(Duration::from_secs(30))
            // A connection whose client has gone (a cut link, a crashed client) is
            // noticed and closed, giving back its place (`listener::MAX_CONNECTIONS`).
            .http2_keepalive_interval(Some(Duration::from_secs(60)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)))
            .trace_fn(move |req| crate::grpc::call_span(&node, req))
    };

    let tcp = {
        let (registry, node, trust) = services(Access::Token {
            token: token.to_owned(),
            tls: l.grpc.is_tls(),
        });
        let incoming = l.grpc.into_stream();
        grpc_server()
            .add_service(health_svc.clone())
            .add_service(reflection()?)
            .add_service(registry)
            .add_service(node)
            .add_service(trust)
            .serve_with_incoming_shutdown(incoming, tasks.stop_token().cancelled_owned())
    };
    let admin = {
        let (registry, node, trust) = services(Access::Socket);
        let incoming = tokio_stream::wrappers::UnixListenerStream::new(l.admin);
        grpc_server()
            .add_service(health_svc)
            .add_service(reflection()?)
            .add_service(registry)
            .add_service(node)
            .add_service(trust)
            .serve_with_incoming_shutdown(incoming, tasks.stop_token().cancelled_owned())
    };
    let web = crate::web::router(crate::web::Web::new(
        app.clone(),
        snaps.clone(),
        l.http.local_addr(),
        l.http.is_tls(),
    ));
    let router = crate::http::router(app.clone(), node.clone(), web);
    // `tap_io` (which does nothing here) is what gives a listener of our own the
    // caller's address as `ConnectInfo<SocketAddr>`.
    use axum::serve::ListenerExt;
    let http = axum::serve(
        l.http.tap_io(|_| {}),
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(tasks.stop_token().cancelled_owned())
    .into_future();
    Ok(vec![
        spawn_server(tasks, "gRPC server", tcp),
        spawn_server(tasks, "gRPC admin socket", admin),
        spawn_server(tasks, "HTTP server", http),
    ])
}

/// The names the health service answers for: the server as a whole, and each service.
const SERVED: [&str; 4] = {
    use tonic::server::NamedService;
    [
        "",
        <RegistryServer<RegistryService> as NamedService>::NAME,
        <NodeServer<NodeService> as NamedService>::NAME,
        <TrustServer<TrustService> as NamedService>::NAME,
    ]
};

/// Runs `serve` as a task of the node. A server that fails stops the node: half a node
/// (gossiping, but not answering) would look alive to whoever watches it.
fn spawn_server<E>(
    tasks: &Tasks,
    what: &'static str,
    serve: impl Future<Output = Result<(), E>> + Send + 'static,
) -> Server
where
    E: std::error::Error + Send + Sync + 'static,
{
    let stop = tasks.clone();
    let handle = tasks.spawn(async move {
        let r = serve.await.context(what);
        if let Err(e) = &r {
            tracing::error!("{e:#}; stopping the node");
            stop.stop();
        }
        r
    });
    Server { what, handle }
}

/// Serving until the node stops; then NOT_SERVING, and each status cleared. A health
/// Watch (a load balancer's or orchestrator's probe) hears NOT_SERVING when the node
/// stops, then its stream ends: left open, it held the graceful stop for the whole
/// deadline and the node exited with an error.
#[tracing::instrument(name = "health", skip_all)]
async fn health_until_stop(mut reporter: tonic_health::server::HealthReporter, tasks: Tasks) {
    tasks.stopping().await;
    for name in SERVED {
        reporter
            .set_service_status(name, tonic_health::ServingStatus::NotServing)
            .await;
        reporter.clear_service_status(name).await;
    }
}

impl Started {
    /// Begins the shutdown: the listeners stop accepting and every task of the node is
    /// told to stop. Idempotent; [`Started::shutdown`] completes it.
    pub fn stop(&self) {
        self.tasks.stop();
    }

    /// The node's root span, `node{org=…}`: for what is done to the node from outside
    /// its tasks (the demo publishing in-process), so that its lines still say whose.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Completes once the shutdown has begun: [`Started::stop`], or a server that
    /// failed. Cancel-safe.
    pub async fn stopping(&self) {
        self.tasks.stopping().await;
    }

    /// Stops the node, in order:
    ///
    /// 1. stop accepting: the gRPC (TCP and admin socket) and HTTP servers finish their
    ///    open calls and close, `Watch` streams end, and every task of the node ends,
    ///    with the store work it started; nothing local writes any more;
    /// 2. stop the network, which drains what it has taken in from peers into the store;
    /// 3. flush the store, then remove `node.json` and the admin socket.
    ///
    /// Steps 1 and 2 get `deadline`; the flush runs even when that ran out, since it is
    /// what makes the network's last writes durable. An error says which server failed,
    /// or that the deadline passed.
    pub async fn shutdown(self, deadline: Duration) -> Result<()> {
        let Started {
            app,
            net,
            tasks,
            servers,
            dir,
            span,
            ..
        } = self;
        async move {
            tracing::info!("shutting down");
            let began = tokio::time::Instant::now();
            tasks.stop();
            let stopped = tokio::time::timeout(deadline, async {
                let mut failed = vec![];
                for s in servers {
                    match s.handle.await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => failed.push(e),
                        Err(e) => failed.push(anyhow!("{}: {e}", s.what)),
                    }
                }
                tracing::info!("stopped accepting: gRPC, the admin socket and HTTP are closed");
                tasks.wait().await;
                tracing::info!("the node's tasks have ended");
                failed
            })
            .await;
            let mut failed = stopped.unwrap_or_else(|_| {
                tracing::warn!(
                    "shutdown took longer than {} s; stopping the network and flushing the store anyway",
                    deadline.as_secs()
                );
                vec![anyhow!(
                    "shutdown took longer than {} s; stopped anyway (the store was flushed)",
                    deadline.as_secs()
                )]
            });
            // The network gets what is left of the deadline, and at least a little
            // whatever the steps before it took: left running, its gossip ingest would
            // go on writing after the flush below.
            let left = deadline
                .saturating_sub(began.elapsed())
                .max(NETWORK_STOP_AT_LEAST);
            match tokio::time::timeout(left, net.shutdown()).await {
                Ok(()) => tracing::info!("network stopped"),
                Err(_) => {
                    tracing::warn!("the network did not stop within {} ms", left.as_millis());
                    failed.push(anyhow!(
                        "the network did not stop within {} ms",
                        left.as_millis()
                    ));
                }
            }
            let reg = app.registry().clone();
            let flushed = tasks.spawn_blocking(move || reg.flush()).await;
            match flushed {
                Ok(Ok(())) => tracing::info!("store flushed"),
                Ok(Err(e)) => failed.insert(0, anyhow!(e).context("cannot flush the store")),
                Err(e) => failed.insert(0, anyhow!("flushing the store: {e}")),
            }
            let _ = std::fs::remove_file(dir.node_json());
            let _ = std::fs::remove_file(dir.admin_socket());
            tracing::info!("stopped");
            match failed.into_iter().next() {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
        .instrument(span)
        .await
    }
}

/// Listens on the admin socket at `path`, which only this user can open (mode 0600).
///
/// A socket file left by a node that died is replaced; one that another running node
/// answers on is not (two nodes on one data dir would corrupt the store). The socket is
/// bound inside a new directory only this user can enter, made private there, then
/// moved into place, so no other user can connect to it in between.
fn bind_admin_socket(path: &std::path::Path) -> Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        bail!(
            "another node is running on this data dir (it answers on {}); stop it first",
            path.display()
        );
    }
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let private = dir.join(format!(".admin-{}", std::process::id()));
    let staged = private.join("s");
    // sockaddr_un holds 107 bytes of path.
    for p in [path, staged.as_path()] {
        if p.as_os_str().len() > 107 {
            bail!(
                "the admin socket path {} is longer than the 107 bytes a Unix socket allows: use a shorter --data-dir",
                p.display()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .with_context(|| format!("cannot create {}", private.display()))?;
    let bound = (|| -> Result<tokio::net::UnixListener> {
        let l = tokio::net::UnixListener::bind(&staged)
            .with_context(|| format!("cannot listen on {}", staged.display()))?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&staged, path)
            .with_context(|| format!("cannot create the admin socket {}", path.display()))?;
        Ok(l)
    })();
    let _ = std::fs::remove_dir_all(&private);
    bound
}

/// How often expired heads of unverified publishers are swept away.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Sweeps away, every [`SWEEP_EVERY`], the expired heads of publishers this node does
/// not verify (`Registry::sweep_expired`): what they may store here is what is current.
#[tracing::instrument(name = "sweeper", skip_all)]
async fn sweep_expired(app: Arc<App>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = app.tasks().stopping() => return,
        }
        let reg = app.registry().clone();
        match app
            .blocking(move || reg.sweep_expired(lgmesh_protocol::now_ms()))
            .await
        {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::debug!(
                names = n,
                "swept expired manifests of unverified publishers"
            ),
            Ok(Err(e)) => tracing::warn!("sweeping expired manifests failed (will retry): {e}"),
            Err(_) => return,
        }
    }
}

/// How often the node looks for its own manifests that are due for renewal.
const RENEW_CHECK: Duration = Duration::from_secs(60 * 60);
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// Renews, every [`RENEW_CHECK`], this node's own manifests that expire within `window`
/// milliseconds ([`App::renew_due`]).
#[tracing::instrument(name = "renewer", skip_all)]
async fn renew_own(app: Arc<App>, window: u64) {
    let mut every = tokio::time::interval(RENEW_CHECK);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = app.tasks().stopping() => return,
        }
        if let Err(e) = app.renew_due(lgmesh_protocol::now_ms(), window).await {
            tracing::warn!("renewing this node's manifests failed (will retry): {e}");
        }
    }
}

/// Runs until SIGINT or SIGTERM (or a server fails), then stops in order within
/// [`SHUTDOWN_DEADLINE`].
pub async fn run(o: RunOptions) -> Result<()> {
    // SIGHUP (`systemctl reload lgmesh`) must never end the node, whatever the stage
    // and whether or not it serves TLS: handled from the very start. The certificate's
    // watch (`tls::watch`) hears it too.
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        let tls = o.config.tls.files().ok().flatten().is_some();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                if !tls {
                    tracing::info!(
                        "SIGHUP: no TLS certificate to reload; nothing else is reloaded (restart for config changes)"
                    );
                }
            }
        });
    }
    let alone = o.config.network.bootstrap.is_empty() && !o.config.network.mdns;
    let node = start(o).await?;
    if alone {
        eprintln!(
            "lgmesh: no bootstrap peers (network.bootstrap, or --bootstrap): this node joins \
             a federation only when another node dials it (`lgmesh info` prints its address)."
        );
    }
    eprintln!(
        "lgmesh: gRPC on {}, web on {} (health /healthz, metrics /metrics). Ctrl-C to stop.",
        node.grpc_url, node.web_url
    );
    tokio::select! {
        _ = wait_for_signal() => {}
        _ = node.stopping() => {}
    }
    node.shutdown(SHUTDOWN_DEADLINE).await
}

pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
