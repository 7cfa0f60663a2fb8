//! The shop's QR code: an SVG of `sms:<shop number>?body=<text>` (fast_qr; the choice
//! is in docs/decisions.md), on a printable page and on its own.

use askama::Template;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use comms_core::domain::Channel;
use comms_core::domain::tenant::TenantConfig;
use fast_qr::convert::Builder as _;
use fast_qr::convert::svg::SvgBuilder;
use fast_qr::qr::QRBuilder;

use super::ConsoleError;
use super::layout::{Layout, render};
use super::session::TenantPage;

/// Longest prefilled text (a QR code stays easy to scan).
const MAX_TEXT: usize = 300;

#[derive(Template)]
#[template(path = "console/qr.html")]
struct QrPage {
    layout: Layout,
    svg: String,
    uri: String,
    number: String,
    text: String,
    svg_href: String,
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a space is `%20`:
/// messaging apps show a `+` as a plus).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `sms:` URI the code opens, and the text it prefills.
fn sms_uri(tenant: &TenantConfig, text: Option<String>) -> Result<(String, String, String), ConsoleError> {
    let number = tenant
        .numbers
        .get(&Channel::Sms)
        .and_then(|n| n.first())
        .ok_or_else(|| ConsoleError::NotFound("SMS number for this shop".into()))?
        .to_string();
    let text = text.unwrap_or_else(|| format!("Hi {}! I'd like to book a repair.", tenant.company_name));
    if text.len() > MAX_TEXT || text.chars().any(char::is_control) {
        return Err(ConsoleError::field("text", "one line of at most 300 characters"));
    }
    Ok((format!("sms:{number}?body={}", percent_encode(&text)), number, text))
}

fn qr_svg(uri: &str) -> Result<String, ConsoleError> {
    let qr = QRBuilder::new(uri).build().map_err(|e| ConsoleError::Internal(format!("QR code: {e:?}")))?;
    Ok(SvgBuilder::default().margin(2).to_str(&qr))
}

/// `GET /console/qr`: the printable page.
pub async fn page(page: TenantPage) -> Result<Response, ConsoleError> {
    let (uri, number, text) = sms_uri(&page.tenant, page.query("text"))?;
    let name = page.tenant.tenant.to_string();
    let layout = page.layout("QR code", "qr");
    let mut svg_href = format!("{}/console/qr.svg?text={}", layout.root, percent_encode(&text));
    if page.console.is_operator() {
        svg_href.push_str(&format!("&tenant={}", percent_encode(&name)));
    }
    render(&QrPage { svg: qr_svg(&uri)?, uri, number, text, svg_href, layout })
}

/// `GET /console/qr.svg`: the code alone.
pub async fn svg(page: TenantPage) -> Result<Response, ConsoleError> {
    let (uri, _, _) = sms_uri(&page.tenant, page.query("text"))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], qr_svg(&uri)?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_percent_encoded_with_spaces_as_percent_20() {
        assert_eq!(percent_encode("Hi Bob & co!"), "Hi%20Bob%20%26%20co%21");
        assert!(qr_svg("sms:+15555550100?body=Hi").unwrap().starts_with("<svg"));
    }
}
