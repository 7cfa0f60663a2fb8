//! The tenant directory: each tenant's configuration, and a route item per number and
//! email address it owns, written in one transaction so each has one owner. Each route
//! carries a copy of the config written in that same transaction, so a webhook finds its
//! tenant with one `GetItem` (the router's first event, and every tenant-cache miss).

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Channel, EmailAddress, PhoneNumber, TenantRef};
use comms_core::ports::{StoreError, TenantDirectory};

use super::{Attrs, DynamoStore, Item, Key, invalid, json, s, tenant_pk};

fn config_key(tenant: &TenantRef) -> Key {
    Key::new(tenant_pk(tenant), "CONFIG")
}

fn route_key(channel: Channel, number: &PhoneNumber) -> Key {
    Key::new(format!("NUMBER#{channel}#{number}"), "ROUTE")
}

fn email_route_key(address: &EmailAddress) -> Key {
    Key::new(format!("EMAIL#{address}"), "ROUTE")
}

/// Every route key of `config`: its numbers per channel, its email addresses.
fn route_keys(config: &TenantConfig) -> Vec<Key> {
    let numbers = config.numbers.iter().flat_map(|(c, ns)| ns.iter().map(|n| route_key(*c, n)));
    numbers.chain(config.email_addresses().iter().map(email_route_key)).collect()
}

/// A tenant config item: `TENANT#{company}#{project}` / `CONFIG`, the config as JSON.
struct ConfigItem(TenantConfig);

impl TryFrom<&Item> for ConfigItem {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        TenantConfig::from_json(Attrs(item).s("config")?).map(ConfigItem).map_err(|e| invalid(e.to_string()))
    }
}

impl From<&ConfigItem> for Item {
    fn from(ConfigItem(config): &ConfigItem) -> Item {
        config_key(&config.tenant).with([("config", s(config.to_json_pretty()))])
    }
}

/// A route item: `NUMBER#{channel}#{e164}` or `EMAIL#{address}` / `ROUTE`, the tenant
/// owning it and a copy of its config (`config`, as in the config item). Routes written
/// before the copy existed have none; their tenant is read from its config item.
struct RouteItem {
    key: Key,
    tenant: TenantRef,
    config: Option<String>,
}

impl RouteItem {
    /// The tenant's config from the route's copy, or `None` when the route has none.
    fn config(&self) -> Result<Option<TenantConfig>, StoreError> {
        let Some(json) = &self.config else { return Ok(None) };
        let config =
            TenantConfig::from_json(json).map_err(|e| invalid(format!("route {}: {e}", self.key.pk)))?;
        if config.tenant != self.tenant {
            return Err(invalid(format!("route {} holds another tenant's config", self.key.pk)));
        }
        Ok(Some(config))
    }
}

impl TryFrom<&Item> for RouteItem {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let a = Attrs(item);
        let tenant = TenantRef {
            company_id: a.s("company_id")?.to_owned(),
            project_id: a.s("project_id")?.to_owned(),
        };
        let key = Key::of(item)?;
        let config = match item.get("config") {
            None => None,
            Some(v) => Some(
                v.as_s().map_err(|_| invalid(format!("route {}: config is not a string", key.pk)))?.clone(),
            ),
        };
        Ok(Self { key, tenant, config })
    }
}

impl From<&RouteItem> for Item {
    fn from(r: &RouteItem) -> Item {
        let mut item =
            r.key.with([("company_id", s(&r.tenant.company_id)), ("project_id", s(&r.tenant.project_id))]);
        if let Some(config) = &r.config {
            item.insert("config".to_owned(), s(config));
        }
        item
    }
}

impl DynamoStore {
    /// Adds a route per number and address of `config` (each on condition: free or
    /// already this tenant's) and deletes the routes `previous` had and `config` has not.
    fn with_routes(
        &self,
        mut tx: TransactWriteItemsFluentBuilder,
        config: &TenantConfig,
        previous: Option<&TenantConfig>,
    ) -> Result<TransactWriteItemsFluentBuilder, StoreError> {
        let t = &config.tenant;
        let keys = route_keys(config);
        // Compact (the config item keeps the pretty form): routes are written on every put.
        let copy = json(config);
        for key in &keys {
            let route = RouteItem { key: key.clone(), tenant: t.clone(), config: Some(copy.clone()) };
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some((&route).into()))
                .condition_expression("attribute_not_exists(pk) OR (company_id = :c AND project_id = :p)")
                .expression_attribute_values(":c", s(&t.company_id))
                .expression_attribute_values(":p", s(&t.project_id))
                .build()
                .map_err(|e| invalid(e.to_string()))?;
            tx = tx.transact_items(TransactWriteItem::builder().put(put).build());
        }
        // Numbers and addresses the tenant no longer has are released.
        for key in previous.map(route_keys).unwrap_or_default().iter().filter(|k| !keys.contains(k)) {
            tx = tx.transact_items(self.delete_tx(key)?);
        }
        Ok(tx)
    }

    /// The tenant a route leads to: the route's copy of its config (one read), or, for a
    /// route written without one, its config item.
    async fn by_route(&self, key: &Key) -> Result<Option<TenantConfig>, StoreError> {
        let Some(route) = self.get_as::<RouteItem>(key).await? else { return Ok(None) };
        match route.config()? {
            Some(config) => Ok(Some(config)),
            None => TenantDirectory::get(self, &route.tenant).await,
        }
    }
}

#[async_trait]
impl TenantDirectory for DynamoStore {
    async fn put(&self, config: &TenantConfig) -> Result<(), StoreError> {
        let previous: Option<ConfigItem> = self.get_as(&config_key(&config.tenant)).await?;
        let item = ConfigItem(config.clone());
        let tx = self.client.transact_write_items().transact_items(self.put_tx((&item).into(), None)?);
        let tx = self.with_routes(tx, config, previous.as_ref().map(|ConfigItem(p)| p))?;
        match tx.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("TransactionCanceledException") => {
                Err(StoreError::Conflict("a number or email address already routes to another tenant".into()))
            }
            Err(e) => Err(self.err(e)),
        }
    }

    async fn get(&self, tenant: &TenantRef) -> Result<Option<TenantConfig>, StoreError> {
        let item: Option<ConfigItem> = self.get_as(&config_key(tenant)).await?;
        Ok(item.map(|ConfigItem(config)| config))
    }

    async fn by_number(
        &self,
        channel: Channel,
        number: &PhoneNumber,
    ) -> Result<Option<TenantConfig>, StoreError> {
        self.by_route(&route_key(channel, number)).await
    }

    async fn by_email(&self, address: &EmailAddress) -> Result<Option<TenantConfig>, StoreError> {
        self.by_route(&email_route_key(address)).await
    }
}
