//! The demo tenant `comms serve` seeds on first start, so a newcomer can try it at once.

use comms_core::domain::tenant::{KeyHash, TenantConfig, hash_key};
use comms_core::ports::{Secret, SecretError, SecretWriter, TenantDirectory};
use comms_core::twilio::TwilioCredentials;

use crate::CliResult;

/// The sample tenant file, compiled in.
pub const DEMO_TENANT_JSON: &str = include_str!("../../samples/tenants/demo-repair-shop.json");

/// Local secrets holding the demo tenant's keys in plain text (the tenant keeps hashes).
pub const DEMO_API_KEY_SECRET: &str = "local-demo/api-key";
/// See [`DEMO_API_KEY_SECRET`].
pub const DEMO_ADMIN_KEY_SECRET: &str = "local-demo/admin-key";

/// Seeds the demo tenant and its local Twilio credentials if absent; returns the tenant
/// and whether it was created now. The auth token and the API and admin keys are random
/// per data folder, so a demo server reachable from elsewhere cannot be driven with
/// published credentials; the keys are kept as local secrets for the developer.
pub async fn seed(
    tenants: &dyn TenantDirectory,
    secrets: &dyn SecretWriter,
) -> CliResult<(TenantConfig, bool)> {
    let mut demo = TenantConfig::from_json(DEMO_TENANT_JSON)?;
    let created = match tenants.get(&demo.tenant).await? {
        Some(_) => false,
        None => {
            let api_key = format!("demo-api-{}", uuid::Uuid::new_v4().simple());
            let admin_key = format!("demo-admin-{}", uuid::Uuid::new_v4().simple());
            demo.api_keys = vec![KeyHash { id: "demo-backend".into(), sha256: hash_key(&api_key) }];
            demo.admin_keys = vec![KeyHash { id: "owner".into(), sha256: hash_key(&admin_key) }];
            secrets.put(DEMO_API_KEY_SECRET, &Secret::new(api_key)).await?;
            secrets.put(DEMO_ADMIN_KEY_SECRET, &Secret::new(admin_key)).await?;
            tenants.put(&demo).await?;
            true
        }
    };
    if let Some(name) = &demo.credentials.twilio
        && let Err(SecretError::NotFound(_)) = secrets.get(name).await
    {
        let creds = TwilioCredentials {
            account_sid: format!("AC{}", uuid::Uuid::new_v4().simple()),
            auth_token: Secret::new(uuid::Uuid::new_v4().simple().to_string()),
        };
        secrets.put(name, &creds.to_secret()).await?;
    }
    let current = tenants.get(&demo.tenant).await?.unwrap_or(demo);
    Ok((current, created))
}
