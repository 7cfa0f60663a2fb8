//! The router binary started as Lambda starts it, behind a local Runtime API with the
//! template's environment and AWS on moto (the cold-start harness of `bench/coldstart`,
//! once, on the debug build; no timing is asserted): it answers its first webhook, and
//! opens no connection to AWS before it asks for that event.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::time::Instant;

use comms_coldstart::measure::status;
use comms_coldstart::{Program, RuntimeApi, World, cold_start, webhook_event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_binary_makes_no_aws_call_before_its_first_event_and_answers_it() {
    let Some(world) = World::start().await.unwrap() else { return };
    let api = RuntimeApi::default();
    let runtime = api.start().await.unwrap();
    let program = Program::binary(env!("CARGO_BIN_EXE_router").into());
    let start = Instant::now();
    let event = webhook_event("SM00000000000000000000000000c01d01").unwrap();
    let run =
        cold_start(&api, &world.proxy, &program, &world.router_env(&runtime), event, None).await.unwrap();
    assert_eq!((run.answer.kind.as_str(), status(&run.answer)), ("response", Some(200)), "{:?}", run.answer);
    assert_eq!(run.aws_connections_before_first_event, 0, "AWS connections before the first event");
    // The answer did need AWS (secret, tenant, queue), through the same counting proxy.
    assert!(world.proxy.connections_between(start, Instant::now()) > 0);
}
