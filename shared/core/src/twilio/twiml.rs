//! TwiML for the voice channel: what a live call says and does next. Every answer is
//! built here, escaped, and kept within Twilio's 4000-character limit for call updates.

/// Twilio refuses a call update whose `Twiml` is longer than this.
pub const MAX_TWIML_CHARS: usize = 4000;

/// Escapes text for XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0 (tab and newlines are).
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

pub use crate::domain::voice::Verb;

/// A `<Response>` with voice settings for every `<Say>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Twiml {
    pub voice: Option<String>,
    pub language: Option<String>,
    pub verbs: Vec<Verb>,
}

impl Twiml {
    /// An empty response with the tenant's voice and language (Twilio's defaults when
    /// `None`).
    pub fn new(voice: Option<&str>, language: Option<&str>) -> Self {
        Self { voice: voice.map(str::to_owned), language: language.map(str::to_owned), verbs: Vec::new() }
    }

    /// Appends a verb.
    pub fn push(mut self, verb: Verb) -> Self {
        self.verbs.push(verb);
        self
    }

    /// Appends every verb of a step (`crate::domain::voice` builds them).
    pub fn extend(mut self, verbs: impl IntoIterator<Item = Verb>) -> Self {
        self.verbs.extend(verbs);
        self
    }

    fn say(&self, text: &str) -> String {
        let mut attrs = String::new();
        if let Some(v) = &self.voice {
            attrs.push_str(&format!(" voice=\"{}\"", escape(v)));
        }
        if let Some(l) = &self.language {
            attrs.push_str(&format!(" language=\"{}\"", escape(l)));
        }
        format!("<Say{attrs}>{}</Say>", escape(text))
    }

    /// The XML document.
    pub fn render(&self) -> String {
        let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#);
        for verb in &self.verbs {
            match verb {
                Verb::Say(text) => out.push_str(&self.say(text)),
                Verb::GatherSpeech { action, prompt } => {
                    let language = self.language.as_ref().map(|l| format!(" language=\"{}\"", escape(l)));
                    out.push_str(&format!(
                        r#"<Gather input="speech" speechTimeout="auto" actionOnEmptyResult="true" method="POST" action="{}"{}>"#,
                        escape(action),
                        language.unwrap_or_default()
                    ));
                    if let Some(p) = prompt {
                        out.push_str(&self.say(p));
                    }
                    out.push_str("</Gather>");
                }
                Verb::Pause(s) => out.push_str(&format!(r#"<Pause length="{s}"/>"#)),
                Verb::Redirect(url) => {
                    out.push_str(&format!(r#"<Redirect method="POST">{}</Redirect>"#, escape(url)))
                }
                Verb::Hangup => out.push_str("<Hangup/>"),
            }
        }
        out.push_str("</Response>");
        out
    }

    /// The document, with the first `<Say>` shortened (at a word boundary, with an
    /// ellipsis) until it fits `max` characters; `None` if even an empty text would not.
    pub fn render_within(&self, max: usize) -> Option<String> {
        let full = self.render();
        if full.chars().count() <= max {
            return Some(full);
        }
        let idx = self.verbs.iter().position(|v| matches!(v, Verb::Say(_)))?;
        let Verb::Say(text) = &self.verbs[idx] else { return None };
        let mut words: Vec<&str> = text.split_whitespace().collect();
        while !words.is_empty() {
            words.pop();
            let mut shorter = self.clone();
            shorter.verbs[idx] = Verb::Say(format!("{}…", words.join(" ")));
            let doc = shorter.render();
            if doc.chars().count() <= max {
                return Some(doc);
            }
        }
        None
    }
}

/// The TwiML of a live-call update: `verbs` in Twilio's default voice, within Twilio's
/// limit for call updates (the first `<Say>` shortened if needed); `None` if it cannot fit.
pub fn call_update(verbs: Vec<Verb>) -> Option<String> {
    Twiml::new(None, None).extend(verbs).render_within(MAX_TWIML_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_in_content_and_attributes() {
        let doc = Twiml::new(Some("Polly.Joanna"), None)
            .push(Verb::Say("Tom & Jerry's <shop>".into()))
            .push(Verb::Redirect("https://x.example/wait?turn=1&n=2".into()))
            .render();
        assert!(doc.contains("Tom &amp; Jerry&apos;s &lt;shop&gt;"), "{doc}");
        assert!(doc.contains("wait?turn=1&amp;n=2"), "{doc}");
        assert!(doc.contains(r#"<Say voice="Polly.Joanna">"#), "{doc}");
    }

    #[test]
    fn a_long_answer_is_cut_to_fit_the_limit() {
        let long = "word ".repeat(2000);
        let t = Twiml::new(None, None)
            .push(Verb::Say(long))
            .push(Verb::GatherSpeech { action: "https://x.example/g?turn=2".into(), prompt: None });
        let doc = t.render_within(MAX_TWIML_CHARS).unwrap();
        assert!(doc.chars().count() <= MAX_TWIML_CHARS);
        assert!(doc.contains("…</Say><Gather"), "the gather survives: {}", &doc[doc.len() - 200..]);
    }

    #[test]
    fn a_voice_answer_keeps_its_next_gather_within_the_limit() {
        let verbs = crate::domain::voice::answer("https://x.example", 1, &"word ".repeat(2000), "when?");
        let doc = call_update(verbs).unwrap();
        assert!(doc.chars().count() <= MAX_TWIML_CHARS);
        assert!(doc.contains("turn=2"), "{doc}");
    }
}
