//! A signed Twilio SMS webhook through the router in process: the axum app built as
//! `comms serve` builds it (the embedded composition root on a SQLite file in a temp
//! dir), from the request to the message durably enqueued and the TwiML answer. No
//! socket: the request goes to the router as a tower service (`oneshot`).
//!
//! Criterion reports the mean; it gives no tail, so after it the bench times
//! `COMMS_BENCH_SAMPLES` (default 5000) requests one by one and prints p50, p90, p99
//! and max. Run: `cargo bench -p comms-router --bench webhook` (docs/performance.md);
//! `COMMS_BENCH_DIR` sets where the database goes (default: the target's tmp dir).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: a failed setup step should panic

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use comms_core::domain::tenant::TenantConfig;
use comms_core::ports::Secret;
use comms_core::twilio::{TwilioCredentials, signature};
use comms_router::{AppState, RouterConfig, app};
use comms_sqlite::{Db, QueueSettings};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tower::ServiceExt;

const BASE: &str = "http://bench.local";
const TOKEN: &str = "bench-auth-token";

/// The router on a fresh database in `dir`, with the demo tenant and [`TOKEN`].
async fn router(dir: &std::path::Path) -> axum::Router {
    let db = Db::open(&dir.join("comms.db")).unwrap();
    let stores = comms_sqlite::stores(&db, QueueSettings::default());
    let tenant =
        TenantConfig::from_json(include_str!("../../samples/tenants/demo-repair-shop.json")).unwrap();
    stores.tenants.put(&tenant).await.unwrap();
    let creds = TwilioCredentials { account_sid: "ACbench".into(), auth_token: Secret::new(TOKEN) };
    stores.secrets.put(tenant.credentials.twilio.as_deref().unwrap(), &creds.to_secret()).await.unwrap();
    app(AppState::new(&stores, RouterConfig::new(BASE)))
}

/// The `n`-th webhook: a new MessageSid each, signed as Twilio signs it.
fn webhook(n: u64) -> Request<Body> {
    let sid = format!("SM{n:032x}");
    let form: Vec<(String, String)> = [
        ("MessageSid", sid.as_str()),
        ("AccountSid", "ACbench"),
        ("From", "+14155550123"),
        ("To", "+15555550100"),
        ("Body", "Do you have any slots tomorrow morning?"),
        ("NumMedia", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let url = format!("{BASE}/twilio/sms");
    let sig = signature::compute(TOKEN, &url, &form);
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&form).finish();
    Request::post("/twilio/sms")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sig)
        .body(Body::from(body))
        .unwrap()
}

async fn send(router: &axum::Router, req: Request<Body>) {
    let resp = router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200, "the webhook is accepted");
}

/// The value at quantile `q` of sorted `v`.
fn quantile(v: &[Duration], q: f64) -> Duration {
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// Times `samples` requests one by one and prints the distribution.
fn tail(rt: &tokio::runtime::Runtime, router: &axum::Router, first: u64, samples: u64) {
    let mut times = Vec::with_capacity(usize::try_from(samples).unwrap());
    for n in first..first + samples {
        let req = webhook(n);
        let started = Instant::now();
        rt.block_on(send(router, req));
        times.push(started.elapsed());
    }
    let mean = times.iter().sum::<Duration>() / u32::try_from(times.len()).unwrap();
    times.sort();
    println!(
        "sms webhook in process, {samples} requests one by one: mean {mean:?} p50 {:?} p90 {:?} p99 {:?} max {:?}",
        quantile(&times, 0.50),
        quantile(&times, 0.90),
        quantile(&times, 0.99),
        times[times.len() - 1],
    );
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // On the target's disk by default, not a tmpfs: the enqueue's fsync is part of the
    // cost. `COMMS_BENCH_DIR` puts the database elsewhere (e.g. /dev/shm, to see the
    // cost without the disk).
    let parent = std::env::var("COMMS_BENCH_DIR").unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").to_owned());
    let dir = tempfile::tempdir_in(parent).unwrap();
    let router = rt.block_on(router(dir.path()));
    let mut n = 0u64;
    c.bench_function("sms_webhook_to_enqueue", |b| {
        b.iter_batched(
            || {
                n += 1;
                webhook(n)
            },
            |req| rt.block_on(send(&router, req)),
            BatchSize::SmallInput,
        )
    });
    let samples = std::env::var("COMMS_BENCH_SAMPLES").ok().and_then(|s| s.parse().ok()).unwrap_or(5000);
    tail(&rt, &router, n + 1, samples);
}

criterion_group!(benches, bench);
criterion_main!(benches);
