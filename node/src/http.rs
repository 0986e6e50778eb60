//! HTTP endpoints for operators: `/healthz`, `/readyz`, `/metrics`.

use std::sync::Arc;

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};

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

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    let reg = app.registry().clone();
    let gauges = app
        .blocking(move || crate::metrics::StoreGauges::read(&reg))
        .await
        .ok()
        .and_then(Result::ok);
    let mut text = app.metrics().render(gauges.as_ref());
    if let Some(d) = app.domain() {
        text.push_str(&crate::metrics::render_domain(&d.metrics.snapshot()));
    }
    if let Some(net) = app.net() {
        let info = net.info().await.ok();
        text.push_str(&crate::metrics::render_net(
            &net.stats().snapshot(),
            info.as_ref(),
        ));
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
