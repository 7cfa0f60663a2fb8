//! Comparisons of secrets that do not leak, through their timing, where two values
//! differ. Shared by the tenant keys (domain) and the Twilio signatures (twilio), so
//! neither has to import the other. Also the signed email unsubscribe token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::{Address, TenantRef};

/// The deployment's secret (in the secret store) that signs unsubscribe links: the
/// engine signs with it when it sends an email, the router verifies with it.
pub const UNSUBSCRIBE_KEY_SECRET: &str = "email-unsubscribe-key";

/// Compares two byte strings without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an unsubscribe link (`/email/unsubscribe?t=...`): who (`tenant`) stops
/// writing to whom (`address`), signed with `secret` so a link cannot be forged for
/// another address: `base64url(company:project:address) . base64url(HMAC-SHA256)`.
pub fn unsubscribe_token(secret: &[u8], tenant: &TenantRef, address: &Address) -> String {
    let payload = format!("{}:{}:{}", tenant.company_id, tenant.project_id, address.as_str());
    let mac = unsubscribe_mac(secret, payload.as_bytes());
    format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(mac))
}

/// The tenant and address of a token [`unsubscribe_token`] made with `secret`; `None`
/// for a forged, altered or malformed token.
pub fn verify_unsubscribe_token(secret: &[u8], token: &str) -> Option<(TenantRef, Address)> {
    let (payload, mac) = token.split_once('.')?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
    if !constant_time_eq(&unsubscribe_mac(secret, &payload), &mac) {
        return None;
    }
    let payload = String::from_utf8(payload).ok()?;
    let mut parts = payload.splitn(3, ':');
    let tenant = TenantRef::new(parts.next()?, parts.next()?).ok()?;
    let address = Address::parse(parts.next()?).ok()?;
    Some((tenant, address))
}

fn unsubscribe_mac(secret: &[u8], payload: &[u8]) -> Vec<u8> {
    // Invariant: HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(b"comms-unsubscribe-v1\n");
    mac.update(payload);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsubscribe_token_names_its_tenant_and_address_and_cannot_be_forged() {
        let tenant = TenantRef::new("acme", "shop").unwrap();
        let ann = Address::parse("ann@example.com").unwrap();
        let token = unsubscribe_token(b"s3cret", &tenant, &ann);
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "URL-safe: {token}");
        assert_eq!(verify_unsubscribe_token(b"s3cret", &token), Some((tenant.clone(), ann)));
        assert_eq!(verify_unsubscribe_token(b"other", &token), None);
        let bob = Address::parse("bob@example.com").unwrap();
        let forged = format!(
            "{}.{}",
            unsubscribe_token(b"x", &tenant, &bob).split('.').next().unwrap(),
            token.split('.').nth(1).unwrap()
        );
        assert_eq!(verify_unsubscribe_token(b"s3cret", &forged), None);
        for junk in ["", ".", "abc", "a.b.c", "!!.??"] {
            assert_eq!(verify_unsubscribe_token(b"s3cret", junk), None, "{junk}");
        }
    }

    #[test]
    fn equal_only_when_every_byte_and_the_length_match() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
