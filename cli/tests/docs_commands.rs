//! The shell blocks of docs/operations.md marked ```` ```sh test ```` run, in order,
//! against moto with the resources a deployed stack named `comms` has (what `sam deploy`
//! would have made: table, queues, failure table, usage plan), with the `comms` binary on
//! PATH and only the AWS environment an operator sets. A doc that drifts from the CLI
//! fails here. Blocks that need real AWS or a deployment stay unmarked.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use comms_aws::{DynamoStore, QueueNames, SecretsManagerStore, SqsQueues, emulator_config};
use comms_core::domain::Channel;
use comms_core::domain::TenantRef;
use comms_core::ports::{DeadLetters, OutgoingMessage, Queues, SecretStore, TenantDirectory};
use comms_testkit::moto::Moto;

const BIN: &str = env!("CARGO_BIN_EXE_comms");
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The bodies of the ```` ```sh test ```` blocks of a Markdown text, in order (list-item
/// indentation removed).
fn test_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, Vec<String>)> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        match &mut current {
            None if trimmed == "```sh test" => current = Some((line.len() - trimmed.len(), Vec::new())),
            None => {}
            Some((indent, lines)) => {
                if trimmed == "```" {
                    blocks.push(lines.join("\n"));
                    current = None;
                } else {
                    let cut = line.len().min(*indent);
                    lines.push(line[cut..].to_owned());
                }
            }
        }
    }
    assert!(current.is_none(), "an unclosed ```sh test block");
    blocks
}

#[test]
fn blocks_are_extracted_in_order_without_indentation() {
    let md =
        "x\n```sh test\na 1\n```\n```sh\nnot run\n```\n2. item\n   ```sh test\n   b \\\n     c\n   ```\n";
    assert_eq!(test_blocks(md), ["a 1", "b \\\n  c"]);
}

async fn dead_letter(queues: &SqsQueues, body: &str, reason: &str) {
    let msg = OutgoingMessage { body: body.to_owned(), attributes: Default::default() };
    queues.send(Channel::Sms, msg).await.unwrap();
    let got = queues.receive(Channel::Sms, 1, Duration::from_secs(30)).await.unwrap();
    queues.dead_letter(Channel::Sms, &got[0], reason).await.unwrap();
}

/// Runs one marked block of docs/operations.md in `work` with only the AWS variables an
/// operator would set (pointing at the emulator); fails with the block and its output.
fn run_block(block: &str, work: &Path, path: &str, endpoint: &str) {
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", block])
        .current_dir(work)
        .env_clear()
        .env("PATH", path)
        .env("HOME", work)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("COMMS_DATA_DIR", work.join(".comms"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docs/operations.md block failed:\n{block}\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_md_commands_run_against_the_emulator() {
    let Some(moto) = Moto::start().await else { return };
    let config = emulator_config(&moto.endpoint).await;
    // The deployed stack "comms", as the template names its resources.
    let names = QueueNames { prefix: "comms".into() };
    let queues = SqsQueues::provision(&config, &names, &Channel::ALL, 3).await.unwrap();
    let store = DynamoStore::provision(&config, "comms-data").await.unwrap();
    aws_sdk_apigateway::Client::new(&config).create_usage_plan().name("comms-usage").send().await.unwrap();
    // Two dead letters: one an outage (to replay), one unreadable (to leave behind).
    dead_letter(&queues, "{\"v\":1,\"outage\":true}", "model temporarily unavailable: 503").await;
    dead_letter(&queues, "not json", "unreadable envelope: expected value at line 1").await;

    let markdown = std::fs::read_to_string(Path::new(REPO).join("docs/operations.md")).unwrap();
    let blocks = test_blocks(&markdown);
    assert!(blocks.len() >= 7, "the tenant, key, secret and DLQ steps are marked: {blocks:#?}");

    let work = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(Path::new(REPO).join("samples"), work.path().join("samples")).unwrap();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    for block in &blocks {
        run_block(block, work.path(), &path, &moto.endpoint);
    }

    // What the blocks did: the tenant with its admin key, the API key issued and revoked,
    // the Twilio secret after the rotation, the outage replayed and the poison left.
    let tenant = store.get(&TenantRef::new("demo", "repair-shop").unwrap()).await.unwrap().unwrap();
    assert!(tenant.admin_keys.iter().any(|k| k.id == "owner-phone"), "{tenant:?}");
    assert!(tenant.api_keys.iter().all(|k| k.id != "crm"), "{tenant:?}");
    let secrets = SecretsManagerStore::new(&config, 1, Duration::ZERO).unwrap();
    let twilio = secrets.get("twilio-credentials/demo/repair-shop/twilio").await.unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(twilio.expose()).unwrap(),
        serde_json::json!({"account_sid": "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "auth_token": "NEW"})
    );
    let dead = queues.dlq_list(Channel::Sms, 10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].body, "not json");
    let back = queues.receive(Channel::Sms, 10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body, "{\"v\":1,\"outage\":true}");
}
