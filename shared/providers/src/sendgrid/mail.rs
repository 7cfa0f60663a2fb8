//! The body of a SendGrid v3 Mail Send request for one reply: the text and a minimal,
//! escaped HTML alternative, the threading headers (`In-Reply-To`, `References`, a
//! `Re:` subject), RFC 8058 one-click unsubscribe headers, and a send id derived from the
//! reply so a resend would be recognisable (docs/decisions.md, "SendGrid outbound").

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The custom arg (and `X-Comms-Send-Id` header) naming the send; SendGrid echoes custom
/// args in every Event Webhook event about the mail.
pub const SEND_ID_ARG: &str = "comms_send_id";

/// One mail to one customer, addressed and threaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The tenant's address (`from`, and where replies go).
    pub from: String,
    /// The name shown with it (the business's name).
    pub from_name: String,
    pub to: String,
    /// The conversation's subject; `Re:` is added when the mail answers one.
    pub subject: String,
    /// The reply as the model wrote it (plain text).
    pub text: String,
    /// The Message-ID answered, if any (`<...>` or bare).
    pub in_reply_to: Option<String>,
    /// The thread's earlier Message-IDs, oldest first.
    pub references: Vec<String>,
    /// The signed one-click unsubscribe link (`.../email/unsubscribe?t=...`).
    pub unsubscribe_url: String,
    /// Tenant (`company_id`, `project_id`), echoed in delivery events.
    pub tenant: (String, String),
}

impl Mail {
    /// The same reply to the same mail always gets the same id: a resend is recognisable
    /// (in SendGrid's activity feed and in delivery events) as the same send.
    pub fn send_id(&self) -> String {
        let mut h = Sha256::new();
        for part in [&self.tenant.0, &self.tenant.1, &self.to, &self.subject, &self.text] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(self.in_reply_to.as_deref().unwrap_or_default().as_bytes());
        let digest = h.finalize();
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The subject, with `Re: ` when the mail answers one (never twice).
    pub fn subject_line(&self) -> String {
        let subject = one_line(&self.subject);
        let answered = self.in_reply_to.is_some();
        let has_re = subject.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:"));
        match (answered, has_re, subject.is_empty()) {
            (true, false, false) => format!("Re: {subject}"),
            (_, _, true) => "(no subject)".into(),
            _ => subject,
        }
    }

    /// The Mail Send request body.
    pub fn body(&self) -> Value {
        let send_id = self.send_id();
        json!({
            "personalizations": [{"to": [{"email": self.to}]}],
            "from": {"email": self.from, "name": one_line(&self.from_name)},
            "reply_to": {"email": self.from, "name": one_line(&self.from_name)},
            "subject": self.subject_line(),
            "content": [
                {"type": "text/plain", "value": self.text},
                {"type": "text/html", "value": html(&self.text, &self.unsubscribe_url)},
            ],
            "headers": self.headers(&send_id),
            "custom_args": {SEND_ID_ARG: send_id, "company_id": self.tenant.0, "project_id": self.tenant.1},
            // Click tracking would rewrite the unsubscribe link; open tracking adds a pixel
            // to a conversation. Neither belongs in a reply.
            "tracking_settings": {
                "click_tracking": {"enable": false, "enable_text": false},
                "open_tracking": {"enable": false},
            },
        })
    }

    fn headers(&self, send_id: &str) -> Value {
        let mut h = Map::new();
        let ids = self.thread();
        if let Some(parent) = self.in_reply_to.as_deref().map(angle) {
            h.insert("In-Reply-To".into(), parent.into());
        }
        if !ids.is_empty() {
            h.insert("References".into(), ids.join(" ").into());
        }
        h.insert("List-Unsubscribe".into(), format!("<{}>", one_line(&self.unsubscribe_url)).into());
        h.insert("List-Unsubscribe-Post".into(), "List-Unsubscribe=One-Click".into());
        h.insert("X-Comms-Send-Id".into(), send_id.into());
        Value::Object(h)
    }

    /// `References`: the thread's ids, then the answered one (RFC 5322 3.6.4), each once.
    fn thread(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for id in self.references.iter().chain(self.in_reply_to.as_ref()).map(|r| angle(r)) {
            if id != "<>" && !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

/// A header value on one line (a CR or LF would start a new header).
fn one_line(s: &str) -> String {
    s.split(['\r', '\n']).map(str::trim).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ")
}

/// A Message-ID in angle brackets, whatever the store kept.
fn angle(id: &str) -> String {
    let bare = one_line(id);
    let bare = bare.trim().trim_start_matches('<').trim_end_matches('>');
    format!("<{bare}>")
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The minimal HTML alternative: the text escaped, a paragraph per blank-line block, a
/// `<br>` per line break, and a small unsubscribe link.
pub fn html(text: &str, unsubscribe_url: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let paragraphs: String = text
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", escape(p).replace('\n', "<br>\n")))
        .collect();
    format!(
        "<!DOCTYPE html><html><body>{paragraphs}<p style=\"font-size:small;color:#666\">\
         <a href=\"{}\">Unsubscribe</a></p></body></html>",
        escape(&one_line(unsubscribe_url))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> Mail {
        Mail {
            from: "shop@repair.example".into(),
            from_name: "Fix-It Shop".into(),
            to: "jane@example.com".into(),
            subject: "Cracked screen".into(),
            text: "Hi Jane,\nwe can fix it <today> & tomorrow.\n\nBye".into(),
            in_reply_to: Some("CAB123@mail.gmail.com".into()),
            references: vec!["<CAA000@mail.gmail.com>".into()],
            unsubscribe_url: "https://comms.example/email/unsubscribe?t=abc".into(),
            tenant: ("acme".into(), "repairs".into()),
        }
    }

    #[test]
    fn html_is_escaped_paragraphs() {
        let h = html("a <b> & \"c\"\nd\n\ne", "https://x/u?t=1&y=2");
        assert!(h.contains("<p>a &lt;b&gt; &amp; &quot;c&quot;<br>\nd</p><p>e</p>"), "{h}");
        assert!(h.contains("href=\"https://x/u?t=1&amp;y=2\""), "{h}");
    }

    #[test]
    fn subject_gets_re_once() {
        let mut m = mail();
        assert_eq!(m.subject_line(), "Re: Cracked screen");
        m.subject = "RE: Cracked\r\nBcc: x@evil.example".into();
        assert_eq!(m.subject_line(), "RE: Cracked Bcc: x@evil.example");
        m.in_reply_to = None;
        m.subject = "Your repair".into();
        assert_eq!(m.subject_line(), "Your repair");
    }

    #[test]
    fn references_end_with_the_answered_id_once() {
        let mut m = mail();
        assert_eq!(m.thread(), ["<CAA000@mail.gmail.com>", "<CAB123@mail.gmail.com>"]);
        m.references.push("<CAB123@mail.gmail.com>".into());
        assert_eq!(m.thread().len(), 2);
    }

    #[test]
    fn the_send_id_is_stable_and_depends_on_the_reply() {
        let (a, mut b) = (mail(), mail());
        assert_eq!(a.send_id(), b.send_id());
        assert_eq!(a.send_id().len(), 32);
        b.text.push('!');
        assert_ne!(a.send_id(), b.send_id());
    }
}
