//! `lgmesh doctor`: checks a node's set-up and says, in plain words, what is wrong and
//! what to do. Works on a stopped node (the files, the ports, the store) and checks
//! more through a running one (bootstrap peers and their network, the domain proof,
//! manifests refused for their time).
//!
//! Exit code: 0 when all is well, 1 with warnings, 2 with errors.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use lgmesh_proto::v1::{self, node_client::NodeClient, trust_client::TrustClient};
use serde_json::json;
use tonic::transport::Channel;

use super::super::args::{DoctorArgs, OutputArgs};
use super::connect;
use crate::config::Config;
use crate::datadir::DataDir;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    /// Not checked (and why).
    Skip,
    Ok,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Skip => "skip",
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// One thing found.
struct Finding {
    check: &'static str,
    level: Level,
    what: String,
    /// What to do about it.
    fix: Option<String>,
}

#[derive(Default)]
struct Report(Vec<Finding>);

impl Report {
    fn add(&mut self, check: &'static str, level: Level, what: impl Into<String>) {
        self.0.push(Finding {
            check,
            level,
            what: what.into(),
            fix: None,
        });
    }

    fn fix(
        &mut self,
        check: &'static str,
        level: Level,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.0.push(Finding {
            check,
            level,
            what: what.into(),
            fix: Some(fix.into()),
        });
    }

    fn count(&self, level: Level) -> usize {
        self.0.iter().filter(|f| f.level == level).count()
    }
}

/// Free space below this is an error: the store cannot take a day's updates.
const DISK_ERROR_BYTES: u64 = 100 << 20;
/// And below this, a warning.
const DISK_WARN_BYTES: u64 = 1 << 30;
/// A certificate expiring sooner is a warning.
const CERT_WARN_DAYS: i64 = 14;
/// A clock this far off another is worth a warning (the error is the configured skew).
const CLOCK_WARN_SECS: i64 = 30;

