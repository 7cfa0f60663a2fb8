//! A customer's photos show in the transcript as "N photos" with a link to each.

use comms_core::domain::{Address, Channel, ConversationId, Media, PhoneNumber};
use comms_core::ports::{ConversationItem, ConversationKey, ItemContent};

use crate::helpers::*;

#[tokio::test]
async fn the_transcript_shows_how_many_photos_with_links() {
    let app = spawn_app().await;
    let conv = seed_conversation(&app, &app.demo.tenant, CUSTOMER, "hello").await;
    let customer = Address::from(PhoneNumber::parse(CUSTOMER).unwrap());
    assert_eq!(conv, ConversationId::derive(&app.demo.tenant, Channel::Sms, &customer));
    let key = ConversationKey {
        id: conv.clone(),
        tenant: app.demo.tenant.clone(),
        channel: Channel::Sms,
        customer,
    };
    let media = vec![
        Media { url: "https://api.twilio.com/m/ME1".into(), content_type: "image/jpeg".into() },
        Media { url: "https://api.twilio.com/m/ME2".into(), content_type: "image/png".into() },
    ];
    let item = ConversationItem {
        item_id: "MM1:inbound".into(),
        at: jiff::Timestamp::now(),
        content: ItemContent::Inbound { text: "the crack".into(), media },
    };
    app.stores.conversations.append(&key, &[item]).await.unwrap();

    let mut b = Browser::new(&app);
    b.sign_in("demo", "repair-shop", OWNER_KEY).await;
    let page = b.get(&format!("/console/conversations/{conv}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("2 photos:"), "{}", page.body);
    assert!(page.body.contains("href=\"https://api.twilio.com/m/ME1\""), "{}", page.body);
    assert!(page.body.contains("href=\"https://api.twilio.com/m/ME2\""), "{}", page.body);
}
