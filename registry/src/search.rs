//! Search: ranked full text (BM25 over English-stemmed title, keywords, summary and
//! description) with exact filters (kind, LGSL code, GSS area, organisation, status)
//! and cursor pagination, over current heads only.
//!
//! The index is a tantivy index beside sled: derived data, one document per
//! `(publisher, name)` head, replaced when the head changes. Each commit records the
//! store's change sequence number it covers, so [`crate::Registry::open`] replays only
//! what a crash left out, or rebuilds the whole index from sled if it is lost.

use std::path::Path;
use std::sync::Mutex;

use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_protocol::v1::{ManifestBody, manifest_body::Kind};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, Occur, Query as TQuery, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

use crate::store::{Registry, StoreError};

/// Largest page.
pub const MAX_PAGE: usize = 100;
/// Longest query text, in bytes.
pub const MAX_QUERY: usize = 1000;
/// Deepest result reachable by paging.
pub const MAX_OFFSET: usize = 10_000;
/// Field boosts: a title word counts three times, a keyword twice.
const BOOST_TITLE: f32 = 3.0;
const BOOST_KEYWORD: f32 = 2.0;
const ANALYZER: &str = "en_stem";

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

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        SearchError::Store(e.into())
    }
}

/// One result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The head manifest's id.
    pub id: ManifestId,
    /// Relevance (constant without text).
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

struct Fields {
    pn: Field,
    id: Field,
    kind: Field,
    lgsl: Field,
    area: Field,
    publisher: Field,
    status: Field,
    title: Field,
    keyword: Field,
    body: Field,
}

/// What the index holds for one head.
pub(crate) struct Doc {
    pn: String,
    id: String,
    kind: &'static str,
    publisher: String,
    status: &'static str,
    lgsl: Vec<String>,
    area: Vec<String>,
    title: Vec<String>,
    keyword: Vec<String>,
    body: Vec<String>,
}

impl Doc {
    pub(crate) fn of(publisher: &PublisherKey, body: &ManifestBody, id: &ManifestId) -> Doc {
        let mut d = Doc {
            pn: hex::encode(crate::store::pn(publisher, &body.name)),
            id: id.to_string(),
            kind: lgmesh_protocol::schema::kind_name(body.kind.as_ref()),
            publisher: hex::encode(publisher.as_bytes()),
            status: "",
            lgsl: vec![],
            area: vec![],
            title: vec![],
            keyword: vec![],
            body: vec![],
        };
        let (common, local) = match &body.kind {
            Some(Kind::Service(s)) => {
                d.status = lgmesh_protocol::document::enum_label(
                    lgmesh_protocol::document::EnumTable::ServiceStatus,
                    s.service_status,
                );
                (s.common.as_ref(), s.local.as_ref())
            }
            Some(Kind::Dataset(x)) => (x.common.as_ref(), x.local.as_ref()),
            Some(Kind::Org(o)) => {
                d.title.push(o.name.clone());
                d.keyword.push(o.org_id.clone());
                (None, None)
            }
            _ => (None, None),
        };
        if let Some(c) = common {
            d.title.push(c.title.clone());
            d.title.extend(c.alternative_title.iter().cloned());
            d.keyword.extend(c.keyword.iter().cloned());
            d.body.push(c.summary.clone());
            d.body.push(c.description.clone());
        }
        if let Some(l) = local {
            d.lgsl = l.lgsl.iter().map(u32::to_string).collect();
            d.area = l.coverage.clone();
        }
        d
    }
}

/// The tantivy index and its one writer.
pub(crate) struct TextIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    f: Fields,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let f = Fields {
        pn: b.add_text_field("pn", STRING),
        id: b.add_text_field("id", STRING | STORED),
        kind: b.add_text_field("kind", STRING),
        lgsl: b.add_text_field("lgsl", STRING),
        area: b.add_text_field("area", STRING),
        publisher: b.add_text_field("publisher", STRING),
        status: b.add_text_field("status", STRING),
        title: b.add_text_field("title", text.clone()),
        keyword: b.add_text_field("keyword", text.clone()),
        body: b.add_text_field("body", text),
    };
    (b.build(), f)
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(
            StopWordFilter::new(Language::English)
                .unwrap_or_else(|| StopWordFilter::remove(Vec::<String>::new())),
        )
        .filter(Stemmer::new(Language::English))
        .build()
}