pub async fn doctor(dir: &DataDir, a: DoctorArgs) -> Result<()> {
    let mut r = Report::default();
    if let Some(config) = check_config(dir, &mut r) {
        check_files(dir, &config, &mut r);
        let node = running(dir, &mut r).await;
        check_ports(dir, &config, node.as_ref(), &mut r).await;
        check_tls(&config, &mut r);
        check_store(dir, node.as_ref(), &mut r).await;
        check_disk(dir, &mut r);
        check_bootstrap(&config, node.as_ref(), &mut r).await;
        check_clock(&config, node.as_ref(), &mut r).await;
        check_domain(dir, &config, node.as_ref(), &mut r).await;
    }
    let (errors, warnings) = (r.count(Level::Error), r.count(Level::Warn));
    if a.json {
        let findings: Vec<_> = r
            .0
            .iter()
            .map(|f| json!({"check": f.check, "level": f.level.as_str(), "message": f.what, "fix": f.fix}))
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"findings": findings, "errors": errors, "warnings": warnings})
            )?
        );
    } else {
        for f in &r.0 {
            out!("{:<5}  {:<9}  {}", f.level.as_str(), f.check, f.what);
            if let Some(fix) = &f.fix {
                out!("{:<5}  {:<9}  → {}", "", "", fix);
            }
        }
        out!();
        out!(
            "{}",
            match (errors, warnings) {
                (0, 0) => "All is well.".to_owned(),
                (0, w) => format!("{w} warning{}.", plural(w)),
                (e, w) => format!("{e} error{}, {w} warning{}.", plural(e), plural(w)),
            }
        );
    }
    let code = if errors > 0 {
        2
    } else if warnings > 0 {
        1
    } else {
        0
    };
    if code != 0 {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        std::process::exit(code);
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The config: there, readable, valid. Nothing else is checked without it.
fn check_config(dir: &DataDir, r: &mut Report) -> Option<Config> {
    let path = dir.config();
    if let Err(e) = std::fs::metadata(&path)
        && e.kind() == std::io::ErrorKind::PermissionDenied
    {
        r.fix(
            "config",
            Level::Error,
            format!("{}: permission denied", path.display()),
            "run lgmesh doctor as the node's user, e.g. sudo -u lgmesh lgmesh doctor --data-dir /var/lib/lgmesh",
        );
        return None;
    }
    if !dir.is_initialised() {
        r.fix(
            "config",
            Level::Error,
            format!("{} does not exist: {} is not a data dir", path.display(), dir.0.display()),
            format!(
                "lgmesh init --data-dir {} --org gss:… --name \"…\" (or point --data-dir at the node's, e.g. /var/lib/lgmesh)",
                dir.0.display()
            ),
        );
        return None;
    }
    let config = match dir.load_config() {
        Ok(c) => c,
        Err(e) => {
            r.fix(
                "config",
                Level::Error,
                format!("{e:#}"),
                format!(
                    "correct {} (every key: ops/config-reference.md)",
                    path.display()
                ),
            );
            return None;
        }
    };
    let mut config = config;
    let overridden = apply_overrides(&mut config);
    if !overridden.is_empty() {
        r.add(
            "config",
            Level::Ok,
            format!("as the service runs it: {}", overridden.join(", ")),
        );
    }
    if let Err(e) = config.check() {
        r.fix(
            "config",
            Level::Error,
            format!("{e:#}"),
            format!("correct it in {}", path.display()),
        );
        return None;
    }
    let who = if config.org.observer {
        "an observer".to_owned()
    } else {
        format!("{} ({})", config.org.name, config.org.id)
    };
    r.add(
        "config",
        Level::Ok,
        format!(
            "{} is valid: {who} on network {:?}",
            path.display(),
            config.network.name
        ),
    );
    if config.org.development {
        r.fix(
            "config",
            Level::Warn,
            "this data dir holds a development identity (org dev:local), not a real organisation's",
            "for a real organisation, make a new data dir with lgmesh init --org … --name …",
        );
    }
    Some(config)
}

/// The settings `lgmesh run` takes from its environment instead of `lgmesh.toml`: from
/// this process's environment, else from `/etc/default/lgmesh` (what the packaged
/// service reads). Returns what was overridden, as `VAR=value`.
fn apply_overrides(config: &mut Config) -> Vec<String> {
    let file: Vec<(String, String)> = std::fs::read_to_string("/etc/default/lgmesh")
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let get = |var: &str| -> Option<String> {
        std::env::var(var)
            .ok()
            .or_else(|| file.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()))
            .filter(|v| !v.is_empty())
    };
    let mut done = vec![];
    let mut set = |var: &str, field: &mut String| {
        if let Some(v) = get(var) {
            done.push(format!("{var}={v}"));
            *field = v;
        }
    };
    set("LGMESH_GRPC_ADDR", &mut config.grpc.addr);
    set("LGMESH_HTTP_ADDR", &mut config.http.addr);
    set("LGMESH_TLS_CERT", &mut config.tls.cert_file);
    set("LGMESH_TLS_KEY", &mut config.tls.key_file);
    for (var, field) in [
        ("LGMESH_ALLOW_REMOTE_GRPC", &mut config.grpc.allow_remote),
        ("LGMESH_ALLOW_REMOTE_HTTP", &mut config.http.allow_remote),
    ] {
        if let Some(v) = get(var) {
            *field = v == "true" || v == "1";
            done.push(format!("{var}={v}"));
        }
    }
    done
}

