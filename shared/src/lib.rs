//! The conversation engine's shared library.
//!
//! - [`domain`]: types that cannot hold invalid values (phone numbers, channels, tenant
//!   references, the queue envelope) and the tenant configuration.
//! - [`ports`]: the small traits the rest of the system talks to (queues, tenant
//!   directory, secrets, opt-outs).
//! - [`adapters`]: implementations of those ports, one module per technology.
//! - [`twilio`]: Twilio wire details that do not need a network (request signatures).
//! - [`conformance`]: one test suite per port, run against every adapter.

pub mod adapters;
pub mod conformance;
pub mod domain;
pub mod ports;
pub mod retry;
pub mod telemetry;
pub mod tools;
pub mod twilio;
