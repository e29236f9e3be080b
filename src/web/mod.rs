//! The small web client Rampart serves itself: the app at `/`, the pages the mailed links open
//! (`/verify-email`, `/reset-password`, `/confirm-email`) and their two assets. Everything is compiled
//! into the binary; no build step, no third-party code, no inline script or style, so the pages can
//! run under a strict Content-Security-Policy.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

/// The policy of every page. Images may come from another origin because S3 or ImageKit media is
/// served from the provider's host; everything else comes from Rampart itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: https: http:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

const APP_PAGE: &str = include_str!("static/index.html");
const VERIFY_EMAIL_PAGE: &str = include_str!("static/verify-email.html");
const RESET_PASSWORD_PAGE: &str = include_str!("static/reset-password.html");
const CONFIRM_EMAIL_PAGE: &str = include_str!("static/confirm-email.html");
const SCRIPT: &str = include_str!("static/app.js");
const STYLESHEET: &str = include_str!("static/app.css");
const FAVICON: &str = include_str!("static/favicon.svg");

/// The pages and their assets. Other paths under `/assets` fall through to the usual 404 problem.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(show_app))
        .route("/verify-email", get(show_verify_email))
        .route("/reset-password", get(show_reset_password))
        .route("/confirm-email", get(show_confirm_email))
        .route("/assets/app.js", get(serve_script))
        .route("/assets/app.css", get(serve_stylesheet))
        .route("/assets/favicon.svg", get(serve_favicon))
}

async fn show_app() -> Response {
    page(APP_PAGE)
}

async fn show_verify_email() -> Response {
    page(VERIFY_EMAIL_PAGE)
}

async fn show_reset_password() -> Response {
    page(RESET_PASSWORD_PAGE)
}

async fn show_confirm_email() -> Response {
    page(CONFIRM_EMAIL_PAGE)
}

async fn serve_script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

async fn serve_stylesheet() -> Response {
    asset(STYLESHEET, "text/css; charset=utf-8")
}

async fn serve_favicon() -> Response {
    asset(FAVICON, "image/svg+xml")
}

/// An HTML page under the strict policy. `no-cache` makes browsers revalidate, so a new release's
/// page never pairs with an old script.
fn page(html: &'static str) -> Response {
    let mut res = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        html,
    )
        .into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    res
}

/// A script or stylesheet; `no-cache` because the names carry no version.
fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::{APP_PAGE, CONFIRM_EMAIL_PAGE, RESET_PASSWORD_PAGE, SCRIPT, VERIFY_EMAIL_PAGE};

    #[test]
    fn every_page_loads_the_shared_assets_and_names_its_part_of_the_script() {
        for (html, name) in [
            (APP_PAGE, "app"),
            (VERIFY_EMAIL_PAGE, "verify"),
            (RESET_PASSWORD_PAGE, "reset"),
            (CONFIRM_EMAIL_PAGE, "confirm"),
        ] {
            assert!(
                html.contains(r#"<script src="/assets/app.js" defer></script>"#),
                "{name}"
            );
            assert!(
                html.contains(r#"<link rel="stylesheet" href="/assets/app.css">"#),
                "{name}"
            );
            assert!(html.contains(&format!(r#"data-page="{name}""#)), "{name}");
            assert!(SCRIPT.contains(&format!("{name}: ")), "the script starts page {name}");
        }
    }

    #[test]
    fn every_element_the_script_looks_up_exists_on_a_page() {
        let pages = [APP_PAGE, VERIFY_EMAIL_PAGE, RESET_PASSWORD_PAGE, CONFIRM_EMAIL_PAGE];
        let ids: Vec<&str> = SCRIPT
            .split("$('")
            .skip(1)
            .filter_map(|rest| rest.split_once('\'').map(|(id, _)| id))
            .collect();
        assert!(ids.len() > 10, "found the lookups: {ids:?}");
        for id in ids {
            let attr = format!(r#"id="{id}""#);
            assert!(pages.iter().any(|p| p.contains(&attr)), "no element with {attr}");
        }
    }
}
