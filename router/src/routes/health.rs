use axum::Json;
use serde_json::{Value, json};

/// Liveness: the process answers. Checks nothing downstream, so a slow dependency does
/// not get a healthy process restarted.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
