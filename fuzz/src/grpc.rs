//! The `grpc` target: calls to the node's Registry and Trust services, handled in
//! process by the service impls of `node/src/grpc.rs` over a real `App` and store, as
//! tonic would call them after decoding a request (no network, no server).
//!
//! A built input is a few calls in a row (a publish, then a search that finds it),
//! with documents from [`crate::document`] and envelopes from [`crate::envelope`].
//! Raw input is one request's protobuf bytes, its first byte picking the method.

use std::sync::Arc;

use arbitrary::Arbitrary;
use lgmesh::app::App;
use lgmesh::config::Config;
use lgmesh::grpc::{Access, RegistryService, TrustService};
use lgmesh_proto::v1::trust_server::Trust as _;
use lgmesh_proto::v1::{self, publish_request::Content, registry_server::Registry as _};
use prost::Message;

use crate::document::Document;
use crate::envelope::Manifest;
use crate::text::{Num, Text};
use crate::{Input, Store, Target, key, seed_envelopes};

/// The admin token of the fuzzed node.
const TOKEN: &str = "fuzz-admin-token";

/// Calls run for one input, at most.
const MAX_CALLS: usize = 8;

/// The `authorization` header of a write.
#[derive(Debug, Arbitrary)]
enum Auth {
    Token,
    /// `Bearer ` and this.
    Wrong(Text),
    Missing,
}

/// A publisher argument.
#[derive(Debug, Arbitrary)]
enum Publisher {
    /// Empty: this node.
    Empty,
    /// Fixed key `n % KEYS` as `did:key`.
    Key(u8),
    Text(Text),
}

impl Publisher {
    fn text(&self) -> String {
        match self {
            Self::Empty => String::new(),
            Self::Key(i) => key(*i).public().to_string(),
            Self::Text(t) => t.0.clone(),
        }
    }
}

/// A manifest id argument.
#[derive(Debug, Arbitrary)]
enum Id {
    /// The id of seed envelope `n`.
    Seed(u8),
    Text(Text),
}

/// The format named beside a document.
#[derive(Debug, Arbitrary)]
enum FormatName {
    /// The document's own.
    Own,
    Text(Text),
}

/// A few calls in a row.
#[derive(Debug, Arbitrary)]
pub struct Calls(Vec<Call>);

/// One call.
#[derive(Debug, Arbitrary)]
enum Call {
    Publish {
        auth: Auth,
        document: Box<Document>,
        format: FormatName,
    },
    Submit {
        auth: Auth,
        envelope: Box<Manifest>,
    },
    Retract {
        auth: Auth,
        name: Text,
        reason: Text,
    },
    Get(Id),
    Resolve {
        publisher: Publisher,
        name: Text,
    },
    History {
        publisher: Publisher,
        name: Text,
    },
    Search {
        text: Text,
        kind: Text,
        lgsl: Num,
        area: Text,
        org: Text,
        status: Text,
        standard: Text,
        answers: Text,
        page_size: Num,
        cursor: Text,
        include_retracted: bool,
        verified_only: bool,
        include_expired: bool,
    },
    TrustAdd {
        auth: Auth,
        publisher: Publisher,
        org_id: Text,
    },
    TrustRemove {
        auth: Auth,
        publisher: Publisher,
    },
    TrustGet(Publisher),
    TrustList(i8, u16, Publisher),
}

/// A decoded request, as a handler takes it. One at a time, moved once: no need to box.
#[allow(clippy::large_enum_variant)]
enum Rpc {
    Publish(v1::PublishRequest),
    Submit(v1::SubmitRequest),
    Retract(v1::RetractRequest),
    Get(v1::GetRequest),
    Resolve(v1::ResolveRequest),
    History(v1::HistoryRequest),
    Search(v1::SearchRequest),
    TrustAdd(v1::TrustAddRequest),
    TrustRemove(v1::TrustRemoveRequest),
    TrustGet(v1::TrustGetRequest),
    TrustList(v1::TrustListRequest),
}

impl Rpc {
    /// Decodes `bytes` as a request of the method `method` picks, as tonic would.
    fn decode(method: u8, bytes: &[u8]) -> Option<Self> {
        Some(match method % 11 {
            0 => Self::Publish(Message::decode(bytes).ok()?),
            1 => Self::Submit(Message::decode(bytes).ok()?),
            2 => Self::Retract(Message::decode(bytes).ok()?),
            3 => Self::Get(Message::decode(bytes).ok()?),
            4 => Self::Resolve(Message::decode(bytes).ok()?),
            5 => Self::History(Message::decode(bytes).ok()?),
            6 => Self::Search(Message::decode(bytes).ok()?),
            7 => Self::TrustAdd(Message::decode(bytes).ok()?),
            8 => Self::TrustRemove(Message::decode(bytes).ok()?),
            9 => Self::TrustGet(Message::decode(bytes).ok()?),
            _ => Self::TrustList(Message::decode(bytes).ok()?),
        })
    }

