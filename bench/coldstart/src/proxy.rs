//! A TCP pass-through in front of the AWS emulator that counts connections: the
//! functions reach AWS only through it, so "connections before the first event" shows
//! whether a cold start did any network I/O before asking for its first event. It also
//! times the requests it carries (from a request's first byte to its answer's last
//! byte), so a first answer can be split into the function's own time and the time it
//! waited for AWS, and names each request's operation (from `X-Amz-Target`).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Counts the connections it forwards to `upstream` and times the requests on them.
#[derive(Clone)]
pub struct CountingProxy {
    /// `http://127.0.0.1:{port}`.
    pub endpoint: String,
    accepted: Arc<Mutex<Vec<Instant>>>,
    connections: Arc<Mutex<Vec<Arc<Mutex<Exchanges>>>>>,
}

/// The request/answer exchanges of one connection, in order. A request starts with the
/// first byte the function sends after an answer (or on a fresh connection); it ends
/// with the last byte AWS sends before the function's next request.
#[derive(Debug, Default)]
struct Exchanges {
    done: Vec<(Instant, Instant)>,
    /// The exchange under way: its start, and the last answer byte so far.
    current: Option<(Instant, Option<Instant>)>,
    /// Each request's start and operation, in order.
    operations: Vec<(Instant, String)>,
}

impl Exchanges {
    /// Notes request bytes (`chunk`) passing at `now`; a chunk that starts a request
    /// names its operation.
    fn request_bytes(&mut self, now: Instant, chunk: &[u8]) {
        match self.current {
            Some((start, Some(last))) => {
                self.done.push((start, last));
                self.current = Some((now, None));
            }
            Some((_, None)) => return,
            None => self.current = Some((now, None)),
        }
        self.operations.push((now, operation(chunk)));
    }

    fn answer_bytes(&mut self, now: Instant) {
        if let Some((_, last)) = &mut self.current {
            *last = Some(now);
        }
    }

    /// Every exchange with an answer so far (the current one up to its last byte).
    fn intervals(&self) -> impl Iterator<Item = (Instant, Instant)> + '_ {
        let current = self.current.and_then(|(start, last)| Some((start, last?)));
        self.done.iter().copied().chain(current)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The operation a request's first bytes name in `X-Amz-Target` (every service the
/// functions use speaks an AWS JSON protocol), e.g. `DynamoDB_20120810.GetItem`; `?` if
/// they name none.
fn operation(chunk: &[u8]) -> String {
    let head = String::from_utf8_lossy(chunk);
    let target = head.lines().take_while(|l| !l.is_empty()).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim().eq_ignore_ascii_case("x-amz-target").then(|| value.trim().to_owned())
    });
    target.unwrap_or_else(|| "?".to_owned())
}

/// What AWS did for a function in a window of time, as the proxy saw it.
#[derive(Debug, Clone, Default)]
pub struct AwsWait {
    /// Requests that started in the window.
    pub requests: usize,
    /// Their operations, in the order they started.
    pub operations: Vec<String>,
    /// Time in the window during which at least one request was waiting for its answer.
    pub busy: Duration,
}

impl CountingProxy {
    /// Forwards every connection on a free loopback port to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let proxy = Self { endpoint, accepted: Arc::default(), connections: Arc::default() };
        let seen = proxy.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                lock(&seen.accepted).push(Instant::now());
                let exchanges = Arc::new(Mutex::new(Exchanges::default()));
                lock(&seen.connections).push(Arc::clone(&exchanges));
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if let Ok(outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = inbound.set_nodelay(true);
                        let _ = outbound.set_nodelay(true);
                        forward(inbound, outbound, exchanges).await;
                    }
                });
            }
        });
        Ok(proxy)
    }

    /// Connections accepted after `from` and before `until`.
    pub fn connections_between(&self, from: Instant, until: Instant) -> usize {
        let accepted = lock(&self.accepted);
        accepted.iter().filter(|t| **t >= from && **t < until).count()
    }

    /// The requests that started between `from` and `until`, and the time in that window
    /// during which AWS had at least one of the function's requests to answer.
    pub fn aws_wait_between(&self, from: Instant, until: Instant) -> AwsWait {
        let mut spans: Vec<(Instant, Instant)> = Vec::new();
        let mut operations = Vec::new();
        for connection in lock(&self.connections).iter() {
            let connection = lock(connection);
            for (start, end) in connection.intervals() {
                let (start, end) = (start.max(from), end.min(until));
                if start < end {
                    spans.push((start, end));
                }
            }
            operations
                .extend(connection.operations.iter().filter(|(t, _)| *t >= from && *t < until).cloned());
        }
        operations.sort();
        let operations: Vec<String> = operations.into_iter().map(|(_, op)| op).collect();
        AwsWait { requests: operations.len(), operations, busy: union_length(spans) }
    }
}

/// The total length of the union of `spans`.
fn union_length(mut spans: Vec<(Instant, Instant)>) -> Duration {
    spans.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (start, end) in spans {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    total + current.map_or(Duration::ZERO, |(s, e)| e - s)
}

/// Copies both ways until either side closes, noting when each side's bytes pass.
async fn forward(
    inbound: tokio::net::TcpStream,
    outbound: tokio::net::TcpStream,
    exchanges: Arc<Mutex<Exchanges>>,
) {
    let (mut in_read, mut in_write) = inbound.into_split();
    let (mut out_read, mut out_write) = outbound.into_split();
    let requests = Arc::clone(&exchanges);
    let up = async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = in_read.read(&mut buf).await {
            lock(&requests).request_bytes(Instant::now(), &buf[..n]);
            if out_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = out_write.shutdown().await;
    };
    let down = async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = out_read.read(&mut buf).await {
            if in_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
            lock(&exchanges).answer_bytes(Instant::now());
        }
        let _ = in_write.shutdown().await;
    };
    tokio::join!(up, down);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_spans_count_once() {
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        let spans = vec![(ms(10), ms(20)), (ms(0), ms(5)), (ms(15), ms(30)), (ms(40), ms(41))];
        assert_eq!(union_length(spans), Duration::from_millis(5 + 20 + 1));
        assert_eq!(union_length(Vec::new()), Duration::ZERO);
    }

    #[test]
    fn an_exchange_runs_from_the_first_request_byte_to_the_last_answer_byte() {
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        let mut x = Exchanges::default();
        let get = b"POST / HTTP/1.1\r\nhost: x\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n\r\n{";
        x.request_bytes(ms(0), get);
        x.request_bytes(ms(1), b"x-amz-target: not a header, the body"); // the same request's body
        assert_eq!(x.intervals().count(), 0, "no answer yet");
        x.answer_bytes(ms(5));
        x.answer_bytes(ms(6));
        // The next request on the kept-alive connection.
        x.request_bytes(ms(10), b"POST / HTTP/1.1\r\nx-amz-target: AmazonSQS.SendMessage\r\n\r\n");
        x.answer_bytes(ms(12));
        let got: Vec<_> = x.intervals().collect();
        assert_eq!(got, vec![(ms(0), ms(6)), (ms(10), ms(12))]);
        let ops: Vec<_> = x.operations.iter().map(|(_, op)| op.as_str()).collect();
        assert_eq!(ops, ["DynamoDB_20120810.GetItem", "AmazonSQS.SendMessage"]);
    }
}
