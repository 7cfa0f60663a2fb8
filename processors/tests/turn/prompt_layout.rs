//! Issue 17 item 3: the prompt is laid out for prompt caching (the static part first and
//! byte-identical across turns, the changing part last), and the cached-token share of a
//! 10-turn conversation as the stub reports it (OpenAI's rule: the longest prefix shared
//! with an earlier request, from 1,024 tokens, in 128-token blocks; tokens approximated as
//! 4 bytes). Print the figures with
//! `cargo nextest run -p comms-processors --test turn prompt_layout --no-capture`.

use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{OwnerMode, OwnerState};
use comms_core::ports::{OwnerStateStore, TenantDirectory};
use comms_engine::turn::system_messages;
use comms_sqlite::SqliteTenants;
use serde_json::{Value, json};

use crate::helpers::{Harness, envelope, harness};
use crate::stubs::{ModelStep, OpenAiStub};

/// The demo tenant speaking `api`, its prompt followed by `extra`.
async fn speaking(h: &mut Harness, api: &str, extra: &str) {
    let mut doc: Value = serde_json::from_str(&h.tenant.to_json_pretty()).unwrap();
    doc["ai"]["api"] = api.into();
    doc["ai"]["system_prompt"] = format!("{}{extra}", h.tenant.ai.system_prompt).into();
    h.tenant = TenantConfig::from_json(&doc.to_string()).unwrap();
    SqliteTenants::new(h.db.clone()).put(&h.tenant).await.unwrap();
}

/// The request's static prefix as sent: the tools, then the first (system) message.
fn prefix(request: &Value) -> String {
    let first = request.get("messages").or_else(|| request.get("input")).unwrap()[0].clone();
    json!({"tools": request["tools"], "first": first}).to_string()
}

/// The request's second message: the turn's context.
fn context(request: &Value) -> String {
    request.get("messages").or_else(|| request.get("input")).unwrap()[1]["content"].to_string()
}

async fn set_mode(h: &Harness, mode: OwnerMode) {
    let now = jiff::Timestamp::now();
    let state = OwnerState { mode, location: Some("gym on 5th".into()), ..OwnerState::default_at(now) };
    h.owner_state.set(&h.tenant.tenant, &state).await.unwrap();
}

#[tokio::test]
async fn the_static_prefix_is_byte_identical_across_turns_in_both_apis() {
    for api in ["chat_completions", "responses"] {
        let openai = OpenAiStub::start(Vec::new()).await;
        openai.always(ModelStep::Text("Sure."));
        let mut h = harness(openai).await;
        speaking(&mut h, api, "").await;
        set_mode(&h, OwnerMode::Gym).await;
        h.engine.handle(&envelope("SM00000000000000000000000000000181", "hi").to_json()).await.unwrap();
        set_mode(&h, OwnerMode::Off).await;
        h.engine.handle(&envelope("SM00000000000000000000000000000182", "later?").to_json()).await.unwrap();

        let requests = h.openai.requests();
        assert_eq!(requests.len(), 2, "{api}");
        assert_eq!(prefix(&requests[0]), prefix(&requests[1]), "{api}: the static prefix changed");
        let (first, second) = (context(&requests[0]), context(&requests[1]));
        assert!(first.contains("GYM") && second.contains("OFF"), "{api}: {first} / {second}");
        assert!(first.contains("Today is") && first.contains("+1********23"), "{api}: {first}");
        let instructions = &prefix(&requests[0]);
        for changing in ["Today is", "Owner's current state", "+1********23"] {
            assert!(!instructions.contains(changing), "{api}: '{changing}' in the static part");
        }
    }
}

#[tokio::test]
async fn the_instructions_do_not_depend_on_the_time_or_the_owner() {
    let h = harness(OpenAiStub::start(Vec::new()).await).await;
    let env = envelope("SM00000000000000000000000000000183", "hi");
    let morning: jiff::Timestamp = "2026-12-07T14:05:00Z".parse().unwrap();
    let evening: jiff::Timestamp = "2026-12-08T22:40:00Z".parse().unwrap();
    let work = OwnerState::default_at(morning);
    let gym = OwnerState { mode: OwnerMode::Gym, ..OwnerState::default_at(evening) };
    let a = system_messages(&h.tenant, &work, &env, morning);
    let b = system_messages(&h.tenant, &gym, &env, evening);
    assert_eq!(serde_json::to_string(&a[0]).unwrap(), serde_json::to_string(&b[0]).unwrap());
    assert_ne!(a[1], b[1]);
}

