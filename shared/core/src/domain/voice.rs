//! The voice channel's conversation rules, shared by the router (which answers Twilio's
//! call webhooks at once) and the voice processor (which answers each turn later by
//! updating the live call): greetings, the bounded hold loop, when a call ends, and the
//! verbs of each step. How the verbs are written for Twilio (TwiML, its size limit) is
//! the business of `twilio::twiml`: the domain never imports the wire format.

use super::OwnerMode;
use super::OwnerState;

/// One thing a live call does next; `twilio::twiml` writes them as TwiML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// Speaks `text`.
    Say(String),
    /// Listens for speech and posts the result to `action` (also when nothing was said),
    /// speaking `prompt` first (barge-in allowed).
    GatherSpeech { action: String, prompt: Option<String> },
    /// Waits `seconds`.
    Pause(u32),
    /// Fetches the next verbs from `url` (POST).
    Redirect(String),
    /// Ends the call.
    Hangup,
}

/// Hold-loop rounds of [`HOLD_PAUSE_SECS`] before the caller is asked to try again:
/// with Twilio's 15 s webhook limit never near, the caller waits at most about 20 s.
pub const MAX_HOLD_LOOPS: u32 = 8;
/// Seconds of each hold-loop pause.
pub const HOLD_PAUSE_SECS: u32 = 2;
/// Turns after which the assistant answers, says goodbye and hangs up.
pub const MAX_TURNS: u32 = 8;
/// The highest turn number a webhook may carry (anything above is not ours).
pub const TURN_LIMIT: u32 = 1000;

/// The longest answer spoken in one turn (about 40 seconds of speech).
pub const MAX_SPOKEN_CHARS: usize = 600;

/// `text` cut to at most `max` characters for speaking: whole sentences while they fit,
/// else whole words and an ellipsis.
pub fn speech_sized(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max {
        return text;
    }
    let mut out = String::new();
    for sentence in text.split_inclusive(['.', '!', '?']) {
        if out.chars().count() + sentence.chars().count() > max {
            break;
        }
        out.push_str(sentence);
    }
    if !out.trim().is_empty() {
        return out.trim().to_owned();
    }
    let mut words = String::new();
    for word in text.split(' ') {
        if words.chars().count() + word.chars().count() + 2 > max {
            break;
        }
        if !words.is_empty() {
            words.push(' ');
        }
        words.push_str(word);
    }
    format!("{words}…")
}

/// What the caller hears first: the business, and what the owner's state means for them.
pub fn greeting(business: &str, owner: &OwnerState) -> String {
    let middle = match owner.mode {
        OwnerMode::Gym => " The owner is at the gym right now, but I can check times and book you in.",
        OwnerMode::Off => " We're closed for today, but I can help you find a time.",
        OwnerMode::Vacation => " The owner is away on vacation, but I can help you book for when we're back.",
        OwnerMode::Work | OwnerMode::Custom(_) => "",
    };
    format!("Thanks for calling {business}.{middle} How can I help you today?")
}

/// Whether the caller is done ("bye", "that's all", ...).
pub fn is_goodbye(speech: &str) -> bool {
    let s = speech.to_lowercase();
    let words: Vec<&str> =
        s.split(|c: char| !c.is_alphanumeric() && c != '\'').filter(|w| !w.is_empty()).collect();
    words.iter().any(|w| matches!(*w, "bye" | "goodbye"))
        || ["that's all", "that is all", "hang up", "no thanks", "no thank you"].iter().any(|p| s.contains(p))
}

/// URLs of the voice routes under the public base URL.
pub fn gather_url(base: &str, turn: u32) -> String {
    format!("{base}/twilio/voice/gather?turn={turn}")
}

/// The hold loop's `n`-th round for `turn`.
pub fn wait_url(base: &str, turn: u32, n: u32) -> String {
    format!("{base}/twilio/voice/wait?turn={turn}&n={n}")
}

