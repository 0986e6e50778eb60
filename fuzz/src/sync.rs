//! The `sync-request` and `sync-response` targets: a peer's sync frames into
//! `lgmesh_net::fuzzing::SyncTarget`, the code a node runs on a sync stream, without a
//! swarm.
//!
//! A built frame is a [`Request`] or [`Response`] (the `lgmesh.v1` sync messages, with
//! ids taken from the store and negentropy messages built range by range), encoded
//! length-delimited as on the wire, then perhaps [`Mangle`]d.

use arbitrary::Arbitrary;
use lgmesh_net::fuzzing::SyncTarget;
use lgmesh_protocol::v1::{
    FetchRequest, Manifests, Nudge, StreamRequest, SyncRequest, SyncResponse, sync_request,
    sync_response,
};
use prost::Message;

use crate::envelope::Manifest;
use crate::text::{Num, Text};
use crate::{Input, Mangle, Store, Target, seed_envelopes};

/// A manifest id: one the store holds, a prefix of one, or any bytes.
#[derive(Debug, Arbitrary)]
enum Id {
    Stored(u8),
    /// The first `n % 33` bytes of a stored id.
    Prefix(u8, u8),
    Raw(Vec<u8>),
}

impl Id {
    fn bytes(&self, ids: &[Vec<u8>]) -> Vec<u8> {
        let pick = |i: u8| ids.get(usize::from(i) % ids.len().max(1)).cloned();
        match self {
            Self::Stored(i) => pick(*i).unwrap_or_default(),
            Self::Prefix(i, n) => {
                let mut id = pick(*i).unwrap_or_default();
                id.truncate(usize::from(*n) % 33);
                id
            }
            Self::Raw(b) => b.clone(),
        }
    }
}

/// A negentropy message (protocol `0x61`), range by range.
#[derive(Debug, Arbitrary)]
struct Negentropy {
    /// `None`: version 1; otherwise this byte.
    version: Option<u8>,
    ranges: Vec<Range>,
}

#[derive(Debug, Arbitrary)]
struct Range {
    /// The upper bound's timestamp, as encoded: 0 is infinity, else a delta plus one.
    timestamp: Num,
    bound: Id,
    mode: Mode,
}

#[derive(Debug, Arbitrary)]
enum Mode {
    Skip,
    Fingerprint([u8; 16]),
    IdList(Vec<Id>),
    /// An unknown mode number.
    Other(Num),
}

