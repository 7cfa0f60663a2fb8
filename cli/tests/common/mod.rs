//! Helpers shared by the black-box tests of the `comms` binary.
#![allow(dead_code)] // each test file uses some of them

pub mod local;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use comms_testkit::moto::Moto;

/// The `comms` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_comms");

/// The environment that points `comms` at moto with fresh resource names (a random
/// prefix; the table `{prefix}-data`, as a stack names it).
pub fn moto_env(moto: &Moto) -> Vec<(&'static str, String)> {
    let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
    vec![
        ("COMMS_BACKEND", "aws".to_owned()),
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("COMMS_TABLE", format!("{prefix}-data")),
        ("COMMS_QUEUE_PREFIX", prefix),
    ]
}

/// Polls `done` every `every` until it holds; panics naming `what` after `limit`.
pub async fn wait_for(what: &str, limit: Duration, every: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(every).await;
    }
}

/// A running `comms serve`, killed when dropped. With capture, every line it writes
/// (stdout and stderr) is kept in `lines`.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:{port}`, from its "listening on" line.
    pub base_url: String,
    pub lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Spawns `cmd` (a `comms serve` command line) and waits for its "listening on" line;
    /// stdout is drained from then on (a full pipe would block the server), and with
    /// `capture` stderr too, both into [`Server::lines`].
    pub fn start(cmd: &mut Command, capture: bool) -> Server {
        let stderr = if capture { Stdio::piped() } else { Stdio::null() };
        let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let base_url = loop {
            let mut line = String::new();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "serve exited before listening");
            lines.lock().unwrap().push(line.trim_end().to_owned());
            if let Some(url) = line.trim_end().strip_prefix("listening on ") {
                break url.to_owned();
            }
        };
        let mut readers = vec![capture_lines(stdout, &lines)];
        if let Some(stderr) = child.stderr.take() {
            readers.push(capture_lines(stderr, &lines));
        }
        Server { child, base_url, lines, readers }
    }

    /// SIGKILL: no shutdown code runs, nothing is flushed or released.
    pub fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then every line the server wrote until it exited.
    pub fn terminate(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        self.child.wait().unwrap();
        for r in self.readers.drain(..) {
            r.join().unwrap();
        }
        self.lines.lock().unwrap().clone()
    }
}

/// Reads `stream` line by line into `lines` until it closes (the log capture).
pub fn capture_lines(
    stream: impl std::io::Read + Send + 'static,
    lines: &Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    let lines = Arc::clone(lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            lines.lock().unwrap().push(line.unwrap());
        }
    })
}

/// Posts an inbound SMS webhook signed with `token`, as Twilio would, to the server at
/// `base_url`; asserts it is accepted.
pub async fn post_sms_to(base_url: &str, token: &str, from: &str, to: &str, sid: &str, body: &str) {
    let url = format!("{base_url}/twilio/sms");
    let params: Vec<(String, String)> = [
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("Body", body),
        ("From", from),
        ("MessageSid", sid),
        ("NumMedia", "0"),
        ("To", to),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let resp = reqwest::Client::new()
        .post(&url)
        .header("x-twilio-signature", comms_core::twilio::signature::compute(token, &url, &params))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
}
