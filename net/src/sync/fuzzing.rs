//! Entry points for the fuzz targets in `fuzz/`: what a hostile peer's bytes reach on
//! the sync path, without a swarm. Not an API.

use super::*;
use crate::codec::{MAX_REQUEST_BYTES, read_frame};
use prost::Message;

/// A node's sync state over a store.
pub struct SyncTarget(SyncShared);

impl SyncTarget {
    /// Sync state over `store` with the default limits.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self(SyncShared::new(
            store,
            SyncLimits::default(),
            Arc::new(NetStats::default()),
            Arc::default(),
        ))
    }

    /// Bytes as a peer's inbound request stream: framed, decoded and answered.
    /// Returns how far it got.
    pub fn request(&self, data: &[u8]) -> &'static str {
        let mut io = futures::io::Cursor::new(data);
        let Ok(frame) = futures::executor::block_on(read_frame(&mut io, MAX_REQUEST_BYTES)) else {
            return "frame";
        };
        let Ok(req) = SyncRequest::decode(frame.as_slice()) else {
            return "decode";
        };
        let what = match &req.kind {
            Some(sync_request::Kind::Reconcile(_)) => ["reconcile-refused", "reconcile"],
            Some(sync_request::Kind::Fetch(_)) => ["fetch-refused", "fetch"],
            Some(sync_request::Kind::Stream(_)) => ["stream-refused", "stream"],
            Some(sync_request::Kind::Nudge(_)) => ["nudge-refused", "nudge"],
            None => ["empty-refused", "empty"],
        };
        match self.0.respond(req) {
            Ok(_) => what[1],
            Err(_) => what[0],
        }
    }

    /// Bytes as a peer's answer to this node's reconciliation or fetch: framed,
    /// decoded, then a reconcile frame goes to negentropy and manifests through
    /// the signature and schema checks.
    pub fn response(&self, data: &[u8]) -> &'static str {
        let mut io = futures::io::Cursor::new(data);
        let max = self.0.limits.max_response_bytes + crate::codec::RESPONSE_OVERHEAD;
        let Ok(frame) = futures::executor::block_on(read_frame(&mut io, max)) else {
            return "frame";
        };
        let Ok(resp) = SyncResponse::decode(frame.as_slice()) else {
            return "decode";
        };
        match resp.kind {
            Some(sync_response::Kind::Reconcile(reply)) => {
                let Ok(snap) = self.0.snapshot() else {
                    return "snapshot";
                };
                let Ok(mut neg) = Negentropy::new(Storage::Owned(snap), self.0.limits.frame_bytes)
                else {
                    return "negentropy";
                };
                if neg.initiate().is_err() {
                    return "initiate";
                }
                let (mut have, mut need) = (vec![], vec![]);
                match neg.reconcile_with_ids(&reply, &mut have, &mut need) {
                    Ok(Some(_)) => "reconcile-more",
                    Ok(None) => "reconcile-done",
                    Err(_) => "reconcile-error",
                }
            }
            Some(sync_response::Kind::Manifests(m)) => {
                let n = m.envelopes.len().min(self.0.limits.max_fetch_ids);
                let checked = self.0.store.check(&m.envelopes[..n], &[], now_ms());
                let proofs: Vec<(Vec<u8>, Vec<u8>)> = m
                    .evidence
                    .into_iter()
                    .take(self.0.limits.max_fetch_ids)
                    .map(|e| (e.first, e.second))
                    .collect();
                let proofs = self.0.store.check(&[], &proofs, now_ms());
                let proven = matches!(
                    self.0.store.offer(proofs, Path::Sync, Durability::Flushed, true, &mut |_| {}),
                    Ok(Offered::Done(o)) if o.iter().any(|o| matches!(o, PutOutcome::Stored(_)))
                );
                if proven {
                    "evidence-stored"
                } else if checked.manifests.iter().any(Result::is_ok) {
                    "manifests-valid"
                } else {
                    "manifests"
                }
            }
            Some(sync_response::Kind::Refused(_)) => "refused",
            Some(sync_response::Kind::Nudged(_)) => "nudged",
            None => "empty",
        }
    }
}
