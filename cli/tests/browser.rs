//! The owner console in a real browser (issue 15): headless Chromium, driven through
//! chromedriver, against `comms serve` with the model and Twilio stand-ins. The owner
//! signs in with the demo admin key, switches to GYM and the next reply changes, takes a
//! conversation over and answers it (the text reaches the Twilio stub), hands it back,
//! replays a dead letter and opens the QR page. Every page visited is saved at 375 px and
//! 1280 px wide under `target/console-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/test installs them): without
//! them the test skips, or fails under `CI=true`.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

mod common;
#[path = "browser/driver.rs"]
mod driver;
#[path = "browser/model.rs"]
mod model;
#[path = "browser/stack.rs"]
mod stack;

use std::path::PathBuf;

use driver::Browser;
use model::{BOOKED_REPLY, GYM_REPLY, HANDOFF_REPLY, WORK_REPLY};
use stack::{COMPANY, OWNER_PHONE, PROJECT, Stack};

/// The customer of the flow, and one whose message is dead-lettered.
const CUSTOMER: &str = "+14155550142";
const UNLUCKY: &str = "+14155550143";

/// The screenshots docs/console.md shows (saved name → name under docs/console/),
/// copied there by a run with `COMMS_UPDATE_DOCS_SCREENSHOTS=1`.
const DOCS_SCREENSHOTS: [(&str, &str); 8] = [
    ("03-today-gym-375", "today-phone"),
    ("07-owner-replied-375", "conversation-phone"),
    ("11-bookings-375", "bookings-phone"),
    ("13-qr-375", "qr-phone"),
    ("15-dead-letters-375", "dead-letters-phone"),
    ("03-today-gym-1280", "today-desktop"),
    ("07-owner-replied-1280", "conversation-desktop"),
    ("15-dead-letters-1280", "dead-letters-desktop"),
];

/// `target/console-screenshots/{sub}`, its PNGs removed.
fn screenshots_dir(sub: &str) -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_owned();
    let dir = target.join("console-screenshots").join(sub);
    for entry in std::fs::read_dir(&dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "png") {
            std::fs::remove_file(path).unwrap();
        }
    }
    dir
}

/// The browser, or `None` (the test skips) when it is not installed and not under CI.
fn browser_or_skip() -> Option<driver::Installed> {
    let installed = driver::installed();
    if installed.is_none() {
        let hint = "Debian's chromium and chromium-driver are not installed (scripts/test installs them)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true: {hint}");
        eprintln!("skipping the browser test: {hint}");
    }
    installed
}

