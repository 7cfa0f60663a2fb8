//! The conversation engine's core: what the system means, with no way to reach the
//! outside world. This crate depends on no SDK, no HTTP client and no database, so a
//! module here cannot call an adapter: the compiler refuses it (docs/architecture.md).
//!
//! - [`domain`]: types that cannot hold invalid values (phone numbers, channels, tenant
//!   references, the queue envelope) and the tenant configuration.
//! - [`ports`]: the small traits the rest of the system talks to (queues, tenant
//!   directory, secrets, opt-outs, the model, the messenger, the stores).
//! - [`tools`]: the model's tools, declared and executed over the ports.
//! - [`twilio`]: Twilio wire formats that need no network (request signatures, TwiML).
//! - [`retry`]: backoff within a time budget.
//! - [`cached`]: a tenant-directory decorator that caches lookups.
//! - [`redact`]: masking of phone numbers in texts bound for logs.

pub mod cached;
pub mod domain;
pub mod ports;
pub mod redact;
pub mod retry;
pub mod tools;
pub mod twilio;
