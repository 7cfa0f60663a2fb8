//! Tenant documents: valid ones round-trip, every bad field is reported by path.

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;

const SAMPLE: &str = include_str!("../../../../../samples/tenants/demo-repair-shop.json");

#[test]
fn sample_tenant_is_valid_and_round_trips() {
    let cfg = TenantConfig::from_json(SAMPLE).unwrap();
    assert_eq!(cfg.tenant.company_id, "demo");
    assert!(cfg.allowed_channels.contains(&Channel::Sms));
    let again = TenantConfig::from_json(&cfg.to_json_pretty()).unwrap();
    assert_eq!(again, cfg);
}

#[test]
fn every_bad_field_is_reported_by_path() {
    let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
    v["company_id"] = "Bad Id".into();
    v["project_status"] = "running".into();
    v["allowed_channels"] = serde_json::json!(["sms", "fax"]);
    v["numbers"]["sms"] = serde_json::json!(["+15555550100", "555-0101"]);
    v["ai"]["max_tool_rounds"] = 0.into();
    v["ai"]["enabled_tools"] = serde_json::json!(["book_slot", "launch_rocket"]);
    v["scheduling"]["timezone"] = "Mars/Olympus".into();
    v["scheduling"]["business_hours"]["mon"] = serde_json::json!(["18:00-09:00"]);
    v["discount_policy"]["max_percent"] = 150.into();
    v["api_keys"][0]["sha256"] = "not-a-hash".into();
    v["alowed_channels"] = serde_json::json!([]);
    v.as_object_mut().unwrap().remove("company_name");

    let errors = TenantConfig::from_json(&v.to_string()).unwrap_err().0;
    let paths: BTreeSet<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    for expected in [
        "company_id",
        "company_name",
        "project_status",
        "allowed_channels[1]",
        "numbers.sms[1]",
        "ai.max_tool_rounds",
        "ai.enabled_tools[1]",
        "scheduling.timezone",
        "scheduling.business_hours.mon[0]",
        "discount_policy.max_percent",
        "api_keys[0].sha256",
        "alowed_channels",
    ] {
        assert!(paths.contains(expected), "missing {expected} in {errors:#?}");
    }
}

#[test]
fn free_text_fields_refuse_control_characters() {
    let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
    v["company_name"] = "Demo\n2026-01-01T00:00:00Z ERROR forged".into();
    v["project_name"] = "Main\u{0}Street".into();
    v["ai"]["model"] = "gpt\t4".into();
    v["ai"]["system_prompt"] = "Be brief.\u{1b}[2J".into();
    v["scheduling"]["timezone"] = "America/New_York\r".into();
    v["whatsapp"]["template_variables"] = serde_json::json!(["1", "2\n"]);
    let errors = TenantConfig::from_json(&v.to_string()).unwrap_err().0;
    let paths: BTreeSet<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    for expected in [
        "company_name",
        "project_name",
        "ai.model",
        "ai.system_prompt",
        "scheduling.timezone",
        "whatsapp.template_variables",
    ] {
        assert!(paths.contains(expected), "missing {expected} in {errors:#?}");
    }
    // The system prompt is a text: line breaks and tabs are fine there.
    let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
    v["ai"]["system_prompt"] = "Be brief.\n\tAnd warm.\r\n".into();
    assert!(TenantConfig::from_json(&v.to_string()).is_ok());
}

#[test]
fn credentials_must_belong_to_the_tenant() {
    let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
    v["credentials"]["twilio"] = "twilio-credentials/other-co/repair-shop/twilio".into();
    let errors = TenantConfig::from_json(&v.to_string()).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "credentials.twilio");
}

#[test]
fn numbers_need_an_allowed_channel() {
    let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
    v["allowed_channels"] = serde_json::json!(["sms"]);
    v["numbers"] = serde_json::json!({"sms": ["+15555550100"], "voice": ["+15555550100"]});
    let errors = TenantConfig::from_json(&v.to_string()).unwrap_err().0;
    assert_eq!(errors[0].path, "numbers.voice");
}

#[test]
fn keys_are_compared_by_hash() {
    let mut cfg = TenantConfig::from_json(SAMPLE).unwrap();
    cfg.api_keys = vec![KeyHash { id: "k".into(), sha256: hash_key("secret-key") }];
    assert!(cfg.accepts_api_key("secret-key"));
    assert!(!cfg.accepts_api_key("secret-kez"));
    assert!(!cfg.accepts_admin_key("secret-key"));
}

