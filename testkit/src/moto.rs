//! Starts moto's server (a local AWS API emulator) for tests of the AWS adapters: on a
//! free loopback port, stopped when dropped. `scripts/test` installs moto and sets
//! `COMMS_MOTO_SERVER`; without it, [`Moto::start`] returns `None` (the test skips with a
//! message), except under `CI=true`, where a missing emulator fails the run.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:{port}`.
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> Option<String> {
    if let Ok(path) = std::env::var("COMMS_MOTO_SERVER") {
        return Some(path);
    }
    let found =
        Command::new("moto_server").arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status();
    found.is_ok_and(|s| s.success()).then(|| "moto_server".to_owned())
}

impl Moto {
    /// Starts a server and waits until it answers (panics if it does not within 30 s).
    pub async fn start() -> Option<Moto> {
        let Some(bin) = binary() else {
            assert!(
                !matches!(std::env::var("CI").as_deref(), Ok("true")),
                "moto_server is not installed and CI=true: run ./scripts/test, which installs it"
            );
            eprintln!("SKIPPED: moto_server not installed (./scripts/test installs it into .venv)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
        let start = Instant::now();
        let client = crate::http_client();
        loop {
            let up = client.get(format!("{}/moto-api/", moto.endpoint)).send().await;
            if up.is_ok_and(|r| r.status().is_success()) {
                return Some(moto);
            }
            assert!(start.elapsed() < Duration::from_secs(30), "moto_server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
