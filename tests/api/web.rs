//! The web client: its pages, their Content-Security-Policy, and the assets they load.

use reqwest::StatusCode;

use crate::helpers::{assert_problem, spawn_app};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const PAGES: [&str; 4] = ["/", "/verify-email", "/reset-password", "/confirm-email"];

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
        assert!(
            html.contains(r#"<script src="/assets/app.js" defer></script>"#),
            "{path}"
        );
        assert!(
            html.contains(r#"<link rel="stylesheet" href="/assets/app.css">"#),
            "{path}"
        );
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
    let js = res.text().await.unwrap();
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
    assert!(js.contains("refresh_token: token"), "refresh tokens travel in the body");
    assert!(
        js.contains("'Authorization', 'Bearer '"),
        "the API is called with the bearer token"
    );
    for banned in [
        "localStorage",
        "document.cookie",
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "eval(",
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

/// The second-factor screens: every route they call exists in the API document, and the page has
/// a labelled field for each input the script reads.
#[tokio::test]
async fn the_second_factor_screens_call_documented_routes_and_label_their_fields() {
    let app = spawn_app().await;
    let js = app.get("/assets/app.js").await.text().await.unwrap();
    let html = app.get("/").await.text().await.unwrap();
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
    for form in [
        "second-factor-form",
        "step-up-form",
        "mfa-confirm-form",
        "mfa-disable-form",
        "passkey-add-form",
    ] {
        let start = html
            .find(&format!("id=\"{form}\""))
            .unwrap_or_else(|| panic!("{form} is on the page"));
        let end = start + html[start..].find("</form>").unwrap();
        let inputs = html[start..end].matches("<input").count();
        let labelled = html[start..end].matches("<label>").count();
        assert!(inputs > 0 && inputs == labelled, "{form}: every input has its label");
    }
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
    for path in ["/", "/verify-email", "/reset-password", "/confirm-email"] {
        let html = app.get(path).await.text().await.unwrap();
        assert!(
            html.contains(r#"<link rel="icon" href="/assets/favicon.svg""#),
            "{path}"
        );
    }
}
