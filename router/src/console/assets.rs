//! The console's static files, compiled into the binary: htmx (vendored from its npm
//! package, router/static/htmx.LICENSE.md) and the stylesheet. No CDN at run time.

use axum::http::header;
use axum::response::IntoResponse;

const HTMX: &[u8] = include_bytes!("../../static/htmx.min.js");
const CSS: &[u8] = include_bytes!("../../static/console.css");

/// Cached for a day: the files change only with a new build.
const CACHE: &str = "public, max-age=86400";

/// `GET /console/static/htmx.min.js`.
pub async fn htmx() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, CACHE)], HTMX)
}

/// `GET /console/static/console.css`.
pub async fn css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, CACHE)], CSS)
}
