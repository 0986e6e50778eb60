//! Search: ranked full text (BM25 over stemmed terms of title, summary, description and
//! keywords) with exact filters (kind, LGSL code, GSS area, organisation, status) and
//! cursor pagination, over current heads only.
//!
//! Both indexes are sled trees written in the same transaction as the manifest:
//! `index-v1` holds `tag | value | 0 | id` keys; `terms-v1` holds postings
//! `term | 0 | id → tf (u16) | doc length (u32)`, so scoring needs no other lookup.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_protocol::v1::{ManifestBody, manifest_body::Kind};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::store::{META_DOC_LEN_KEY, META_DOCS_KEY, Registry, StoreError, add_meta};

const TAG_KIND: u8 = b'k';
const TAG_LGSL: u8 = b'l';
const TAG_AREA: u8 = b'a';
const TAG_PUBLISHER: u8 = b'p';
const TAG_STATUS: u8 = b's';
const TAG_KEYWORD: u8 = b't';

/// BM25 parameters.
const K1: f64 = 1.2;
const B: f64 = 0.75;
/// Field weights: a title word counts three times, a keyword twice.
const W_TITLE: u16 = 3;
const W_KEYWORD: u16 = 2;
const W_BODY: u16 = 1;

/// Largest page.
pub const MAX_PAGE: usize = 100;
/// Longest query text, in bytes.
pub const MAX_QUERY: usize = 1000;

/// A search.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Free text; empty lists every head that matches the filters.
    pub text: String,
    /// `service`, `dataset`, `org` or `retraction`.
    pub kind: Option<String>,
    /// An LGSL code.
    pub lgsl: Option<u32>,
    /// A GSS code in the coverage.
    pub area: Option<String>,
    /// The publisher's organisation id (from its org card).
    pub org: Option<String>,
    /// A service status label, e.g. `LIVE`.
    pub status: Option<String>,
    /// Page size, 1–100.
    pub page_size: usize,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Include tombstones.
    pub include_retracted: bool,
}

/// A bad query.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryError {
    /// The cursor did not come from this search.
    #[error("cursor: not a cursor returned by search")]
    Cursor,
    /// The text is too long.
    #[error("text: at most {MAX_QUERY} bytes")]
    TooLong,
    /// A filter value is malformed.
    #[error("{field}: {reason}")]
    Filter {
        /// The filter.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Search failed: a bad query or a storage error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// The query is malformed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sled::Error> for SearchError {
    fn from(e: sled::Error) -> Self {
        SearchError::Store(e.into())
    }
}

/// One result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The head manifest's id.
    pub id: ManifestId,
    /// Relevance (0 without text).
    pub score: f64,
}

/// A page of results.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Best first.
    pub hits: Vec<Hit>,
    /// For the next page; `None` at the end.
    pub next_cursor: Option<String>,
    /// How many heads matched in all.
    pub total: u64,
}

/// Index keys and postings of one manifest, computed outside the transaction.
pub(crate) struct IndexEntries {
    keys: Vec<Vec<u8>>,
    postings: Vec<(Vec<u8>, [u8; 6])>,
    doc_len: u64,
}

fn index_key(tag: u8, value: &[u8], id: &ManifestId) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + value.len() + 33);
    k.push(tag);
    k.extend_from_slice(value);
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

fn prefix(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + value.len() + 1);
    k.push(tag);
    k.extend_from_slice(value);
    k.push(0);
    k
}

