//! SendGrid's signed webhooks (the Event Webhook and, with a security policy, Inbound
//! Parse): an ECDSA P-256 / SHA-256 signature over the timestamp header followed by the
//! raw body, in `X-Twilio-Email-Event-Webhook-Signature` (base64 DER), the timestamp (Unix
//! seconds) in `X-Twilio-Email-Event-Webhook-Timestamp`. The verification key is the
//! base64 DER (SubjectPublicKeyInfo) string SendGrid shows for the webhook.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};

/// The header holding the base64 DER signature.
pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
/// The header holding the signing time, Unix seconds.
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";
/// How far a signing time may be from ours, either way: a captured request replayed
/// later than this is refused (a genuine redelivery is signed anew when it is sent).
pub const REPLAY_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Why a signed webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the verification key is not a base64 DER P-256 public key")]
    MalformedKey,
    #[error("the timestamp header is not Unix seconds")]
    MalformedTimestamp,
    #[error("the signing time is {0} s away from now, outside the replay window")]
    OutsideWindow(i64),
    #[error("the signature header is not a base64 DER ECDSA signature")]
    MalformedSignature,
    #[error("the signature does not match the timestamp and body")]
    Mismatch,
}

/// A webhook's verification key (public).
#[derive(Debug, Clone)]
pub struct VerificationKey(VerifyingKey);

impl VerificationKey {
    /// Reads the key as SendGrid shows it: base64 of the DER SubjectPublicKeyInfo (PEM
    /// armour, if pasted with it, is dropped).
    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect();
        let der = STANDARD.decode(body).map_err(|_| SignatureError::MalformedKey)?;
        VerifyingKey::from_public_key_der(&der).map(Self).map_err(|_| SignatureError::MalformedKey)
    }

    /// Checks a request: the signing time within [`REPLAY_WINDOW`] of `now`, then the
    /// signature over `timestamp` followed by `body`.
    pub fn verify(
        &self,
        timestamp: &str,
        body: &[u8],
        signature: &str,
        now: jiff::Timestamp,
    ) -> Result<(), SignatureError> {
        let signed_at: i64 = timestamp.trim().parse().map_err(|_| SignatureError::MalformedTimestamp)?;
        let skew = now.as_second().saturating_sub(signed_at);
        let window = i64::try_from(REPLAY_WINDOW.as_secs()).unwrap_or(i64::MAX);
        if skew.abs() > window {
            return Err(SignatureError::OutsideWindow(skew));
        }
        let der = STANDARD.decode(signature.trim()).map_err(|_| SignatureError::MalformedSignature)?;
        let signature = Signature::from_der(&der).map_err(|_| SignatureError::MalformedSignature)?;
        self.0.verify(&signed_payload(timestamp, body), &signature).map_err(|_| SignatureError::Mismatch)
    }
}

/// The verification keys in a tenant's SendGrid secret (JSON, beside `api_key`):
/// `verification_key` (the Event Webhook's) and `inbound_verification_key` (the Inbound
/// Parse security policy's: SendGrid gives each its own key pair). Either may be missing.
#[derive(Debug, Clone, Default)]
pub struct TenantWebhookKeys {
    pub events: Option<VerificationKey>,
    pub inbound: Option<VerificationKey>,
}

impl TenantWebhookKeys {
    /// Reads the keys from the secret's value; a key present but unreadable is an error
    /// (a misconfigured tenant, not a forged request).
    pub fn from_secret(value: &str) -> Result<Self, SignatureError> {
        #[derive(serde::Deserialize)]
        struct Raw {
            #[serde(default)]
            verification_key: Option<String>,
            #[serde(default)]
            inbound_verification_key: Option<String>,
        }
        let raw: Raw = serde_json::from_str(value)
            .unwrap_or(Raw { verification_key: None, inbound_verification_key: None });
        let key = |k: Option<String>| {
            k.filter(|k| !k.trim().is_empty()).map(|k| VerificationKey::parse(&k)).transpose()
        };
        let events = key(raw.verification_key)?;
        let inbound = key(raw.inbound_verification_key)?;
        Ok(Self { events, inbound })
    }
}

/// A signing key, as SendGrid holds one: for `comms webhook email` (against a local
/// server) and tests. Signatures are deterministic (RFC 6979), so no random source is needed.
#[derive(Clone)]
pub struct WebhookSigner(SigningKey);

impl std::fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSigner(<redacted>)")
    }
}

impl WebhookSigner {
    /// A key from 32 secret bytes (a big-endian scalar); `None` if they are not a valid
    /// P-256 scalar (zero, or not below the group order).
    pub fn from_bytes(secret: &[u8; 32]) -> Option<Self> {
        SigningKey::from_slice(secret).ok().map(Self)
    }

    /// A key from the base64 of its 32 secret bytes ([`WebhookSigner::secret_base64`]).
    pub fn from_base64(text: &str) -> Option<Self> {
        let bytes: [u8; 32] = STANDARD.decode(text.trim()).ok()?.try_into().ok()?;
        Self::from_bytes(&bytes)
    }

    /// The 32 secret bytes, base64 (to keep the key in a local secret).
    pub fn secret_base64(&self) -> String {
        STANDARD.encode(self.0.to_bytes())
    }

