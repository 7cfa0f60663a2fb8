//! The smallest Lambda the router can be compared with: `lambda_http` hosting an axum
//! router that answers every request with "hello". `bench/coldstart` measures its cold
//! start next to the router's (docs/performance.md, "Cold start").

use axum::routing::any;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = axum::Router::new().fallback(any(|| async { "hello" }));
    lambda_http::run(app).await
}
