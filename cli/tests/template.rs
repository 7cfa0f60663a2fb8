//! The SAM template names only what the code reads: every environment variable it sets
//! is read by the Lambda code, and its queues, tables and binaries are the ones the code
//! derives from `COMMS_QUEUE_PREFIX` / `COMMS_TABLE` and builds.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use comms_aws::QueueNames;
use comms_core::domain::Channel;

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
    let shared = std::fs::read_dir(root().join("shared")).unwrap().map(|e| e.unwrap().path().join("src"));
    for krate in shared.chain(["router/src", "processors/src"].map(|k| root().join(k))) {
        walk(&krate, &mut out);
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
    let channels = Channel::ALL;
    let expected: BTreeSet<String> = channels.iter().flat_map(|&c| [names.queue(c), names.dlq(c)]).collect();
    assert_eq!(stack_named(&t, "QueueName"), expected);
    let tables = stack_named(&t, "TableName");
    assert_eq!(tables, BTreeSet::from(["-data".to_owned(), names.failures_table()]));
}

/// The `Environment: Variables:` of the function `logical` (its block up to the next
/// resource).
fn function_environment(t: &str, logical: &str) -> String {
    let block = t.split(&format!("\n  {logical}:\n")).nth(1).unwrap();
    let block = block.split("\n\n  ").next().unwrap();
    block.split("      Environment:\n").nth(1).unwrap().split("      Policies:").next().unwrap().to_owned()
}

#[test]
fn each_function_is_passed_the_urls_of_the_queues_it_uses() {
    // A queue's Ref is its URL: with the URLs in the environment, no function looks a
    // queue up (GetQueueUrl) before its first event, and none may.
    let t = template();
    assert!(!t.contains("sqs:GetQueueUrl"), "no function resolves a queue URL");
    let router = function_environment(&t, "RouterFunction");
    for (channel, logical) in [
        (Channel::Sms, "Sms"),
        (Channel::Whatsapp, "Whatsapp"),
        (Channel::Voice, "Voice"),
        (Channel::Email, "Email"),
    ] {
        let queue = format!("{}: !Ref {logical}Queue\n", comms_aws::queue_url_var(channel));
        let dlq = format!("{}: !Ref {logical}DeadLetterQueue\n", comms_aws::dlq_url_var(channel));
        assert!(router.contains(&queue), "router: {queue} in {router}");
        // The DLQ URLs are for the console's dead-letter page (list, replay, purge); the
        // router dead-letters nothing: it may not send to a DLQ.
        assert!(router.contains(&dlq), "router (console dead letters): {dlq} in {router}");
        let processor = function_environment(&t, &format!("{logical}ProcessorFunction"));
        assert!(processor.contains(&queue) && processor.contains(&dlq), "{logical}: {processor}");
        assert_eq!(processor.matches("_QUEUE_URL:").count(), 1, "its own queue only: {processor}");
    }
    let router_policy = t
        .split("  RouterFunction:\n")
        .nth(1)
        .unwrap()
        .split("      Events:")
        .next()
        .unwrap()
        .split("      Policies:")
        .nth(1)
        .unwrap();
    let sends =
        router_policy.split("Sid: SendToChannelQueues").nth(1).unwrap().split("- Sid:").next().unwrap();
    assert!(!sends.contains("DeadLetterQueue"), "the router sends to no DLQ: {sends}");
}

/// The resource `logical`'s block (up to the next resource).
fn resource(t: &str, logical: &str) -> String {
    let block = t.split(&format!("\n  {logical}:\n")).nth(1).unwrap();
    block.split("\n\n  ").next().unwrap().to_owned()
}

