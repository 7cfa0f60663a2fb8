//! Durability under group commit, black-box: concurrent signed webhooks into `comms
//! serve` (embedded store), a `kill -9` at a random moment while they arrive and turns
//! run, a restart on the same data folder: every webhook that got a 2xx is answered
//! exactly once, and nobody is answered twice.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use comms_core::ports::SecretStore;
use comms_core::twilio::{TwilioCredentials, signature};
use comms_sqlite::{Db, SqliteSecrets};
use comms_testkit::{ModelStep, OpenAiStub, TwilioStub};

mod common;

use common::{BIN, Server};

const SHOP: &str = "+15555550100";
const DEMO_TWILIO: &str = "twilio-credentials/demo/repair-shop/twilio";
const VISIBILITY_SECS: u64 = 3;
const WEBHOOKS: usize = 120;
const CLIENTS: usize = 8;

fn serve(dir: &Path, openai: &OpenAiStub, twilio: &TwilioStub) -> Server {
    let mut c = Command::new(BIN);
    c.arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--worker-concurrency", "32"])
        .env("OPENAI_API_KEY", "sk-test")
        .env("OPENAI_BASE_URL", &openai.base_url)
        .env("TWILIO_API_BASE", &twilio.base_url)
        .env("COMMS_VISIBILITY_SECS", VISIBILITY_SECS.to_string())
        .env("COMMS_RETRY_BUDGET_SECS", "1")
        .env_remove("COMMS_BACKEND")
        .env_remove("COMMS_PUBLIC_BASE_URL")
        .env_remove("COMMS_LISTEN")
        .env_remove("OPENAI_MODEL")
        .env_remove("TWILIO_AUTH_TOKEN");
    Server::start(&mut c, false)
}

async fn auth_token(dir: &Path) -> String {
    let secrets = SqliteSecrets::new(Db::open(&dir.join("comms.db")).unwrap());
    TwilioCredentials::load(&secrets as &dyn SecretStore, DEMO_TWILIO)
        .await
        .unwrap()
        .auth_token
        .expose()
        .to_owned()
}

fn customer(i: usize) -> String {
    format!("+1415666{i:04}")
}

/// Posts webhook `i`; true when the server answered 2xx (accepted it).
async fn post_sms(http: &reqwest::Client, url: &str, token: &str, i: usize) -> bool {
    let params: Vec<(String, String)> = [
        ("AccountSid", "AC00000000000000000000000000000000".to_owned()),
        ("Body", "Can you fix a cracked screen?".to_owned()),
        ("From", customer(i)),
        ("MessageSid", format!("SM{}", uuid::Uuid::new_v4().simple())),
        ("NumMedia", "0".to_owned()),
        ("To", SHOP.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let sent = http
        .post(url)
        .header("x-twilio-signature", signature::compute(token, url, &params))
        .form(&params)
        .send()
        .await;
    sent.is_ok_and(|r| r.status().is_success())
}

/// `CLIENTS` clients send `WEBHOOKS` webhooks, one customer each, until all are tried
/// (after the kill they fail to connect); returns the customers whose webhook got a 2xx.
fn send_all(url: String, token: String) -> tokio::task::JoinHandle<BTreeSet<String>> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let next = Arc::new(Mutex::new(0usize));
        let accepted = Arc::new(Mutex::new(BTreeSet::new()));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (http, url, token) = (http.clone(), url.clone(), token.clone());
                let (next, accepted) = (Arc::clone(&next), Arc::clone(&accepted));
                tokio::spawn(async move {
                    loop {
                        let i = {
                            let mut n = next.lock().unwrap();
                            *n += 1;
                            *n - 1
                        };
                        if i >= WEBHOOKS {
                            return;
                        }
                        if post_sms(&http, &url, &token, i).await {
                            accepted.lock().unwrap().insert(customer(i));
                        }
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        accepted.lock().unwrap().clone()
    })
}

fn sent_per_recipient(twilio: &TwilioStub) -> BTreeMap<String, usize> {
    let mut per = BTreeMap::new();
    for m in twilio.created() {
        *per.entry(m["to"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    per
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_group_commit_answers_every_accepted_webhook_once() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("Yes, we can fix that today."));
    let twilio = TwilioStub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &openai, &twilio);
    let token = auth_token(dir.path()).await;

    let sending = send_all(format!("{}/twilio/sms", server.base_url), token);
    // A random moment in the first few hundred milliseconds: webhooks arriving, turns
    // claimed, texts sent, records deleted, all at once.
    let kill_after = Duration::from_millis(20 + (uuid::Uuid::new_v4().as_u128() % 380) as u64);
    eprintln!("killing comms serve {} ms after the first webhook", kill_after.as_millis());
    tokio::time::sleep(kill_after).await;
    server.kill_9();
    let accepted = sending.await.unwrap();
    eprintln!("{} webhooks accepted before the kill", accepted.len());

    let again = serve(dir.path(), &openai, &twilio);
    let limit = Duration::from_secs(40 * VISIBILITY_SECS);
    common::wait_for("every accepted webhook answered", limit, Duration::from_millis(50), || {
        let per = sent_per_recipient(&twilio);
        accepted.iter().all(|c| per.contains_key(c))
    })
    .await;
    // A record still in flight (or a turn taken over) would show within two timeouts.
    tokio::time::sleep(Duration::from_secs(2 * VISIBILITY_SECS)).await;
    drop(again);
    let per = sent_per_recipient(&twilio);
    let twice: Vec<_> = per.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "answered more than once: {twice:?}");
    let missing: Vec<_> = accepted.iter().filter(|c| !per.contains_key(*c)).collect();
    assert!(missing.is_empty(), "accepted but never answered: {missing:?}");
}