    /// The raw input bytes that decode to this request.
    fn raw(&self) -> Vec<u8> {
        let (method, bytes) = match self {
            Self::Publish(m) => (0, m.encode_to_vec()),
            Self::Submit(m) => (1, m.encode_to_vec()),
            Self::Retract(m) => (2, m.encode_to_vec()),
            Self::Get(m) => (3, m.encode_to_vec()),
            Self::Resolve(m) => (4, m.encode_to_vec()),
            Self::History(m) => (5, m.encode_to_vec()),
            Self::Search(m) => (6, m.encode_to_vec()),
            Self::TrustAdd(m) => (7, m.encode_to_vec()),
            Self::TrustRemove(m) => (8, m.encode_to_vec()),
            Self::TrustGet(m) => (9, m.encode_to_vec()),
            Self::TrustList(m) => (10, m.encode_to_vec()),
        };
        let mut v = vec![method];
        v.extend(bytes);
        crate::raw(&v)
    }
}

impl Call {
    fn rpc(&self) -> (Rpc, &Auth) {
        const NONE: &Auth = &Auth::Missing;
        match self {
            Self::Publish {
                auth,
                document,
                format,
            } => (
                Rpc::Publish(v1::PublishRequest {
                    name: document.name().unwrap_or_default().to_owned(),
                    content: Some(Content::Document(v1::Document {
                        format: match format {
                            FormatName::Own => document.syntax().name().to_owned(),
                            FormatName::Text(t) => t.0.clone(),
                        },
                        text: document.render(),
                    })),
                }),
                auth,
            ),
            Self::Submit { auth, envelope } => (
                Rpc::Submit(v1::SubmitRequest {
                    envelope: v1::Envelope::decode(envelope.to_bytes().as_slice()).ok(),
                }),
                auth,
            ),
            Self::Retract { auth, name, reason } => (
                Rpc::Retract(v1::RetractRequest {
                    name: name.0.clone(),
                    reason: reason.0.clone(),
                }),
                auth,
            ),
            Self::Get(id) => (
                Rpc::Get(v1::GetRequest {
                    id: match id {
                        Id::Seed(i) => seed_id(*i),
                        Id::Text(t) => t.0.clone(),
                    },
                }),
                NONE,
            ),
            Self::Resolve { publisher, name } => (
                Rpc::Resolve(v1::ResolveRequest {
                    publisher: publisher.text(),
                    name: name.0.clone(),
                }),
                NONE,
            ),
            Self::History { publisher, name } => (
                Rpc::History(v1::HistoryRequest {
                    publisher: publisher.text(),
                    name: name.0.clone(),
                    ..Default::default()
                }),
                NONE,
            ),
            Self::Search {
                text,
                kind,
                lgsl,
                area,
                org,
                status,
                standard,
                answers,
                page_size,
                cursor,
                include_retracted,
                verified_only,
                include_expired,
            } => (
                Rpc::Search(v1::SearchRequest {
                    text: text.0.clone(),
                    kind: kind.0.clone(),
                    lgsl: lgsl.get32(),
                    area: area.0.clone(),
                    org: org.0.clone(),
                    status: status.0.clone(),
                    standard: standard.0.clone(),
                    answers: answers.0.clone(),
                    page_size: page_size.get32(),
                    cursor: cursor.0.clone(),
                    include_retracted: *include_retracted,
                    verified_only: *verified_only,
                    include_expired: *include_expired,
                }),
                NONE,
            ),
            Self::TrustAdd {
                auth,
                publisher,
                org_id,
            } => (
                Rpc::TrustAdd(v1::TrustAddRequest {
                    publisher: publisher.text(),
                    org_id: org_id.0.clone(),
                }),
                auth,
            ),
            Self::TrustRemove { auth, publisher } => (
                Rpc::TrustRemove(v1::TrustRemoveRequest {
                    publisher: publisher.text(),
                }),
                auth,
            ),
            Self::TrustGet(publisher) => (
                Rpc::TrustGet(v1::TrustGetRequest {
                    publisher: publisher.text(),
                }),
                NONE,
            ),
            Self::TrustList(v, page, after) => (
                Rpc::TrustList(v1::TrustListRequest {
                    verification: i32::from(*v),
                    page_size: u32::from(*page),
                    after: after.text(),
                }),
                NONE,
            ),
        }
    }
}

/// The id of seed envelope `i`, as the API writes ids.
fn seed_id(i: u8) -> String {
    let seeds = seed_envelopes();
    let (_, e) = &seeds[usize::from(i) % seeds.len()];
    lgmesh_protocol::validate::verify_bytes(e, &Default::default(), crate::NOW)
        .map(|m| m.id().to_string())
        .unwrap_or_default()
}

/// A tonic request with `auth`'s header, as the server would pass it on.
fn request<T>(msg: T, auth: &Auth) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    let header = match auth {
        Auth::Token => Some(format!("Bearer {TOKEN}")),
        Auth::Wrong(t) => Some(format!("Bearer {}", t.0)),
        Auth::Missing => None,
    };
    if let Some(value) = header.and_then(|h| h.parse().ok()) {
        req.metadata_mut().insert("authorization", value);
    }
    req
}

