//! The handle on the SQLite file: one writer thread that group-commits, and a pool of
//! read-only connections.
//!
//! Why a writer thread: with `synchronous=FULL` every commit waits for the disk (an
//! fsync), and SQLite allows one writer at a time, so committing each change on its own
//! caps the whole process at one fsync per change. The writer takes every change queued
//! while the previous commit was on its way to disk, runs each in its own SAVEPOINT of one
//! transaction, commits once, and only then answers their callers: durability per caller
//! is unchanged (nobody hears "done" before the change is on disk), the fsync is shared.
//! Reads never wait for the writer: in WAL mode a read-only connection sees the last
//! commit, which includes every write whose caller was answered.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Notify, Semaphore, oneshot};

use comms_core::domain::Channel;
use comms_core::ports::StoreError;

use super::backend;
use crate::statements::Cached;

/// Most changes committed together: bounds how long the write lock is held at once.
const MAX_GROUP: usize = 512;
/// Read-only connections opened at most (on demand): enough for the workers' reads to
/// overlap on two cores without each holding a connection's page cache.
const READERS: usize = 4;
/// Prepared statements kept per connection: every statement the adapters run goes
/// through the cache ([`Cached`]) and fits, so the hot path never re-parses SQL.
const STATEMENT_CACHE: usize = 128;
/// How long a connection waits for another process (the `comms` CLI next to a running
/// server) holding the write lock, rather than failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A change queued for the writer. Type-erased: given the connection inside the group's
/// transaction, it runs the caller's closure and returns how to answer the caller once
/// the commit's outcome is known; given the error that kept the transaction from
/// beginning, it answers the caller with it without running.
type Change = Box<dyn FnOnce(Result<&Connection, rusqlite::Error>) -> Outcome + Send>;
/// What running one change left to do.
enum Outcome {
    /// Applied inside the group: answer with the commit's result.
    Applied(Box<dyn FnOnce(Result<(), rusqlite::Error>) + Send>),
    /// Rolled back to its savepoint (an error or a panic): already answered.
    RolledBack,
    /// SQLite rolled back the whole transaction (e.g. a full disk): already answered;
    /// the changes applied before it in the group are lost and must fail too.
    TransactionLost,
}

/// A handle on the SQLite file shared by every embedded adapter. Cheap to clone; the
/// writer thread ends when the last clone is dropped.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<mpsc::Sender<Change>>,
    readers: Mutex<Vec<Connection>>,
    reader_slots: Semaphore,
    /// One signal per channel, raised when a message may have become visible; shared by
    /// every queue handle on this `Db`, so a send through the router's handle wakes the
    /// worker's receive (see `SqliteQueues::with_long_polling`).
    queue_signals: [Notify; Channel::ALL.len()],
}

fn sqlite_error(message: String) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(message.into())
}

/// The same error for another caller, keeping SQLite's code (so busy stays transient).
fn clone_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => sqlite_error(other.to_string()),
    }
}

impl Db {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(backend)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
        // FULL: a commit is on disk before the caller is told it happened, so a webhook
        // acknowledged to Twilio survives a power cut, not only a process crash.
        conn.pragma_update(None, "synchronous", "FULL").map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(backend)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        super::migrate(&mut conn).map_err(backend)?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("comms-sqlite-writer".into())
            .spawn(move || writer_loop(conn, &rx))
            .map_err(|e| StoreError::Backend { transient: false, message: e.to_string() })?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: Mutex::new(tx),
                readers: Mutex::new(Vec::new()),
                reader_slots: Semaphore::new(READERS),
                queue_signals: Default::default(),
            }),
        })
    }

    /// Runs `f` inside a write transaction and returns once that transaction is durably
    /// committed. `f` must not begin a transaction itself; an `Err` from `f` rolls back
    /// only `f`'s changes (so does a panic, answered as an error).
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, rusqlite::Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let change: Change = Box::new(move |conn| run_change(conn, f, answer));
        self.submit(change)?;
        answered.await.map_err(|_| sqlite_error("the SQLite writer stopped".into()))?
    }

    /// Runs `f` on a read connection, on a consistent snapshot that includes every write
    /// that returned.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, rusqlite::Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let _slot = self.inner.reader_slots.acquire().await.map_err(|e| sqlite_error(e.to_string()))?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let conn = match inner.readers.lock().unwrap_or_else(|p| p.into_inner()).pop() {
                Some(conn) => conn,
                None => open_reader(&inner.path)?,
            };
            let result = read_snapshot(&conn, f);
            // A connection left inside a transaction (its COMMIT failed) is closed, not
            // pooled; an `Err` from `f` (e.g. no such row) leaves it as good as new.
            if conn.is_autocommit() {
                inner.readers.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
            }
            result
        })
        .await
        .map_err(|e| sqlite_error(format!("a read panicked: {e}")))?
    }

    fn submit(&self, job: Change) -> Result<(), rusqlite::Error> {
        let writer = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        writer.send(job).map_err(|_| sqlite_error("the SQLite writer stopped".into()))
    }

    /// The signal raised when a message of `channel` may have become visible.
    pub(crate) fn queue_signal(&self, channel: Channel) -> &Notify {
        let i = Channel::ALL.iter().position(|c| *c == channel).unwrap_or(0);
        &self.inner.queue_signals[i]
    }
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Runs `f` in one read transaction, so every statement of `f` sees the same snapshot.
fn read_snapshot<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.run("BEGIN DEFERRED", [])?;
    let result = catch_unwind(AssertUnwindSafe(|| f(conn)))
        .unwrap_or_else(|_| Err(sqlite_error("a database read panicked".into())));
    // Ending a read transaction cannot lose anything; if it fails, the connection is
    // left out of the pool (it is not in autocommit mode).
    let _ = conn.run("COMMIT", []);
    result
}

