//! The workspace's shape, checked: what each Lambda binary links (`cargo tree`), and the
//! size limits that keep the code readable (no function over 60 lines, no file over 400
//! lines except those docs/architecture.md lists with a reason).
#![allow(clippy::unwrap_used)] // tests: a failed step should panic

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const MAX_FILE_LINES: usize = 400;
const MAX_FN_LINES: usize = 60;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The packages `package` links in a normal (non-dev, non-build) build.
fn linked(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root())
        .args(["tree", "--offline", "--locked", "-e", "normal", "--prefix", "none", "-p", package])
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo tree -p {package}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn assert_absent(package: &str, linked: &BTreeSet<String>, forbidden: &[&str]) {
    let found: Vec<&&str> = forbidden.iter().filter(|f| linked.contains(**f)).collect();
    assert!(found.is_empty(), "{package} links {found:?}");
}

#[test]
fn the_core_and_the_engine_link_no_sdk_http_client_or_database() {
    let io =
        ["rusqlite", "reqwest", "hyper", "async-openai", "aws-config", "aws-sdk-dynamodb", "aws-sdk-sqs"];
    for package in ["comms-core", "comms-engine"] {
        let deps = linked(package);
        assert_absent(package, &deps, &io);
        let adapters = ["comms-sqlite", "comms-aws", "comms-providers", "comms-telemetry"];
        assert_absent(package, &deps, &adapters);
        // They record metrics through the `metrics` facade only; the process picks the
        // recorder (EMF on Lambda, the summary line in `comms serve`).
        assert_absent(package, &deps, &["metrics_cloudwatch_embedded"]);
    }
}

#[test]
fn each_lambda_binary_links_only_what_it_runs() {
    let router = linked("comms-router");
    assert_absent("comms-router", &router, &["async-openai", "rusqlite", "comms-sqlite", "comms-providers"]);
    assert_absent("comms-router", &router, &["comms-engine", "comms-testkit"]);
    let processors = linked("comms-processors");
    assert_absent("comms-processors", &processors, &["axum", "rusqlite", "comms-sqlite", "comms-router"]);
    assert_absent("comms-processors", &processors, &["comms-testkit", "lambda_http"]);
    for package in ["comms-core", "comms-engine", "comms-sqlite", "comms-aws", "comms-providers"] {
        assert_absent(package, &linked(package), &["comms-testkit", "axum"]);
    }
}

/// The Lambda zips' size (docs/performance.md, "Zips"): one TLS provider (ring, no
/// aws-lc) and HTTP/1.1 only (AWS, OpenAI, Twilio and SendGrid all answer it), so no
/// HTTP/2 stack and not the SDK's own HTTP client, which always compiles HTTP/2 in
/// (`comms_aws::https_client` replaces it).
#[test]
fn the_lambda_binaries_link_one_tls_provider_and_no_http2() {
    for package in ["comms-router", "comms-processors"] {
        let deps = linked(package);
        assert_absent(package, &deps, &["aws-lc-rs", "aws-lc-sys", "h2", "aws-smithy-http-client"]);
        assert!(deps.contains("ring"), "{package} links ring");
    }
}

/// Every `.rs` file of the workspace's packages, relative to the root.
fn sources() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(root().join("shared")).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.extend(["router", "processors", "cli", "testkit"].map(|d| root().join(d)));
    let mut files = Vec::new();
    for dir in dirs {
        for sub in ["src", "tests", "benches"] {
            if dir.join(sub).is_dir() {
                walk(&dir.join(sub), &mut files);
            }
        }
    }
    let root = root();
    files.iter().map(|f| f.strip_prefix(&root).unwrap().to_string_lossy().into_owned()).collect()
}

/// The files docs/architecture.md allows over the limit: rows `| `path` | reason |` of its
/// "Size exceptions" table.
fn documented_exceptions() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let Some(section) = doc.split("## Size exceptions").nth(1) else { return BTreeSet::new() };
    section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn no_source_file_is_over_400_lines_unless_documented() {
    let exceptions = documented_exceptions();
    let mut long = Vec::new();
    for file in sources() {
        let lines = std::fs::read_to_string(root().join(&file)).unwrap().lines().count();
        if lines > MAX_FILE_LINES && !exceptions.contains(&file) {
            long.push(format!("{file}: {lines} lines"));
        }
    }
    assert!(long.is_empty(), "over {MAX_FILE_LINES} lines: {long:#?}");
}

/// Functions as rustfmt lays them out: from the line declaring `fn name` to the first
/// line after it that is the closing brace at the same indentation.
fn long_functions(file: &str, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut long = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        let indent = &line[..line.len() - code.len()];
        let Some(name) = fn_name(code) else { continue };
        let ends = |l: &&str| l.ends_with('{') || l.ends_with(';') || l.ends_with('}');
        let Some(open) = lines[start..].iter().position(ends) else { continue };
        if !lines[start + open].ends_with('{') {
            continue; // a declaration without a body (trait method), or a one-line body
        }
        let close = format!("{indent}}}");
        let Some(end) = lines[start + open..].iter().position(|l| *l == close) else { continue };
        let len = open + end + 1;
        if len > MAX_FN_LINES {
            long.push(format!("{file}:{} fn {name}: {len} lines", start + 1));
        }
    }
    long
}

/// `Some(name)` when the line declares a function.
fn fn_name(code: &str) -> Option<&str> {
    let mut rest = code;
    for prefix in ["pub(crate) ", "pub(super) ", "pub ", "const ", "async ", "unsafe ", "extern \"C\" "] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    Some(&rest[..end])
}

#[test]
fn no_function_is_over_60_lines() {
    let mut long = Vec::new();
    for file in sources() {
        long.extend(long_functions(&file, &std::fs::read_to_string(root().join(&file)).unwrap()));
    }
    assert!(long.is_empty(), "over {MAX_FN_LINES} lines: {long:#?}");
}

#[test]
fn the_function_counter_sees_bodies_and_skips_declarations() {
    let text = "trait T {\n    fn declared(&self);\n}\npub async fn f() {\n".to_owned()
        + &"    x();\n".repeat(60)
        + "}\nfn g() {}\n";
    assert_eq!(long_functions("x.rs", &text), ["x.rs:4 fn f: 62 lines"]);
}
