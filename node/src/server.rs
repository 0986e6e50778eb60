//! `lgmesh run`: open the store, bind gRPC and HTTP, write `node.json`, serve until
//! SIGINT/SIGTERM, then stop accepting, flush the store and remove `node.json`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use lgmesh_proto::v1::{
    self, node_server::NodeServer, registry_server::RegistryServer, trust_server::TrustServer,
};
use lgmesh_registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::{Config, DataDir, Running, peer_id, write_atomic};
use crate::grpc::{Access, NodeService, RegistryService, TrustService};

/// Everything `run` needs, after flags and config are merged.
pub struct RunOptions {
    /// The data directory.
    pub dir: DataDir,
    /// The merged config.
    pub config: Config,
}

/// A running node (for tests and for `run`).
pub struct Started {
    /// gRPC address bound.
    pub grpc: SocketAddr,
    /// HTTP address bound.
    pub http: SocketAddr,
    /// Cancel to stop.
    pub shutdown: CancellationToken,
    /// Finishes when everything has stopped and the store is flushed.
    pub done: tokio::task::JoinHandle<Result<()>>,
    /// The node's state (for in-process use: the demo, tests).
    pub app: Arc<App>,
    /// The node's network handle.
    pub net: lgmesh_net::Network,
}

/// Starts the node; returns once both listeners are bound.
pub async fn start(o: RunOptions) -> Result<Started> {
    let RunOptions { dir, config } = o;
    let grpc_addr: SocketAddr = config
        .grpc
        .addr
        .parse()
        .with_context(|| format!("grpc address {:?}", config.grpc.addr))?;
    let http_addr: SocketAddr = config
        .http
        .addr
        .parse()
        .with_context(|| format!("http address {:?}", config.http.addr))?;
    if !grpc_addr.ip().is_loopback() && !config.grpc.allow_remote {
        bail!(
            "grpc address {grpc_addr} is not loopback: the API has no TLS yet; pass --allow-remote-grpc (or set grpc.allow_remote) if a proxy terminates TLS in front of it"
        );
    }
    let key = dir.load_publisher_key()?;
    let node_key = dir.load_node_key()?;
    let token = dir.load_admin_token()?;
    let store_dir = dir.store();
    let limits = config.limits();
    let cache = config.store.cache_mb.saturating_mul(1024 * 1024);
    let registry =
        tokio::task::spawn_blocking(move || Registry::open_with_cache(&store_dir, limits, cache))
            .await?
            .with_context(|| format!("cannot open the store in {}", dir.store().display()))?;
    config.trust.check()?;
    config.manifests.check()?;
    registry.set_endorsements_required(config.trust.endorsements_required);
    registry.set_quota(config.trust.quota());
    // The operator trusts their own organisation's key.
    let own = key.public();
    let org = config.org.id.clone();
    let registry =
        tokio::task::spawn_blocking(move || registry.trust_add(&own, &org).map(|()| registry))
            .await?
            .context("cannot record this node's own key as trusted")?;
    let app = Arc::new(App::new(Arc::new(registry), key, config.clone()));
    let checker = Arc::new(crate::domain::Checker::new(&config.trust)?);
    let _ = app.domain.set(checker.clone());
    let node_id = peer_id(&node_key);
    let mut net_config = config.network.to_net(config.manifests.max_manifest_bytes)?;
    net_config.metrics = app.metrics.libp2p();
    let keypair = lgmesh_net::keypair_from_seed(*node_key.to_seed())?;
    let net = lgmesh_net::Network::start(
        keypair,
        net_config,
        lgmesh_net::TransportKind::Real,
        app.intake.clone(),
    )
    .await
    .context("cannot start the peer-to-peer network")?;
    let _ = app.net.set(net.clone());
    app.ensure_org_card(&node_id)
        .await
        .map_err(|e| anyhow::anyhow!("org card: {e}"))?;

    let grpc_listener = TcpListener::bind(grpc_addr)
        .await
        .with_context(|| format!("cannot bind gRPC on {grpc_addr}"))?;
    let http_listener = TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("cannot bind HTTP on {http_addr}"))?;
    let grpc = grpc_listener.local_addr()?;
    let http = http_listener.local_addr()?;
    let admin_listener = bind_admin_socket(&dir.admin_socket())?;

    let info = v1::InfoResponse {
        org_id: config.org.id.clone(),
        org_name: config.org.name.clone(),
        publisher: app.publisher().to_string(),
        node_id,
        grpc_addr: grpc.to_string(),
        http_addr: http.to_string(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        development_identity: config.org.development,
        network: config.network.name.clone(),
        ..Default::default()
    };
    let max = config.grpc.max_request_bytes;
    let shutdown = CancellationToken::new();
    // The same services on two listeners: TCP (reads for anyone who can reach it, writes
    // with the admin token) and the admin socket (everything, for whoever can open it).
    let services = |access: Access| {
        let registry = RegistryServer::new(RegistryService::new(
            app.clone(),
            access.clone(),
            shutdown.clone(),
        ))
        .max_decoding_message_size(max)
        .max_encoding_message_size(16 * 1024 * 1024);
        let node = NodeServer::new(NodeService::new(
            app.clone(),
            info.clone(),
            net.clone(),
            access.clone(),
        ));
        let trust = TrustServer::new(TrustService::new(app.clone(), access));
        (registry, node, trust)
    };
    let (health_reporter, health_svc) = tonic_health::server::health_reporter();
    let served = {
        use tonic::server::NamedService;
        [
            "",
            <RegistryServer<RegistryService> as NamedService>::NAME,
            <NodeServer<NodeService> as NamedService>::NAME,
            <TrustServer<TrustService> as NamedService>::NAME,
        ]
    };
    for name in served {
        health_reporter
            .set_service_status(name, tonic_health::ServingStatus::Serving)
            .await;
    }
    {
        // A health Watch (a load balancer's or orchestrator's probe) hears NOT_SERVING
        // when the node stops, then its stream ends: left open, it held the graceful
        // stop for the whole 10 s and the node exited with an error.
        let mut reporter = health_reporter;
        let stop = shutdown.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            for name in served {
                reporter
                    .set_service_status(name, tonic_health::ServingStatus::NotServing)
                    .await;
                reporter.clear_service_status(name).await;
            }
        });
    }
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(lgmesh_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("reflection")
    };
    let grpc_server = || {
        tonic::transport::Server::builder()
            .concurrency_limit_per_connection(config.grpc.max_concurrent_per_connection)
            .max_concurrent_streams(Some(256))
            .timeout(Duration::from_secs(30))
    };

    let incoming =
        tonic::transport::server::TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
    let grpc_task = {
        let stop = shutdown.clone();
        let (registry, node, trust) = services(Access::Token(token.clone()));
        tokio::spawn(
            grpc_server()
                .add_service(health_svc.clone())
                .add_service(reflection()?)
                .add_service(registry)
                .add_service(node)
                .add_service(trust)
                .serve_with_incoming_shutdown(incoming, async move { stop.cancelled().await }),
        )
    };
    let admin_task = {
        let stop = shutdown.clone();
        let (registry, node, trust) = services(Access::Socket);
        let incoming = tokio_stream::wrappers::UnixListenerStream::new(admin_listener);
        tokio::spawn(
            grpc_server()
                .add_service(health_svc)
                .add_service(reflection()?)
                .add_service(registry)
                .add_service(node)
                .add_service(trust)
                .serve_with_incoming_shutdown(incoming, async move { stop.cancelled().await }),
        )
    };
    let http_task = {
        let stop = shutdown.clone();
        let router = crate::http::router(app.clone());
        tokio::spawn(async move {
            axum::serve(http_listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        })
    };

    {
        let stop = shutdown.clone();
        let app = app.clone();
        let window = config.manifests.renew_days_before.saturating_mul(DAY_MS);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RENEW_CHECK);
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = stop.cancelled() => return,
                }
                if let Err(e) = app.renew_due(lgmesh_protocol::now_ms(), window).await {
                    tracing::warn!("renewing this node's manifests failed (will retry): {e}");
                }
            }
        });
    }

    tokio::spawn(crate::domain::run(app.clone(), checker, shutdown.clone()));
    tokio::spawn(sweep_expired(app.clone(), shutdown.clone()));

    let running = Running {
        grpc,
        http,
        pid: std::process::id(),
    };
    write_atomic(&dir.node_json(), &serde_json::to_string_pretty(&running)?)?;
    tracing::info!(%grpc, %http, org = %config.org.id, publisher = %app.publisher(), network = %config.network.name, "serving");

    let (app_out, net_out) = (app.clone(), net.clone());
    let done = tokio::spawn(async move {
        let (g, a, h) = tokio::join!(grpc_task, admin_task, http_task);
        net.shutdown().await;
        // Teardown in order: servers have stopped accepting; flush the store; remove
        // node.json and the admin socket.
        let reg = app.registry.clone();
        tokio::task::spawn_blocking(move || reg.flush()).await??;
        let _ = std::fs::remove_file(dir.node_json());
        let _ = std::fs::remove_file(dir.admin_socket());
        g?.context("gRPC server")?;
        a?.context("gRPC admin socket")?;
        h?.context("HTTP server")?;
        Ok(())
    });
    Ok(Started {
        grpc,
        http,
        shutdown,
        done,
        app: app_out,
        net: net_out,
    })
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
async fn sweep_expired(app: Arc<App>, stop: CancellationToken) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.cancelled() => return,
        }
        let reg = app.registry.clone();
        match tokio::task::spawn_blocking(move || reg.sweep_expired(lgmesh_protocol::now_ms()))
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

/// Runs until SIGINT or SIGTERM, then stops within a deadline.
pub async fn run(o: RunOptions) -> Result<()> {
    let alone = o.config.network.bootstrap.is_empty() && !o.config.network.mdns;
    let started = start(o).await?;
    if alone {
        eprintln!(
            "lgmesh: no bootstrap peers (network.bootstrap, or --bootstrap): this node joins \
             a federation only when another node dials it (`lgmesh info` prints its address)."
        );
    }
    eprintln!(
        "lgmesh: gRPC on {}, HTTP on {} (health /healthz, metrics /metrics). Ctrl-C to stop.",
        started.grpc, started.http
    );
    let mut done = started.done;
    tokio::select! {
        r = &mut done => return r?,
        _ = wait_for_signal() => {}
    }
    tracing::info!("shutting down");
    started.shutdown.cancel();
    // Every acknowledged write was flushed already; the deadline only bounds waiting
    // for open calls to finish.
    match tokio::time::timeout(Duration::from_secs(10), done).await {
        Ok(r) => r?,
        Err(_) => bail!(
            "shutdown took longer than 10 s; stopped anyway (acknowledged writes are on disk)"
        ),
    }
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
