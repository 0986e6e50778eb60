//! The text index: a tantivy index on disk, the one thread that writes it, and the
//! running of queries against it. The store queues the documents of changed heads
//! ([`TextIndex::submit`]) under its change sequence number, and waits, when it must,
//! until the index has committed a sequence ([`TextIndex::wait_for`]); a query is
//! planned ([`TextIndex::plan`]) and run ([`TextIndex::run`]) meanwhile. It knows
//! nothing of the store.

use std::ops::Bound;
use std::path::Path;
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::identity::PublisherKey;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, Occur, Query as TQuery, RangeQuery, TermQuery,
};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

use super::{
    Doc, Hit, MAX_OFFSET, MAX_PAGE, Page, Query, QueryError, SearchError, TRUST_KINDS,
    decode_cursor, encode_cursor,
};
use crate::error::StoreError;

/// Field boosts: a title word counts three times, a keyword twice.
const BOOST_TITLE: f32 = 3.0;
const BOOST_KEYWORD: f32 = 2.0;
const ANALYZER: &str = "en_stem";
// The schema changed (expiry as a fast field): a new directory name, rebuilt from sled.

#[derive(Clone, Copy)]
struct Fields {
    pn: Field,
    /// The manifest id as four u64 fast fields: read by column, never from the doc store.
    id: [Field; 4],
    kind: Field,
    lgsl: Field,
    area: Field,
    standard: Field,
    answers: Field,
    publisher: Field,
    status: Field,
    expires: Field,
    title: Field,
    keyword: Field,
    body: Field,
}

/// The tantivy index. Its one writer lives on an indexing thread fed through a bounded
/// queue, so indexing overlaps the next batch's verification and storage, and many
/// queued batches share one commit.
pub(crate) struct TextIndex {
    /// False for a store opened without search (simulations): nothing is indexed.
    enabled: bool,
    index: Index,
    reader: IndexReader,
    f: Fields,
    tx: Mutex<Option<SyncSender<Job>>>,
    state: Arc<(Mutex<IndexState>, Condvar)>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

enum Job {
    /// Replace these heads' documents; the store's change sequence is now `seq`.
    /// `urgent`: someone waits for it, so commit as soon as the queue is drained.
    Apply(Vec<Doc>, u64, bool),
    /// Drop everything, then index these.
    Rebuild(Vec<Doc>, u64),
    /// Commit what has been added (someone waits for it).
    Commit,
}

#[derive(Default)]
struct IndexState {
    /// Highest store sequence committed to the index.
    applied: u64,
    /// The last indexing failure, if any (reported to waiters; the log keeps the work).
    error: Option<String>,
}

/// Jobs waiting for the indexing thread. Bounded: a writer that outruns indexing waits.
const QUEUE: usize = 16;
/// How long `wait_for` waits for the index before giving up.
const WAIT: Duration = Duration::from_secs(60);
/// The indexing writer is dropped after this long without work, to give back its memory.
const IDLE: Duration = Duration::from_secs(2);
/// Memory budget of the writer. Tantivy writes a segment each time the budget fills, and
/// merges them later: at its smallest (15 MB), writing and merging the extra segments
/// cost a new node catching up on 100,000 manifests 6 % more CPU. The arena takes
/// pages only as documents fill it, and the writer is dropped when idle (`IDLE`), so a
/// node receiving the odd manifest holds a few MB of it for two seconds, not this.
const WRITER_BYTES: usize = 60_000_000;
/// Uncommitted work is committed after this long without anyone waiting: a bulk
/// ingest pays for one commit per interval instead of one per batch.
const COMMIT_EVERY: Duration = Duration::from_millis(500);

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let f = Fields {
        pn: b.add_text_field("pn", STRING),
        id: ["id0", "id1", "id2", "id3"].map(|n| b.add_u64_field(n, FAST)),
        kind: b.add_text_field("kind", STRING),
        lgsl: b.add_text_field("lgsl", STRING),
        area: b.add_text_field("area", STRING),
        standard: b.add_text_field("standard", STRING),
        answers: b.add_text_field("answers", STRING),
        publisher: b.add_text_field("publisher", STRING),
        status: b.add_text_field("status", STRING),
        expires: b.add_u64_field("expires", FAST),
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

fn document(f: &Fields, d: &Doc) -> TantivyDocument {
    let mut doc = doc!(f.pn => d.pn.clone(), f.kind => d.kind, f.publisher => d.publisher.clone());
    for (i, field) in f.id.iter().enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&d.id.as_bytes()[i * 8..i * 8 + 8]);
        doc.add_u64(*field, u64::from_be_bytes(w));
    }
    if !d.status.is_empty() {
        doc.add_text(f.status, d.status);
    }
    doc.add_u64(f.expires, d.expires);
    for (field, values) in [
        (f.lgsl, &d.lgsl),
        (f.area, &d.area),
        (f.standard, &d.standard),
        (f.answers, &d.answers),
        (f.title, &d.title),
        (f.keyword, &d.keyword),
        (f.body, &d.body),
    ] {
        for v in values {
            doc.add_text(field, v);
        }
    }
    doc
}