    /// The verification key as SendGrid shows it (base64 DER SubjectPublicKeyInfo).
    pub fn public_key_base64(&self) -> String {
        // Encoding a valid P-256 point as SPKI cannot fail (the `alloc` feature is on).
        let der = self.0.verifying_key().to_public_key_der().map(|d| d.into_vec()).unwrap_or_default();
        STANDARD.encode(der)
    }

    /// The signature header's value for `timestamp` and `body`.
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        let signature: Signature = self.0.sign(&signed_payload(timestamp, body));
        STANDARD.encode(signature.to_der().as_bytes())
    }

    /// Both headers for a request signed at `now`.
    pub fn headers(&self, now: jiff::Timestamp, body: &[u8]) -> [(&'static str, String); 2] {
        let timestamp = now.as_second().to_string();
        let signature = self.sign(&timestamp, body);
        [(SIGNATURE_HEADER, signature), (TIMESTAMP_HEADER, timestamp)]
    }
}

fn signed_payload(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(timestamp.len() + body.len());
    payload.extend_from_slice(timestamp.as_bytes());
    payload.extend_from_slice(body);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    // SendGrid's published test vector (its SDKs' Event Webhook tests).
    const PUBLIC_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
    const SIGNATURE: &str =
        "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=";
    const TIMESTAMP: &str = "1588788367";
    const PAYLOAD: &str = r#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(secs).unwrap()
    }

    fn signer() -> WebhookSigner {
        WebhookSigner::from_bytes(&[7u8; 32]).unwrap()
    }

    #[test]
    fn sendgrids_own_vector_verifies_and_a_changed_byte_does_not() {
        let key = VerificationKey::parse(PUBLIC_KEY).unwrap();
        let now = at(1_588_788_400);
        let vector = [PAYLOAD.to_owned(), format!("{PAYLOAD}\r\n")];
        assert!(vector.iter().any(|p| key.verify(TIMESTAMP, p.as_bytes(), SIGNATURE, now).is_ok()));
        let changed = PAYLOAD.replace("test_event", "test_evenT");
        assert_eq!(key.verify(TIMESTAMP, changed.as_bytes(), SIGNATURE, now), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_signed_body_verifies_with_the_matching_key_only() {
        let (signer, now) = (signer(), at(1_700_000_000));
        let [(_, signature), (_, timestamp)] = signer.headers(now, b"body");
        let key = VerificationKey::parse(&signer.public_key_base64()).unwrap();
        assert_eq!(key.verify(&timestamp, b"body", &signature, now), Ok(()));
        assert_eq!(key.verify(&timestamp, b"bodY", &signature, now), Err(SignatureError::Mismatch));
        let other = WebhookSigner::from_bytes(&[9u8; 32]).unwrap();
        let other_key = VerificationKey::parse(&other.public_key_base64()).unwrap();
        assert_eq!(other_key.verify(&timestamp, b"body", &signature, now), Err(SignatureError::Mismatch));
        let restored = WebhookSigner::from_base64(&signer.secret_base64()).unwrap();
        assert_eq!(restored.public_key_base64(), signer.public_key_base64());
    }

    #[test]
    fn a_tenants_secret_names_its_keys() {
        let (events, inbound) =
            (signer().public_key_base64(), WebhookSigner::from_bytes(&[9u8; 32]).unwrap());
        let both = format!(
            r#"{{"api_key":"SG.x","verification_key":"{events}","inbound_verification_key":"{}"}}"#,
            inbound.public_key_base64()
        );
        let keys = TenantWebhookKeys::from_secret(&both).unwrap();
        let (now, body) = (at(1_700_000_000), b"x");
        let [(_, sig), (_, ts)] = inbound.headers(now, body);
        assert!(keys.inbound.unwrap().verify(&ts, body, &sig, now).is_ok());
        assert!(keys.events.unwrap().verify(&ts, body, &sig, now).is_err());
        let one = TenantWebhookKeys::from_secret(&format!(r#"{{"verification_key":"{events}"}}"#)).unwrap();
        assert!(one.inbound.is_none() && one.events.is_some());
        let none = TenantWebhookKeys::from_secret("SG.bare-api-key").unwrap();
        assert!(none.inbound.is_none() && none.events.is_none());
        assert!(TenantWebhookKeys::from_secret(r#"{"verification_key":"nope"}"#).is_err());
    }

    #[test]
    fn a_replayed_or_malformed_request_is_refused() {
        let (signer, now) = (signer(), at(1_700_000_000));
        let key = VerificationKey::parse(&signer.public_key_base64()).unwrap();
        let old = "1699990000";
        let signature = signer.sign(old, b"body");
        assert!(matches!(key.verify(old, b"body", &signature, now), Err(SignatureError::OutsideWindow(_))));
        assert_eq!(key.verify("soon", b"body", &signature, now), Err(SignatureError::MalformedTimestamp));
        assert_eq!(key.verify("1700000000", b"body", "%%", now), Err(SignatureError::MalformedSignature));
        assert_eq!(VerificationKey::parse("bm90IGEga2V5").err(), Some(SignatureError::MalformedKey));
        assert!(WebhookSigner::from_bytes(&[0u8; 32]).is_none());
    }
}
