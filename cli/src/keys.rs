//! `comms key issue|revoke`: a tenant's API and admin keys. The tenant record keeps only
//! each key's SHA-256; on AWS the key is also an API Gateway API key on the stack's usage
//! plan (the gateway refuses the key routes without one), so one command does both.

use std::path::Path;

use aws_sdk_apigateway::error::ProvideErrorMetadata;
use clap::Subcommand;
use comms_core::domain::tenant::{KeyHash, TenantConfig, hash_key};
use comms_core::ports::TenantDirectory;

use crate::backend::{Backend, aws_config, aws_resources, store_ports};
use crate::inspect::parse_tenant;
use crate::{CliResult, print_json};

/// Which of the tenant's key lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyKind {
    /// `api_keys`: the company's backend (`/initiate-conversation`, bookings, leads).
    Api,
    /// `admin_keys`: the owner (`/admin/state`, `/availability` unless public).
    Admin,
}

impl KeyKind {
    fn as_str(self) -> &'static str {
        match self {
            KeyKind::Api => "api",
            KeyKind::Admin => "admin",
        }
    }

    fn list(self, config: &mut TenantConfig) -> &mut Vec<KeyHash> {
        match self {
            KeyKind::Api => &mut config.api_keys,
            KeyKind::Admin => &mut config.admin_keys,
        }
    }
}

/// Which key: the tenant, the list and the key's name in it.
#[derive(Debug, clap::Args)]
pub struct KeyRef {
    /// `COMPANY/PROJECT`.
    #[arg(long)]
    tenant: String,
    #[arg(long, value_enum)]
    kind: KeyKind,
    /// A name for the key, unique in the tenant's list (used to revoke it).
    #[arg(long)]
    id: String,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key, store its SHA-256 in the tenant and (with --backend aws) create it as
    /// an API Gateway key on the usage plan; prints the key once.
    Issue {
        #[command(flatten)]
        key: KeyRef,
        /// With --backend aws: the usage plan id (the stack's UsagePlanId output); by
        /// default the plan named `{COMMS_QUEUE_PREFIX}-usage`, as the template names it.
        #[arg(long, env = "COMMS_USAGE_PLAN_ID")]
        usage_plan: Option<String>,
        /// Print JSON (`{"tenant", "kind", "id", "key", "api_gateway_key_id"}`).
        #[arg(long)]
        json: bool,
    },
    /// Remove a key: its hash from the tenant and (with --backend aws) the API Gateway key.
    Revoke {
        #[command(flatten)]
        key: KeyRef,
    },
}

/// The API Gateway key's name: one per tenant, kind and id.
fn gateway_name(config: &TenantConfig, kind: KeyKind, id: &str) -> String {
    format!("comms-{}-{}-{}-{id}", config.tenant.company_id, config.tenant.project_id, kind.as_str())
}

/// Key ids follow the tenant id rules (they appear in API Gateway key names).
fn valid_key_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

/// A new key: 64 hex characters (two v4 UUIDs: 244 random bits).
fn new_key() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

fn gateway_error<E: ProvideErrorMetadata + std::fmt::Debug>(what: &str) -> impl Fn(E) -> String + '_ {
    move |e| {
        format!(
            "API Gateway {what}: {} {}",
            e.code().unwrap_or(""),
            e.message().map(str::to_owned).unwrap_or_else(|| format!("{e:?}"))
        )
    }
}

/// The usage plan to add keys to: the given id, else the plan named `{prefix}-usage`.
async fn usage_plan(client: &aws_sdk_apigateway::Client, given: Option<String>) -> CliResult<String> {
    if let Some(id) = given.filter(|s| !s.trim().is_empty()) {
        return Ok(id);
    }
    let name = format!("{}-usage", aws_resources()?.queue_prefix);
    let plans = client.get_usage_plans().limit(500).send().await.map_err(gateway_error("GetUsagePlans"))?;
    let found: Vec<String> = plans
        .items()
        .iter()
        .filter(|p| p.name() == Some(name.as_str()))
        .filter_map(|p| p.id())
        .map(str::to_owned)
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!(
            "no API Gateway usage plan named {name}; pass --usage-plan (the stack's UsagePlanId output)"
        )
        .into()),
        _ => Err(format!("several usage plans are named {name}; pass --usage-plan").into()),
    }
}

/// The ids of the API Gateway keys with exactly this name.
async fn gateway_keys_named(client: &aws_sdk_apigateway::Client, name: &str) -> CliResult<Vec<String>> {
    let keys = client
        .get_api_keys()
        .name_query(name)
        .limit(500)
        .send()
        .await
        .map_err(gateway_error("GetApiKeys"))?;
    Ok(keys
        .items()
        .iter()
        .filter(|k| k.name() == Some(name))
        .filter_map(|k| k.id())
        .map(str::to_owned)
        .collect())
}

pub async fn run(data_dir: &Path, backend: Backend, cmd: KeyCommand) -> CliResult {
    let tenants = store_ports(data_dir, backend).await?.stores.tenants;
    match cmd {
        KeyCommand::Issue { key, usage_plan: plan, json } => {
            issue(tenants.as_ref(), backend, key, plan, json).await
        }
        KeyCommand::Revoke { key } => revoke(tenants.as_ref(), backend, key).await,
    }
}

