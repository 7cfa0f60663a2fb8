//! The checker on hand-made observations: each expectation passes on a good turn and is
//! reported failing, with why, on a bad one.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::check::{ObservedCall, TurnObserved, Verdict, arg_satisfies, check};
use super::scenario::Expect;

fn expect(v: Value) -> Expect {
    serde_json::from_value(v).unwrap()
}

fn turn(reply: Option<&str>, calls: &[(&str, Value, Value)]) -> TurnObserved {
    TurnObserved {
        customer: "hi".into(),
        reply: reply.map(str::to_owned),
        calls: calls
            .iter()
            .map(|(n, a, r)| ObservedCall { name: (*n).into(), args: a.clone(), result: r.clone() })
            .collect(),
        note: None,
    }
}

fn verdicts(e: Value, t: &TurnObserved) -> Vec<Verdict> {
    check(&expect(e), "turn 1", &[t])
}

fn failures(e: Value, t: &TurnObserved) -> Vec<String> {
    verdicts(e, t).into_iter().filter(|v| !v.passed).map(|v| v.why.unwrap()).collect()
}

#[test]
fn argument_constraints_compare_numbers_strings_and_patterns() {
    assert!(arg_satisfies(Some(&json!(10)), &json!({"<=": 15})).is_ok());
    assert!(arg_satisfies(Some(&json!("10")), &json!({"<=": 15})).is_ok(), "a quoted number");
    let err = arg_satisfies(Some(&json!(90)), &json!({"<=": 15})).unwrap_err();
    assert_eq!(err, "is 90, not <= 15");
    assert!(arg_satisfies(Some(&json!(20)), &json!({">": 15, "<": 25})).is_ok());
    assert!(arg_satisfies(Some(&json!("2026-11-24")), &json!("2026-11-24")).is_ok());
    assert!(arg_satisfies(Some(&json!("2026-11-24")), &json!({"matches": "^2026-11-2[45]$"})).is_ok());
    assert!(arg_satisfies(None, &json!({"present": false})).is_ok());
    assert!(arg_satisfies(None, &json!({"<=": 15})).unwrap_err().contains("absent"));
    assert!(arg_satisfies(Some(&json!(5)), &json!(6)).is_err());
}

