//! Sign-in, sessions and CSRF: what opens the console and what is refused.

use comms_core::ports::Secret;
use comms_router::console::SESSION_SECRET;
use comms_router::console::session::{COOKIE, SessionData, Who};

use crate::helpers::*;

#[tokio::test]
async fn the_admin_key_signs_in_with_a_strict_http_only_cookie_and_sign_out_ends_it() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    let page = b.get("/console/today").await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (303, Some("/console/sign-in?next=%2Fconsole%2Ftoday"))
    );

    let signed = b.sign_in("demo", "repair-shop", OWNER_KEY).await;
    assert_eq!((signed.status, signed.location.as_deref()), (303, Some("/console/today")));
    let cookie = signed.set_cookies.iter().find(|c| c.starts_with(&format!("{COOKIE}="))).unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=43200"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag ({cookie})");
    assert!(!cookie.contains(OWNER_KEY), "the key is not in the cookie");

    let today = b.get("/console/today").await;
    assert_eq!(today.status, 200);
    assert!(today.body.contains("id=\"current-state\"") && today.body.contains("WORK"), "{}", today.body);
    let raw = b.client.get(format!("{}/console/today", b.base)).send().await.unwrap();
    for (name, value) in
        [("x-frame-options", "DENY"), ("referrer-policy", "same-origin"), ("cache-control", "no-store")]
    {
        assert_eq!(raw.headers()[name], value, "{name}");
    }

    let csrf = hidden(&today.body, "csrf");
    let out = b.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(b.get("/console/today").await.status, 303, "signed out");
}

#[tokio::test]
async fn a_wrong_key_or_another_tenants_key_is_refused_without_a_session() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    for (company, project, key) in [
        ("demo", "repair-shop", "wrong"),
        ("demo", "repair-shop", OTHER_KEY),
        ("", "", OWNER_KEY),
        ("nope", "x", OWNER_KEY),
    ] {
        let page = b.sign_in(company, project, key).await;
        assert_eq!(page.status, 401, "{company}/{project}");
        assert!(page.body.contains("id=\"sign-in-form\""), "the form again");
        assert!(!b.cookies.contains_key(COOKIE));
    }
    // Half a tenant is a field error, not a sign-in.
    let form = b.get("/console/sign-in").await;
    let csrf = hidden(&form.body, "csrf");
    let page =
        b.post("/console/sign-in", &[("company_id", "demo"), ("key", OWNER_KEY), ("csrf", &csrf)]).await;
    assert_eq!(page.status, 400);
}

#[tokio::test]
async fn the_sign_in_form_needs_its_csrf_token() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    b.get("/console/sign-in").await;
    let fields = [("company_id", "demo"), ("project_id", "repair-shop"), ("key", OWNER_KEY)];
    assert_eq!(b.post("/console/sign-in", &fields).await.status, 403);
    let mut with_bad = fields.to_vec();
    with_bad.push(("csrf", "00"));
    assert_eq!(b.post("/console/sign-in", &with_bad).await.status, 403);
    assert!(!b.cookies.contains_key(COOKIE));
}

async fn session_key(app: &TestApp) -> Secret {
    app.stores.secrets.get(SESSION_SECRET).await.unwrap()
}

#[tokio::test]
async fn expired_tampered_and_forged_cookies_are_refused() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    b.sign_in("demo", "repair-shop", OWNER_KEY).await;
    let key = session_key(&app).await;
    let good = b.cookies[COOKIE].clone();
    let who =
        Who::Tenant { tenant: app.demo.tenant.clone(), key: comms_router::console::keys::tag_of(OWNER_KEY) };

    let expired =
        SessionData { sid: "s".into(), exp: jiff::Timestamp::now().as_second() - 1, who: who.clone() };
    let forged = SessionData { sid: "s".into(), exp: jiff::Timestamp::now().as_second() + 3600, who };
    let (payload, tag) = good.split_once('.').unwrap();
    let mut flipped = payload.as_bytes().to_vec();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{}.{tag}", String::from_utf8(flipped).unwrap());
    for (what, value) in [
        ("expired", expired.encode(&key)),
        ("forged with another key", forged.encode(&Secret::new("guessed"))),
        ("tampered", tampered),
        ("garbage", "x.y".to_owned()),
    ] {
        b.cookies.insert(COOKIE.into(), value);
        let page = b.get("/console/today").await;
        assert_eq!(page.status, 303, "{what}");
        assert!(page.location.unwrap().starts_with("/console/sign-in"), "{what}");
        let post = b.post("/console/today/state", &[("state", "GYM"), ("csrf", "x")]).await;
        assert_eq!(post.status, 401, "{what}");
    }
    b.cookies.insert(COOKIE.into(), good);
    assert_eq!(b.get("/console/today").await.status, 200, "the real one still works");
}

