//! Embedded adapters: every port in one SQLite file (WAL, `synchronous=FULL`), so a local
//! install is one process and one file, and nothing acknowledged is lost on a crash.
//! Changes go through one writer thread that commits them in groups ([`Db`]); reads use a
//! pool of read-only connections.

mod business;
mod consent;
mod conversations;
mod db;
#[cfg(test)]
mod db_tests;
mod journal;
mod outbox;
mod queue;
mod requests;
mod secrets;
mod statements;
mod tenants;
mod turns;
mod usage;

use std::sync::Arc;

use rusqlite::Connection;

pub use business::{SqliteBookings, SqliteLedger, SqliteOwnerState};
pub use consent::SqliteConsent;
pub use conversations::SqliteConversations;
pub use db::Db;
pub use journal::SqliteJournal;
pub use outbox::{OutboxEmail, OutboxEntry, SqliteOutbox};
pub use queue::{QueueSettings, SqliteQueues};
pub use requests::SqliteRequests;
pub use secrets::SqliteSecrets;
pub use tenants::SqliteTenants;
pub use turns::SqliteTurns;
pub use usage::SqliteUsage;

use comms_core::ports::{QueueError, StoreError};

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: queues, tenants, secrets, consent.
    "CREATE TABLE queue_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL UNIQUE,
        channel TEXT NOT NULL,
        body TEXT NOT NULL,
        attributes TEXT NOT NULL,
        sent_at_ms INTEGER NOT NULL,
        visible_at_ms INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        first_received_at_ms INTEGER,
        receipt TEXT UNIQUE,
        last_error TEXT,
        dead_at_ms INTEGER
     );
     CREATE INDEX queue_ready ON queue_messages (channel, dead_at_ms, visible_at_ms, seq);
     CREATE TABLE tenants (
        company_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        config TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (company_id, project_id)
     );
     CREATE TABLE tenant_numbers (
        channel TEXT NOT NULL,
        number TEXT NOT NULL,
        company_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        PRIMARY KEY (channel, number)
     );
     CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
     );
     CREATE TABLE consent (
        company_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        phone TEXT NOT NULL,
        opted_out INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (company_id, project_id, phone)
     );
     CREATE TABLE consent_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        company_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        phone TEXT NOT NULL,
        action TEXT NOT NULL,
        keyword TEXT NOT NULL,
        at TEXT NOT NULL
     );",
    // 2: conversations, turns, owner state, bookings, ledger, outbox.
    "CREATE TABLE conversations (
        conversation_id TEXT PRIMARY KEY,
        company_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        customer TEXT NOT NULL,
        status TEXT NOT NULL,
        last_activity TEXT NOT NULL,
        item_count INTEGER NOT NULL DEFAULT 0
     );
     CREATE INDEX conversations_by_tenant ON conversations (company_id, project_id, last_activity);
     CREATE INDEX conversations_by_activity ON conversations (last_activity);
     CREATE TABLE conversation_items (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        at TEXT NOT NULL,
        content TEXT NOT NULL,
        UNIQUE (conversation_id, item_id)
     );
     CREATE TABLE turns (
        key TEXT PRIMARY KEY,
        step TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        lease_until_ms INTEGER NOT NULL,
        updated_at TEXT NOT NULL
     );
     CREATE TABLE owner_state (
        company_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (company_id, project_id)
     );
     CREATE TABLE owner_state_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        company_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        at TEXT NOT NULL,
        state TEXT
     );
     CREATE TABLE bookings (
        company_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        date TEXT NOT NULL,
        time TEXT NOT NULL,
        lead_id TEXT NOT NULL UNIQUE,
        phone TEXT NOT NULL,
        booking TEXT NOT NULL,
        PRIMARY KEY (company_id, project_id, date, time)
     );
     CREATE TABLE ledger (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        company_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        entry TEXT NOT NULL
     );
     CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        provider_id TEXT NOT NULL UNIQUE,
        company_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        from_number TEXT NOT NULL,
        to_number TEXT NOT NULL,
        body TEXT NOT NULL,
        sent_at TEXT NOT NULL
     );",
    // 3: delivery status of sent messages.
    "CREATE TABLE delivery_status (
        provider_id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        rank INTEGER NOT NULL,
        error_code TEXT,
        updated_at TEXT NOT NULL
     );",
    // 4: API request idempotency.
    "CREATE TABLE requests (
        key TEXT PRIMARY KEY,
        body_hash TEXT NOT NULL,
        response TEXT,
        expires_at TEXT NOT NULL
     );",
    // 5: delivery status keyed by tenant (a provider id comes from a caller). Rows from
    // before carry no tenant: they are kept under company_id = '' (no tenant's lookups
    // reach them).
    "CREATE TABLE delivery_status_v5 (
        company_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        provider_id TEXT NOT NULL,
        status TEXT NOT NULL,
        rank INTEGER NOT NULL,
        error_code TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (company_id, project_id, provider_id)
     );
     INSERT INTO delivery_status_v5 (company_id, project_id, provider_id, status, rank, error_code, updated_at)
       SELECT '', '', provider_id, status, rank, error_code, updated_at FROM delivery_status;
     DROP TABLE delivery_status;
     ALTER TABLE delivery_status_v5 RENAME TO delivery_status;",
    // 6: the turn journal's claim on the conversation header: the turn in flight, its
    // fencing token (the turn's claim count) and its lease (0: released).
    "ALTER TABLE conversations ADD COLUMN turn_key TEXT;
     ALTER TABLE conversations ADD COLUMN turn_token INTEGER;
     ALTER TABLE conversations ADD COLUMN turn_lease_ms INTEGER;",
    // 7: the owner's takeover of a conversation (epoch ms; NULL: the assistant answers).
    "ALTER TABLE conversations ADD COLUMN takeover_until_ms INTEGER;",
    // 8: an outbox email's subject, threading headers and unsubscribe link (JSON; NULL
    // for texts and calls).
    "ALTER TABLE outbox ADD COLUMN email TEXT;",
    // 9: running usage totals per tenant, UTC month and channel (added by the turn
    // journal's writes), and the month's budget notification mark.
    "CREATE TABLE usage_months (
        company_id TEXT NOT NULL, project_id TEXT NOT NULL, month TEXT NOT NULL, channel TEXT NOT NULL,
        turns INTEGER NOT NULL DEFAULT 0, model_calls INTEGER NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0, cached_input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0, cost_micros INTEGER NOT NULL DEFAULT 0,
        unpriced_calls INTEGER NOT NULL DEFAULT 0, messages INTEGER NOT NULL DEFAULT 0,
        sms_segments INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (company_id, project_id, month, channel)
     );
     CREATE TABLE usage_budget_notified (
        company_id TEXT NOT NULL, project_id TEXT NOT NULL, month TEXT NOT NULL, at TEXT NOT NULL,
        PRIMARY KEY (company_id, project_id, month)
     );",
];

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let done: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
    }
    tx.commit()
}

