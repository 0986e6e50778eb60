//! Search: ranked full text (BM25 over English-stemmed title, keywords, summary and
//! description) with exact filters (kind, LGSL code, GSS area, organisation, status)
//! and cursor pagination, over current heads only.
//!
//! The index is a tantivy index beside sled: derived data, one document per
//! `(publisher, name)` head, replaced when the head changes. Each commit records the
//! store's change sequence number it covers, so the store, when it opens, replays only
//! what a crash left out, or rebuilds the whole index from sled if it is lost.
//!
//! The index sits below the store and knows nothing of it: the store owns it, feeds it
//! the documents of changed heads, and answers searches by narrowing the index's plan
//! of a query with what only the store knows (an organisation's keys, the keys this
//! node verifies) before the index runs it.
//!
//! This module holds what a search is and what it returns, and the document a head
//! becomes; the index, the thread that writes it and the running of queries are in
//! its `index` submodule.

use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_protocol::v1::{ManifestBody, manifest_body::Kind};

use crate::error::StoreError;

mod index;
pub(crate) use index::TextIndex;

/// Largest page.
pub const MAX_PAGE: usize = 100;
/// Longest query text, in bytes.
pub const MAX_QUERY: usize = 1000;
/// Deepest result reachable by paging.
pub const MAX_OFFSET: usize = 10_000;
/// Kinds that record trust and reuse rather than describe something: listed only when
/// a search or watch names the kind.
pub const TRUST_KINDS: [&str; 4] = ["endorsement", "adoption", "key-rotation", "revocation"];

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
    /// A standard the service or dataset conforms to (`standards`, or a dataset's
    /// `conforms_to`): matched whole, ignoring case and a trailing `/`
    /// (see [`standard_key`]).
    pub standard: Option<String>,
    /// Only services and adoptions that answer a need: `did:key:…/name` for one need,
    /// `did:key:…` for any of a publisher's (see [`answers_key`]). Adoptions are listed
    /// with it even without `kind`.
    pub answers: Option<String>,
    /// Page size, 1–100.
    pub page_size: usize,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Include tombstones.
    pub include_retracted: bool,
    /// Only manifests whose publisher this node verifies (see [`crate::trust`]).
    pub verified_only: bool,
    /// Include heads whose `expires_at_ms` has passed. Default: hidden.
    pub include_expired: bool,
    /// The time expiry is judged at; 0 means now.
    pub now_ms: u64,
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

/// What the index holds for one head.
pub(crate) struct Doc {
    pn: String,
    id: ManifestId,
    kind: &'static str,
    publisher: String,
    status: &'static str,
    expires: u64,
    lgsl: Vec<String>,
    area: Vec<String>,
    /// [`standard_key`] of each standard it conforms to.
    standard: Vec<String>,
    /// Each need it answers as `hex(publisher)/name`, and each need's `hex(publisher)`.
    answers: Vec<String>,
    title: Vec<String>,
    keyword: Vec<String>,
    body: Vec<String>,
    /// The store had no head of this name before: the index holds no document to
    /// replace, and the delete (which tantivy applies to every segment at the next
    /// commit) is skipped.
    new_name: bool,
    /// The name has no head any more: its document is deleted, none is added.
    gone: bool,
}

impl Doc {
    /// Whether the document is the first head of its name (see `new_name`).
    pub(crate) fn with_new_name(self, new_name: bool) -> Doc {
        Doc { new_name, ..self }
    }

    /// The change for a name (`publisher | name`) whose head is gone.
    pub(crate) fn gone(pn: &[u8]) -> Doc {
        Doc {
            pn: hex::encode(pn),
            id: ManifestId([0; 32]),
            kind: "",
            publisher: String::new(),
            status: "",
            expires: 0,
            lgsl: vec![],
            area: vec![],
            standard: vec![],
            answers: vec![],
            title: vec![],
            keyword: vec![],
            body: vec![],
            new_name: false,
            gone: true,
        }
    }

