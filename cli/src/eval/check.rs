//! The checker: a scenario's expectations against what the engine did (the replies sent
//! and the tool calls with their results, read back from the conversation log). Pure:
//! no I/O, so every expectation is unit-tested on hand-made observations.

use serde::Serialize;
use serde_json::Value;

use super::scenario::{Expect, ToolExpect, ToolRef};
use comms_core::domain::sms::count_segments;

/// What one customer message led to.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TurnObserved {
    pub customer: String,
    /// The reply sent, if any.
    pub reply: Option<String>,
    /// The tool calls of the turn, in order, with what each answered.
    pub calls: Vec<ObservedCall>,
    /// Why the turn failed or sent nothing (suppressed, error), if so.
    pub note: Option<String>,
}

/// A tool call the model made, and its result.
#[derive(Debug, Clone, Serialize)]
pub struct ObservedCall {
    pub name: String,
    pub args: Value,
    pub result: Value,
}

/// One expectation's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// `turn 2` or `conversation`.
    pub scope: String,
    pub expectation: String,
    pub passed: bool,
    /// Why it failed (what was seen instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// The lead id a booking returns, as quoted in a reply.
const LEAD_ID: &str = r"LEAD-\d{8}-\d{6}-[A-Z0-9]{6}";

/// Checks `expect` on `turns` (one turn, or the whole conversation) under `scope`.
pub fn check(expect: &Expect, scope: &str, turns: &[&TurnObserved]) -> Vec<Verdict> {
    let seen = Seen::of(turns);
    let mut out = Vec::new();
    let mut add = |expectation: String, result: Result<(), String>| {
        out.push(Verdict { scope: scope.to_owned(), expectation, passed: result.is_ok(), why: result.err() });
    };
    for t in &expect.tools_called {
        add(format!("calls {}{}", t.name, describe_args(t)), seen.called(t));
    }
    for t in &expect.tools_not_called {
        match t {
            ToolRef::Name(name) => add(format!("does not call {name}"), seen.not_called(name)),
            ToolRef::With(t) => {
                add(format!("does not call {}{}", t.name, describe_args(t)), seen.not_called_with(t))
            }
        }
    }
    for s in &expect.reply_contains {
        add(format!("reply contains \"{s}\""), seen.contains(std::slice::from_ref(s)));
    }
    if !expect.reply_contains_any.is_empty() {
        add(
            format!("reply contains one of {:?}", expect.reply_contains_any),
            seen.contains(&expect.reply_contains_any),
        );
    }
    for s in &expect.reply_not_contains {
        add(format!("reply does not contain \"{s}\""), seen.lacks(s));
    }
    for r in &expect.reply_matches {
        add(format!("reply matches /{r}/"), seen.matches(r, true));
    }
    for r in &expect.reply_not_matches {
        add(format!("reply does not match /{r}/"), seen.matches(r, false));
    }
    if let Some(n) = expect.max_segments {
        add(format!("reply fits {n} SMS segment(s)"), seen.segments(n));
    }
    if let Some(none) = expect.no_reply {
        let what = if none { "no reply sent" } else { "a reply sent" };
        add(what.to_owned(), seen.reply_sent(!none));
    }
    if let Some(wanted) = expect.handoff {
        add(format!("handed to the owner: {wanted}"), seen.handoff(wanted));
    }
    if expect.lead_id == Some(true) {
        add("reply quotes the booking's lead id".to_owned(), seen.lead_id());
    }
    out
}

fn describe_args(t: &ToolExpect) -> String {
    if t.args.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = t.args.iter().map(|(k, v)| format!("{k} {}", describe_constraint(v))).collect();
    format!(" with {}", parts.join(", "))
}

fn describe_constraint(c: &Value) -> String {
    match c.as_object().filter(|o| o.keys().all(|k| OPS.contains(&k.as_str()))) {
        Some(ops) => ops.iter().map(|(op, v)| format!("{op} {v}")).collect::<Vec<_>>().join(" and "),
        None => format!("= {c}"),
    }
}

const OPS: [&str; 8] = ["=", "!=", "<", "<=", ">", ">=", "matches", "present"];

/// Checks one argument against a constraint: a value to equal, or operators.
pub fn arg_satisfies(value: Option<&Value>, constraint: &Value) -> Result<(), String> {
    let Some(ops) = constraint.as_object().filter(|o| o.keys().all(|k| OPS.contains(&k.as_str()))) else {
        return op(value, "=", constraint);
    };
    ops.iter().try_for_each(|(name, operand)| op(value, name, operand))
}

fn op(value: Option<&Value>, name: &str, operand: &Value) -> Result<(), String> {
    let shown = value.map_or("absent".to_owned(), Value::to_string);
    let fail = || Err(format!("is {shown}, not {name} {operand}"));
    if name == "present" {
        return if value.is_some() == (operand == &Value::Bool(true)) { Ok(()) } else { fail() };
    }
    let Some(v) = value else { return fail() };
    let ok = match name {
        "=" => same(v, operand),
        "!=" => !same(v, operand),
        "matches" => {
            let re = regex(operand.as_str().unwrap_or_default())?;
            v.as_str().is_some_and(|s| re.is_match(s))
        }
        _ => match (number(v), operand.as_f64()) {
            (Some(a), Some(b)) => match name {
                "<" => a < b,
                "<=" => a <= b,
                ">" => a > b,
                _ => a >= b,
            },
            _ => false,
        },
    };
    if ok { Ok(()) } else { fail() }
}

