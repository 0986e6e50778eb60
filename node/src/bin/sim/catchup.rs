//! Catch-up: how long a new node takes to hold everything a full node holds, and what
//! it costs on the wire and in CPU. `catchup` in one process; `catchup-liars` with peers
//! that stall or lie in its round slots; `catchup-loopback` with the full node in a
//! second process (`serve`) over TCP.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lgmesh::intake::Intake;
use lgmesh::metrics::Metrics;
use lgmesh_net::{Multiaddr, NetConfig, Network, TransportKind, keypair_from_seed};
use lgmesh_protocol::validate::Limits;
use lgmesh_registry::Registry;
use libp2p::swarm::SwarmEvent;

use crate::Result;
use crate::harness::{NETWORK, cpu_secs, fill, make_manifests, quiet_config, seed, start_node};
use crate::propagate::memory_transport;

pub(crate) async fn catchup(dir: &Path, count: usize) -> Result<()> {
    println!("catchup: a new node joins one that holds {count} manifests (memory transport)");
    let (batches, raw) = make_manifests(count);
    let a = start_node(dir, 0, quiet_config(), true).await?;
    let t = Instant::now();
    fill(&a.registry, batches).await?;
    println!(
        "  filled the first node in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let b = start_node(dir, 1, quiet_config(), true).await?;
    let (t0, cpu0) = (Instant::now(), cpu_secs());
    b.net.dial(a.addr.clone()).await?;
    let took = caught_up(&b.registry, count, t0).await?;
    report_catchup(count, took, cpu_secs() - cpu0, &b.net, raw);
    Ok(())
}

/// Catch-up with and without liars in the same run: a new node joins one that holds
/// `count` manifests, once alone and once after `liars` peers have taken its round
/// slots (half of them hold every request unanswered, half answer a stream with the
/// same page for ever). Runs alternate, three of each; the figure is the ratio of the
/// medians, without over with.
pub(crate) async fn catchup_liars(dir: &Path, count: usize, liars: usize) -> Result<()> {
    println!(
        "catchup-liars: a new node joins one that holds {count} manifests, with and without {liars} liars (memory transport)"
    );
    let (batches, _) = make_manifests(count);
    let page: Vec<Vec<u8>> = batches.iter().flatten().take(20).cloned().collect();
    let a = start_node(dir, 0, quiet_config(), true).await?;
    fill(&a.registry, batches).await?;
    let (mut plain, mut lied) = (vec![], vec![]);
    for run in 0..6 {
        let with = run % 2 == 1;
        let b = start_node(dir, 100 + run, quiet_config(), true).await?;
        let mut held = vec![];
        if with {
            for l in 0..liars {
                let stall = l % 2 == 0;
                held.push(spawn_liar(&b.addr, (run * 100 + l) as u64, stall, page.clone()).await?);
            }
            // Let them identify and take the new node's round slots first.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let t0 = Instant::now();
        b.net.dial(a.addr.clone()).await?;
        let took = caught_up(&b.registry, count, t0).await?;
        let s = b.net.stats().snapshot();
        let refused: Vec<String> = s
            .refused
            .iter()
            .filter(|r| r.1 > 0)
            .map(|r| format!("{} {}", r.0, r.1))
            .collect();
        println!(
            "  run {run}: {} liars: caught up in {:.2} s; refusals: {}",
            if with { liars } else { 0 },
            took.as_secs_f64(),
            if refused.is_empty() {
                "none".into()
            } else {
                refused.join(", ")
            }
        );
        if with {
            lied.push(took);
        } else {
            plain.push(took);
        }
        b.net.shutdown().await;
        drop(held);
    }
    plain.sort();
    lied.sort();
    let (p, l) = (plain[plain.len() / 2], lied[lied.len() / 2]);
    println!(
        "  median without liars {:.2} s, with {liars} liars {:.2} s: ratio {:.2} (goal >= 0.9)",
        p.as_secs_f64(),
        l.as_secs_f64(),
        p.as_secs_f64() / l.as_secs_f64()
    );
    Ok(())
}

#[derive(libp2p::swarm::NetworkBehaviour)]
struct LiarBehaviour {
    identify: libp2p::identify::Behaviour,
    sync: libp2p::request_response::Behaviour<lgmesh_net::codec::SyncCodec>,
}

/// A peer that speaks lgmesh's identify and sync and lies: `stall` holds every request
/// unanswered; otherwise it answers every stream request with `page`, claiming more,
/// and holds the rest. Dials `target`; runs until the returned sender is dropped.
async fn spawn_liar(
    target: &Multiaddr,
    i: u64,
    stall: bool,
    page: Vec<Vec<u8>>,
) -> Result<tokio::sync::oneshot::Sender<()>> {
    use lgmesh_proto::v1::{Manifests, SyncResponse, sync_request, sync_response};
    use libp2p::{StreamProtocol, identify, request_response};
    let key = keypair_from_seed(seed(i, 7))?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(memory_transport)?
        .with_behaviour(|k| -> Result<LiarBehaviour> {
            Ok(LiarBehaviour {
                identify: identify::Behaviour::new(identify::Config::new(
                    format!("/lgmesh/{NETWORK}/id/1"),
                    k.public(),
                )),
                sync: request_response::Behaviour::with_codec(
                    lgmesh_net::codec::SyncCodec::new(4 << 20),
                    [(
                        StreamProtocol::try_from_owned(format!("/lgmesh/{NETWORK}/sync/1"))?,
                        request_response::ProtocolSupport::Full,
                    )],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(600)),
                ),
            })
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
        .build();
    swarm.dial(target.clone())?;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut held = vec![];
        loop {
            tokio::select! {
                ev = swarm.select_next_some() => {
                    if let SwarmEvent::Behaviour(LiarBehaviourEvent::Sync(request_response::Event::Message {
                        message: request_response::Message::Request { request, channel, .. }, ..
                    })) = ev {
                        let streams = matches!(request.kind, Some(sync_request::Kind::Stream(_)));
                        if stall || !streams {
                            held.push(channel);
                        } else {
                            let r = SyncResponse {
                                kind: Some(sync_response::Kind::Manifests(Manifests {
                                    envelopes: page.clone(),
                                    more: true,
                                    ..Default::default()
                                })),
                            };
                            let _ = swarm.behaviour_mut().sync.send_response(channel, r);
                        }
                    }
                }
                _ = &mut stopped => return,
            }
        }
    });
    Ok(stop)
}

/// How long after `t0` `registry` held `count` heads (at most 300 s).
async fn caught_up(registry: &Registry, count: usize, t0: Instant) -> Result<Duration> {
    loop {
        if registry.counts()?.heads as usize >= count {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > Duration::from_secs(300) {
            return Err("catch-up did not finish in 300 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `cpu`: CPU seconds this process used meanwhile (both nodes in `catchup`, the new
/// one alone in `catchup-loopback`).
fn report_catchup(count: usize, took: Duration, cpu: f64, net: &Network, raw: u64) {
    let s = net.stats().snapshot();
    let wire = s.sync_bytes_in + s.sync_bytes_out;
    println!(
        "  caught up {count} manifests in {:.2} s ({:.0}/s); sync bytes {} (in {} + out {}) vs raw manifests {} = {:.3} x",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64(),
        wire,
        s.sync_bytes_in,
        s.sync_bytes_out,
        raw,
        wire as f64 / raw as f64
    );
    println!(
        "  this process used {cpu:.1} CPU seconds meanwhile ({:.2} cores), {:.0} µs a manifest",
        cpu / took.as_secs_f64(),
        cpu * 1e6 / count as f64
    );
}

/// A node over real TCP on 127.0.0.1 (as `lgmesh run` has), for the two-process runs.
fn loopback_config() -> NetConfig {
    let mut c = quiet_config();
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("tcp address")];
    c
}

/// The child of `catchup-loopback`: fills a node with `count` manifests, serves it over
/// TCP on 127.0.0.1, prints `listening ADDR`, and runs until its stdin closes.
pub(crate) async fn serve(dir: &Path, count: usize) -> Result<()> {
    let (batches, raw) = make_manifests(count);
    let d = dir.join("served");
    let registry = Arc::new(Registry::open(&d, Limits::default())?);
    let t = Instant::now();
    fill(&registry, batches).await?;
    let net = Network::start(
        keypair_from_seed(seed(0, 1))?,
        loopback_config(),
        TransportKind::Real,
        Arc::new(Intake::new(registry, Arc::new(Metrics::default()))),
    )
    .await?;
    let info = net.info().await?;
    let addr = info.listen.first().ok_or("no listen address")?;
    println!(
        "listening {addr} raw {raw} filled {:.1}",
        t.elapsed().as_secs_f64()
    );
    tokio::task::spawn_blocking(|| {
        let mut buf = String::new();
        let _ = std::io::stdin().read_line(&mut buf);
    })
    .await?;
    Ok(())
}

/// Catch-up as on two machines: the full node is another process (`serve`), reached
/// over TCP on 127.0.0.1 with Noise and Yamux, so the two stores share no lock.
pub(crate) async fn catchup_loopback(dir: &Path, count: usize) -> Result<()> {
    use std::io::BufRead;
    println!(
        "catchup-loopback: a new node joins another process that holds {count} manifests (TCP on 127.0.0.1)"
    );
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--manifests", &count.to_string(), "--dir"])
        .arg(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let line = {
        let out = child.stdout.take().ok_or("child stdout")?;
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(out)
                .read_line(&mut line)
                .map(|_| line)
        })
        .await??
    };
    let parts: Vec<&str> = line.split_whitespace().collect();
    let (Some(addr), Some(raw), Some(filled)) = (parts.get(1), parts.get(3), parts.get(5)) else {
        let _ = child.kill();
        return Err(format!("serve said {line:?}").into());
    };
    let raw: u64 = raw.parse()?;
    println!("  the other process filled its node in {filled} s");
    let addr: Multiaddr = addr.parse()?;
    let d = dir.join("joiner");
    let registry = Arc::new(Registry::open(&d, Limits::default())?);
    let net = Network::start(
        keypair_from_seed(seed(1, 1))?,
        loopback_config(),
        TransportKind::Real,
        Arc::new(Intake::new(registry.clone(), Arc::new(Metrics::default()))),
    )
    .await?;
    let (t0, cpu0) = (Instant::now(), cpu_secs());
    net.dial(addr).await?;
    let result = caught_up(&registry, count, t0).await;
    let cpu = cpu_secs() - cpu0;
    // The child stops when its stdin closes, whether or not the catch-up finished.
    drop(child.stdin.take());
    let _ = child.wait();
    report_catchup(count, result?, cpu, &net, raw);
    Ok(())
}
