//! `coldstart`: cold start (process spawn → first API Gateway event answered, through a
//! local Lambda Runtime API, AWS on moto) of the router, a bare `lambda_http` hello and
//! a typical Python stack, side by side; then the peak RSS of the router and the SMS
//! processor after a burst. `scripts/cold-start` builds the binaries and runs it.

use std::path::PathBuf;
use std::time::Duration;

use comms_coldstart::measure::{peak_rss_kib, status};
use comms_coldstart::{
    ColdStart, Program, RuntimeApi, World, burst, cold_start, sqs_batch, summary, webhook_event,
};

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    runs: usize,
    burst: usize,
    bin_dir: PathBuf,
    python: Option<PathBuf>,
}

fn args() -> Result<Args, Error> {
    let mut args = Args { runs: 10, burst: 200, bin_dir: PathBuf::from("target/release"), python: None };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--runs" => args.runs = value()?.parse()?,
            "--burst" => args.burst = value()?.parse()?,
            "--bin-dir" => args.bin_dir = value()?.into(),
            "--python" => args.python = Some(value()?.into()),
            _ => {
                return Err(format!(
                    "usage: coldstart [--runs N (10)] [--burst N (200)] [--bin-dir DIR (target/release)] \
                     [--python VENV with awslambdaric, boto3, openai, twilio] (unknown: {a})"
                )
                .into());
            }
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = args()?;
    // The Python function runs in bench/python: every path given becomes absolute.
    args.bin_dir = std::fs::canonicalize(&args.bin_dir)?;
    if let Some(venv) = &args.python {
        args.python = Some(std::fs::canonicalize(venv)?);
    }
    let Some(world) = World::start().await? else {
        return Err(
            "moto_server not found: set COMMS_MOTO_SERVER (./scripts/test installs it into .venv)".into()
        );
    };
    let api = RuntimeApi::default();
    let runtime = api.start().await?;
    cold_starts(&args, &world, &api, &runtime).await?;
    if args.burst > 0 {
        rss(&args, &world, &api, &runtime).await?;
    }
    Ok(())
}

