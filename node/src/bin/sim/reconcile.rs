//! `reconcile`: one sync round between two nodes, first when one lacks the newest
//! manifests, then when both hold the same: round trips, bytes beyond what was missing,
//! and time.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::Result;
use crate::harness::{fill, make_manifests, quiet_config, start_node};

pub(crate) async fn reconcile(dir: &Path, count: usize, missing: usize) -> Result<()> {
    println!(
        "reconcile: {count} manifests; one node lacks the {missing} newest, then two nodes in sync"
    );
    let (batches, _) = make_manifests(count);
    let all: Vec<Vec<u8>> = batches.iter().flatten().cloned().collect();
    let a = start_node(dir, 0, quiet_config(), false).await?;
    fill(&a.registry, batches).await?;
    let keep = count.saturating_sub(missing);
    let missing_raw: u64 = all[keep..].iter().map(|e| e.len() as u64).sum();

    for (label, have, extra) in [("differing", keep, missing_raw), ("in sync", count, 0)] {
        let b = start_node(
            dir,
            if have == count { 2 } else { 1 },
            quiet_config(),
            false,
        )
        .await?;
        let part: Vec<Vec<Vec<u8>>> = all[..have].chunks(2000).map(|c| c.to_vec()).collect();
        fill(&b.registry, part).await?;
        // Each node loads its sync set from its head records at its first sync, once
        // per process; timed apart from the round, which is what the goals are about.
        for (who, reg) in [
            ("the full node's", &a.registry),
            ("this node's", &b.registry),
        ] {
            let (t, reg) = (Instant::now(), reg.clone());
            let n = tokio::task::spawn_blocking(move || reg.sync_len()).await??;
            if t.elapsed() > Duration::from_millis(1) {
                println!(
                    "  {who} sync set ({n} heads) loaded in {:.0} ms",
                    t.elapsed().as_secs_f64() * 1000.0
                );
            }
        }
        let t0 = Instant::now();
        b.net.dial(a.addr.clone()).await?;
        loop {
            let s = b.net.stats().snapshot();
            if s.syncs_completed + s.syncs_failed >= 1 {
                break;
            }
            if t0.elapsed() > Duration::from_secs(120) {
                return Err("reconciliation did not finish in 120 s".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let took = t0.elapsed();
        let s = b.net.stats().snapshot();
        let wire = s.sync_bytes_in + s.sync_bytes_out;
        println!(
            "  {label:<9} {} round trip(s), {} bytes on the wire, {} beyond the missing manifests ({} B), {:.0} ms, holds {}",
            s.sync_round_trips,
            wire,
            wire.saturating_sub(extra),
            extra,
            took.as_secs_f64() * 1000.0,
            b.registry.counts()?.heads
        );
        b.net.shutdown().await;
    }
    Ok(())
}