/// With `COMMS_UPDATE_DOCS_SCREENSHOTS=1`, copies [`DOCS_SCREENSHOTS`] from `shots`.
fn update_docs_screenshots(shots: &std::path::Path) {
    if std::env::var("COMMS_UPDATE_DOCS_SCREENSHOTS").as_deref() != Ok("1") {
        return;
    }
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
    std::fs::create_dir_all(&docs).unwrap();
    for (shot, name) in DOCS_SCREENSHOTS {
        std::fs::copy(shots.join(format!("{shot}.png")), docs.join(format!("{name}.png"))).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_runs_the_shop_from_the_console_in_a_real_browser() {
    let Some(installed) = browser_or_skip() else { return };
    let stack = Stack::start().await;
    let shots = screenshots_dir("");
    let browser = Browser::start(&installed, &stack.server.base_url, &shots, true).await;

    owner_signs_in_with_the_printed_key(&browser, &stack).await;
    gym_changes_the_next_reply(&browser, &stack).await;
    take_over_answer_and_hand_back(&browser, &stack).await;
    the_assistant_hands_over(&browser, &stack).await;
    booking_leads_and_cancel(&browser, &stack).await;
    qr_and_sign_out(&browser).await;
    operator_replays_a_dead_letter(&browser, &stack).await;
    browser.close().await;
    update_docs_screenshots(&shots);
}

/// The pages work without JavaScript (htmx never loads): sign in, switch the state, take
/// a conversation over and hand it back, as plain form posts and redirects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_without_javascript() {
    let Some(installed) = browser_or_skip() else { return };
    let stack = Stack::start().await;
    let b =
        Browser::start(&installed, &stack.server.base_url, &screenshots_dir("no-javascript"), false).await;
    stack.text(CUSTOMER, "SM0000000000000000000000000000c001", "Can you fix a cracked screen today?").await;
    assert_eq!(stack.wait_sent(CUSTOMER, 1).await, WORK_REPLY);

    b.open("/console").await;
    sign_in(&b, COMPANY, PROJECT, &stack.printed_admin_key().await).await;
    b.find("#current-state").await;
    let htmx = b.script("return typeof window.htmx;").await;
    assert_eq!(htmx, "undefined", "the page's scripts ran");
    b.click("#state-OFF").await;
    b.wait_text("#current-state", "OFF").await;
    b.shoot("today-off").await;

    b.open("/console/conversations").await;
    b.click("#conversation-list a").await;
    b.click("#takeover").await;
    b.find("#handback").await;
    b.shoot("taken-over").await;
    b.click("#handback").await;
    b.find("#takeover").await;
    b.close().await;
}

/// A newcomer opens the console URL `comms serve` printed and signs in with the demo
/// admin key it printed.
async fn owner_signs_in_with_the_printed_key(b: &Browser, stack: &Stack) {
    let url = stack.printed("console: ").await;
    assert_eq!(url, format!("{}/console", stack.server.base_url));
    b.open("/console").await;
    b.find("#sign-in-form").await;
    assert!(b.path().await.starts_with("/console/sign-in"), "{}", b.path().await);
    b.shoot("01-sign-in").await;
    sign_in(b, COMPANY, PROJECT, &stack.printed_admin_key().await).await;
    b.find("#current-state").await;
    assert!(b.path().await.starts_with("/console/today"), "{}", b.path().await);
}

async fn sign_in(b: &Browser, company: &str, project: &str, key: &str) {
    b.fill("#sign-in-form [name=company_id]", company).await;
    b.fill("#sign-in-form [name=project_id]", project).await;
    b.fill("#sign-in-form [name=key]", key).await;
    b.submit("#sign-in-form").await;
}

/// The customer texts while the owner works; the owner taps GYM; the customer's next text
/// is answered from the new state.
async fn gym_changes_the_next_reply(b: &Browser, stack: &Stack) {
    stack.text(CUSTOMER, "SM0000000000000000000000000000b001", "Can you fix a cracked screen today?").await;
    assert_eq!(stack.wait_sent(CUSTOMER, 1).await, WORK_REPLY);
    b.shoot("02-today").await;

    b.click("#state-GYM").await;
    b.wait_text("#current-state", "GYM").await;
    let says = b.text("#assistant-says").await;
    assert!(says.to_lowercase().contains("gym"), "what the assistant says now: {says:?}");
    b.shoot("03-today-gym").await;

    // The engine caches the owner's state this long (the console writes through the
    // router's stores, not the engine's cached one).
    tokio::time::sleep(comms_core::cached::OWNER_STATE_TTL).await;
    stack.text(CUSTOMER, "SM0000000000000000000000000000b002", "And tomorrow?").await;
    assert_eq!(stack.wait_sent(CUSTOMER, 2).await, GYM_REPLY);
}

/// The owner opens the conversation, takes it over (the customer's next text gets no
/// model call and no reply), answers personally, and hands it back.
async fn take_over_answer_and_hand_back(b: &Browser, stack: &Stack) {
    b.open("/console/conversations").await;
    b.find("#conversation-list a").await;
    b.shoot("04-conversations").await;
    b.click("#conversation-list a").await;
    b.wait_text("#transcript", GYM_REPLY).await;
    let conversation = b.path().await;
    b.shoot("05-conversation").await;

    b.click("#takeover").await;
    b.find("#handback").await;
    let calls = stack.model.requests();
    stack.text(CUSTOMER, "SM0000000000000000000000000000b003", "Can I talk to Sam directly?").await;
    // The turn ends with a note instead of a model call.
    let transcript = b.reload_until(&conversation, "#transcript", "taken over").await;
    assert!(transcript.contains("Can I talk to Sam directly?"), "{transcript}");
    assert_eq!(stack.model.requests(), calls, "a model call during the takeover");
    assert_eq!(stack.sent_to(CUSTOMER).len(), 2, "an assistant reply during the takeover");
    b.shoot("06-taken-over").await;

    let answer = "Hi, Sam here: bring it in at 4, I will do it myself.";
    b.fill("#reply-text", answer).await;
    b.click("#reply-send").await;
    assert_eq!(stack.wait_sent(CUSTOMER, 3).await, answer);
    b.reload_until(&conversation, "#transcript", answer).await;
    b.shoot("07-owner-replied").await;

    b.click("#handback").await;
    b.find("#takeover").await;
    b.shoot("08-handed-back").await;
    stack.text(CUSTOMER, "SM0000000000000000000000000000b004", "Thanks! Is 4 still fine?").await;
    assert_eq!(stack.wait_sent(CUSTOMER, 4).await, GYM_REPLY, "the assistant answers again");
}

/// The customer asks for a person: the assistant says the owner will answer, takes the
/// conversation over (`request_human`) and texts the owner a link, which opens the
/// conversation in the console; the owner hands it back.
async fn the_assistant_hands_over(b: &Browser, stack: &Stack) {
    stack.text(CUSTOMER, "SM0000000000000000000000000000b005", "Can I talk to a person please?").await;
    assert_eq!(stack.wait_sent(CUSTOMER, 5).await, HANDOFF_REPLY);
    let notice = stack.wait_sent(OWNER_PHONE, 1).await;
    assert!(!notice.contains(CUSTOMER), "the owner's text shows the full number: {notice:?}");
    let prefix = format!("{}/console/conversations/", stack.server.base_url);
    let link = notice.split_whitespace().find(|w| w.starts_with(&prefix));
    let link = link.unwrap_or_else(|| panic!("no link to the conversation in {notice:?}"));
    b.open(link.strip_prefix(&stack.server.base_url).unwrap()).await;
    b.wait_text("#transcript", "Can I talk to a person please?").await;
    b.find("#handback").await;
    b.shoot("09-handed-over-by-the-assistant").await;
    b.click("#handback").await;
    b.find("#takeover").await;
}

/// The customer books through the assistant; the owner sees the booking and the lead,
/// and cancels the booking: the customer gets a text and the slot is free again.
async fn booking_leads_and_cancel(b: &Browser, stack: &Stack) {
    stack.text(CUSTOMER, "SM0000000000000000000000000000b006", "Great, please book me in.").await;
    assert_eq!(stack.wait_sent(CUSTOMER, 6).await, BOOKED_REPLY);
    b.open("/console/leads").await;
    b.find(".lead-row").await;
    assert_eq!(b.find_all(".lead-row").await.len(), 1);
    b.shoot("10-leads").await;
    b.open("/console/bookings").await;
    b.find(".booking-row").await;
    assert_eq!(b.find_all(".booking-row").await.len(), 1);
    b.shoot("11-bookings").await;

    b.click_and_confirm(".booking-row button").await;
    b.find("#flash").await;
    let cancelled = stack.wait_sent(CUSTOMER, 7).await;
    assert!(cancelled.to_lowercase().contains("cancel"), "the customer's text: {cancelled:?}");
    assert!(b.find_all(".booking-row").await.is_empty());
    b.shoot("12-booking-cancelled").await;
}

async fn qr_and_sign_out(b: &Browser) {
    b.open("/console/qr").await;
    b.find("#qr-svg svg").await;
    b.shoot("13-qr").await;
    b.click("#sign-out").await;
    b.find("#sign-in-form").await;
    b.open("/console/today").await;
    b.find("#sign-in-form").await;
    assert!(b.path().await.starts_with("/console/sign-in"), "{}", b.path().await);
}

/// A message dead-lettered during a model outage is replayed by the operator from the
/// console, and answered.
async fn operator_replays_a_dead_letter(b: &Browser, stack: &Stack) {
    stack.model.set_outage(true);
    stack.text(UNLUCKY, "SM0000000000000000000000000000d001", "Do you repair tablets?").await;
    let every = std::time::Duration::from_millis(500);
    common::wait_for("the dead letter", driver::PATIENCE * 2, every, || stack.dead_letters().len() == 1)
        .await;
    stack.model.set_outage(false);

    b.open("/console/sign-in").await;
    sign_in(b, "", "", &stack.operator_key).await;
    b.find("#sign-out, #error-message").await;
    b.shoot("14-operator-signed-in").await;
    b.open("/console/dead-letters").await;
    b.find(".dlq-row").await;
    assert_eq!(b.find_all(".dlq-row").await.len(), 1);
    b.shoot("15-dead-letters").await;
    b.click("#replay-all-sms").await;
    b.find("#flash").await;
    b.shoot("16-replayed").await;
    assert_eq!(stack.wait_sent(UNLUCKY, 1).await, GYM_REPLY);
    assert!(stack.dead_letters().is_empty());
    b.click("#sign-out").await;
    b.find("#sign-in-form").await;
}
