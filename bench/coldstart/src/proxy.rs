//! A TCP pass-through in front of the AWS emulator that counts connections: the
//! functions reach AWS only through it, so "connections before the first event" shows
//! whether a cold start did any network I/O before asking for its first event.

use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Counts the connections it forwards to `upstream`.
#[derive(Clone)]
pub struct CountingProxy {
    /// `http://127.0.0.1:{port}`.
    pub endpoint: String,
    accepted: Arc<Mutex<Vec<Instant>>>,
}

impl CountingProxy {
    /// Forwards every connection on a free loopback port to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                seen.lock().unwrap_or_else(|p| p.into_inner()).push(Instant::now());
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = inbound.set_nodelay(true);
                        let _ = outbound.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(Self { endpoint, accepted })
    }

    /// Connections accepted after `from` and before `until`.
    pub fn connections_between(&self, from: Instant, until: Instant) -> usize {
        let accepted = self.accepted.lock().unwrap_or_else(|p| p.into_inner());
        accepted.iter().filter(|t| **t >= from && **t < until).count()
    }
}
