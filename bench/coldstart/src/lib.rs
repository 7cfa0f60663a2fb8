//! Cold-start and peak-RSS harness for the Lambda binaries (docs/performance.md, "Cold
//! start"): each function runs as its own process behind a local Lambda Runtime API,
//! with AWS on moto reached through a connection-counting proxy.

pub mod measure;
pub mod proxy;
pub mod runtime_api;
pub mod world;

pub use measure::{Burst, ColdStart, Program, burst, cold_start, summary};
pub use proxy::{AwsWait, CountingProxy};
pub use runtime_api::{Answer, RuntimeApi};
pub use world::{World, sqs_batch, webhook_event};
