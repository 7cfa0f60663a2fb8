//! The SAM template names only what the code reads: every environment variable it sets
//! is read by the Lambda code, and its queues, tables and binaries are the ones the code
//! derives from `COMMS_QUEUE_PREFIX` / `COMMS_TABLE` and builds.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use comms_shared::adapters::aws::QueueNames;
use comms_shared::domain::Channel;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn template() -> String {
    std::fs::read_to_string(root().join("infra/template.yaml")).unwrap()
}

/// Keys of every `Environment: Variables:` block (indentation-based; an API stage's
/// `Variables:` are stage variables, not environment).
fn environment_names(t: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut block: Option<usize> = None;
    let mut previous = "";
    for line in t.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(parent) = block {
            if indent <= parent {
                block = None;
            } else if let Some((key, _)) = trimmed.split_once(':') {
                names.insert(key.to_owned());
                continue;
            }
        }
        if trimmed == "Variables:" && previous == "Environment:" {
            block = Some(indent);
        }
        previous = trimmed;
    }
    names
}

/// Every Rust source under the crates the Lambda binaries are built from.
fn lambda_sources() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = String::new();
    for krate in ["shared/src", "router/src", "processors/src"] {
        walk(&root().join(krate), &mut out);
    }
    out
}

/// `Key: !Sub "${AWS::StackName}-suffix"` values of a property, as suffixes.
fn stack_named(t: &str, key: &str) -> BTreeSet<String> {
    t.lines()
        .filter_map(|l| l.trim().strip_prefix(&format!("{key}: !Sub \"${{AWS::StackName}}")))
        .map(|rest| rest.trim_end_matches('"').to_owned())
        .collect()
}

#[test]
fn every_environment_variable_in_the_template_is_read_by_the_code() {
    let names = environment_names(&template());
    assert!(names.contains("COMMS_TABLE") && names.contains("COMMS_QUEUE_PREFIX"), "{names:?}");
    let code = lambda_sources();
    // Read by libraries rather than by a literal in our code.
    let read_by_libraries = ["RUST_LOG"];
    let unread: Vec<&String> = names
        .iter()
        .filter(|n| !read_by_libraries.contains(&n.as_str()) && !code.contains(&format!("\"{n}\"")))
        .collect();
    assert!(unread.is_empty(), "set in infra/template.yaml but never read by the code: {unread:?}");
}

#[test]
fn queues_and_tables_are_the_names_the_code_derives() {
    let t = template();
    // The prefix and table the functions get are the stack name and the data table.
    assert!(t.contains("COMMS_QUEUE_PREFIX: !Ref AWS::StackName"));
    assert!(t.contains("COMMS_TABLE: !Ref DataTable"));
    assert!(t.contains("  DataTable:\n    Type: AWS::DynamoDB::Table"));

    let names = QueueNames { prefix: String::new() };
    let channels = [Channel::Sms, Channel::Whatsapp, Channel::Voice];
    let expected: BTreeSet<String> = channels.iter().flat_map(|&c| [names.queue(c), names.dlq(c)]).collect();
    assert_eq!(stack_named(&t, "QueueName"), expected);
    let tables = stack_named(&t, "TableName");
    assert_eq!(tables, BTreeSet::from(["-data".to_owned(), names.failures_table()]));
}

#[test]
fn every_function_is_a_binary_of_the_workspace_and_every_queue_has_its_processor() {
    let t = template();
    let binaries: BTreeSet<String> =
        t.lines().filter_map(|l| l.trim().strip_prefix("Binary: ")).map(str::to_owned).collect();
    for b in &binaries {
        let krate = if b == "router" { "router" } else { "processors" };
        assert!(root().join(krate).join("src/bin").join(format!("{b}.rs")).exists(), "no binary {b}");
    }
    for channel in [Channel::Sms, Channel::Whatsapp, Channel::Voice] {
        assert!(binaries.contains(&format!("{channel}-processor")), "no processor function for {channel}");
        // Its own queue, DLQ and model key secret only.
        assert!(t.contains(&format!("secret:openai-api-key/{channel}-*")), "{channel}: model key secret");
    }
    assert!(binaries.contains("router"));
}
