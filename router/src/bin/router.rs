//! The router Lambda: API Gateway (REST) → the axum router → queues.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    comms_router::lambda::run().await
}