    pub(crate) fn of(publisher: &PublisherKey, body: &ManifestBody, id: &ManifestId) -> Doc {
        let mut d = Doc {
            // The name's key, `publisher | name`: as the store lays out its keys and
            // change log, which `Doc::gone` is given.
            pn: hex::encode([&publisher.as_bytes()[..], body.name.as_bytes()].concat()),
            id: *id,
            kind: lgmesh_protocol::schema::kind_name(body.kind.as_ref()),
            publisher: hex::encode(publisher.as_bytes()),
            status: "",
            expires: body.expires_at_ms,
            lgsl: vec![],
            area: vec![],
            standard: vec![],
            answers: vec![],
            title: vec![],
            keyword: vec![],
            body: vec![],
            new_name: false,
            gone: false,
        };
        let (common, local) = match &body.kind {
            Some(Kind::Service(s)) => {
                d.status = lgmesh_protocol::document::enum_label(
                    lgmesh_protocol::document::EnumTable::ServiceStatus,
                    s.service_status,
                );
                d.answers = answer_keys(&s.answers);
                (s.common.as_ref(), s.local.as_ref())
            }
            Some(Kind::Dataset(x)) => {
                d.standard = x.conforms_to.iter().map(|s| standard_key(s)).collect();
                (x.common.as_ref(), x.local.as_ref())
            }
            Some(Kind::Adoption(a)) => {
                d.answers = answer_keys(&a.answers);
                (None, None)
            }
            Some(Kind::Org(o)) => {
                d.title.push(o.name.clone());
                d.keyword.push(o.org_id.clone());
                (None, None)
            }
            Some(Kind::Need(n)) => {
                d.title.push(n.title.clone());
                d.body.push(n.description.clone());
                d.lgsl = n.lgsl.iter().map(u32::to_string).collect();
                d.area = n.coverage.clone();
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
            for s in &l.standards {
                let k = standard_key(s);
                if !d.standard.contains(&k) {
                    d.standard.push(k);
                }
            }
        }
        d
    }
}

/// The longest `standard` filter, in bytes (as long as a standard in a manifest).
pub const MAX_STANDARD: usize = 2048;

impl Query {
    /// Refuses a malformed filter, naming it: an unknown kind, an area that is not a GSS
    /// code, text or a standard too long to be one. Search and watch both ask.
    pub fn check(&self) -> Result<(), QueryError> {
        if self.text.len() > MAX_QUERY {
            return Err(QueryError::TooLong);
        }
        if let Some(k) = &self.kind
            && !lgmesh_protocol::schema::KINDS.contains(&k.as_str())
        {
            return Err(QueryError::Filter {
                field: "kind",
                reason: format!(
                    "{k:?} is not one of {}",
                    lgmesh_protocol::schema::KINDS.join(", ")
                ),
            });
        }
        if let Some(area) = &self.area
            && !lgmesh_protocol::identity::is_gss_code(area)
        {
            return Err(QueryError::Filter {
                field: "area",
                reason: format!("{area:?} is not a GSS code (e.g. E07000209)"),
            });
        }
        if let Some(a) = &self.answers
            && answers_key(a).is_none()
        {
            return Err(QueryError::Filter {
                field: "answers",
                reason: format!("{a:?} is not a need (did:key:z6Mk…/name) or a did:key"),
            });
        }
        if let Some(s) = &self.standard {
            let key = standard_key(s);
            if key.is_empty() || key.len() > MAX_STANDARD {
                return Err(QueryError::Filter {
                    field: "standard",
                    reason: format!("must be 1–{MAX_STANDARD} bytes (a URI or a name)"),
                });
            }
        }
        Ok(())
    }

    fn now(&self) -> u64 {
        if self.now_ms == 0 {
            lgmesh_protocol::now_ms()
        } else {
            self.now_ms
        }
    }

