use async_trait::async_trait;
use rusqlite::params;

use super::{Db, from_json, ts_sortable};
use comms_core::domain::{Address, Channel, TenantRef};
use comms_core::ports::{CallControl, CallError, CallUpdate, Messenger, OutboundText, SendError, SentText};

/// The local outbox: a messenger that stores texts instead of sending them, used by
/// `comms serve` when Twilio is not configured. Read it with `comms outbox`. As the local
/// stand-in for call control, it stores each call update's TwiML the same way (provider
/// id `CALL-{CallSid}-…`).
#[derive(Clone)]
pub struct SqliteOutbox {
    db: Db,
}

impl SqliteOutbox {
    /// An outbox stored in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Everything in the outbox, oldest first.
    pub async fn all(&self) -> Result<Vec<SentText>, SendError> {
        self.query(None).await
    }

    async fn query(
        &self,
        filter: Option<(TenantRef, String, String, String)>,
    ) -> Result<Vec<SentText>, SendError> {
        self.db
            .read(move |c| {
                let row = |r: &rusqlite::Row<'_>| -> rusqlite::Result<SentText> {
                    let parse = |s: String| {
                        Address::parse(&s)
                            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.to_string().into()))
                    };
                    Ok(SentText {
                        provider_id: r.get(0)?,
                        from: parse(r.get(1)?)?,
                        to: parse(r.get(2)?)?,
                        body: r.get(3)?,
                        status: "stored".into(),
                        sent_at: from_json(&format!("\"{}\"", r.get::<_, String>(4)?))?,
                    })
                };
                let cols = "SELECT provider_id, from_number, to_number, body, sent_at FROM outbox";
                match filter {
                    None => c.prepare_cached(&format!("{cols} ORDER BY seq"))?.query_map([], row)?.collect(),
                    Some((t, from, to, since)) => c
                        .prepare_cached(&format!(
                            "{cols} WHERE company_id = ?1 AND project_id = ?2 AND from_number = ?3 AND to_number = ?4
                             AND sent_at >= ?5 ORDER BY seq DESC"
                        ))?
                        .query_map(params![t.company_id, t.project_id, from, to, since], row)?
                        .collect(),
                }
            })
            .await
            .map_err(|e| SendError::Retryable { message: e.to_string(), retry_after: None })
    }
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
        let (s, t) = (sent.clone(), text.tenant.clone());
        self.db
            .write(move |c| {
                c.execute(
                    "INSERT INTO outbox (provider_id, company_id, project_id, from_number, to_number, body, sent_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![s.provider_id, t.company_id, t.project_id, s.from.as_str(), s.to.as_str(), s.body, ts_sortable(s.sent_at)],
                )
            })
            .await
            .map_err(|e| SendError::Retryable { message: e.to_string(), retry_after: None })?;
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
        self.query(Some((
            tenant.clone(),
            from.as_str().to_owned(),
            to.as_str().to_owned(),
            ts_sortable(since),
        )))
        .await
    }
}

#[async_trait]
impl CallControl for SqliteOutbox {
    async fn update_call(&self, update: &CallUpdate) -> Result<(), CallError> {
        let (u, id) = (update.clone(), format!("CALL-{}-{}", update.call_sid, uuid::Uuid::new_v4().simple()));
        self.db
            .write(move |c| {
                c.execute(
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