/// Runs one change in its own savepoint and says what is left to do.
fn run_change<T, F>(
    conn: Result<&Connection, rusqlite::Error>,
    f: F,
    answer: oneshot::Sender<Result<T, rusqlite::Error>>,
) -> Outcome
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> rusqlite::Result<T>,
{
    let conn = match conn {
        Ok(conn) => conn,
        Err(e) => {
            let _ = answer.send(Err(e));
            return Outcome::RolledBack;
        }
    };
    if let Err(e) = conn.run("SAVEPOINT change", []) {
        let _ = answer.send(Err(e));
        return Outcome::RolledBack;
    }
    let result = catch_unwind(AssertUnwindSafe(|| f(conn)))
        .unwrap_or_else(|_| Err(sqlite_error("a database change panicked".into())));
    match result {
        Ok(value) if conn.run("RELEASE change", []).is_ok() => Outcome::Applied(Box::new(move |committed| {
            let _ = answer.send(committed.map(|()| value));
        })),
        Ok(_) => {
            let _ = answer.send(Err(sqlite_error("could not release a savepoint".into())));
            rollback_change(conn)
        }
        Err(e) => {
            let _ = answer.send(Err(e));
            rollback_change(conn)
        }
    }
}

/// Undoes the current change only; if SQLite already rolled back the whole transaction,
/// says so.
fn rollback_change(conn: &Connection) -> Outcome {
    if conn.is_autocommit() || conn.execute_batch("ROLLBACK TO change; RELEASE change").is_err() {
        return Outcome::TransactionLost;
    }
    Outcome::RolledBack
}

/// The writer thread: until every handle is dropped, takes what is queued, commits it in
/// groups, and answers.
fn writer_loop(conn: Connection, jobs: &mpsc::Receiver<Change>) {
    while let Ok(first) = jobs.recv() {
        commit_group(&conn, first, jobs);
    }
}

/// Commits `first` with every change already queued behind it (up to `MAX_GROUP`) in one
/// transaction.
fn commit_group(conn: &Connection, first: Change, jobs: &mpsc::Receiver<Change>) {
    if let Err(e) = conn.run("BEGIN IMMEDIATE", []) {
        tracing::warn!(error = %e, "could not begin a write transaction");
        first(Err(e));
        return;
    }
    let mut answers = Vec::new();
    let mut pending = Some(first);
    while let Some(change) = pending.take() {
        match change(Ok(conn)) {
            Outcome::Applied(answer) => answers.push(answer),
            Outcome::RolledBack => {}
            Outcome::TransactionLost => {
                let lost = || Err(sqlite_error("the write transaction was rolled back".into()));
                answers.into_iter().for_each(|a| a(lost()));
                return;
            }
        }
        if answers.len() >= MAX_GROUP {
            break;
        }
        pending = jobs.try_recv().ok();
    }
    let committed = conn.run("COMMIT", []);
    if committed.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for answer in answers {
        answer(committed.as_ref().map(|_| ()).map_err(clone_error));
    }
}