/// The secret files: there, private, owned by whoever runs this.
fn check_files(dir: &DataDir, config: &Config, r: &mut Report) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    if let Ok(m) = std::fs::metadata(&dir.0) {
        let mode = m.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            r.fix(
                "files",
                Level::Warn,
                format!(
                    "{} can be read by other users (mode {mode:o})",
                    dir.0.display()
                ),
                format!("chmod 700 {}", dir.0.display()),
            );
        }
    }
    let mut secrets = vec![
        (dir.node_key(), "the node key"),
        (dir.admin_token(), "the admin token"),
    ];
    if !config.org.observer {
        secrets.insert(0, (dir.publisher_key(), "the organisation's signing key"));
    }
    let mut bad = false;
    for (path, what) in secrets {
        let m = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                bad = true;
                r.fix(
                    "files",
                    Level::Error,
                    format!("{} ({what}): {e}", path.display()),
                    "restore it from your key backup (lgmesh keys), or make a new data dir with lgmesh init",
                );
                continue;
            }
        };
        let mode = m.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bad = true;
            r.fix(
                "files",
                Level::Error,
                format!(
                    "{} ({what}) can be read by other users (mode {mode:o}); the node will not start",
                    path.display()
                ),
                format!("chmod 600 {}", path.display()),
            );
        }
        if let Some(me) = me
            && m.uid() != me
        {
            r.fix(
                "files",
                Level::Warn,
                format!("{} belongs to user {}, but this runs as user {me}", path.display(), m.uid()),
                "run lgmesh doctor as the node's user, e.g. sudo -u lgmesh lgmesh doctor --data-dir /var/lib/lgmesh",
            );
        }
    }
    if !config.org.observer
        && !bad
        && let Err(e) = dir.load_publisher_key()
    {
        bad = true;
        r.add("files", Level::Error, format!("{e:#}"));
    }
    if !bad {
        r.add(
            "files",
            Level::Ok,
            "the keys and the admin token are private (mode 0600)",
        );
    }
}

/// The running node, through its admin socket, if one answers.
async fn running(dir: &DataDir, r: &mut Report) -> Option<(Channel, v1::InfoResponse)> {
    if !dir.admin_socket().exists() {
        r.add(
            "node",
            Level::Ok,
            "no node is running on this data dir: checking its files alone (start it for the network checks)",
        );
        return None;
    }
    let answer = async {
        let channel = connect(dir, &OutputArgs::default()).await?;
        let info = NodeClient::new(channel.clone())
            .info(v1::InfoRequest {})
            .await?
            .into_inner();
        anyhow::Ok((channel, info))
    };
    match tokio::time::timeout(Duration::from_secs(10), answer).await {
        Ok(Ok((channel, info))) => {
            r.add(
                "node",
                Level::Ok,
                format!(
                    "running: lgmesh {}, {} peer{} connected, gRPC on {}",
                    info.version,
                    info.peers,
                    plural(info.peers as usize),
                    info.grpc_addr
                ),
            );
            Some((channel, info))
        }
        _ => {
            r.fix(
                "node",
                Level::Error,
                format!(
                    "{} exists but no node answers on it (a node that crashed, or one stuck)",
                    dir.admin_socket().display()
                ),
                "see the node's log (journalctl -u lgmesh); if no lgmesh process runs, start it again",
            );
            None
        }
    }
}

/// Each address the node listens on: free, or the node's own.
async fn check_ports(
    dir: &DataDir,
    config: &Config,
    node: Option<&(Channel, v1::InfoResponse)>,
    r: &mut Report,
) {
    let bound: Option<crate::datadir::Running> = std::fs::read_to_string(dir.node_json())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let Ok((grpc, http)) = config.listen_addrs() else {
        return;
    };
    let mut tcp: Vec<(String, SocketAddr)> =
        vec![("grpc.addr".into(), grpc), ("http.addr".into(), http)];
    let mut udp = Vec::new();
    for a in &config.network.listen {
        match socket_of(a) {
            Some((addr, true)) => tcp.push((format!("network.listen {a}"), addr)),
            Some((addr, false)) => udp.push((format!("network.listen {a}"), addr)),
            None => {}
        }
    }
    let mut fine = 0;
    for (what, addr) in tcp.iter().chain(&udp) {
        if addr.port() == 0 {
            fine += 1;
            continue;
        }
        let is_tcp = tcp.iter().any(|(w, _)| w == what);
        let ours = node.is_some_and(|(_, info)| {
            bound
                .as_ref()
                .is_some_and(|b| b.grpc.port() == addr.port() || b.http.port() == addr.port())
                || info
                    .listen_addrs
                    .iter()
                    .any(|l| l.contains(&format!("/{}/", addr.port())))
        });
        let free = if is_tcp {
            std::net::TcpListener::bind(addr).is_ok()
        } else {
            std::net::UdpSocket::bind(addr).is_ok()
        };
        match (free, ours) {
            (true, _) | (false, true) => fine += 1,
            (false, false) => {
                let proto = if is_tcp { "TCP" } else { "UDP" };
                r.fix(
                    "ports",
                    Level::Error,
                    format!(
                        "{what}: {proto} {addr} is in use by another program{}",
                        if node.is_some() { "" } else { ", so the node cannot start" }
                    ),
                    format!(
                        "find it with: ss -lpn '( sport = :{} )'; stop it, or choose another port in {}",
                        addr.port(),
                        dir.config().display()
                    ),
                );
            }
        }
    }
    if fine == tcp.len() + udp.len() {
        r.add(
            "ports",
            Level::Ok,
            if node.is_some() {
                "every listen address is this node's own"
            } else {
                "every listen address is free"
            },
        );
    }
}

