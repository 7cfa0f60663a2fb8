//! Conformance suites: the behaviour every adapter of a port must show, written once.
//!
//! Each check is a public async function taking a way to open the adapter under test; an
//! adapter's test file calls every check (see `shared/sqlite/tests/sqlite_adapters.rs`).
//! Checks panic on failure, as tests do. Durations are whole seconds where they reach the
//! adapter, because SQS counts visibility in seconds.

pub mod consent;
pub mod journal;
pub mod owner;
pub mod queue;
pub mod stores;
pub mod tenants;
pub mod usage;