#[tokio::test]
async fn a_revoked_admin_key_ends_its_sessions() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    b.sign_in("demo", "repair-shop", OWNER_KEY).await;
    assert_eq!(b.get("/console/today").await.status, 200);
    let mut demo = app.demo.clone();
    demo.admin_keys.clear();
    app.stores.tenants.put(&demo).await.unwrap();
    assert_eq!(b.get("/console/today").await.status, 303);
}

#[tokio::test]
async fn a_form_without_or_with_a_wrong_csrf_token_changes_nothing() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    b.sign_in("demo", "repair-shop", OWNER_KEY).await;
    let csrf = b.csrf().await;
    for fields in [vec![("state", "GYM")], vec![("state", "GYM"), ("csrf", "deadbeef")]] {
        let page = b.post("/console/today/state", &fields).await;
        assert_eq!(page.status, 403, "{fields:?}");
    }
    // Another session's token does not fit this one.
    let mut other = Browser::new(&app);
    other.sign_in("demo", "repair-shop", OWNER_KEY).await;
    let theirs = other.csrf().await;
    assert_ne!(theirs, csrf);
    assert_eq!(b.post("/console/today/state", &[("state", "GYM"), ("csrf", &theirs)]).await.status, 403);
    assert!(app.stores.owner_state.get(&app.demo.tenant).await.unwrap().is_none(), "nothing was set");

    let ok = b.post("/console/today/state", &[("state", "GYM"), ("csrf", &csrf)]).await;
    assert_eq!((ok.status, ok.location.as_deref()), (303, Some("/console/today?msg=state-set")));
    let today = b.get("/console/today?msg=state-set").await;
    assert!(today.body.contains("id=\"flash\""));
    assert!(today.body.contains("at the gym"), "the assistant's availability line: {}", today.body);
}

#[tokio::test]
async fn sign_in_attempts_are_limited_per_client_address() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    for _ in 0..10 {
        assert_eq!(b.sign_in("demo", "repair-shop", "wrong").await.status, 401);
    }
    let page = b.sign_in("demo", "repair-shop", OWNER_KEY).await;
    assert_eq!(page.status, 429, "the right key too, once the budget is spent");
    // Another tenant from the same address is refused as well (the address's budget).
    assert_eq!(b.sign_in("other", "repair-shop", OTHER_KEY).await.status, 429);
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_tenant_and_the_limit_answers_retry_after() {
    let app = spawn_app_with(|c| {
        c.console.sign_in_limit.per_address = 100;
        c.console.sign_in_limit.per_tenant = 3;
    })
    .await;
    let mut b = Browser::new(&app);
    for _ in 0..3 {
        assert_eq!(b.sign_in("demo", "repair-shop", "wrong").await.status, 401);
    }
    let resp = b.sign_in("demo", "repair-shop", OWNER_KEY).await;
    assert_eq!(resp.status, 429, "the tenant's budget is spent");
    // Another tenant, from the same address, still signs in.
    assert_eq!(b.sign_in("other", "repair-shop", OTHER_KEY).await.status, 303);
    let raw = reqwest::Client::new();
    let form = raw.get(format!("{}/console/sign-in", app.base_url)).send().await.unwrap();
    let cookie = form.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = hidden(&form.text().await.unwrap(), "csrf");
    let body = format!("company_id=demo&project_id=repair-shop&key={OWNER_KEY}&csrf={csrf}");
    let resp = raw
        .post(format!("{}/console/sign-in", app.base_url))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_and_sign_in_returns_to_the_page_asked_for() {
    let app = spawn_app_with(|c| c.public_base_url = "https://shop.example.com".into()).await;
    let mut b = Browser::new(&app);
    let asked = b.get("/console/leads").await;
    assert_eq!(asked.location.as_deref(), Some("/console/sign-in?next=%2Fconsole%2Fleads"));
    let form = b.get("/console/sign-in?next=%2Fconsole%2Fleads").await;
    assert!(form.set_cookies.iter().all(|c| c.contains("; Secure")), "{:?}", form.set_cookies);
    let csrf = hidden(&form.body, "csrf");
    assert_eq!(hidden(&form.body, "next"), "/console/leads");
    let fields = [
        ("company_id", "demo"),
        ("project_id", "repair-shop"),
        ("key", OWNER_KEY),
        ("csrf", csrf.as_str()),
        ("next", "/console/leads"),
    ];
    let signed = b.post("/console/sign-in", &fields).await;
    assert_eq!(signed.location.as_deref(), Some("/console/leads"));
    assert!(signed.set_cookies.iter().all(|c| c.contains("; Secure")), "{:?}", signed.set_cookies);
    // Somewhere else is not followed.
    b.cookies.clear();
    let form = b.get("/console/sign-in").await;
    let csrf = hidden(&form.body, "csrf");
    let mut evil = fields;
    evil[3] = ("csrf", csrf.as_str());
    evil[4] = ("next", "//evil.example.com/console/");
    assert_eq!(b.post("/console/sign-in", &evil).await.location.as_deref(), Some("/console/today"));
}
