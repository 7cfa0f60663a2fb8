//! The text of an email turn: the reply cut to the tenant's length cap (at a sentence or
//! a word, never inside one), the reply's subject and threading headers, and the subject
//! and body of an opening the model wrote.

use std::collections::BTreeMap;

use comms_core::domain::tenant::{DEFAULT_MAX_REPLY_CHARS, TenantConfig};
use comms_core::domain::{Envelope, Kind};
use comms_core::ports::ConversationItem;

use super::compose::Composed;

/// The key, in a step's `template` map, under which an email turn keeps the subject it
/// composed (an opening, a direct send): a resumed `Sending` sends the same subject. An
/// answer needs none: its subject and thread come from the customer's mail.
pub const SUBJECT_KEY: &str = "email_subject";

/// The subject stored with a step.
pub fn subject_vars(subject: String) -> BTreeMap<String, String> {
    BTreeMap::from([(SUBJECT_KEY.to_owned(), subject)])
}

/// The subject and threading of a mail: `(subject, in_reply_to, references)`.
pub type Thread = (String, Option<String>, Vec<String>);

/// What the mail answers and how it threads: for a customer's mail, `Re: <subject>` (no
/// `Re: Re:`), their Message-ID, and their References followed by that id; else the
/// subject stored with the step, or `Message from <from_name>`.
pub fn thread(env: &Envelope, vars: Option<&BTreeMap<String, String>>, from_name: &str) -> Thread {
    let composed = vars.and_then(|v| v.get(SUBJECT_KEY)).filter(|s| !s.trim().is_empty());
    let fallback = || format!("Message from {}", from_name.trim());
    match (env.kind(), env.email_meta()) {
        (Kind::Inbound, Some(meta)) => {
            let subject = reply_subject(&meta.subject).unwrap_or_else(fallback);
            let mut references: Vec<String> = Vec::new();
            for id in meta.references.iter().chain(std::iter::once(&meta.message_id)) {
                if !id.trim().is_empty() && !references.contains(id) {
                    references.push(id.clone());
                }
            }
            (subject, Some(meta.message_id.clone()), references)
        }
        _ => (composed.map_or_else(fallback, |s| one_line(s)), None, Vec::new()),
    }
}

/// `Re: <subject>`, once: `None` for an empty subject.
pub fn reply_subject(subject: &str) -> Option<String> {
    let subject = one_line(subject);
    let is_re = subject.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:"));
    match subject.as_str() {
        "" => None,
        _ if is_re => Some(format!("Re: {}", subject[3..].trim_start())),
        _ => Some(format!("Re: {subject}")),
    }
}

/// A header value on one line, spaces collapsed.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text`, trimmed, within `max` characters: whole when it fits, else cut after the
/// last sentence that fits (when that keeps at least half), else after the last whole
/// word with an ellipsis. A single word longer than `max` is the only thing ever cut.
pub fn fit_to_chars(text: &str, max: usize) -> String {
    let (text, max) = (text.trim(), max.max(1));
    if text.chars().count() <= max {
        return text.to_owned();
    }
    // The byte offset after the first `n` characters.
    let at = |n: usize| text.char_indices().nth(n).map_or(text.len(), |(i, _)| i);
    let (head, rest) = text.split_at(at(max));
    let ends_sentence = |i: usize, c: char| {
        let after = head[i + c.len_utf8()..].chars().next().or_else(|| rest.chars().next());
        matches!(c, '.' | '!' | '?' | '\n') && after.is_none_or(char::is_whitespace)
    };
    let sentence = head.char_indices().rfind(|&(i, c)| ends_sentence(i, c)).map(|(i, c)| i + c.len_utf8());
    if let Some(cut) = sentence.filter(|&i| head[..i].chars().count() * 2 >= max) {
        return head[..cut].trim_end().to_owned();
    }
    // One character less, for the ellipsis.
    let (head, rest) = text.split_at(at(max - 1));
    let words = match rest.starts_with(char::is_whitespace) {
        true => Some(head),
        false => head.rfind(char::is_whitespace).map(|i| &head[..i]),
    };
    match words.map(str::trim_end).filter(|w| !w.is_empty()) {
        Some(words) => format!("{words}…"),
        None => format!("{head}…"),
    }
}

/// The subject and body of an opening the model wrote, asked for as a `Subject:` line,
/// a blank line and the body. Also read: a JSON object `{"subject", "body"}`, a code
/// fence around either, a bold or heading `Subject` label. No subject line: `None`, and
/// the whole text is the body.
pub fn split_opening(text: &str) -> (Option<String>, String) {
    let text = text.trim();
    let unfenced = text.strip_prefix("```").map_or(text, |t| {
        let t = t.strip_prefix("json").unwrap_or(t);
        t.strip_suffix("```").unwrap_or(t).trim()
    });
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(unfenced) {
        let field = |k: &str| v.get(k).and_then(|s| s.as_str()).map(str::trim).filter(|s| !s.is_empty());
        if let Some(body) = field("body").or_else(|| field("message")) {
            return (field("subject").map(one_line), body.to_owned());
        }
    }
    let mut lines = unfenced.lines();
    let first = lines.by_ref().find(|l| !l.trim().is_empty()).unwrap_or_default();
    let label = first.trim().trim_start_matches(['#', '*', ' ']);
    let subject = label
        .get(..8)
        .filter(|p| p.eq_ignore_ascii_case("subject:"))
        .map(|_| one_line(label[8..].trim_start_matches('*').trim()))
        .filter(|s| !s.is_empty());
    match subject {
        Some(subject) => {
            let body = lines.collect::<Vec<_>>().join("\n");
            let body = body.trim();
            let body = body.strip_prefix("Body:").or_else(|| body.strip_prefix("body:")).unwrap_or(body);
            (Some(subject), body.trim().to_owned())
        }
        None => (None, unfenced.to_owned()),
    }
}

/// The tenant's email length cap, in characters.
pub(super) fn max_chars(tenant: &TenantConfig) -> usize {
    let max = tenant.email.as_ref().map_or(DEFAULT_MAX_REPLY_CHARS, |e| e.max_reply_chars);
    usize::try_from(max).unwrap_or(usize::MAX)
}

/// What the model is asked for an email's first message: its subject and body, in one
/// answer ([`split_opening`] reads it).
pub(super) fn opening_ask(name: &str, project_data: &serde_json::Value) -> String {
    format!(
        "Write the first email of a new conversation to {name}, who agreed to be contacted. Project \
         details: {project_data}. Answer in exactly this form: a first line 'Subject: ' followed by a \
         short subject, then a blank line, then the email's body as plain text."
    )
}

/// An email opening: the model's subject (else the sender's name), kept with the step so
/// a resumed send uses the same one, and the body fitted to the tenant's cap.
pub(super) fn opening(tenant: &TenantConfig, text: &str, started: ConversationItem) -> Composed {
    let (subject, body) = split_opening(text);
    let sender =
        || tenant.email.as_ref().map_or_else(|| tenant.company_name.clone(), |e| e.from_name.clone());
    let subject = fit_to_chars(&subject.unwrap_or_else(sender), MAX_SUBJECT_CHARS);
    let body = match fit_to_chars(&body, max_chars(tenant)) {
        body if body.is_empty() => format!("Hello from {}.", sender()),
        body => body,
    };
    (body, Some(subject_vars(subject)), vec![started])
}

/// Longest subject the model may set (mail clients show about 60; RFC 5322 lines 78).
const MAX_SUBJECT_CHARS: usize = 120;

#[cfg(test)]
#[path = "email_text_tests.rs"]
mod tests;
