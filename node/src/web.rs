//! The observatory: a read-only web view of the federation as this node holds it, for
//! people (council staff, developers, central bodies), served by the node's HTTP server.
//!
//! Pages are HTML rendered on the server (`page` is the shell and the components,
//! `pages` and `catalogue` the pages), styled by one small stylesheet in the GOV.UK
//! Design System's manner and built into the binary (`assets`). The core tables work
//! with JavaScript off; with it on, `live.js` listens to `/events` (Server-Sent Events)
//! and refreshes the parts of the page marked `data-live` when the store changes.
//! Whole-store figures come from a [`snapshot::Snapshot`] rebuilt in the background, so
//! no request scans the store; the catalogue asks the search index.
//!
//! Every response carries a Content-Security-Policy that allows only this origin's
//! stylesheet and script: what publishers sign is shown escaped and can run nothing.

pub mod assets;
mod catalogue;
pub mod chart;
pub mod csv;
mod dcat;
pub mod page;
mod pages;
pub mod snapshot;

pub use pages::{lgsl, lgsl_label};

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use tokio::sync::Semaphore;

use crate::app::App;
use snapshot::Snapshots;

/// At most this many browsers listen for live updates at once; more get 503 and the
/// page still works (it just does not refresh itself).
pub const MAX_LISTENERS: usize = 64;
/// A quiet event stream sends a comment this often, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What the pages share.
pub struct Web {
    pub(crate) app: Arc<App>,
    pub(crate) snaps: Arc<Snapshots>,
    /// The header's name for this node: its organisation, or "observer".
    pub(crate) node: String,
    /// Where people and harvesters reach these pages, without a trailing `/`.
    pub(crate) base: String,
    listeners: Arc<Semaphore>,
    /// `/catalog.jsonld` pages being built at once (each holds a page in memory).
    pub(crate) dcat_pages: Arc<Semaphore>,
}

impl Web {
    /// The observatory of `app`'s store, summarised by `snaps`, served at `bound` (or
    /// at `http.public_url` when the config gives one).
    pub fn new(
        app: Arc<App>,
        snaps: Arc<Snapshots>,
        bound: std::net::SocketAddr,
        tls: bool,
    ) -> Arc<Self> {
        let c = app.config();
        // An address bound to every interface names no host: harvesters get the
        // loopback one unless `http.public_url` says where people reach the node.
        let scheme = if tls { "https" } else { "http" };
        let base = match c.http.public_url.trim().trim_end_matches('/') {
            "" if bound.ip().is_unspecified() => format!("{scheme}://127.0.0.1:{}", bound.port()),
            "" => format!("{scheme}://{bound}"),
            url => url.to_owned(),
        };
        let node = if c.org.observer {
            "observer".to_owned()
        } else if c.org.name.is_empty() {
            c.org.id.clone()
        } else {
            c.org.name.clone()
        };
        Arc::new(Self {
            app,
            snaps,
            node,
            base,
            listeners: Arc::new(Semaphore::new(MAX_LISTENERS)),
            dcat_pages: Arc::new(Semaphore::new(2)),
        })
    }

    /// A page's answer: the CSV of one of its `tables` when the address asks for it
    /// (`?csv=ID`, named after `file`), else the page `title` with `content`.
    pub(crate) fn answer(
        &self,
        tables: page::Tables,
        file: &str,
        title: &str,
        nav: &str,
        content: Markup,
    ) -> Response {
        match tables.csv(file) {
            Some(csv) => csv,
            None => html_page(StatusCode::OK, page::page(&self.shell(title, nav), content)),
        }
    }

    /// The page shell for `title` under the navigation entry `nav`.
    pub(crate) fn shell<'a>(&'a self, title: &'a str, nav: &'a str) -> page::Shell<'a> {
        page::Shell {
            title,
            nav,
            node: &self.node,
            live: true,
        }
    }
}

/// The web interface's routes, to merge into the HTTP router.
pub fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/catalogue", get(catalogue::search))
        .route("/catalogue.csv", get(catalogue::search_csv))
        .route("/manifests/{id}", get(catalogue::manifest))
        .route("/names/{key}/{name}", get(catalogue::name))
        .route("/organisations", get(pages::organisations))
        .route("/organisations.csv", get(pages::organisations_csv))
        .route("/organisations/{key}", get(pages::organisation))
        .route("/coverage", get(pages::coverage))
        .route("/coverage.csv", get(pages::coverage_csv))
        .route("/reuse", get(pages::reuse))
        .route("/adoptions.csv", get(pages::adoptions_csv))
        .route("/needs.csv", get(pages::needs_csv))
        .route("/anomalies", get(pages::anomalies))
        .route("/expired.csv", get(pages::expired_csv))
        .route("/catalog.jsonld", get(dcat::catalog))
        .route("/events", get(events))
        .route(assets::STYLE_ROUTE, get(assets::style))
        .route(assets::SCRIPT_ROUTE, get(assets::script))
        .fallback(not_found)
        .with_state(web)
        .layer(axum::middleware::map_response(headers))
}

/// The headers every web response carries: nothing but this origin's own stylesheet and
/// script may load, nothing may frame the pages, no referrer leaves.
async fn headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    r
}

/// An HTML page with `status`.
pub(crate) fn html_page(status: StatusCode, m: Markup) -> Response {
    (
        status,
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        m.into_string(),
    )
        .into_response()
}

/// A page saying what went wrong, with the status that says it to machines.
pub(crate) fn error_page(web: &Web, status: StatusCode, title: &str, detail: &str) -> Response {
    let mut shell = web.shell(title, "");
    shell.live = false;
    html_page(
        status,
        page::page(
            &shell,
            html! {
                p class="lg-body" { (detail) }
                p class="lg-body" { a href="/" { "Go to the overview" } }
            },
        ),
    )
}

async fn not_found(State(web): State<Arc<Web>>) -> Response {
    error_page(
        &web,
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address. Check it, or start from the overview.",
    )
}

/// Server-Sent Events: an `update` event (`{"seq":…,"live":…}`) each time the summary
/// of the store is rebuilt, which follows every change within a few seconds. Ends when
/// the node stops.
async fn events(State(web): State<Arc<Web>>) -> Response {
    let Ok(place) = web.listeners.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many live listeners; the page works without live updates\n",
        )
            .into_response();
    };
    let listening = web.snaps.listen();
    let mut rx = web.snaps.subscribe();
    rx.mark_unchanged();
    let snaps = web.snaps.clone();
    let tasks = web.app.tasks().clone();
    let stream = async_stream(web.app.tasks(), move |tx| async move {
        let _place = (place, listening);
        // Browsers wait this long before reconnecting after a dropped stream.
        let retry = Event::default().retry(Duration::from_secs(5));
        if tx.send(Ok(retry)).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                () = tasks.stopping() => return,
                // The browser went: give its place back at once.
                () = tx.closed() => return,
                r = rx.changed() => if r.is_err() { return },
            }
            let s = snaps.get();
            let data = format!(r#"{{"seq":{},"live":{}}}"#, s.seq, s.live);
            if tx
                .send(Ok(Event::default().event("update").data(data)))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut r = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A stream fed by `f` through a small bounded channel (a slow browser holds one
/// event, then the sender waits: nothing piles up).
fn async_stream<F, Fut>(
    tasks: &crate::tasks::Tasks,
    f: F,
) -> tokio_stream::wrappers::ReceiverStream<Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Event, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tasks.spawn(f(tx));
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