fn io_err(dir: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{}: {e}", dir.display()))
}

impl TextIndex {
    /// An empty in-memory index that indexes nothing (no thread, no writer).
    pub(crate) fn disabled() -> Result<Self, StoreError> {
        let (schema, f) = schema();
        let index = Index::create_in_ram(schema);
        index.tokenizers().register(ANALYZER, analyzer());
        let reader: IndexReader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            enabled: false,
            index,
            reader,
            f,
            tx: Mutex::new(None),
            state: Arc::new((
                Mutex::new(IndexState {
                    applied: 0,
                    error: None,
                }),
                Condvar::new(),
            )),
            thread: Mutex::new(None),
        })
    }

    /// Whether it indexes anything (false when the store was opened without search).
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Opens or creates the index in `dir` and starts its indexing thread. `on_commit`
    /// runs on that thread after each commit with the sequence committed (the store
    /// trims its change log with it).
    pub(crate) fn open(
        dir: &Path,
        on_commit: impl Fn(u64) + Send + 'static,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let (schema, f) = schema();
        let mmap = tantivy::directory::MmapDirectory::open(dir).map_err(|e| io_err(dir, e))?;
        let index = match Index::open_or_create(mmap, schema.clone()) {
            Ok(i) => i,
            Err(_) => {
                // A damaged or incompatible index is derived data: start it again.
                std::fs::remove_dir_all(dir).map_err(|e| io_err(dir, e))?;
                std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
                Index::create_in_dir(dir, schema)?
            }
        };
        index.tokenizers().register(ANALYZER, analyzer());
        // One indexing thread with tantivy's smallest memory budget: a node's index is small.
        let reader: IndexReader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let applied = index
            .load_metas()?
            .payload
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let state = Arc::new((
            Mutex::new(IndexState {
                applied,
                error: None,
            }),
            Condvar::new(),
        ));
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let thread = {
            let state = state.clone();
            let reader = reader.clone();
            let index = index.clone();
            std::thread::Builder::new()
                .name("lgmesh-index".into())
                .spawn(move || {
                    // The writer (and its memory arena) exists only while there is work:
                    // an idle node does not hold it.
                    let mut writer: Option<IndexWriter> = None;
                    let mut pending: Option<u64> = None;
                    let mut since = std::time::Instant::now();
                    loop {
                        let job = match (pending, &writer) {
                            (None, None) => match rx.recv() {
                                Ok(j) => Some(j),
                                Err(_) => break,
                            },
                            (None, Some(_)) => match rx.recv_timeout(IDLE) {
                                Ok(j) => Some(j),
                                Err(RecvTimeoutError::Timeout) => {
                                    retire(writer.take());
                                    continue;
                                }
                                Err(RecvTimeoutError::Disconnected) => break,
                            },
                            // None: time to commit, or closing; either way commit what is pending.
                            (Some(_), _) => match rx
                                .recv_timeout(COMMIT_EVERY.saturating_sub(since.elapsed()))
                            {
                                Ok(j) => Some(j),
                                Err(RecvTimeoutError::Timeout) => None,
                                // Closing: the commit after the loop takes what is pending.
                                Err(RecvTimeoutError::Disconnected) => break,
                            },
                        };
                        let mut urgent = job.is_none();
                        if let Some(job) = job {
                            // Take whatever else is queued too.
                            let mut jobs = vec![job];
                            while let Ok(j) = rx.try_recv() {
                                jobs.push(j);
                            }
                            let w = match writer
                                .take()
                                .map_or_else(|| index.writer_with_num_threads(1, WRITER_BYTES), Ok)
                            {
                                Ok(w) => writer.insert(w),
                                Err(e) => {
                                    fail(&state, e);
                                    continue;
                                }
                            };
                            let (seq, u) = match add_jobs(w, &f, jobs) {
                                Ok(x) => x,
                                Err(e) => {
                                    fail(&state, e);
                                    continue;
                                }
                            };
                            urgent |= u;
                            if pending.is_none() {
                                since = std::time::Instant::now();
                            }
                            pending = Some(pending.unwrap_or(0).max(seq));
                        }
                        let (Some(seq), Some(w)) = (pending, writer.as_mut()) else {
                            continue;
                        };
                        if !urgent && since.elapsed() < COMMIT_EVERY {
                            continue;
                        }
                        let seq =
                            seq.max(state.0.lock().unwrap_or_else(|p| p.into_inner()).applied);
                        match commit(w, &reader, seq) {
                            Ok(()) => {
                                pending = None;
                                let (lock, cvar) = &*state;
                                let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
                                st.applied = st.applied.max(seq);
                                st.error = None;
                                drop(st);
                                cvar.notify_all();
                                on_commit(seq);
                            }
                            Err(e) => {
                                // Keep the documents pending and retry at the next
                                // interval, not at once: a failing disk must not spin.
                                since = std::time::Instant::now();
                                fail(&state, e)
                            }
                        }
                    }
                    // Closing: commit what is left.
                    if let (Some(seq), Some(w)) = (pending, writer.as_mut()) {
                        let _ = commit(w, &reader, seq);
                    }
                    retire(writer);
                })
                .map_err(|e| io_err(dir, e))?
        };
        Ok(Self {
            enabled: true,
            index,
            reader,
            f,
            tx: Mutex::new(Some(tx)),
            state,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The store sequence number the index has committed.
    pub(crate) fn applied_seq(&self) -> u64 {
        self.state
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .applied
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.reader.searcher().num_docs() == 0
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match tx {
            Some(tx) => tx
                .send(job)
                .map_err(|_| StoreError::Corrupt("the indexing thread has stopped".into())),
            None => Err(StoreError::Corrupt("the text index is closed".into())),
        }
    }

    /// Queues the documents of changed heads; they are searchable once `seq` is applied.
    /// `urgent` when the caller will wait for it.
    pub(crate) fn submit(&self, docs: Vec<Doc>, seq: u64, urgent: bool) -> Result<(), StoreError> {
        if !self.enabled {
            return Ok(());
        }
        self.send(Job::Apply(docs, seq, urgent))
    }

    /// Queues a rebuild from scratch.
    pub(crate) fn rebuild(&self, docs: Vec<Doc>, seq: u64) -> Result<(), StoreError> {
        if !self.enabled {
            return Ok(());
        }
        self.send(Job::Rebuild(docs, seq))
    }

    /// Waits until the index has committed `seq` (so searches see it), asking the
    /// indexing thread to commit now.
    pub(crate) fn wait_for(&self, seq: u64) -> Result<(), StoreError> {
        if !self.enabled || self.applied_seq() >= seq {
            return Ok(());
        }
        self.send(Job::Commit)?;
        let (lock, cvar) = &*self.state;
        let deadline = std::time::Instant::now() + WAIT;
        let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
        while st.applied < seq {
            if let Some(e) = &st.error {
                return Err(StoreError::Corrupt(format!("indexing failed: {e}")));
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(StoreError::Corrupt(
                    "the text index did not catch up in time".into(),
                ));
            }
            st = cvar
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Ok(())
    }

    /// Stops the indexing thread after it has drained its queue.
    pub(crate) fn close(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl Drop for TextIndex {
    fn drop(&mut self) {
        self.close();
    }
}

/// Lets the writer's merges finish, then drops it. Dropping a writer outright abandons
/// the merges under way: their threads go on writing files that nothing will use, after
/// the store is closed and perhaps while its directory is being removed. A merge that
/// fails leaves the segments it would have merged, which still serve every search.
fn retire(writer: Option<IndexWriter>) {
    if let Some(w) = writer {
        let _ = w.wait_merging_threads();
    }
}

fn fail(state: &Arc<(Mutex<IndexState>, Condvar)>, e: tantivy::TantivyError) {
    let (lock, cvar) = &**state;
    lock.lock().unwrap_or_else(|p| p.into_inner()).error = Some(e.to_string());
    cvar.notify_all();
}

/// Adds the jobs' documents to the writer without committing. Returns the highest
/// sequence seen and whether anyone is waiting.
fn add_jobs(writer: &mut IndexWriter, f: &Fields, jobs: Vec<Job>) -> tantivy::Result<(u64, bool)> {
    let mut seq = 0;
    let mut urgent = false;
    for job in jobs {
        let docs = match job {
            Job::Apply(d, s, u) => {
                seq = seq.max(s);
                urgent |= u;
                d
            }
            Job::Rebuild(d, s) => {
                writer.delete_all_documents()?;
                seq = seq.max(s);
                urgent = true;
                d
            }
            Job::Commit => {
                urgent = true;
                continue;
            }
        };
        for d in &docs {
            if !d.new_name {
                writer.delete_term(Term::from_field_text(f.pn, &d.pn));
            }
            if !d.gone {
                writer.add_document(document(f, d))?;
            }
        }
    }
    Ok((seq, urgent))
}

fn commit(writer: &mut IndexWriter, reader: &IndexReader, seq: u64) -> tantivy::Result<()> {
    let mut c = writer.prepare_commit()?;
    c.set_payload(&seq.to_string());
    c.commit()?;
    reader.reload()?;
    Ok(())
}

/// Documents whose head expired by `now_ms`.
fn expired_by(f: &Fields, now_ms: u64) -> RangeQuery {
    RangeQuery::new(
        Bound::Unbounded,
        Bound::Included(Term::from_field_u64(f.expires, now_ms)),
    )
}

/// Documents by any of `keys`; `None` when there are none (nothing can match).
fn any_publisher<'a>(
    f: &Fields,
    keys: impl Iterator<Item = &'a PublisherKey>,
) -> Option<Box<dyn TQuery>> {
    let pubs: Vec<(Occur, Box<dyn TQuery>)> = keys
        .map(|pk| {
            (
                Occur::Should,
                term_query(f.publisher, &hex::encode(pk.as_bytes())),
            )
        })
        .collect();
    (!pubs.is_empty()).then(|| Box::new(BooleanQuery::new(pubs)) as Box<dyn TQuery>)
}

fn term_query(field: Field, value: &str) -> Box<dyn TQuery> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

/// A search in the index's terms: its text and exact filters, checked. The store
/// narrows it to publishers ([`Plan::only_publishers`]) before the index runs it
/// ([`TextIndex::run`]).
pub(crate) struct Plan {
    f: Fields,
    offset: usize,
    page_size: usize,
    /// The analysed terms of the text (none: a listing).
    terms: Vec<String>,
    clauses: Vec<(Occur, Box<dyn TQuery>)>,
}

impl Plan {
    /// Keeps only documents by one of `keys`. False when there are none: nothing can
    /// match, and the search need not run.
    pub(crate) fn only_publishers<'a>(
        &mut self,
        keys: impl Iterator<Item = &'a PublisherKey>,
    ) -> bool {
        match any_publisher(&self.f, keys) {
            Some(q) => {
                self.clauses.push((Occur::Must, q));
                true
            }
            None => false,
        }
    }
}

impl TextIndex {
    /// Checks `q` and turns its text and exact filters into the index's terms.
    pub(crate) fn plan(&self, q: &Query) -> Result<Plan, QueryError> {
        q.check()?;
        let offset = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => 0,
            Some(c) => decode_cursor(c)?,
        };
        let page_size = q.page_size.clamp(1, MAX_PAGE);
        let f = &self.f;
        let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = vec![];

        // Text: each analysed term, in any of the text fields, boosted by field.
        let mut terms = vec![];
        let mut analyzer = self
            .index
            .tokenizers()
            .get(ANALYZER)
            .unwrap_or_else(analyzer);
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
        }

        // Exact filters.
        if let Some(k) = &q.kind {
            clauses.push((Occur::Must, term_query(f.kind, k)));
        }
        if let Some(code) = q.lgsl {
            clauses.push((Occur::Must, term_query(f.lgsl, &code.to_string())));
        }
        if let Some(area) = &q.area {
            clauses.push((Occur::Must, term_query(f.area, area)));
        }
        if let Some(status) = &q.status {
            clauses.push((Occur::Must, term_query(f.status, status)));
        }
        if let Some(standard) = &q.standard {
            let key = crate::search::standard_key(standard);
            clauses.push((Occur::Must, term_query(f.standard, &key)));
        }
        if let Some(key) = q.answers.as_deref().and_then(crate::search::answers_key) {
            clauses.push((Occur::Must, term_query(f.answers, &key)));
        }
        Ok(Plan {
            f: *f,
            offset,
            page_size,
            terms,
            clauses,
        })
    }

    /// Runs a plan: the exclusions every search has (tombstones, records of trust and
    /// reuse, expired heads, unless asked for), then one page of the best matches.
    pub(crate) fn run(&self, q: &Query, plan: Plan) -> Result<Page, SearchError> {
        let Plan {
            f,
            offset,
            page_size,
            terms,
            mut clauses,
        } = plan;
        let f = &f;
        // Tombstones carry no text, so only listings without text need to exclude them;
        // leaving text queries free of exclusions lets tantivy prune with block-WAND.
        if terms.is_empty() && !q.include_retracted && q.kind.as_deref() != Some("retraction") {
            clauses.push((Occur::MustNot, term_query(f.kind, "retraction")));
        }
        // Records of trust and reuse carry no text either: listed only when asked for.
        if terms.is_empty() && q.kind.is_none() {
            // Asked for what answers a need, adoptions are listed with services.
            for k in TRUST_KINDS
                .into_iter()
                .filter(|k| q.answers.is_none() || *k != "adoption")
            {
                clauses.push((Occur::MustNot, term_query(f.kind, k)));
            }
        }
        let searcher = self.reader.searcher();
        // Expired heads are rare: pay for excluding them only when there are some.
        if !q.include_expired {
            let expired = expired_by(f, q.now());
            if searcher.search(&expired, &Count)? > 0 {
                clauses.push((Occur::MustNot, Box::new(expired)));
            }
        }
        if !clauses.iter().any(|(o, _)| *o == Occur::Must) {
            // Only exclusions (or nothing): start from every document.
            clauses.push((Occur::Must, Box::new(AllQuery)));
        }
        let query = BooleanQuery::new(clauses);

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
            let fast = searcher.segment_reader(addr.segment_ord).fast_fields();
            let mut id = [0u8; 32];
            for (i, name) in ["id0", "id1", "id2", "id3"].iter().enumerate() {
                let word = fast.u64(name)?.first(addr.doc_id).ok_or_else(|| {
                    StoreError::Corrupt("text index document without an id".into())
                })?;
                id[i * 8..i * 8 + 8].copy_from_slice(&word.to_be_bytes());
            }
            hits.push(Hit {
                id: ManifestId(id),
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

    /// How many documents' heads have expired by `now_ms`.
    pub(crate) fn count_expired(&self, now_ms: u64) -> tantivy::Result<usize> {
        let expired = expired_by(&self.f, now_ms);
        self.reader.searcher().search(&expired, &Count)
    }
}
