//! What the model sees of a reply: the customer's new text, without the quoted earlier
//! messages and the signature under it. Recognises the reply formats of the common clients
//! (Gmail's and Apple Mail's "On ... wrote:", Outlook's "-----Original Message-----" and
//! "From: ... Sent: ..." header block, "> " quoting) and the signature conventions ("-- ",
//! "Sent from my iPhone", "Get Outlook for ..."). The raw text is kept elsewhere.

/// The new text of a reply. If stripping would leave nothing (a reply that is all quote),
/// the whole text is kept, trimmed, so the message is never silently empty.
pub fn strip_reply(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.lines().collect();
    let end = (0..lines.len())
        .find(|&i| starts_quote(&lines, i) || starts_signature(lines[i]))
        .unwrap_or(lines.len());
    let kept: Vec<&str> = lines[..end].iter().copied().filter(|l| !l.trim_start().starts_with('>')).collect();
    let stripped = tidy(&kept);
    if stripped.is_empty() { tidy(&lines) } else { stripped }
}

/// Lines trimmed at the end, runs of blank lines collapsed, blank lines at both ends dropped.
fn tidy(lines: &[&str]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for line in lines.iter().map(|l| l.trim_end()) {
        if line.is_empty() && out.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        out.push(line);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.join("\n")
}

/// Whether line `i` opens the quoted earlier message.
fn starts_quote(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim();
    let next = lines.get(i + 1).map_or("", |l| l.trim());
    attribution(line, next) || original_message(line) || outlook_header(lines, i)
}

/// Gmail "On Mon, 1 Dec 2026 at 10:02, Name <a@b> wrote:" and Apple Mail "On Dec 1, 2026,
/// at 10:02 AM, Name <a@b> wrote:", which clients may wrap onto a second line.
fn attribution(line: &str, next: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    if !lower.starts_with("on ") {
        return false;
    }
    lower.ends_with("wrote:") || (lower.len() > 20 && next.to_ascii_lowercase().ends_with("wrote:"))
}

/// Outlook's plain-text separator, and the underscore rule Outlook puts above its headers.
fn original_message(line: &str) -> bool {
    let bare = line.trim_matches(|c: char| c == '-' || c.is_whitespace()).to_ascii_lowercase();
    (line.starts_with("-----") && bare == "original message")
        || (line.len() >= 20 && line.chars().all(|c| c == '_'))
}

/// Outlook's header block: "From: ..." followed within three lines by "Sent: " or "Date: "
/// (and a "To:" or "Subject:"), the way it introduces the message replied to.
fn outlook_header(lines: &[&str], i: usize) -> bool {
    if !has_label(lines[i], &["from:"]) {
        return false;
    }
    let block = &lines[i + 1..(i + 5).min(lines.len())];
    block.iter().any(|l| has_label(l, &["sent:", "date:"]))
        && block.iter().any(|l| has_label(l, &["to:", "subject:"]))
}

fn has_label(line: &str, labels: &[&str]) -> bool {
    let lower = line.trim_start().trim_start_matches('*').to_ascii_lowercase();
    labels.iter().any(|l| lower.starts_with(l))
}

/// The usual signature openers: the "-- " delimiter and the mobile clients' taglines.
fn starts_signature(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed == "--"
        || trimmed == "—"
        || [
            "Sent from my ",
            "Sent from Outlook",
            "Get Outlook for ",
            "Sent from Mail for ",
            "Sent from Yahoo Mail",
        ]
        .iter()
        .any(|p| trimmed.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gmail_reply_keeps_only_the_new_text() {
        let text = "Yes, Thursday works.\r\n\r\nThanks!\r\n\r\nOn Mon, 1 Dec 2026 at 10:02, Fix It Shop <\r\nshop@example.com> wrote:\r\n\r\n> Can you come Thursday?\r\n";
        assert_eq!(strip_reply(text), "Yes, Thursday works.\n\nThanks!");
    }

    #[test]
    fn signatures_and_taglines_are_dropped() {
        assert_eq!(strip_reply("See you then\n-- \nJane Doe\nACME"), "See you then");
        assert_eq!(strip_reply("Ok\n\nSent from my iPhone\n\n> On Dec 1 ... wrote:"), "Ok");
        assert_eq!(strip_reply("Fine\nGet Outlook for Android"), "Fine");
    }

    #[test]
    fn outlook_headers_and_separators_start_the_quote() {
        let block = "Tuesday please\n\nFrom: Fix It Shop <shop@example.com>\nSent: Monday, December 1, 2026 10:02 AM\nTo: Jane <jane@example.org>\nSubject: RE: Repair\n\nCan you come?";
        assert_eq!(strip_reply(block), "Tuesday please");
        assert_eq!(strip_reply("Tuesday\n-----Original Message-----\nFrom: x"), "Tuesday");
        assert_eq!(strip_reply("Tuesday\n________________________________\nFrom: x"), "Tuesday");
        // A line that merely starts with "From:" is the customer's own text.
        assert_eq!(strip_reply("From: my office, I can call you."), "From: my office, I can call you.");
    }

    #[test]
    fn inline_quotes_are_dropped_and_an_all_quote_reply_is_kept() {
        assert_eq!(strip_reply("> When?\nTomorrow\n> Where?\nHere"), "Tomorrow\nHere");
        assert_eq!(strip_reply("> only a quote\n"), "> only a quote");
        assert_eq!(strip_reply(""), "");
    }
}