/// The customer's ten messages of the conversation.
const TEN: [&str; 10] = [
    "Hi, do you fix cracked screens?",
    "How much for an iPhone 13?",
    "Do you have anything on Friday?",
    "What about the morning?",
    "Is 10:00 free?",
    "Book me at 10:00 please, I'm Ann",
    "Can I get a discount?",
    "Do you also sell cases?",
    "Where are you exactly?",
    "Thanks, see you Friday!",
];

/// A shop's price list, as a real tenant's prompt carries one: about 1,100 tokens.
fn price_list() -> String {
    let models = [
        "iPhone 11",
        "iPhone 12",
        "iPhone 13",
        "iPhone 14",
        "iPhone 15",
        "Galaxy S21",
        "Galaxy S22",
        "Galaxy S23",
        "Galaxy A54",
        "Pixel 6",
        "Pixel 7",
        "Pixel 8",
        "Moto G",
        "OnePlus 11",
    ];
    let mut text = String::from("\n\nPrice list (parts and labour, tax included):\n");
    for (i, m) in models.iter().enumerate() {
        let (screen, battery) = (89 + 10 * i, 49 + 5 * i);
        text.push_str(&format!(
            "- {m}: screen replacement ${screen} (about 45 minutes, 90-day warranty on the part); battery \
             replacement ${battery} (about 30 minutes); charging port cleaning $19; back glass on request.\n"
        ));
    }
    text.push_str("Walk-ins welcome, but booked customers go first. We do not repair water damage.");
    text
}

/// Runs the ten turns, changing the owner's state before each one when `churn` (so the
/// context message differs every turn, as it does when turns are minutes apart), and
/// returns the cached share of the input tokens with the totals.
async fn ten_turns(api: &str, extra: &str, churn: bool) -> (f64, u64, u64) {
    let openai = OpenAiStub::start(Vec::new()).await;
    openai.always(ModelStep::Text("Happy to help: we are open 09:00-18:00 and can fit you in."));
    let mut h = harness(openai).await;
    speaking(&mut h, api, extra).await;
    for (i, said) in TEN.iter().enumerate() {
        if churn {
            set_mode(&h, if i % 2 == 0 { OwnerMode::Gym } else { OwnerMode::Work }).await;
        }
        let sid = format!("SM000000000000000000000000000002{i:02}");
        h.engine.handle(&envelope(&sid, said).to_json()).await.unwrap();
    }
    let usages = h.openai.usages();
    assert_eq!(usages.len(), 10);
    let input: u64 = usages.iter().map(|u| u.input_tokens).sum();
    let cached: u64 = usages.iter().map(|u| u.cached_tokens).sum();
    #[allow(clippy::cast_precision_loss)] // small counts
    let share = cached as f64 / input as f64;
    (share, cached, input)
}

#[tokio::test]
async fn a_ten_turn_conversation_reads_most_of_its_prompt_from_the_cache() {
    let report = |api: &str, tenant: &str, how: &str, (share, cached, input): (f64, u64, u64)| {
        println!("{api}, {tenant}, {how}: {cached} of {input} input tokens cached ({:.0}%)", share * 100.0);
        share
    };
    for api in ["chat_completions", "responses"] {
        // The demo tenant's short prompt stays under the 1,024-token minimum.
        report(api, "demo tenant", "turns in a row", ten_turns(api, "", false).await);
        let list = price_list();
        let steady = report(api, "with a price list", "turns in a row", ten_turns(api, &list, false).await);
        let churned =
            report(api, "with a price list", "context changed every turn", ten_turns(api, &list, true).await);
        // The static prefix (tools + instructions) alone passes the minimum.
        assert!(churned > 0.5, "{api}: {churned}");
        assert!(steady >= churned, "{api}");
    }
}
