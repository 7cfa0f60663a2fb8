//! Helpers shared by the black-box tests of the `comms` binary.
#![allow(dead_code)] // each test file uses some of them

use std::time::{Duration, Instant};

use comms_testkit::moto::Moto;

/// The environment that points `comms` at moto with fresh resource names (a random
/// prefix; the table `{prefix}-data`, as a stack names it).
pub fn moto_env(moto: &Moto) -> Vec<(&'static str, String)> {
    let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
    vec![
        ("COMMS_BACKEND", "aws".to_owned()),
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("COMMS_TABLE", format!("{prefix}-data")),
        ("COMMS_QUEUE_PREFIX", prefix),
    ]
}

/// Polls `done` every `every` until it holds; panics naming `what` after `limit`.
pub async fn wait_for(what: &str, limit: Duration, every: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(every).await;
    }
}
