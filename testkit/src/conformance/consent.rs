//! The consent store's conformance suite; each check expects an empty store.

use comms_core::domain::{PhoneNumber, TenantRef};
use comms_core::ports::{ConsentAction, ConsentStore};

/// STOP opts out for that tenant only, START opts back in, HELP changes nothing.
pub async fn keywords_drive_opt_out_per_tenant(store: &dyn ConsentStore) {
    let shop = TenantRef::new("demo", "repair-shop").expect("valid ids");
    let other = TenantRef::new("demo", "other").expect("valid ids");
    let customer = PhoneNumber::parse("+14155550123").expect("valid number");
    let now = jiff::Timestamp::now();
    assert!(!store.is_opted_out(&shop, &customer).await.expect("read"));

    store.record(&shop, &customer, ConsentAction::OptOut, "STOP", now).await.expect("record");
    assert!(store.is_opted_out(&shop, &customer).await.expect("read"));
    assert!(!store.is_opted_out(&other, &customer).await.expect("read"), "opt-out leaked across tenants");

    store.record(&shop, &customer, ConsentAction::Help, "HELP", now).await.expect("record");
    assert!(store.is_opted_out(&shop, &customer).await.expect("read"), "HELP must not opt back in");

    store.record(&shop, &customer, ConsentAction::OptIn, "START", now).await.expect("record");
    assert!(!store.is_opted_out(&shop, &customer).await.expect("read"));
}
