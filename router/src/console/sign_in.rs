//! Sign-in (a tenant's admin key, or an operator key with the ids left empty), sign-out,
//! and `/console` itself. Attempts are rate-limited per client address and per tenant;
//! the sign-in form's CSRF token is bound to a nonce cookie (there is no session yet).

use askama::Template;
use axum::extract::{FromRequestParts, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use comms_core::domain::TenantRef;

use super::ConsoleError;
use super::csrf::{Fields, Posted, form_body};
use super::keys::{self, OperatorKeys};
use super::layout::{query_value, root_of};
use super::rate_limit::ClientAddr;
use super::session::{COOKIE, Console, PRE_COOKIE, SessionData, Who, cookie, set_cookie};
use crate::{AppState, PublicUrl};

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    root: &'a str,
    csrf: String,
    next: &'a str,
    company_id: &'a str,
    project_id: &'a str,
    error: Option<&'a str>,
    flash: Option<&'a str>,
}

/// `/console`: today's page when signed in, else the sign-in page.
pub async fn home(console: Result<Console, ConsoleError>, url: PublicUrl) -> Response {
    let root = root_of(&url.base);
    match console {
        Ok(c) if c.is_operator() => Redirect::to(&format!("{root}/console/conversations")).into_response(),
        Ok(_) => Redirect::to(&format!("{root}/console/today")).into_response(),
        Err(_) => Redirect::to(&format!("{root}/console/sign-in")).into_response(),
    }
}

/// The nonce of the sign-in form's cookie, reused while it lasts (two open tabs both work).
fn nonce(headers: &axum::http::HeaderMap) -> (String, bool) {
    match cookie(headers, PRE_COOKIE).filter(|n| n.len() == 32 && n.bytes().all(|b| b.is_ascii_hexdigit())) {
        Some(n) => (n.to_owned(), false),
        None => (uuid::Uuid::new_v4().simple().to_string(), true),
    }
}

fn form_csrf(key: &comms_core::ports::Secret, nonce: &str) -> String {
    hex::encode(keys::mac(key, &["sign-in", nonce]))
}

/// Where to go after signing in: a console path of this site only.
fn safe_next(next: Option<&str>) -> Option<&str> {
    next.filter(|n| n.starts_with("/console/") && !n.contains("//") && !n.contains('\\') && n.len() < 512)
}

struct Form<'a> {
    status: StatusCode,
    next: &'a str,
    company_id: &'a str,
    project_id: &'a str,
    error: Option<&'a str>,
    flash: Option<&'a str>,
}