/// The `grpc` target: a node's services over a seeded store, and a runtime for them.
pub struct Grpc {
    runtime: tokio::runtime::Runtime,
    registry: RegistryService,
    trust: TrustService,
    _store: Store,
}

impl Grpc {
    async fn call(&self, rpc: Rpc, auth: &Auth) {
        // Errors are answers (`tonic::Status`); only a panic is a finding.
        let _ = match rpc {
            Rpc::Publish(m) => self.registry.publish(request(m, auth)).await.map(drop),
            Rpc::Submit(m) => self.registry.submit(request(m, auth)).await.map(drop),
            Rpc::Retract(m) => self.registry.retract(request(m, auth)).await.map(drop),
            Rpc::Get(m) => self.registry.get(request(m, auth)).await.map(drop),
            Rpc::Resolve(m) => self.registry.resolve(request(m, auth)).await.map(drop),
            Rpc::History(m) => self.registry.history(request(m, auth)).await.map(drop),
            Rpc::Search(m) => self.registry.search(request(m, auth)).await.map(drop),
            Rpc::TrustAdd(m) => self.trust.add(request(m, auth)).await.map(drop),
            Rpc::TrustRemove(m) => self.trust.remove(request(m, auth)).await.map(drop),
            Rpc::TrustGet(m) => self.trust.get(request(m, auth)).await.map(drop),
            Rpc::TrustList(m) => self.trust.list(request(m, auth)).await.map(drop),
        };
    }
}

impl Target for Grpc {
    const NAME: &'static str = "grpc";
    type Input = Input<Calls>;

    fn new() -> Self {
        let store = Store::seeded();
        let mut config = Config::default();
        config.org.id = "gss:E07000209".into();
        config.org.name = "Guildford Borough Council".into();
        let app = Arc::new(App::new(store.registry.clone(), Some(key(0)), config));
        Self {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("fuzz setup: a tokio runtime"),
            // `tls: true`: the fuzzer's requests carry no peer address, so only the
            // token decides, as on a TLS listener.
            registry: RegistryService::new(
                app.clone(),
                Access::Token {
                    token: TOKEN.into(),
                    tls: true,
                },
            ),
            trust: TrustService::new(
                app,
                Access::Token {
                    token: TOKEN.into(),
                    tls: true,
                },
            ),
            _store: store,
        }
    }

    fn run(&self, input: Self::Input) {
        self.runtime.block_on(async {
            match input {
                Input::Raw(bytes) => {
                    let Some((&method, bytes)) = bytes.split_first() else {
                        return;
                    };
                    if let Some(rpc) = Rpc::decode(method, bytes) {
                        self.call(rpc, &Auth::Token).await;
                    }
                }
                Input::Built(calls) => {
                    for call in calls.0.iter().take(MAX_CALLS) {
                        let (rpc, auth) = call.rpc();
                        self.call(rpc, auth).await;
                    }
                }
            }
        });
    }

    fn seeds() -> Vec<(String, Vec<u8>)> {
        let me = key(0).public().to_string();
        let other = key(1).public().to_string();
        let seeds = [
            (
                "publish",
                Rpc::Publish(v1::PublishRequest {
                    name: String::new(),
                    content: Some(Content::Document(v1::Document {
                        format: "toml".into(),
                        text: include_str!(
                            "../../examples/manifests/guildford-bin-collection.toml"
                        )
                        .into(),
                    })),
                }),
            ),
            (
                "retract",
                Rpc::Retract(v1::RetractRequest {
                    name: "bin-collection-days".into(),
                    reason: "replaced".into(),
                }),
            ),
            ("get", Rpc::Get(v1::GetRequest { id: seed_id(1) })),
            (
                "resolve",
                Rpc::Resolve(v1::ResolveRequest {
                    publisher: me.clone(),
                    name: "bins".into(),
                }),
            ),
            (
                "history",
                Rpc::History(v1::HistoryRequest {
                    publisher: String::new(),
                    name: "bins".into(),
                    ..Default::default()
                }),
            ),
            (
                "search",
                Rpc::Search(v1::SearchRequest {
                    text: "bin".into(),
                    lgsl: 524,
                    include_retracted: true,
                    include_expired: true,
                    ..Default::default()
                }),
            ),
            (
                "trust-add",
                Rpc::TrustAdd(v1::TrustAddRequest {
                    publisher: other.clone(),
                    org_id: "gss:E08000035".into(),
                }),
            ),
            (
                "trust-remove",
                Rpc::TrustRemove(v1::TrustRemoveRequest {
                    publisher: other.clone(),
                }),
            ),
            (
                "trust-get",
                Rpc::TrustGet(v1::TrustGetRequest { publisher: me }),
            ),
            (
                "trust-list",
                Rpc::TrustList(v1::TrustListRequest::default()),
            ),
        ];
        seeds
            .into_iter()
            .map(|(name, rpc)| (name.to_owned(), rpc.raw()))
            .collect()
    }
}
