//! Errors hyper answers by itself, before a request reaches the router (a request line
//! over its URI limit: 414; malformed: 400; headers too large: 431), go out with an empty
//! body. `comms serve` wraps each connection so that those answers carry the JSON error
//! shape every route uses, `{"error": {"code", "message"}}`.
//!
//! hyper writes such an answer as one head (`HTTP/1.1 4xx …`, `connection: close`,
//! `content-length: 0`); the router never answers an error without a body, so a head of
//! that form is rewritten: the same status and headers, a JSON body.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A listener whose connections answer hyper's own errors in JSON.
pub struct JsonErrors<L>(pub L);

impl<L> axum::serve::Listener for JsonErrors<L>
where
    L: axum::serve::Listener,
    L::Io: Unpin,
{
    type Io = JsonErrorIo<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (inner, addr) = self.0.accept().await;
        (JsonErrorIo { inner, pending: None }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// The peer of a TCP connection is the client: the console's sign-in limit key.
impl comms_router::console::PeerListener for JsonErrors<tokio::net::TcpListener> {}

/// A connection whose bodiless error heads are rewritten (see the module comment).
pub struct JsonErrorIo<T> {
    inner: T,
    /// A rewritten answer being written: its bytes, how many are written, and the length
    /// of the head it replaces (what the caller is told was written).
    pending: Option<(Vec<u8>, usize, usize)>,
}

/// The JSON answer replacing `head`, if `head` is an error hyper made up itself.
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?;
    if !(status.starts_with('4') || status.starts_with('5')) || !text.ends_with("\r\n\r\n") {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    if !lower.contains("\r\ncontent-length: 0\r\n") || !lower.contains("\r\nconnection: close\r\n") {
        return None;
    }
    let (code, message) = match status {
        "414" => ("uri_too_long", "the request URI is longer than this server accepts"),
        "431" => ("headers_too_large", "the request headers are larger than this server accepts"),
        "505" => ("http_version_not_supported", "use HTTP/1.1"),
        _ => ("malformed_request", "the request is not valid HTTP/1.1"),
    };
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    let start = lower.find("\r\ncontent-length: 0\r\n")?;
    let end = start + "\r\ncontent-length: 0".len();
    let mut out = String::with_capacity(text.len() + body.len() + 64);
    out.push_str(&text[..start]);
    out.push_str(&format!("\r\ncontent-type: application/json\r\ncontent-length: {}", body.len()));
    out.push_str(&text[end..]);
    out.push_str(&body);
    Some(out.into_bytes())
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrorIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrorIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            match rewrite(buf) {
                Some(answer) => this.pending = Some((answer, 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        let Some((answer, written, replaced)) = this.pending.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while *written < answer.len() {
            match ready!(Pin::new(&mut this.inner).poll_write(cx, &answer[*written..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => *written += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let replaced = *replaced;
        this.pending = None;
        Poll::Ready(Ok(replaced))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then writes a head as one buffer, which `rewrite` can see whole.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodiless_error_heads_are_rewritten() {
        let head = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(rewrite(head).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with(
                "HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-type: application/json"
            )
        );
        assert!(head.contains(&format!("content-length: {}", body.len())) && head.ends_with("date: x"));
        assert_eq!(serde_json::from_str::<serde_json::Value>(body).unwrap()["error"]["code"], "uri_too_long");
        // The router's own answers (a body, or a success) pass untouched.
        assert!(rewrite(b"HTTP/1.1 404 Not Found\r\ncontent-length: 51\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewrite(b"{\"error\":1}").is_none());
    }
}
