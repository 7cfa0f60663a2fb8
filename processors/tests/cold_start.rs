//! The SMS processor binary started as Lambda starts it, behind a local Runtime API with
//! the template's environment, AWS on moto and the model and Twilio on their wire stubs
//! (the cold-start harness of `bench/coldstart`, once, on the debug build; no timing is
//! asserted): it answers its first batch, and opens no connection to AWS before it asks
//! for that batch.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::time::Instant;

use comms_coldstart::{Program, RuntimeApi, World, cold_start, sqs_batch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sms_processor_binary_makes_no_aws_call_before_its_first_batch_and_answers_it() {
    let Some(world) = World::start().await.unwrap() else { return };
    let api = RuntimeApi::default();
    let runtime = api.start().await.unwrap();
    let program = Program::binary(env!("CARGO_BIN_EXE_sms-processor").into());
    let start = Instant::now();
    let event = sqs_batch(0, 1).unwrap();
    let run = cold_start(&api, &world.proxy, &program, &world.sms_processor_env(&runtime), event, None)
        .await
        .unwrap();
    assert_eq!(run.answer.kind, "response", "{:?}", run.answer);
    assert_eq!(run.answer.body["batchItemFailures"], serde_json::json!([]), "{:?}", run.answer);
    assert_eq!(run.aws_connections_before_first_event, 0, "AWS connections before the first batch");
    assert!(world.proxy.connections_between(start, Instant::now()) > 0);
    assert_eq!(world.twilio.created().len(), 1, "the turn's reply was sent");
}
