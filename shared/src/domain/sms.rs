//! SMS segments: every segment is billed, so reply length is counted by code.
//!
//! GSM-7 messages hold 160 characters in one segment and 153 per segment when split
//! (extension characters such as `€` or `{` take two); anything outside GSM-7 is sent as
//! UCS-2: 70 UTF-16 units in one segment, 67 per segment when split.

/// Twilio refuses message bodies longer than this many characters.
pub const TWILIO_MAX_BODY_CHARS: usize = 1600;

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

/// How a text is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// The encoding and segment count of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentCount {
    pub encoding: Encoding,
    pub segments: usize,
}

fn gsm7_septets(text: &str) -> Option<usize> {
    text.chars().try_fold(0usize, |n, c| {
        if GSM7_BASIC.contains(c) {
            Some(n + 1)
        } else if GSM7_EXTENSION.contains(c) {
            Some(n + 2)
        } else {
            None
        }
    })
}

/// Counts the segments `text` is billed as.
pub fn count_segments(text: &str) -> SegmentCount {
    let (encoding, units, single, multi) = match gsm7_septets(text) {
        Some(septets) => (Encoding::Gsm7, septets, 160, 153),
        None => (Encoding::Ucs2, text.encode_utf16().count(), 70, 67),
    };
    let segments = if units <= single { 1 } else { units.div_ceil(multi) };
    SegmentCount { encoding, segments }
}

/// Sentence-ish pieces: split after `.`, `!`, `?` or a newline followed by white space.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(pos, c)) in chars.iter().enumerate() {
        let next_is_space = chars.get(i + 1).is_none_or(|&(_, n)| n.is_whitespace());
        if (matches!(c, '.' | '!' | '?') && next_is_space) || c == '\n' {
            let end = pos + c.len_utf8();
            out.push(&text[start..end]);
            start = end;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

/// Shortens `text` to at most `budget` segments, keeping whole sentences where possible;
/// a first sentence that alone is too long is cut at a word boundary with `…`.
pub fn fit_to_segments(text: &str, budget: usize) -> String {
    let text = text.trim();
    if count_segments(text).segments <= budget {
        return text.to_owned();
    }
    let mut kept = String::new();
    for s in sentences(text) {
        let candidate = format!("{kept}{s}");
        if count_segments(candidate.trim()).segments > budget {
            break;
        }
        kept = candidate;
    }
    if !kept.trim().is_empty() {
        return kept.trim().to_owned();
    }
    // No whole sentence fits: cut words until it does.
    let mut words: Vec<&str> = text.split_whitespace().collect();
    while !words.is_empty() {
        let candidate = format!("{}…", words.join(" "));
        if count_segments(&candidate).segments <= budget {
            return candidate;
        }
        words.pop();
    }
    String::new()
}

/// Splits a long text into messages of at most [`TWILIO_MAX_BODY_CHARS`] characters on
/// sentence boundaries (a sentence longer than that is split on words).
pub fn split_for_twilio(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let push_piece = |piece: &str, current: &mut String, parts: &mut Vec<String>| {
        if current.chars().count() + piece.chars().count() > TWILIO_MAX_BODY_CHARS && !current.is_empty() {
            parts.push(current.trim().to_owned());
            current.clear();
        }
        current.push_str(piece);
    };
    for s in sentences(text) {
        if s.chars().count() <= TWILIO_MAX_BODY_CHARS {
            push_piece(s, &mut current, &mut parts);
        } else {
            for w in s.split_inclusive(' ') {
                push_piece(w, &mut current, &mut parts);
            }
        }
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_owned());
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_gsm7_and_ucs2_segments() {
        assert_eq!(count_segments(&"a".repeat(160)), SegmentCount { encoding: Encoding::Gsm7, segments: 1 });
        assert_eq!(count_segments(&"a".repeat(161)).segments, 2);
        assert_eq!(count_segments(&"a".repeat(306)).segments, 2);
        assert_eq!(count_segments(&"a".repeat(307)).segments, 3);
        // Extension characters take two septets.
        assert_eq!(count_segments(&"€".repeat(80)).segments, 1);
        assert_eq!(count_segments(&"€".repeat(81)).segments, 2);
        // One emoji turns the whole message into UCS-2.
        let ucs = format!("{}😀", "a".repeat(68));
        assert_eq!(count_segments(&ucs), SegmentCount { encoding: Encoding::Ucs2, segments: 1 });
        assert_eq!(count_segments(&format!("{}😀", "a".repeat(69))).segments, 2);
        assert_eq!(count_segments("").segments, 1);
    }

    #[test]
    fn fits_whole_sentences_into_the_budget() {
        let s1 = format!("{}.", "a".repeat(150));
        let s2 = format!(" {}.", "b".repeat(150));
        let s3 = format!(" {}.", "c".repeat(150));
        let text = format!("{s1}{s2}{s3}");
        let fitted = fit_to_segments(&text, 2);
        assert_eq!(fitted, format!("{s1}{s2}"));
        assert!(count_segments(&fitted).segments <= 2);
        assert_eq!(fit_to_segments("Short one.", 1), "Short one.");
    }

    #[test]
    fn cuts_an_overlong_sentence_on_words() {
        let text = "word ".repeat(100);
        let fitted = fit_to_segments(&text, 1);
        assert!(fitted.ends_with('…'));
        assert!(count_segments(&fitted).segments <= 1);
    }

    #[test]
    fn splits_over_1600_characters_on_sentences() {
        let sentence = format!("{}. ", "x".repeat(99));
        let text = sentence.repeat(30); // 3000 characters
        let parts = split_for_twilio(&text);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.chars().count() <= TWILIO_MAX_BODY_CHARS && p.ends_with('.')));
        assert_eq!(split_for_twilio("Hi."), vec!["Hi."]);
    }
}