impl TextIndex {
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", dir.display())))?;
        let (schema, f) = schema();
        let mmap = tantivy::directory::MmapDirectory::open(dir)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", dir.display())))?;
        let index = match Index::open_or_create(mmap, schema.clone()) {
            Ok(i) => i,
            Err(_) => {
                // A damaged or incompatible index is derived data: start it again.
                std::fs::remove_dir_all(dir)
                    .map_err(|e| StoreError::Corrupt(format!("{}: {e}", dir.display())))?;
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Corrupt(format!("{}: {e}", dir.display())))?;
                Index::create_in_dir(dir, schema)?
            }
        };
        index.tokenizers().register(ANALYZER, analyzer());
        // One indexing thread with tantivy's smallest memory budget: a node's index is small.
        let writer = index.writer_with_num_threads(1, 15_000_000)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            index,
            reader,
            writer: Mutex::new(writer),
            f,
        })
    }

    /// The store sequence number the last commit covered.
    pub(crate) fn applied_seq(&self) -> Result<u64, StoreError> {
        Ok(self
            .index
            .load_metas()?
            .payload
            .and_then(|p| p.parse().ok())
            .unwrap_or(0))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.reader.searcher().num_docs() == 0
    }

    fn document(&self, d: &Doc) -> TantivyDocument {
        let f = &self.f;
        let mut doc = doc!(f.pn => d.pn.clone(), f.id => d.id.clone(), f.kind => d.kind, f.publisher => d.publisher.clone());
        if !d.status.is_empty() {
            doc.add_text(f.status, d.status);
        }
        for v in &d.lgsl {
            doc.add_text(f.lgsl, v);
        }
        for v in &d.area {
            doc.add_text(f.area, v);
        }
        for v in &d.title {
            doc.add_text(f.title, v);
        }
        for v in &d.keyword {
            doc.add_text(f.keyword, v);
        }
        for v in &d.body {
            doc.add_text(f.body, v);
        }
        doc
    }

    /// Replaces the documents of these heads and commits, recording `seq`.
    pub(crate) fn apply(&self, docs: &[Doc], seq: u64) -> Result<(), StoreError> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        for d in docs {
            w.delete_term(Term::from_field_text(self.f.pn, &d.pn));
            w.add_document(self.document(d))?;
        }
        let mut c = w.prepare_commit()?;
        c.set_payload(&seq.to_string());
        c.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Drops everything and indexes `docs`.
    pub(crate) fn rebuild(&self, docs: &[Doc], seq: u64) -> Result<(), StoreError> {
        {
            let w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            w.delete_all_documents()?;
        }
        self.apply(docs, seq)
    }
}

fn term_query(field: Field, value: &str) -> Box<dyn TQuery> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

impl Registry {
    /// Runs a search.
    pub fn search(&self, q: &Query) -> Result<Page, SearchError> {
        if q.text.len() > MAX_QUERY {
            return Err(QueryError::TooLong.into());
        }
        let offset = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => 0,
            Some(c) => decode_cursor(c)?,
        };
        let page_size = q.page_size.clamp(1, MAX_PAGE);
        let t = &self.text;
        let f = &t.f;
        let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = vec![];

