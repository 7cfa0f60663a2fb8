//! The messenger port on Twilio's REST API (`Messages.json`), with reqwest.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use comms_core::domain::{Address, Channel, PhoneNumber, TenantRef};
use comms_core::ports::{
    CallControl, CallError, CallUpdate, Messenger, OutboundText, SecretStore, SendError, SentText,
};
use comms_core::twilio::TwilioCredentials;

/// Twilio's production API.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";

/// Sends SMS through Twilio with each tenant's own account credentials.
pub struct TwilioRest {
    http: reqwest::Client,
    api_base: String,
    secrets: Arc<dyn SecretStore>,
}

#[derive(Deserialize)]
struct MessageResource {
    sid: String,
    status: Option<String>,
    to: String,
    from: String,
    body: Option<String>,
    date_created: Option<String>,
    /// Segments Twilio bills for the message: a string in its JSON (`"2"`).
    #[serde(default)]
    num_segments: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct MessageList {
    messages: Vec<MessageResource>,
}

#[derive(Deserialize, Default)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

/// Error codes that mean "never processed, try again later".
const THROTTLED: &[i64] = &[20429, 14107];

/// "Call is not in-progress. Cannot redirect." and "resource not found": the call ended.
const CALL_ENDED: &[i64] = &[21220, 20404];

impl TwilioRest {
    /// A client for `api_base` (`TWILIO_API_BASE`, default [`DEFAULT_API_BASE`]).
    pub fn new(
        api_base: &str,
        secrets: Arc<dyn SecretStore>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Self { http, api_base: api_base.trim_end_matches('/').to_owned(), secrets })
    }

    async fn credentials(&self, name: Option<&str>) -> Result<TwilioCredentials, SendError> {
        let name = name.ok_or_else(|| SendError::Permanent {
            code: "no_credentials".into(),
            message: "tenant has no Twilio credentials reference".into(),
        })?;
        TwilioCredentials::load(self.secrets.as_ref(), name)
            .await
            .map_err(|e| SendError::Permanent { code: "credentials".into(), message: e.to_string() })
    }

    fn messages_url(&self, account_sid: &str) -> String {
        format!("{}/2010-04-01/Accounts/{account_sid}/Messages.json", self.api_base)
    }
}

/// A number as Twilio wants it on this channel (`whatsapp:+1...` for WhatsApp).
fn address(channel: Channel, number: &Address) -> String {
    match channel {
        Channel::Whatsapp => format!("whatsapp:{number}"),
        _ => number.to_string(),
    }
}

fn strip_channel(addr: &str) -> &str {
    addr.strip_prefix("whatsapp:").unwrap_or(addr)
}

fn parse_sent(m: MessageResource) -> Option<SentText> {
    let sent_at = m
        .date_created
        .as_deref()
        .and_then(|d| jiff::fmt::rfc2822::parse(d).ok())
        .map(|z| z.timestamp())
        .unwrap_or_else(jiff::Timestamp::now);
    Some(SentText {
        provider_id: m.sid,
        to: PhoneNumber::parse(strip_channel(&m.to)).ok()?.into(),
        from: PhoneNumber::parse(strip_channel(&m.from)).ok()?.into(),
        body: m.body.unwrap_or_default(),
        status: m.status.unwrap_or_default(),
        sent_at,
    })
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers.get("retry-after")?.to_str().ok()?.trim().parse().ok().map(Duration::from_secs)
}

/// Classifies a non-success answer to a create.
async fn classify(resp: reqwest::Response) -> SendError {
    let status = resp.status();
    let after = retry_after(resp.headers());
    let err: TwilioError = resp.json().await.unwrap_or_default();
    let code = err.code.unwrap_or(0);
    count_error(code, status);
    let message = format!("{status}: {}", err.message.unwrap_or_default());
    if status.as_u16() == 429 || THROTTLED.contains(&code) {
        SendError::Retryable { message, retry_after: after }
    } else if status.is_server_error() {
        // The message may have been created before the server failed.
        SendError::Ambiguous(message)
    } else {
        SendError::Permanent { code: code.to_string(), message }
    }
}

/// Counts an error answer by Twilio's code (its HTTP status when the body had none).
fn count_error(code: i64, status: reqwest::StatusCode) {
    let code = if code == 0 { status.as_u16().to_string() } else { code.to_string() };
    metrics::counter!(comms_core::metrics::PROVIDER_ERRORS, "provider" => "twilio", "code" => code)
        .increment(1);
}

/// The segments of a created message, as Twilio counted them (1 when it did not say).
fn segments(m: &MessageResource) -> u64 {
    match &m.num_segments {
        Some(serde_json::Value::String(n)) => n.trim().parse().unwrap_or(1),
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(1),
        _ => 1,
    }
}

