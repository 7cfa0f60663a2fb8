//! The conversation engine's core: what the system means, with no way to reach the
//! outside world. This crate depends on no SDK, no HTTP client and no database, so a
//! module here cannot call an adapter: the compiler refuses it (docs/architecture.md).
//!
//! - [`domain`]: types that cannot hold invalid values (phone numbers, channels, tenant
//!   references, the queue envelope) and the tenant configuration.
//! - [`ports`]: the small traits the rest of the system talks to (queues, tenant
//!   directory, secrets, opt-outs, the model, the messenger, the stores).
//! - [`tools`]: the model's tools, declared and executed over the ports.
//! - [`twilio`]: Twilio wire formats that need no network (request signatures, TwiML,
//!   the order of delivery states). It builds on `domain` and `ports`; they never import
//!   it (a test below scans their sources), so the domain stays free of one provider.
//! - [`sendgrid`]: SendGrid wire formats that need no network (inbound mail, delivery
//!   events, webhook signatures); kept apart from `domain` and `ports` the same way.
//! - [`secure`]: constant-time comparison of secrets.
//! - [`retry`]: backoff within a time budget.
//! - [`cached`]: a tenant-directory decorator that caches lookups.
//! - [`redact`]: masking of phone numbers in texts bound for logs.
//! - [`metrics`]: the names of the metrics recorded through the `metrics` facade.

pub mod cached;
pub mod cached_usage;
pub mod domain;
pub mod metrics;
pub mod ports;
pub mod redact;
pub mod retry;
pub mod secure;
pub mod sendgrid;
pub mod tools;
pub mod twilio;

#[cfg(test)]
mod layering {
    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("source folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn domain_and_ports_never_import_a_provider_module() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src.join("domain"), &mut files);
        rust_files(&src.join("ports"), &mut files);
        assert!(files.len() > 10, "scanned too few files: {files:?}");
        let offenders: Vec<_> = files
            .iter()
            .filter(|f| {
                let text = std::fs::read_to_string(f).expect("readable");
                text.contains("crate::twilio") || text.contains("crate::sendgrid")
            })
            .collect();
        assert!(
            offenders.is_empty(),
            "domain/ports must not depend on crate::twilio or crate::sendgrid: {offenders:?}"
        );
    }
}
