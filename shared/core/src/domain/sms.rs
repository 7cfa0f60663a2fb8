//! SMS segments: every segment is billed, so reply length is counted by code.
//!
//! GSM-7 messages hold 160 characters in one segment and 153 per segment when split
//! (extension characters such as `€` or `{` take two); anything outside GSM-7 is sent as
//! UCS-2: 70 UTF-16 units in one segment, 67 per segment when split. One curly quote
//! would turn a whole reply into UCS-2, so replies first go through [`smart_encode`],
//! the replacements Twilio's Smart Encoding makes (’ → ', “ → ", – → -, … → ...).

use super::smart_encoding::SMART_ENCODING;

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

/// Replaces characters outside GSM-7 that have a GSM-7 look-alike (curly quotes, dashes,
/// `…`, odd spaces, fullwidth forms: Twilio's Smart Encoding table), so that a reply is
/// counted and sent as GSM-7 when nothing else in it needs UCS-2.
pub fn smart_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match SMART_ENCODING.iter().find(|(from, _)| *from == c) {
            Some((_, to)) => out.push_str(to),
            None => out.push(c),
        }
    }
    out
}

/// What a cut reply ends with (GSM-7, unlike `…`).
const ELLIPSIS: &str = "...";

/// Shortens `text` (after [`smart_encode`]) to at most `budget` segments, keeping whole
/// sentences where possible. A first sentence that alone is too long is cut at the last
/// word boundary that fits, with `...`; if even its first word does not fit (a long URL,
/// text without spaces), it is cut at the last character that fits, with `...`. The
/// result is empty only when `text` is blank.
pub fn fit_to_segments(text: &str, budget: usize) -> String {
    let encoded = smart_encode(text);
    let text = encoded.trim();
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
    let first = words.first().copied().unwrap_or_default();
    while !words.is_empty() {
        let candidate = format!("{}{ELLIPSIS}", words.join(" "));
        if count_segments(&candidate).segments <= budget {
            return candidate;
        }
        words.pop();
    }
    // Not even the first word fits: cut it at the last character that does (a segment
    // holds at most 160 characters, so longer prefixes need not be tried).
    let mut prefix: String = first.chars().take(budget.saturating_mul(160)).collect();
    while !prefix.is_empty() {
        let candidate = format!("{prefix}{ELLIPSIS}");
        if count_segments(&candidate).segments <= budget {
            return candidate;
        }
        prefix.pop();
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
        assert!(fitted.ends_with("..."));
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

    // Vectors from Twilio's segment calculator (TwilioDevEd/message-segment-calculator,
    // tests/index.test.js at commit a50230f): name, body, encoding, segments.
    const CALCULATOR: &[(&str, &str, Encoding, usize)] = &[
        (
            "GSM-7 in one segment",
            "1234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890",
            Encoding::Gsm7,
            1,
        ),
        (
            "GSM-7 in two segments",
            "12345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901",
            Encoding::Gsm7,
            2,
        ),
        (
            "GSM-7 in three segments",
            "1234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567",
            Encoding::Gsm7,
            3,
        ),
        (
            "UCS-2 message in one segment",
            "😜23456789012345678901234567890123456789012345678901234567890123456789",
            Encoding::Ucs2,
            1,
        ),
        (
            "UCS-2 message in two segments",
            "😜234567890123456789012345678901234567890123456789012345678901234567890",
            Encoding::Ucs2,
            2,
        ),
        (
            "UCS-2 message in three segments",
            "😜2345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234",
            Encoding::Ucs2,
            3,
        ),
        (
            "UCS-2 with two bytes extended characters in one segments boundary",
            "🇮🇹234567890123456789012345678901234567890123456789012345678901234567",
            Encoding::Ucs2,
            1,
        ),
        (
            "UCS-2 with extended characters in two segments boundary",
            "🇮🇹2345678901234567890123456789012345678901234567890123456789012345678",
            Encoding::Ucs2,
            2,
        ),
        (
            "UCS-2 with four bytes extended characters in one segments boundary",
            "🏳️‍🌈2345678901234567890123456789012345678901234567890123456789012345",
            Encoding::Ucs2,
            1,
        ),
        (
            "UCS-2 with four bytes extended characters in two segments boundary",
            "🏳️‍🌈23456789012345678901234567890123456789012345678901234567890123456",
            Encoding::Ucs2,
            2,
        ),
    ];

    /// The calculator's escape-character bodies: after one escape (two septets), the
    /// first still fits one GSM-7 segment and the second needs two.
    const ESCAPED_ONE: &str = "12345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678";
    const ESCAPED_TWO: &str = "123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789";

    /// Bodies of the calculator whose segment count alone is checked: a surrogate pair
    /// next to GSM-7 escapes, and combining accents.
    const SEGMENTS_ONLY: &[(&str, usize)] = &[
        ("😀]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", 1),
        ("😀]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", 2),
        ("é́́aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1),
        ("é́́aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 2),
    ];

    #[test]
    fn matches_twilios_segment_calculator() {
        for &(name, body, encoding, segments) in CALCULATOR {
            assert_eq!(count_segments(body), SegmentCount { encoding, segments }, "{name}");
        }
        for &(body, segments) in SEGMENTS_ONLY {
            assert_eq!(count_segments(body).segments, segments, "{body}");
        }
    }

    #[test]
    fn matches_twilios_calculator_on_escapes_and_accents() {
        for escape in ['|', '^', '€', '{', '}', '[', ']', '~', '\\'] {
            let one = format!("{escape}{ESCAPED_ONE}");
            assert_eq!(count_segments(&one), SegmentCount { encoding: Encoding::Gsm7, segments: 1 }, "{one}");
            let two = format!("{escape}{ESCAPED_TWO}");
            assert_eq!(count_segments(&two), SegmentCount { encoding: Encoding::Gsm7, segments: 2 }, "{two}");
        }
        for c in ['Á', 'Ú', 'ú', 'ç', 'í', 'Í', 'ó', 'Ó'] {
            assert_eq!(
                count_segments(&c.to_string().repeat(70)),
                SegmentCount { encoding: Encoding::Ucs2, segments: 1 }
            );
            assert_eq!(count_segments(&c.to_string().repeat(71)).segments, 2);
        }
    }

    #[test]
    fn smart_encoding_matches_twilios_table() {
        // The calculator's own check: every character at once maps to every replacement.
        let from: String = SMART_ENCODING.iter().map(|(c, _)| *c).collect();
        let to: String = SMART_ENCODING.iter().map(|(_, r)| *r).collect();
        assert_eq!(smart_encode(&from), to);
        assert_eq!(count_segments(&to).encoding, Encoding::Gsm7, "every replacement is GSM-7");
        assert_eq!(smart_encode("It’s “fine” – really… — ok"), "It's \"fine\" - really... - ok");
        // Emoji have no GSM-7 look-alike and stay.
        assert_eq!(smart_encode("ok 😀"), "ok 😀");
    }

    #[test]
    fn a_curly_apostrophe_does_not_make_a_reply_ucs2() {
        // 300 characters with one ’: 2 GSM-7 segments once encoded, 5 UCS-2 ones as is.
        let text = format!("We’re open {}.", "x".repeat(288));
        assert_eq!(text.chars().count(), 300);
        assert_eq!(count_segments(&text), SegmentCount { encoding: Encoding::Ucs2, segments: 5 });
        let fitted = fit_to_segments(&text, 2);
        assert_eq!(fitted, format!("We're open {}.", "x".repeat(288)));
        assert_eq!(count_segments(&fitted), SegmentCount { encoding: Encoding::Gsm7, segments: 2 });
    }

    #[test]
    fn a_cut_ends_with_three_dots_not_an_ellipsis_character() {
        let text = "Sure thing — we’ll call you back soon ".repeat(20);
        let fitted = fit_to_segments(&text, 1);
        assert!(fitted.ends_with("...") && !fitted.contains('…'), "{fitted}");
        assert_eq!(count_segments(&fitted), SegmentCount { encoding: Encoding::Gsm7, segments: 1 });
        // Cut at a word boundary, and close to the budget (not a few words).
        assert!(fitted.chars().count() > 120, "{fitted}");
    }

    #[test]
    fn a_reply_without_spaces_is_cut_on_characters() {
        // No word boundary fits: the reply is cut at the last character that does, not
        // dropped (which made the caller send its generic fallback).
        let text = "a".repeat(500);
        let fitted = fit_to_segments(&text, 1);
        assert_eq!(fitted, format!("{}...", "a".repeat(157)));
        assert_eq!(count_segments(&fitted).segments, 1);
        let url = format!("See https://example.com/{} for details.", "p".repeat(400));
        let fitted = fit_to_segments(&url, 2);
        assert!(fitted.starts_with("See...") || fitted.starts_with("See https://"), "{fitted}");
        assert!(count_segments(&fitted).segments <= 2);
        let emoji = "😀".repeat(100);
        let fitted = fit_to_segments(&emoji, 1);
        assert_eq!(fitted, format!("{}...", "😀".repeat(33)));
        assert_eq!(fit_to_segments("   ", 1), "");
    }
}
