//! Captures what a tracing subscriber writes, so tests can read the log lines a server
//! or a library produced (`comms_telemetry::subscriber(format, move || capture.clone())`).

use std::sync::{Arc, Mutex};

use serde_json::Value;

/// An in-memory log sink; clones share the same buffer.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Every line written so far, parsed as JSON (a JSON-format subscriber's output).
    pub fn json_lines(&self) -> Vec<Value> {
        self.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}
