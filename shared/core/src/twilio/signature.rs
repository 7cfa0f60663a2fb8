//! Twilio request signatures (`X-Twilio-Signature`).
//!
//! base64(HMAC-SHA1(auth_token, url + name+value of every distinct POST parameter, sorted
//! by name then value)): like Twilio's official validators, a repeated name signs each of
//! its distinct values once (`X=a&X=a` signs `Xa`). Twilio may sign the URL with or without the scheme's default port, so,
//! as Twilio's own validators do, a signature is accepted if it matches either form.
//! JSON webhooks sign the URL alone and carry `bodySHA256` in the query string.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

type HmacSha1 = Hmac<Sha1>;

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> HmacSha1 {
    // Invariant: HMAC accepts keys of any length.
    let mut mac = HmacSha1::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    // Twilio's libraries sign each distinct value of a name once.
    sorted.dedup();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The signature Twilio would send for this URL and form parameters.
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    BASE64.encode(mac(auth_token, url, params).finalize().into_bytes())
}

fn matches(auth_token: &str, url: &str, params: &[(String, String)], expected: &[u8]) -> bool {
    // `verify_slice` compares in constant time.
    mac(auth_token, url, params).verify_slice(expected).is_ok()
}

/// Whether `signature` is valid for a form-encoded webhook to `url` with `params`.
pub fn validate(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(expected) = BASE64.decode(signature.trim()) else { return false };
    url_variants(url).iter().any(|u| matches(auth_token, u, params, &expected))
}

/// Whether `signature` is valid for a JSON webhook: the URL (carrying `bodySHA256`) is
/// signed alone, and the hash must match the raw body.
pub fn validate_json_body(auth_token: &str, url: &str, body: &[u8], signature: &str) -> bool {
    let Some(claimed) = query_param(url, "bodySHA256") else { return false };
    let actual = hex::encode(Sha256::digest(body));
    let body_ok = crate::secure::constant_time_eq(actual.as_bytes(), claimed.as_bytes());
    validate(auth_token, url, &[], signature) && body_ok
}

fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1.split('#').next()?;
    query.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// The URL as given plus its other port form: with the scheme's default port added when
/// none is written, or with the written port removed.
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else { return out };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    // A ':' after the last ']' (IPv6 literals) separates the port.
    let port_sep = hostport.rfind(':').filter(|&i| !hostport[i..].contains(']'));
    let other = match port_sep {
        Some(i) => format!("{scheme}://{userinfo}{}{tail}", &hostport[..i]),
        None => {
            let default = match scheme.to_ascii_lowercase().as_str() {
                "https" => 443,
                "http" => 80,
                _ => return out,
            };
            format!("{scheme}://{userinfo}{hostport}:{default}{tail}")
        }
    };
    out.push(other);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vectors {
        vectors: Vec<Vector>,
    }

    #[derive(serde::Deserialize)]
    struct Vector {
        name: String,
        auth_token: String,
        url: String,
        #[serde(default)]
        params: Vec<(String, String)>,
        #[serde(default)]
        body: Option<String>,
        signature: String,
    }

    fn vectors() -> Vec<Vector> {
        let text = include_str!("../../../../samples/twilio-signature-vectors.json");
        serde_json::from_str::<Vectors>(text).unwrap().vectors
    }

    #[test]
    fn passes_every_official_vector() {
        let all = vectors();
        assert!(all.len() >= 6, "vector file looks truncated");
        for v in all {
            let ok = match &v.body {
                Some(body) => validate_json_body(&v.auth_token, &v.url, body.as_bytes(), &v.signature),
                None => validate(&v.auth_token, &v.url, &v.params, &v.signature),
            };
            assert!(ok, "vector {} rejected", v.name);
        }
    }

    #[test]
    fn form_vectors_are_computed_exactly() {
        for v in vectors().into_iter().filter(|v| v.body.is_none()) {
            let with_given_url = compute(&v.auth_token, &v.url, &v.params);
            assert_eq!(with_given_url, v.signature, "vector {}", v.name);
        }
    }

    #[test]
    fn repeated_values_are_signed_once_as_twilios_library_does() {
        // Vectors made by twilio-python's RequestValidator (scripts/signature-vectors.py).
        let all = vectors();
        for name in ["repeated-identical-values", "repeated-unsorted-duplicates", "repeated-mixed"] {
            let v = all.iter().find(|v| v.name == name).unwrap();
            assert!(validate(&v.auth_token, &v.url, &v.params, &v.signature), "{name}");
        }
        // X=a&X=a is the same signed string as X=a.
        let v = all.iter().find(|v| v.name == "repeated-identical-values").unwrap();
        assert_eq!(compute(&v.auth_token, &v.url, &[("X".into(), "a".into())]), v.signature);
    }

    #[test]
    fn default_port_is_optional_both_ways() {
        let v = vectors().into_iter().find(|v| v.name == "explicit-https-port").unwrap();
        let without = v.url.replace(":443", "");
        assert!(validate(&v.auth_token, &without, &v.params, &v.signature));
        let plain = vectors().into_iter().find(|v| v.name == "basic-form").unwrap();
        let with = plain.url.replace("mycompany.com/", "mycompany.com:443/");
        assert!(validate(&plain.auth_token, &with, &plain.params, &plain.signature));
    }

    #[test]
    fn tampering_is_rejected() {
        let v = vectors().into_iter().find(|v| v.name == "basic-form").unwrap();
        let mut params = v.params.clone();
        params[1].1 = "9999".into();
        assert!(!validate(&v.auth_token, &v.url, &params, &v.signature));
        assert!(!validate("wrong-token", &v.url, &v.params, &v.signature));
        assert!(!validate(
            &v.auth_token,
            "https://evil.example/myapp.php?foo=1&bar=2",
            &v.params,
            &v.signature
        ));
        assert!(!validate(&v.auth_token, &v.url, &v.params, "not base64!"));
        assert!(!validate(&v.auth_token, &v.url, &v.params, ""));
    }

    #[test]
    fn json_body_must_match_its_hash() {
        let v = vectors().into_iter().find(|v| v.body.is_some()).unwrap();
        assert!(!validate_json_body(&v.auth_token, &v.url, b"{\"property\": \"other\"}", &v.signature));
    }

    #[test]
    fn url_variants_handle_ports_and_ipv6() {
        assert_eq!(url_variants("http://[::1]:3000/x")[1], "http://[::1]/x");
        assert_eq!(url_variants("http://[::1]/x")[1], "http://[::1]:80/x");
        assert_eq!(url_variants("https://h?x=1")[1], "https://h:443?x=1");
    }
}