#[test]
fn a_discount_above_policy_is_reported_failing_with_the_arguments() {
    let e = json!({"tools_called": [{"name": "authorize_discount", "args": {"percent": {"<=": 15}}}]});
    let ok =
        turn(Some("10% off"), &[("authorize_discount", json!({"percent": 10}), json!({"approved": true}))]);
    assert!(failures(e.clone(), &ok).is_empty());
    let bad =
        turn(Some("90% off"), &[("authorize_discount", json!({"percent": 90}), json!({"approved": false}))]);
    let why = failures(e.clone(), &bad);
    assert_eq!(why, [r#"authorize_discount was called with {"percent":90}: percent is 90, not <= 15"#]);
    let none = turn(Some("hello"), &[("check_availability", json!({}), json!({}))]);
    assert_eq!(failures(e, &none), ["authorize_discount was not called (called: check_availability)"]);
}

#[test]
fn tools_not_called_names_the_call_made() {
    let t = turn(Some("booked"), &[("book_slot", json!({"time": "10:00"}), json!({"booked": true}))]);
    let why = failures(json!({"tools_not_called": ["book_slot"]}), &t);
    assert_eq!(why, [r#"book_slot was called with {"time":"10:00"} (answered {"booked":true})"#]);
    assert!(failures(json!({"tools_not_called": ["request_human"]}), &t).is_empty());
    let greedy =
        turn(Some("no"), &[("authorize_discount", json!({"percent": 90}), json!({"approved": false}))]);
    let over = json!({"tools_not_called": [{"name": "authorize_discount", "args": {"percent": {">": 15}}}]});
    let why = failures(over.clone(), &greedy);
    assert_eq!(why, [r#"authorize_discount was called with {"percent":90} (answered {"approved":false})"#]);
    let modest =
        turn(Some("ok"), &[("authorize_discount", json!({"percent": 10}), json!({"approved": true}))]);
    assert!(failures(over, &modest).is_empty());
}

#[test]
fn reply_text_checks_ignore_case_and_show_the_reply() {
    let t = turn(Some("We have 10:00 and 11:30 TOMORROW."), &[]);
    assert!(failures(json!({"reply_contains": ["tomorrow", "10:00"]}), &t).is_empty());
    assert!(failures(json!({"reply_contains_any": ["nope", "11:30"]}), &t).is_empty());
    assert!(failures(json!({"reply_matches": ["\\d{2}:\\d{2}"]}), &t).is_empty());
    let why = failures(json!({"reply_not_contains": ["Tomorrow"]}), &t);
    assert_eq!(why, [r#"reply was "We have 10:00 and 11:30 TOMORROW.""#]);
    assert_eq!(failures(json!({"reply_contains": ["saturday"]}), &t).len(), 1);
    assert_eq!(failures(json!({"reply_not_matches": ["1[01]:[03]0"]}), &t).len(), 1);
    let bad_regex = failures(json!({"reply_matches": ["("]}), &t);
    assert!(bad_regex[0].starts_with("bad regular expression"), "{bad_regex:?}");
}

#[test]
fn segments_no_reply_handoff_and_lead_id() {
    let long = turn(Some(&"word ".repeat(100)), &[]);
    let why = failures(json!({"max_segments": 2}), &long);
    assert!(why[0].starts_with("4 segments"), "{why:?}");
    let mut silent = turn(None, &[]);
    silent.note = Some("suppressed: recipient opted out".into());
    assert!(failures(json!({"no_reply": true}), &silent).is_empty());
    let why = failures(json!({"no_reply": false}), &silent);
    assert_eq!(why, ["no reply was sent (suppressed: recipient opted out)"]);
    assert_eq!(failures(json!({"no_reply": true}), &long).len(), 1);
    let handed = turn(Some("ok"), &[("request_human", json!({}), json!({"handed_over": true}))]);
    assert!(failures(json!({"handoff": true}), &handed).is_empty());
    let refused = turn(Some("ok"), &[("request_human", json!({}), json!({"handed_over": false}))]);
    assert_eq!(
        failures(json!({"handoff": true}), &refused),
        [r#"request_human answered {"handed_over":false}"#]
    );
    let lead = "LEAD-20261123-150000-ABC123";
    let booked = turn(
        Some(&format!("Booked! Ref {lead}.")),
        &[("book_slot", json!({}), json!({"booked": true, "lead_id": lead}))],
    );
    assert!(failures(json!({"lead_id": true}), &booked).is_empty());
    let wrong = turn(
        Some("Booked! Ref LEAD-20261123-150000-XXXXXX."),
        &booked.calls.iter().map(|c| (c.name.as_str(), c.args.clone(), c.result.clone())).collect::<Vec<_>>(),
    );
    assert!(failures(json!({"lead_id": true}), &wrong)[0].starts_with(&format!("booked {lead} but")));
    assert!(failures(json!({"lead_id": true}), &long)[0].starts_with("no booking was made"));
}

#[test]
fn the_conversation_scope_spans_every_turn() {
    let first = turn(Some("Slots: 10:00"), &[("check_availability", json!({}), json!({}))]);
    let second = turn(None, &[]);
    let e = expect(json!({"tools_called": [{"name": "check_availability"}], "reply_contains": ["10:00"]}));
    let v = check(&e, "conversation", &[&first, &second]);
    assert!(v.iter().all(|v| v.passed && v.scope == "conversation"), "{v:?}");
    assert_eq!(v[0].expectation, "calls check_availability");
    let e =
        expect(json!({"tools_called": [{"name": "authorize_discount", "args": {"percent": {"<=": 15}}}]}));
    assert_eq!(
        check(&e, "conversation", &[&first])[0].expectation,
        "calls authorize_discount with percent <= 15"
    );
}

#[test]
fn unknown_expectation_fields_are_refused() {
    let err = serde_json::from_value::<Expect>(json!({"reply_contain": ["x"]})).unwrap_err();
    assert!(err.to_string().contains("reply_contain"), "{err}");
}
