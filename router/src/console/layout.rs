//! What every page shares: the navigation, who is signed in, the CSRF token for its
//! forms, the chosen tenant (operators), a one-line flash after a form, and the path
//! prefix (API Gateway's stage) every link and redirect starts with.

use askama::Template;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::ConsoleError;
use super::session::{Console, Who};

/// The layout fields of a page.
pub struct Layout {
    pub title: String,
    /// Which navigation entry is current.
    pub nav: &'static str,
    /// Path prefix of every link (`/prod` behind API Gateway's stage, else empty).
    pub root: String,
    pub csrf: String,
    pub operator: bool,
    pub who: String,
    /// The tenant the page shows (`company/project`), if any.
    pub tenant: Option<String>,
    /// `?tenant=...` for an operator's links (empty for an owner: their tenant is fixed).
    pub tenant_q: String,
    pub flash: Option<&'static str>,
}

impl Layout {
    /// The layout of a page titled `title` for this session.
    pub fn new(
        console: &Console,
        title: &str,
        nav: &'static str,
        tenant: Option<&str>,
        msg: Option<&str>,
    ) -> Self {
        let who = match &console.session.who {
            Who::Tenant { tenant, .. } => format!("owner of {tenant}"),
            Who::Operator { id, .. } => format!("operator {id}"),
        };
        let tenant_q = match (console.is_operator(), tenant) {
            (true, Some(t)) => format!("?tenant={}", encode(t)),
            _ => String::new(),
        };
        Self {
            title: title.to_owned(),
            nav,
            root: root_of(&console.base),
            csrf: console.csrf(),
            operator: console.is_operator(),
            who,
            tenant: tenant.map(str::to_owned),
            tenant_q,
            flash: msg.and_then(flash),
        }
    }
}

/// `at` in the shop's time zone (the tenant's `scheduling.timezone`, with its
/// abbreviation), as the owner reads times; UTC where no one tenant applies.
pub fn shop_time(
    tenant: Option<&comms_core::domain::tenant::TenantConfig>,
    at: jiff::Timestamp,
    seconds: bool,
) -> String {
    let tz = tenant
        .and_then(|t| jiff::tz::TimeZone::get(&t.scheduling.timezone).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let format = if seconds { "%Y-%m-%d %H:%M:%S %Z" } else { "%Y-%m-%d %H:%M %Z" };
    at.to_zoned(tz).strftime(format).to_string()
}

/// The path part of a public base URL (`https://h/prod` → `/prod`).
pub fn root_of(base: &str) -> String {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    rest.find('/').map_or(String::new(), |i| rest[i..].trim_end_matches('/').to_owned())
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The fixed texts a redirect after a form may show (`?msg=code`): never text from the
/// request itself.
fn flash(code: &str) -> Option<&'static str> {
    Some(match code {
        "state-set" => "State updated.",
        "state-cleared" => "Back to the default state (WORK).",
        "cancelled" => "Booking cancelled; the customer will get a text.",
        "taken-over" => "You have taken over: the assistant will not answer this conversation.",
        "handed-back" => "Handed back: the assistant answers again.",
        "reply-queued" => "Reply queued: it goes out from the shop's number.",
        "replayed" => "Dead letters moved back to their queue.",
        "purged" => "Dead letters purged.",
        "nothing" => "Nothing to do.",
        "signed-out" => "Signed out.",
        _ => return None,
    })
}

/// A query string's first value for `name` (trimmed, non-empty).
pub fn query_value(raw: &Option<String>, name: &str) -> Option<String> {
    form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Renders a page.
pub fn render<T: Template>(page: &T) -> Result<Response, ConsoleError> {
    let html = page.render().map_err(|e| ConsoleError::Internal(format!("template: {e}")))?;
    Ok(Html(html).into_response())
}

/// A 303 to a console page after a form (`path` starts with `/console`), keeping an
/// operator's tenant and adding the flash code.
pub fn after_form(console: &Console, path: &str, tenant: Option<&str>, msg: &str) -> Response {
    let mut to = format!("{}{path}?msg={msg}", root_of(&console.base));
    if let (true, Some(t)) = (console.is_operator(), tenant) {
        to.push_str(&format!("&tenant={}", encode(t)));
    }
    Redirect::to(&to).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_base_urls_path() {
        assert_eq!(root_of("https://abc.execute-api.us-east-1.amazonaws.com/prod"), "/prod");
        assert_eq!(root_of("http://127.0.0.1:3000"), "");
        assert_eq!(root_of("https://sms.example.com/"), "");
    }
}
