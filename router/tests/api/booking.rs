use std::sync::Arc;

use comms_core::domain::{Address, OwnerState};
use comms_core::ports::{TenantDirectory, ToolCall};
use comms_core::tools::{self, ToolContext};
use comms_sqlite::{SqliteBookings, SqliteLedger, SqliteTenants};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin::ADMIN_KEY;
use crate::helpers::*;
use crate::initiate::{API_KEY, sample, with_tenant};

/// The next weekday in the demo tenant's time zone (open 09:00-18:00).
fn next_weekday() -> String {
    let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
    let mut d = jiff::Timestamp::now().to_zoned(tz).date();
    loop {
        d = d.tomorrow().unwrap();
        if d.weekday().to_monday_zero_offset() < 5 {
            return d.to_string();
        }
    }
}

fn booking(date: &str, phone: &str) -> Value {
    let mut b = sample("booking.json");
    b["date"] = date.into();
    b["phone"] = phone.into();
    b
}

async fn ai_books(app: &TestApp, date: &str, phone: &str) -> Value {
    let ctx = ToolContext {
        tenant: Arc::new(SqliteTenants::new(app.db.clone()).get(&app.tenant.tenant).await.unwrap().unwrap()),
        conversation_id: "c".into(),
        customer: Address::parse(phone).unwrap(),
        owner: OwnerState::default_at(jiff::Timestamp::now()),
        now: jiff::Timestamp::now(),
        bookings: Arc::new(SqliteBookings::new(app.db.clone())),
        ledger: Arc::new(SqliteLedger::new(app.db.clone())),
        handoff: None,
    };
    let call = ToolCall {
        id: "call".into(),
        name: "book_slot".into(),
        arguments: json!({"date": date, "time": "10:00", "customer_name": "Bo", "service": "battery"})
            .to_string(),
    };
    tools::execute(&ctx, &call).await.unwrap()
}

#[tokio::test]
async fn availability_booking_and_leads() {
    let app = spawn_app().await;
    with_tenant(&app, |_| {}).await;
    let day = next_weekday();
    let url = format!("{}/availability?company_id=demo&project_id=repair-shop&date={day}", app.base_url);
    let resp = app.client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "availability is not public for this tenant");
    let slots: Value =
        app.client.get(&url).header("x-admin-key", ADMIN_KEY).send().await.unwrap().json().await.unwrap();
    assert!(slots["slots"].as_array().unwrap().contains(&json!("10:00")));

    let resp = app.post_json("/bookings", &booking(&day, CUSTOMER), Some(("x-api-key", API_KEY))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let lead: Value = resp.json().await.unwrap();
    assert!(lead["lead_id"].as_str().unwrap().starts_with("LEAD-"));

    let slots: Value =
        app.client.get(&url).header("x-admin-key", ADMIN_KEY).send().await.unwrap().json().await.unwrap();
    assert!(!slots["slots"].as_array().unwrap().contains(&json!("10:00")));
    let leads_url = format!("{}/leads?company_id=demo&project_id=repair-shop&date={day}", app.base_url);
    let leads: Value = app
        .client
        .get(&leads_url)
        .header("x-admin-key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(leads["leads"][0]["lead_id"], lead["lead_id"]);
}

#[tokio::test]
async fn the_booking_api_and_the_ai_tool_cannot_double_book() {
    let app = spawn_app().await;
    with_tenant(&app, |_| {}).await;
    let day = next_weekday();
    // Web form first, then the assistant tries the same slot.
    let resp = app.post_json("/bookings", &booking(&day, CUSTOMER), Some(("x-api-key", API_KEY))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(ai_books(&app, &day, "+14155550999").await["booked"], false);

    // The assistant first on another day, then the web form.
    let day_date: jiff::civil::Date = day.parse().unwrap();
    let later = day_date.checked_add(jiff::Span::new().days(7)).unwrap();
    assert_eq!(ai_books(&app, &later.to_string(), "+14155550999").await["booked"], true);
    let resp = app
        .post_json("/bookings", &booking(&later.to_string(), CUSTOMER), Some(("x-api-key", API_KEY)))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(error_of(resp).await.0, "slot_taken");
}

#[tokio::test]
async fn booking_errors_name_the_field() {
    let app = spawn_app().await;
    with_tenant(&app, |_| {}).await;
    let day = next_weekday();
    for (field, value) in [("date", "tomorrow"), ("time", "10am"), ("phone", "555-0123"), ("time", "03:00")] {
        let mut body = booking(&day, CUSTOMER);
        body[field] = value.into();
        let resp = app.post_json("/bookings", &body, Some(("x-api-key", API_KEY))).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{field}={value}");
        assert_eq!(error_of(resp).await.1.as_deref(), Some(field));
    }
    let resp = app.post_json("/bookings", &booking(&day, CUSTOMER), None).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    error_of(resp).await;
}
