//! Search, as the store offers it. The text index ([`crate::search`]) sits below the
//! store and knows nothing of it. The store feeds it: each write queues the documents
//! of the heads it changed, with the write's change sequence number; at open, the index
//! is given what it missed, or all the heads again. The store answers searches: the
//! index plans a query, the store narrows it with what only the store knows (an
//! organisation's keys, the keys this node verifies), and the index runs it.

use super::layout::{COUNT_SEQ, HeadRecord, decode_log, key, prefix};
use super::{Registry, StoreError, Stored};
use crate::search::{Doc, Page, Query, SearchError};
use crate::trust::Verification;

/// Run on the index's thread after each commit, with the sequence number committed.
pub(super) fn trim_log(tree: &sled::Tree, seq: u64) {
    // The index has everything up to `seq`: drop those change-log entries.
    let mut b = sled::Batch::default();
    for (k, _) in tree
        .range(key(prefix::LOG, &[&0u64.to_be_bytes()])..=key(prefix::LOG, &[&seq.to_be_bytes()]))
        .flatten()
    {
        b.remove(k);
    }
    // A failed trim only leaves entries that the next trim (from 0) removes.
    let _ = tree.apply_batch(b);
}

impl Registry {
    pub(super) fn catch_up_index(&self) -> Result<(), StoreError> {
        let applied = self.text.applied_seq();
        let seq = self.counter(COUNT_SEQ)?;
        if applied > seq || (applied == 0 && seq > 0 && self.text.is_empty()) {
            // The index is from another store or was lost: rebuild it from the heads.
            return self.rebuild_index();
        }
        if applied == seq {
            return Ok(());
        }
        let mut docs = vec![];
        for kv in self.tree.range(
            key(prefix::LOG, &[&(applied + 1).to_be_bytes()])
                ..=key(prefix::LOG, &[&seq.to_be_bytes()]),
        ) {
            let (_, v) = kv?;
            for pn in decode_log(&v) {
                docs.push(match self.head_of_pn(pn)? {
                    Some(s) => Doc::of(&s.publisher, &s.body, &s.id),
                    None => Doc::gone(pn),
                });
            }
        }
        self.text.submit(docs, seq, true)?;
        self.text.wait_for(seq)
    }

    /// Rebuilds the text index from every head (after losing the index), and waits.
    pub fn rebuild_index(&self) -> Result<(), StoreError> {
        let seq = self.counter(COUNT_SEQ)?;
        let mut docs = vec![];
        for kv in self.tree.scan_prefix([prefix::HEAD]) {
            let (_, v) = kv?;
            let rec = HeadRecord::decode(&v)?;
            if let Some(s) = self.get(&rec.head.id)? {
                docs.push(Doc::of(&s.publisher, &s.body, &s.id));
            }
        }
        self.text.rebuild(docs, seq)?;
        self.text.wait_for(seq)
    }

    /// Waits until every stored head change is searchable.
    pub fn wait_indexed(&self) -> Result<(), StoreError> {
        let seq = self.counter(COUNT_SEQ)?;
        self.text.wait_for(seq)
    }

    /// Runs a search.
    pub fn search(&self, q: &Query) -> Result<Page, SearchError> {
        let mut plan = self.text.plan(q)?;
        if let Some(org) = &q.org
            && !plan.only_publishers(self.publishers_of_org(org)?.iter())
        {
            return Ok(Page::default());
        }
        if q.verified_only && !plan.only_publishers(self.trust()?.verified()) {
            return Ok(Page::default());
        }
        self.text.run(q, plan)
    }

    /// Whether `s`, just arrived, belongs in a stream of new manifests filtered by `q`
    /// (`Watch`): [`Query::matches`], with the publisher's organisation and trust as this
    /// node knows them. With `include_retracted`, a retraction also belongs when the
    /// version it withdraws matches, if this node holds it: whoever follows LGSL 524
    /// hears of a 524 service being withdrawn, though the tombstone carries no LGSL.
    pub fn stream_matches(&self, q: &Query, s: &Stored) -> Result<bool, StoreError> {
        let org = self.org_of(&s.publisher)?.map(|o| o.org_id);
        let verified = q.verified_only && self.trust()?.of(&s.publisher) == Verification::Verified;
        if q.matches(&s.publisher, &s.body, org.as_deref(), verified) {
            return Ok(true);
        }
        if !q.include_retracted || s.kind() != "retraction" {
            return Ok(false);
        }
        let withdrawn = self
            .history(&s.publisher, &s.body.name)?
            .into_iter()
            .find(|v| v.kind() != "retraction" && v.body.version < s.body.version);
        let q = Query {
            include_expired: true,
            ..q.clone()
        };
        Ok(withdrawn.is_some_and(|v| q.matches(&v.publisher, &v.body, org.as_deref(), verified)))
    }

    /// How many heads (tombstones included) have expired by `now_ms`: a count over the
    /// index's expiry column, for the observer.
    pub fn expired_heads(&self, now_ms: u64) -> Result<u64, SearchError> {
        Ok(self.text.count_expired(now_ms)? as u64)
    }
}
