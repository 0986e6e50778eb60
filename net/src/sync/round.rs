//! One round as its initiator: reconcile (or, for an empty node, stream), then fetch
//! what is missing, each page stored while the next is asked for, and every cap of
//! a round enforced here.

use super::pages::Ingest;
use super::*;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NetError> + Send + 'static,
) -> Result<T, NetError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| NetError::Config(format!("sync task: {e}")))?
}

fn response_bytes(r: &SyncResponse) -> u64 {
    prost::Message::encoded_len(r) as u64
}

/// One sync round with `peer`, as initiator.
pub(crate) async fn run_round(
    net: LoopTx,
    shared: Arc<SyncShared>,
    peer: PeerId,
) -> Result<RoundReport, NetError> {
    let store = shared.store.clone();
    let empty = blocking(move || store.is_empty().map_err(storage_err)).await?;
    let mut report = RoundReport::default();
    let result = if empty {
        stream_all(&net, &shared, peer, &mut report).await
    } else {
        reconcile(&net, &shared, peer, &mut report).await
    };
    match result {
        Ok(()) => {
            if report.they_lack > 0 {
                // Tell the peer, so it pulls now rather than at its next periodic round.
                let nudge = SyncRequest {
                    kind: Some(sync_request::Kind::Nudge(Nudge {
                        missing: report.they_lack,
                    })),
                };
                if let Err(e) = net.ask(peer, nudge).await {
                    tracing::debug!(%peer, error = %e, "nudge not delivered");
                }
            }
            shared.stats.syncs_completed.fetch_add(1, Relaxed);
            Ok(report)
        }
        Err(e) => {
            shared.stats.syncs_failed.fetch_add(1, Relaxed);
            Err(e)
        }
    }
}

fn unexpected(peer: PeerId, r: &SyncResponse) -> NetError {
    let reason = match &r.kind {
        Some(sync_response::Kind::Refused(why)) => format!("refused: {why}"),
        _ => "unexpected response".into(),
    };
    NetError::Peer { peer, reason }
}

/// Pages through the peer's whole set; each page is stored while the next is requested.
async fn stream_all(
    net: &LoopTx,
    shared: &Arc<SyncShared>,
    peer: PeerId,
    report: &mut RoundReport,
) -> Result<(), NetError> {
    let mut after: Option<(u64, Vec<u8>)> = None;
    let mut ingest = Ingest::new(shared, peer);
    loop {
        let (at, id) = after.clone().unwrap_or_default();
        let req = SyncRequest {
            kind: Some(sync_request::Kind::Stream(StreamRequest {
                after_issued_at_ms: at,
                after_id: id,
                max_items: shared.limits.max_stream_items as u32,
            })),
        };
        let resp = net.ask(peer, req).await?;
        report.bytes_in += response_bytes(&resp);
        let Some(sync_response::Kind::Manifests(m)) = resp.kind else {
            return Err(unexpected(peer, &resp));
        };
        report.fetched += (m.envelopes.len() + m.evidence.len()) as u64;
        let more = m.more && !(m.envelopes.is_empty() && m.evidence.is_empty());
        let next = (m.last_issued_at_ms, m.last_id);
        // The stream is in (issued_at, id) order: a page that does not move the cursor
        // on would be asked for again for ever, and every item in it must lie past the
        // last cursor and up to the new one (else the same page, replayed under a
        // cursor that moves, would be checked again and again).
        let in_order = |pos: Option<(u64, [u8; 32])>| {
            pos.is_none_or(|(at, id)| {
                let pos = (at, id.to_vec());
                after.as_ref().is_none_or(|a| pos > *a) && pos <= next
            })
        };
        let out_of_order = !m.envelopes.iter().all(|e| in_order(stream_position(e)))
            || !m
                .evidence
                .iter()
                .all(|e| in_order(proof_position(&e.first, &e.second)));
        if out_of_order || (more && after.as_ref().is_some_and(|a| next <= *a)) {
            shared.stats.refused(Refusal::StreamStuck);
            shared.strikes.add(peer, 1);
            ingest.push(m.envelopes, m.evidence).await?;
            ingest.finish().await?;
            return Err(NetError::Peer {
                peer,
                reason: "its stream did not move on".into(),
            });
        }
        after = Some(next);
        ingest.push(m.envelopes, m.evidence).await?;
        if !more {
            break;
        }
        if report.fetched as usize >= shared.limits.max_round_items {
            // Enough for one round: the next reconciles from here.
            report.partial = true;
            break;
        }
    }
    ingest.finish().await
}

