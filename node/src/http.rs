//! The HTTP server: `/healthz`, `/readyz` and `/metrics` for operators, beside the web
//! interface (`crate::web`). Each request runs in a span of its own under the node's
//! (`http{method, route, peer}`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Router, routing::get};
use tracing::Instrument;

use crate::app::App;

/// The HTTP router: the operators' endpoints and `web` (the web interface's routes);
/// each request runs in a span under `node`. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` for the span to name the peer.
pub fn router(app: Arc<App>, node: tracing::Span, web: Router) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(app)
        .merge(web)
        .route_layer(middleware::from_fn(move |req: Request, next: Next| {
            let span = request_span(&node, &req);
            next.run(req).instrument(span)
        }))
}

/// The span of one request: its method, the route it matched (one of the router's, never
/// the path the client sent) and the caller's address.
fn request_span(node: &tracing::Span, req: &Request) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("", MatchedPath::as_str);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(String::new, |c| c.0.to_string());
    // A method is any token the client likes (a route answers 405 to the odd ones):
    // only the standard ones are logged as they are.
    let method = match *req.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    };
    let span = tracing::info_span!(parent: node, "http", method, route = %route, peer = %peer);
    if span.is_disabled() {
        node.clone()
    } else {
        span
    }
}

async fn ready(State(app): State<Arc<App>>) -> impl IntoResponse {
    let reg = app.registry().clone();
    match app.blocking(move || reg.counts()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n".to_owned()),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}\n")),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

/// Every family the node serves: the node's and libp2p's from its registry, and for this
/// scrape the store's gauges, the network's counters, the domain checker's family and the
/// propagation lag.
/// OpenMetrics when the client asks for it (Prometheus does), else the Prometheus text
/// format (`curl`, `promtool check metrics`).
async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    use crate::metrics::{Format, NetFamilies, PropagationLag, StoreGauges};
    let format = Format::negotiate(headers.get(ACCEPT).and_then(|v| v.to_str().ok()));
    let mut scrape = prometheus_client::registry::Registry::default();
    let reg = app.registry().clone();
    let gauges = app.blocking(move || StoreGauges::read(&reg)).await;
    if let Ok(Ok(g)) = gauges {
        scrape.register_collector(Box::new(g));
    }
    if let Some(d) = app.domain() {
        d.metrics.register(&mut scrape);
    }
    scrape.register_collector(Box::new(PropagationLag::of(app.metrics())));
    if let Some(net) = app.net() {
        // A network too busy to answer within a second leaves its gauges out of this
        // scrape rather than holding it.
        let info = tokio::time::timeout(std::time::Duration::from_secs(1), net.info())
            .await
            .ok()
            .and_then(Result::ok);
        scrape.register_collector(Box::new(NetFamilies::new(net.stats().snapshot(), info)));
    }
    match app.metrics().render(&scrape, format) {
        Ok(text) => ([(CONTENT_TYPE, format.content_type())], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("metrics: {e}\n")).into_response(),
    }
}