impl TwilioRest {
    /// Creates one message (`Messages.json`); counts the segments Twilio billed.
    async fn create(&self, text: &OutboundText) -> Result<SentText, SendError> {
        if text.to.phone().is_none() || text.from.phone().is_none() {
            let message = format!("Twilio sends {} to phone numbers only", text.channel);
            return Err(SendError::Permanent { code: "not_a_phone_number".into(), message });
        }
        let creds = self.credentials(text.credentials.as_deref()).await?;
        let (to, from) = (address(text.channel, &text.to), address(text.channel, &text.from));
        let mut form: Vec<(&str, String)> = vec![("To", to), ("From", from)];
        match &text.template {
            Some(t) => {
                form.push(("ContentSid", t.content_sid.clone()));
                // Invariant: a map of strings serialises to JSON.
                form.push(("ContentVariables", serde_json::to_string(&t.variables).expect("string map")));
            }
            None => form.push(("Body", text.body.clone())),
        }
        if let Some(cb) = &text.status_callback {
            form.push(("StatusCallback", cb.clone()));
        }
        let resp = self
            .http
            .post(self.messages_url(&creds.account_sid))
            .basic_auth(&creds.account_sid, Some(creds.auth_token.expose()))
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    // Never reached Twilio: nothing can have been sent.
                    SendError::Retryable { message: e.to_string(), retry_after: None }
                } else {
                    SendError::Ambiguous(e.to_string())
                }
            })?;
        if !resp.status().is_success() {
            return Err(classify(resp).await);
        }
        let m: MessageResource =
            resp.json().await.map_err(|e| SendError::Ambiguous(format!("unreadable answer: {e}")))?;
        metrics::counter!(comms_core::metrics::SMS_SEGMENTS, "channel" => text.channel.as_str())
            .increment(segments(&m));
        parse_sent(m).ok_or_else(|| SendError::Ambiguous("answer without valid numbers".into()))
    }
}

#[async_trait]
impl Messenger for TwilioRest {
    async fn send(&self, text: &OutboundText) -> Result<SentText, SendError> {
        let started = std::time::Instant::now();
        let result = self.create(text).await;
        let channel = text.channel.as_str();
        let outcome = comms_core::metrics::outcome(&result);
        metrics::histogram!(comms_core::metrics::SEND_LATENCY_MS, "channel" => channel, "outcome" => outcome)
            .record(comms_core::metrics::ms(started.elapsed()));
        result
    }

    async fn sent_since(
        &self,
        channel: Channel,
        _tenant: &TenantRef,
        credentials: Option<&str>,
        from: &Address,
        to: &Address,
        since: jiff::Timestamp,
    ) -> Result<Vec<SentText>, SendError> {
        let creds = self.credentials(credentials).await?;
        let day = since.to_zoned(jiff::tz::TimeZone::UTC).date().to_string();
        let resp = self
            .http
            .get(self.messages_url(&creds.account_sid))
            .basic_auth(&creds.account_sid, Some(creds.auth_token.expose()))
            .query(&[
                ("To", address(channel, to).as_str()),
                ("From", address(channel, from).as_str()),
                ("DateSent>", day.as_str()),
                ("PageSize", "50"),
            ])
            .send()
            .await
            .map_err(|e| SendError::Retryable { message: e.to_string(), retry_after: None })?;
        if !resp.status().is_success() {
            // A failed lookup sends nothing: always safe to retry.
            let status = resp.status();
            return Err(SendError::Retryable {
                message: format!("message lookup failed: {status}"),
                retry_after: None,
            });
        }
        let list: MessageList = resp
            .json()
            .await
            .map_err(|e| SendError::Retryable { message: e.to_string(), retry_after: None })?;
        // Twilio filters by day; keep what was created since the attempt (with a minute
        // of clock slack).
        let cutoff = since - Duration::from_secs(60);
        Ok(list.messages.into_iter().filter_map(parse_sent).filter(|m| m.sent_at >= cutoff).collect())
    }
}

#[async_trait]
impl CallControl for TwilioRest {
    async fn update_call(&self, update: &CallUpdate) -> Result<(), CallError> {
        let creds = self.credentials(update.credentials.as_deref()).await.map_err(|e| match e {
            SendError::Permanent { code, message } => CallError::Permanent { code, message },
            other => CallError::Permanent { code: "credentials".into(), message: other.to_string() },
        })?;
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Calls/{}.json",
            self.api_base, creds.account_sid, update.call_sid
        );
        let resp = self
            .http
            .post(url)
            .basic_auth(&creds.account_sid, Some(creds.auth_token.expose()))
            .form(&[("Twiml", update.twiml.as_str())])
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    CallError::Retryable { message: e.to_string(), retry_after: None }
                } else {
                    CallError::Ambiguous(e.to_string())
                }
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let after = retry_after(resp.headers());
        let err: TwilioError = resp.json().await.unwrap_or_default();
        let code = err.code.unwrap_or(0);
        count_error(code, status);
        let message = format!("{status}: {}", err.message.unwrap_or_default());
        Err(if status.as_u16() == 404 || CALL_ENDED.contains(&code) {
            CallError::Ended(message)
        } else if status.as_u16() == 429 || THROTTLED.contains(&code) {
            CallError::Retryable { message, retry_after: after }
        } else if status.is_server_error() {
            CallError::Ambiguous(message)
        } else {
            CallError::Permanent { code: code.to_string(), message }
        })
    }
}