/// The cold-start table: each function `args.runs` times.
async fn cold_starts(args: &Args, world: &World, api: &RuntimeApi, runtime: &str) -> Result<(), Error> {
    let mut functions = vec![
        ("router", Program::binary(args.bin_dir.join("router")), world.router_env(runtime)),
        (
            "hello (lambda_http + axum)",
            Program::binary(args.bin_dir.join("hello-lambda")),
            world.bare_env("hello", runtime),
        ),
    ];
    if let Some(venv) = &args.python {
        let python = Program {
            path: venv.join("bin/python"),
            args: ["-m", "awslambdaric", "handler.handler"].map(String::from).to_vec(),
            dir: Some(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../python"))),
        };
        functions.push((
            "python (boto3 + openai + twilio, awslambdaric)",
            python,
            world.bare_env("python", runtime),
        ));
    }
    println!("cold start: process spawn -> first API Gateway event answered, n={} (medians)", args.runs);
    println!(
        "(ready: spawn -> first request for an event, Lambda's Init Duration; 1st event: ready -> its answer, \
         split into the time AWS (moto, through the proxy) had a request of the function to answer and the \
         function's own time; warm: a second event)"
    );
    println!(
        "{:<48} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>6} {:>9} {:>9}  AWS conn. before 1st event",
        "function", "answered", "min", "max", "ready", "1st event", "AWS wait", "calls", "own", "warm"
    );
    for (name, program, env) in &functions {
        if !program.path.exists() {
            println!("{name:<48} (not built: {})", program.path.display());
            continue;
        }
        let mut runs = Runs::default();
        for run in 0..args.runs {
            let event = webhook_event(&format!("SM{:032x}", 0xc01d_0000_u64 + run as u64))?;
            let then = webhook_event(&format!("SM{:032x}", 0xc01e_0000_u64 + run as u64))?;
            let c = cold_start(api, &world.proxy, program, env, event, Some(then)).await?;
            if status(&c.answer) != Some(200) {
                return Err(format!("{name}: answered {} {}", c.answer.kind, c.answer.body).into());
            }
            runs.add(&c);
        }
        runs.print(name);
    }
    Ok(())
}

/// The samples of one function's cold starts.
#[derive(Default)]
struct Runs {
    answered: Vec<Duration>,
    ready: Vec<Duration>,
    first_event: Vec<Duration>,
    aws: Vec<Duration>,
    own: Vec<Duration>,
    warm: Vec<Duration>,
    calls: Vec<usize>,
    /// The first run's first-event AWS operations.
    operations: Option<Vec<String>>,
    before: usize,
}

impl Runs {
    fn add(&mut self, c: &ColdStart) {
        let first_event = c.elapsed.saturating_sub(c.ready);
        self.answered.push(c.elapsed);
        self.ready.push(c.ready);
        self.first_event.push(first_event);
        self.aws.push(c.first_event_aws.busy);
        self.own.push(first_event.saturating_sub(c.first_event_aws.busy));
        self.calls.push(c.first_event_aws.requests);
        self.operations.get_or_insert_with(|| c.first_event_aws.operations.clone());
        self.warm.extend(c.warm);
        self.before = self.before.max(c.aws_connections_before_first_event);
    }

    fn print(&mut self, name: &str) {
        let (answered, min, max) = summary(&self.answered);
        let m = |d: &[Duration]| summary(d).0;
        let (ready, first, aws, own, warm) =
            (m(&self.ready), m(&self.first_event), m(&self.aws), m(&self.own), m(&self.warm));
        self.calls.sort_unstable();
        let calls = self.calls.get(self.calls.len() / 2).copied().unwrap_or(0);
        println!(
            "{name:<48} {answered:>6.1} ms {min:>6.1} ms {max:>6.1} ms {ready:>6.1} ms {first:>7.1} ms \
             {aws:>6.1} ms {calls:>6} {own:>6.1} ms {warm:>6.1} ms  {}",
            self.before
        );
        if let Some(ops) = self.operations.as_ref().filter(|ops| !ops.is_empty()) {
            println!("{:<48} first event's AWS calls (run 1): {}", "", ops.join(", "));
        }
    }
}

/// Peak RSS of the router after `burst` webhooks, and of the SMS processor after
/// `burst` turns in batches of 10 (the model and Twilio are the wire stubs).
async fn rss(args: &Args, world: &World, api: &RuntimeApi, runtime: &str) -> Result<(), Error> {
    println!("\npeak RSS (VmHWM) after a burst, back to back");
    let events = (0..args.burst)
        .map(|i| webhook_event(&format!("SM{:032x}", 0xb0_0000_u64 + i as u64)))
        .collect::<Result<Vec<_>, _>>()?;
    let router =
        burst(api, &Program::binary(args.bin_dir.join("router")), &world.router_env(runtime), events).await?;
    let ok = router.answers.iter().filter(|a| status(a) == Some(200)).count();
    println!(
        "router: {} webhooks ({ok} answered 200) in {:.1} s: peak RSS {:.1} MiB",
        args.burst,
        router.elapsed.as_secs_f64(),
        router.peak_rss_kib as f64 / 1024.0
    );
    let batches = args.burst.div_ceil(10);
    let events = (0..batches).map(|b| sqs_batch(b, 10)).collect::<Result<Vec<_>, _>>()?;
    let processor = burst(
        api,
        &Program::binary(args.bin_dir.join("sms-processor")),
        &world.sms_processor_env(runtime),
        events,
    )
    .await?;
    let failed: usize =
        processor.answers.iter().map(|a| a.body["batchItemFailures"].as_array().map_or(10, Vec::len)).sum();
    println!(
        "sms-processor: {batches} SQS batches of 10 turns ({failed} records failed; {} replies sent to the Twilio stub) \
         in {:.1} s: peak RSS {:.1} MiB",
        world.twilio.created().len(),
        processor.elapsed.as_secs_f64(),
        processor.peak_rss_kib as f64 / 1024.0
    );
    println!("(this harness itself: {:.1} MiB)", peak_rss_kib(std::process::id())? as f64 / 1024.0);
    Ok(())
}
