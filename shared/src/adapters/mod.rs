//! Port implementations, one module per technology.

pub mod sqlite;
