//! Rules about the media a customer sends with a message (MMS, WhatsApp; the type is
//! [`Media`]): which hosts it may be on, how many are kept, which a vision model can read.
//! Only the URL and type are kept, never the bytes.

use super::Media;

/// Most media items kept per message (Twilio's own MMS limit).
pub const MAX_MEDIA: usize = 10;

/// The hosts Twilio serves media from: the REST API (`/Accounts/.../Media/...`) and its
/// CDN. A URL on any other host is not Twilio's and is dropped.
pub const TWILIO_MEDIA_HOSTS: [&str; 2] = ["api.twilio.com", "*.twiliocdn.com"];

/// Image types a vision model accepts as input.
const VISION_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

impl Media {
    /// Whether this is a picture a vision model can look at.
    pub fn is_viewable_image(&self) -> bool {
        let essence = self.content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        VISION_TYPES.contains(&essence.as_str())
    }
}

/// The hosts media URLs may point at: exact names, or `*.domain` for any subdomain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaHosts(Vec<String>);

impl Default for MediaHosts {
    /// Twilio's media hosts ([`TWILIO_MEDIA_HOSTS`]).
    fn default() -> Self {
        Self::new(TWILIO_MEDIA_HOSTS)
    }
}

impl MediaHosts {
    /// Hosts from patterns (`api.twilio.com`, `*.twiliocdn.com`), compared without case.
    pub fn new<S: AsRef<str>>(patterns: impl IntoIterator<Item = S>) -> Self {
        Self(patterns.into_iter().map(|p| p.as_ref().trim().to_ascii_lowercase()).collect())
    }

    /// Whether `url` is an `https` URL on one of the hosts (no user info, no port).
    pub fn allows(&self, url: &str) -> bool {
        let Some(host) = https_host(url) else { return false };
        self.0.iter().any(|p| match p.strip_prefix("*.") {
            Some(domain) => host.strip_suffix(domain).is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => host == *p,
        })
    }
}

/// The lowercase host of an `https://` URL with a plain host (no user info, no port,
/// nothing but host characters), else `None`.
fn https_host(url: &str) -> Option<String> {
    let scheme = url.get(..8)?;
    if !scheme.eq_ignore_ascii_case("https://") {
        return None;
    }
    let rest = &url[8..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..end];
    let plain = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    plain.then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_on_twilio_hosts_are_allowed() {
        let hosts = MediaHosts::default();
        for ok in [
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
            "https://s3-external-1.twiliocdn.com/x.jpg",
            "HTTPS://API.TWILIO.COM/a",
            "https://media.us1.twiliocdn.com",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in [
            "http://api.twilio.com/a",
            "https://evil.example/api.twilio.com/",
            "https://api.twilio.com.evil.example/a",
            "https://api.twilio.com@evil.example/a",
            "https://api.twilio.com:8443/a",
            "https://twiliocdn.com/a",
            "https://eviltwiliocdn.com/a",
            "ftp://api.twilio.com/a",
            "",
            "https://",
        ] {
            assert!(!hosts.allows(bad), "{bad}");
        }
        assert!(MediaHosts::new(["localhost"]).allows("https://localhost/m/1"));
    }

    #[test]
    fn viewable_images_are_the_types_vision_models_read() {
        let m = |t: &str| Media { url: "https://api.twilio.com/m".into(), content_type: t.into() };
        assert!(m("image/jpeg").is_viewable_image());
        assert!(m("IMAGE/PNG; charset=binary").is_viewable_image());
        assert!(!m("image/heic").is_viewable_image());
        assert!(!m("video/mp4").is_viewable_image());
    }
}