fn posting_key(term: &str, id: &ManifestId) -> Vec<u8> {
    let mut k = Vec::with_capacity(term.len() + 33);
    k.extend_from_slice(term.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

pub(crate) fn index_entries(
    reg: &Registry,
    body: &ManifestBody,
    publisher: &PublisherKey,
    id: &ManifestId,
) -> IndexEntries {
    let kind = lgmesh_protocol::schema::kind_name(body.kind.as_ref());
    let mut keys = vec![
        index_key(TAG_KIND, kind.as_bytes(), id),
        index_key(TAG_PUBLISHER, publisher.as_bytes(), id),
    ];
    let (common, local) = match &body.kind {
        Some(Kind::Service(s)) => {
            let status = lgmesh_protocol::document::enum_label(
                lgmesh_protocol::document::EnumTable::ServiceStatus,
                s.service_status,
            );
            keys.push(index_key(TAG_STATUS, status.as_bytes(), id));
            (s.common.as_ref(), s.local.as_ref())
        }
        Some(Kind::Dataset(d)) => (d.common.as_ref(), d.local.as_ref()),
        _ => (None, None),
    };
    if let Some(l) = local {
        for code in &l.lgsl {
            keys.push(index_key(TAG_LGSL, code.to_string().as_bytes(), id));
        }
        for area in &l.coverage {
            keys.push(index_key(TAG_AREA, area.as_bytes(), id));
        }
    }
    let mut fields: Vec<(&str, u16)> = vec![];
    if let Some(c) = common {
        fields.push((&c.title, W_TITLE));
        fields.push((&c.summary, W_BODY));
        fields.push((&c.description, W_BODY));
        for k in &c.keyword {
            fields.push((k, W_KEYWORD));
            keys.push(index_key(TAG_KEYWORD, k.to_lowercase().as_bytes(), id));
        }
        for a in &c.alternative_title {
            fields.push((a, W_TITLE));
        }
    }
    if let Some(Kind::Org(o)) = &body.kind {
        fields.push((&o.name, W_TITLE));
        fields.push((&o.org_id, W_TITLE));
    }
    let tf = reg.analyzer.frequencies(&fields);
    let doc_len: u64 = tf.values().map(|v| u64::from(*v)).sum();
    let dl = u32::try_from(doc_len).unwrap_or(u32::MAX);
    let postings = tf
        .into_iter()
        .map(|(term, f)| {
            let mut v = [0u8; 6];
            v[..2].copy_from_slice(&f.to_be_bytes());
            v[2..].copy_from_slice(&dl.to_be_bytes());
            (posting_key(&term, id), v)
        })
        .collect();
    keys.sort();
    keys.dedup();
    IndexEntries {
        keys,
        postings,
        doc_len,
    }
}

type TxResult = Result<(), ConflictableTransactionError<StoreError>>;

impl IndexEntries {
    pub(crate) fn insert(
        &self,
        index: &TransactionalTree,
        terms: &TransactionalTree,
        meta: &TransactionalTree,
    ) -> TxResult {
        for k in &self.keys {
            index.insert(k.as_slice(), &[][..])?;
        }
        for (k, v) in &self.postings {
            terms.insert(k.as_slice(), &v[..])?;
        }
        if !self.postings.is_empty() {
            add_meta(meta, META_DOCS_KEY, 1)?;
            add_meta(
                meta,
                META_DOC_LEN_KEY,
                i64::try_from(self.doc_len).unwrap_or(i64::MAX),
            )?;
        }
        Ok(())
    }

    pub(crate) fn remove(
        &self,
        index: &TransactionalTree,
        terms: &TransactionalTree,
        meta: &TransactionalTree,
    ) -> TxResult {
        for k in &self.keys {
            index.remove(k.as_slice())?;
        }
        for (k, _) in &self.postings {
            terms.remove(k.as_slice())?;
        }
        if !self.postings.is_empty() {
            add_meta(meta, META_DOCS_KEY, -1)?;
            add_meta(
                meta,
                META_DOC_LEN_KEY,
                -i64::try_from(self.doc_len).unwrap_or(i64::MAX),
            )?;
        }
        Ok(())
    }
}

fn id_from_key(k: &[u8]) -> Option<ManifestId> {
    let start = k.len().checked_sub(32)?;
    k[start..].try_into().ok().map(ManifestId)
}

fn encode_cursor(h: &Hit) -> String {
    let mut b = Vec::with_capacity(40);
    b.extend_from_slice(&h.score.to_bits().to_be_bytes());
    b.extend_from_slice(h.id.as_bytes());
    hex::encode(b)
}

fn decode_cursor(s: &str) -> Result<Hit, QueryError> {
    let b = hex::decode(s).map_err(|_| QueryError::Cursor)?;
    if b.len() != 40 {
        return Err(QueryError::Cursor);
    }
    let score = f64::from_bits(u64::from_be_bytes(
        b[..8].try_into().map_err(|_| QueryError::Cursor)?,
    ));
    let id = ManifestId(b[8..].try_into().map_err(|_| QueryError::Cursor)?);
    if !score.is_finite() {
        return Err(QueryError::Cursor);
    }
    Ok(Hit { id, score })
}

/// Best first: higher score, then lower id.
fn order(a: &Hit, b: &Hit) -> Ordering {
    b.score
        .partial_cmp(&a.score)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.id.cmp(&b.id))
}

impl Registry {
    fn ids_with(&self, tag: u8, value: &[u8]) -> Result<HashSet<ManifestId>, SearchError> {
        let mut out = HashSet::new();
        for kv in self.index.scan_prefix(prefix(tag, value)) {
            let (k, _) = kv?;
            out.extend(id_from_key(&k));
        }
        Ok(out)
    }

    /// Runs a search.
    pub fn search(&self, q: &Query) -> Result<Page, SearchError> {
        if q.text.len() > MAX_QUERY {
            return Err(QueryError::TooLong.into());
        }
        let after = q
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(decode_cursor)
            .transpose()?;
        let page_size = q.page_size.clamp(1, MAX_PAGE);

        // Exact filters, intersected.
        let mut filter: Option<HashSet<ManifestId>> = None;
        let mut narrow = |set: HashSet<ManifestId>| {
            filter = Some(match filter.take() {
                None => set,
                Some(f) => f.intersection(&set).copied().collect(),
            });
        };
        if let Some(k) = &q.kind {
            if !matches!(k.as_str(), "service" | "dataset" | "org" | "retraction") {
                return Err(QueryError::Filter {
                    field: "kind",
                    reason: format!("{k:?} is not service, dataset, org or retraction"),
                }
                .into());
            }
            narrow(self.ids_with(TAG_KIND, k.as_bytes())?);
        }
        if let Some(code) = q.lgsl {
            narrow(self.ids_with(TAG_LGSL, code.to_string().as_bytes())?);
        }
        if let Some(area) = &q.area {
            if !lgmesh_protocol::identity::is_gss_code(area) {
                return Err(QueryError::Filter {
                    field: "area",
                    reason: format!("{area:?} is not a GSS code (e.g. E07000209)"),
                }
                .into());
            }
            narrow(self.ids_with(TAG_AREA, area.as_bytes())?);
        }
        if let Some(status) = &q.status {
            narrow(self.ids_with(TAG_STATUS, status.as_bytes())?);
        }
        if let Some(org) = &q.org {
            let mut set = HashSet::new();
            for pk in self.publishers_of_org(org)? {
                set.extend(self.ids_with(TAG_PUBLISHER, pk.as_bytes())?);
            }
            narrow(set);
        }

        let mut terms = vec![];
        self.analyzer.terms(&q.text, &mut terms);
        terms.sort();
        terms.dedup();

        let mut hits: Vec<Hit> = if terms.is_empty() {
            let ids: Vec<ManifestId> = match filter {
                Some(f) => f.into_iter().collect(),
                None => {
                    let mut v = vec![];
                    for h in self.heads_iter() {
                        v.push(h?.head.id);
                    }
                    v
                }
            };
            let hide = if q.include_retracted || q.kind.as_deref() == Some("retraction") {
                HashSet::new()
            } else {
                self.ids_with(TAG_KIND, b"retraction")?
            };
            ids.into_iter()
                .filter(|id| !hide.contains(id))
                .map(|id| Hit { id, score: 0.0 })
                .collect()
        } else {
            let (n_docs, total_len) = self.doc_stats()?;
            let n = n_docs.max(1) as f64;
            let avgdl = (total_len as f64 / n).max(1.0);
            let mut scores: HashMap<ManifestId, f64> = HashMap::new();
            for term in &terms {
                let p = {
                    let mut p = term.as_bytes().to_vec();
                    p.push(0);
                    p
                };
                let postings: Vec<(ManifestId, u16, u32)> = self
                    .terms
                    .scan_prefix(&p)
                    .filter_map(|kv| {
                        let (k, v) = kv.ok()?;
                        let id = id_from_key(&k)?;
                        let tf = u16::from_be_bytes(v.get(..2)?.try_into().ok()?);
                        let dl = u32::from_be_bytes(v.get(2..6)?.try_into().ok()?);
                        Some((id, tf, dl))
                    })
                    .collect();
                let df = postings.len() as f64;
                let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                for (id, tf, dl) in postings {
                    if filter.as_ref().is_some_and(|f| !f.contains(&id)) {
                        continue;
                    }
                    let tf = f64::from(tf);
                    let s =
                        idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * f64::from(dl) / avgdl));
                    *scores.entry(id).or_insert(0.0) += s;
                }
            }
            scores
                .into_iter()
                .map(|(id, score)| Hit { id, score })
                .collect()
        };

        let total = hits.len() as u64;
        if let Some(after) = &after {
            hits.retain(|h| order(h, after) == Ordering::Greater);
        }
        // Partial selection: only the page needs sorting.
        if hits.len() > page_size {
            hits.select_nth_unstable_by(page_size, order);
            hits.truncate(page_size + 1);
        }
        hits.sort_by(order);
        let more = hits.len() > page_size;
        hits.truncate(page_size);
        let next_cursor = if more {
            hits.last().map(encode_cursor)
        } else {
            None
        };
        Ok(Page {
            hits,
            next_cursor,
            total,
        })
    }
}
