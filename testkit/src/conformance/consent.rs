//! The consent store's conformance suite; each check expects an empty store.

use comms_core::domain::{Address, TenantRef};
use comms_core::ports::{ConsentAction, ConsentStore};

/// STOP opts out for that tenant only, START opts back in, HELP changes nothing; for a
/// phone number and an email address alike, each on its own.
pub async fn keywords_drive_opt_out_per_tenant(store: &dyn ConsentStore) {
    let shop = TenantRef::new("demo", "repair-shop").expect("valid ids");
    let other = TenantRef::new("demo", "other").expect("valid ids");
    for customer in ["+14155550123", "ann.lee@example.com"] {
        let customer = Address::parse(customer).expect("valid address");
        opt_out_round_trip(store, &shop, &other, &customer).await;
    }
    let phone = Address::parse("+14155550123").expect("valid number");
    let email = Address::parse("ann.lee@example.com").expect("valid address");
    store
        .record(&shop, &email, ConsentAction::OptOut, "unsubscribe", jiff::Timestamp::now())
        .await
        .expect("record");
    assert!(!store.is_opted_out(&shop, &phone).await.expect("read"), "an email opt-out is not the number's");
}

async fn opt_out_round_trip(
    store: &dyn ConsentStore,
    shop: &TenantRef,
    other: &TenantRef,
    customer: &Address,
) {
    let now = jiff::Timestamp::now();
    assert!(!store.is_opted_out(shop, customer).await.expect("read"));

    store.record(shop, customer, ConsentAction::OptOut, "STOP", now).await.expect("record");
    assert!(store.is_opted_out(shop, customer).await.expect("read"));
    assert!(!store.is_opted_out(other, customer).await.expect("read"), "opt-out leaked across tenants");

    store.record(shop, customer, ConsentAction::Help, "HELP", now).await.expect("record");
    assert!(store.is_opted_out(shop, customer).await.expect("read"), "HELP must not opt back in");

    store.record(shop, customer, ConsentAction::OptIn, "START", now).await.expect("record");
    assert!(!store.is_opted_out(shop, customer).await.expect("read"));
}