/// Busy and locked database errors pass; everything else is a bug or a broken file.
fn is_transient(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend { transient: is_transient(&e), message: e.to_string() }
}

fn queue_backend(e: rusqlite::Error) -> QueueError {
    QueueError::Backend { transient: is_transient(&e), message: e.to_string() }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn ts_from_ms(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// Reads a JSON column written by this adapter.
fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// Writes a JSON column. Invariant: the port types serialise to JSON.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("port types serialise to JSON")
}

/// A timestamp as fixed-width UTC text (microseconds), so text order is time order.
fn ts_sortable(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The composition root of the embedded backend: every storage port and the queues on
/// one SQLite file.
pub fn stores(db: &Db, queue: QueueSettings) -> comms_core::ports::Stores {
    let conversations = Arc::new(SqliteConversations::new(db.clone()));
    let queues = Arc::new(SqliteQueues::new(db.clone(), queue));
    comms_core::ports::Stores {
        tenants: Arc::new(SqliteTenants::new(db.clone())),
        secrets: Arc::new(SqliteSecrets::new(db.clone())),
        queues: queues.clone(),
        dead_letters: queues,
        consent: Arc::new(SqliteConsent::new(db.clone())),
        conversations: conversations.clone(),
        deliveries: conversations,
        turns: Arc::new(SqliteTurns::new(db.clone())),
        journal: Arc::new(SqliteJournal::new(db.clone())),
        owner_state: Arc::new(SqliteOwnerState::new(db.clone())),
        bookings: Arc::new(SqliteBookings::new(db.clone())),
        ledger: Arc::new(SqliteLedger::new(db.clone())),
        requests: Arc::new(SqliteRequests::new(db.clone())),
        usage: Arc::new(SqliteUsage::new(db.clone())),
    }
}