    /// Does one manifest pass this query's filters, and contain every word of its text
    /// (case-insensitive, unranked)? For streams of new manifests, where there is no
    /// index to ask. `org_id` is the publisher's organisation from its org card;
    /// `verified`, whether this node verifies the publisher.
    pub fn matches(
        &self,
        publisher: &PublisherKey,
        body: &ManifestBody,
        org_id: Option<&str>,
        verified: bool,
    ) -> bool {
        let d = Doc::of(publisher, body, &ManifestId([0; 32]));
        if d.kind == "retraction"
            && !self.include_retracted
            && self.kind.as_deref() != Some("retraction")
        {
            return false;
        }
        let adoption_answers = self.answers.is_some() && d.kind == "adoption";
        if self.kind.is_none() && TRUST_KINDS.contains(&d.kind) && !adoption_answers {
            return false;
        }
        let fail = self.kind.as_deref().is_some_and(|k| k != d.kind)
            || self.lgsl.is_some_and(|l| !d.lgsl.contains(&l.to_string()))
            || self
                .area
                .as_deref()
                .is_some_and(|a| !d.area.iter().any(|x| x.eq_ignore_ascii_case(a)))
            || self
                .status
                .as_deref()
                .is_some_and(|st| !d.status.eq_ignore_ascii_case(st))
            || self
                .standard
                .as_deref()
                .is_some_and(|s| !d.standard.contains(&standard_key(s)))
            || self
                .answers
                .as_deref()
                .is_some_and(|a| answers_key(a).is_none_or(|k| !d.answers.contains(&k)))
            || self.org.as_deref().is_some_and(|o| org_id != Some(o))
            || (self.verified_only && !verified)
            || (!self.include_expired && body.expires_at_ms <= self.now());
        if fail {
            return false;
        }
        let hay = d
            .title
            .iter()
            .chain(&d.keyword)
            .chain(&d.body)
            .map(|s| s.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ");
        self.text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .all(|w| hay.contains(&w.to_lowercase()))
    }
}

/// The index's form of an `answers` filter: `hex(publisher)/name` for one need,
/// `hex(publisher)` for any of a publisher's; `None` when it is neither.
pub fn answers_key(s: &str) -> Option<String> {
    let s = s.trim();
    let (did, name) = match s.split_once('/') {
        Some((d, n)) => (d, Some(n)),
        None => (s, None),
    };
    let pk = did.parse::<PublisherKey>().ok()?;
    match name {
        None => Some(hex::encode(pk.as_bytes())),
        Some(n) if lgmesh_protocol::identity::is_slug(n) => {
            Some(format!("{}/{n}", hex::encode(pk.as_bytes())))
        }
        Some(_) => None,
    }
}

/// What the index holds of the needs a manifest answers (see [`answers_key`]).
fn answer_keys(refs: &[lgmesh_protocol::v1::NeedRef]) -> Vec<String> {
    let mut out = vec![];
    for r in refs {
        let pk = hex::encode(&r.publisher);
        out.push(format!("{pk}/{}", r.name));
        if !out.contains(&pk) {
            out.push(pk);
        }
    }
    out
}

/// How a standard is compared: trimmed, lower-cased, without a trailing `/`, so that
/// `https://example.org/Waste/` and `https://example.org/waste` are one standard.
pub fn standard_key(s: &str) -> String {
    s.trim().trim_end_matches('/').to_lowercase()
}

/// Cursors are opaque to clients: an offset with a check byte, so a hand-made or damaged
/// cursor is refused instead of silently starting elsewhere.
fn encode_cursor(offset: usize) -> String {
    let o = offset as u32;
    let check = (o.wrapping_mul(2_654_435_761) >> 24) as u8 ^ 0x5a;
    format!("{o:08x}{check:02x}")
}

fn decode_cursor(s: &str) -> Result<usize, QueryError> {
    // Ten hex digits; anything else (multibyte characters included, which the slices
    // below would cut inside) is not a cursor.
    if s.len() != 10 || !s.is_ascii() {
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