/// `key issue`: the hash into the tenant, on AWS the gateway key first (deleted again if
/// the tenant cannot be stored, so a key is issued everywhere or nowhere).
async fn issue(
    tenants: &dyn TenantDirectory,
    backend: Backend,
    KeyRef { tenant, kind, id }: KeyRef,
    plan: Option<String>,
    json: bool,
) -> CliResult {
    let tenant = parse_tenant(&tenant)?;
    if !valid_key_id(&id) {
        return Err(format!(
            "key id '{id}' must be 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        )
        .into());
    }
    let mut config = tenants.get(&tenant).await?.ok_or_else(|| format!("no tenant {tenant}"))?;
    if kind.list(&mut config).iter().any(|k| k.id == id) {
        return Err(
            format!("tenant {tenant} already has a {} key '{id}'; revoke it first", kind.as_str()).into()
        );
    }
    let key = new_key();
    kind.list(&mut config).push(KeyHash { id: id.clone(), sha256: hash_key(&key) });
    // Refuses a bad id (the same rules as `tenant put`) before anything is created.
    let config = TenantConfig::from_json(&serde_json::to_string(&config)?)
        .map_err(|e| format!("key id '{id}': {e}"))?;
    let gateway = match backend {
        Backend::Aws => Some(gateway_key(&config, kind, &id, &key, plan).await?),
        Backend::Embedded => None,
    };
    if let Err(e) = tenants.put(&config).await {
        if let Some((client, key_id)) = &gateway {
            let _ = client.delete_api_key().api_key(key_id).send().await;
        }
        return Err(
            format!("cannot store the key's hash in tenant {tenant}: {e}; the key was not issued").into()
        );
    }
    let gateway_key_id = gateway.map(|(_, key_id)| key_id);
    if json {
        return print_json(&serde_json::json!({"tenant": tenant.to_string(), "kind": kind.as_str(),
            "id": id, "key": key, "api_gateway_key_id": gateway_key_id}));
    }
    println!("issued {} key '{id}' for {tenant}", kind.as_str());
    if let Some(key_id) = gateway_key_id {
        println!("API Gateway key id: {key_id} (on the usage plan)");
    }
    let headers = match (kind, backend) {
        (KeyKind::Api, _) => "as the x-api-key header",
        // API Gateway wants a key of its own in x-api-key on every key route.
        (KeyKind::Admin, Backend::Aws) => "as both the x-admin-key and the x-api-key header",
        (KeyKind::Admin, Backend::Embedded) => "as the x-admin-key header",
    };
    println!("key (shown once; send it {headers}): {key}");
    Ok(())
}

/// Creates `key` as an API Gateway key on the usage plan; returns the client and the
/// key's id. A key the plan refuses is deleted again.
async fn gateway_key(
    config: &TenantConfig,
    kind: KeyKind,
    id: &str,
    key: &str,
    plan: Option<String>,
) -> CliResult<(aws_sdk_apigateway::Client, String)> {
    let client = aws_sdk_apigateway::Client::new(&aws_config().await);
    let plan = usage_plan(&client, plan).await?;
    let created = client
        .create_api_key()
        .name(gateway_name(config, kind, id))
        .description(format!("comms {} key '{id}' of {}", kind.as_str(), config.tenant))
        .value(key)
        .enabled(true)
        .send()
        .await
        .map_err(gateway_error("CreateApiKey"))?;
    let key_id = created.id().unwrap_or_default().to_owned();
    let added = client
        .create_usage_plan_key()
        .usage_plan_id(&plan)
        .key_id(&key_id)
        .key_type("API_KEY")
        .send()
        .await
        .map_err(gateway_error("CreateUsagePlanKey"));
    if let Err(e) = added {
        let _ = client.delete_api_key().api_key(&key_id).send().await;
        return Err(format!("{e} (usage plan {plan}); the key was not issued").into());
    }
    Ok((client, key_id))
}

/// `key revoke`: the hash out of the tenant and, on AWS, every gateway key of that name.
async fn revoke(
    tenants: &dyn TenantDirectory,
    backend: Backend,
    KeyRef { tenant, kind, id }: KeyRef,
) -> CliResult {
    let tenant = parse_tenant(&tenant)?;
    let mut config = tenants.get(&tenant).await?.ok_or_else(|| format!("no tenant {tenant}"))?;
    let before = kind.list(&mut config).len();
    kind.list(&mut config).retain(|k| k.id != id);
    let had_hash = kind.list(&mut config).len() != before;
    let mut deleted = 0;
    if backend == Backend::Aws {
        // Deleting the key also removes it from every usage plan.
        let client = aws_sdk_apigateway::Client::new(&aws_config().await);
        for key_id in gateway_keys_named(&client, &gateway_name(&config, kind, &id)).await? {
            client.delete_api_key().api_key(&key_id).send().await.map_err(gateway_error("DeleteApiKey"))?;
            deleted += 1;
        }
    }
    if !had_hash && deleted == 0 {
        return Err(format!("tenant {tenant} has no {} key '{id}'", kind.as_str()).into());
    }
    if had_hash {
        tenants.put(&config).await?;
    }
    println!("revoked {} key '{id}' of {tenant}", kind.as_str());
    if backend == Backend::Aws {
        println!("deleted {deleted} API Gateway key(s)");
    }
    Ok(())
}