/// The socket a multiaddr listens on, and whether it is TCP: `/ip4/A/tcp/P` or
/// `/ip4/A/udp/P/quic-v1` (and ip6); `None` for anything else.
fn socket_of(multiaddr: &str) -> Option<(SocketAddr, bool)> {
    let parts: Vec<&str> = multiaddr.split('/').collect();
    let ip: std::net::IpAddr = match parts.get(1..3)? {
        ["ip4" | "ip6", ip] => ip.parse().ok()?,
        _ => return None,
    };
    let port: u16 = parts.get(4)?.parse().ok()?;
    match *parts.get(3)? {
        "tcp" => Some((SocketAddr::new(ip, port), true)),
        "udp" => Some((SocketAddr::new(ip, port), false)),
        _ => None,
    }
}

/// The certificate, when there is one: loads, matches, not about to expire.
fn check_tls(config: &Config, r: &mut Report) {
    let files = match config.tls.files() {
        Ok(Some(f)) => f,
        // (A bind beyond loopback without TLS is a config error, reported above.)
        Ok(None) => {
            r.add(
                "tls",
                Level::Skip,
                "no certificate configured (gRPC and HTTP on loopback)",
            );
            return;
        }
        Err(_) => return,
    };
    if let Err(e) = crate::tls::Certs::load(files.clone()) {
        r.fix(
            "tls",
            Level::Error,
            format!("{e:#}"),
            "fix the certificate or key file; the node will not start until it loads",
        );
        return;
    }
    let Ok(s) = crate::tls::inspect(&files) else {
        return;
    };
    let days = s.days_left(crate::tls::now_secs());
    let names = s.names.join(", ");
    if days < 0 {
        r.fix(
            "tls",
            Level::Error,
            format!("the certificate for {names} has expired: clients refuse it"),
            "renew it (certbot renew); the node serves the new one without a restart",
        );
    } else if days < CERT_WARN_DAYS {
        r.fix(
            "tls",
            Level::Warn,
            format!(
                "the certificate for {names} expires in {days} day{}",
                plural(days as usize)
            ),
            "renew it now (certbot renew); the node serves the new one without a restart",
        );
    } else {
        r.add(
            "tls",
            Level::Ok,
            format!("the certificate for {names} is valid for {days} more days"),
        );
    }
}

