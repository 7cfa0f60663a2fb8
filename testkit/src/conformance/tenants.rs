//! The tenant directory's conformance suite; each check expects an empty directory.

use comms_core::domain::tenant::EmailSettings;
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Channel, EmailAddress, PhoneNumber, TenantRef};
use comms_core::ports::{StoreError, TenantDirectory};

fn demo() -> TenantConfig {
    TenantConfig::from_json(include_str!("../../../samples/tenants/demo-repair-shop.json"))
        .expect("sample tenant is valid")
}

fn phone(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s).expect("valid test number")
}

/// A stored tenant is found by its ids and by each of its numbers, and only there.
pub async fn found_by_id_and_by_number(dir: &dyn TenantDirectory) {
    let cfg = demo();
    dir.put(&cfg).await.expect("put");
    assert_eq!(dir.get(&cfg.tenant).await.expect("get"), Some(cfg.clone()));
    let by_number = dir.by_number(Channel::Sms, &phone("+15555550100")).await.expect("by number");
    assert_eq!(by_number, Some(cfg.clone()), "the whole config, by number");
    assert!(dir.by_number(Channel::Sms, &phone("+15555550199")).await.expect("by number").is_none());
    assert!(dir.by_number(Channel::Email, &phone("+15555550100")).await.expect("by number").is_none());
    let other = TenantRef::new("demo", "other").expect("valid ids");
    assert!(dir.get(&other).await.expect("get").is_none());
}

/// A tenant changed through `writer` (another process's handle on the same store, e.g. the
/// `comms` CLI next to a running server) is read changed through `reader` at once, by id
/// and by number, and read as it was when changed back.
pub async fn a_changed_tenant_is_read_changed(writer: &dyn TenantDirectory, reader: &dyn TenantDirectory) {
    let first = demo();
    writer.put(&first).await.expect("put");
    let number = phone("+15555550100");
    let read = |r: Option<TenantConfig>| r.map(|t| t.company_name);
    assert_eq!(
        read(reader.by_number(Channel::Sms, &number).await.expect("by number")),
        Some(first.company_name.clone())
    );
    let mut renamed = first.clone();
    renamed.company_name = "Renamed Repairs".into();
    writer.put(&renamed).await.expect("update");
    assert_eq!(reader.get(&first.tenant).await.expect("get"), Some(renamed.clone()));
    assert_eq!(
        read(reader.by_number(Channel::Sms, &number).await.expect("by number")),
        Some(renamed.company_name)
    );
    writer.put(&first).await.expect("changed back");
    assert_eq!(reader.by_number(Channel::Sms, &number).await.expect("by number"), Some(first.clone()));
    assert_eq!(reader.get(&first.tenant).await.expect("get"), Some(first));
}

/// Replacing a tenant moves its numbers; a number owned by another tenant is refused.
pub async fn numbers_have_one_owner(dir: &dyn TenantDirectory) {
    let first = demo();
    dir.put(&first).await.expect("put");

    let mut second = demo();
    second.tenant = TenantRef::new("other-co", "shop").expect("valid ids");
    second.credentials = Default::default();
    let err = dir.put(&second).await.expect_err("number stolen");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(dir.get(&second.tenant).await.expect("get").is_none(), "refused put wrote something");

    let mut moved = first.clone();
    moved.numbers = [(Channel::Sms, vec![phone("+15555550101")])].into();
    dir.put(&moved).await.expect("update");
    assert!(dir.by_number(Channel::Sms, &phone("+15555550100")).await.expect("by number").is_none());
    assert!(dir.by_number(Channel::Sms, &phone("+15555550101")).await.expect("by number").is_some());
    dir.put(&second).await.expect("number is free now");
}

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("valid test address")
}

fn with_addresses(mut cfg: TenantConfig, addresses: &[&str]) -> TenantConfig {
    cfg.email = Some(EmailSettings {
        addresses: addresses.iter().map(|a| email(a)).collect(),
        from_name: "Demo Repairs".into(),
        sendgrid_secret: format!(
            "email-credentials/{}/{}/sendgrid",
            cfg.tenant.company_id, cfg.tenant.project_id
        ),
        max_reply_chars: 2000,
        inbound_path_secret: None,
    });
    cfg
}

/// A tenant is found by each of its email addresses; an address has one owner, and
/// one the tenant gives up is free again.
pub async fn email_addresses_route_with_one_owner(dir: &dyn TenantDirectory) {
    let first = with_addresses(demo(), &["help@shop.example.com", "repairs@shop.example.com"]);
    dir.put(&first).await.expect("put");
    for a in ["help@shop.example.com", "repairs@SHOP.example.com"] {
        let found = dir.by_email(&email(a)).await.expect("by email");
        assert_eq!(found, Some(first.clone()), "the whole config, by {a}");
    }
    assert!(dir.by_email(&email("nobody@shop.example.com")).await.expect("by email").is_none());

    let mut second = with_addresses(demo(), &["help@shop.example.com"]);
    second.tenant = TenantRef::new("other-co", "shop").expect("valid ids");
    second.numbers = Default::default();
    second.credentials = Default::default();
    second = with_addresses(second, &["help@shop.example.com"]);
    let err = dir.put(&second).await.expect_err("address stolen");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(dir.get(&second.tenant).await.expect("get").is_none(), "refused put wrote something");

    dir.put(&with_addresses(first.clone(), &["repairs@shop.example.com"])).await.expect("update");
    assert!(dir.by_email(&email("help@shop.example.com")).await.expect("by email").is_none());
    dir.put(&second).await.expect("address is free now");
    let found = dir.by_email(&email("help@shop.example.com")).await.expect("by email");
    assert_eq!(found.map(|t| t.tenant), Some(second.tenant));
}