/// The greeting inside a speech `<Gather>` for turn 1.
pub fn welcome(base: &str, greeting: &str) -> Vec<Verb> {
    vec![Verb::GatherSpeech { action: gather_url(base, 1), prompt: Some(greeting.into()) }]
}

/// Asks again after silence (`empty=1` marks the one reprompt).
pub fn reprompt(base: &str, turn: u32) -> Vec<Verb> {
    vec![Verb::GatherSpeech {
        action: format!("{}&empty=1", gather_url(base, turn)),
        prompt: Some("Sorry, I didn't catch that. How can I help?".into()),
    }]
}

/// Ends the call politely.
pub fn goodbye(text: &str) -> Vec<Verb> {
    vec![Verb::Say(text.into()), Verb::Hangup]
}

/// Holds the caller while the turn is processed: a short filler, then the wait loop.
pub fn hold(base: &str, turn: u32) -> Vec<Verb> {
    vec![
        Verb::Say("One moment.".into()),
        Verb::Pause(HOLD_PAUSE_SECS),
        Verb::Redirect(wait_url(base, turn, 1)),
    ]
}

/// Round `n` of the hold loop: pause and come back, until [`MAX_HOLD_LOOPS`]; then ask
/// the caller to say it again (a new turn), so the loop always ends.
pub fn hold_round(base: &str, turn: u32, n: u32) -> Vec<Verb> {
    if n < MAX_HOLD_LOOPS {
        vec![Verb::Pause(HOLD_PAUSE_SECS), Verb::Redirect(wait_url(base, turn, n + 1))]
    } else {
        vec![Verb::GatherSpeech {
            action: gather_url(base, turn + 1),
            prompt: Some("Sorry, that's taking longer than it should. Could you say that again?".into()),
        }]
    }
}

/// The processor's answer to turn `turn`: the reply, then the next `<Gather>`, or a
/// goodbye and hang-up when the caller is done or the call reached [`MAX_TURNS`]. The
/// reply comes first, so a writer with a size limit shortens it and keeps the rest.
pub fn answer(base: &str, turn: u32, reply: &str, caller_said: &str) -> Vec<Verb> {
    if is_goodbye(caller_said) || turn >= MAX_TURNS {
        vec![Verb::Say(reply.into()), Verb::Say("Thanks for calling. Goodbye!".into()), Verb::Hangup]
    } else {
        vec![Verb::Say(reply.into()), Verb::GatherSpeech { action: gather_url(base, turn + 1), prompt: None }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goodbyes_are_recognised_and_other_speech_is_not() {
        for s in ["Okay bye!", "Goodbye.", "that's all, thanks", "No thank you"] {
            assert!(is_goodbye(s), "{s}");
        }
        for s in ["Can I book for Tuesday?", "bypass the queue", "byebye-less"] {
            assert!(!is_goodbye(s), "{s}");
        }
    }

    #[test]
    fn the_greeting_follows_the_owners_state() {
        let now = jiff::Timestamp::now();
        let mut owner = OwnerState::default_at(now);
        assert!(!greeting("Demo", &owner).contains("gym"));
        owner.mode = OwnerMode::Gym;
        assert!(greeting("Demo", &owner).contains("at the gym"));
    }

    #[test]
    fn long_answers_are_cut_at_sentences_then_words() {
        let text = "First one. Second sentence is here! Third?";
        assert_eq!(speech_sized(text, 100), text);
        assert_eq!(speech_sized(text, 40), "First one. Second sentence is here!");
        let cut = speech_sized(&"word ".repeat(300), 50);
        assert!(cut.ends_with('…') && cut.chars().count() <= 50, "{cut}");
    }

    #[test]
    fn the_hold_loop_ends() {
        let base = "https://x.example";
        let mut n = 1;
        while hold_round(base, 1, n).iter().any(|v| matches!(v, Verb::Redirect(_))) {
            n += 1;
            assert!(n <= MAX_HOLD_LOOPS, "loop did not end");
        }
    }
}
