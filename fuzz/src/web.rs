//! The `web` target: requests to the observatory (`node/src/web.rs`), answered in
//! process by its router over a real `App` and store holding what the fuzzer signed:
//! every page, its query string, the CSV downloads and `/catalog.jsonld`, and each
//! stored service's and dataset's UK metadata model record (`lgmesh export ukgov`).
//!
//! A built input is a few manifests to store (from [`crate::envelope`], titles, names,
//! URLs and standards as hostile as the fuzzer makes them), then a few requests: a
//! page of the router with arbitrary path and query text after it. Raw input is one
//! request target (path and query), as a browser could send it.

use std::sync::Arc;

use arbitrary::Arbitrary;
use axum::body::Body;
use axum::http::Request;
use lgmesh::app::App;
use lgmesh::config::Config;
use lgmesh::export::ukgov;
use lgmesh::web::{Web, snapshot::Snapshots};
use tower::ServiceExt;

use crate::envelope::Manifest;
use crate::text::Text;
use crate::{Input, Store, Target, key, raw};

/// Manifests stored and requests made for one input, at most.
const MAX_MANIFESTS: usize = 4;
const MAX_REQUESTS: usize = 8;
/// The most of a response body read (a page of the catalogue is far smaller).
const MAX_BODY: usize = 16 << 20;

/// Where a built request goes: a page of the router, then `rest` as it is.
const PAGES: &[&str] = &[
    "/",
    "/catalogue?",
    "/catalogue.csv?",
    "/manifests/",
    "/names/",
    "/organisations",
    "/organisations/",
    "/organisations.csv",
    "/coverage?",
    "/coverage.csv",
    "/reuse?",
    "/adoptions.csv",
    "/needs.csv",
    "/anomalies?",
    "/expired.csv",
    "/catalog.jsonld?page=",
    "/assets/style.css",
];

/// One request.
#[derive(Debug, Arbitrary)]
struct Req {
    page: u8,
    rest: Text,
}

/// Manifests to store, then requests.
#[derive(Debug, Arbitrary)]
pub struct Visit {
    manifests: Vec<Manifest>,
    requests: Vec<Req>,
}

/// The `web` target: the observatory's router over a seeded store.
pub struct WebTarget {
    runtime: tokio::runtime::Runtime,
    app: Arc<App>,
    snaps: Arc<Snapshots>,
    router: axum::Router,
    store: Store,
}

impl WebTarget {
    /// One GET; only a panic is a finding (every status is an answer). `/events`
    /// streams until the node stops, so it is not asked.
    async fn get(&self, target: &str) {
        if target.starts_with("/events") {
            return;
        }
        let Ok(req) = Request::get(target).body(Body::empty()) else {
            return;
        };
        let Ok(r) = self.router.clone().oneshot(req).await;
        let _ = axum::body::to_bytes(r.into_body(), MAX_BODY).await;
    }

    /// Each live service's and dataset's record, written and read back.
    fn records(&self) {
        let _ = self.store.registry.for_each_head(|m| {
            let source = ukgov::Source {
                publisher: &m.publisher,
                id: &m.id,
            };
            if let Ok(yaml) = ukgov::to_yaml(source, &m.body) {
                let _ = ukgov::reads_back(&yaml, &m.body);
            }
            true
        });
    }
}

impl Target for WebTarget {
    const NAME: &'static str = "web";
    type Input = Input<Visit>;

    fn new() -> Self {
        let store = Store::seeded();
        let mut config = Config::default();
        config.org.id = "gss:E07000209".into();
        config.org.name = "Guildford Borough Council".into();
        let app = Arc::new(App::new(store.registry.clone(), Some(key(0)), config));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("fuzz setup: a tokio runtime");
        let snaps = Snapshots::new(None);
        let router = {
            let _rt = runtime.enter();
            lgmesh::web::router(Web::new(
                app.clone(),
                snaps.clone(),
                std::net::SocketAddr::from(([127, 0, 0, 1], 7421)),
                false,
            ))
        };
        Self {
            runtime,
            app,
            snaps,
            router,
            store,
        }
    }

    fn run(&self, input: Self::Input) {
        self.runtime.block_on(async {
            match input {
                Input::Raw(bytes) => self.get(&String::from_utf8_lossy(&bytes)).await,
                Input::Built(visit) => {
                    let envelopes: Vec<Vec<u8>> = visit
                        .manifests
                        .iter()
                        .take(MAX_MANIFESTS)
                        .map(Manifest::to_bytes)
                        .collect();
                    if !envelopes.is_empty() {
                        self.store.submit(&envelopes);
                        let _ = self.snaps.refresh(&self.app).await;
                        self.records();
                    }
                    for r in visit.requests.iter().take(MAX_REQUESTS) {
                        let page = PAGES[usize::from(r.page) % PAGES.len()];
                        self.get(&format!("{page}{}", r.rest.as_str())).await;
                    }
                }
            }
        });
    }

    fn seeds() -> Vec<(String, Vec<u8>)> {
        [
            "/",
            "/catalogue?q=bins&kind=service&lgsl=524&area=E07000209&verified=1&csv=results",
            "/catalogue?standard=https%3A%2F%2Fwww.openreferraluk.org%2F&cursor=nope",
            "/organisations?page=18446744073709551615",
            "/coverage?all=1&csv=coverage",
            "/reuse?csv=needs",
            "/anomalies?csv=equivocations",
            "/catalog.jsonld?page=1",
            "/manifests/zz",
        ]
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("page-{i}"), raw(t.as_bytes())))
        .collect()
    }
}
