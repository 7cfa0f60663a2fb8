//! Conversation links on an operator's pages without the customer's number in them: a
//! conversation id holds the number (`company.project.tel.14155550123`), so an
//! operator's list links to `~{nonce}.{id with its digits shifted}` instead, the shift
//! a keystream of the session key, the session and the nonce. Only that session can
//! turn the link back into the id, and does when the operator opens the conversation.

use comms_core::domain::ConversationId;
use comms_core::ports::Secret;

use super::keys;

fn keystream(key: &Secret, sid: &str, nonce: &str) -> Vec<u8> {
    keys::mac(key, &["mask", sid, nonce])
}

fn shift(address: &str, stream: &[u8], forward: bool) -> Option<String> {
    if address.len() > stream.len() || !address.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = address.bytes().zip(stream).map(|(d, k)| {
        let (d, k) = (d - b'0', k % 10);
        let out = if forward { (d + k) % 10 } else { (d + 10 - k) % 10 };
        char::from(b'0' + out)
    });
    Some(digits.collect())
}

/// The link reference of `id` for this session (the id itself when it holds no number).
pub fn hide(id: &ConversationId, key: &Secret, sid: &str) -> String {
    let Some((head, address)) = id.as_str().rsplit_once('.') else { return id.to_string() };
    let nonce = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    match shift(address, &keystream(key, sid, &nonce), true) {
        Some(masked) => format!("~{nonce}.{head}.{masked}"),
        None => id.to_string(),
    }
}

/// The conversation id a link reference stands for (a plain id is itself).
pub fn reveal(reference: &str, key: &Secret, sid: &str) -> Option<ConversationId> {
    let Some(rest) = reference.strip_prefix('~') else {
        return Some(ConversationId::from_stored(reference.to_owned()));
    };
    let (nonce, masked_id) = rest.split_once('.')?;
    let (head, masked) = masked_id.rsplit_once('.')?;
    let address = shift(masked, &keystream(key, sid, nonce), false)?;
    Some(ConversationId::from_stored(format!("{head}.{address}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hidden_reference_hides_the_number_and_reveals_it_for_the_same_session_only() {
        let key = Secret::new("k");
        let id = ConversationId::from_stored("acme.shop.tel.14155550123".into());
        let r = hide(&id, &key, "s1");
        assert!(r.starts_with('~') && r.contains("acme.shop.tel."), "{r}");
        assert_eq!(reveal(&r, &key, "s1"), Some(id.clone()));
        assert_ne!(reveal(&r, &key, "s2"), Some(id.clone()));
        assert_eq!(reveal(id.as_str(), &key, "s1"), Some(id));
    }
}