#[test]
fn not_json_is_one_error_at_the_root() {
    let errors = TenantConfig::from_json("{").unwrap_err().0;
    assert_eq!(errors[0].path, "$");
}

#[test]
fn a_value_of_the_wrong_shape_is_reported_where_it_is() {
    let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
    v["ai"] = serde_json::json!(["gpt-4o-mini", "Be brief."]);
    v["scheduling"]["slot_minutes"] = "30".into();
    v["numbers"] = serde_json::json!({"sms": "+15555550100", "fax": []});
    v["booking"]["public_availability"] = "yes".into();
    v["company_name"] = serde_json::Value::Null;
    v["api_keys"] = serde_json::json!(["not-an-object", {"id": "k", "sha256": "0".repeat(64), "key": "x"}]);
    let errors = TenantConfig::from_json(&v.to_string()).unwrap_err().0;
    let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.path.as_str(), e.message.as_str())).collect();
    for expected in [
        ("ai", "must be an object"),
        ("scheduling.slot_minutes", "must be a whole number from 5 to 480"),
        ("numbers.sms", "must be a list"),
        ("numbers.fax", "unknown field (expected one of: sms, voice, whatsapp, email)"),
        ("booking.public_availability", "must be true or false"),
        ("company_name", "must be a string"),
        ("api_keys[0]", "must be an object"),
        ("api_keys[1].key", "unknown field (expected one of: id, sha256)"),
    ] {
        assert!(found.contains(&expected), "missing {expected:?} in {found:#?}");
    }
    assert_eq!(found.len(), 8, "{found:#?}");
}

#[test]
fn a_document_that_is_not_an_object_is_one_error_at_the_root() {
    let errors = TenantConfig::from_json("[1, 2]").unwrap_err().0;
    assert_eq!(errors, vec![FieldError { path: "$".into(), message: "must be an object".into() }]);
}

#[test]
fn optional_sections_take_their_defaults_and_required_ones_are_named() {
    let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
    for optional in ["numbers", "credentials", "messaging", "whatsapp", "booking", "api_keys", "admin_keys"] {
        v.as_object_mut().unwrap().remove(optional);
    }
    let cfg = TenantConfig::from_json(&v.to_string()).unwrap();
    assert_eq!(cfg.messaging, Messaging::default());
    assert!(cfg.numbers.is_empty() && cfg.api_keys.is_empty() && cfg.whatsapp.is_none());
    for required in ["ai", "scheduling", "discount_policy", "project_id"] {
        v.as_object_mut().unwrap().remove(required);
    }
    let errors = TenantConfig::from_json(&v.to_string()).unwrap_err().0;
    let paths: BTreeSet<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, BTreeSet::from(["ai", "scheduling", "discount_policy", "project_id"]), "{errors:#?}");
    assert!(errors.iter().all(|e| e.message == "is required"), "{errors:#?}");
}

#[test]
fn handoff_defaults_and_validates_its_fields() {
    let cfg = TenantConfig::from_json(SAMPLE).unwrap();
    assert_eq!(cfg.handoff.takeover_hours, 24);
    assert!(!cfg.to_json_pretty().contains("handoff"), "the default is left out of the canonical form");
    assert_eq!(cfg.handoff.takeover_for(), std::time::Duration::from_secs(24 * 3600));

    let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
    v["handoff"] = serde_json::json!({"notify_number": "+15555550199", "takeover_hours": 2});
    let cfg = TenantConfig::from_json(&v.to_string()).unwrap();
    assert_eq!(cfg.handoff.notify_number.as_ref().map(|p| p.as_str()), Some("+15555550199"));
    assert_eq!(cfg.handoff.takeover_hours, 2);
    assert_eq!(TenantConfig::from_json(&cfg.to_json_pretty()).unwrap(), cfg);

    v["handoff"] = serde_json::json!({"notify_number": "555-0199", "takeover_hours": 721, "pager": 1});
    let errors = TenantConfig::from_json(&v.to_string()).unwrap_err().0;
    let paths: BTreeSet<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    for expected in ["handoff.notify_number", "handoff.takeover_hours", "handoff.pager"] {
        assert!(paths.contains(expected), "missing {expected} in {errors:#?}");
    }
}