#[test]
fn the_unsubscribe_key_is_made_by_the_stack_and_read_by_the_router_and_email_processor_only() {
    let t = template();
    let name = "${AWS::StackName}/email/unsubscribe-key";
    let secret = resource(&t, "EmailUnsubscribeKey");
    assert!(secret.contains("Type: AWS::SecretsManager::Secret"), "{secret}");
    assert!(secret.contains(&format!("Name: !Sub \"{name}\"")), "{secret}");
    assert!(secret.contains("GenerateSecretString:"), "a random value, never one in the template: {secret}");
    // Both functions are told its name, in the variable their settings read.
    let variable = format!("{}: !Sub \"{name}\"\n", comms_router::settings::ENV_EMAIL_UNSUBSCRIBE_KEY);
    let grant = format!("secret:{name}-??????\"");
    for (function, reads) in [
        ("RouterFunction", true),
        ("EmailProcessorFunction", true),
        ("SmsProcessorFunction", false),
        ("WhatsappProcessorFunction", false),
        ("VoiceProcessorFunction", false),
    ] {
        let block = resource(&t, function);
        assert_eq!(function_environment(&t, function).contains(&variable), reads, "{function}: {variable}");
        assert_eq!(block.contains(&grant), reads, "{function} may read the key: {reads}");
    }
    // Read only: nothing may write, rotate or delete it.
    assert_eq!(t.matches(&grant).count(), 2);
    for line in t.lines().filter(|l| l.contains("secretsmanager:") && l.contains("Action:")) {
        assert!(!line.contains("PutSecretValue") && !line.contains("secretsmanager:*"), "{line}");
    }
}

