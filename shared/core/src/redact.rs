//! Masking of personal data in texts that reach logs.

/// `text` (an error from a provider, say) with every run of 7 or more digits, a `+`
/// before it included, masked but for its last two digits: a phone number quoted in an
/// error message (Twilio's "The 'To' number +1415... is not valid") never reaches a log.
pub fn redact_digit_runs(text: &str) -> std::borrow::Cow<'_, str> {
    const MIN_RUN: usize = 7;
    let bytes = text.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i - start >= MIN_RUN {
                runs.push((start, i));
            }
        } else {
            i += 1;
        }
    }
    if runs.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in runs {
        // Digits are ASCII, so these are character boundaries.
        out.push_str(&text[last..start]);
        out.push_str(&"*".repeat(end - start - 2));
        out.push_str(&text[end - 2..end]);
        last = end;
    }
    out.push_str(&text[last..]);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_runs_are_masked() {
        let e = "send refused (21211): The 'To' number +14155550123 is not a valid phone number (wa 447700900123)";
        let out = redact_digit_runs(e);
        assert!(!out.contains("4155550123") && !out.contains("7700900123"), "{out}");
        assert!(out.contains("(21211)") && out.contains("+*********23"), "{out}");
        assert_eq!(redact_digit_runs("model: 500 upstream error"), "model: 500 upstream error");
    }
}
