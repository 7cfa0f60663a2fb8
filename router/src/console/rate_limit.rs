//! Sign-in attempts, limited per client address and per tenant, in memory (per
//! process: each Lambda instance and each `comms serve` counts on its own, so the
//! effective limit across a fleet is a multiple; docs/console.md says so).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

/// Attempts allowed in one window.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Attempts from one client address (successful or not).
    pub per_address: u32,
    /// Failed attempts naming one tenant (or the operator key), from anywhere.
    pub per_tenant: u32,
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { per_address: 10, per_tenant: 20, window: Duration::from_secs(600) }
    }
}

/// The address a request came from: set by the Lambda entry point (the last hop of
/// `X-Forwarded-For`, which API Gateway appends), else the socket's peer address (serve
/// the router with `into_make_service_with_connect_info::<ClientAddr>()`).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

/// Listeners whose peer address is the client's (a TCP socket; `comms serve`'s wrapper
/// of one): the router serves them with [`ClientAddr`] as connect info.
pub trait PeerListener: axum::serve::Listener<Addr = SocketAddr> {}

impl PeerListener for tokio::net::TcpListener {}

impl<L: PeerListener> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, L>>
    for ClientAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, L>) -> Self {
        Self(stream.remote_addr().ip().to_string())
    }
}

impl ClientAddr {
    /// The request's client address ("unknown" when neither is available: such
    /// requests share one budget).
    pub fn of(parts: &Parts) -> String {
        if let Some(ClientAddr(a)) = parts.extensions.get::<ClientAddr>() {
            return a.clone();
        }
        if let Some(ConnectInfo(ClientAddr(a))) = parts.extensions.get::<ConnectInfo<ClientAddr>>() {
            return a.clone();
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |ConnectInfo(a)| a.ip().to_string())
    }

    /// The last address of an `X-Forwarded-For` header value.
    pub fn last_hop(forwarded_for: &str) -> Option<String> {
        forwarded_for.rsplit(',').map(str::trim).find(|s| !s.is_empty()).map(str::to_owned)
    }
}

struct Window {
    started: Instant,
    count: u32,
}

/// Fixed-window counters by key.
#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, Window>>,
}

/// Counters kept before expired ones are swept.
const SWEEP_AT: usize = 10_000;

impl RateLimiter {
    /// Whether `key` may make another attempt (under `max` in the current window); when
    /// not, the seconds until the window ends.
    pub fn check(&self, key: &str, max: u32, window: Duration) -> Result<(), u64> {
        let now = Instant::now();
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        match windows.get(key) {
            Some(w) if now.duration_since(w.started) < window && w.count >= max => {
                Err(window.saturating_sub(now.duration_since(w.started)).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts one attempt of `key`.
    pub fn record(&self, key: &str, window: Duration) {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, w| now.duration_since(w.started) < window);
        }
        let w = windows.entry(key.to_owned()).or_insert(Window { started: now, count: 0 });
        if now.duration_since(w.started) >= window {
            *w = Window { started: now, count: 0 };
        }
        w.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_max_attempts_in_a_window() {
        let limiter = RateLimiter::default();
        let window = Duration::from_secs(600);
        for _ in 0..3 {
            assert!(limiter.check("a", 3, window).is_ok());
            limiter.record("a", window);
        }
        assert!(limiter.check("a", 3, window).is_err());
        assert!(limiter.check("b", 3, window).is_ok(), "other keys keep their budget");
        // A window that has ended starts again.
        assert!(limiter.check("a", 3, Duration::ZERO).is_ok());
    }

    #[test]
    fn the_last_forwarded_hop_is_the_client() {
        assert_eq!(ClientAddr::last_hop("1.2.3.4, 10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(ClientAddr::last_hop("5.6.7.8").as_deref(), Some("5.6.7.8"));
        assert_eq!(ClientAddr::last_hop(" , "), None);
    }
}
