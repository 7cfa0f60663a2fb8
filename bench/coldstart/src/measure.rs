//! Starting a function behind the Runtime API and timing it: spawn → first event
//! answered (a cold start), and peak RSS after a burst of events.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::proxy::{AwsWait, CountingProxy};
use crate::runtime_api::{Answer, RuntimeApi};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long a function may take to answer one event.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// A function's executable: a Lambda binary, or an interpreter with arguments.
#[derive(Debug, Clone)]
pub struct Program {
    pub path: PathBuf,
    pub args: Vec<String>,
    pub dir: Option<PathBuf>,
}

impl Program {
    pub fn binary(path: PathBuf) -> Self {
        Self { path, args: Vec::new(), dir: None }
    }
}

/// A running function, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(program: &Program, env: &BTreeMap<String, String>) -> Result<Running, Error> {
    let mut cmd = Command::new(&program.path);
    cmd.args(&program.args).env_clear().envs(env).stdin(Stdio::null()).stdout(Stdio::null());
    // Its logs are not part of the measurement, but a failure to start should be seen.
    cmd.stderr(if std::env::var_os("COLDSTART_SHOW_LOGS").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    });
    if let Some(dir) = &program.dir {
        cmd.current_dir(dir);
    }
    Ok(Running(cmd.spawn().map_err(|e| format!("cannot start {}: {e}", program.path.display()))?))
}

/// One cold start.
#[derive(Debug, Clone)]
pub struct ColdStart {
    /// Process spawn → the first event's answer received by the Runtime API.
    pub elapsed: Duration,
    /// Process spawn → its first request for an event (initialisation done: what
    /// Lambda reports as "Init Duration").
    pub ready: Duration,
    /// The answer time of a second event in the same process, when one was given: the
    /// first event's own work, warm.
    pub warm: Option<Duration>,
    /// Connections to AWS opened before the function asked for its first event.
    pub aws_connections_before_first_event: usize,
    /// What AWS did between the first request for an event and its answer: the part of
    /// `elapsed - ready` spent waiting for AWS (moto) rather than in the function.
    pub first_event_aws: AwsWait,
    pub answer: Answer,
}

/// Starts `program` with `event` already queued and times it to its answer.
pub async fn cold_start(
    api: &RuntimeApi,
    proxy: &CountingProxy,
    program: &Program,
    env: &BTreeMap<String, String>,
    event: Value,
    then: Option<Value>,
) -> Result<ColdStart, Error> {
    api.reset();
    api.push("cold-start", event);
    let start = Instant::now();
    let running = spawn(program, env)?;
    let answer = api.answer("cold-start", ANSWER_TIMEOUT).await.ok_or("no answer within 60 s")?;
    let mut warm = None;
    if let Some(second) = then {
        let sent = Instant::now();
        api.push("warm", second);
        let second = api.answer("warm", ANSWER_TIMEOUT).await.ok_or("no answer to the second event")?;
        warm = Some(second.at.duration_since(sent));
    }
    drop(running);
    let first = api.first_next().unwrap_or(answer.at);
    Ok(ColdStart {
        elapsed: answer.at.duration_since(start),
        ready: first.duration_since(start),
        warm,
        aws_connections_before_first_event: proxy.connections_between(start, first),
        first_event_aws: proxy.aws_wait_between(first, answer.at),
        answer,
    })
}

/// A burst of events handled by one process.
#[derive(Debug, Clone)]
pub struct Burst {
    pub answers: Vec<Answer>,
    /// Peak resident set size (`VmHWM`), in KiB.
    pub peak_rss_kib: u64,
    pub elapsed: Duration,
}

/// Starts `program` and hands it `events` back to back (each after the previous
/// answer), then reads its peak RSS.
pub async fn burst(
    api: &RuntimeApi,
    program: &Program,
    env: &BTreeMap<String, String>,
    events: Vec<Value>,
) -> Result<Burst, Error> {
    api.reset();
    let running = spawn(program, env)?;
    let start = Instant::now();
    let mut answers = Vec::new();
    for (i, event) in events.into_iter().enumerate() {
        let id = format!("burst-{i}");
        api.push(&id, event);
        answers.push(api.answer(&id, ANSWER_TIMEOUT).await.ok_or_else(|| format!("no answer to event {i}"))?);
    }
    let elapsed = start.elapsed();
    let peak_rss_kib = peak_rss_kib(running.0.id())?;
    drop(running);
    Ok(Burst { answers, peak_rss_kib, elapsed })
}

/// `VmHWM` of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or("no VmHWM in /proc/<pid>/status")?;
    Ok(line.split_whitespace().nth(1).ok_or("malformed VmHWM")?.parse()?)
}

/// Median, minimum and maximum, in milliseconds.
pub fn summary(samples: &[Duration]) -> (f64, f64, f64) {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    if ms.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mid = ms.len() / 2;
    let median = if ms.len().is_multiple_of(2) { (ms[mid - 1] + ms[mid]) / 2.0 } else { ms[mid] };
    (median, ms[0], ms[ms.len() - 1])
}

/// The HTTP status of an API Gateway proxy answer.
pub fn status(answer: &Answer) -> Option<u64> {
    answer.body["statusCode"].as_u64()
}
