//! What the model is told about a customer's photos: with a vision model (the tenant's
//! `ai.vision`), the pictures themselves as image inputs; otherwise a line saying how many
//! the customer sent. Both for this message and for earlier ones in the history window.

use comms_core::domain::{Envelope, KindDetail, Media};
use comms_core::ports::ChatMessage;

/// The customer's message as the model sees it. `num_media` is what the provider
/// reported (it counts media whose URL was not kept, and old envelopes have only it).
pub(super) fn customer_message(vision: bool, text: &str, media: &[Media], num_media: u32) -> ChatMessage {
    let sent = media.len().max(usize::try_from(num_media).unwrap_or(usize::MAX));
    if !vision {
        return ChatMessage::user(with_note(text, photos_note(sent)));
    }
    // The model is given the URL: Twilio serves media to whoever has it unless the
    // account requires HTTP auth for media (docs/decisions.md).
    let images: Vec<String> = media.iter().filter(|m| m.is_viewable_image()).map(|m| m.url.clone()).collect();
    let unseen = sent - images.len();
    let note = (unseen > 0).then(|| {
        let what = if unseen == 1 { "1 attachment".to_owned() } else { format!("{unseen} attachments") };
        format!("The customer also sent {what} that cannot be shown.")
    });
    ChatMessage::User { content: with_note(text, note), images }
}

/// "The customer sent N photos.", when they sent any.
fn photos_note(n: usize) -> Option<String> {
    match n {
        0 => None,
        1 => Some("The customer sent 1 photo.".to_owned()),
        n => Some(format!("The customer sent {n} photos.")),
    }
}

/// The customer's text with the note on a line of its own after it.
fn with_note(text: &str, note: Option<String>) -> String {
    match note {
        None => text.to_owned(),
        Some(note) if text.trim().is_empty() => note,
        Some(note) => format!("{text}\n\n{note}"),
    }
}

/// The customer's message of this turn, with what they sent along ([`customer_message`]).
pub(super) fn this_message(vision: bool, env: &Envelope) -> ChatMessage {
    match &env.detail {
        KindDetail::Inbound { num_media, media, .. } => {
            customer_message(vision, &env.body, media, *num_media)
        }
        _ => ChatMessage::user(env.body.clone()),
    }
}

/// The media of an inbound envelope (none for other kinds).
pub(super) fn inbound_media(env: &Envelope) -> &[Media] {
    match &env.detail {
        KindDetail::Inbound { media, .. } => media,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(types: &[&str]) -> Vec<Media> {
        types
            .iter()
            .enumerate()
            .map(|(i, t)| Media { url: format!("https://api.twilio.com/m/{i}"), content_type: (*t).into() })
            .collect()
    }

    #[test]
    fn without_vision_the_model_is_told_how_many_photos() {
        let two = media(&["image/jpeg", "image/png"]);
        assert_eq!(
            customer_message(false, "Screen cracked", &two, 2),
            ChatMessage::user("Screen cracked\n\nThe customer sent 2 photos.")
        );
        assert_eq!(customer_message(false, "", &[], 1), ChatMessage::user("The customer sent 1 photo."));
        assert_eq!(customer_message(false, "hi", &[], 0), ChatMessage::user("hi"));
    }

    #[test]
    fn with_vision_images_are_inputs_and_the_rest_is_noted() {
        let two = media(&["image/jpeg", "image/png"]);
        let ChatMessage::User { content, images } = customer_message(true, "Look", &two, 2) else {
            panic!("not a user message")
        };
        assert_eq!((content.as_str(), images.len()), ("Look", 2));
        assert_eq!(images[1], "https://api.twilio.com/m/1");
        let mixed = media(&["image/jpeg", "video/mp4"]);
        let ChatMessage::User { content, images } = customer_message(true, "Look", &mixed, 3) else {
            panic!("not a user message")
        };
        assert_eq!(content, "Look\n\nThe customer also sent 2 attachments that cannot be shown.");
        assert_eq!(images, ["https://api.twilio.com/m/0"]);
    }
}
