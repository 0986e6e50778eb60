//! HTTP endpoints for operators: `/healthz`, `/readyz`, `/metrics`.

use std::sync::Arc;

use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Router, extract::State, routing::get};

use crate::app::App;

/// The HTTP router.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(app)
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
/// scrape the store's gauges, the network's counters and the domain checker's family.
/// OpenMetrics when the client asks for it (Prometheus does), else the Prometheus text
/// format (`curl`, `promtool check metrics`).
async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    use crate::metrics::{Format, NetFamilies, StoreGauges};
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