/// The store: opens (through the node, or here), and what it holds.
async fn check_store(dir: &DataDir, node: Option<&(Channel, v1::InfoResponse)>, r: &mut Report) {
    if let Some((channel, _)) = node {
        match NodeClient::new(channel.clone())
            .stats(v1::StatsRequest {})
            .await
        {
            Ok(s) => {
                let s = s.into_inner();
                r.add(
                    "store",
                    Level::Ok,
                    format!(
                        "open in the node: {} manifests, {} names",
                        s.manifests, s.heads
                    ),
                );
            }
            Err(e) => r.add(
                "store",
                Level::Error,
                format!("the node cannot read its store: {}", e.message()),
            ),
        }
        return;
    }
    if !dir.store().join("db").exists() {
        r.add(
            "store",
            Level::Ok,
            "none yet: the node makes it when it first starts",
        );
        return;
    }
    let store = dir.store();
    let opened = tokio::task::spawn_blocking(move || lgmesh_registry::store::inspect(&store)).await;
    match opened {
        Ok(Ok((format, c))) => {
            let what = format!(
                "opens and reads: {} manifest{}, {} name{}",
                c.manifests,
                plural(c.manifests as usize),
                c.heads,
                plural(c.heads as usize)
            );
            if format < lgmesh_registry::FORMAT_VERSION {
                r.add(
                    "store",
                    Level::Ok,
                    format!(
                        "{what}; store format {format}, which the node migrates to {} when it starts",
                        lgmesh_registry::FORMAT_VERSION
                    ),
                );
            } else {
                r.add("store", Level::Ok, what);
            }
        }
        Ok(Err(e)) => r.fix(
            "store",
            Level::Error,
            format!("{} does not open: {e}", dir.store().display()),
            "if a node runs on it without its admin socket, stop it; otherwise restore a backup (lgmesh restore) into a copy of the data dir without store/",
        ),
        Err(e) => r.add("store", Level::Error, format!("checking the store failed: {e}")),
    }
}

/// Room on the data dir's disk.
fn check_disk(dir: &DataDir, r: &mut Report) {
    let s = match fs4::statvfs(&dir.0) {
        Ok(s) => s,
        Err(e) => {
            r.add("disk", Level::Skip, format!("cannot read free space: {e}"));
            return;
        }
    };
    let free = s.available_space();
    let gib = free as f64 / f64::from(1u32 << 30);
    let what = format!("{gib:.1} GiB free on the data dir's disk");
    if free < DISK_ERROR_BYTES {
        r.fix(
            "disk",
            Level::Error,
            what,
            "free space now: the store stops taking manifests when the disk fills",
        );
    } else if free < DISK_WARN_BYTES {
        r.fix(
            "disk",
            Level::Warn,
            what,
            "free some space or grow the disk soon",
        );
    } else {
        r.add("disk", Level::Ok, what);
    }
}

/// Each bootstrap peer: answers, and on which network. Through a running node (which
/// dials it and checks its network); without one, whether its TCP port answers.
async fn check_bootstrap(
    config: &Config,
    node: Option<&(Channel, v1::InfoResponse)>,
    r: &mut Report,
) {
    if config.network.bootstrap.is_empty() {
        if config.network.mdns {
            r.add(
                "bootstrap",
                Level::Ok,
                "none configured; peers on this LAN are found by mDNS",
            );
        } else {
            r.fix(
                "bootstrap",
                Level::Warn,
                "no bootstrap peers: this node joins a federation only when another node dials it",
                "add a node of the federation to network.bootstrap (a multiaddr ending in /p2p/<peer id>)",
            );
        }
        return;
    }
    for b in &config.network.bootstrap {
        // The address itself first: a running node may be connected to the same peer
        // through another address, and its dial would not try this one.
        if let Some(target) = tcp_target(b) {
            let connect = tokio::net::TcpStream::connect(target);
            let why = match tokio::time::timeout(Duration::from_secs(5), connect).await {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(format!("{b} does not answer: {e}")),
                Err(_) => Some(format!("{b} does not answer within 5 s")),
            };
            if let Some(why) = why {
                r.fix(
                    "bootstrap",
                    Level::Error,
                    why,
                    "check the address with that node's operator (lgmesh info there), and that this machine may reach it (firewall: TCP 4001)",
                );
                continue;
            }
        }
        let Some((channel, info)) = node else {
            if tcp_target(b).is_some() {
                r.add(
                    "bootstrap",
                    Level::Ok,
                    format!(
                        "{b} answers on TCP (start the node to check it is on network {:?})",
                        config.network.name
                    ),
                );
            } else {
                r.add(
                    "bootstrap",
                    Level::Skip,
                    format!("{b}: not a TCP address; start the node to check it"),
                );
            }
            continue;
        };
        // The node dials it and waits until the peer says which network it is on.
        let mut client = NodeClient::new(channel.clone());
        let dial = client.dial(v1::DialRequest { addr: b.clone() });
        match tokio::time::timeout(Duration::from_secs(25), dial).await {
            Ok(Ok(d)) => r.add(
                "bootstrap",
                Level::Ok,
                format!(
                    "{b} answers, on this node's network {:?} (peer {})",
                    info.network,
                    d.into_inner().peer_id
                ),
            ),
            Ok(Err(e)) => r.fix(
                "bootstrap",
                Level::Error,
                format!("{b}: {}", e.message()),
                "check the address and the network name with that node's operator (lgmesh info there)",
            ),
            Err(_) => r.fix(
                "bootstrap",
                Level::Error,
                format!("{b}: no answer within 25 s"),
                "check the address, and that this machine may reach it (firewall: TCP/UDP 4001)",
            ),
        }
    }
}

