//! SendGrid's Event Webhook: a JSON array of events about mail we sent. Only what the
//! service acts on is read: delivery outcomes (recorded per message) and bounces and
//! spam reports (the recipient is opted out).

use serde::Deserialize;

/// What happened to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Delivered,
    /// A permanent failure at the receiving server (`type` "bounce"), or a block
    /// (`type` "blocked", temporary at SendGrid's side but the message is not delivered).
    Bounce,
    Dropped,
    SpamReport,
    /// Anything else (processed, deferred, open, click, ...): ignored.
    Other(String),
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailEvent {
    pub kind: EventKind,
    /// The recipient's address.
    pub email: String,
    /// The `X-Message-Id` Mail Send answered with (the part of `sg_message_id` before the
    /// first dot), when the event has one.
    pub provider_id: Option<String>,
    /// The bounce's SMTP status (e.g. `5.1.1`), if given.
    pub smtp_status: Option<String>,
    /// The sending tenant (`company_id`, `project_id`): custom args of every mail we
    /// send, which SendGrid copies into its events. `None` for mail not sent by us.
    pub tenant: Option<(String, String)>,
}

impl EmailEvent {
    /// The delivery status to record, in the delivery store's vocabulary, with an error
    /// code: delivered, or undelivered/failed with the SendGrid event as the code.
    pub fn delivery_status(&self) -> Option<(&'static str, Option<String>)> {
        match self.kind {
            EventKind::Delivered => Some(("delivered", None)),
            EventKind::Bounce => {
                let code = self
                    .smtp_status
                    .as_deref()
                    .map_or_else(|| "bounce".to_owned(), |s| format!("bounce {s}"));
                Some(("undelivered", Some(code)))
            }
            EventKind::Dropped => Some(("failed", Some("dropped".to_owned()))),
            EventKind::SpamReport | EventKind::Other(_) => None,
        }
    }

    /// Whether the recipient must not be mailed again (a hard bounce or a spam report).
    pub fn opts_out(&self) -> bool {
        matches!(self.kind, EventKind::Bounce | EventKind::SpamReport)
    }
}

/// Why an Event Webhook body was refused.
#[derive(Debug, thiserror::Error)]
#[error("events body is not a JSON array of events: {0}")]
pub struct EventsError(#[from] serde_json::Error);

#[derive(Deserialize)]
struct RawEvent {
    event: String,
    email: String,
    #[serde(default)]
    sg_message_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    company_id: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
}

/// Parses the body (the route's body limit bounds the batch).
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, EventsError> {
    let raw: Vec<RawEvent> = serde_json::from_slice(body)?;
    Ok(raw.into_iter().map(EmailEvent::from).collect())
}

impl From<RawEvent> for EmailEvent {
    fn from(raw: RawEvent) -> Self {
        let kind = match raw.event.as_str() {
            "delivered" => EventKind::Delivered,
            "bounce" => EventKind::Bounce,
            "dropped" => EventKind::Dropped,
            "spamreport" => EventKind::SpamReport,
            _ => EventKind::Other(raw.event.clone()),
        };
        let provider_id = raw
            .sg_message_id
            .as_deref()
            .and_then(|id| id.split('.').next())
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        let smtp_status = raw.status.filter(|s| !s.is_empty());
        let tenant = raw.company_id.zip(raw.project_id);
        Self { kind, email: raw.email, provider_id, smtp_status, tenant }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reads_into_statuses_and_opt_outs() {
        let body = br#"[
          {"email":"a@example.org","timestamp":1700000000,"event":"delivered","company_id":"acme","project_id":"shop","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","sg_event_id":"e1"},
          {"email":"b@example.org","timestamp":1700000001,"event":"bounce","type":"bounce","status":"5.1.1","reason":"no such user","sg_message_id":"X2.filter"},
          {"email":"c@example.org","timestamp":1700000002,"event":"dropped","reason":"Bounced Address","sg_message_id":"X3.filter"},
          {"email":"d@example.org","timestamp":1700000003,"event":"spamreport"},
          {"email":"e@example.org","timestamp":1700000004,"event":"open","sg_message_id":"X5.filter"}
        ]"#;
        let events = parse(body).unwrap();
        assert_eq!(events[0].provider_id.as_deref(), Some("14c5d75ce93"));
        assert_eq!(events[0].tenant, Some(("acme".into(), "shop".into())));
        assert_eq!(events[1].tenant, None);
        assert_eq!(events[0].delivery_status(), Some(("delivered", None)));
        assert_eq!(events[1].delivery_status(), Some(("undelivered", Some("bounce 5.1.1".into()))));
        assert_eq!(events[2].delivery_status(), Some(("failed", Some("dropped".into()))));
        assert_eq!(events[3].delivery_status(), None);
        assert_eq!(events[4].kind, EventKind::Other("open".into()));
        let opted: Vec<&str> = events.iter().filter(|e| e.opts_out()).map(|e| e.email.as_str()).collect();
        assert_eq!(opted, ["b@example.org", "d@example.org"]);
    }

    #[test]
    fn what_is_not_an_event_array_is_refused() {
        assert!(parse(b"{}").is_err());
        assert!(parse(br#"[{"event":"delivered"}]"#).is_err());
        assert!(parse(b"[]").unwrap().is_empty());
    }
}