#[test]
fn every_route_the_router_serves_is_an_api_path_and_mail_reaches_it_as_bytes() {
    let t = template();
    let router = std::fs::read_to_string(root().join("router/src/lib.rs")).unwrap();
    let paths: BTreeSet<&str> = router
        .split(".route(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|p| !p.starts_with("/console"))
        .collect();
    assert!(paths.contains("/email/inbound/{secret}") && paths.contains("/twilio/sms"), "{paths:?}");
    for path in paths {
        let bare = format!("Path: {path},");
        let quoted = format!("Path: \"{path}\",");
        assert!(
            t.contains(&bare) || t.contains(&quoted),
            "{path} is served by the router but not in the API"
        );
    }
    // Inbound Parse posts raw MIME (8-bit, not always UTF-8) as multipart/form-data: API
    // Gateway must pass it base64-encoded rather than as text.
    let api = t.split("    Type: AWS::Serverless::Api\n").nth(1).unwrap().split("\n\n  ").next().unwrap();
    assert!(api.contains("BinaryMediaTypes:\n        - \"multipart~1form-data\"\n"), "{api}");
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
    for channel in Channel::ALL {
        assert!(binaries.contains(&format!("{channel}-processor")), "no processor function for {channel}");
        // Its own queue, DLQ and model key secret only.
        assert!(t.contains(&format!("secret:openai-api-key/{channel}-*")), "{channel}: model key secret");
    }
    assert!(binaries.contains("router"));
}

#[test]
fn processors_may_read_their_tenants_model_keys_and_the_router_may_not() {
    let t = template();
    // `{credential_type}/{company_id}/{project_id}/openai`; Secrets Manager adds "-" and
    // six characters to the name in the ARN.
    let tenant_keys = "secret:*/*/*/openai-??????\"";
    assert_eq!(t.matches(tenant_keys).count(), 3, "one grant per processor");
    let router =
        t.split("  RouterFunction:\n").nth(1).unwrap().split("\n  SmsProcessorFunction:\n").next().unwrap();
    assert!(!router.contains("openai"), "the router reads no model key");
}

#[test]
fn the_functions_architecture_is_one_parameter_the_packaging_script_sets() {
    let t = template();
    assert!(t.contains("    Architectures: [!Ref Architecture]\n"));
    assert_eq!(t.matches("Architectures:").count(), 1, "set once, in Globals");
    assert!(
        std::fs::read_to_string(root().join("scripts/build-lambdas"))
            .unwrap()
            .contains("\"$OUT/architecture\"")
    );
    for arch in ["x86_64", "arm64"] {
        let dir = tempfile::tempdir().unwrap();
        // What scripts/build-lambdas records next to the zips.
        std::fs::write(dir.path().join("architecture"), format!("{arch}\n")).unwrap();
        let out = dir.path().join("template.yaml");
        let status = std::process::Command::new("python3")
            .arg(root().join("scripts/package-template.py"))
            .arg(root().join("infra/template.yaml"))
            .arg(&out)
            .status();
        let Ok(status) = status else {
            eprintln!("SKIPPED: no python3");
            return;
        };
        assert!(status.success());
        let packaged = std::fs::read_to_string(&out).unwrap();
        let parameter = packaged.split("\n  Architecture:\n").nth(1).unwrap();
        let default = parameter.lines().find_map(|l| l.trim().strip_prefix("Default: ")).unwrap();
        assert_eq!(default, arch);
        assert!(packaged.contains("CodeUri: sms-processor.zip"), "{packaged}");
    }
}

#[test]
fn alarms_publish_to_a_topic_whose_key_cloudwatch_may_use() {
    let t = template();
    // CloudWatch cannot use the AWS-managed SNS key: alarms would never be delivered.
    assert!(!t.contains("KmsMasterKeyId: alias/aws/sns"));
    assert!(t.contains("KmsMasterKeyId: !Ref AlarmTopicKey"));
    let key = t.split("  AlarmTopicKey:\n").nth(1).unwrap().split("\n  AlarmTopic:\n").next().unwrap();
    assert!(key.contains("Principal: { Service: cloudwatch.amazonaws.com }"), "{key}");
    assert!(key.contains("kms:GenerateDataKey*") && key.contains("kms:Decrypt"), "{key}");
}

#[test]
fn no_function_variable_is_set_to_an_empty_value() {
    let t = template();
    // An empty OPENAI_BASE_URL reached async-openai and broke every model call: an
    // unset parameter leaves the variable out (AWS::NoValue), never "".
    for line in t.lines() {
        let l = line.trim();
        assert!(!(l.contains(": !If [") && l.ends_with(", \"\"]")), "empty value: {l}");
        assert!(
            !(l.contains(": !Ref ") && (l.starts_with("OPENAI_") || l.starts_with("COMMS_PUBLIC"))),
            "{l}"
        );
    }
}

/// A Python with cfn-lint and aws-sam-translator (`COMMS_TEMPLATE_PYTHON`, the worktree's
/// `.venv`, or `python3`), as scripts/test uses for scripts/check-template.py.
fn lint_python() -> Option<String> {
    let mut candidates: Vec<String> = std::env::var("COMMS_TEMPLATE_PYTHON").into_iter().collect();
    candidates.push(root().join(".venv/bin/python").display().to_string());
    candidates.push("python3".into());
    let found = candidates.into_iter().find(|py| {
        std::process::Command::new(py)
            .args(["-c", "import cfnlint, samtranslator"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        assert!(!matches!(std::env::var("CI").as_deref(), Ok("true")), "no Python with cfn-lint and CI=true");
        eprintln!("SKIPPED: no Python with cfn-lint and aws-sam-translator");
    }
    found
}

#[test]
fn the_template_check_fails_on_lint_warnings_and_the_template_has_none() {
    let Some(py) = lint_python() else { return };
    let check = |template: &Path, out: &Path| {
        std::process::Command::new(&py)
            .arg(root().join("scripts/check-template.py"))
            .arg(template)
            .arg(out)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    // W3005: a DependsOn a Ref already implies (what SAM's usage plan generated).
    let warning = dir.path().join("warning.yaml");
    std::fs::write(
        &warning,
        "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Queue:\n    Type: AWS::SQS::Queue\n  \
         Policy:\n    Type: AWS::SQS::QueuePolicy\n    DependsOn: Queue\n    Properties:\n      Queues: [!Ref Queue]\n      \
         PolicyDocument:\n        Statement:\n          - Effect: Deny\n            Principal: \"*\"\n            \
         Action: sqs:SendMessage\n            Resource: \"*\"\n",
    )
    .unwrap();
    assert!(!check(&warning, &dir.path().join("w")).success(), "a warning must fail the check");
    assert!(check(&root().join("infra/template.yaml"), &dir.path().join("t")).success());
}
