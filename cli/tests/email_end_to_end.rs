//! Issue 16's "done when", black-box through the `comms` binary: `comms webhook email`
//! into `comms serve` (embedded, and `--backend aws` on moto), with the SendGrid stub
//! and an OpenAI stand-in: one threaded reply (Re: subject, In-Reply-To, References) per
//! mail, however often SendGrid delivers it; without SendGrid, the reply is in
//! `comms outbox`.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::local::{SHOP_EMAIL, email_tenant_file};
use common::{BIN, Server};
use comms_testkit::moto::Moto;
use comms_testkit::sendgrid::{AcceptedMail, SendGridStub};
use comms_testkit::{ModelStep, OpenAiStub};

const CUSTOMER_EMAIL: &str = "ann@example.org";
const SENDGRID_SECRET: &str = "email-credentials/demo/repair-shop/sendgrid";
const REPLY: &str = "Yes, we can fix it today.\nBring it in at 3pm.";

/// The environment of every `comms` call of one test: the stand-ins, and the backend's.
struct EmailEnv {
    vars: Vec<(&'static str, String)>,
    data_dir: tempfile::TempDir,
}

impl EmailEnv {
    /// OpenAI at the stand-in; SendGrid at the stub if given (else the local outbox).
    fn new(
        openai: &OpenAiStub,
        sendgrid: Option<&SendGridStub>,
        backend: Vec<(&'static str, String)>,
    ) -> Self {
        let mut vars = backend;
        vars.push(("OPENAI_API_KEY", "sk-test".to_owned()));
        vars.push(("OPENAI_BASE_URL", openai.base_url.clone()));
        vars.push(("COMMS_VISIBILITY_SECS", "2".to_owned()));
        vars.extend(sendgrid.map(|s| ("SENDGRID_API_BASE", s.base_url.clone())));
        Self { vars, data_dir: tempfile::tempdir().unwrap() }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--data-dir").arg(self.data_dir.path());
        c.env_remove("COMMS_PUBLIC_BASE_URL").env_remove("OPENAI_MODEL").env_remove("SENDGRID_API_BASE");
        c.env_remove("TWILIO_API_BASE").env_remove("COMMS_BACKEND");
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    fn comms(&self, args: &[&str]) -> Output {
        let out = self.command().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        out
    }

    /// The demo tenant receiving email at [`SHOP_EMAIL`], with a SendGrid API key.
    fn put_email_tenant(&self) {
        let file = email_tenant_file(self.data_dir.path());
        self.comms(&["tenant", "put", file.to_str().unwrap()]);
        self.comms(&["secrets", "put", SENDGRID_SECRET, r#"{"api_key":"SG.test-key"}"#]);
    }

    fn serve(&self, extra: &[&str]) -> Server {
        Server::start(self.command().args(["serve", "--listen", "127.0.0.1:0"]).args(extra), false)
    }

    /// `comms webhook email` with the Message-ID `message_id` (again: a redelivery).
    fn mail(&self, server: &Server, message_id: &str) -> String {
        let out = self.comms(&[
            "webhook",
            "email",
            "--base-url",
            &server.base_url,
            "--from",
            CUSTOMER_EMAIL,
            "--to",
            SHOP_EMAIL,
            "--subject",
            "Cracked screen",
            "--text",
            "Can you fix a cracked screen today?",
            "--message-id",
            message_id,
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

async fn wait_for(what: &str, done: impl FnMut() -> bool) {
    common::wait_for(what, Duration::from_secs(60), Duration::from_millis(200), done).await
}

/// The one mail the stub accepted, threaded under `parent`.
fn assert_one_threaded_reply(sendgrid: &SendGridStub, parent: &str) -> AcceptedMail {
    let accepted = sendgrid.accepted();
    assert_eq!(accepted.len(), 1, "{:?}", sendgrid.requests());
    let mail = &accepted[0].body;
    assert_eq!(mail["subject"], "Re: Cracked screen", "{mail}");
    assert_eq!(mail["personalizations"][0]["to"][0]["email"], CUSTOMER_EMAIL, "{mail}");
    assert_eq!(mail["from"]["email"], SHOP_EMAIL, "{mail}");
    let headers = &mail["headers"];
    assert_eq!(headers["In-Reply-To"], format!("<{parent}>"), "{mail}");
    assert!(headers["References"].as_str().unwrap().ends_with(&format!("<{parent}>")), "{mail}");
    assert!(headers["List-Unsubscribe"].as_str().unwrap().contains("/email/unsubscribe?t="), "{mail}");
    assert!(mail.to_string().contains("Bring it in at 3pm."), "{mail}");
    accepted[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_through_comms_serve_gets_one_threaded_reply_and_its_unsubscribe_link_works() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text(REPLY));
    let sendgrid = SendGridStub::start().await;
    let env = EmailEnv::new(&openai, Some(&sendgrid), Vec::new());
    env.put_email_tenant();
    let server = env.serve(&[]);

    // SendGrid delivers the same mail twice: one reply.
    for _ in 0..2 {
        assert!(env.mail(&server, "m1@mail.example.org").starts_with("204"));
    }
    wait_for("the reply", || !sendgrid.accepted().is_empty()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reply = assert_one_threaded_reply(&sendgrid, "m1@mail.example.org");
    assert_eq!(sendgrid.authorizations()[0], "Bearer SG.test-key");

    // The link in the reply is signed with the key `comms serve` made: one click opts
    // the customer out, and the next mail is not answered.
    let link =
        reply.body["headers"]["List-Unsubscribe"].as_str().unwrap().trim_matches(['<', '>']).to_owned();
    let resp = comms_testkit::http_client()
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{link}");
    assert!(env.mail(&server, "m2@mail.example.org").starts_with("204"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sendgrid.accepted().len(), 1, "an opted-out customer gets no reply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_sendgrid_the_threaded_reply_is_in_comms_outbox_once() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text(REPLY));
    let env = EmailEnv::new(&openai, None, Vec::new());
    env.put_email_tenant();
    let server = env.serve(&[]);
    for _ in 0..2 {
        assert!(env.mail(&server, "m1@mail.example.org").starts_with("204"));
    }
    let emails = || {
        let out = env.comms(&["outbox", "--json"]);
        let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        all.into_iter().filter(|m| m.get("email").is_some()).collect::<Vec<_>>()
    };
    wait_for("the reply in the outbox", || !emails().is_empty()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(emails().len(), 1, "{:?}", emails());

    let shown = String::from_utf8_lossy(&env.comms(&["outbox"]).stdout).into_owned();
    assert!(shown.contains(&format!("{SHOP_EMAIL} -> {CUSTOMER_EMAIL}")), "{shown}");
    assert!(shown.contains("  Subject: Re: Cracked screen\n"), "{shown}");
    assert!(shown.contains("  In-Reply-To: <m1@mail.example.org>\n"), "{shown}");
    assert!(shown.contains("  References: <m1@mail.example.org>\n"), "{shown}");
    assert!(shown.contains("  | Yes, we can fix it today.\n  | Bring it in at 3pm.\n"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_aws_path_a_mail_goes_through_the_email_queue_to_one_mail_send() {
    let Some(moto) = Moto::start().await else { return };
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text(REPLY));
    let sendgrid = SendGridStub::start().await;
    let env = EmailEnv::new(&openai, Some(&sendgrid), common::moto_env(&moto));
    // Queues, DLQs and table made (and the demo tenant seeded) by the server first.
    let server = env.serve(&["--create-resources"]);
    env.put_email_tenant();
    for _ in 0..2 {
        assert!(env.mail(&server, "m1@mail.example.org").starts_with("204"));
    }
    wait_for("the reply", || !sendgrid.accepted().is_empty()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_one_threaded_reply(&sendgrid, "m1@mail.example.org");

    // Through the email queue (now empty, nothing dead-lettered), into DynamoDB.
    let out = env.comms(&["queue", "stats", "--json"]);
    let stats: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let email = stats.iter().find(|r| r["channel"] == "email").unwrap();
    assert_eq!((email["depth"].as_u64(), email["dlq_depth"].as_u64()), (Some(0), Some(0)), "{stats:?}");
    let out = env.comms(&["conversation", "list", "--json"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"email\""), "{out:?}");
    // The stack's unsubscribe key, made by serve for this scratch prefix.
    let prefix = &env.vars.iter().find(|(k, _)| *k == "COMMS_QUEUE_PREFIX").unwrap().1;
    env.comms(&["secrets", "get", &format!("{prefix}/email/unsubscribe-key")]);
}
