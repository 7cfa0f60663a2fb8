//! SendGrid's signed webhooks, from the sending side: a P-256 key pair that signs like
//! SendGrid's Event Webhook (ECDSA with SHA-256 over the timestamp followed by the raw
//! body, the DER signature in base64, in the `X-Twilio-Email-Event-Webhook-Signature`
//! and `...-Timestamp` headers), its public key as SendGrid's settings page shows it
//! (base64 DER SubjectPublicKeyInfo), and Event Webhook events for mails the stub
//! accepted ([`crate::sendgrid::AcceptedMail`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use serde_json::{Value, json};

use crate::sendgrid::AcceptedMail;

/// The header with the base64 DER signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Email-Event-Webhook-Signature";
/// The header with the signing time (Unix seconds), signed with the body.
pub const TIMESTAMP_HEADER: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

/// Signs webhook bodies as SendGrid does, with a fixed test key.
#[derive(Clone)]
pub struct WebhookSigner {
    key: SigningKey,
}

impl WebhookSigner {
    /// The test key pair: the one the tests' tenants trust.
    pub fn test_key() -> Self {
        Self::from_scalar(0x5e)
    }

    /// Another valid key pair: signatures a tenant trusting [`Self::test_key`] must refuse.
    pub fn forger() -> Self {
        Self::from_scalar(0x7f)
    }

    fn from_scalar(byte: u8) -> Self {
        // Invariant: 32 equal bytes below 0xff are a non-zero scalar under the order.
        Self { key: SigningKey::from_bytes(&[byte; 32].into()).unwrap() }
    }

    /// The public key as SendGrid's "verification key": base64 of its DER
    /// SubjectPublicKeyInfo (`MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE...`).
    pub fn verification_key(&self) -> String {
        STANDARD.encode(self.key.verifying_key().to_public_key_der().unwrap().as_bytes())
    }

    /// The signature header's value for `payload` sent at `timestamp`.
    pub fn sign(&self, timestamp: &str, payload: &[u8]) -> String {
        let signed = [timestamp.as_bytes(), payload].concat();
        let signature: Signature = self.key.sign(&signed);
        STANDARD.encode(signature.to_der().as_bytes())
    }

    /// Both headers for `payload`, signed now.
    pub fn headers(&self, payload: &[u8]) -> [(&'static str, String); 2] {
        let timestamp = jiff::Timestamp::now().as_second().to_string();
        [(SIGNATURE_HEADER, self.sign(&timestamp, payload)), (TIMESTAMP_HEADER, timestamp)]
    }

    /// POSTs `events` (an Event Webhook batch) to `url`, signed now.
    pub async fn post_events(&self, url: &str, events: &[Value]) -> reqwest::Response {
        let body = serde_json::to_vec(events).unwrap();
        let mut request = reqwest::Client::new().post(url).header("content-type", "application/json");
        for (name, value) in self.headers(&body) {
            request = request.header(name, value);
        }
        request.body(body).send().await.unwrap()
    }
}

/// An Event Webhook event (`delivered`, `bounce`, `dropped`, `spamreport`, ...) about
/// `mail`: the recipient, SendGrid's ids, and the mail's custom args as top-level
/// fields (as SendGrid sends them).
pub fn event(kind: &str, mail: &AcceptedMail) -> Value {
    let to = &mail.body["personalizations"][0]["to"][0]["email"];
    let mut event = json!({
        "email": to,
        "timestamp": jiff::Timestamp::now().as_second(),
        "event": kind,
        "sg_event_id": format!("ev-{kind}-{}", mail.message_id),
        "sg_message_id": format!("{}.filterdrecv-1-1", mail.message_id),
        "smtp-id": format!("<{}@stub.sendgrid.net>", mail.message_id),
    });
    match kind {
        "bounce" => {
            event["type"] = json!("bounce");
            event["reason"] = json!("550 5.1.1 The email account that you tried to reach does not exist");
            event["status"] = json!("5.1.1");
        }
        "dropped" => event["reason"] = json!("Bounced Address"),
        "delivered" => event["response"] = json!("250 OK"),
        _ => {}
    }
    if let Some(args) = mail.body["custom_args"].as_object() {
        for (k, v) in args {
            event[k] = v.clone();
        }
    }
    event
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;
    use p256::pkcs8::DecodePublicKey;

    use super::*;

    fn verifies(key_b64: &str, timestamp: &str, payload: &[u8], signature_b64: &str) -> bool {
        let key = VerifyingKey::from_public_key_der(&STANDARD.decode(key_b64).unwrap()).unwrap();
        let signature = Signature::from_der(&STANDARD.decode(signature_b64).unwrap()).unwrap();
        key.verify(&[timestamp.as_bytes(), payload].concat(), &signature).is_ok()
    }

    /// The sample in SendGrid's own Node.js helper tests (`@sendgrid/eventwebhook`): the
    /// scheme above is the one SendGrid uses.
    #[test]
    fn sendgrids_published_sample_verifies_by_the_same_scheme() {
        let key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
        let signature = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=";
        let payload = br#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;
        assert!(verifies(key, "1588788367", payload, signature));
        assert!(!verifies(key, "1588788368", payload, signature));
    }

    #[test]
    fn signs_verifiably_with_the_test_key_only() {
        let signer = WebhookSigner::test_key();
        let payload = br#"[{"event":"delivered"}]"#;
        let signature = signer.sign("1700000000", payload);
        assert!(signer.verification_key().starts_with("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"));
        assert!(verifies(&signer.verification_key(), "1700000000", payload, &signature));
        assert!(!verifies(&WebhookSigner::forger().verification_key(), "1700000000", payload, &signature));
    }
}
