//! Port implementations, one module per technology.

pub mod aws;
pub mod cached;
pub mod offline;
pub mod openai;
pub mod sqlite;
