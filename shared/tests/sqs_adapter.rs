//! Runs the queue conformance suite against the SQS adapter on moto's server (a local AWS
//! API emulator, installed by `scripts/test`), so the real SDK calls are exercised. Each
//! test starts its own server on a free loopback port and stops it at the end.
//! Without moto: skipped with a message locally, a failure when `CI=true`.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use comms_shared::adapters::aws::{QueueNames, SqsQueues, emulator_config};
use comms_shared::conformance;
use comms_shared::domain::Channel;
use comms_shared::ports::Queues;

struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> Option<String> {
    if let Ok(path) = std::env::var("COMMS_MOTO_SERVER") {
        return Some(path);
    }
    let found =
        Command::new("moto_server").arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status();
    found.is_ok_and(|s| s.success()).then(|| "moto_server".to_owned())
}

/// Starts moto on a free port, or `None` (skip) when it is not installed outside CI.
async fn start_moto() -> Option<Moto> {
    let Some(bin) = moto_binary() else {
        assert!(
            !matches!(std::env::var("CI").as_deref(), Ok("true")),
            "moto_server is not installed and CI=true: run ./scripts/test, which installs it"
        );
        eprintln!("SKIPPED: moto_server not installed (./scripts/test installs it into .venv)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let moto = Moto { child, endpoint };
    let start = Instant::now();
    let client = reqwest::Client::new();
    loop {
        if client
            .get(format!("{}/moto-api/", moto.endpoint))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Some(moto);
        }
        assert!(start.elapsed() < Duration::from_secs(30), "moto_server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn queues(moto: &Moto) -> SqsQueues {
    let config = emulator_config(&moto.endpoint).await;
    let names = QueueNames { prefix: format!("t{}", uuid::Uuid::new_v4().simple()) };
    SqsQueues::provision(&config, &names, &Channel::ALL, 3).await.unwrap()
}

macro_rules! sqs_conformance {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            let Some(moto) = start_moto().await else { return };
            let q = queues(&moto).await;
            let open = move || -> Arc<dyn Queues> { Arc::new(q.clone()) };
            conformance::queue::$check(&open).await;
        }
    )*};
}

sqs_conformance!(
    send_then_receive_round_trips,
    visibility_hides_a_message,
    change_visibility_extends_and_releases,
    delete_removes_for_good,
    repeated_receives_dead_letter,
    dlq_replay_and_purge,
    dead_letter_moves_at_once,
    concurrent_receivers_never_share,
    reopen_after_crash_loses_nothing,
);
