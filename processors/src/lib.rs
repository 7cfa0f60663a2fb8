//! The channel processor Lambda functions: [`lambda`] runs the engine's batch code
//! (`comms-engine`) behind an SQS event source mapping with the AWS adapters and the HTTP
//! providers; the thin binaries in `src/bin/` call it, one per channel.

pub mod lambda;