#[test]
fn request_human_needs_a_number_to_notify() {
    let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
    v["ai"]["enabled_tools"] = serde_json::json!(["book_slot", "request_human"]);
    v.as_object_mut().unwrap().remove("handoff");
    let errors = TenantConfig::from_json(&v.to_string()).unwrap_err().0;
    assert_eq!(errors.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["handoff.notify_number"]);
    v["handoff"] = serde_json::json!({"notify_number": "+15555550199"});
    let cfg = TenantConfig::from_json(&v.to_string()).unwrap();
    assert!(cfg.ai.enabled_tools.contains(&ToolName::RequestHuman));
}

#[test]
fn ai_vision_is_an_optional_flag() {
    let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
    assert!(!TenantConfig::from_json(&v.to_string()).unwrap().ai.vision);
    v["ai"]["vision"] = true.into();
    let tenant = TenantConfig::from_json(&v.to_string()).unwrap();
    assert!(tenant.ai.vision);
    let canonical = serde_json::to_value(&tenant).unwrap();
    assert_eq!(canonical["ai"]["vision"], true);
    assert!(TenantConfig::from_json(&canonical.to_string()).unwrap().ai.vision);
    v["ai"]["vision"] = "yes".into();
    let errors = TenantConfig::from_json(&v.to_string()).unwrap_err().0;
    let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.path.as_str(), e.message.as_str())).collect();
    assert_eq!(found, [("ai.vision", "must be true or false")]);
}

#[test]
fn ai_model_layer_fields_default_and_round_trip() {
    let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
    let plain = TenantConfig::from_json(&v.to_string()).unwrap();
    assert_eq!(plain.ai.api, ModelApi::ChatCompletions);
    assert_eq!((plain.ai.monthly_budget_usd, plain.ai.over_budget_message.as_deref()), (None, None));
    let canonical = serde_json::to_value(&plain).unwrap();
    for omitted in ["api", "monthly_budget_usd", "over_budget_message"] {
        assert!(canonical["ai"].get(omitted).is_none(), "{omitted} in {canonical}");
    }
    v["ai"]["api"] = "responses".into();
    v["ai"]["monthly_budget_usd"] = serde_json::json!(12.5);
    v["ai"]["over_budget_message"] = "We'll reply personally soon.".into();
    let tenant = TenantConfig::from_json(&v.to_string()).unwrap();
    assert_eq!(tenant.ai.api, ModelApi::Responses);
    assert_eq!(tenant.ai.monthly_budget_usd, Some(Usd::from_cents(1250)));
    let canonical = serde_json::to_value(&tenant).unwrap();
    assert_eq!(canonical["ai"]["api"], "responses");
    assert_eq!(canonical["ai"]["monthly_budget_usd"], serde_json::json!(12.5));
    assert_eq!(TenantConfig::from_json(&canonical.to_string()).unwrap(), tenant);
    v["ai"]["api"] = "chat_completions".into();
    assert_eq!(TenantConfig::from_json(&v.to_string()).unwrap().ai.api, ModelApi::ChatCompletions);
}

#[test]
fn bad_ai_model_layer_fields_are_reported_by_path() {
    let cases: [(&str, Value, &str); 8] = [
        ("api", "assistants".into(), "'assistants' is not one of chat_completions, responses"),
        ("api", 1.into(), "must be a string"),
        ("monthly_budget_usd", (-5).into(), "must be a number of dollars, 0 or more"),
        ("monthly_budget_usd", serde_json::json!(1.0000001), "must have at most 6 decimals"),
        ("monthly_budget_usd", "20".into(), "must be a number of dollars"),
        ("over_budget_message", "".into(), "must not be empty"),
        ("over_budget_message", "x".repeat(321).into(), "must be 1 to 320 characters"),
        ("over_budget_message", "a\u{7}b".into(), "must not contain control characters"),
    ];
    for (field, value, message) in cases {
        let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
        v["ai"][field] = value;
        let errors = TenantConfig::from_json(&v.to_string()).unwrap_err().0;
        let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.path.as_str(), e.message.as_str())).collect();
        assert_eq!(found, [(format!("ai.{field}").as_str(), message)]);
    }
    let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
    v["ai"]["over_budget_message"] = "é".repeat(320).into();
    assert!(TenantConfig::from_json(&v.to_string()).is_ok());
}