/// `HOST:PORT` of a `/ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT…` multiaddr.
fn tcp_target(multiaddr: &str) -> Option<String> {
    let parts: Vec<&str> = multiaddr.split('/').collect();
    let host = match parts.get(1..3)? {
        ["ip4" | "dns" | "dns4" | "dns6", h] => (*h).to_owned(),
        ["ip6", h] => format!("[{h}]"),
        _ => return None,
    };
    if parts.get(3) != Some(&"tcp") {
        return None;
    }
    let port: u16 = parts.get(4)?.parse().ok()?;
    Some(format!("{host}:{port}"))
}

/// This machine's clock: against the `Date` of the organisation's website, and, through
/// a running node, whether peers' manifests were refused for their time.
async fn check_clock(config: &Config, node: Option<&(Channel, v1::InfoResponse)>, r: &mut Report) {
    let allowed = i64::try_from(config.manifests.max_clock_skew_secs).unwrap_or(i64::MAX);
    if let Some((channel, _)) = node
        && let Ok(s) = NodeClient::new(channel.clone())
            .stats(v1::StatsRequest {})
            .await
    {
        let s = s.into_inner();
        let refused: u64 = s
            .paths
            .iter()
            .flat_map(|p| &p.rejected)
            .filter(|c| c.reason == "time")
            .map(|c| c.count)
            .sum();
        if refused > 0 {
            r.fix(
                "clock",
                Level::Warn,
                format!(
                    "{refused} manifest{} from peers refused as issued in the future or expired since the node started: this machine's clock may be behind theirs",
                    plural(refused as usize)
                ),
                "check that the clock is synchronised: timedatectl status (NTP service: active)",
            );
        }
    }
    let site = config.org.website.trim();
    if site.is_empty() {
        r.add(
            "clock",
            Level::Skip,
            "no website in org.website to compare the clock with",
        );
        return;
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build();
    let Ok(client) = client else {
        return;
    };
    let sent = crate::tls::now_secs();
    let answer = client.head(site).send().await;
    let got = crate::tls::now_secs();
    let date = answer.ok().and_then(|a| {
        a.headers()
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(httpdate_secs)
    });
    let Some(theirs) = date else {
        r.add(
            "clock",
            Level::Skip,
            format!("{site} did not answer with a date to compare the clock with"),
        );
        return;
    };
    let skew = (sent + got) / 2 - theirs;
    let what = format!(
        "this machine's clock is {}s {} {site}'s",
        skew.abs(),
        if skew >= 0 { "ahead of" } else { "behind" }
    );
    if skew.abs() > allowed {
        r.fix(
            "clock",
            Level::Error,
            format!("{what}: peers refuse what this node publishes (more than manifests.max_clock_skew_secs, {allowed}s)"),
            "synchronise the clock: timedatectl set-ntp true",
        );
    } else if skew.abs() > CLOCK_WARN_SECS {
        r.fix(
            "clock",
            Level::Warn,
            what,
            "synchronise the clock: timedatectl set-ntp true",
        );
    } else {
        r.add(
            "clock",
            Level::Ok,
            format!("{what} (within {CLOCK_WARN_SECS}s)"),
        );
    }
}

/// Unix seconds of an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, the only form servers
/// send today).
fn httpdate_secs(s: &str) -> Option<i64> {
    let p: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = p.as_slice() else {
        return None;
    };
    // Fields in range, so the arithmetic below cannot overflow.
    if day.len() > 2 || year.len() != 4 || time.len() != 8 {
        return None;
    }
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as i64
        + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let t: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = t.as_slice() else {
        return None;
    };
    // Days from 1970-01-01 to year-month-day (proleptic Gregorian).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

/// The domain proof of this organisation's key, as the running node finds it now.
async fn check_domain(
    dir: &DataDir,
    config: &Config,
    node: Option<&(Channel, v1::InfoResponse)>,
    r: &mut Report,
) {
    if config.org.observer {
        return;
    }
    if config.org.website.trim().is_empty() {
        r.fix(
            "domain",
            Level::Warn,
            "no website in org.website: other nodes cannot verify this organisation's key by its domain",
            "set org.website to the organisation's site, then publish the proof there (lgmesh init prints it)",
        );
        return;
    }
    let Some((channel, info)) = node else {
        r.add(
            "domain",
            Level::Skip,
            "start the node to check the domain proof",
        );
        return;
    };
    let checked = TrustClient::new(channel.clone())
        .check_domain(v1::TrustGetRequest {
            publisher: info.publisher.clone(),
        })
        .await;
    let proof = match checked {
        Ok(t) => t.into_inner().domain_proof,
        Err(e) => {
            r.add(
                "domain",
                Level::Skip,
                format!("not checked: {}", e.message()),
            );
            return;
        }
    };
    let Some(p) = proof else {
        r.add(
            "domain",
            Level::Skip,
            "not checked (domain proof is off on this node)",
        );
        return;
    };
    let well_known = format!(
        "{}/.well-known/lgmesh.json",
        p.website.trim_end_matches('/')
    );
    if p.proven {
        r.add(
            "domain",
            Level::Ok,
            format!("{well_known} lists this node's key"),
        );
    } else {
        r.fix(
            "domain",
            Level::Warn,
            format!("{well_known} does not prove this node's key ({}): {}", p.result, p.detail),
            format!(
                "serve {{\"org\": \"{}\", \"publishers\": [\"{}\"]}} there as JSON, then run lgmesh trust check --data-dir {}",
                config.org.id,
                info.publisher,
                dir.0.display()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_and_multiaddrs_are_read() {
        assert_eq!(
            httpdate_secs("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(httpdate_secs("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            httpdate_secs("Sat, 05 Dec 2026 05:53:46 GMT"),
            Some(1_796_450_026)
        );
        assert_eq!(httpdate_secs("yesterday"), None);
        assert_eq!(
            httpdate_secs("Sun, 06 Nov 1994 9999999999999999:00:00 GMT"),
            None
        );
        assert_eq!(
            httpdate_secs("Sun, 999999999999 Nov 1994 08:49:37 GMT"),
            None
        );
        assert_eq!(httpdate_secs("Sun, 06 Nov 1994 08:49 GMT"), None);
        assert_eq!(
            socket_of("/ip4/0.0.0.0/udp/4001/quic-v1"),
            Some(("0.0.0.0:4001".parse().expect("addr"), false))
        );
        assert_eq!(
            socket_of("/ip6/::/tcp/4001"),
            Some(("[::]:4001".parse().expect("addr"), true))
        );
        assert_eq!(socket_of("/dns4/x/tcp/1"), None);
        assert_eq!(
            tcp_target("/dns4/lgmesh.leeds.gov.uk/tcp/4001/p2p/12D3KooW"),
            Some("lgmesh.leeds.gov.uk:4001".into())
        );
        assert_eq!(tcp_target("/ip4/192.0.2.7/udp/4001/quic-v1"), None);
    }
}
