//! The console's secrets: the per-deployment key that signs session cookies (and CSRF
//! tokens), and the operator keys, kept as SHA-256 hashes like the tenants' keys.

use comms_core::domain::tenant::{KeyHash, hash_key};
use comms_core::ports::{Secret, SecretError, SecretStore, SecretWriter};
use comms_core::secure::constant_time_eq;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::OnceCell;

use super::ConsoleError;

/// Default name of the secret that signs session cookies.
pub const SESSION_SECRET: &str = "console/session-secret";
/// Default name of the secret holding the operator keys' hashes (a JSON list of
/// `{"id", "sha256"}`).
pub const OPERATOR_KEYS_SECRET: &str = "console/operator-keys";

/// How many hex characters of a key's hash a session keeps, to check on each request
/// that the key it was opened with still exists (a revoked key ends its sessions).
pub const KEY_TAG_LEN: usize = 16;

/// The session-signing key, read once per process (created at first use where allowed).
#[derive(Default)]
pub struct SessionKey(OnceCell<Secret>);

impl SessionKey {
    /// The key: read from `secrets`; when missing and a `creator` is given, a fresh
    /// random value is stored through it first (local mode; on Lambda the template
    /// creates the secret and the router only reads it).
    pub async fn get(
        &self,
        secrets: &dyn SecretStore,
        creator: Option<&dyn SecretWriter>,
        name: &str,
    ) -> Result<&Secret, ConsoleError> {
        self.0
            .get_or_try_init(|| async {
                match (secrets.get(name).await, creator) {
                    (Ok(s), _) => Ok(s),
                    (Err(SecretError::NotFound(_)), Some(creator)) => {
                        creator.put(name, &random_secret()).await.map_err(ConsoleError::secret)?;
                        // Read back: with two processes racing, both settle on the last write.
                        secrets.get(name).await.map_err(ConsoleError::secret)
                    }
                    (Err(e), _) => Err(ConsoleError::secret(e)),
                }
            })
            .await
    }
}

/// 256 random bits (two v4 UUIDs' 244 random bits, hex), from the OS generator.
pub fn random_secret() -> Secret {
    Secret::new(format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()))
}

/// HMAC-SHA256 of `parts` (joined unambiguously) under `key`.
pub fn mac(key: &Secret, parts: &[&str]) -> Vec<u8> {
    // Invariant: HMAC takes a key of any length.
    let mut m = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC accepts any key length");
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p.as_bytes());
    }
    m.finalize().into_bytes().to_vec()
}

/// Whether `tag` is the MAC of `parts` (compared in constant time).
pub fn verify(key: &Secret, parts: &[&str], tag: &[u8]) -> bool {
    constant_time_eq(&mac(key, parts), tag)
}

/// The operator keys as stored: hashes only.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct OperatorKeys(pub Vec<StoredKey>);

/// One stored operator key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredKey {
    pub id: String,
    pub sha256: String,
}

impl OperatorKeys {
    /// The stored keys (none when the secret does not exist yet).
    pub async fn load(secrets: &dyn SecretStore, name: &str) -> Result<Self, ConsoleError> {
        match secrets.get(name).await {
            Ok(s) => serde_json::from_str(s.expose()).map_err(|e| {
                ConsoleError::Internal(format!("secret {name} is not a list of key hashes: {e}"))
            }),
            Err(SecretError::NotFound(_)) => Ok(Self::default()),
            Err(e) => Err(ConsoleError::secret(e)),
        }
    }

    /// The key `presented` matches, by its hash (every stored key is compared, in
    /// constant time).
    pub fn matching(&self, presented: &str) -> Option<&StoredKey> {
        let hash = hash_key(presented);
        self.0.iter().fold(None, |found, k| {
            if constant_time_eq(k.sha256.as_bytes(), hash.as_bytes()) { Some(k) } else { found }
        })
    }

    /// Whether a key whose hash starts with `tag` is still stored.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.0.iter().any(|k| k.sha256.starts_with(tag))
    }
}

/// Whether one of the tenant's admin keys has a hash starting with `tag`.
pub fn tenant_has_tag(keys: &[KeyHash], tag: &str) -> bool {
    keys.iter().any(|k| k.sha256.starts_with(tag))
}

/// The tag a session keeps of the key it was opened with.
pub fn tag_of(key: &str) -> String {
    hash_key(key)[..KEY_TAG_LEN].to_owned()
}

/// Creates an operator key named `id`: stores its hash with the others in `name` and
/// returns the key (shown once; only the hash is kept). An existing id is refused.
pub async fn new_operator_key(secrets: &dyn SecretWriter, name: &str, id: &str) -> Result<String, String> {
    let ok_id = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok_id {
        return Err("the key id must be 1 to 64 letters, digits, '-' or '_'".into());
    }
    let mut keys = OperatorKeys::load(secrets, name).await.map_err(|e| e.to_string())?;
    if keys.0.iter().any(|k| k.id == id) {
        return Err(format!("an operator key named '{id}' exists already"));
    }
    let key = format!("op-{}", random_secret().expose());
    keys.0.push(StoredKey { id: id.to_owned(), sha256: hash_key(&key) });
    // Invariant: a list of plain strings serialises.
    let text = serde_json::to_string(&keys).expect("key list serialises");
    secrets.put(name, &Secret::new(text)).await.map_err(|e| e.to_string())?;
    Ok(key)
}
