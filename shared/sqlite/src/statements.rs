//! Every statement through the connection's prepared-statement cache.
//!
//! rusqlite's `Connection::execute` and `Connection::query_row` prepare their SQL each
//! time (SQLite parses and plans it again); on the webhook path that parsing was about an
//! eighth of the request (`perf record` of `cargo bench -p comms-router --bench webhook`,
//! docs/performance.md). The adapters call [`Cached::run`] and [`Cached::one`] instead,
//! which go through `prepare_cached`.

use rusqlite::{Connection, Params, Row};

/// `execute` and `query_row` on cached prepared statements.
pub(crate) trait Cached {
    /// As `Connection::execute`: the number of rows changed.
    fn run<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    /// As `Connection::query_row`: the first row through `f` (`QueryReturnedNoRows` if none).
    fn one<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn run<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn one<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}