/// A number, or a string holding one (models sometimes quote numbers).
fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().trim_end_matches('%').parse().ok()))
}

fn same(a: &Value, b: &Value) -> bool {
    match (number(a), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b || a.as_str().zip(b.as_str()).is_some_and(|(x, y)| x.eq_ignore_ascii_case(y)),
    }
}

fn regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(true)
        .build()
        .map_err(|e| format!("bad regular expression in the scenario: {e}"))
}

/// The replies and calls under check.
struct Seen<'a> {
    replies: Vec<&'a str>,
    calls: Vec<&'a ObservedCall>,
    notes: Vec<&'a str>,
}

impl<'a> Seen<'a> {
    fn of(turns: &[&'a TurnObserved]) -> Self {
        Self {
            replies: turns.iter().filter_map(|t| t.reply.as_deref()).collect(),
            calls: turns.iter().flat_map(|t| &t.calls).collect(),
            notes: turns.iter().filter_map(|t| t.note.as_deref()).collect(),
        }
    }

    fn text(&self) -> String {
        self.replies.join("\n")
    }

    /// What the reply was, for a failure message.
    fn shown(&self) -> String {
        if self.replies.is_empty() {
            let why =
                if self.notes.is_empty() { String::new() } else { format!(" ({})", self.notes.join("; ")) };
            return format!("no reply was sent{why}");
        }
        let text = self.text().replace('\n', " / ");
        match text.char_indices().nth(160) {
            Some((cut, _)) => format!("reply was \"{}...\"", &text[..cut]),
            None => format!("reply was \"{text}\""),
        }
    }

    fn names(&self) -> String {
        if self.calls.is_empty() {
            return "no tool was called".into();
        }
        let names: Vec<&str> = self.calls.iter().map(|c| c.name.as_str()).collect();
        format!("called: {}", names.join(", "))
    }

    fn not_called_with(&self, t: &ToolExpect) -> Result<(), String> {
        let meets =
            |c: &&&ObservedCall| t.args.iter().all(|(k, con)| arg_satisfies(c.args.get(k), con).is_ok());
        match self.calls.iter().filter(|c| c.name == t.name).find(meets) {
            None => Ok(()),
            Some(c) => Err(format!("{} was called with {} (answered {})", t.name, c.args, c.result)),
        }
    }

    fn called(&self, t: &ToolExpect) -> Result<(), String> {
        let same_name: Vec<&&ObservedCall> = self.calls.iter().filter(|c| c.name == t.name).collect();
        if same_name.is_empty() {
            return Err(format!("{} was not called ({})", t.name, self.names()));
        }
        let mut last = String::new();
        for call in same_name {
            let failed = t
                .args
                .iter()
                .find_map(|(k, c)| arg_satisfies(call.args.get(k), c).err().map(|e| format!("{k} {e}")));
            match failed {
                None => return Ok(()),
                Some(why) => last = format!("{} was called with {}: {why}", t.name, call.args),
            }
        }
        Err(last)
    }

    fn not_called(&self, name: &str) -> Result<(), String> {
        match self.calls.iter().find(|c| c.name == name) {
            None => Ok(()),
            Some(c) => Err(format!("{name} was called with {} (answered {})", c.args, c.result)),
        }
    }

    fn contains(&self, any_of: &[String]) -> Result<(), String> {
        let text = self.text().to_lowercase();
        if any_of.iter().any(|s| text.contains(&s.to_lowercase())) { Ok(()) } else { Err(self.shown()) }
    }

    fn lacks(&self, s: &str) -> Result<(), String> {
        if self.text().to_lowercase().contains(&s.to_lowercase()) { Err(self.shown()) } else { Ok(()) }
    }

    fn matches(&self, pattern: &str, wanted: bool) -> Result<(), String> {
        if regex(pattern)?.is_match(&self.text()) == wanted { Ok(()) } else { Err(self.shown()) }
    }

    fn segments(&self, most: usize) -> Result<(), String> {
        match self.replies.iter().map(|r| count_segments(r).segments).max() {
            Some(n) if n > most => Err(format!("{n} segments: {}", self.shown())),
            _ => Ok(()),
        }
    }

    fn reply_sent(&self, wanted: bool) -> Result<(), String> {
        if self.replies.is_empty() != wanted { Ok(()) } else { Err(self.shown()) }
    }

    fn handoff(&self, wanted: bool) -> Result<(), String> {
        let handed = self.calls.iter().any(|c| c.name == "request_human" && c.result["handed_over"] == true);
        if handed == wanted {
            return Ok(());
        }
        match self.calls.iter().find(|c| c.name == "request_human") {
            Some(c) => Err(format!("request_human answered {}", c.result)),
            None => Err(format!("request_human was not called ({})", self.names())),
        }
    }

    fn lead_id(&self) -> Result<(), String> {
        let booked: Vec<&str> = self
            .calls
            .iter()
            .filter(|c| c.name == "book_slot")
            .filter_map(|c| c.result["lead_id"].as_str())
            .collect();
        if booked.is_empty() {
            return Err(format!("no booking was made ({})", self.names()));
        }
        let text = self.text();
        if booked.iter().any(|id| text.contains(id)) && regex(LEAD_ID)?.is_match(&text) {
            Ok(())
        } else {
            Err(format!("booked {} but {}", booked.join(", "), self.shown()))
        }
    }
}
