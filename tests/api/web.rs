//! The web client: the app shell at every app path, its Content-Security-Policy, and the modules and
//! stylesheet it loads.

use reqwest::StatusCode;

use crate::helpers::{assert_problem, spawn_app};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Every path of the app's router: each answers the same shell, whose router picks the view.
const PAGES: [&str; 14] = [
    "/",
    "/p/0190f3a2-7d4e-7c3b-9a51-0c1d2e3f4a5b",
    "/u/someone",
    "/upload",
    "/settings",
    "/settings/security",
    "/sign-in",
    "/register",
    "/forgot-password",
    "/verify-email",
    "/reset-password",
    "/confirm-email",
    "/admin",
    "/admin/users",
];

/// The release's asset folder named by the shell, e.g. `/assets/3fa9c2d1e0b4/`.
fn asset_root(html: &str) -> String {
    let at = html.find("\"/assets/").expect("the shell loads assets") + 1;
    let version: String = html[at + "/assets/".len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(version.len(), 12, "a content hash names the release");
    format!("/assets/{version}/")
}

/// The app's ES modules: `app.js` imports the rest by relative path.
const MODULES: [&str; 10] = [
    "app.js",
    "core.js",
    "auth.js",
    "feed.js",
    "post.js",
    "upload.js",
    "profile.js",
    "settings.js",
    "factors.js",
    "blurhash.js",
];

/// All of the app's script (the admin console's excepted), as one text.
async fn app_script(app: &crate::helpers::TestApp) -> String {
    let mut js = String::new();
    for name in MODULES {
        let res = app.get(&format!("/assets/{name}")).await;
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        js.push_str(&res.text().await.unwrap());
        js.push('\n');
    }
    js
}

/// Every `<script …>` element, lower-cased, with what follows its opening tag.
fn script_tags(html: &str) -> Vec<(String, String)> {
    let lower = html.to_lowercase();
    lower
        .match_indices("<script")
        .map(|(at, _)| {
            let rest = &lower[at..];
            let end = rest.find('>').expect("script tag closes");
            (rest[..=end].to_owned(), rest[end + 1..].to_owned())
        })
        .collect()
}

/// Attribute names such as `onclick=` inside tags: inline handlers the policy would block.
fn inline_handlers(html: &str) -> Vec<String> {
    let lower = html.to_lowercase();
    lower
        .match_indices(" on")
        .filter_map(|(at, _)| {
            let name: String = lower[at + 1..].chars().take_while(char::is_ascii_alphabetic).collect();
            lower[at + 1 + name.len()..].starts_with('=').then_some(name)
        })
        .collect()
}

#[tokio::test]
async fn every_page_is_html_under_the_strict_content_security_policy() {
    let app = spawn_app().await;
    for path in PAGES {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let h = res.headers().clone();
        assert_eq!(h["content-type"], "text/html; charset=utf-8", "{path}");
        assert_eq!(h["content-security-policy"], CSP, "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        let html = res.text().await.unwrap();
        assert!(html.starts_with("<!doctype html>"), "{path}");
        let root = asset_root(&html);
        assert!(
            html.contains(&format!(r#"<script type="module" src="{root}app.js"></script>"#)),
            "{path}"
        );
        assert!(
            html.contains(&format!(r#"<link rel="stylesheet" href="{root}app.css">"#)),
            "{path}"
        );
    }
}

/// Unknown paths outside the app stay 404 problems: a mistyped API path never gets the shell.
#[tokio::test]
async fn paths_outside_the_app_are_not_answered_with_the_shell() {
    let app = spawn_app().await;
    for path in ["/api/v1/nope", "/p", "/u/a/b", "/settings/a/b", "/index.html", "/adminx"] {
        assert_problem(app.get(path).await, StatusCode::NOT_FOUND, "not_found").await;
    }
}

/// A release's assets live under its content hash and never change, so browsers keep them for a
/// year; text is gzipped for clients that take it; another release's hash is a 404.
#[tokio::test]
async fn versioned_assets_are_immutable_and_compressed() {
    let app = spawn_app().await;
    let root = asset_root(&app.get("/").await.text().await.unwrap());
    let plain = app.get("/assets/app.js").await.bytes().await.unwrap();
    let res = app
        .client
        .get(app.url(&format!("{root}app.js")))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(h["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(h["content-encoding"], "gzip");
    assert_eq!(h["vary"], "accept-encoding");
    let gz = res.bytes().await.unwrap();
    assert!(gz.len() * 2 < plain.len(), "{} gzipped bytes of {}", gz.len(), plain.len());
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unzipped).unwrap();
    assert_eq!(unzipped, plain, "the same file");

    let identity = app.get(&format!("{root}app.js")).await;
    assert!(identity.headers().get("content-encoding").is_none(), "no gzip unasked");
    assert_eq!(identity.bytes().await.unwrap(), plain);

    assert_ne!(root, "/assets/000000000000/", "the stale name below is another release");
    assert_problem(app.get("/assets/000000000000/app.js").await, StatusCode::NOT_FOUND, "not_found").await;
}

/// The shell and unversioned assets are revalidated: an unchanged one answers 304 with no body.
#[tokio::test]
async fn the_shell_and_plain_assets_revalidate_with_their_etag() {
    let app = spawn_app().await;
    for path in ["/", "/settings", "/assets/app.css"] {
        let first = app.get(path).await;
        assert_eq!(first.headers()["cache-control"], "no-cache", "{path}");
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        let again = app
            .client
            .get(app.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(again.headers()["etag"], etag.as_str(), "{path}");
        assert!(again.bytes().await.unwrap().is_empty(), "{path}");
        let changed = app
            .client
            .get(app.url(path))
            .header("if-none-match", "\"other\"")
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn pages_carry_no_inline_script_or_style_and_load_nothing_from_elsewhere() {
    let app = spawn_app().await;
    for path in PAGES {
        let html = app.get(path).await.text().await.unwrap();
        let lower = html.to_lowercase();
        let scripts = script_tags(&html);
        assert!(!scripts.is_empty(), "{path} loads its script");
        for (tag, after) in scripts {
            assert!(
                tag.contains(" src=\"/assets/"),
                "{path}: script without a local src: {tag}"
            );
            assert!(
                after.starts_with("</script>"),
                "{path}: script with an inline body: {tag}"
            );
        }
        assert!(!lower.contains("style="), "{path} has a style attribute");
        assert!(!lower.contains("<style"), "{path} has a style element");
        assert!(
            inline_handlers(&html).is_empty(),
            "{path}: {:?}",
            inline_handlers(&html)
        );
        assert!(!lower.contains("javascript:"), "{path} has a javascript: URL");
        for remote in ["http://", "https://", "=\"//", "='//"] {
            assert!(!lower.contains(remote), "{path} refers to another origin ({remote})");
        }
    }
}

#[tokio::test]
async fn token_pages_do_not_echo_the_token_from_the_link() {
    let app = spawn_app().await;
    let token = "Zm9v%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    for path in ["/verify-email", "/reset-password", "/confirm-email"] {
        let res = app.get(&format!("{path}?token={token}")).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.headers()["content-security-policy"], CSP, "{path}");
        let html = res.text().await.unwrap();
        assert!(
            !html.contains("Zm9v") && !html.contains("alert(1)"),
            "{path} echoes the token"
        );
    }
}

#[tokio::test]
async fn the_script_is_javascript_and_posts_each_mailed_token_to_its_api_route() {
    let app = spawn_app().await;
    let res = app.get("/assets/app.js").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(res.headers()["cache-control"], "no-cache");
    let js = app_script(&app).await;
    for route in [
        "'/api/v1/auth/verify-email'",
        "'/api/v1/auth/password/reset'",
        "'/api/v1/auth/email/confirm'",
        "'/api/v1/auth/login'",
        "'/api/v1/auth/register'",
        "'/api/v1/auth/refresh'",
        "'/api/v1/auth/logout'",
        "'/api/v1/posts'",
    ] {
        assert!(js.contains(route), "the script calls {route}");
    }
    assert!(js.contains("history.replaceState("), "tokens leave the address bar");
    assert!(
        js.contains("{ token, new_password: password }"),
        "the reset page posts new_password"
    );
    // Cookie mode: the refresh token is an HttpOnly cookie the script never sees; a refresh sends the
    // CSRF token, which is the one thing kept in localStorage (so every tab has it).
    assert!(js.contains("refresh_cookie: true"), "sign-ins ask for the refresh cookie");
    assert!(js.contains("'X-CSRF-Token'"), "refreshes carry the CSRF header");
    for body_mode in [".refresh_token", "'refresh_token'", "{ refresh_token"] {
        assert!(!js.contains(body_mode), "no refresh token passes through the script ({body_mode})");
    }
    assert_eq!(
        js.matches("localStorage.").count(),
        js.matches("localStorage.getItem(CSRF_KEY)").count()
            + js.matches("localStorage.setItem(CSRF_KEY").count()
            + js.matches("localStorage.removeItem(CSRF_KEY)").count(),
        "localStorage holds the CSRF token only"
    );
    assert!(
        js.contains("'Authorization', 'Bearer '"),
        "the API is called with the bearer token"
    );
    for banned in [
        "sessionStorage",
        "document.cookie",
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "eval(",
        "setAttribute('style'",
        "new Function",
    ] {
        assert!(!js.contains(banned), "the script must not use {banned}");
    }
}

#[tokio::test]
async fn the_stylesheet_is_css_and_imports_nothing() {
    let app = spawn_app().await;
    let res = app.get("/assets/app.css").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(res.headers()["cache-control"], "no-cache");
    let css = res.text().await.unwrap();
    assert!(css.contains("[hidden]"), "hidden elements stay hidden");
    assert!(
        !css.contains("@import") && !css.contains("url("),
        "the stylesheet loads nothing else"
    );
}

#[tokio::test]
async fn unknown_assets_are_a_not_found_problem() {
    let app = spawn_app().await;
    for path in [
        "/assets/",
        "/assets/app.mjs",
        "/assets/app.js/x",
        "/assets/../Cargo.toml",
        "/assets/index.html",
    ] {
        assert_problem(app.get(path).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert_problem(
        app.client.post(app.url("/reset-password")).send().await.unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

/// The second-factor screens: every route they call exists in the API document, and their forms
/// build every input through `field()`, which gives each its label.
#[tokio::test]
async fn the_second_factor_screens_call_documented_routes_and_label_their_fields() {
    let app = spawn_app().await;
    let js = app_script(&app).await;
    let doc: serde_json::Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    for (route, method) in [
        ("/api/v1/auth/mfa/verify", "post"),
        ("/api/v1/auth/reauthenticate", "post"),
        ("/api/v1/me/mfa", "get"),
        ("/api/v1/me/mfa/totp", "post"),
        ("/api/v1/me/mfa/totp", "delete"),
        ("/api/v1/me/mfa/totp/confirm", "post"),
        ("/api/v1/me/mfa/recovery-codes", "post"),
        ("/api/v1/me/passkeys", "get"),
        ("/api/v1/me/passkeys", "post"),
        ("/api/v1/me/passkeys/options", "post"),
        ("/api/v1/auth/passkey/options", "post"),
        ("/api/v1/auth/passkey", "post"),
        ("/api/v1/auth/mfa/passkey/options", "post"),
    ] {
        assert!(js.contains(&format!("'{route}'")), "the script calls {route}");
        assert!(
            doc["paths"][route][method].is_object(),
            "{method} {route} is documented"
        );
    }
    for name in ["factors.js", "auth.js"] {
        let module = app.get(&format!("/assets/{name}")).await.text().await.unwrap();
        for form in [
            "second-factor-form",
            "mfa-confirm-form",
            "mfa-disable-form",
            "passkey-add-form",
        ] {
            if let Some(start) = module.find(&format!("id: '{form}'")) {
                let end = start + module[start..].find("\n  );").unwrap_or(module.len() - start);
                assert!(
                    !module[start..end].contains("el('input'"),
                    "{form}: every input comes with its label"
                );
                assert!(module[start..end].contains("field('"), "{form} has labelled fields");
            }
        }
    }
    assert!(js.contains("id: 'step-up-form'"), "the step-up form exists");
    // The QR code is shown as an image (a data: URL the policy allows), never as inserted markup.
    assert!(js.contains("'data:image/svg+xml;charset=utf-8,'"));
    assert!(!js.contains("innerHTML"), "no markup is ever inserted");
}

#[tokio::test]
async fn the_favicon_is_served_and_every_page_names_it() {
    let app = spawn_app().await;
    let res = app.get("/assets/favicon.svg").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    assert!(res.text().await.unwrap().starts_with("<svg"));
    for path in PAGES {
        let html = app.get(path).await.text().await.unwrap();
        let root = asset_root(&html);
        assert!(
            html.contains(&format!(r#"<link rel="icon" href="{root}favicon.svg""#)),
            "{path}"
        );
    }
}
