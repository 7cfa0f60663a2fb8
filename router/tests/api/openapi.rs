//! The OpenAPI file documents every route the router serves, and every documented route
//! exists.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn openapi_lists_exactly_the_served_routes() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json")).unwrap();
    let spec: Value = serde_json::from_str(&text).unwrap();
    let app = spawn_app().await;
    let paths = spec["paths"].as_object().unwrap();
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let resp = app.client.request(m, format!("{}{path}", app.base_url)).send().await.unwrap();
            assert!(
                resp.status() != 404 || error_of(resp).await.0 != "not_found",
                "{method} {path} is documented but not served"
            );
        }
    }
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
    let served: Vec<&str> =
        source.split(".route(").skip(1).map(|piece| piece.split('"').nth(1).unwrap()).collect();
    assert!(served.len() >= 10, "found only {served:?}");
    for path in served {
        assert!(paths.contains_key(path), "{path} is served but not in docs/openapi.json");
    }
}

#[test]
fn strings_the_service_refuses_empty_are_not_empty_in_the_spec() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json")).unwrap();
    let spec: Value = serde_json::from_str(&text).unwrap();
    let schemas = &spec["components"]["schemas"];
    let mut fields = vec![
        ("customer_name", &schemas["BookingInput"]["properties"]["customer_name"]),
        (
            "first_name",
            &schemas["InitiateRequest"]["properties"]["recipient_data"]["properties"]["first_name"],
        ),
        ("mode", &schemas["OwnerStateInput"]["properties"]["mode"]),
        ("company_id", &schemas["BookingInput"]["properties"]["company_id"]),
        ("project_id", &schemas["BookingInput"]["properties"]["project_id"]),
        ("company_id", &schemas["InitiateRequest"]["properties"]["company_data"]["properties"]["company_id"]),
        ("project_id", &schemas["InitiateRequest"]["properties"]["company_data"]["properties"]["project_id"]),
    ];
    for ops in spec["paths"].as_object().unwrap().values() {
        for op in ops.as_object().unwrap().values() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                if matches!(p["name"].as_str(), Some("company_id" | "project_id")) {
                    fields.push(("query parameter", &p["schema"]));
                }
            }
        }
    }
    assert!(fields.len() > 7);
    for (name, schema) in fields {
        assert!(schema["minLength"].as_u64().is_some_and(|n| n >= 1), "{name}: {schema}");
    }
}
