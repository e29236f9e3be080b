//! The web client Rampart serves itself: one app shell for every page of the app (the feed, posts,
//! profiles, settings, the pages the mailed links open and the admin console), whose client-side
//! router picks the view, and the shell's scripts and styles (`assets`). No build step, no
//! third-party code, no inline script or style, so every page runs under a strict
//! Content-Security-Policy.

mod assets;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::{AppError, code};
use crate::state::AppState;

/// The policy of every page. Images may come from another origin because S3 or ImageKit media is
/// served from the provider's host; everything else comes from Rampart itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: https: http:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// Paths the app's router knows; each answers the shell. Anything else stays a 404 problem, so a
/// mistyped API path is never answered with HTML.
const APP_PATHS: &[&str] = &[
    "/",
    "/p/{id}",
    "/u/{username}",
    "/upload",
    "/settings",
    "/settings/{section}",
    "/sign-in",
    "/register",
    "/forgot-password",
    "/verify-email",
    "/reset-password",
    "/confirm-email",
    "/admin",
    "/admin/{*rest}",
];

const NO_ASSET: AppError = AppError::NotFound {
    code: code::NOT_FOUND,
    detail: "There is no such file.",
};

/// A year: the longest lifetime caches honour, for URLs whose content never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The shell at every app path, and the assets, versioned and not.
pub fn router() -> Router<AppState> {
    let shell = APP_PATHS
        .iter()
        .fold(Router::new(), |r, path| r.route(path, get(show_app)));
    shell
        .route("/assets/{name}", get(serve_asset))
        .route("/assets/{version}/{name}", get(serve_versioned_asset))
}

async fn show_app(headers: HeaderMap) -> Response {
    let assets = assets::current();
    let mut res = answer(&assets.shell, &headers, "no-cache");
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    res
}

/// An asset under its plain name (old pages, hand-written links): revalidated on every use.
async fn serve_asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let assets = assets::current();
    match assets.get(&name) {
        Some(asset) => answer(asset, &headers, "no-cache"),
        None => NO_ASSET.into_response(),
    }
}

/// An asset of one release. Another release's version is a 404, never this release's bytes under
/// an old name that a cache would then keep for a year.
async fn serve_versioned_asset(Path((version, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let assets = assets::current();
    match assets.get(&name).filter(|_| version == assets.version) {
        Some(asset) => answer(asset, &headers, IMMUTABLE),
        None => NO_ASSET.into_response(),
    }
}

/// The asset, gzipped when the client takes it, or `304` when the client's copy is current.
fn answer(asset: &assets::Asset, headers: &HeaderMap, cache: &'static str) -> Response {
    let mut res = if headers.get(header::IF_NONE_MATCH).is_some_and(|tags| {
        tags.to_str()
            .is_ok_and(|t| t.split(',').any(|t| t.trim().as_bytes() == asset.etag.as_bytes()))
    }) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match asset.gzip.as_ref().filter(|_| accepts_gzip(headers)) {
            Some(gz) => ([(header::CONTENT_ENCODING, "gzip")], gz.clone()).into_response(),
            None => asset.body.clone().into_response(),
        }
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::ETAG, asset.etag.clone());
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    res
}

/// Whether `Accept-Encoding` lists gzip (or `*`) without refusing it with `q=0`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').any(|part| {
        let mut pieces = part.split(';').map(str::trim);
        let coding = pieces.next().unwrap_or_default();
        let refused = pieces.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    use super::accepts_gzip;

    #[test]
    fn gzip_is_sent_only_to_clients_that_take_it() {
        for (value, takes) in [
            ("gzip, deflate, br", true),
            ("br;q=1.0, GZIP;q=0.5", true),
            ("*", true),
            ("gzip;q=0", false),
            ("gzip; q=0.0", false),
            ("br", false),
            ("identity", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
            assert_eq!(accepts_gzip(&headers), takes, "{value}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()), "no header");
    }
}