async fn reconcile(
    net: &LoopTx,
    shared: &Arc<SyncShared>,
    peer: PeerId,
    report: &mut RoundReport,
) -> Result<(), NetError> {
    let s = shared.clone();
    let snap = blocking(move || s.snapshot()).await?;
    let neg_err = |e: negentropy::Error| NetError::Peer {
        peer,
        reason: format!("negentropy: {e}"),
    };
    let mut neg =
        Negentropy::new(Storage::Owned(snap), shared.limits.frame_bytes).map_err(neg_err)?;
    let mut frame = neg.initiate().map_err(neg_err)?;
    let mut need: Vec<Id> = vec![];
    loop {
        if report.round_trips as usize >= shared.limits.max_round_trips {
            // A large difference (a node that holds little) takes more than one round:
            // fetch what this one found, and the next goes on.
            report.partial = true;
            break;
        }
        let resp = net
            .ask(
                peer,
                SyncRequest {
                    kind: Some(sync_request::Kind::Reconcile(frame)),
                },
            )
            .await?;
        // Counted as it happens, so the figure never lags what the round has stored.
        report.round_trips += 1;
        shared.stats.sync_round_trips.fetch_add(1, Relaxed);
        report.bytes_in += response_bytes(&resp);
        let Some(sync_response::Kind::Reconcile(reply)) = resp.kind else {
            return Err(unexpected(peer, &resp));
        };
        let mut have = vec![];
        let next = neg
            .reconcile_with_ids(&reply, &mut have, &mut need)
            .map_err(neg_err)?;
        report.they_lack += have.len() as u64;
        if need.len() >= shared.limits.max_round_ids {
            // Enough for one round (a peer could claim any number of ids): fetch these,
            // and the next round finds the rest.
            need.truncate(shared.limits.max_round_ids);
            report.partial = true;
            break;
        }
        match next {
            Some(next) => frame = next,
            None => break,
        }
    }
    let want: Vec<Vec<u8>> = need
        .into_iter()
        .map(|id| *id.as_bytes())
        .filter(|id| !shared.is_declined(&ManifestId(*id)))
        .map(|id| id.to_vec())
        .collect();
    fetch(net, shared, peer, want, report).await
}

/// Where an envelope stands in a stream: its `(issued_at_ms, id)`; none when it does
/// not decode (its checks strike it anyway).
fn stream_position(envelope: &[u8]) -> Option<(u64, [u8; 32])> {
    use prost::Message;
    let e = lgmesh_proto::v1::Envelope::decode(envelope).ok()?;
    let body = lgmesh_proto::v1::ManifestBody::decode(e.body.as_slice()).ok()?;
    Some((body.issued_at_ms, ManifestId::of(&e.body).0))
}

/// Where a proof stands in a stream: the later of its two manifests' times, its id.
fn proof_position(first: &[u8], second: &[u8]) -> Option<(u64, [u8; 32])> {
    let (a, b) = (stream_position(first)?, stream_position(second)?);
    let id = ManifestId::of_evidence(&ManifestId(a.1), &ManifestId(b.1));
    Some((a.0.max(b.0), id.0))
}

/// Fetches `want` in batches of `max_fetch_ids`, storing each while asking for the next.
async fn fetch(
    net: &LoopTx,
    shared: &Arc<SyncShared>,
    peer: PeerId,
    mut want: Vec<Vec<u8>>,
    report: &mut RoundReport,
) -> Result<(), NetError> {
    let mut ingest = Ingest::new(shared, peer);
    want.reverse(); // pop from the end, oldest first
    while !want.is_empty() {
        let n = want.len().min(shared.limits.max_fetch_ids);
        let batch: Vec<Vec<u8>> = want.split_off(want.len() - n).into_iter().rev().collect();
        let asked: HashSet<Vec<u8>> = batch.iter().cloned().collect();
        let resp = net
            .ask(
                peer,
                SyncRequest {
                    kind: Some(sync_request::Kind::Fetch(FetchRequest {
                        ids: vec![],
                        id_prefixes: batch
                            .iter()
                            .flat_map(|id| id[..ID_PREFIX_LEN].to_vec())
                            .collect(),
                    })),
                },
            )
            .await?;
        report.bytes_in += response_bytes(&resp);
        let Some(sync_response::Kind::Manifests(m)) = resp.kind else {
            return Err(unexpected(peer, &resp));
        };
        // Only what was asked for counts; the rest (a response cut short by its byte
        // limit) is asked for again.
        let mut strikes = 0;
        let mut got = HashSet::new();
        let mut envelopes = Vec::with_capacity(m.envelopes.len());
        for e in m.envelopes {
            match crate::behaviour::manifest_id_of(&e) {
                Some(id) if asked.contains(id.as_bytes().as_slice()) && got.insert(id) => {
                    envelopes.push(e)
                }
                _ => strikes += 1, // unasked-for or undecodable data
            }
        }
        let mut proofs = Vec::with_capacity(m.evidence.len());
        for e in m.evidence {
            let id = match (
                crate::behaviour::manifest_id_of(&e.first),
                crate::behaviour::manifest_id_of(&e.second),
            ) {
                (Some(a), Some(b)) => Some(ManifestId::of_evidence(&a, &b)),
                _ => None,
            };
            match id {
                Some(id) if asked.contains(id.as_bytes().as_slice()) && got.insert(id) => {
                    proofs.push(e)
                }
                _ => strikes += 1,
            }
        }
        shared.strikes.add(peer, strikes);
        report.fetched += (envelopes.len() + proofs.len()) as u64;
        if got.is_empty() && batch.len() >= EMPTY_FETCH_MIN {
            // It offered these a moment ago and now has none of them: it claimed ids
            // it does not hold (an honest peer drops one now and then as it expires or
            // is replaced, not a whole batch). The round ends here.
            ingest.finish().await?;
            shared.stats.refused(Refusal::EmptyFetch);
            return Err(NetError::Peer {
                peer,
                reason: format!("it offered {} manifests and sent none of them", batch.len()),
            });
        }
        if !got.is_empty() {
            want.extend(batch.into_iter().rev().filter(|id| {
                <[u8; 32]>::try_from(id.as_slice()).is_ok_and(|id| !got.contains(&ManifestId(id)))
            }));
        }
        // A peer that sent nothing of a small batch no longer has it: move on.
        ingest.push(envelopes, proofs).await?;
    }
    ingest.finish().await
}

/// A fetch of at least this many ids answered with none ends the round.
const EMPTY_FETCH_MIN: usize = 8;