/// negentropy's varint: big-endian groups of 7 bits, the high bit on all but the last.
fn varint(mut n: u64, out: &mut Vec<u8>) {
    let mut groups = vec![(n & 0x7f) as u8];
    n >>= 7;
    while n > 0 {
        groups.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    out.extend(groups.iter().rev());
}

impl Negentropy {
    fn bytes(&self, ids: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![self.version.unwrap_or(0x61)];
        for r in &self.ranges {
            varint(r.timestamp.get(), &mut out);
            let bound = r.bound.bytes(ids);
            varint(bound.len() as u64, &mut out);
            out.extend_from_slice(&bound);
            match &r.mode {
                Mode::Skip => varint(0, &mut out),
                Mode::Fingerprint(f) => {
                    varint(1, &mut out);
                    out.extend_from_slice(f);
                }
                Mode::IdList(list) => {
                    varint(2, &mut out);
                    varint(list.len() as u64, &mut out);
                    for id in list {
                        out.extend_from_slice(&id.bytes(ids));
                    }
                }
                Mode::Other(n) => varint(n.get(), &mut out),
            }
        }
        out
    }
}

/// A `SyncRequest`.
#[derive(Debug, Arbitrary)]
pub struct Request(RequestKind);

#[derive(Debug, Arbitrary)]
enum RequestKind {
    Reconcile(Negentropy),
    Fetch {
        ids: Vec<Id>,
        id_prefixes: Vec<Id>,
    },
    Stream {
        after_issued_at_ms: Num,
        after_id: Id,
        max_items: Num,
    },
    Nudge(Num),
    Empty,
}

impl Request {
    fn v1(&self, ids: &[Vec<u8>]) -> SyncRequest {
        use RequestKind as R;
        use sync_request::Kind;
        let kind = match &self.0 {
            R::Reconcile(n) => Some(Kind::Reconcile(n.bytes(ids))),
            R::Fetch {
                ids: want,
                id_prefixes,
            } => Some(Kind::Fetch(FetchRequest {
                ids: want.iter().map(|i| i.bytes(ids)).collect(),
                id_prefixes: id_prefixes.iter().flat_map(|i| i.bytes(ids)).collect(),
            })),
            R::Stream {
                after_issued_at_ms,
                after_id,
                max_items,
            } => Some(Kind::Stream(StreamRequest {
                after_issued_at_ms: after_issued_at_ms.get(),
                after_id: after_id.bytes(ids),
                max_items: max_items.get32(),
            })),
            R::Nudge(n) => Some(Kind::Nudge(Nudge { missing: n.get() })),
            R::Empty => None,
        };
        SyncRequest { kind }
    }
}

/// An envelope in a `Manifests` answer.
#[derive(Debug, Arbitrary)]
enum Envelope {
    /// One of the seed envelopes (valid).
    Seed(u8),
    Built(Box<Manifest>),
    Raw(Vec<u8>),
}

impl Envelope {
    fn bytes(&self, seeds: &[Vec<u8>]) -> Vec<u8> {
        match self {
            Envelope::Seed(i) => seeds
                .get(usize::from(*i) % seeds.len().max(1))
                .cloned()
                .unwrap_or_default(),
            Envelope::Built(m) => m.to_bytes(),
            Envelope::Raw(b) => b.clone(),
        }
    }
}

/// A `SyncResponse`.
#[derive(Debug, Arbitrary)]
pub struct Response(ResponseKind);

#[derive(Debug, Arbitrary)]
enum ResponseKind {
    Reconcile(Negentropy),
    Manifests {
        envelopes: Vec<Envelope>,
        evidence: Vec<(Envelope, Envelope)>,
        last_issued_at_ms: Num,
        last_id: Id,
        more: bool,
    },
    Refused(Text),
    Nudged(bool),
    Empty,
}

impl Response {
    fn v1(&self, ids: &[Vec<u8>], seeds: &[Vec<u8>]) -> SyncResponse {
        use ResponseKind as R;
        use sync_response::Kind;
        let kind = match &self.0 {
            R::Reconcile(n) => Some(Kind::Reconcile(n.bytes(ids))),
            R::Manifests {
                envelopes,
                evidence,
                last_issued_at_ms,
                last_id,
                more,
            } => Some(Kind::Manifests(Manifests {
                envelopes: envelopes.iter().map(|e| e.bytes(seeds)).collect(),
                evidence: evidence
                    .iter()
                    .map(|(a, b)| lgmesh_protocol::v1::Evidence {
                        first: a.bytes(seeds),
                        second: b.bytes(seeds),
                    })
                    .collect(),
                last_issued_at_ms: last_issued_at_ms.get(),
                last_id: last_id.bytes(ids),
                more: *more,
            })),
            R::Refused(t) => Some(Kind::Refused(t.0.clone())),
            R::Nudged(b) => Some(Kind::Nudged(*b)),
            R::Empty => None,
        };
        SyncResponse { kind }
    }
}

/// A message, framed as on the wire, then perhaps mangled.
#[derive(Debug, Arbitrary)]
pub struct Frame<M> {
    message: M,
    mangle: Mangle,
    /// More frames after it (a peer that keeps talking).
    trailing: Vec<u8>,
}

fn frame(msg: &impl Message, mangle: &Mangle, trailing: &[u8]) -> Vec<u8> {
    let mut bytes = mangle.apply(msg.encode_length_delimited_to_vec());
    bytes.extend_from_slice(trailing);
    bytes
}

/// Sync state over a seeded store, and the ids it holds.
struct Node {
    target: SyncTarget,
    ids: Vec<Vec<u8>>,
    seeds: Vec<Vec<u8>>,
    _store: Store,
}

impl Node {
    fn new() -> Self {
        let store = Store::seeded();
        let ids = store
            .registry
            .sync_items()
            .expect("fuzz setup: the store lists its items")
            .into_iter()
            .map(|(_, id)| id.0.to_vec())
            .collect();
        Self {
            target: SyncTarget::new(store.intake.clone()),
            ids,
            seeds: seed_envelopes().into_iter().map(|(_, e)| e).collect(),
            _store: store,
        }
    }
}

/// The ids of the seed envelopes (what every target's store holds).
fn seed_ids() -> Vec<Vec<u8>> {
    seed_envelopes()
        .iter()
        .filter_map(|(_, e)| {
            lgmesh_protocol::validate::verify_bytes(e, &Default::default(), crate::NOW).ok()
        })
        .map(|m| m.id().0.to_vec())
        .collect()
}

/// A negentropy frame that asks for everything: one range to infinity, by fingerprint.
fn reconcile_all() -> Vec<u8> {
    let mut m = vec![0x61, 0, 0, 1];
    m.extend_from_slice(&[0; 16]);
    m
}

/// The `sync-request` target: bytes as a peer's inbound request stream.
pub struct SyncRequestTarget(Node);

impl Target for SyncRequestTarget {
    const NAME: &'static str = "sync-request";
    type Input = Input<Frame<Request>>;

    fn new() -> Self {
        Self(Node::new())
    }

    fn run(&self, input: Self::Input) {
        let bytes = match input {
            Input::Raw(bytes) => bytes,
            Input::Built(f) => frame(&f.message.v1(&self.0.ids), &f.mangle, &f.trailing),
        };
        self.0.target.request(&bytes);
    }

    fn seeds() -> Vec<(String, Vec<u8>)> {
        use sync_request::Kind;
        let ids = seed_ids();
        let req = |k| SyncRequest { kind: Some(k) }.encode_length_delimited_to_vec();
        vec![
            (
                "reconcile".to_owned(),
                crate::raw(&req(Kind::Reconcile(reconcile_all()))),
            ),
            (
                "fetch".to_owned(),
                crate::raw(&req(Kind::Fetch(FetchRequest {
                    ids: ids.clone(),
                    id_prefixes: ids.iter().flat_map(|i| i[..16].to_vec()).collect(),
                }))),
            ),
            (
                "stream".to_owned(),
                crate::raw(&req(Kind::Stream(StreamRequest {
                    after_issued_at_ms: 0,
                    after_id: vec![],
                    max_items: 10,
                }))),
            ),
            (
                "nudge".to_owned(),
                crate::raw(&req(Kind::Nudge(Nudge { missing: 3 }))),
            ),
        ]
    }
}

/// The `sync-response` target: bytes as a peer's answer to this node.
pub struct SyncResponseTarget(Node);

impl Target for SyncResponseTarget {
    const NAME: &'static str = "sync-response";
    type Input = Input<Frame<Response>>;

    fn new() -> Self {
        Self(Node::new())
    }

    fn run(&self, input: Self::Input) {
        let bytes = match input {
            Input::Raw(bytes) => bytes,
            Input::Built(f) => frame(
                &f.message.v1(&self.0.ids, &self.0.seeds),
                &f.mangle,
                &f.trailing,
            ),
        };
        self.0.target.response(&bytes);
    }

    fn seeds() -> Vec<(String, Vec<u8>)> {
        use sync_response::Kind;
        let resp = |k| SyncResponse { kind: Some(k) }.encode_length_delimited_to_vec();
        let ids = seed_ids();
        let mut id_list = vec![0x61, 0, 0, 2, ids.len() as u8];
        for id in &ids {
            id_list.extend_from_slice(id);
        }
        vec![
            (
                "reconcile".to_owned(),
                crate::raw(&resp(Kind::Reconcile(reconcile_all()))),
            ),
            (
                "reconcile-ids".to_owned(),
                crate::raw(&resp(Kind::Reconcile(id_list))),
            ),
            (
                "manifests".to_owned(),
                crate::raw(&resp(Kind::Manifests(Manifests {
                    envelopes: seed_envelopes().into_iter().map(|(_, e)| e).collect(),
                    ..Default::default()
                }))),
            ),
            (
                "refused".to_owned(),
                crate::raw(&resp(Kind::Refused("busy".into()))),
            ),
        ]
    }
}
