use async_trait::async_trait;
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Db, from_json, to_json, ts_sortable};
use crate::statements::Cached;
use comms_core::domain::{Address, Channel, TenantRef};
use comms_core::ports::{
    CallControl, CallError, CallUpdate, Messenger, OutboundEmail, OutboundText, SendError, SentText,
};

/// The local outbox: a messenger that stores texts instead of sending them, used by
/// `comms serve` when Twilio (or, for email, SendGrid) is not configured. Read it with
/// `comms outbox`. As the local stand-in for call control, it stores each call update's
/// TwiML the same way (provider id `CALL-{CallSid}-…`).
#[derive(Clone)]
pub struct SqliteOutbox {
    db: Db,
}

/// One stored message: what a provider would have accepted, and an email's headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    #[serde(flatten)]
    pub sent: SentText,
    /// Set for an email: what SendGrid would have been asked to send with the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<OutboxEmail>,
}

/// An outbox email's subject, threading headers and unsubscribe link
/// ([`OutboundEmail`] as stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEmail {
    pub subject: String,
    #[serde(default)]
    pub in_reply_to: Option<String>,
    #[serde(default)]
    pub references: Vec<String>,
    pub unsubscribe_url: String,
}

impl From<&OutboundEmail> for OutboxEmail {
    fn from(e: &OutboundEmail) -> Self {
        Self {
            subject: e.subject.clone(),
            in_reply_to: e.in_reply_to.clone(),
            references: e.references.clone(),
            unsubscribe_url: e.unsubscribe_url.clone(),
        }
    }
}

fn store_error(e: impl std::fmt::Display) -> SendError {
    SendError::Retryable { message: e.to_string(), retry_after: None }
}

impl SqliteOutbox {
    /// An outbox stored in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Everything in the outbox, oldest first.
    pub async fn all(&self) -> Result<Vec<OutboxEntry>, SendError> {
        self.query(None).await
    }

    async fn query(
        &self,
        filter: Option<(TenantRef, String, String, String)>,
    ) -> Result<Vec<OutboxEntry>, SendError> {
        self.db
            .read(move |c| {
                let cols = "SELECT provider_id, from_number, to_number, body, sent_at, email FROM outbox";
                match filter {
                    None => c.prepare_cached(&format!("{cols} ORDER BY seq"))?.query_map([], entry)?.collect(),
                    Some((t, from, to, since)) => c
                        .prepare_cached(&format!(
                            "{cols} WHERE company_id = ?1 AND project_id = ?2 AND from_number = ?3 AND to_number = ?4
                             AND sent_at >= ?5 ORDER BY seq DESC"
                        ))?
                        .query_map(params![t.company_id, t.project_id, from, to, since], entry)?
                        .collect(),
                }
            })
            .await
            .map_err(store_error)
    }
}

/// One row of the outbox table.
fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    let parse = |s: String| {
        Address::parse(&s).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.to_string().into()))
    };
    let email: Option<String> = r.get(5)?;
    Ok(OutboxEntry {
        sent: SentText {
            provider_id: r.get(0)?,
            from: parse(r.get(1)?)?,
            to: parse(r.get(2)?)?,
            body: r.get(3)?,
            status: "stored".into(),
            sent_at: from_json(&format!("\"{}\"", r.get::<_, String>(4)?))?,
        },
        email: email.map(|e| from_json(&e)).transpose()?,
    })
}

#[async_trait]
impl Messenger for SqliteOutbox {
    async fn send(&self, text: &OutboundText) -> Result<SentText, SendError> {
        let sent = SentText {
            provider_id: format!("OUTBOX-{}", uuid::Uuid::new_v4().simple()),
            to: text.to.clone(),
            from: text.from.clone(),
            body: text.body.clone(),
            status: "stored".into(),
            sent_at: jiff::Timestamp::now(),
        };
        let email = text.email.as_ref().map(|e| to_json(&OutboxEmail::from(e)));
        let (s, t) = (sent.clone(), text.tenant.clone());
        self.db
            .write(move |c| {
                c.run(
                    "INSERT INTO outbox (provider_id, company_id, project_id, from_number, to_number, body, sent_at, email)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![s.provider_id, t.company_id, t.project_id, s.from.as_str(), s.to.as_str(), s.body, ts_sortable(s.sent_at), email],
                )
            })
            .await
            .map_err(store_error)?;
        Ok(sent)
    }

    async fn sent_since(
        &self,
        _channel: Channel,
        tenant: &TenantRef,
        _credentials: Option<&str>,
        from: &Address,
        to: &Address,
        since: jiff::Timestamp,
    ) -> Result<Vec<SentText>, SendError> {
        let found = self
            .query(Some((
                tenant.clone(),
                from.as_str().to_owned(),
                to.as_str().to_owned(),
                ts_sortable(since),
            )))
            .await?;
        Ok(found.into_iter().map(|e| e.sent).collect())
    }
}

#[async_trait]
impl CallControl for SqliteOutbox {
    async fn update_call(&self, update: &CallUpdate) -> Result<(), CallError> {
        let (u, id) = (update.clone(), format!("CALL-{}-{}", update.call_sid, uuid::Uuid::new_v4().simple()));
        self.db
            .write(move |c| {
                c.run(
                    "INSERT INTO outbox (provider_id, company_id, project_id, from_number, to_number, body, sent_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![id, u.tenant.company_id, u.tenant.project_id, u.from.as_str(), u.to.as_str(), u.twiml, ts_sortable(jiff::Timestamp::now())],
                )
            })
            .await
            .map_err(|e| CallError::Retryable { message: e.to_string(), retry_after: None })?;
        Ok(())
    }
}