async fn form(
    state: &AppState,
    url: &PublicUrl,
    headers: &axum::http::HeaderMap,
    f: Form<'_>,
) -> Result<Response, ConsoleError> {
    let key = state.console_key().await?;
    let (nonce, fresh) = nonce(headers);
    let root = root_of(&url.base);
    let page = SignInPage {
        root: &root,
        csrf: form_csrf(key, &nonce),
        next: f.next,
        company_id: f.company_id,
        project_id: f.project_id,
        error: f.error,
        flash: f.flash,
    };
    let mut response = (f.status, super::layout::render(&page)?).into_response();
    if fresh {
        let secure = url.base.starts_with("https://");
        let value = set_cookie(PRE_COOKIE, &nonce, &format!("{root}/console"), 3600, secure);
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `GET /console/sign-in`.
pub async fn page(
    State(state): State<AppState>,
    url: PublicUrl,
    RawQuery(q): RawQuery,
    headers: axum::http::HeaderMap,
) -> Result<Response, ConsoleError> {
    let next = query_value(&q, "next");
    let flash = (query_value(&q, "msg").as_deref() == Some("signed-out")).then_some("Signed out.");
    let next = safe_next(next.as_deref()).unwrap_or("");
    let f = Form { status: StatusCode::OK, next, company_id: "", project_id: "", error: None, flash };
    form(&state, &url, &headers, f).await
}

/// Who the presented key signs in as, if anyone.
async fn authenticate(state: &AppState, fields: &Fields) -> Result<Option<Who>, ConsoleError> {
    let key = fields.required("key")?;
    match (fields.get("company_id"), fields.get("project_id")) {
        (None, None) => {
            let stored =
                OperatorKeys::load(state.secrets.as_ref(), &state.config.console.operator_keys_secret)
                    .await?;
            Ok(stored.matching(key).map(|k| Who::Operator { id: k.id.clone(), key: keys::tag_of(key) }))
        }
        (Some(c), Some(p)) => {
            let tenant =
                TenantRef::new(c, p).map_err(|e| ConsoleError::field("company_id", e.to_string()))?;
            let config = state.tenants.get(&tenant).await.map_err(ConsoleError::store)?;
            Ok(config
                .filter(|t| t.accepts_admin_key(key))
                .map(|_| Who::Tenant { tenant, key: keys::tag_of(key) }))
        }
        _ => Err(ConsoleError::field(
            "project_id",
            "give both company_id and project_id (or neither, with an operator key)",
        )),
    }
}

/// `POST /console/sign-in`.
pub async fn submit(State(state): State<AppState>, req: Request) -> Result<Response, ConsoleError> {
    let (mut parts, body) = req.into_parts();
    let url = PublicUrl::from_request_parts(&mut parts, &state).await.unwrap_or_else(|never| match never {});
    let headers = parts.headers.clone();
    let client = ClientAddr::of(&parts);
    let fields = form_body(Request::from_parts(parts, body), &state).await?;
    let limits = state.config.console.sign_in_limit;
    let who_key = match (fields.get("company_id"), fields.get("project_id")) {
        (None, None) => "operator".to_owned(),
        (c, p) => format!("{}/{}", c.unwrap_or(""), p.unwrap_or("")),
    };
    let (addr_key, tenant_key) = (format!("addr:{client}"), format!("tenant:{who_key}"));
    let limiter = &state.console.limiter;
    limiter
        .check(&addr_key, limits.per_address, limits.window)
        .map_err(|s| ConsoleError::RateLimited { retry_after_secs: s })?;
    limiter
        .check(&tenant_key, limits.per_tenant, limits.window)
        .map_err(|s| ConsoleError::RateLimited { retry_after_secs: s })?;
    limiter.record(&addr_key, limits.window);

    let key = state.console_key().await?.clone();
    let (nonce, _) = nonce(&headers);
    let presented = fields.get("csrf").unwrap_or("");
    if !comms_core::secure::constant_time_eq(presented.as_bytes(), form_csrf(&key, &nonce).as_bytes()) {
        return Err(ConsoleError::Csrf);
    }
    let next = safe_next(fields.get("next"));
    let Some(who) = authenticate(&state, &fields).await? else {
        limiter.record(&tenant_key, limits.window);
        tracing::warn!(who = %who_key, "console sign-in refused: wrong key");
        let f = Form {
            status: StatusCode::UNAUTHORIZED,
            next: next.unwrap_or(""),
            company_id: fields.get("company_id").unwrap_or(""),
            project_id: fields.get("project_id").unwrap_or(""),
            error: Some("That key does not open this shop."),
            flash: None,
        };
        return form(&state, &url, &headers, f).await;
    };
    signed_in(&state, &url, &key, who, next)
}

fn signed_in(
    state: &AppState,
    url: &PublicUrl,
    key: &comms_core::ports::Secret,
    who: Who,
    next: Option<&str>,
) -> Result<Response, ConsoleError> {
    let ttl = state.config.console.session_ttl;
    let exp = jiff::Timestamp::now().as_second() + ttl.as_secs() as i64;
    let operator = matches!(who, Who::Operator { .. });
    match &who {
        Who::Tenant { tenant, .. } => tracing::info!(tenant = %tenant, "console sign-in"),
        Who::Operator { id, .. } => tracing::info!(operator = %id, "console sign-in (operator)"),
    }
    let session = SessionData { sid: uuid::Uuid::new_v4().simple().to_string(), exp, who };
    let root = root_of(&url.base);
    let default = if operator { "/console/conversations" } else { "/console/today" };
    let mut response = Redirect::to(&format!("{root}{}", next.unwrap_or(default))).into_response();
    let secure = url.base.starts_with("https://");
    let path = format!("{root}/console");
    let cookies = response.headers_mut();
    cookies
        .append(header::SET_COOKIE, set_cookie(COOKIE, &session.encode(key), &path, ttl.as_secs(), secure));
    cookies.append(header::SET_COOKIE, set_cookie(PRE_COOKIE, "", &path, 0, secure));
    Ok(response)
}

/// `POST /console/sign-out`: the cookie is cleared (a copy of it stays valid until it
/// expires: sessions are not stored; revoking the key ends them all).
pub async fn sign_out(posted: Posted) -> Response {
    let console = posted.console;
    let root = root_of(&console.base);
    let mut response = Redirect::to(&format!("{root}/console/sign-in?msg=signed-out")).into_response();
    let value = set_cookie(COOKIE, "", &format!("{root}/console"), 0, console.secure);
    response.headers_mut().append(header::SET_COOKIE, value);
    response
}
