//! `GET` and `POST /email/unsubscribe?t=...`: the signed link in every mail's
//! `List-Unsubscribe` header. POST is RFC 8058's one-click unsubscribe (a mail client
//! posts `List-Unsubscribe=One-Click`; any body is accepted) and records the opt-out;
//! GET, a person following the link, gets a page with a button that posts, so a link
//! scanner fetching URLs never unsubscribes anyone.

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use comms_core::domain::{Address, TenantRef};
use comms_core::ports::{ConsentAction, SecretError};
use comms_core::secure::verify_unsubscribe_token;

use crate::{ApiError, AppState};

/// The deployment's secret that signs unsubscribe links (any string; the engine signs
/// with the same one when it sends). Defined in the core, which both share.
pub use comms_core::secure::UNSUBSCRIBE_KEY_SECRET;

/// The confirmation page.
pub async fn page(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let (_, address) = verified(&state, query).await?;
    let body = format!(
        "<p>Stop emails to <strong>{}</strong>?</p>\n<form method=\"post\"><button type=\"submit\" \
         name=\"List-Unsubscribe\" value=\"One-Click\">Unsubscribe</button></form>",
        escape(&address.redacted()),
    );
    Ok(html("Unsubscribe", &body))
}

/// One-click unsubscribe: records the opt-out (again is harmless).
pub async fn unsubscribe(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (tenant, address) = verified(&state, query).await?;
    let now = jiff::Timestamp::now();
    state
        .consent
        .record(&tenant, &address, ConsentAction::OptOut, "UNSUBSCRIBE", now)
        .await
        .map_err(ApiError::unavailable)?;
    tracing::info!(tenant = %tenant, customer = %address.redacted(), "unsubscribed by link");
    Ok(html("Unsubscribed", "<p>You are unsubscribed. You will get no more emails from this sender.</p>"))
}

/// The tenant and address of the query's token `t`.
async fn verified(state: &AppState, query: Option<String>) -> Result<(TenantRef, Address), ApiError> {
    let token = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "t")
        .map(|(_, v)| v.into_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::invalid_field("t", "t is required"))?;
    let key = match state.secrets.get(&state.config.unsubscribe_key_secret).await {
        Ok(key) => Some(key),
        // No key: no link was ever signed, so no token can be valid.
        Err(SecretError::NotFound(_)) => None,
        Err(e) => return Err(ApiError::unavailable(e)),
    };
    key.and_then(|key| verify_unsubscribe_token(key.expose().as_bytes(), &token))
        .ok_or_else(|| ApiError::invalid_field("t", "this unsubscribe link is not valid"))
}

fn html(title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
         </head><body>\n<h1>{title}</h1>\n{body}\n</body></html>\n"
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], page)
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
