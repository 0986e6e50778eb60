//! The stylesheet and the script, built into the binary. Their paths carry the
//! release's version, so a browser may keep them for a day and still picks up a new
//! release at once.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

/// The route and the versioned path of the stylesheet.
pub const STYLE_ROUTE: &str = "/assets/style.css";
pub const STYLE_PATH: &str = concat!("/assets/style.css?v=", env!("CARGO_PKG_VERSION"));
/// The route and the versioned path of the live-update script.
pub const SCRIPT_ROUTE: &str = "/assets/live.js";
pub const SCRIPT_PATH: &str = concat!("/assets/live.js?v=", env!("CARGO_PKG_VERSION"));

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/live.js");

pub(super) async fn style() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        STYLE,
    )
}

pub(super) async fn script() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        SCRIPT,
    )
}
