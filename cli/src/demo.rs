//! The demo tenant `comms serve` seeds on first start, so a newcomer can try it at once.

use comms_shared::adapters::sqlite::{SqliteSecrets, SqliteTenants};
use comms_shared::domain::tenant::TenantConfig;
use comms_shared::ports::{Secret, SecretError, SecretStore, TenantDirectory};
use comms_shared::twilio::TwilioCredentials;

use crate::CliResult;

/// The sample tenant file, compiled in.
pub const DEMO_TENANT_JSON: &str = include_str!("../../samples/tenants/demo-repair-shop.json");

/// Seeds the demo tenant and its local Twilio credentials if absent; returns the tenant
/// and whether it was created now. The auth token is random per data folder, so a demo
/// server reachable from elsewhere cannot be fed webhooks signed with a published token.
pub async fn seed(tenants: &SqliteTenants, secrets: &SqliteSecrets) -> CliResult<(TenantConfig, bool)> {
    let demo = TenantConfig::from_json(DEMO_TENANT_JSON)?;
    let created = match tenants.get(&demo.tenant).await? {
        Some(_) => false,
        None => {
            tenants.put(&demo).await?;
            true
        }
    };
    if let Some(name) = &demo.credentials.twilio {
        if let Err(SecretError::NotFound(_)) = secrets.get(name).await {
            let creds = TwilioCredentials {
                account_sid: format!("AC{}", uuid::Uuid::new_v4().simple()),
                auth_token: Secret::new(uuid::Uuid::new_v4().simple().to_string()),
            };
            secrets.put(name, &creds.to_secret()).await?;
        }
    }
    let current = tenants.get(&demo.tenant).await?.unwrap_or(demo);
    Ok((current, created))
}