        // Text: each analysed term, in any of the text fields, boosted by field.
        let mut terms = vec![];
        let mut analyzer = t.index.tokenizers().get(ANALYZER).unwrap_or_else(analyzer);
        let mut stream = analyzer.token_stream(&q.text);
        while let Some(tok) = stream.next() {
            if terms.len() < 32 && !terms.contains(&tok.text) {
                terms.push(tok.text.clone());
            }
        }
        if !terms.is_empty() {
            let mut should: Vec<(Occur, Box<dyn TQuery>)> = vec![];
            for term in &terms {
                for (field, boost) in [
                    (f.title, BOOST_TITLE),
                    (f.keyword, BOOST_KEYWORD),
                    (f.body, 1.0),
                ] {
                    let tq = TermQuery::new(
                        Term::from_field_text(field, term),
                        IndexRecordOption::WithFreqs,
                    );
                    should.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(tq), boost)),
                    ));
                }
            }
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(should))));
        } else {
            clauses.push((Occur::Must, Box::new(AllQuery)));
        }

        // Exact filters.
        if let Some(k) = &q.kind {
            if !matches!(k.as_str(), "service" | "dataset" | "org" | "retraction") {
                return Err(QueryError::Filter {
                    field: "kind",
                    reason: format!("{k:?} is not service, dataset, org or retraction"),
                }
                .into());
            }
            clauses.push((Occur::Must, term_query(f.kind, k)));
        }
        if let Some(code) = q.lgsl {
            clauses.push((Occur::Must, term_query(f.lgsl, &code.to_string())));
        }
        if let Some(area) = &q.area {
            if !lgmesh_protocol::identity::is_gss_code(area) {
                return Err(QueryError::Filter {
                    field: "area",
                    reason: format!("{area:?} is not a GSS code (e.g. E07000209)"),
                }
                .into());
            }
            clauses.push((Occur::Must, term_query(f.area, area)));
        }
        if let Some(status) = &q.status {
            clauses.push((Occur::Must, term_query(f.status, status)));
        }
        if let Some(org) = &q.org {
            let pubs: Vec<(Occur, Box<dyn TQuery>)> = self
                .publishers_of_org(org)?
                .iter()
                .map(|pk| {
                    (
                        Occur::Should,
                        term_query(f.publisher, &hex::encode(pk.as_bytes())),
                    )
                })
                .collect();
            if pubs.is_empty() {
                return Ok(Page::default());
            }
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(pubs))));
        }
        if !q.include_retracted && q.kind.as_deref() != Some("retraction") {
            clauses.push((Occur::MustNot, term_query(f.kind, "retraction")));
        }
        let query = BooleanQuery::new(clauses);

        let searcher = t.reader.searcher();
        let (top, total) = searcher.search(
            &query,
            &(
                TopDocs::with_limit(page_size + 1)
                    .and_offset(offset)
                    .order_by_score(),
                Count,
            ),
        )?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top.iter().take(page_size) {
            let doc: TantivyDocument = searcher.doc(*addr)?;
            let id = doc
                .get_first(f.id)
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse::<ManifestId>().ok())
                .ok_or_else(|| StoreError::Corrupt("text index document without an id".into()))?;
            hits.push(Hit {
                id,
                score: f64::from(*score),
            });
        }
        let next = offset + hits.len();
        let next_cursor = (top.len() > page_size && next < MAX_OFFSET).then(|| encode_cursor(next));
        Ok(Page {
            hits,
            next_cursor,
            total: total as u64,
        })
    }
}

/// Cursors are opaque to clients: an offset with a check byte, so a hand-made or damaged
/// cursor is refused instead of silently starting elsewhere.
fn encode_cursor(offset: usize) -> String {
    let o = offset as u32;
    let check = (o.wrapping_mul(2_654_435_761) >> 24) as u8 ^ 0x5a;
    format!("{o:08x}{check:02x}")
}

fn decode_cursor(s: &str) -> Result<usize, QueryError> {
    if s.len() != 10 {
        return Err(QueryError::Cursor);
    }
    let o = u32::from_str_radix(&s[..8], 16).map_err(|_| QueryError::Cursor)?;
    let c = u8::from_str_radix(&s[8..], 16).map_err(|_| QueryError::Cursor)?;
    if encode_cursor(o as usize) != s
        || c != ((o.wrapping_mul(2_654_435_761) >> 24) as u8 ^ 0x5a)
        || o as usize > MAX_OFFSET
    {
        return Err(QueryError::Cursor);
    }
    Ok(o as usize)
}
