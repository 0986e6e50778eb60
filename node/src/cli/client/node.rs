//! The node itself: its identity, peers and counters, and dialling a peer.

use anyhow::Result;
use lgmesh_proto::v1::{self, node_client::NodeClient};
use serde_json::json;

use super::{connect, with_token};
use crate::cli::args::{DialArgs, OutputArgs};
use crate::datadir::DataDir;

/// `lgmesh info`.
pub async fn info(dir: &DataDir, a: OutputArgs) -> Result<()> {
    let mut client = NodeClient::new(connect(dir, &a).await?);
    let i = client.info(v1::InfoRequest {}).await?.into_inner();
    if a.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "orgId": i.org_id, "orgName": i.org_name, "publisher": i.publisher, "peerId": i.node_id,
                "network": i.network, "listenAddrs": i.listen_addrs, "externalAddrs": i.external_addrs,
                "peers": i.peers, "meshPeers": i.mesh_peers, "nat": i.nat,
                "grpcAddr": i.grpc_addr, "httpAddr": i.http_addr, "httpTls": i.http_tls, "version": i.version,
                "developmentIdentity": i.development_identity, "observer": i.observer,
            }))?
        );
    } else {
        if i.observer {
            out!("Observer: syncs and serves the federation, publishes nothing");
        } else {
            out!(
                "{} ({}){}",
                i.org_name,
                i.org_id,
                if i.development_identity {
                    " [development identity]"
                } else {
                    ""
                }
            );
            out!("  publisher  {}", i.publisher);
        }
        out!("  peer id    {}", i.node_id);
        out!("  network    {}", i.network);
        out!(
            "  peers      {} connected, {} in the gossip mesh; reachability {}",
            i.peers,
            i.mesh_peers,
            i.nat
        );
        out!("  gRPC       {}", i.grpc_addr);
        let scheme = if i.http_tls { "https" } else { "http" };
        out!("  web        {scheme}://{}/", i.http_addr);
        out!("  metrics    {scheme}://{}/metrics", i.http_addr);
        out!("  version    {}", i.version);
        out!("  listening on (give one to another node as --bootstrap):");
        // An address confirmed reachable from outside (AutoNAT, `network.external`, a
        // relay reservation) is marked so, and listed once.
        for a in &i.listen_addrs {
            if i.external_addrs.contains(a) {
                out!("    {a} (external)");
            } else {
                out!("    {a}");
            }
        }
        for a in &i.external_addrs {
            if i.listen_addrs.contains(a) {
                continue;
            }
            out!("    {a} (external)");
        }
    }
    Ok(())
}

/// `lgmesh peers`.
pub async fn peers(dir: &DataDir, a: OutputArgs) -> Result<()> {
    let mut client = NodeClient::new(connect(dir, &a).await?);
    let r = client.peers(v1::PeersRequest {}).await?.into_inner();
    if a.json {
        let peers: Vec<_> = r
            .peers
            .iter()
            .map(|p| {
                json!({ "peerId": p.peer_id, "addrs": p.addrs, "agent": p.agent, "rttMs": p.rtt_ms,
                        "outbound": p.outbound, "inMesh": p.in_mesh, "strikes": p.strikes })
            })
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({ "peers": peers }))?
        );
        return Ok(());
    }
    if r.peers.is_empty() {
        out!(
            "No peers. Connect with: lgmesh dial /ip4/…/tcp/4001/p2p/12D3KooW… (see `lgmesh info` on the other node)"
        );
        return Ok(());
    }
    for p in &r.peers {
        let rtt = if p.rtt_ms > 0.0 {
            format!("{:.1} ms", p.rtt_ms)
        } else {
            "-".into()
        };
        out!(
            "{}  {}  {}  rtt {}{}{}",
            p.peer_id,
            if p.outbound { "out" } else { "in " },
            p.addrs.first().map(String::as_str).unwrap_or("-"),
            rtt,
            if p.in_mesh { "  mesh" } else { "" },
            if p.strikes > 0 {
                format!("  strikes {}", p.strikes)
            } else {
                String::new()
            }
        );
    }
    out!("\n{} peer(s).", r.peers.len());
    Ok(())
}

/// `lgmesh dial`.
pub async fn dial(dir: &DataDir, a: DialArgs) -> Result<()> {
    let mut client = NodeClient::new(connect(dir, &a.out).await?);
    let r = client
        .dial(with_token(dir, &a.out, v1::DialRequest { addr: a.addr })?)
        .await?
        .into_inner();
    if a.out.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({ "peerId": r.peer_id }))?
        );
    } else {
        out!("Connected to {}", r.peer_id);
    }
    Ok(())
}

/// `lgmesh stats`.
pub async fn stats(dir: &DataDir, a: OutputArgs) -> Result<()> {
    let mut client = NodeClient::new(connect(dir, &a).await?);
    let s = client.stats(v1::StatsRequest {}).await?.into_inner();
    if a.json {
        let rejected: serde_json::Map<String, serde_json::Value> = s
            .rejected
            .iter()
            .map(|r| (r.reason.clone(), json!(r.count)))
            .collect();
        let counts = |v: &[v1::ReasonCount]| -> serde_json::Map<String, serde_json::Value> {
            v.iter()
                .map(|r| (r.reason.clone(), json!(r.count)))
                .collect()
        };
        let paths: serde_json::Map<String, serde_json::Value> = s
            .paths
            .iter()
            .map(|p| {
                (
                    p.path.clone(),
                    json!({ "received": p.received, "stored": p.stored, "duplicate": p.duplicate,
                            "rejected": counts(&p.rejected) }),
                )
            })
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "manifests": s.manifests, "heads": s.heads, "accepted": s.accepted, "rejected": rejected,
                "paths": paths, "refused": counts(&s.refused),
                "sync": { "completed": s.syncs_completed, "failed": s.syncs_failed, "deferred": s.syncs_deferred,
                          "roundTrips": s.sync_round_trips, "bytesIn": s.sync_bytes_in, "served": s.sync_served },
                "gossipPublished": s.gossip_published,
                "expiredHeads": s.expired_heads,
                "publishers": { "verified": s.publishers_verified, "unverified": s.publishers_unverified,
                                "conflicting": s.publishers_conflicting, "revoked": s.publishers_revoked },
            }))?
        );
    } else {
        out!(
            "manifests {}  heads {} ({} expired)  accepted since start {}",
            s.manifests,
            s.heads,
            s.expired_heads,
            s.accepted
        );
        out!(
            "publishers verified {}  unverified {}  conflicting {}  revoked {}",
            s.publishers_verified,
            s.publishers_unverified,
            s.publishers_conflicting,
            s.publishers_revoked
        );
        for r in s.rejected.iter().filter(|r| r.count > 0) {
            out!("  rejected {:<13} {}", r.reason, r.count);
        }
        for p in &s.paths {
            out!(
                "{:<7} received {}  stored {}  duplicate {}",
                p.path,
                p.received,
                p.stored,
                p.duplicate
            );
            for r in p.rejected.iter().filter(|r| r.count > 0) {
                out!("  rejected {:<13} {}", r.reason, r.count);
            }
        }
        out!(
            "sync    rounds {} (failed {}, deferred {})  round trips {}  bytes in {}  requests served {}",
            s.syncs_completed,
            s.syncs_failed,
            s.syncs_deferred,
            s.sync_round_trips,
            s.sync_bytes_in,
            s.sync_served
        );
        for r in s.refused.iter().filter(|r| r.count > 0) {
            out!("  refused {:<18} {}", r.reason, r.count);
        }
    }
    Ok(())
}
